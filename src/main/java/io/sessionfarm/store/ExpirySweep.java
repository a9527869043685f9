package io.sessionfarm.store;

import static io.sessionfarm.store.DatabaseClock.NOW;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import io.sessionfarm.store.SessionStore.ExpiredSession;

/**
 * One sweep of expired sessions: the oldest expired ids are listed (a read, without locks), then
 * each is taken by a statement of its own, which deletes it only if it is still expired and
 * returns it with its attributes. Nodes sweeping at once may list the same ids; each session is
 * taken by exactly one of them, and one that a request extended meanwhile by none.
 *
 * <p>Each take addresses one session id, so the sweep works shard by shard when the tables are
 * distributed by session id (docs/scale.md): every shard lists its oldest rows from its own expiry
 * index, and every take goes to the one shard that holds the session.
 */
final class ExpirySweep {

    /** The oldest expired sessions of the app. */
    static final String LIST_EXPIRED = """
            SELECT id FROM sessionfarm_session WHERE app = ? AND expires_at <= %s ORDER BY expires_at LIMIT ?"""
            .formatted(NOW);

    /**
     * Deletes one session if it is still expired, returning its row and attributes: the attributes
     * go by cascade at the end of the statement, after the join has read them.
     */
    static final String TAKE_EXPIRED = """
            WITH taken AS (
                DELETE FROM sessionfarm_session WHERE app = ? AND id = ? AND expires_at <= %1$s
                RETURNING app, id, created_at, last_access, max_inactive)
            SELECT t.created_at, t.last_access, t.max_inactive, %1$s, a.name, a.value, a.key_id
              FROM taken t LEFT JOIN sessionfarm_attribute a ON a.app = t.app AND a.session_id = t.id""".formatted(NOW);

    private ExpirySweep() {
    }

    static List<ExpiredSession> take(Connection connection, String app, int limit, long now, SealedValues values)
            throws SQLException {
        List<String> listed = new ArrayList<>();
        try (PreparedStatement ps = connection.prepareStatement(LIST_EXPIRED)) {
            ps.setString(1, app);
            ps.setInt(2, limit);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    listed.add(rs.getString(1));
                }
            }
        }
        Collections.shuffle(listed); // nodes that listed the same ids then seldom wait on one another
        List<ExpiredSession> taken = new ArrayList<>();
        try (PreparedStatement ps = connection.prepareStatement(TAKE_EXPIRED)) {
            for (String id : listed) {
                ps.setString(1, app);
                ps.setString(2, id);
                try (ResultSet rs = ps.executeQuery()) {
                    if (!rs.next()) {
                        continue; // another node took it, or a request extended it
                    }
                    long databaseNow = rs.getLong(4);
                    Map<String, byte[]> attributes = new HashMap<>();
                    ExpiredSession session = new ExpiredSession(id, DatabaseClock.toLocal(rs.getLong(1), databaseNow, now),
                            DatabaseClock.toLocal(rs.getLong(2), databaseNow, now), rs.getInt(3), attributes);
                    do {
                        String name = rs.getString(5);
                        if (name != null) {
                            attributes.put(name, values.opened(id, name, rs.getBytes(6), rs, 7));
                        }
                    } while (rs.next());
                    taken.add(session);
                }
            }
        }
        return taken;
    }
}
