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

import io.sessionfarm.store.SessionStore.ExpiredSession;
import io.sessionfarm.store.SessionStore.Sweep;

/**
 * One sweep of expired sessions, in one transaction: the oldest ids that expired before the current
 * minute are listed, then each is taken by a statement of its own if it is still expired and no one
 * else holds it. Of nodes sweeping at once exactly one takes a session, and none takes one a
 * request extended meanwhile; a failure takes none.
 *
 * <p>Each take addresses one session id, so the sweep works shard by shard when the tables are
 * distributed by session id (docs/scale.md): every shard lists its oldest rows from its own expiry
 * index, and every take goes to the one shard that holds the session.
 */
final class ExpirySweep {

    /**
     * The oldest sessions of the app that expired before the current minute, read from the index
     * of expiry minutes alone: the index holds the minute, not the moment, so that a request's
     * checkpoint, which moves the moment, leaves every index as it was (V9).
     */
    static final String LIST_EXPIRED = """
            SELECT id FROM sessionfarm_session WHERE app = ? AND expires_minute < %s / 60000
             ORDER BY expires_minute LIMIT ?""".formatted(NOW);

    /**
     * Takes one session if it is still expired and no one else holds it: locked without waiting
     * ({@code SKIP LOCKED}: a node writing it now has just extended it, or will find it gone),
     * deleted, and returned with its attributes, which go by cascade at the end of the statement,
     * after the join has read them.
     */
    static final String TAKE_IF_EXPIRED = """
            WITH locked AS (
                SELECT app, id FROM sessionfarm_session WHERE app = ? AND id = ? AND expires_at <= %1$s
                   FOR UPDATE SKIP LOCKED),
            taken AS (
                DELETE FROM sessionfarm_session s USING locked WHERE s.app = locked.app AND s.id = locked.id
                RETURNING s.app, s.id, s.created_at, s.last_access, s.max_inactive)
            SELECT t.created_at, t.last_access, t.max_inactive, %1$s, a.name, a.value, a.key_id
              FROM taken t LEFT JOIN sessionfarm_attribute a ON a.app = t.app AND a.session_id = t.id""".formatted(NOW);

    private ExpirySweep() {
    }

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
            ExpiredSession session = takeOne(connection, app, id, now, values);
            if (session != null) {
                taken.add(session);
            }
        }
        return new Sweep(taken, listed.size());
    }

    /** The session, deleted; null if it is no longer expired or another node is taking it. */
    private static ExpiredSession takeOne(Connection con, String app, String id, long now, SealedValues values)
            throws SQLException {
        try (PreparedStatement ps = con.prepareStatement(TAKE_IF_EXPIRED)) {
            ps.setString(1, app);
            ps.setString(2, id);
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) {
                    return null;
                }
                long databaseNow = rs.getLong(4);
                ExpiredSession session = new ExpiredSession(id, DatabaseClock.toLocal(rs.getLong(1), databaseNow, now),
                        DatabaseClock.toLocal(rs.getLong(2), databaseNow, now), rs.getInt(3), new HashMap<>());
                do {
                    String name = rs.getString(5);
                    if (name != null) {
                        session.attributes().put(name, values.opened(id, name, rs.getBytes(6), rs, 7));
                    }
                } while (rs.next());
                return session;
            }
        }
    }
}
