package io.sessionfarm.store;

import static io.sessionfarm.store.DatabaseClock.NOW;

import java.sql.Array;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import io.sessionfarm.store.SessionStore.ExpiredSession;

/**
 * One sweep of expired sessions, in one transaction: rows are taken with {@code FOR UPDATE SKIP
 * LOCKED}, so nodes sweeping at once take disjoint rows and each expired session is returned to
 * exactly one node.
 */
final class ExpirySweep {

    /** Oldest expired rows first, skipping rows another node is already expiring. */
    static final String LOCK_EXPIRED = """
            SELECT id, created_at, last_access, max_inactive, %1$s FROM sessionfarm_session
             WHERE app = ? AND expires_at <= %1$s
             ORDER BY expires_at
             LIMIT ?
               FOR UPDATE SKIP LOCKED""".formatted(NOW);

    static final String SELECT_ATTRIBUTES_OF = """
            SELECT session_id, name, value, key_id FROM sessionfarm_attribute WHERE app = ? AND session_id = ANY (?)""";

    static final String DELETE_SESSIONS = """
            DELETE FROM sessionfarm_session WHERE app = ? AND id = ANY (?)""";

    private ExpirySweep() {
    }

    static List<ExpiredSession> take(Connection connection, String app, int limit, long now, SealedValues values)
            throws SQLException {
        Map<String, ExpiredSession> expired = new LinkedHashMap<>();
        try (PreparedStatement ps = connection.prepareStatement(LOCK_EXPIRED)) {
            ps.setString(1, app);
            ps.setInt(2, limit);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    String id = rs.getString(1);
                    long databaseNow = rs.getLong(5);
                    expired.put(id, new ExpiredSession(id, DatabaseClock.toLocal(rs.getLong(2), databaseNow, now),
                            DatabaseClock.toLocal(rs.getLong(3), databaseNow, now), rs.getInt(4), new HashMap<>()));
                }
            }
        }
        if (expired.isEmpty()) {
            return List.of();
        }
        Array ids = connection.createArrayOf("text", expired.keySet().toArray());
        try (PreparedStatement ps = connection.prepareStatement(SELECT_ATTRIBUTES_OF)) {
            ps.setString(1, app);
            ps.setArray(2, ids);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    String id = rs.getString(1);
                    String name = rs.getString(2);
                    expired.get(id).attributes().put(name, values.opened(id, name, rs.getBytes(3), rs, 4));
                }
            }
        }
        try (PreparedStatement ps = connection.prepareStatement(DELETE_SESSIONS)) {
            ps.setString(1, app);
            ps.setArray(2, ids);
            ps.executeUpdate();
        }
        return new ArrayList<>(expired.values());
    }
}
