package io.sessionfarm.tls;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.security.SecureRandom;
import java.util.Arrays;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import io.sessionfarm.keys.KeyRing;
import io.sessionfarm.keys.MasterKey;
import io.sessionfarm.store.Database;
import io.sessionfarm.store.TestDatabase;

/** A connector's keys from the farm's ring, against a real PostgreSQL: two nodes, one ring. */
class TlsKeySourceTest {

    private static final long ROTATION = 600_000;
    private static final byte[] MASTER = new byte[32];

    private static Database database;

    @BeforeAll
    static void open() throws Exception {
        new SecureRandom().nextBytes(MASTER);
        TestDatabase.Server server = TestDatabase.server();
        database = Database.open(TestDatabase.fresh("tls_key_source_test"), server.user(), server.password(), 4, 2000,
                "tls-key-source-test");
    }

    @AfterAll
    static void close() {
        database.close();
    }

    @Test
    void beforeJoiningANodeIssuesTicketsUnderAKeyOfItsOwn() {
        TlsKeySource alone = new TlsKeySource(MasterKey.of(MASTER), ROTATION);
        assertFalse(alone.joined());
        assertEquals(1, alone.ticketKeyCount());
        assertEquals(-1, alone.ticketKeyAgeSeconds());
        assertEquals(0, alone.rotations());
        TlsKeySource other = new TlsKeySource(MasterKey.of(MASTER), ROTATION);
        assertFalse(Arrays.equals(alone.ticketKeys().current().name(), other.ticketKeys().current().name()),
                "two nodes outside the ring share no ticket key");
    }

    @Test
    void twoNodesOfTheRingEncryptTicketsUnderOneKeyAndOpenEachOthersStoredSessions() throws Exception {
        TlsKeySource a = new TlsKeySource(MasterKey.of(MASTER), ROTATION);
        TlsKeySource b = new TlsKeySource(MasterKey.of(MASTER), ROTATION);
        a.join(database.dataSource());
        b.join(database.dataSource());
        assertTrue(a.joined() && b.joined());
        TicketKeys.TicketKey current = a.ticketKeys().current();
        assertArrayEquals(current.name(), b.ticketKeys().current().name());
        assertArrayEquals(current.aesKey(), b.ticketKeys().current().aesKey());
        assertNotNull(b.ticketKeys().find(current.name()));

        KeyRing.Key sealing = a.sealingKey(1);
        assertEquals(ByteBuffer.wrap(current.name()).getInt(), sealing.id(), "one ring key derives both");
        assertArrayEquals(TlsKeySource.cacheKey(sealing.secret()).getEncoded(),
                TlsKeySource.cacheKey(b.ringKey(sealing.id())).getEncoded());
        assertTrue(a.ticketKeyAgeSeconds() >= 0);
    }

    @Test
    void aMasterKeyThatIsNotTheFarmsCannotJoin() throws Exception {
        new TlsKeySource(MasterKey.of(MASTER), ROTATION).join(database.dataSource());
        TlsKeySource stranger = new TlsKeySource(MasterKey.of(new byte[32]), ROTATION);
        assertThrows(KeyRing.Unusable.class, () -> stranger.join(database.dataSource()));
        assertFalse(stranger.joined());
    }
}
