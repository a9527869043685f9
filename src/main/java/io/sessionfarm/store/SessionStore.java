package io.sessionfarm.store;

import static io.sessionfarm.store.DatabaseClock.NOW;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.function.Function;
import java.util.function.LongSupplier;

import javax.sql.DataSource;

import io.sessionfarm.store.StoredSession.Stamp;
import io.sessionfarm.store.StoredSession.StoredAttribute;

/**
 * The sessions of one web application in PostgreSQL. Every method is one short transaction; the
 * table names are fixed and no SQL is built from configuration.
 *
 * <p>Times passed in and returned are this node's clock; what is stored, and what decides expiry,
 * is the database's ({@link DatabaseClock}).
 */
public final class SessionStore {

    /**
     * The attribute half of a checkpoint, run only if the session half (the CTE {@code session})
     * produced a row: upsert the changed attributes with the new version, delete the removed ones.
     * One statement means one round trip, and atomic without an explicit transaction.
     */
    private static final String ATTRIBUTES_AND_VERSION = """
            , written AS (
                INSERT INTO sessionfarm_attribute (app, session_id, name, version, value, key_id)
                SELECT session.app, session.id, a.name, session.version, a.value, a.key_id
                  FROM session, unnest(?::text[], ?::bytea[], ?::integer[]) AS a(name, value, key_id)
                ON CONFLICT (app, session_id, name)
                DO UPDATE SET version = EXCLUDED.version, value = EXCLUDED.value, key_id = EXCLUDED.key_id)
            , removed AS (
                DELETE FROM sessionfarm_attribute r USING session
                 WHERE r.app = session.app AND r.session_id = session.id AND r.name = ANY (?::text[]))
            SELECT version FROM session""";

    /**
     * The first checkpoint of a session: version 1, unless a row with this id exists. Times are
     * bound as offsets from now and stored on the database's clock ({@link DatabaseClock}).
     */
    static final String CREATE_CHECKPOINT = """
            WITH session AS (
                INSERT INTO sessionfarm_session (app, id, version, created_at, last_access, max_inactive, expires_at)
                VALUES (?, ?, 1, %1$s + ?, %1$s + ?, ?,
                        CASE WHEN ? <= 0 THEN 9223372036854775807 ELSE %1$s + ? + ? * 1000::bigint END)
                ON CONFLICT (app, id) DO NOTHING
                RETURNING app, id, version)""".formatted(NOW) + ATTRIBUTES_AND_VERSION;

    /**
     * A later checkpoint: compare-and-set on the version. The expiry follows the written timeout,
     * which may have shortened; the access time never goes back.
     */
    static final String UPDATE_CHECKPOINT = """
            WITH session AS (
                UPDATE sessionfarm_session
                   SET version = version + 1, last_access = greatest(last_access, %1$s + ?), max_inactive = ?,
                       expires_at = CASE WHEN ? <= 0 THEN 9223372036854775807
                                         ELSE greatest(last_access, %1$s + ?) + ? * 1000::bigint END
                 WHERE app = ? AND id = ? AND version = ?
                RETURNING app, id, version)""".formatted(NOW) + ATTRIBUTES_AND_VERSION;

    static final String SELECT_SESSION = """
            SELECT s.version, s.created_at, s.last_access, s.max_inactive, s.expires_at, a.name, a.version, a.value,
                   a.key_id, %s
              FROM sessionfarm_session s
              LEFT JOIN sessionfarm_attribute a ON a.app = s.app AND a.session_id = s.id
             WHERE s.app = ? AND s.id = ?""".formatted(NOW);

    static final String LOCK_SESSION = """
            SELECT 1 FROM sessionfarm_session WHERE app = ? AND id = ? FOR UPDATE""";

    static final String SELECT_STAMP = """
            SELECT version, last_access, expires_at, %s FROM sessionfarm_session WHERE app = ? AND id = ?""".formatted(NOW);

    /** Extends the stored expiry without a new version: it changes no data, so it cannot conflict. */
    static final String TOUCH = """
            UPDATE sessionfarm_session
               SET last_access = greatest(last_access, %1$s + ?), expires_at = greatest(expires_at, %1$s + ?)
             WHERE app = ? AND id = ?""".formatted(NOW);

    static final String DELETE_SESSION = """
            DELETE FROM sessionfarm_session WHERE app = ? AND id = ?""";

    static final String DELETE_IF_EXPIRED = """
            DELETE FROM sessionfarm_session WHERE app = ? AND id = ? AND expires_at <= %s
            RETURNING id""".formatted(NOW);

    static final String RENAME_SESSION = """
            UPDATE sessionfarm_session SET id = ? WHERE app = ? AND id = ?""";

    /**
     * The statements a request makes: each addresses one session id (a login, the old one), so
     * that the tables can be distributed by it (docs/scale.md). The sweep is not among them.
     */
    static final List<String> HOT_PATH = List.of(CREATE_CHECKPOINT, UPDATE_CHECKPOINT, SELECT_SESSION, LOCK_SESSION,
            SELECT_STAMP, TOUCH, DELETE_SESSION, DELETE_IF_EXPIRED, RENAME_SESSION, MovedIds.RECORD_MOVE, MovedIds.MOVED_TO,
            SealedValues.SELECT_SEALED_ATTRIBUTES, SealedValues.RESEAL_ATTRIBUTE);

    /** Below the 1 s a node's socket waits at the least (storeTimeout is rounded up to seconds). */
    static final int LOCK_HELD_AT_MOST_MILLIS = 500;

    private final TimedConnections connections;
    private final String app;
    private final SealedValues atRest;
    private final LongSupplier clock;

    /** Values stored as given (no master key). */
    public SessionStore(DataSource dataSource, String app) {
        this(dataSource, app, null);
    }

    /**
     * Values encrypted by {@code sealer} (null: stored as given). With a sealer, a plain stored
     * value is refused like an altered one: whoever can write the tables must not be able to plant
     * a value the application will read.
     */
    public SessionStore(DataSource dataSource, String app, ValueSealer sealer) {
        this(dataSource, app, sealer, System::currentTimeMillis);
    }

    /** With {@code clock} as this node's clock: tests give one that is wrong. */
    SessionStore(DataSource dataSource, String app, ValueSealer sealer, LongSupplier clock) {
        this.connections = new TimedConnections(dataSource);
        this.app = app;
        this.atRest = new SealedValues(sealer);
        this.clock = clock;
    }

    public String app() {
        return app;
    }

    /**
     * Writes a checkpoint if the stored version is still {@code baseVersion}.
     *
     * @return the new stored version, or empty when another node wrote first (or the session is gone)
     */
    public OptionalLong save(Checkpoint c) throws SQLException {
        return connections.timed(con -> write(con, c));
    }

    /**
     * Writes a checkpoint under the session row's lock, for a writer that lost the compare-and-set
     * to another node: {@code merge} takes in the stored session as it is and returns the checkpoint
     * to write on top of it, which then cannot lose again. Optimistic first, locked on conflict: a
     * node writing the same session without pause cannot starve this one.
     *
     * @return the new stored version, or empty when there is no stored session
     */
    public OptionalLong saveMerged(String id, Function<StoredSession, Checkpoint> merge) throws SQLException {
        return connections.transaction(con -> {
            try (Statement set = con.createStatement()) {
                // A node that stalls while it holds the lock (a long pause, a partition) must
                // not hold up the others' writes: PostgreSQL ends its transaction instead.
                set.execute("SET LOCAL idle_in_transaction_session_timeout = " + LOCK_HELD_AT_MOST_MILLIS);
            }
            // Lock first, read after: a locking read that waited for another writer would
            // return that writer's session row joined with the attribute rows from before its
            // commit (READ COMMITTED re-reads only the locked row), a version with older values.
            StoredSession current = null;
            if (lockRow(con, id)) {
                try (PreparedStatement ps = con.prepareStatement(SELECT_SESSION)) {
                    current = readSession(ps, id);
                }
            }
            return current == null ? OptionalLong.empty() : write(con, merge.apply(current));
        });
    }

    private boolean lockRow(Connection con, String id) throws SQLException {
        try (PreparedStatement ps = con.prepareStatement(LOCK_SESSION)) {
            ps.setString(1, app);
            ps.setString(2, id);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next();
            }
        }
    }

    private OptionalLong write(Connection con, Checkpoint c) throws SQLException {
        boolean create = c.baseVersion() == 0;
        try (PreparedStatement ps = con.prepareStatement(create ? CREATE_CHECKPOINT : UPDATE_CHECKPOINT)) {
            int next = create ? bindCreate(ps, c) : bindUpdate(ps, c);
            int n = c.writes().size();
            String[] names = new String[n];
            byte[][] values = new byte[n][];
            Integer[] keyIds = new Integer[n];
            int i = 0;
            for (Map.Entry<String, byte[]> write : c.writes().entrySet()) {
                names[i] = write.getKey();
                if (!atRest.sealing()) {
                    values[i] = write.getValue();
                } else {
                    ValueSealer.Sealed sealed = atRest.seal(c.id(), write.getKey(), write.getValue());
                    values[i] = sealed.bytes();
                    keyIds[i] = sealed.keyId();
                }
                i++;
            }
            ps.setArray(next, con.createArrayOf("text", names));
            ps.setArray(next + 1, con.createArrayOf("bytea", values));
            ps.setArray(next + 2, con.createArrayOf("integer", keyIds));
            ps.setArray(next + 3, con.createArrayOf("text", c.removals().toArray(String[]::new)));
            long version = singleLong(ps);
            return version < 0 ? OptionalLong.empty() : OptionalLong.of(version);
        }
    }

    /** @return the index of the next parameter */
    private int bindCreate(PreparedStatement ps, Checkpoint c) throws SQLException {
        long now = clock.getAsLong();
        ps.setString(1, app);
        ps.setString(2, c.id());
        ps.setLong(3, DatabaseClock.offset(c.createdAt(), now));
        ps.setLong(4, DatabaseClock.offset(c.lastAccess(), now));
        ps.setInt(5, c.maxInactive());
        ps.setInt(6, c.maxInactive());
        ps.setLong(7, DatabaseClock.offset(c.lastAccess(), now));
        ps.setInt(8, c.maxInactive());
        return 9;
    }

    /** @return the index of the next parameter */
    private int bindUpdate(PreparedStatement ps, Checkpoint c) throws SQLException {
        long lastAccess = DatabaseClock.offset(c.lastAccess(), clock.getAsLong());
        ps.setLong(1, lastAccess);
        ps.setInt(2, c.maxInactive());
        ps.setInt(3, c.maxInactive());
        ps.setLong(4, lastAccess);
        ps.setInt(5, c.maxInactive());
        ps.setString(6, app);
        ps.setString(7, c.id());
        ps.setLong(8, c.baseVersion());
        return 9;
    }

    /** The whole stored session, or null when there is none. */
    public StoredSession load(String id) throws SQLException {
        return connections.timed(con -> {
            try (PreparedStatement ps = con.prepareStatement(SELECT_SESSION)) {
                return readSession(ps, id);
            }
        });
    }

    private StoredSession readSession(PreparedStatement ps, String id) throws SQLException {
        ps.setString(1, app);
        ps.setString(2, id);
        long now = clock.getAsLong();
        try (ResultSet rs = ps.executeQuery()) {
            if (!rs.next()) {
                return null;
            }
            long databaseNow = rs.getLong(10);
            long version = rs.getLong(1);
            long createdAt = DatabaseClock.toLocal(rs.getLong(2), databaseNow, now);
            long lastAccess = DatabaseClock.toLocal(rs.getLong(3), databaseNow, now);
            int maxInactive = rs.getInt(4);
            long expiresAt = DatabaseClock.toLocal(rs.getLong(5), databaseNow, now);
            Map<String, StoredAttribute> attributes = new HashMap<>();
            do {
                String name = rs.getString(6);
                if (name != null) {
                    attributes.put(name, new StoredAttribute(rs.getLong(7), atRest.opened(id, name, rs.getBytes(8), rs, 9)));
                }
            } while (rs.next());
            return new StoredSession(id, version, createdAt, lastAccess, maxInactive, expiresAt, attributes);
        }
    }

    /** Version and access times only: one primary-key read. Null when there is no stored session. */
    public Stamp stamp(String id) throws SQLException {
        return connections.timed(con -> {
            try (PreparedStatement ps = con.prepareStatement(SELECT_STAMP)) {
                ps.setString(1, app);
                ps.setString(2, id);
                long now = clock.getAsLong();
                try (ResultSet rs = ps.executeQuery()) {
                    return rs.next() ? Stamp.read(rs.getLong(1), rs.getLong(2), rs.getLong(3), rs.getLong(4), now) : null;
                }
            }
        });
    }

    /** @return whether a stored session was there to extend */
    public boolean touch(String id, long lastAccess, long expiresAt) throws SQLException {
        return connections.timed(con -> {
            try (PreparedStatement ps = con.prepareStatement(TOUCH)) {
                long now = clock.getAsLong();
                ps.setLong(1, DatabaseClock.offset(lastAccess, now));
                ps.setLong(2, DatabaseClock.offset(expiresAt, now));
                ps.setString(3, app);
                ps.setString(4, id);
                return ps.executeUpdate() > 0;
            }
        });
    }

    public void delete(String id) throws SQLException {
        connections.timed(con -> {
            try (PreparedStatement ps = con.prepareStatement(DELETE_SESSION)) {
                ps.setString(1, app);
                ps.setString(2, id);
                return ps.executeUpdate();
            }
        });
    }

    /**
     * Deletes the stored session only if its stored expiry has passed by the database's clock, so
     * that a node holding an old copy, or a node with a wrong clock, never removes a session
     * another node kept alive.
     *
     * @return whether this call deleted it
     */
    public boolean deleteIfExpired(String id) throws SQLException {
        return connections.timed(con -> {
            try (PreparedStatement ps = con.prepareStatement(DELETE_IF_EXPIRED)) {
                ps.setString(1, app);
                ps.setString(2, id);
                try (ResultSet rs = ps.executeQuery()) {
                    return rs.next();
                }
            }
        });
    }

    /** One round trip, to learn whether the store answers again. */
    public void ping() throws SQLException {
        connections.timed(con -> {
            Database.ping(con);
            return null;
        });
    }

    /**
     * How far this node's clock is ahead of the database's (negative: behind), against the middle
     * of the round trip.
     */
    public long clockSkewMillis() throws SQLException {
        return connections.timed(con -> {
            try (PreparedStatement ps = con.prepareStatement("SELECT " + NOW)) {
                long sent = clock.getAsLong();
                long databaseNow = singleLong(ps);
                long received = clock.getAsLong();
                return (sent + received) / 2 - databaseNow;
            }
        });
    }

    /** Moves a stored session to a new id (attributes follow by cascade). */
    public boolean rename(String oldId, String newId) throws SQLException {
        if (!atRest.sealing()) {
            return connections.timed(con -> renameRow(con, oldId, newId));
        }
        return connections.transaction(con -> moveRow(con, oldId, newId));
    }

    /**
     * Moves a session to {@code newId}, another node's route, and leaves {@code oldId} leading to
     * it for {@code graceMillis}, in one transaction. False if no row had {@code oldId}: another
     * node moved it first, or it ended.
     */
    public boolean rebind(String oldId, String newId, long graceMillis) throws SQLException {
        return connections.transaction(con -> {
            if (!moveRow(con, oldId, newId)) {
                return false;
            }
            MovedIds.record(con, app, oldId, newId, graceMillis);
            return true;
        });
    }

    /** The id {@code oldId} was rebound to, while its grace lasts; else null. */
    public String movedTo(String oldId) throws SQLException {
        return connections.timed(con -> MovedIds.movedTo(con, app, oldId));
    }

    /** Forgets the old ids whose grace is over (the expiry sweep's). */
    public int forgetOldMoves() throws SQLException {
        return connections.timed(con -> MovedIds.forgetOld(con, app));
    }

    /**
     * The row to its new id. Sealed values are bound to their session's id: sealed again for the
     * new one, in the caller's transaction. A value that cannot be opened stays as it is, unreadable.
     */
    private boolean moveRow(Connection con, String oldId, String newId) throws SQLException {
        boolean moved = renameRow(con, oldId, newId);
        if (moved && atRest.sealing()) {
            atRest.resealed(con, app, oldId, newId);
        }
        return moved;
    }

    private boolean renameRow(Connection con, String oldId, String newId) throws SQLException {
        try (PreparedStatement ps = con.prepareStatement(RENAME_SESSION)) {
            ps.setString(1, newId);
            ps.setString(2, app);
            ps.setString(3, oldId);
            return ps.executeUpdate() > 0;
        }
    }

    /** An expired session taken out of the store by this node, with its raw attributes. */
    public record ExpiredSession(String id, long createdAt, long lastAccess, int maxInactive,
            Map<String, byte[]> attributes) {
    }

    /**
     * What a sweep did: the sessions it removed, and how many expired ones it found (more may be
     * left when that is the limit; fewer were taken when other nodes took some).
     */
    public record Sweep(List<ExpiredSession> taken, int found) {
    }

    /**
     * Removes up to {@code limit} sessions expired by the database's clock and returns them; each
     * to exactly one of the nodes sweeping at once ({@link ExpirySweep}).
     */
    public Sweep sweepExpired(int limit) throws SQLException {
        return connections.transaction(con -> ExpirySweep.take(con, app, limit, clock.getAsLong(), atRest));
    }

    public long operations() {
        return connections.operations();
    }

    public long failures() {
        return connections.failures();
    }

    /** Mean time of a store operation, connection checkout included. */
    public double averageLatencyMillis() {
        return connections.averageLatencyMillis();
    }

    private static long singleLong(PreparedStatement ps) throws SQLException {
        try (ResultSet rs = ps.executeQuery()) {
            return rs.next() ? rs.getLong(1) : -1;
        }
    }
}
