package io.sessionfarm.token;

import java.sql.SQLException;
import java.util.function.Consumer;

import org.apache.juli.logging.Log;
import org.apache.tomcat.util.res.StringManager;

import io.sessionfarm.keys.Sha256;
import io.sessionfarm.token.TokenCodec.BadToken;
import io.sessionfarm.token.TokenStore.Family;

/**
 * Decides what a presented token is worth. With the store: the current token passes (and rotates
 * when due, but never while its predecessor's grace is open); the immediate predecessor passes
 * inside the grace period and gets the same successor, unless its successor has been in use for
 * longer than the race window (so does the token before it, inside its own grace, when a hand-off
 * rotated during that grace); any other token of the family is a reuse and revokes the session; a
 * token past the idle or absolute timeout closes it.
 * Without the store: an authentic token inside the idle timeout passes unverified, unless this
 * node knows better.
 */
final class TokenVerifier {

    private static final StringManager sm = StringManager.getManager(TokenVerifier.class);

    /**
     * How long after its successor's first use a predecessor inside the grace still passes: long
     * enough for requests a browser sent before it had the successor, short of a copy that someone
     * else goes on presenting.
     */
    static final long RACE_MILLIS = 1000;
    /** Rotations lost to parallel requests before a token is given up on. */
    private static final int ATTEMPTS = 3;

    /** Token keys by id (null for one this node does not hold), and which one seals new tokens. */
    interface Keys extends TokenCodec.Keys {
        int primaryId();
    }

    /**
     * What the presented token is worth: the family whose session the request carries (null: the
     * token opens nothing), what the token was, and whether the response must carry the family's
     * current token.
     */
    record Verdict(Family family, TokenState state, boolean sendCookie) {

        static final Verdict REFUSED = new Verdict(null, null, false);

        boolean passes() {
            return family != null;
        }
    }

    private final TokenSettings settings;
    private final TokenCodec codec;
    private final Keys keys;
    private final FamilyStore store;
    private final OutageMemory memory;
    private final TokenStats stats;
    private final Consumer<String> endLocalSession;
    private final Log log;
    private final String app;

    /** @param endLocalSession ends this node's copy of a session whose tokens were revoked */
    TokenVerifier(TokenSettings settings, TokenCodec codec, Keys keys, FamilyStore store, OutageMemory memory,
            TokenStats stats, Consumer<String> endLocalSession, Log log, String app) {
        this.settings = settings;
        this.codec = codec;
        this.keys = keys;
        this.store = store;
        this.memory = memory;
        this.stats = stats;
        this.endLocalSession = endLocalSession;
        this.log = log;
        this.app = app;
    }

    /** The token in a cookie value; null, counted and never logged, if it is not one this farm issued. */
    Token open(String cookieValue) {
        try {
            return codec.open(cookieValue, keys);
        } catch (BadToken e) {
            stats.rejected(e.reason()).increment();
            if (log.isDebugEnabled()) {
                log.debug(sm.getString("tokenVerifier.ignored", app, e.getMessage()));
            }
            return null;
        }
    }

    /** Checks the token against its family's row; the database's clock decides. */
    Verdict verify(Token token) throws SQLException {
        if (memory.revokeIfOwed(token.sessionId())) {
            // Its session ended, or moved to a new id at a login, while the store was down: the
            // revocation this node owes is carried out before anything of that session passes.
            stats.rejectedUnknownFamily.increment();
            return Verdict.REFUSED;
        }
        Family rotated = rotateIfDue(token);
        if (rotated != null) {
            stats.tokensVerified.increment();
            stats.tokensRotated.increment();
            return new Verdict(rotated, TokenState.CURRENT, true);
        }
        // Found by the session id sealed in the token too: a token from before a login (which moved
        // its family to the new id) or a row pointed at another session finds no family.
        Family row = store.read(token.sessionId(), token.family());
        if (row == null) {
            row = memory.writeIfOwed(token.sessionId(), token.family());
        }
        for (int attempt = 0; row != null && attempt < ATTEMPTS; attempt++) {
            if (token.sameToken(row.tokenId()) && token.generation() == row.generation()) {
                Verdict verdict = current(token, row);
                if (verdict != null) {
                    return verdict;
                }
                row = store.read(token.sessionId(), token.family()); // a parallel request rotated first: look again
            } else if (token.sameToken(row.previousTokenId()) && row.now() <= row.previousUntil()
                    || token.sameToken(row.olderTokenId()) && row.now() <= row.olderUntil()) {
                // The older token too: a hand-off rotated inside the predecessor's grace, so a
                // request that left before the browser had either newer token is two steps behind.
                return predecessor(row);
            } else {
                replayed(row, token);
                return Verdict.REFUSED;
            }
        }
        if (row == null) {
            stats.rejectedUnknownFamily.increment();
        }
        return Verdict.REFUSED;
    }

    /**
     * The store is unreachable, so nothing can be checked against it: an authentic token inside the
     * idle timeout (by its own issue time) keeps its session, without rotation, until the store
     * returns, unless this node knows better (see {@link OutageMemory#knowsBetter}).
     *
     * @param databaseNow this node's time on the database's clock, which the token's times are on
     */
    Verdict verifyWithoutStore(Token token, long databaseNow) {
        if (databaseNow - token.issuedAt() > settings.idleMillis()
                || memory.knowsBetter(token, databaseNow, settings.absoluteMillis())) {
            return Verdict.REFUSED;
        }
        stats.acceptedWhileStoreDown.increment();
        Family claimed = new Family(token.family(), token.sessionId(), token.tokenId(), token.generation(),
                token.issuedAt(), null, 0, 0, System.currentTimeMillis(), null, 0, null, 0);
        return new Verdict(claimed, TokenState.UNVERIFIED, false);
    }

    /** A token that looks due by this node's clock: the rotation alone, in one round trip; null if it was not due. */
    private Family rotateIfDue(Token token) throws SQLException {
        boolean probablyDue = token.keyId() == keys.primaryId()
                && System.currentTimeMillis() - token.issuedAt() >= settings.rotateAfterMillis();
        if (!probablyDue) {
            return null;
        }
        return store.rotateIfDue(token.family(), token.tokenId(), token.sessionId(), RandomIds.newId(),
                settings.graceMillis(), settings.rotateAfterMillis(), settings.idleMillis(), settings.absoluteMillis());
    }

    /** The current token: passes, rotated when due; null if a parallel request rotated it first. */
    private Verdict current(Token token, Family row) throws SQLException {
        if (closedByTime(row)) {
            return Verdict.REFUSED;
        }
        stats.tokensVerified.increment();
        boolean due = settings.rotateEveryResponse() || row.now() - row.issuedAt() >= settings.rotateAfterMillis()
                || token.keyId() != keys.primaryId();
        // Not while the predecessor's grace is open: a request that left with the predecessor (a
        // browser's parallel or queued request) must still find it one step behind, not two.
        if (!due || row.now() <= row.previousUntil()) {
            if (row.currentUsedAt() == 0) {
                store.firstUse(row.sessionId(), row.family(), row.tokenId()); // once per rotation
            }
            return new Verdict(row, TokenState.CURRENT, false);
        }
        Family next = store.rotate(row.family(), row.tokenId(), row.sessionId(), RandomIds.newId(),
                settings.graceMillis());
        if (next == null) {
            return null;
        }
        stats.tokensRotated.increment();
        return new Verdict(next, TokenState.CURRENT, true);
    }

    /** The immediate predecessor inside the grace period. */
    private Verdict predecessor(Family row) throws SQLException {
        if (row.currentUsedAt() != 0 && row.now() - row.currentUsedAt() > RACE_MILLIS) {
            // Its successor is in use elsewhere: this copy gets nothing, and if it comes back after
            // the grace it is a reuse. Refused, not revoked, inside the grace: a request that was
            // merely slow on the network costs its owner nothing.
            stats.rejectedLatePredecessor.increment();
            return Verdict.REFUSED;
        }
        if (closedByTime(row)) {
            return Verdict.REFUSED;
        }
        // A parallel request, or a late response's cookie: the same successor, never a new branch.
        stats.tokensVerified.increment();
        stats.acceptedInGrace.increment();
        return new Verdict(row, TokenState.PREDECESSOR, true);
    }

    /**
     * The idle and absolute timeouts, by the database's clock: a session past either is closed. A
     * family idle past its timeout while its session lives on through another family (a
     * hand-off's) is closed alone: its row may outlive the timeout by up to an hour (the sweep
     * finds idle families by the hour), and an old tab must not end the session everywhere.
     */
    private boolean closedByTime(Family row) throws SQLException {
        boolean absolute = row.now() - row.createdAt() > settings.absoluteMillis();
        if (!absolute && row.now() - row.issuedAt() <= settings.idleMillis()) {
            return false;
        }
        (absolute ? stats.closedByAbsoluteTimeout : stats.closedByIdleTimeout).increment();
        if (!absolute && row.stamp() != null && row.stamp().expiresAt() > System.currentTimeMillis()
                && store.deleteFamilyIfOthers(row.sessionId(), row.family())) {
            return true;
        }
        store.revokeSession(row.sessionId());
        endLocalSession.accept(row.sessionId());
        if (log.isDebugEnabled()) {
            String session = Sha256.forLog(row.sessionId());
            log.debug(absolute ? sm.getString("tokenVerifier.closedAbsolute", app, session)
                    : sm.getString("tokenVerifier.closedIdle", app, session));
        }
        return true;
    }

    /** A superseded token outside its grace period: someone holds a copy. Everyone holding it is out. */
    private void replayed(Family row, Token token) throws SQLException {
        int families = store.revokeSession(row.sessionId());
        endLocalSession.accept(row.sessionId());
        stats.replaysRevoked.increment();
        log.warn(sm.getString("tokenVerifier.reuse", app, Long.toString(token.generation()),
                Long.toString(row.generation()), Sha256.forLog(row.sessionId()), Integer.toString(families)));
    }
}
