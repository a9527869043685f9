package io.sessionfarm.token;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.security.SecureRandom;
import java.sql.Connection;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import io.sessionfarm.store.TestDatabase;
import io.sessionfarm.store.Database;
import io.sessionfarm.store.QueryPlans;
import io.sessionfarm.store.UpdateCounts;
import io.sessionfarm.token.TokenStore.Family;

/** The token SQL against a real PostgreSQL. */
class TokenStoreTest {

    private static final SecureRandom RANDOM = new SecureRandom();
    private static String url;
    private static Database database;
    private static TokenStore store;

    @BeforeAll
    static void open() throws Exception {
        TestDatabase.Server server = TestDatabase.server();
        url = TestDatabase.fresh("token_store_test");
        database = Database.open(url, server.user(), server.password(), 8, 2000, "token-test");
        store = new TokenStore(database.dataSource(), "localhost/");
    }

    @AfterAll
    static void close() {
        database.close();
    }

    private static byte[] id() {
        byte[] bytes = new byte[16];
        RANDOM.nextBytes(bytes);
        return bytes;
    }

    @Test
    void everyStatementOfARequestLooksUpOneSessionId() throws Exception {
        try (Connection con = TestDatabase.connect(url)) {
            for (String sql : TokenStore.HOT_PATH) {
                assertEquals(List.of(), QueryPlans.scansNotByOneSession(con, sql), sql);
            }
            assertFalse(QueryPlans.scansNotByOneSession(con,
                    "SELECT * FROM sessionfarm_token WHERE app = ? AND family = ?").isEmpty(),
                    "the check sees a family looked up without its session");
        }
    }

    /**
     * A rotation and a first use change no indexed column, so PostgreSQL rewrites the family's row
     * in place; at most the one rotation that crosses into the next hour does not.
     */
    @Test
    void rotationsAndFirstUsesRewriteTheFamilyRowInPlace() throws Exception {
        String own = UpdateCounts.freshDatabase("token_store_in_place");
        TokenStore inPlace = new TokenStore(UpdateCounts.unpooled(own), "localhost/in-place");
        byte[] family = id();
        byte[] token = inPlace.create(family, "HOT", id(), 0).tokenId();
        UpdateCounts before = UpdateCounts.of(own, "sessionfarm_token", 0);
        for (int i = 0; i < 10; i++) {
            byte[] next = id();
            assertNotNull(inPlace.rotate(family, token, "HOT", next, 0));
            inPlace.firstUse("HOT", family, next);
            token = next;
        }
        UpdateCounts rotations = UpdateCounts.of(own, "sessionfarm_token", before.updates() + 20).since(before);
        assertEquals(20, rotations.updates(), "ten rotations, ten first uses");
        assertTrue(rotations.notInPlace() <= 1, rotations.inPlace() + " of 20 updates were in place");
    }

    @Test
    void anIdleFamilyIsDeletedInTheHourAfterItsTimeoutAndALongLivedOneAtItsLifetime() throws Exception {
        TokenStore sweeping = new TokenStore(database.dataSource(), "localhost/expiring");
        byte[] idle = id();
        byte[] active = id();
        byte[] old = id();
        sweeping.create(idle, "IDLE", id(), 0);
        sweeping.create(active, "ACTIVE", id(), 0);
        Family created = sweeping.create(old, "OLD", id(), 1_000); // a hand-off carried its creation over
        assertEquals(1_000, created.createdAt());
        try (Connection con = TestDatabase.connect(url); Statement st = con.createStatement()) {
            // Last issued two hours ago, by the database's clock.
            st.executeUpdate("UPDATE sessionfarm_token SET issued_at = issued_at - 7200000"
                    + " WHERE app = 'localhost/expiring' AND session_id = 'IDLE'");
        }
        assertEquals(2, sweeping.deleteExpired(1_800_000, 86_400_000));
        assertNull(sweeping.read("IDLE", idle), "idle for two hours, timeout 30 minutes");
        assertNull(sweeping.read("OLD", old), "created in 1970, lifetime a day");
        assertNotNull(sweeping.read("ACTIVE", active), "issued now, timeout 30 minutes");
    }

    @Test
    void ofManyRacingRotationsExactlyOneWins() throws Exception {
        byte[] family = id();
        Family created = store.create(family, "S1", id(), 0);
        assertEquals(0, created.generation());
        int racers = 8;
        ExecutorService pool = Executors.newFixedThreadPool(racers);
        CountDownLatch go = new CountDownLatch(1);
        List<Future<Family>> results = new ArrayList<>();
        for (int i = 0; i < racers; i++) {
            results.add(pool.submit(() -> {
                go.await();
                return store.rotate(family, created.tokenId(), "S1", id(), 5000);
            }));
        }
        go.countDown();
        int winners = 0;
        for (Future<Family> result : results) {
            if (result.get() != null) {
                winners++;
            }
        }
        pool.shutdown();
        assertEquals(1, winners);
        Family now = store.read("S1", family);
        assertEquals(1, now.generation());
        assertTrue(Arrays.equals(created.tokenId(), now.previousTokenId()), "the loser's token is the predecessor");
        assertTrue(now.previousUntil() > now.now(), "inside its grace period");
    }

    @Test
    void aLoginKeepsOnlyTheFamilyThatLoggedInWithoutGraceAndRevocationReachesEveryFamily() throws Exception {
        byte[] mine = id();
        byte[] planted = id();
        store.create(mine, "OLD", id(), 0);
        store.create(planted, "OLD", id(), 0);
        assertNull(store.rotate(mine, store.read("OLD", mine).tokenId(), "ANOTHER", id(), 60_000),
                "a token sealed for another session rotates nothing");
        assertNull(store.read("ANOTHER", mine), "nor finds the family");
        store.rotate(mine, store.read("OLD", mine).tokenId(), "OLD", id(), 60_000);
        assertTrue(store.loggedIn("OLD", "NEW", mine), "the family that logged in follows");
        assertFalse(store.loggedIn("OLD", "NEWER", mine), "a second login racing the first finds it moved");
        Family kept = store.read("NEW", mine);
        assertEquals("NEW", kept.sessionId());
        assertNull(kept.previousTokenId(), "the pre-login token has no grace left");
        assertNull(store.read("OLD", mine), "a token from before the login finds no family");
        assertNull(store.read("OLD", planted));
        store.create(planted, "NEW", id(), 0);
        assertEquals(2, store.revokeSession("NEW"));
        assertNull(store.read("NEW", mine));
        assertNull(store.read("NEW", planted));
    }

    @Test
    void aSessionKeepsItsMostRecentlyUsedFamiliesOnly() throws Exception {
        List<byte[]> families = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            byte[] family = id();
            store.create(family, "CAPPED", id(), 0);
            families.add(family);
            Thread.sleep(5);
        }
        assertEquals(2, store.capFamilies("CAPPED", 3));
        assertNull(store.read("CAPPED", families.get(0)));
        assertNull(store.read("CAPPED", families.get(1)));
        assertNotNull(store.read("CAPPED", families.get(4)));
    }

    @Test
    void aRotationInsideTheGraceKeepsThePredecessorAsTheOlderTokenUntilItsGraceEnds() throws Exception {
        byte[] family = id();
        Family first = store.create(family, "S4", id(), 0);
        Family second = store.rotate(family, first.tokenId(), "S4", id(), 60_000);
        assertNull(second.olderTokenId(), "a rotation after the grace keeps no older token");
        Family third = store.rotateUsed(family, second.tokenId(), "S4", id(), 60_000); // a hand-off
        assertArrayEquals(first.tokenId(), third.olderTokenId());
        assertEquals(second.previousUntil(), third.olderUntil(), "until the end of its own grace");
        assertTrue(third.currentUsedAt() > 0, "a hand-off's token counts as used at once");
        Family loggedIn = store.rotateAtLogin(family, third.tokenId(), "S4", id());
        assertNull(loggedIn.olderTokenId(), "nothing from before a login passes after it");
    }

    @Test
    void aHandOffCodeIsRedeemedOnceAndNotAfterItExpires() throws Exception {
        byte[] code = id();
        store.createHandoff(code, "S2", 123, "/reports/x", 60_000);
        assertNotNull(store.redeem(code));
        assertNull(store.redeem(code), "single use");
        byte[] stale = id();
        store.createHandoff(stale, "S2", 123, "/reports/x", -1);
        assertNull(store.redeem(stale), "expired");
    }

    @Test
    void theDatabaseClockDecidesAndCreationTimeCarriesOver() throws Exception {
        Family fresh = store.create(id(), "S3", id(), 0);
        assertEquals(fresh.now(), fresh.issuedAt());
        assertEquals(fresh.now(), fresh.createdAt());
        Family handedOff = store.create(id(), "S3", id(), 1_000);
        assertEquals(1_000, handedOff.createdAt(), "the absolute lifetime follows the session, not the family");
        assertTrue(store.deleteExpired(3_600_000, 60_000) >= 1, "an absolute lifetime long gone");
    }
}
