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
import io.sessionfarm.store.SessionStore.Sweep;

/**
 * One sweep of expired sessions: the oldest expired ids are listed (a read, without locks), then
 * each is taken in a short transaction of its own: its row locked if it is still expired and no
 * one else holds it ({@code FOR UPDATE SKIP LOCKED}), then deleted, returning the attributes as
 * they are once it is locked. Of nodes sweeping at once exactly one takes a session, and none
 * takes one a request extended meanwhile.
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

    static final String LOCK_IF_EXPIRED = """
            SELECT created_at, last_access, max_inactive, %1$s FROM sessionfarm_session
             WHERE app = ? AND id = ? AND expires_at <= %1$s
               FOR UPDATE SKIP LOCKED""".formatted(NOW);

    /**
     * Deletes the locked session and returns its attributes (none: one row of nulls). They go by
     * cascade at the end of the statement, after the join has read them.
     */
    static final String DELETE_RETURNING_ATTRIBUTES = """
            WITH taken AS (DELETE FROM sessionfarm_session WHERE app = ? AND id = ? RETURNING app, id)
            SELECT a.name, a.value, a.key_id
              FROM taken t LEFT JOIN sessionfarm_attribute a ON a.app = t.app AND a.session_id = t.id""";

    private ExpirySweep() {
    }

    /** Takes what it can; a failure ends the sweep, and what was taken before it is returned with it. */
    static Sweep take(Connection connection, String app, int limit, long now, SealedValues values)
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
        Collections.shuffle(listed); // nodes that listed the same ids then seldom meet on one
        List<ExpiredSession> taken = new ArrayList<>();
        for (String id : listed) {
            try {
                ExpiredSession session = Database.inTransaction(connection, con -> takeOne(con, app, id, now, values));
                if (session != null) {
                    taken.add(session);
                }
            } catch (SQLException e) {
                return new Sweep(taken, listed.size(), e); // those taken are gone: their listeners must still fire
            }
        }
        return new Sweep(taken, listed.size(), null);
    }

    /** The session, deleted; null if it is no longer expired or another node is taking it. */
    private static ExpiredSession takeOne(Connection con, String app, String id, long now, SealedValues values)
            throws SQLException {
        ExpiredSession session;
        try (PreparedStatement ps = con.prepareStatement(LOCK_IF_EXPIRED)) {
            ps.setString(1, app);
            ps.setString(2, id);
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) {
                    return null;
                }
                long databaseNow = rs.getLong(4);
                session = new ExpiredSession(id, DatabaseClock.toLocal(rs.getLong(1), databaseNow, now),
                        DatabaseClock.toLocal(rs.getLong(2), databaseNow, now), rs.getInt(3), new HashMap<>());
            }
        }
        Map<String, byte[]> attributes = session.attributes();
        try (PreparedStatement ps = con.prepareStatement(DELETE_RETURNING_ATTRIBUTES)) {
            ps.setString(1, app);
            ps.setString(2, id);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    String name = rs.getString(1);
                    if (name != null) {
                        attributes.put(name, values.opened(id, name, rs.getBytes(2), rs, 3));
                    }
                }
            }
        }
        return session;
    }
}
