package io.sessionfarm.tls;

import static io.sessionfarm.store.DatabaseClock.NOW;

import java.nio.ByteBuffer;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import javax.sql.DataSource;

import io.sessionfarm.store.Database;

/** The farm's TLS session cache table, {@code sessionfarm_tls_session}. Times are the database's. */
final class TlsSessionStore {

    private static final String PUT_ALL = """
            INSERT INTO sessionfarm_tls_session (id, key_id, blob, expires_at)
            SELECT s.id, ?, s.blob, %s + s.ttl FROM unnest(?::bytea[], ?::bytea[], ?::bigint[]) AS s(id, blob, ttl)
            ON CONFLICT (id) DO UPDATE SET key_id = excluded.key_id, blob = excluded.blob, expires_at = excluded.expires_at"""
            .formatted(NOW);
    private static final String ASYNCHRONOUS_COMMIT = "SET LOCAL synchronous_commit TO OFF";
    private static final String GET = """
            SELECT key_id, blob, expires_at > %s FROM sessionfarm_tls_session WHERE id = ?""".formatted(NOW);
    private static final String TAKE = """
            DELETE FROM sessionfarm_tls_session WHERE id = ? RETURNING key_id, blob, expires_at > %s""".formatted(NOW);
    private static final String DELETE_EXPIRED = """
            DELETE FROM sessionfarm_tls_session
             WHERE id IN (SELECT id FROM sessionfarm_tls_session WHERE expires_at <= %s LIMIT 10000)""".formatted(NOW);

    /** A stored, still sealed session. */
    record Row(int keyId, byte[] blob) {
    }

    /** A session sealed under the key {@link #putAll} is given, with the lifetime it is stored for. */
    record Sealed(byte[] id, byte[] blob, long ttlMillis) {
    }

    private final DataSource dataSource;

    TlsSessionStore(DataSource dataSource) {
        this.dataSource = dataSource;
    }

    /**
     * Stores sessions in one statement, committed asynchronously: a session a database crash takes
     * with it costs its client one full handshake, while a flush to disk per session would cost
     * every TLS 1.3 resumption (each makes a new session) a commit's wait.
     */
    void putAll(int keyId, List<Sealed> sessions) throws SQLException {
        Map<ByteBuffer, Sealed> unique = new LinkedHashMap<>(); // one row may change once per statement
        for (Sealed session : sessions) {
            unique.put(ByteBuffer.wrap(session.id()), session);
        }
        int n = unique.size();
        byte[][] ids = new byte[n][];
        byte[][] blobs = new byte[n][];
        Long[] ttls = new Long[n];
        int i = 0;
        for (Sealed session : unique.values()) {
            ids[i] = session.id();
            blobs[i] = session.blob();
            ttls[i++] = session.ttlMillis();
        }
        Database.inTransaction(dataSource, connection -> {
            try (Statement asynchronous = connection.createStatement();
                    PreparedStatement ps = connection.prepareStatement(PUT_ALL)) {
                asynchronous.execute(ASYNCHRONOUS_COMMIT);
                ps.setInt(1, keyId);
                ps.setArray(2, connection.createArrayOf("bytea", ids));
                ps.setArray(3, connection.createArrayOf("bytea", blobs));
                ps.setArray(4, connection.createArrayOf("bigint", ttls));
                return ps.executeUpdate();
            }
        });
    }

    /** The session, unless it is unknown or expired. */
    Row get(byte[] id) throws SQLException {
        return query(GET, id);
    }

    /**
     * Takes the session out of the farm in the same statement that reads it: of any number of
     * nodes asking at once, exactly one gets it (RFC 8446 section 8.1, single-use tickets).
     */
    Row take(byte[] id) throws SQLException {
        return query(TAKE, id);
    }

    /** Runs a statement that returns key id, blob and whether the row is still live. */
    private Row query(String sql, byte[] id) throws SQLException {
        try (Connection connection = dataSource.getConnection(); PreparedStatement ps = connection.prepareStatement(sql)) {
            ps.setBytes(1, id);
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next() || !rs.getBoolean(3)) {
                    return null;
                }
                return new Row(rs.getInt(1), rs.getBytes(2));
            }
        }
    }

    /** Deletes a batch of expired sessions; returns how many. */
    int deleteExpired() throws SQLException {
        try (Connection connection = dataSource.getConnection(); PreparedStatement ps = connection.prepareStatement(DELETE_EXPIRED)) {
            return ps.executeUpdate();
        }
    }

    void ping() throws SQLException {
        Database.ping(dataSource);
    }
}
