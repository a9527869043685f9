package io.sessionfarm.keys;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.Base64;
import java.util.Map;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.sessionfarm.store.TestDatabase;
import io.sessionfarm.store.Database;

/** The key ring against a real PostgreSQL: two "nodes" are two rings on one database. */
class KeyRingTest {

    private static final MasterKey MASTER = MasterKey.of(new byte[32]);
    private static Database database;

    @BeforeAll
    static void open() throws Exception {
        TestDatabase.Server server = TestDatabase.server();
        database = Database.open(TestDatabase.fresh("keyring_test"), server.user(), server.password(), 4, 2000, "keyring-test");
    }

    @AfterAll
    static void close() {
        database.close();
    }

    @BeforeEach
    void empty() throws Exception {
        try (Connection c = database.dataSource().getConnection(); Statement s = c.createStatement()) {
            s.execute("DELETE FROM sessionfarm_key");
        }
    }

    private static KeyRing ring(MasterKey master, long rotateAfter, long propagation, long retireAfter) {
        return new KeyRing(database.dataSource(), master, "test", new KeyRing.Schedule(rotateAfter, propagation, retireAfter));
    }

    @Test
    void nodesStartingTogetherShareOnePrimaryKey() throws Exception {
        KeyRing a = ring(MASTER, 60_000, 1000, 1000);
        KeyRing b = ring(MASTER, 60_000, 1000, 1000);
        a.start();
        b.start();
        assertEquals(a.primary().id(), b.primary().id());
        assertEquals(a.primary().secret(), b.primary().secret());
    }

    @Test
    void rotationAddsThenPromotesThenRetiresAndEveryNodeCanAlwaysDecrypt() throws Exception {
        KeyRing a = ring(MASTER, 200, 300, 400);
        KeyRing b = ring(MASTER, 200, 300, 400);
        a.start();
        b.start();
        int first = a.primary().id();
        Thread.sleep(250);
        assertTrue(a.rotateIfDue(), "a key is added once the primary is old");
        b.refresh();
        assertEquals(first, a.primary().id(), "an added key is not used to encrypt yet");
        assertEquals(2, b.size(), "but every node can already decrypt with it");
        Thread.sleep(350);
        a.rotateIfDue();
        b.refresh();
        int second = a.primary().id();
        assertNotEquals(first, second, "promoted after the propagation time");
        assertEquals(second, b.primary().id());
        assertNotNull(b.find(first), "the old key still decrypts while it retires");
        Thread.sleep(450);
        a.rotateIfDue();
        b.refresh();
        assertNull(b.find(first), "deleted after retireAfter");
        assertEquals(1, a.rotations());
    }

    /** Another node, which adds a key and promotes it at once: a rotation the first node did not see. */
    private static KeyRing promotingAtOnce() throws Exception {
        KeyRing other = ring(MASTER, 0, 0, 60_000);
        other.start();
        other.rotateIfDue(); // add
        other.rotateIfDue(); // promote
        return other;
    }

    /**
     * A key promoted without warning (another node's rotation this node's refreshes missed) reaches
     * this node first in the tokens of many requests at once, and just after the ring was read for
     * another reason: every one of them must find it, none is turned away by the limit on reads.
     */
    @Test
    void aKeyPromotedWithoutWarningIsFoundByEveryRequestThatBringsIt() throws Exception {
        KeyRing node = ring(MASTER, 60_000, 1000, 1000);
        node.start();
        node.refresh(); // the periodic read, just before another node adds and promotes a key at once
        KeyRing other = promotingAtOnce();
        int newest = other.primary().id();
        assertNull(node.known(newest), "this node has not read the ring since");

        long reads = node.reads();
        int requests = 16;
        java.util.concurrent.ExecutorService threads = java.util.concurrent.Executors.newFixedThreadPool(requests);
        java.util.concurrent.CountDownLatch go = new java.util.concurrent.CountDownLatch(1);
        java.util.List<java.util.concurrent.Future<javax.crypto.SecretKey>> found = new java.util.ArrayList<>();
        for (int i = 0; i < requests; i++) {
            found.add(threads.submit(() -> {
                go.await();
                return node.findOrRefresh(newest);
            }));
        }
        go.countDown();
        for (java.util.concurrent.Future<javax.crypto.SecretKey> key : found) {
            assertEquals(other.primary().secret(), key.get(), "every request found the new key");
        }
        threads.shutdown();
        assertEquals(1, node.reads() - reads, "one read answered them all");
    }

    @Test
    void unknownKeyIdsReadTheRingAtMostTwiceASecond() throws Exception {
        KeyRing node = ring(MASTER, 60_000, 1000, 1000);
        node.start();
        node.refresh(); // a periodic read does not count against the limit
        long reads = node.reads();
        long start = System.nanoTime();
        for (int i = 0; i < 3; i++) {
            assertNull(node.findOrRefresh(12345 + i), "not in the ring");
        }
        assertEquals(3, node.reads() - reads, "each unknown id read the ring");
        assertTrue(System.nanoTime() - start >= 950_000_000L, "half a second apart");
    }

    /**
     * A read for an id nobody has (a forged cookie, or one sealed under a deleted key), then a key
     * promoted elsewhere: a request that brings the new key within half a second waits for the
     * next read instead of being refused.
     */
    @Test
    void aKeyPromotedJustAfterAReadForAnUnknownIdIsStillFound() throws Exception {
        KeyRing node = ring(MASTER, 60_000, 1000, 1000);
        node.start();
        assertNull(node.findOrRefresh(424242), "a forged id: the ring read, nothing found");
        KeyRing other = promotingAtOnce();
        assertEquals(other.primary().secret(), node.findOrRefresh(other.primary().id()));
    }

    @Test
    void theDatabaseHoldsNoKeyInTheClear() throws Exception {
        KeyRing a = ring(MASTER, 60_000, 1000, 1000);
        a.start();
        byte[] key = a.primary().secret().getEncoded();
        try (Connection c = database.dataSource().getConnection(); Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT wrapped FROM sessionfarm_key")) {
            assertTrue(rs.next());
            byte[] wrapped = rs.getBytes(1);
            assertFalse(Base64.getEncoder().encodeToString(wrapped).contains(Base64.getEncoder().encodeToString(key).substring(0, 12)));
            assertFalse(java.util.Arrays.equals(java.util.Arrays.copyOfRange(wrapped, Aead.NONCE_BYTES, Aead.NONCE_BYTES + 32), key));
        }
    }

    @Test
    void aNodeWithAnotherMasterKeyRefusesToStart() throws Exception {
        ring(MASTER, 60_000, 1000, 1000).start();
        byte[] other = new byte[32];
        other[0] = 1;
        GeneralSecurityException e = assertThrows(GeneralSecurityException.class,
                () -> ring(MasterKey.of(other), 60_000, 1000, 1000).start());
        assertTrue(e.getMessage().contains("same master key"), e.getMessage());
    }

    @Test
    void masterKeyProblemsSayWhatToDo(@TempDir Path dir) throws Exception {
        Map<String, String> env = Map.of();
        String missing = assertThrows(IllegalArgumentException.class, () -> MasterKey.load(null, env::get)).getMessage();
        assertTrue(missing.contains("SESSIONFARM_MASTER_KEY") && missing.contains("openssl rand -base64 32"), missing);
        Path shortKey = Files.writeString(dir.resolve("short.key"), Base64.getEncoder().encodeToString(new byte[16]));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> MasterKey.load(shortKey.toString(), env::get))
                .getMessage().contains("16 bytes, not 32"));
        Path garbage = Files.writeString(dir.resolve("garbage.key"), "not base64 ***");
        String bad = assertThrows(IllegalArgumentException.class, () -> MasterKey.load(garbage.toString(), env::get)).getMessage();
        assertFalse(bad.contains("not base64 ***"), "key material is never echoed");
        assertThrows(IllegalArgumentException.class, () -> MasterKey.load(dir.resolve("absent.key").toString(), env::get));
        String good = Base64.getEncoder().encodeToString(new byte[32]);
        assertNotNull(MasterKey.load(null, Map.of(MasterKey.ENVIRONMENT_VARIABLE, good)::get));
        Path goodFile = Files.writeString(dir.resolve("good.key"), good + "\n");
        Files.setPosixFilePermissions(goodFile, java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
        assertNotNull(MasterKey.load(goodFile.toString(), env::get));
    }

    @Test
    void aKeyUsedAsOftenAsAllowedIsReplacedBeforeItsTime() throws Exception {
        KeyRing ring = new KeyRing(database.dataSource(), MasterKey.of(new byte[32]), "count-test",
                new KeyRing.Schedule(3_600_000, 0, 3_600_000, 100));
        ring.start();
        int first = ring.primary().id();
        assertFalse(ring.rotateIfDue(), "young and little used: nothing to do");
        for (int i = 0; i < 99; i++) {
            ring.sealingKey(1);
        }
        assertFalse(ring.rotateIfDue(), "99 encryptions of 100");
        ring.sealingKey(1);
        assertTrue(ring.rotateIfDue(), "a new key is added once the count is reached");
        ring.rotateIfDue(); // promoted after its propagation time (0 here)
        assertNotEquals(first, ring.primary().id(), "the used-up key is no longer the one that encrypts");
        assertFalse(ring.rotateIfDue(), "the new key starts its own count");
    }
}
