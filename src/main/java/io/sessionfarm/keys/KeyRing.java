package io.sessionfarm.keys;

import static io.sessionfarm.store.DatabaseClock.NOW;

import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;

import javax.crypto.SecretKey;
import javax.crypto.spec.SecretKeySpec;
import javax.sql.DataSource;

import io.sessionfarm.store.Database;

/**
 * The farm's data keys for one purpose, shared by every node through PostgreSQL and wrapped under
 * the {@link MasterKey}. Rotation is Tink's three steps, run by whichever node holds a farm-wide
 * advisory lock, one node at a time:
 * <ol>
 * <li><b>add</b> a new key: every node decrypts with it once it has refreshed;</li>
 * <li><b>promote</b> it after {@code propagation}, when every node has seen it: nodes now encrypt
 * with it, and the old primary is <b>retiring</b>;</li>
 * <li><b>delete</b> the retiring key after {@code retireAfter}, when nothing it encrypted can still
 * be valid.</li>
 * </ol>
 * No node ever meets a key it cannot read, so rotation logs nobody out.
 */
public final class KeyRing {

    /** A data key and its id, which travels in the clear beside whatever the key encrypted. */
    public record Key(int id, SecretKey secret) {
    }

    /**
     * How keys age: times in milliseconds. A key is also replaced once this node has encrypted
     * {@code maxSealsPerNode} times under it: AES-GCM with random 96-bit nonces stays safe for
     * 2^32 encryptions under one key, and 2^28 per node leaves that bound to farms of 16 nodes.
     */
    public record Schedule(long rotateAfter, long propagation, long retireAfter, long maxSealsPerNode) {

        public static final long MAX_SEALS_PER_NODE = 1L << 28;

        public Schedule(long rotateAfter, long propagation, long retireAfter) {
            this(rotateAfter, propagation, retireAfter, MAX_SEALS_PER_NODE);
        }
    }

    static final long ROTATION_LOCK = 0x5E5510F5L;

    private static final String SELECT_KEYS = """
            SELECT id, state, wrapped, coalesce(promoted_at, created_at), %s FROM sessionfarm_key WHERE purpose = ?"""
            .formatted(NOW);
    /** A retiring key past its time, unless something stored still needs it (the second %s). */
    private static final String DELETE_RETIRED = """
            DELETE FROM sessionfarm_key k
             WHERE k.purpose = ? AND k.state = 'retiring' AND k.retire_after <= %s AND NOT (%s)""";
    /** The added key, once every node has had time to see it, becomes the primary; the primary retires. */
    private static final String PROMOTE = """
            WITH due AS (
                SELECT id FROM sessionfarm_key WHERE purpose = ? AND state = 'added' AND created_at <= %1$s - ?
                 ORDER BY created_at LIMIT 1),
            old AS (
                UPDATE sessionfarm_key SET state = 'retiring', retire_after = %1$s + ?
                 WHERE purpose = ? AND state = 'primary' AND EXISTS (SELECT 1 FROM due) RETURNING id)
            UPDATE sessionfarm_key SET state = 'primary', promoted_at = %1$s
             WHERE purpose = ? AND id = (SELECT id FROM due)""".formatted(NOW);
    /** Whether the ring is still fresh: a key added, or a primary younger than the rotation period. */
    private static final String FRESH = """
            SELECT 1 FROM sessionfarm_key
             WHERE purpose = ? AND (state = 'added' OR (state = 'primary' AND coalesce(promoted_at, created_at) > %s - ?))"""
            .formatted(NOW);
    private static final String ADDED_EXISTS = """
            SELECT 1 FROM sessionfarm_key WHERE purpose = ? AND state = 'added'""";
    private static final String ANY_EXISTS = """
            SELECT 1 FROM sessionfarm_key WHERE purpose = ? LIMIT 1""";
    private static final String LOCK = "SELECT pg_advisory_xact_lock(?), true";
    private static final String TRY_LOCK = "SELECT true, pg_try_advisory_xact_lock(?)";
    private static final String INSERT = """
            INSERT INTO sessionfarm_key (purpose, id, state, wrapped, created_at, promoted_at)
            VALUES (?, ?, ?, ?, %1$s, CASE WHEN ? THEN %1$s END)""".formatted(NOW);

    private static final SecureRandom RANDOM = new SecureRandom();

    private final DataSource dataSource;
    private final MasterKey master;
    private final String purpose;
    private final Schedule schedule;
    private final String deleteRetired;

    private volatile Map<Integer, SecretKey> keys = Map.of();
    private volatile Key primary;
    private volatile long primarySince;
    /** When the ring is read, and how a lookup of an id this node does not know waits for a read. */
    private final RingReads reads = new RingReads(id -> keys.get(id));

    private final LongAdder rotations = new LongAdder();
    /** Encryptions under the current primary on this node, counted by {@link #sealingKey(int)}. */
    private final java.util.concurrent.atomic.AtomicLong sealsUnderPrimary = new java.util.concurrent.atomic.AtomicLong();
    private final LongAdder unreadableKeys = new LongAdder();

    /**
     * What the farm stores sealed under the ring's keys, outliving their schedule: a retiring key
     * is deleted only once none of it is left. Tokens are not stored; a token's key outlives it by
     * the schedule alone.
     */
    public enum StoredData {
        NONE("false"),
        SESSION_ATTRIBUTES("EXISTS (SELECT 1 FROM sessionfarm_attribute a WHERE a.key_id = k.id)"),
        TLS_SESSIONS("EXISTS (SELECT 1 FROM sessionfarm_tls_session s WHERE s.key_id = k.id)");

        /** An SQL condition on the key row {@code k}. */
        private final String stillUsesKey;

        StoredData(String stillUsesKey) {
            this.stillUsesKey = stillUsesKey;
        }
    }

    /** A key ring could not be started: the database failed, or this node's master key is not the farm's. */
    public static final class Unusable extends Exception {
        private static final long serialVersionUID = 1L;

        Unusable(String purpose, Exception cause) {
            super("the '" + purpose + "' key ring is not usable: " + cause.getMessage(), cause);
        }
    }

    public KeyRing(DataSource dataSource, MasterKey master, String purpose, Schedule schedule) {
        this(dataSource, master, purpose, schedule, StoredData.NONE);
    }

    public KeyRing(DataSource dataSource, MasterKey master, String purpose, Schedule schedule, StoredData stored) {
        this.dataSource = dataSource;
        this.master = master;
        this.purpose = purpose;
        this.schedule = schedule;
        this.deleteRetired = DELETE_RETIRED.formatted(NOW, stored.stillUsesKey);
    }

    /** A started ring ({@link #start()}), or why not. */
    public static KeyRing open(DataSource dataSource, MasterKey master, String purpose, Schedule schedule,
            StoredData stored) throws Unusable {
        KeyRing ring = new KeyRing(dataSource, master, purpose, schedule, stored);
        try {
            ring.start();
        } catch (SQLException | GeneralSecurityException e) {
            throw new Unusable(purpose, e);
        }
        return ring;
    }

    /**
     * Creates the first key if the farm has none, then reads the ring. Fails if this node's master
     * key opens none of the farm's keys: it is not the farm's master key.
     */
    public void start() throws SQLException, GeneralSecurityException {
        Database.inTransaction(dataSource, c -> {
            lock(c, true);
            if (!exists(c)) {
                insert(c, "primary");
            }
            return null;
        });
        refresh(true);
    }

    public Key primary() {
        return primary;
    }

    /** The primary key, for {@code encryptions} encryptions: counted, so that the key is replaced in time. */
    public Key sealingKey(int encryptions) {
        sealsUnderPrimary.addAndGet(encryptions);
        return primary;
    }

    /** Whether this node has used the primary key as often as one key may be. */
    boolean usedUp() {
        return sealsUnderPrimary.get() >= schedule.maxSealsPerNode();
    }

    /** The key with this id, or null if this node does not know it (after one refresh, rate-limited). */
    public SecretKey find(int id) {
        try {
            return findOrRefresh(id);
        } catch (SQLException e) {
            return null;
        }
    }

    /**
     * The key with this id; if this node does not know it, the ring is read again first, and the
     * request waits for that read, within the limits {@link RingReads} sets on reads for unknown
     * ids (they cost an attacker nothing to send).
     *
     * @return null if the key is not in the ring
     * @throws SQLException if the ring could not be read
     */
    public SecretKey findOrRefresh(int id) throws SQLException {
        return reads.find(id, () -> read(false));
    }

    /** The key with this id if this node already holds it; never asks the database. */
    public SecretKey known(int id) {
        return keys.get(id);
    }

    /** Re-reads the ring; a key this node cannot unwrap is skipped and counted. */
    public void refresh() throws SQLException {
        try {
            refresh(false);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e); // only thrown when strict
        }
    }

    private void refresh(boolean strict) throws SQLException, GeneralSecurityException {
        reads.read(() -> read(strict));
    }

    /** Reads the ring; false if it held no readable primary key, and what this node had is kept. */
    private boolean read(boolean strict) throws SQLException, GeneralSecurityException {
        Map<Integer, SecretKey> read = new HashMap<>();
        Key newPrimary = null;
        long since = 0;
        int unreadable = 0;
        try (Connection c = dataSource.getConnection();
                PreparedStatement ps = c.prepareStatement(SELECT_KEYS)) {
            ps.setString(1, purpose);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    int id = rs.getInt(1);
                    byte[] bytes;
                    try {
                        bytes = master.unwrap(purpose, id, rs.getBytes(3));
                    } catch (GeneralSecurityException e) {
                        unreadable++;
                        continue;
                    }
                    SecretKey key = new SecretKeySpec(bytes, "AES");
                    Arrays.fill(bytes, (byte) 0);
                    read.put(id, key);
                    if (rs.getString(2).equals("primary")) {
                        newPrimary = new Key(id, key);
                        since = System.currentTimeMillis() - (rs.getLong(5) - rs.getLong(4));
                    }
                }
            }
        }
        if (unreadable > 0) {
            unreadableKeys.add(unreadable);
            if (strict && read.isEmpty()) {
                throw new GeneralSecurityException("this node's master key opens none of the farm's " + unreadable
                        + " '" + purpose + "' keys: every node needs the same master key");
            }
        }
        if (newPrimary == null) {
            if (strict) {
                throw new GeneralSecurityException("the farm has no readable primary '" + purpose + "' key");
            }
            return false; // keep what we had
        }
        keys = Map.copyOf(read);
        if (primary == null || primary.id() != newPrimary.id()) {
            sealsUnderPrimary.set(0); // a new key starts its own count
        }
        primary = newPrimary;
        primarySince = since;
        return true;
    }

    /**
     * One step of rotation if one is due, by whichever node gets the lock (the others skip), then a
     * refresh. Returns true if this node changed the ring.
     */
    public boolean rotateIfDue() throws SQLException {
        boolean changed;
        try {
            changed = Database.inTransaction(dataSource, c -> lock(c, false) && step(c));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
        refresh();
        return changed;
    }

    private boolean step(Connection c) throws SQLException, GeneralSecurityException {
        boolean changed = false;
        boolean promoted;
        try (PreparedStatement ps = c.prepareStatement(deleteRetired)) {
            ps.setString(1, purpose);
            changed |= ps.executeUpdate() > 0;
        }
        try (PreparedStatement ps = c.prepareStatement(PROMOTE)) {
            ps.setString(1, purpose);
            ps.setLong(2, schedule.propagation());
            ps.setLong(3, schedule.retireAfter());
            ps.setString(4, purpose);
            ps.setString(5, purpose);
            promoted = ps.executeUpdate() > 0;
            if (promoted) {
                rotations.increment();
                changed = true;
            }
        }
        try (PreparedStatement ps = c.prepareStatement(FRESH)) {
            ps.setString(1, purpose);
            ps.setLong(2, schedule.rotateAfter());
            try (ResultSet rs = ps.executeQuery()) {
                // Used up: this node's count is of the primary it holds, which a promotion just replaced.
                if (!rs.next() || usedUp() && !promoted && !addedKeyExists(c)) {
                    insert(c, "added");
                    changed = true;
                }
            }
        }
        return changed;
    }

    private boolean addedKeyExists(Connection c) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(ADDED_EXISTS)) {
            ps.setString(1, purpose);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next();
            }
        }
    }

    private boolean lock(Connection c, boolean wait) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(wait ? LOCK : TRY_LOCK)) {
            ps.setLong(1, ROTATION_LOCK);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getBoolean(2);
            }
        }
    }

    private boolean exists(Connection c) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(ANY_EXISTS)) {
            ps.setString(1, purpose);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next();
            }
        }
    }

    private void insert(Connection c, String state) throws SQLException, GeneralSecurityException {
        byte[] key = new byte[32];
        RANDOM.nextBytes(key);
        int id = RANDOM.nextInt(Integer.MAX_VALUE) + 1;
        try (PreparedStatement ps = c.prepareStatement(INSERT)) {
            ps.setString(1, purpose);
            ps.setInt(2, id);
            ps.setString(3, state);
            ps.setBytes(4, master.wrap(purpose, id, key));
            ps.setBoolean(5, state.equals("primary"));
            ps.executeUpdate();
        } finally {
            Arrays.fill(key, (byte) 0);
        }
    }

    /** Every key this node can read, by id: the primary, the added one and the retiring ones. */
    public Map<Integer, SecretKey> keys() {
        return keys;
    }

    public int size() {
        return keys.size();
    }

    /** Milliseconds since the primary key was promoted, as of the last refresh. */
    public long primaryAgeMillis() {
        return primary == null ? 0 : System.currentTimeMillis() - primarySince;
    }

    /** How often this node has read the ring. */
    long reads() {
        return reads.count();
    }

    public long rotations() {
        return rotations.sum();
    }

    public long unreadableKeys() {
        return unreadableKeys.sum();
    }
}
