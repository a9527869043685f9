package io.sessionfarm.token;

import static io.sessionfarm.store.DatabaseClock.NOW;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.List;

import javax.sql.DataSource;

import io.sessionfarm.store.Database;
import io.sessionfarm.store.StoredSession.Stamp;

/**
 * Token families and hand-off codes of one web application in PostgreSQL: the common session
 * database that decides whether a token is current. Every decision that two nodes could race on
 * is one conditional statement; every time is the database's clock.
 */
final class TokenStore implements FamilyStore {

    /**
     * A family's row, read with the database's current time and, in the same statement, the stamp
     * of its session's row (null if there is none), which the Manager would otherwise read next.
     */
    record Family(byte[] family, String sessionId, byte[] tokenId, long generation, long issuedAt,
            byte[] previousTokenId, long previousUntil, long createdAt, long now, Stamp stamp, long currentUsedAt,
            byte[] olderTokenId, long olderUntil) {

        /** A family's first row as a node makes it while the store is down, on its own clock. */
        static Family owed(byte[] family, String sessionId, byte[] tokenId, long now, long createdAt) {
            return new Family(family, sessionId, tokenId, 0, now, null, 0, createdAt, now, null, 0, null, 0);
        }

        Token current(int keyId) {
            return new Token(family, tokenId, generation, issuedAt, sessionId, keyId);
        }

        /** The same token, now for the session's new id; the stamp is unknown. */
        Family renamed(String newSessionId) {
            return new Family(family, newSessionId, tokenId, generation, issuedAt, previousTokenId, previousUntil,
                    createdAt, now, null, currentUsedAt, olderTokenId, olderUntil);
        }
    }

    /** What a redeemed hand-off code stood for. */
    record Handoff(String sessionId, long createdAt, String target) {
    }

    /** Wraps a statement on one family row (its CTE named t) to return the row, the time and the session's stamp. */
    private static final String WITH_STAMP = """
            WITH t AS (%s)
            SELECT t.family, t.session_id, t.token_id, t.generation, t.issued_at, t.previous_token_id,
                   coalesce(t.previous_until, 0), t.created_at, %s, s.version, s.last_access, s.expires_at,
                   coalesce(t.current_used_at, 0), t.older_token_id, coalesce(t.older_until, 0)
              FROM t LEFT JOIN sessionfarm_session s ON s.app = t.app AND s.id = t.session_id""";

    private static final String READ = withStamp("""
            SELECT * FROM sessionfarm_token WHERE app = ? AND session_id = ? AND family = ?""");
    private static final String CREATE = withStamp("""
            INSERT INTO sessionfarm_token (app, family, session_id, token_id, generation, issued_at, created_at)
            VALUES (?, ?, ?, ?, 0, %1$s, CASE WHEN ? > 0 THEN ? ELSE %1$s END)
            RETURNING *""".formatted(NOW));
    /**
     * Rotates only the token that was presented, and only for the session sealed in it: a token
     * from before a login, or a family row pointed at another session, rotates nothing. A
     * predecessor still inside its grace (only a hand-off rotates then) is kept as the older token,
     * until the end of that grace.
     */
    private static final String ROTATE = """
            UPDATE sessionfarm_token
               SET previous_token_id = token_id, previous_until = %1$s + ?, token_id = ?, generation = generation + 1,
                   issued_at = %1$s, current_used_at = CASE WHEN ? THEN %1$s END,
                   older_token_id = CASE WHEN previous_until >= %1$s THEN previous_token_id END,
                   older_until = CASE WHEN previous_until >= %1$s THEN previous_until END
             WHERE app = ? AND session_id = ? AND family = ? AND token_id = ?""".formatted(NOW);
    private static final String ROTATE_ANY = withStamp(ROTATE + "\nRETURNING *");
    private static final String ROTATE_IF_DUE = withStamp(ROTATE + """

               AND issued_at <= %1$s - ? AND issued_at >= %1$s - ? AND created_at >= %1$s - ?
               AND coalesce(previous_until, 0) < %1$s
            RETURNING *""".formatted(NOW));
    private static final String ROTATE_AT_LOGIN = withStamp("""
            UPDATE sessionfarm_token
               SET previous_token_id = NULL, previous_until = 0, token_id = ?, generation = generation + 1,
                   issued_at = %s, current_used_at = NULL, older_token_id = NULL, older_until = NULL
             WHERE app = ? AND session_id = ? AND family = ? AND token_id = ?
            RETURNING *""".formatted(NOW));
    private static final String FIRST_USE = """
            UPDATE sessionfarm_token SET current_used_at = %s
             WHERE app = ? AND session_id = ? AND family = ? AND token_id = ? AND current_used_at IS NULL""".formatted(NOW);
    private static final String REVOKE_SESSION = """
            WITH codes AS (DELETE FROM sessionfarm_handoff WHERE app = ? AND session_id = ?)
            DELETE FROM sessionfarm_token WHERE app = ? AND session_id = ?""";
    private static final String DELETE_FAMILY = """
            DELETE FROM sessionfarm_token WHERE app = ? AND session_id = ? AND family = ?""";
    private static final String DELETE_FAMILY_IF_OTHERS = """
            DELETE FROM sessionfarm_token t WHERE app = ? AND session_id = ? AND family = ?
               AND EXISTS (SELECT 1 FROM sessionfarm_token o
                            WHERE o.app = t.app AND o.session_id = t.session_id AND o.family <> t.family)""";
    private static final String LOGGED_IN = """
            WITH kept AS (
                UPDATE sessionfarm_token SET session_id = ?, previous_token_id = NULL, previous_until = 0,
                                             older_token_id = NULL, older_until = NULL
                 WHERE app = ? AND session_id = ? AND family = ?
                RETURNING family),
            revoked AS (
                DELETE FROM sessionfarm_token
                 WHERE app = ? AND session_id = ? AND family NOT IN (SELECT family FROM kept)),
            codes AS (
                DELETE FROM sessionfarm_handoff WHERE app = ? AND session_id = ?)
            SELECT count(*) FROM kept""";
    private static final String CAP_FAMILIES = """
            DELETE FROM sessionfarm_token
             WHERE app = ? AND session_id = ?
               AND family IN (SELECT family FROM sessionfarm_token
                               WHERE app = ? AND session_id = ? ORDER BY issued_at DESC OFFSET ?)""";
    private static final String CREATE_HANDOFF = """
            INSERT INTO sessionfarm_handoff (code_hash, app, session_id, created_at, target, expires_at)
            VALUES (?, ?, ?, ?, ?, %s + ?)""".formatted(NOW);
    private static final String REDEEM_HANDOFF = """
            DELETE FROM sessionfarm_handoff WHERE code_hash = ? AND app = ?
            RETURNING session_id, created_at, target, expires_at > %s""".formatted(NOW);
    private static final String DELETE_EXPIRED_HANDOFFS = """
            DELETE FROM sessionfarm_handoff WHERE app = ? AND expires_at < %s""".formatted(NOW);
    /**
     * Idle families by the hour of their last token (an earlier hour than the one the idle timeout
     * reaches back to, so that a rotation stays an update in place: V9), long-lived ones by their
     * creation; both from an index.
     */
    private static final String DELETE_EXPIRED_FAMILIES = """
            DELETE FROM sessionfarm_token
             WHERE app = ? AND (issued_hour < (%1$s - ?) / 3600000 OR created_at < %1$s - ?)""".formatted(NOW);

    /**
     * The statements a request makes: each addresses one session id, so that the tables can be
     * distributed by it (docs/scale.md). Not among them: hand-off codes, found by the code's hash
     * once per link, and the sweep of expired families and codes.
     */
    static final List<String> HOT_PATH = List.of(READ, CREATE, ROTATE_ANY, ROTATE_IF_DUE, ROTATE_AT_LOGIN, FIRST_USE,
            REVOKE_SESSION, DELETE_FAMILY, DELETE_FAMILY_IF_OTHERS, LOGGED_IN, CAP_FAMILIES);

    private static String withStamp(String statement) {
        return WITH_STAMP.formatted(statement, NOW);
    }

    private final DataSource dataSource;
    private final String app;

    TokenStore(DataSource dataSource, String app) {
        this.dataSource = dataSource;
        this.app = app;
    }

    @Override
    public Family read(String sessionId, byte[] family) throws SQLException {
        return one(READ, app, sessionId, family);
    }

    /** A new family whose first token is {@code tokenId}; {@code createdAt} 0 means now. */
    @Override
    public Family create(byte[] family, String sessionId, byte[] tokenId, long createdAt) throws SQLException {
        return one(CREATE, app, family, sessionId, tokenId, createdAt, createdAt);
    }

    /**
     * Replaces the current token if it is still {@code expected}: the compare-and-set that decides
     * which of two racing requests rotates. The old token becomes the predecessor, accepted for
     * {@code graceMillis}. Null if another request rotated first.
     */
    @Override
    public Family rotate(byte[] family, byte[] expected, String sessionId, byte[] next, long graceMillis)
            throws SQLException {
        return one(ROTATE_ANY, graceMillis, next, false, app, sessionId, family, expected);
    }

    /**
     * A rotation whose successor counts as used at once: its predecessor passes only for the race
     * window after it, whatever the grace. For hand-off codes, which a copy of the token could fork.
     */
    Family rotateUsed(byte[] family, byte[] expected, String sessionId, byte[] next, long graceMillis)
            throws SQLException {
        return one(ROTATE_ANY, graceMillis, next, true, app, sessionId, family, expected);
    }

    /**
     * A new token at login, with no predecessor: the token from before the login, sealed with the
     * old session id, is then neither current nor a predecessor, and opens nothing.
     */
    Family rotateAtLogin(byte[] family, byte[] expected, String newSessionId, byte[] next) throws SQLException {
        return one(ROTATE_AT_LOGIN, next, app, newSessionId, family, expected);
    }

    /**
     * The common case in one round trip: rotates only if {@code expected} is current, is at least
     * {@code rotateAfterMillis} old, its predecessor's grace has ended, and neither timeout has
     * passed. Null otherwise; the caller then reads the row and decides.
     */
    @Override
    public Family rotateIfDue(byte[] family, byte[] expected, String sessionId, byte[] next, long graceMillis,
            long rotateAfterMillis, long idleMillis, long absoluteMillis) throws SQLException {
        return one(ROTATE_IF_DUE, graceMillis, next, false, app, sessionId, family, expected, rotateAfterMillis,
                idleMillis, absoluteMillis);
    }

    /**
     * Notes that the current token was presented and passed without a rotation, the first time it
     * was: from a moment later, its predecessor no longer passes.
     */
    @Override
    public void firstUse(String sessionId, byte[] family, byte[] tokenId) throws SQLException {
        update(FIRST_USE, app, sessionId, family, tokenId);
    }

    /** One round trip, to learn whether the store answers again. */
    @Override
    public void ping() throws SQLException {
        Database.ping(dataSource);
    }

    /** Ends every family of the session, and its hand-off codes: whoever holds any of them holds nothing. */
    @Override
    public int revokeSession(String sessionId) throws SQLException {
        return update(REVOKE_SESSION, app, sessionId, app, sessionId);
    }

    @Override
    public boolean deleteFamilyIfOthers(String sessionId, byte[] family) throws SQLException {
        return update(DELETE_FAMILY_IF_OTHERS, app, sessionId, family) == 1;
    }

    void deleteFamily(String sessionId, byte[] family) throws SQLException {
        update(DELETE_FAMILY, app, sessionId, family);
    }

    /**
     * The session changed its id (login): the family of the browser that logged in follows it, with
     * no grace left for its predecessor, and every other family of the session is revoked. With no
     * family (a login outside a request this valve saw), every family is revoked.
     *
     * @return whether the family {@code keep} followed the login
     */
    boolean loggedIn(String oldId, String newId, byte[] keep) throws SQLException {
        try (Connection connection = dataSource.getConnection();
                PreparedStatement ps = connection.prepareStatement(LOGGED_IN)) {
            bind(ps, newId, app, oldId, keep, app, oldId, app, oldId);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() && rs.getLong(1) > 0;
            }
        }
    }

    /**
     * Keeps a session's families to the {@code max} most recently used: each redeemed hand-off
     * makes one, and a session has no use for many.
     */
    int capFamilies(String sessionId, int max) throws SQLException {
        return update(CAP_FAMILIES, app, sessionId, app, sessionId, max);
    }

    void createHandoff(byte[] codeHash, String sessionId, long createdAt, String target, long ttlMillis)
            throws SQLException {
        update(CREATE_HANDOFF, codeHash, app, sessionId, createdAt, target, ttlMillis);
    }

    /** Takes the code out of the table, so it works once; null if unknown, used or expired. */
    Handoff redeem(byte[] codeHash) throws SQLException {
        try (Connection connection = dataSource.getConnection();
                PreparedStatement ps = connection.prepareStatement(REDEEM_HANDOFF)) {
            ps.setBytes(1, codeHash);
            ps.setString(2, app);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() && rs.getBoolean(4) ? new Handoff(rs.getString(1), rs.getLong(2), rs.getString(3)) : null;
            }
        }
    }

    /**
     * Families no token of which can still pass, and stale hand-off codes. An idle family goes up
     * to an hour after its timeout; its tokens stopped passing at the timeout.
     */
    int deleteExpired(long idleMillis, long absoluteMillis) throws SQLException {
        update(DELETE_EXPIRED_HANDOFFS, app);
        return update(DELETE_EXPIRED_FAMILIES, app, idleMillis, absoluteMillis);
    }

    private Family one(String sql, Object... args) throws SQLException {
        try (Connection connection = dataSource.getConnection();
                PreparedStatement ps = connection.prepareStatement(sql)) {
            bind(ps, args);
            long now = System.currentTimeMillis();
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) {
                    return null;
                }
                long version = rs.getLong(10);
                Stamp stamp = rs.wasNull() ? null : Stamp.read(version, rs.getLong(11), rs.getLong(12), rs.getLong(9), now);
                return new Family(rs.getBytes(1), rs.getString(2), rs.getBytes(3), rs.getLong(4), rs.getLong(5),
                        rs.getBytes(6), rs.getLong(7), rs.getLong(8), rs.getLong(9), stamp, rs.getLong(13),
                        rs.getBytes(14), rs.getLong(15));
            }
        }
    }

    private int update(String sql, Object... args) throws SQLException {
        try (Connection connection = dataSource.getConnection();
                PreparedStatement ps = connection.prepareStatement(sql)) {
            bind(ps, args);
            return ps.execute() ? 0 : ps.getUpdateCount();
        }
    }

    private static void bind(PreparedStatement ps, Object... args) throws SQLException {
        for (int i = 0; i < args.length; i++) {
            ps.setObject(i + 1, args[i]);
        }
    }
}
