package io.sessionfarm.session;

import java.sql.SQLException;
import java.util.EnumMap;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.atomic.LongAdder;

import org.apache.catalina.Session;

import io.sessionfarm.keys.Sha256;
import io.sessionfarm.session.CheckpointPolicy.Trigger;
import io.sessionfarm.session.AttributeChanges.Delta;
import io.sessionfarm.session.ManagerSettings.ConflictPolicy;
import io.sessionfarm.store.Checkpoint;
import io.sessionfarm.store.SessionStore;
import io.sessionfarm.store.StoreGate;
import io.sessionfarm.store.StoredSession;

/**
 * Writes sessions to the store: only the attributes that changed, as a compare-and-set on the
 * session's version. When another node wrote first, its changes are taken in, attributes changed
 * on both sides are settled by the {@link ConflictPolicy}, and the write is made again under the
 * row's lock, so a session that two nodes write at once still ends each request stored.
 */
final class Checkpointer {

    private static final int MAX_ATTEMPTS = 5;

    private final FarmManager manager;
    private final SessionStore store;
    private final AttributeCodec codec;
    private final ConflictPolicy conflictPolicy;
    private final StoreGate gate;

    private final Map<Trigger, LongAdder> written = new EnumMap<>(Trigger.class);
    final LongAdder skippedUnchanged = new LongAdder();
    final LongAdder expiryExtensions = new LongAdder();
    final LongAdder refreshes = new LongAdder();
    final LongAdder conflicts = new LongAdder();
    /** Checkpoints that found the store at an older version than this node had written. */
    final LongAdder storeRollbacks = new LongAdder();

    Checkpointer(FarmManager manager, SessionStore store, AttributeCodec codec, ConflictPolicy conflictPolicy,
            StoreGate gate) {
        this.manager = manager;
        this.store = store;
        this.codec = codec;
        this.conflictPolicy = conflictPolicy;
        this.gate = gate;
        for (Trigger trigger : Trigger.values()) {
            written.put(trigger, new LongAdder());
        }
    }

    long written(Trigger trigger) {
        return written.get(trigger).sum();
    }

    /**
     * Writes what changed in the session. Serialized per session; on a store failure the changes
     * stay owed and are found again by the next attempt.
     *
     * @param byRequest at the end of a request that still counts as using the session
     */
    void checkpoint(FarmSession session, Trigger trigger, long now, boolean byRequest) {
        session.checkpointLock.lock();
        try {
            if (!session.isLive()) {
                return;
            }
            Delta delta = session.collectChanges(byRequest);
            if (delta.isEmpty() && session.isStored()) {
                skippedUnchanged.increment();
                session.nothingToCheckpoint(delta, now);
                extendExpiry(session, now);
                return;
            }
            if (!gate.open()) {
                session.checkpointFailed(delta);
                return;
            }
            try {
                write(session, delta, trigger, now);
                gate.succeeded();
            } catch (SQLException e) {
                gate.failed(e);
                session.checkpointFailed(delta);
            }
        } finally {
            session.checkpointLock.unlock();
        }
    }

    /**
     * Writes every session that may have changed (the node is leaving the farm).
     *
     * @return how many still owe a checkpoint
     */
    int checkpointAll(Session[] sessions, Trigger trigger) {
        long now = System.currentTimeMillis();
        for (Session session : sessions) {
            if (session instanceof FarmSession farmSession && farmSession.mayHaveChanged()) {
                checkpoint(farmSession, trigger, now, false);
            }
        }
        return owed(sessions);
    }

    /** How many of these sessions owe a checkpoint that failed. */
    static int owed(Session[] sessions) {
        int owed = 0;
        for (Session session : sessions) {
            if (session instanceof FarmSession farmSession && farmSession.owed()) {
                owed++;
            }
        }
        return owed;
    }

    private void write(FarmSession session, Delta delta, Trigger trigger, long now) throws SQLException {
        for (int attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
            OptionalLong version = store.save(session.toCheckpoint(delta));
            if (version.isEmpty()) {
                // Another node wrote first (or holds a row this copy lost track of): take its
                // changes in and write on top of them under the row's lock, so this cannot lose again.
                version = store.saveMerged(session.getIdInternal(), current -> {
                    if (current.version() < session.storedVersion()) {
                        return storeWentBack(session, delta, current);
                    }
                    merge(session, delta, current);
                    return session.toCheckpoint(delta);
                });
            }
            if (version.isPresent()) {
                session.checkpointed(delta, version.getAsLong(), now);
                written.get(trigger).increment();
                return;
            }
            if (session.isStored()) {
                manager.goneElsewhere(session); // invalidated or expired on another node
                return;
            }
            // The row went between the two statements, or another create won: try again.
        }
        session.checkpointFailed(delta);
        manager.log().warn(FarmManager.messages.getString("farmManager.checkpointGaveUp",
                Sha256.forLog(session.getIdInternal()), Integer.valueOf(MAX_ATTEMPTS)));
    }

    /**
     * The store lost writes this copy made (versions only grow otherwise): this copy is the newer
     * one, so the checkpoint becomes a rewrite of it whole on top of the stored row. Taking the
     * stored row instead, or giving up on a version that no longer exists, would drop every change
     * since the writes the database lost.
     */
    private Checkpoint storeWentBack(FarmSession session, Delta delta, StoredSession current) {
        storeRollbacks.increment();
        manager.log().warn(FarmManager.messages.getString("farmManager.storeWentBack",
                Sha256.forLog(session.getIdInternal()), Long.toString(current.version()),
                Long.toString(session.storedVersion())));
        return session.rewriteOver(current, delta);
    }

    /** Takes in what another node wrote and settles attributes both changed. */
    private void merge(FarmSession session, Delta delta, StoredSession current) {
        settle(session, delta, current, session.adopt(current, delta.names(), codec, manager.webappClassLoader()));
    }

    /**
     * Brings a local copy up to what the store holds, keeping changes that requests of this node
     * made and have not written yet (unless the conflict policy keeps the stored value). Used
     * before serving a copy that another node may have changed.
     */
    void refresh(FarmSession session, StoredSession stored) {
        session.checkpointLock.lock();
        try {
            settle(session, null, stored, session.adopt(stored, Set.of(), codec, manager.webappClassLoader()));
            refreshes.increment();
        } finally {
            session.checkpointLock.unlock();
        }
    }

    /**
     * Attributes changed here and, since this copy last knew them, elsewhere: under
     * {@code lastWriterWins} the local value stays and is written next; under {@code keepStored}
     * the stored value replaces it and the local change is dropped.
     */
    private void settle(FarmSession session, Delta delta, StoredSession stored, Set<String> clashing) {
        if (clashing.isEmpty()) {
            return;
        }
        conflicts.increment();
        boolean log = session.firstConflict();
        if (conflictPolicy == ConflictPolicy.KEEP_STORED) {
            for (String name : clashing) {
                if (delta != null) {
                    delta.drop(name);
                }
                StoredSession.StoredAttribute theirs = stored.attributes().get(name);
                if (theirs == null) {
                    session.dropLocally(name);
                } else {
                    session.takeStoredValue(name, theirs, codec, manager.webappClassLoader(), true);
                }
            }
        }
        if (log) {
            manager.log().warn(FarmManager.messages.getString("farmManager.conflict",
                    Sha256.forLog(session.getIdInternal()), clashing, ManagerSettings.camel(conflictPolicy)));
        }
    }

    /** End of a request that used this session: the checkpoint the policy asks for, or a longer expiry. */
    void requestEnded(FarmSession session, CheckpointPolicy policy) {
        if (!session.isLive()) {
            return;
        }
        session.requestServed();
        long now = System.currentTimeMillis();
        Trigger trigger = policy.dueAfterRequest(session, now);
        if (trigger != null) {
            checkpoint(session, trigger, now, true);
        } else {
            extendExpiry(session, now);
        }
    }

    /**
     * A session in use must not look expired to other nodes: its stored expiry is pushed forward,
     * at most once per half idle timeout, without a new version.
     */
    void extendExpiry(FarmSession session, long now) {
        int maxInactive = session.getMaxInactiveInterval();
        if (!session.isStored() || maxInactive <= 0
                || session.storedExpiresAt() - now >= maxInactive * 1000L / 2 || !gate.open()) {
            return;
        }
        long expiresAt = Checkpoint.expiresAt(now, maxInactive);
        try {
            if (store.touch(session.getIdInternal(), now, expiresAt)) {
                session.touched(expiresAt);
                expiryExtensions.increment();
            }
            gate.succeeded();
        } catch (SQLException e) {
            gate.failed(e);
        }
    }

    /** Moves the stored copy with a changed session id; if that fails the next checkpoint writes it anew. */
    void renamed(FarmSession session, String oldId, String newId) {
        session.checkpointLock.lock();
        try {
            if (!session.isStored()) {
                return;
            }
            try {
                if (!store.rename(oldId, newId)) {
                    session.forgetStoredState();
                }
                gate.succeeded();
            } catch (SQLException e) {
                gate.failed(e);
                session.forgetStoredState();
                manager.deleteLater(oldId);
            }
        } finally {
            session.checkpointLock.unlock();
        }
    }
}
