package io.sessionfarm.tls;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;

import javax.sql.DataSource;

/** The farm's TLS session cache table, {@code sessionfarm_tls_session}. Times are the database's. */
final class TlsSessionStore {

    /** A stored, still sealed session. */
    record Row(int keyId, byte[] blob) {
    }

    private static final String NOW = "(extract(epoch from statement_timestamp()) * 1000)::bigint";

    private final DataSource dataSource;

    TlsSessionStore(DataSource dataSource) {
        this.dataSource = dataSource;
    }

    void put(byte[] id, int keyId, byte[] blob, long ttlMillis) throws SQLException {
        try (Connection c = dataSource.getConnection();
                PreparedStatement ps = c.prepareStatement("INSERT INTO sessionfarm_tls_session (id, key_id, blob, expires_at)"
                        + " VALUES (?, ?, ?, " + NOW + " + ?) ON CONFLICT (id) DO UPDATE"
                        + " SET key_id = excluded.key_id, blob = excluded.blob, expires_at = excluded.expires_at")) {
            ps.setBytes(1, id);
            ps.setInt(2, keyId);
            ps.setBytes(3, blob);
            ps.setLong(4, ttlMillis);
            ps.executeUpdate();
        }
    }

    /** The session, unless it is unknown or expired. */
    Row get(byte[] id) throws SQLException {
        return query("SELECT key_id, blob FROM sessionfarm_tls_session WHERE id = ? AND expires_at > " + NOW, id);
    }

    /**
     * Takes the session out of the farm in the same statement that reads it: of any number of
     * nodes asking at once, exactly one gets it (RFC 8446 section 8.1, single-use tickets).
     */
    Row take(byte[] id) throws SQLException {
        return query("DELETE FROM sessionfarm_tls_session WHERE id = ? RETURNING key_id, blob,"
                + " expires_at > " + NOW, id);
    }

    private Row query(String sql, byte[] id) throws SQLException {
        try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement(sql)) {
            ps.setBytes(1, id);
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next() || rs.getMetaData().getColumnCount() == 3 && !rs.getBoolean(3)) {
                    return null;
                }
                return new Row(rs.getInt(1), rs.getBytes(2));
            }
        }
    }

    /** Deletes a batch of expired sessions; returns how many. */
    int deleteExpired() throws SQLException {
        try (Connection c = dataSource.getConnection();
                PreparedStatement ps = c.prepareStatement("DELETE FROM sessionfarm_tls_session WHERE id IN"
                        + " (SELECT id FROM sessionfarm_tls_session WHERE expires_at <= " + NOW + " LIMIT 10000)")) {
            return ps.executeUpdate();
        }
    }

    void ping() throws SQLException {
        try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement("SELECT 1")) {
            ps.execute();
        }
    }
}
