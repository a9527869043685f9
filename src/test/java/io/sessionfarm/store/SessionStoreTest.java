package io.sessionfarm.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;


/** The SQL itself, against a real PostgreSQL. */
class SessionStoreTest {

    private static String url;
    private static Database database;
    private static SessionStore store;

    @BeforeAll
    static void open() throws Exception {
        url = TestDatabase.fresh("store_test");
        TestDatabase.Server server = TestDatabase.server();
        database = Database.open(url, server.user(), server.password(), 4, 2000, "store-test");
        store = new SessionStore(database.dataSource(), "localhost/test");
    }

    @AfterAll
    static void close() {
        database.close();
    }

    @Test
    void everyStatementOfARequestLooksUpOneSessionId() throws Exception {
        try (Connection con = TestDatabase.connect(url)) {
            for (String sql : SessionStore.HOT_PATH) {
                assertEquals(List.of(), QueryPlans.scansNotByOneSession(con, sql), sql);
            }
            assertEquals(List.of(), QueryPlans.scansNotByOneSession(con, ExpirySweep.TAKE_IF_EXPIRED),
                    "the sweep takes each session by its id");
            assertFalse(QueryPlans.scansNotByOneSession(con, ExpirySweep.LIST_EXPIRED).isEmpty(),
                    "the check sees a statement that reads many sessions (the sweep's list)");
        }
    }

    /**
     * A checkpoint moves the session's expiry but changes no indexed column, so PostgreSQL rewrites
     * the row in place; at most the one checkpoint that crosses into the next minute of expiry
     * does not.
     */
    @Test
    void aCheckpointRewritesItsSessionRowInPlace() throws Exception {
        String own = UpdateCounts.freshDatabase("store_in_place");
        SessionStore inPlace = new SessionStore(UpdateCounts.unpooled(own), "localhost/in-place");
        long version = inPlace.save(checkpoint("in-place", 0, Map.of("a", bytes("0")), Set.of())).getAsLong();
        UpdateCounts before = UpdateCounts.of(own, "sessionfarm_session", 0);
        for (int i = 1; i <= 20; i++) {
            version = inPlace.save(checkpoint("in-place", version, Map.of("a", bytes("" + i)), Set.of())).getAsLong();
        }
        UpdateCounts checkpoints = UpdateCounts.of(own, "sessionfarm_session", before.updates() + 20).since(before);
        assertEquals(20, checkpoints.updates(), "every checkpoint updated the session row once");
        assertTrue(checkpoints.notInPlace() <= 1, checkpoints.inPlace() + " of 20 checkpoints were in place");
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static Checkpoint checkpoint(String id, long base, Map<String, byte[]> writes, Set<String> removals) {
        return new Checkpoint(id, base, 1000, System.currentTimeMillis(), 1800, writes, removals);
    }

    @Test
    void firstSaveCreatesVersionOneAndLaterSavesCompareAndSet() throws Exception {
        assertEquals(OptionalLong.of(1), store.save(checkpoint("cas", 0, Map.of("a", bytes("1")), Set.of())));
        assertEquals(OptionalLong.of(2), store.save(checkpoint("cas", 1, Map.of("a", bytes("2")), Set.of())));
        assertEquals(OptionalLong.empty(), store.save(checkpoint("cas", 1, Map.of("a", bytes("stale")), Set.of())),
                "a write based on an old version must not land");
        assertEquals("2", new String(store.load("cas").attributes().get("a").value(), StandardCharsets.UTF_8));
    }

    @Test
    void aMergedSaveWritesOnTopOfWhatIsStoredUnderTheRowLock() throws Exception {
        store.save(checkpoint("merged", 0, Map.of("a", bytes("1")), Set.of()));
        store.save(checkpoint("merged", 1, Map.of("b", bytes("1")), Set.of())); // another node
        OptionalLong version = store.saveMerged("merged", current -> {
            assertEquals(2, current.version(), "the merge sees the row as it is now");
            return checkpoint("merged", current.version(), Map.of("a", bytes("2")), Set.of());
        });
        assertEquals(OptionalLong.of(3), version);
        StoredSession stored = store.load("merged");
        assertEquals(Set.of("a", "b"), stored.attributes().keySet());
        assertEquals("2", new String(stored.attributes().get("a").value(), StandardCharsets.UTF_8));
        assertEquals(OptionalLong.empty(), store.saveMerged("never-stored", current -> {
            throw new AssertionError("no row, nothing to merge");
        }));
    }

    @Test
    void aWriterThatStallsHoldingTheRowLockLosesItsTransactionNotTheOthersWrites() throws Exception {
        store.save(checkpoint("stalled", 0, Map.of("a", bytes("1")), Set.of()));
        ExecutorService nodes = Executors.newFixedThreadPool(1);
        try {
            java.util.concurrent.CountDownLatch locked = new java.util.concurrent.CountDownLatch(1);
            Future<OptionalLong> stalled = nodes.submit(() -> store.saveMerged("stalled", current -> {
                locked.countDown();
                try {
                    Thread.sleep(3L * SessionStore.LOCK_HELD_AT_MOST_MILLIS);
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
                return checkpoint("stalled", current.version(), Map.of("a", bytes("stalled")), Set.of());
            }));
            locked.await();
            assertEquals(OptionalLong.of(2), store.save(checkpoint("stalled", 1, Map.of("a", bytes("other")), Set.of())),
                    "another node's write goes through once the stalled transaction is ended");
            java.util.concurrent.ExecutionException failed = org.junit.jupiter.api.Assertions.assertThrows(
                    java.util.concurrent.ExecutionException.class, stalled::get);
            assertTrue(failed.getCause() instanceof java.sql.SQLException, String.valueOf(failed.getCause()));
        } finally {
            nodes.shutdown();
        }
        assertEquals("other", new String(store.load("stalled").attributes().get("a").value(), StandardCharsets.UTF_8));
    }

    @Test
    void onlyTheWrittenAttributesGetTheNewVersion() throws Exception {
        store.save(checkpoint("partial", 0, Map.of("a", bytes("1"), "b", bytes("1")), Set.of()));
        store.save(checkpoint("partial", 1, Map.of("b", bytes("2")), Set.of()));
        store.save(checkpoint("partial", 2, Map.of(), Set.of("a")));
        StoredSession stored = store.load("partial");
        assertEquals(3, stored.version());
        assertEquals(Set.of("b"), stored.attributes().keySet());
        assertEquals(2, stored.attributes().get("b").version());
    }

    private static io.sessionfarm.keys.KeyRing ring(String purpose) throws Exception {
        io.sessionfarm.keys.KeyRing ring = new io.sessionfarm.keys.KeyRing(database.dataSource(),
                io.sessionfarm.keys.MasterKey.of(new byte[32]), purpose,
                new io.sessionfarm.keys.KeyRing.Schedule(3_600_000, 1000, 1000));
        ring.start();
        return ring;
    }

    private static SessionStore sealed(io.sessionfarm.keys.KeyRing ring, String app) {
        return new SessionStore(database.dataSource(), app, new io.sessionfarm.keys.RingSealer(ring, app));
    }

    @Test
    void withAMasterKeyValuesAreSealedAndPlantedOrAlteredOnesAreRefused() throws Exception {
        io.sessionfarm.keys.KeyRing ring = ring("attribute-test");
        SessionStore sealed = sealed(ring, "localhost/sealed");
        sealed.save(checkpoint("enc", 0, Map.of("card", bytes("4111-1111-1111-1111"), "other", bytes("x")), Set.of()));
        assertEquals("4111-1111-1111-1111", new String(sealed.load("enc").attributes().get("card").value(), StandardCharsets.UTF_8));
        try (var c = database.dataSource().getConnection(); var st = c.createStatement()) {
            try (var rs = st.executeQuery("SELECT value, key_id FROM sessionfarm_attribute WHERE app = 'localhost/sealed'")) {
                while (rs.next()) {
                    assertFalse(new String(rs.getBytes(1), StandardCharsets.ISO_8859_1).contains("4111"), "sealed at rest");
                    assertEquals(ring.primary().id(), rs.getInt(2), "the key id beside the value");
                }
            }
            st.executeUpdate("UPDATE sessionfarm_attribute SET key_id = NULL, value = '\\x78'::bytea"
                    + " WHERE app = 'localhost/sealed' AND name = 'other'");
            st.executeUpdate("UPDATE sessionfarm_attribute SET value = overlay(value placing '\\x00'::bytea from 15 for 1)"
                    + " WHERE app = 'localhost/sealed' AND name = 'card'");
        }
        StoredSession reread = sealed.load("enc");
        assertNull(reread.attributes().get("other").value(), "a plain value planted in the table is refused");
        assertNull(reread.attributes().get("card").value(), "an altered value is refused");
        SessionStore wrongApp = new SessionStore(database.dataSource(), "localhost/sealed",
                new io.sessionfarm.keys.RingSealer(ring, "localhost/elsewhere"));
        sealed.save(checkpoint("moved", 0, Map.of("card", bytes("1")), Set.of()));
        assertNull(wrongApp.load("moved").attributes().get("card").value(), "bound to its application");
    }

    @Test
    void aSealedValueCopiedIntoAnotherSessionIsRefusedAndARenameSealsItAgain() throws Exception {
        SessionStore sealed = sealed(ring("attribute-move-test"), "localhost/moves");
        sealed.save(checkpoint("admin", 0, Map.of("role", bytes("admin")), Set.of()));
        sealed.save(checkpoint("guest", 0, Map.of("role", bytes("guest")), Set.of()));
        try (var c = database.dataSource().getConnection(); var st = c.createStatement()) {
            st.executeUpdate("UPDATE sessionfarm_attribute g SET value = a.value, key_id = a.key_id"
                    + " FROM sessionfarm_attribute a WHERE g.app = 'localhost/moves' AND a.app = g.app"
                    + " AND g.session_id = 'guest' AND a.session_id = 'admin' AND g.name = 'role' AND a.name = 'role'");
        }
        assertNull(sealed.load("guest").attributes().get("role").value(), "a value from another session is refused");

        assertTrue(sealed.rename("admin", "admin-after-login"));
        assertEquals("admin", new String(sealed.load("admin-after-login").attributes().get("role").value(),
                StandardCharsets.UTF_8), "sealed again for the new id");
    }

    @Test
    void renameCarriesTheAttributes() throws Exception {
        store.save(checkpoint("before", 0, Map.of("user", bytes("ada")), Set.of()));
        assertTrue(store.rename("before", "after"));
        assertNull(store.load("before"));
        assertEquals(Set.of("user"), store.load("after").attributes().keySet());
        assertFalse(store.rename("missing", "other"));
    }

    @Test
    void aReboundSessionsOldIdLeadsToItsNewOneForTheGraceOnly() throws Exception {
        store.save(checkpoint("abc.node1", 0, Map.of("user", bytes("ada")), Set.of()));
        assertTrue(store.rebind("abc.node1", "abc.node2", 60_000));
        assertNull(store.load("abc.node1"), "the old id has no row");
        assertEquals(Set.of("user"), store.load("abc.node2").attributes().keySet());
        assertEquals("abc.node2", store.movedTo("abc.node1"));
        assertFalse(store.rebind("abc.node1", "abc.node3", 60_000), "moved once: a second node finds no row");
        assertEquals("abc.node2", store.movedTo("abc.node1"), "and leaves the first move as it was");
        assertNull(store.load("abc.node3"));

        store.save(checkpoint("def.node1", 0, Map.of(), Set.of()));
        assertTrue(store.rebind("def.node1", "def.node2", 1));
        Thread.sleep(20);
        assertNull(store.movedTo("def.node1"), "the grace is over: the old id is dead");
        assertTrue(store.forgetOldMoves() >= 1);
        assertNull(store.movedTo("never-moved"));
    }

    @Test
    void touchExtendsExpiryWithoutANewVersion() throws Exception {
        store.save(checkpoint("touch", 0, Map.of(), Set.of()));
        long later = System.currentTimeMillis() + 3_600_000;
        assertTrue(store.touch("touch", later - 1800_000, later));
        StoredSession.Stamp stamp = store.stamp("touch");
        assertEquals(1, stamp.version());
        assertEquals(later, stamp.expiresAt(), 1000, "stored on the database's clock, read back on this node's");
    }

    @Test
    void aStaleNodeCannotDeleteASessionKeptAliveElsewhere() throws Exception {
        store.save(checkpoint("alive", 0, Map.of(), Set.of()));
        assertFalse(store.deleteIfExpired("alive"));
        long past = System.currentTimeMillis() - 3_600_000;
        store.save(new Checkpoint("idle", 0, past, past, 60, Map.of(), Set.of()));
        assertTrue(store.deleteIfExpired("idle"));
        assertNull(store.stamp("idle"));
    }

    /** A node 45 minutes ahead, and one 45 minutes behind, of the database and of a third node. */
    @Test
    void nodesWithWrongClocksStoreTheRightTimesAndExpireNothingAlive() throws Exception {
        long skew = 45 * 60_000L;
        SessionStore ahead = new SessionStore(database.dataSource(), "localhost/skew", null,
                () -> System.currentTimeMillis() + skew);
        SessionStore behind = new SessionStore(database.dataSource(), "localhost/skew", null,
                () -> System.currentTimeMillis() - skew);
        SessionStore right = new SessionStore(database.dataSource(), "localhost/skew");
        long now = System.currentTimeMillis();
        right.save(new Checkpoint("used", 0, now, now, 600, Map.of("a", bytes("1")), Set.of()));

        assertTrue(ahead.sweepExpired(100).taken().isEmpty(), "the fast node's sweep takes nothing alive");
        assertFalse(ahead.deleteIfExpired("used"));
        assertEquals(now + skew, ahead.load("used").lastAccess(), 1000, "read back on the fast node's clock");
        assertEquals(now - skew, behind.stamp("used").lastAccess(), 1000, "and on the slow node's");

        // Written by the slow node when its clock said "now": stored as the database's now, so
        // the session ends on time, by the database's clock, whichever node sweeps.
        long slowNow = System.currentTimeMillis() - skew;
        behind.save(new Checkpoint("short", 0, slowNow, slowNow, 1, Map.of("a", bytes("1")), Set.of()));
        assertEquals(System.currentTimeMillis() + 1000, right.stamp("short").expiresAt(), 1000);
        assertTrue(right.sweepExpired(100).taken().isEmpty(), "not expired yet");
        // Two minutes on by the database's clock (the sweep takes a session in the minute after it expires).
        try (Connection con = TestDatabase.connect(url); Statement st = con.createStatement()) {
            st.executeUpdate("UPDATE sessionfarm_session SET last_access = last_access - 120000,"
                    + " expires_at = expires_at - 120000 WHERE app = 'localhost/skew' AND id = 'short'");
        }
        assertEquals(List.of("short"), right.sweepExpired(100).taken().stream().map(SessionStore.ExpiredSession::id).toList());
    }

    @Test
    void concurrentSweepsTakeEachExpiredSessionExactlyOnce() throws Exception {
        SessionStore sweeping = new SessionStore(database.dataSource(), "localhost/sweep");
        long past = System.currentTimeMillis() - 10 * 3_600_000L;
        for (int i = 0; i < 1200; i++) {
            sweeping.save(new Checkpoint("e" + i, 0, past, past, 60, Map.of("a", bytes("v" + i)), Set.of()));
        }
        List<String> taken = Collections.synchronizedList(new ArrayList<>());
        ExecutorService nodes = Executors.newFixedThreadPool(3);
        try {
            List<Future<?>> runs = new ArrayList<>();
            for (int node = 0; node < 3; node++) {
                runs.add(nodes.submit(() -> {
                    List<SessionStore.ExpiredSession> batch;
                    do {
                        batch = sweeping.sweepExpired(100).taken();
                        batch.forEach(expired -> {
                            assertEquals(Set.of("a"), expired.attributes().keySet(), "listeners need the attributes");
                            taken.add(expired.id());
                        });
                    } while (!batch.isEmpty());
                    return null;
                }));
            }
            for (Future<?> run : runs) {
                run.get();
            }
        } finally {
            nodes.shutdown();
        }
        assertEquals(1200, taken.size(), "no session taken twice");
        assertEquals(1200, new HashSet<>(taken).size());
        assertTrue(sweeping.sweepExpired(100).taken().isEmpty());
    }

    @Test
    void aSweepThatFailsPartWayRemovesNothing() throws Exception {
        SessionStore sweeping = new SessionStore(database.dataSource(), "localhost/sweep-failing");
        long past = System.currentTimeMillis() - 10 * 3_600_000L;
        for (int i = 0; i < 40; i++) {
            sweeping.save(new Checkpoint(i == 20 ? "poison" : "f" + i, 0, past, past, 60, Map.of("a", bytes("v")), Set.of()));
        }
        try (Connection con = TestDatabase.connect(url); java.sql.Statement st = con.createStatement()) {
            st.execute("""
                    CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
                    BEGIN IF OLD.id = 'poison' THEN RAISE EXCEPTION 'the store failed'; END IF; RETURN OLD; END $$""");
            st.execute("CREATE TRIGGER refuse_poison BEFORE DELETE ON sessionfarm_session FOR EACH ROW EXECUTE FUNCTION refuse_poison()");
            try {
                assertThrows(SQLException.class, () -> sweeping.sweepExpired(100), "the failure is reported");
                for (int i = 0; i < 40; i++) {
                    assertNotNull(sweeping.load(i == 20 ? "poison" : "f" + i), "nothing removed: no listener would fire");
                }
            } finally {
                st.execute("DROP TRIGGER refuse_poison ON sessionfarm_session");
                st.execute("DROP FUNCTION refuse_poison()");
            }
        }
    }

    @Test
    void appsDoNotSeeEachOthersSessions() throws Exception {
        store.save(checkpoint("shared-id", 0, Map.of("a", bytes("1")), Set.of()));
        assertNull(new SessionStore(database.dataSource(), "localhost/other").load("shared-id"));
    }
}
