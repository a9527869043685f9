package io.sessionfarm.token;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

import javax.crypto.KeyGenerator;
import javax.crypto.SecretKey;

import org.apache.juli.logging.LogFactory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import io.sessionfarm.keys.KeyRing;
import io.sessionfarm.keys.Sha256;
import io.sessionfarm.store.StoreGate;
import io.sessionfarm.token.TokenStore.Family;
import io.sessionfarm.token.TokenVerifier.Verdict;

/**
 * What the verifier decides of a presented token, against token families in memory whose clock
 * the tests move: no database, no Tomcat request.
 */
class TokenVerifierTest {

    private static final String LOGGER = TokenVerifierTest.class.getName();
    private static final String SESSION = "SESSION-ONE-0123456789";
    private static final long GRACE = 20_000;
    private static final long ROTATE_AFTER = 60_000;
    private static final long IDLE = 1_800_000;
    private static final long ABSOLUTE = 28_800_000;
    private static final int PRIMARY = 7;
    private static final int RETIRING = 6;

    private final InMemoryFamilies store = new InMemoryFamilies();
    private final StoreGate gate = new StoreGate(Logger.getLogger(LOGGER), error -> "down: " + error, "back");
    private final OutageMemory memory = new OutageMemory(store, gate);
    private final TokenStats stats = new TokenStats();
    private final List<String> endedHere = new ArrayList<>();
    private final List<String> logged = new ArrayList<>();
    private final TokenCodec codec = new TokenCodec("__Host-sessionfarm", "localhost/");
    private final Handler capture = new Handler() {
        @Override
        public void publish(LogRecord record) {
            logged.add(record.getMessage());
        }

        @Override
        public void flush() {
        }

        @Override
        public void close() {
        }
    };
    private SecretKey primaryKey;
    private SecretKey retiringKey;
    private final TokenVerifier verifier = verifier(ROTATE_AFTER);

    @BeforeEach
    void keys() throws Exception {
        KeyGenerator generator = KeyGenerator.getInstance("AES");
        generator.init(256);
        primaryKey = generator.generateKey();
        retiringKey = generator.generateKey();
        Logger.getLogger(LOGGER).addHandler(capture);
    }

    @AfterEach
    void stopCapturing() {
        Logger.getLogger(LOGGER).removeHandler(capture);
    }

    private TokenVerifier verifier(long rotateAfterMillis) {
        TokenSettings settings = TokenSettings.parse(Map.of("rotateAfter", Long.toString(rotateAfterMillis / 1000),
                "grace", Long.toString(GRACE / 1000), "idleTimeout", Long.toString(IDLE / 1000),
                "absoluteTimeout", Long.toString(ABSOLUTE / 1000)), "", 30);
        TokenVerifier.Keys keys = new TokenVerifier.Keys() {
            @Override
            public SecretKey find(int id) {
                return id == PRIMARY ? primaryKey : id == RETIRING ? retiringKey : null;
            }

            @Override
            public int primaryId() {
                return PRIMARY;
            }
        };
        return new TokenVerifier(settings, codec, keys, store, memory, stats, endedHere::add, LogFactory.getLog(LOGGER),
                "localhost/");
    }

    /** A family in the store whose current token is {@code ageMillis} old, under the primary key. */
    private Token issued(long ageMillis) {
        return store.add(RandomIds.newId(), SESSION, RandomIds.newId(), ageMillis, ageMillis).current(PRIMARY);
    }

    @Test
    void aCurrentTokenThatIsNotDuePassesAsItIsAndItsFirstUseIsNoted() throws Exception {
        Token token = issued(5_000);
        Verdict verdict = verifier.verify(token);
        assertTrue(verdict.passes());
        assertEquals(TokenState.CURRENT, verdict.state());
        assertFalse(verdict.sendCookie(), "nothing new to send");
        assertArrayEquals(token.tokenId(), verdict.family().tokenId());
        assertEquals(SESSION, verdict.family().sessionId());
        assertEquals(store.now, store.row(token.family()).currentUsedAt, "from now on its predecessor has a deadline");
        assertEquals(1, stats.tokensVerified.sum());
        assertEquals(0, stats.tokensRotated.sum());
    }

    @Test
    void aTokenDueForRotationIsReplacedAndItsSuccessorSent() throws Exception {
        Token token = issued(ROTATE_AFTER + 1_000);
        Verdict verdict = verifier.verify(token);
        assertTrue(verdict.passes());
        assertEquals(TokenState.CURRENT, verdict.state());
        assertTrue(verdict.sendCookie());
        assertEquals(1, verdict.family().generation());
        assertFalse(token.sameToken(verdict.family().tokenId()), "a new token id");
        InMemoryFamilies.Row row = store.row(token.family());
        assertArrayEquals(token.tokenId(), row.previousTokenId, "the old token is the predecessor");
        assertEquals(store.now + GRACE, row.previousUntil);
        assertEquals(1, stats.tokensRotated.sum());
        assertEquals(1, stats.tokensVerified.sum());
    }

    @Test
    void aTokenUnderARetiringKeyIsReissuedAtItsNextUse() throws Exception {
        Family row = store.add(RandomIds.newId(), SESSION, RandomIds.newId(), 5_000, 5_000);
        Verdict verdict = verifier.verify(row.current(RETIRING));
        assertTrue(verdict.sendCookie(), "re-encrypted under the primary key");
        assertEquals(1, verdict.family().generation());
    }

    @Test
    void everyResponseRotatesWithRotateAfterZeroOnceThePredecessorsGraceIsOver() throws Exception {
        TokenVerifier everyTime = verifier(0);
        Token token = issued(0);
        Verdict first = everyTime.verify(token);
        store.now += GRACE + 1;
        Verdict second = everyTime.verify(first.family().current(PRIMARY));
        assertEquals(2, second.family().generation());
        assertTrue(first.sendCookie() && second.sendCookie());
    }

    @Test
    void thePredecessorInsideTheGraceGetsTheSameSuccessorNeverABranch() throws Exception {
        Token old = issued(ROTATE_AFTER + 1_000);
        Family successor = verifier.verify(old).family();
        store.now += 500;
        Verdict parallel = verifier.verify(old);
        assertTrue(parallel.passes());
        assertEquals(TokenState.PREDECESSOR, parallel.state());
        assertTrue(parallel.sendCookie(), "the response sets the successor");
        assertArrayEquals(successor.tokenId(), parallel.family().tokenId());
        assertEquals(1, store.row(old.family()).generation, "no second rotation");
        assertEquals(1, stats.acceptedInGrace.sum());
        assertTrue(store.revokedSessions.isEmpty());
    }

    @Test
    void thePredecessorPassesWithinTheRaceWindowAfterItsSuccessorsFirstUseAndIsRefusedAfterIt() throws Exception {
        Token old = issued(ROTATE_AFTER + 1_000);
        Family successor = verifier.verify(old).family();
        store.now += 100;
        assertEquals(TokenState.CURRENT, verifier.verify(successor.current(PRIMARY)).state(), "the successor in use");
        store.now += TokenVerifier.RACE_MILLIS;
        assertEquals(TokenState.PREDECESSOR, verifier.verify(old).state(), "sent before the browser had the successor");
        store.now += 1;
        Verdict late = verifier.verify(old);
        assertFalse(late.passes(), "a copy presented after its successor is in use");
        assertEquals(1, stats.rejectedLatePredecessor.sum());
        assertTrue(store.revokedSessions.isEmpty() && endedHere.isEmpty(), "refused, not revoked, inside the grace");
        assertNotNull(store.row(old.family()));
    }

    @Test
    void aPredecessorAfterTheGraceIsAReuseThatRevokesTheSessionForEveryHolder() throws Exception {
        Token old = issued(ROTATE_AFTER + 1_000);
        Family successor = verifier.verify(old).family();
        store.now += GRACE + 1;
        Verdict reuse = verifier.verify(old);
        assertFalse(reuse.passes());
        assertEquals(1, stats.replaysRevoked.sum());
        assertEquals(List.of(SESSION), store.revokedSessions);
        assertEquals(List.of(SESSION), endedHere, "this node's copy of the session ends too");
        assertFalse(verifier.verify(successor.current(PRIMARY)).passes(), "the successor's holder is out as well");
        String audit = logged.stream().filter(line -> line.contains("AUDIT token reuse")).findFirst().orElseThrow();
        assertTrue(audit.contains("generation 0 of a token family was presented after generation 1 replaced it"),
                audit);
        assertTrue(audit.contains("[" + Sha256.forLog(SESSION) + "]") && !audit.contains(SESSION),
                "a hash, never the id");
    }

    /**
     * A browser's round of parallel requests with a new token on every response: the first rotates,
     * a request that went out after the first answer carries the successor, and one that waited for
     * a free connection still carries the old token. The successor must not be replaced meanwhile,
     * or the old token is two generations back, a reuse, and the whole session is revoked.
     */
    @Test
    void aCurrentTokenIsNotReplacedWhileItsPredecessorsGraceIsOpen() throws Exception {
        TokenVerifier everyTime = verifier(0);
        Token first = issued(0);
        Family second = everyTime.verify(first).family();
        store.now += 5;
        Verdict withSuccessor = everyTime.verify(second.current(PRIMARY));
        assertEquals(TokenState.CURRENT, withSuccessor.state());
        assertFalse(withSuccessor.sendCookie(), "kept: its predecessor may still be on its way");
        assertEquals(1, store.row(first.family()).generation);
        store.now += 5;
        Verdict queued = everyTime.verify(first);
        assertEquals(TokenState.PREDECESSOR, queued.state(), "the queued request keeps the session");
        assertArrayEquals(second.tokenId(), queued.family().tokenId());
        assertTrue(store.revokedSessions.isEmpty());

        store.now += GRACE;
        Verdict later = everyTime.verify(second.current(PRIMARY));
        assertTrue(later.sendCookie(), "replaced once the grace is over");
        assertEquals(2, later.family().generation());
        assertFalse(everyTime.verify(first).passes(), "two generations back is a reuse");
        assertEquals(1, stats.replaysRevoked.sum());
        assertEquals(List.of(SESSION), store.revokedSessions);
    }

    /**
     * A hand-off code rotates even inside the grace (so a thief who uses a copy to get one forks
     * it), which leaves a request still on its way with the predecessor two generations back: it
     * passes like a predecessor, within the race window after the code's token, and is refused,
     * not revoked, after it, until its own grace is over.
     */
    @Test
    void aTokenTwoGenerationsBackAfterAHandOffInsideTheGraceIsTreatedAsAPredecessor() throws Exception {
        Token first = issued(ROTATE_AFTER);
        Family second = verifier.verify(first).family(); // rotated: first is the predecessor
        store.now += 5;
        // The hand-off: a rotation whose successor counts as used at once (TokenStore.rotateUsed).
        Family third = store.rotate(first.family(), second.tokenId(), SESSION, RandomIds.newId(), GRACE);
        store.row(first.family()).currentUsedAt = store.now;
        store.now += 5;
        Verdict queued = verifier.verify(first);
        assertEquals(TokenState.PREDECESSOR, queued.state(), "the queued request keeps the session");
        assertArrayEquals(third.tokenId(), queued.family().tokenId(), "and gets the newest token");

        store.now += TokenVerifier.RACE_MILLIS + 1;
        assertFalse(verifier.verify(first).passes(), "late: refused");
        assertTrue(store.revokedSessions.isEmpty(), "but not taken for a reuse inside its grace");
        assertEquals(1, stats.rejectedLatePredecessor.sum());

        store.now += GRACE;
        assertFalse(verifier.verify(first).passes());
        assertEquals(List.of(SESSION), store.revokedSessions, "after its grace it is a reuse");
    }

    /**
     * A session that ended, or moved to a new id at a login, while the store was down: once the
     * store answers, the node revokes its families before any of its tokens passes, even before
     * its background catch-up ran (a parallel request with the pre-login token must not get a
     * fresh token for the old id).
     */
    @Test
    void aRevocationOwedFromAnOutageIsCarriedOutBeforeATokenOfThatSessionPasses() throws Exception {
        Token token = issued(0);
        memory.oweRevocation(SESSION);
        assertFalse(verifier.verify(token).passes());
        assertEquals(List.of(SESSION), store.revokedSessions);
        assertFalse(memory.revokeIfOwed(SESSION), "carried out once");
        assertEquals(List.of(SESSION), store.revokedSessions);
    }

    @Test
    void theIdleTimeoutClosesTheSession() throws Exception {
        Token token = issued(IDLE + 1);
        assertFalse(verifier.verify(token).passes());
        assertEquals(1, stats.closedByIdleTimeout.sum());
        assertEquals(List.of(SESSION), store.revokedSessions);
        assertEquals(List.of(SESSION), endedHere);
        assertEquals(0, stats.tokensVerified.sum());
    }

    /** A hand-off's other family keeps the session alive: an old tab's idle family ends alone. */
    @Test
    void anIdleFamilyWhoseSessionLivesOnThroughAnotherEndsAlone() throws Exception {
        Token idle = issued(IDLE + 1);
        Token other = issued(5_000);
        long now = System.currentTimeMillis();
        store.sessionStamp = new io.sessionfarm.store.StoredSession.Stamp(3, now - 1_000, now + IDLE);
        assertFalse(verifier.verify(idle).passes());
        assertEquals(1, stats.closedByIdleTimeout.sum());
        assertNull(store.row(idle.family()), "the idle family is gone");
        assertEquals(List.of(), store.revokedSessions, "the session's other family stays");
        assertEquals(List.of(), endedHere, "and so does the session");
        assertTrue(verifier.verify(other).passes(), "the other family still passes");
    }

    /** Without another family, or once the session itself has ended, the idle timeout closes the session. */
    @Test
    void anIdleFamilyAloneOrOfAnEndedSessionClosesTheSession() throws Exception {
        long now = System.currentTimeMillis();
        store.sessionStamp = new io.sessionfarm.store.StoredSession.Stamp(3, now - 1_000, Long.MAX_VALUE); // never expires
        assertFalse(verifier.verify(issued(IDLE + 1)).passes());
        assertEquals(List.of(SESSION), store.revokedSessions, "its only family: the session is closed");

        Token idle = issued(IDLE + 1);
        issued(5_000);
        store.sessionStamp = new io.sessionfarm.store.StoredSession.Stamp(4, now - IDLE - 1, now - 1);
        assertFalse(verifier.verify(idle).passes());
        assertEquals(List.of(SESSION, SESSION), store.revokedSessions, "the session itself expired");
    }

    @Test
    void theAbsoluteTimeoutClosesTheSessionHoweverActive() throws Exception {
        Token token = store.add(RandomIds.newId(), SESSION, RandomIds.newId(), 5_000, ABSOLUTE + 1).current(PRIMARY);
        assertFalse(verifier.verify(token).passes());
        assertEquals(1, stats.closedByAbsoluteTimeout.sum());
        assertEquals(0, stats.closedByIdleTimeout.sum());
        assertEquals(List.of(SESSION), store.revokedSessions);
    }

    @Test
    void aFamilyRowPointedAtAnotherSessionOpensNothing() throws Exception {
        Token token = issued(5_000);
        store.row(token.family()).sessionId = "ANOTHER-SESSION";
        assertFalse(verifier.verify(token).passes());
        assertEquals(1, stats.rejectedUnknownFamily.sum());
        assertTrue(store.revokedSessions.isEmpty(), "nothing of the other session is touched");
        assertNull(store.row(token.family()).previousTokenId, "and nothing rotated");
    }

    @Test
    void aTokenFromBeforeALoginIsRefusedQuietly() throws Exception {
        Token token = issued(5_000);
        InMemoryFamilies.Row row = store.row(token.family());
        row.sessionId = "AFTER-LOGIN";
        row.tokenId = RandomIds.newId();
        row.generation++;
        assertFalse(verifier.verify(token).passes());
        assertEquals(1, stats.rejectedUnknownFamily.sum());
        assertEquals(0, stats.replaysRevoked.sum(), "not taken for a theft");
        assertTrue(store.revokedSessions.isEmpty());
    }

    @Test
    void aTokenOfAnUnknownFamilyIsRefused() throws Exception {
        Token token = new Token(RandomIds.newId(), RandomIds.newId(), 0, store.now, SESSION, PRIMARY);
        assertFalse(verifier.verify(token).passes());
        assertEquals(1, stats.rejectedUnknownFamily.sum());
    }

    @Test
    void aRotationLostToAParallelRequestGetsTheWinnersToken() throws Exception {
        Family row = store.add(RandomIds.newId(), SESSION, RandomIds.newId(), 5_000, 5_000);
        byte[] winner = RandomIds.newId();
        store.beforeRotate = () -> store.rotate(row.family(), row.tokenId(), SESSION, winner, GRACE);
        Verdict verdict = verifier.verify(row.current(RETIRING));
        assertEquals(TokenState.PREDECESSOR, verdict.state());
        assertArrayEquals(winner, verdict.family().tokenId());
        assertEquals(1, store.row(row.family()).generation);
    }

    @Test
    void tamperedUnknownKeyAndMalformedCookiesOpenNothingAndAreCounted() throws Exception {
        Token token = issued(5_000);
        String sealed = codec.seal(token, new KeyRing.Key(PRIMARY, primaryKey));
        assertEquals(token, verifier.open(sealed));

        char[] chars = sealed.toCharArray();
        int i = chars.length - 5;
        chars[i] = chars[i] == 'A' ? 'B' : 'A';
        assertNull(verifier.open(new String(chars)));
        assertEquals(1, stats.rejectedTampered.sum());

        assertNull(verifier.open(codec.seal(token, new KeyRing.Key(99, primaryKey))));
        assertEquals(1, stats.rejectedUnknownKey.sum());

        assertNull(verifier.open("not a token at all"));
        assertEquals(1, stats.rejectedMalformed.sum());
        assertTrue(logged.stream().noneMatch(line -> line.contains(sealed.substring(10, 40))),
                "values are never logged");
    }

    @Test
    void aFamilyMadeWhileTheStoreWasDownIsWrittenWhenItsTokenIsFirstChecked() throws Exception {
        byte[] family = RandomIds.newId();
        long now = store.now;
        Family owed = Family.owed(family, SESSION, RandomIds.newId(), now, now);
        memory.owe(owed);
        Verdict verdict = verifier.verify(owed.current(PRIMARY));
        assertEquals(TokenState.CURRENT, verdict.state());
        assertNotNull(store.row(family));
        assertEquals(0, memory.owedFamilies());
    }

    @Test
    void aFamilyOwedForOneSessionIsNotWrittenForATokenOfAnother() throws Exception {
        byte[] family = RandomIds.newId();
        long now = store.now;
        Family owed = Family.owed(family, SESSION, RandomIds.newId(), now, now);
        memory.owe(owed);
        Token other = new Token(family, owed.tokenId(), 0, now, "ANOTHER-SESSION", PRIMARY);
        assertFalse(verifier.verify(other).passes());
        assertNull(store.row(family), "not written for a token that names another session");
        assertEquals(1, memory.owedFamilies(), "still owed to its own session");
    }

    @Test
    void whileTheStoreIsDownAnAuthenticTokenPassesUnverifiedUnlessThisNodeKnowsBetter() throws Exception {
        Token token = issued(5_000);
        Verdict unverified = verifier.verifyWithoutStore(token, store.now);
        assertEquals(TokenState.UNVERIFIED, unverified.state());
        assertFalse(unverified.sendCookie(), "no rotation without the store");
        assertEquals(SESSION, unverified.family().sessionId());
        assertEquals(1, stats.acceptedWhileStoreDown.sum());

        assertFalse(verifier.verifyWithoutStore(token, store.now + IDLE).passes(), "past the idle timeout");

        Family successor = verifier.verify(issuedLike(token, ROTATE_AFTER + 1_000)).family();
        memory.remember(successor);
        assertFalse(verifier.verifyWithoutStore(token, store.now).passes(),
                "this node saw a later token of the family");

        Token other = issued(5_000);
        memory.oweRevocation(SESSION);
        assertFalse(verifier.verifyWithoutStore(other, store.now).passes(), "its session ended on this node");
        assertEquals(1, stats.acceptedWhileStoreDown.sum());
    }

    /** The token's family again, its current token now {@code ageMillis} old. */
    private Token issuedLike(Token token, long ageMillis) {
        store.row(token.family()).issuedAt = store.now - ageMillis;
        return store.read(token.sessionId(), token.family()).current(PRIMARY);
    }
}
