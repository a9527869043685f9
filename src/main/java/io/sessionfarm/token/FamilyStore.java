package io.sessionfarm.token;

import java.sql.SQLException;

import io.sessionfarm.token.TokenStore.Family;

/**
 * What checking a token needs of the store: one family's row, read or changed by one conditional
 * statement each, every time on the database's clock. {@link TokenStore} keeps the rows in
 * PostgreSQL.
 */
interface FamilyStore {

    /** The family's row as it is now; null if there is none, or if it names another session. */
    Family read(String sessionId, byte[] family) throws SQLException;

    /** A new family whose first token is {@code tokenId}; {@code createdAt} 0 means now. */
    Family create(byte[] family, String sessionId, byte[] tokenId, long createdAt) throws SQLException;

    /**
     * Replaces the current token if it is still {@code expected} and the row names
     * {@code sessionId}; the old token passes as the predecessor for {@code graceMillis}. Null if
     * another request rotated first.
     */
    Family rotate(byte[] family, byte[] expected, String sessionId, byte[] next, long graceMillis) throws SQLException;

    /**
     * As {@link #rotate}, only if {@code expected} is at least {@code rotateAfterMillis} old, its
     * predecessor's grace has ended and neither timeout has passed; null otherwise, and the caller
     * reads the row to decide.
     */
    Family rotateIfDue(byte[] family, byte[] expected, String sessionId, byte[] next, long graceMillis,
            long rotateAfterMillis, long idleMillis, long absoluteMillis) throws SQLException;

    /**
     * Notes the first time the current token passed without a rotation: from a moment later, its
     * predecessor no longer passes.
     */
    void firstUse(String sessionId, byte[] family, byte[] tokenId) throws SQLException;

    /** Ends every family of the session and its hand-off codes; returns how many families there were. */
    int revokeSession(String sessionId) throws SQLException;

    /** One round trip, to learn whether the store answers again. */
    void ping() throws SQLException;

    /** Deletes one family of the session if the session has another; false if it has none. */
    boolean deleteFamilyIfOthers(String sessionId, byte[] family) throws SQLException;
}
