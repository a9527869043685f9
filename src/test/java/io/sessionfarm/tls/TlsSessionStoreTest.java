package io.sessionfarm.tls;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.nio.charset.StandardCharsets;
import java.util.List;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import io.sessionfarm.store.TestDatabase;
import io.sessionfarm.store.Database;

/** The TLS session cache's SQL, against a real PostgreSQL. */
class TlsSessionStoreTest {

    private static Database database;
    private static TlsSessionStore store;

    @BeforeAll
    static void open() throws Exception {
        TestDatabase.Server server = TestDatabase.server();
        database = Database.open(TestDatabase.fresh("tls_store_test"), server.user(), server.password(), 4, 2000,
                "tls-store-test");
        store = new TlsSessionStore(database.dataSource());
    }

    @AfterAll
    static void close() {
        database.close();
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void aBatchIsStoredInOneGoAndALaterCopyOfTheSameIdWins() throws Exception {
        store.putAll(7, List.of(
                new TlsSessionStore.Sealed(bytes("one"), bytes("first"), 60_000),
                new TlsSessionStore.Sealed(bytes("two"), bytes("second"), 60_000),
                new TlsSessionStore.Sealed(bytes("one"), bytes("first, again"), 60_000)));
        TlsSessionStore.Row one = store.get(bytes("one"));
        assertEquals(7, one.keyId());
        assertArrayEquals(bytes("first, again"), one.blob());
        assertArrayEquals(bytes("second"), store.get(bytes("two")).blob());

        store.putAll(8, List.of(new TlsSessionStore.Sealed(bytes("two"), bytes("rewritten"), 60_000)));
        assertEquals(8, store.get(bytes("two")).keyId(), "a stored id is overwritten, not refused");
    }

    @Test
    void anExpiredSessionIsNotFoundAndASingleUseOneOnlyOnce() throws Exception {
        store.putAll(1, List.of(new TlsSessionStore.Sealed(bytes("gone"), bytes("x"), -1),
                new TlsSessionStore.Sealed(bytes("once"), bytes("y"), 60_000)));
        assertNull(store.get(bytes("gone")));
        assertNull(store.take(bytes("gone")));
        assertArrayEquals(bytes("y"), store.take(bytes("once")).blob());
        assertNull(store.take(bytes("once")), "taken: no second server may resume it");
    }
}
