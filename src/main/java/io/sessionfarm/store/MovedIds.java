package io.sessionfarm.store;

import static io.sessionfarm.store.DatabaseClock.NOW;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;

/**
 * The old ids of sessions a RouteBinderValve moved to another node's route
 * ({@code sessionfarm_session_moved}, V10): each leads to its new id until its grace is over.
 * The statements, for {@link SessionStore}, which runs them on its connections.
 */
final class MovedIds {

    static final String RECORD_MOVE = """
            INSERT INTO sessionfarm_session_moved (app, session_id, moved_to, until) VALUES (?, ?, ?, %s + ?)
            ON CONFLICT (app, session_id) DO UPDATE SET moved_to = EXCLUDED.moved_to, until = EXCLUDED.until""".formatted(NOW);

    static final String MOVED_TO = """
            SELECT moved_to FROM sessionfarm_session_moved WHERE app = ? AND session_id = ? AND until > %s""".formatted(NOW);

    static final String FORGET_MOVES = """
            DELETE FROM sessionfarm_session_moved WHERE app = ? AND until < %s""".formatted(NOW);

    private MovedIds() {
    }

    static void record(Connection con, String app, String oldId, String newId, long graceMillis) throws SQLException {
        try (PreparedStatement ps = con.prepareStatement(RECORD_MOVE)) {
            ps.setString(1, app);
            ps.setString(2, oldId);
            ps.setString(3, newId);
            ps.setLong(4, graceMillis);
            ps.executeUpdate();
        }
    }

    /** The id {@code oldId} moved to, while its grace lasts; else null. */
    static String movedTo(Connection con, String app, String oldId) throws SQLException {
        try (PreparedStatement ps = con.prepareStatement(MOVED_TO)) {
            ps.setString(1, app);
            ps.setString(2, oldId);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? rs.getString(1) : null;
            }
        }
    }

    /** Deletes the old ids whose grace is over; returns how many. */
    static int forgetOld(Connection con, String app) throws SQLException {
        try (PreparedStatement ps = con.prepareStatement(FORGET_MOVES)) {
            ps.setString(1, app);
            return ps.executeUpdate();
        }
    }
}
