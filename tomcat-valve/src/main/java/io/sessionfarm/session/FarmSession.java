package io.sessionfarm.session;

import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantLock;

import org.apache.catalina.session.StandardSession;

import io.sessionfarm.store.Checkpoint;
import io.sessionfarm.store.SessionMoves;
import io.sessionfarm.store.StoredSession;
import io.sessionfarm.session.AttributeChanges.Delta;
import io.sessionfarm.store.StoredSession.StoredAttribute;

/**
 * A session held in this node's memory that knows what the store holds of it: the stored version,
 * and for each attribute the version that last wrote it and a digest of its value. From that it
 * finds what changed — by {@code setAttribute}/{@code removeAttribute}, or in place inside a
 * mutable object — so that a checkpoint writes only those attributes.
 *
 * <p>Several requests may use one copy at once. What other nodes wrote is taken in attribute by
 * attribute and only forward: a stored value replaces the local one only if it is newer than the
 * one this copy knows, and never while a request of this node has changed that attribute and not
 * yet written it. A request marks an attribute as changed before it puts the new value, and taking
 * in a stored value re-checks that mark in the same atomic map operation that replaces the value,
 * so the request's value is never overwritten by an older one.
 */
public class FarmSession extends StandardSession implements CheckpointPolicy.Progress {

    private static final long serialVersionUID = 1L;

    /** Serializes checkpoints and merges of this session; request threads never wait on I/O under it otherwise. */
    final transient ReentrantLock checkpointLock = new ReentrantLock();

    /** What this copy knows of its attributes' stored versions, and what requests here changed. */
    private final transient AttributeChanges changes = new AttributeChanges();
    private final transient AtomicInteger updatesSinceCheckpoint = new AtomicInteger();
    private final transient AtomicInteger requestsSinceCheckpoint = new AtomicInteger();

    private transient volatile long storedVersion;
    private transient volatile long storedExpiresAt;
    private transient volatile long checkpointedAt = System.currentTimeMillis();
    /**
     * Sticky mode ({@link SessionMoves#now()}): when this copy was last known to be the store's
     * newest (made here, or its version read before it was served), and when this node last began
     * serving it from what the store held.
     */
    private transient volatile long knownCurrentAt = SessionMoves.now();
    private transient volatile long servedFromStoreAt = Long.MIN_VALUE;
    /** Set when the store row is already gone, so expiring this copy must not delete again. */
    private transient volatile boolean storeRowRemoved;
    /** The idle timeout changed since the last checkpoint. */
    private transient volatile boolean timeoutChanged;
    /** A conflict on this session was logged already; later ones are only counted. */
    private transient volatile boolean conflictLogged;
    /** A due checkpoint could not be written; the poller retries it. */
    private transient volatile boolean owed;

    public FarmSession(FarmManager manager) {
        super(manager);
    }

    private FarmManager farm() {
        return (FarmManager) manager;
    }

    // ---- change tracking -------------------------------------------------------------------

    @Override
    public Object getAttribute(String name) {
        Object value = super.getAttribute(name);
        if (value != null && !AttributeCodec.isImmutable(value)) {
            changes.read(name);
        }
        return value;
    }

    @Override
    public void setAttribute(String name, Object value, boolean notify) {
        if (value == null || name == null) {
            super.setAttribute(name, value, notify);
            return;
        }
        changes.changing(name);
        try {
            super.setAttribute(name, value, notify);
        } finally {
            changed(name);
        }
    }

    @Override
    protected void removeAttributeInternal(String name, boolean notify) {
        boolean tracked = attributes.containsKey(name) && isValid && !expiring;
        if (!tracked) {
            super.removeAttributeInternal(name, notify);
            return;
        }
        changes.changing(name);
        try {
            super.removeAttributeInternal(name, notify);
        } finally {
            changed(name);
        }
    }

    private void changed(String name) {
        changes.changed(name);
        updatesSinceCheckpoint.incrementAndGet();
    }

    @Override
    public void setMaxInactiveInterval(int interval) {
        boolean changed = interval != maxInactiveInterval;
        super.setMaxInactiveInterval(interval);
        if (changed) {
            timeoutChanged = true;
        }
    }

    /** @return true the first time only */
    boolean firstConflict() {
        boolean first = !conflictLogged;
        conflictLogged = true;
        return first;
    }

    /** Counted after the request's changes are marked, so a checkpoint that sees the count also sees the marks. */
    void requestServed() {
        requestsSinceCheckpoint.incrementAndGet();
    }

    // ---- what this copy knows of the store (one-line accessors) -----------------------------

    @Override public boolean isStored() { return storedVersion > 0; }
    long storedVersion() { return storedVersion; }
    long storedExpiresAt() { return storedExpiresAt; }
    long knownCurrentAt() { return knownCurrentAt; }
    void knownCurrentAt(long at) { knownCurrentAt = at; }
    long servedFromStoreAt() { return servedFromStoreAt; }
    void servedFromStore(long at) { servedFromStoreAt = at; }
    @Override public long checkpointedAt() { return checkpointedAt; }
    @Override public int updatesSinceCheckpoint() { return updatesSinceCheckpoint.get(); }
    @Override public int requestsSinceCheckpoint() { return requestsSinceCheckpoint.get(); }
    boolean storeRowRemoved() { return storeRowRemoved; }
    void markStoreRowRemoved() { storeRowRemoved = true; }

    @Override
    public boolean mayHaveChanged() {
        return requestsSinceCheckpoint.get() > 0 || changes.anyChanged() || !isStored();
    }

    // ---- building a checkpoint ---------------------------------------------------------------

    /** What changed since the stored version ({@link AttributeChanges#collect}). Call under {@link #checkpointLock}. */
    Delta collectChanges(boolean byRequest) {
        // The counts are read before the marks are drained: what is counted here is in this delta.
        int requests = requestsSinceCheckpoint.get();
        int updates = updatesSinceCheckpoint.get();
        boolean timeout = timeoutChanged;
        timeoutChanged = false;
        return changes.collect(attributes, byRequest, timeout, requests, updates, farm().attributeProblems);
    }

    Checkpoint toCheckpoint(Delta delta) {
        return new Checkpoint(id, storedVersion, creationTime, thisAccessedTime, maxInactiveInterval,
                delta.writes(), delta.removals());
    }

    void checkpointed(Delta delta, long version, long now) {
        changes.written(delta, version);
        storedVersion = version;
        storedExpiresAt = Checkpoint.expiresAt(thisAccessedTime, maxInactiveInterval);
        covered(delta, now);
    }

    /** A due checkpoint found nothing to write. */
    void nothingToCheckpoint(Delta delta, long now) {
        covered(delta, now);
    }

    /** A checkpoint failed: its changes stay owed and are found again by the next one. */
    void checkpointFailed(Delta delta) {
        owed = true;
        timeoutChanged |= delta.timeoutChanged();
        changes.notWritten(delta);
    }

    boolean owed() { return owed; }

    /**
     * The requests and updates the delta covers are done with. Only those are taken off the counts:
     * a request that ended while the checkpoint was written still counts, so its own end-of-request
     * decision still sees it and checkpoints its change before answering.
     */
    private void covered(Delta delta, long now) {
        owed = false;
        updatesSinceCheckpoint.addAndGet(-delta.updates());
        requestsSinceCheckpoint.addAndGet(-delta.requests());
        checkpointedAt = now;
    }

    void touched(long expiresAt) {
        storedExpiresAt = Math.max(storedExpiresAt, expiresAt);
    }

    /**
     * The store holds an older version than this copy last wrote (it lost writes): {@code delta}
     * becomes a rewrite of this copy whole, returned as the checkpoint to write on top of
     * {@code stored}. Nothing else changes before it is written ({@link #checkpointed}): if the
     * write fails, the next checkpoint finds the older row again. Call under {@link #checkpointLock}.
     */
    Checkpoint rewriteOver(StoredSession stored, Delta delta) {
        changes.rewriteAll(attributes, stored.attributes().keySet(), delta);
        return new Checkpoint(id, stored.version(), creationTime, thisAccessedTime, maxInactiveInterval,
                delta.writes(), delta.removals());
    }

    /** The stored copy is gone or was renamed away: the next checkpoint writes everything anew. */
    void forgetStoredState() {
        storedVersion = 0;
        changes.forgetStored();
    }

    // ---- taking in what other nodes wrote ----------------------------------------------------

    /** Fills a new local copy from the store, without firing any listener. */
    void restore(StoredSession stored, AttributeCodec codec, ClassLoader loader) {
        this.id = stored.id();
        this.creationTime = stored.createdAt();
        this.lastAccessedTime = stored.lastAccess();
        this.thisAccessedTime = stored.lastAccess();
        this.maxInactiveInterval = stored.maxInactive();
        this.isNew = false;
        this.isValid = true;
        adopt(stored, Set.of(), codec, loader);
        checkpointedAt = System.currentTimeMillis();
    }

    /**
     * Takes in what another node wrote that this copy does not know yet: each stored attribute
     * newer than the version this copy knows of it, and each removal made after it. An attribute
     * named in {@code ours}, or changed here by a request and not yet written, keeps its local
     * value; what the store holds of it is remembered, so the next checkpoint compares with that.
     * A snapshot no newer than this copy's stored version is ignored, so a slow read never takes a
     * copy back. Call under {@link #checkpointLock}.
     *
     * @return the names both this node and another changed: a conflict
     */
    Set<String> adopt(StoredSession stored, Set<String> ours, AttributeCodec codec, ClassLoader loader) {
        Set<String> conflicts = new HashSet<>();
        if (stored.version() <= storedVersion) {
            return conflicts;
        }
        for (Map.Entry<String, StoredAttribute> entry : stored.attributes().entrySet()) {
            String name = entry.getKey();
            StoredAttribute attribute = entry.getValue();
            AttributeChanges.Known before = changes.known(name);
            if (before != null && attribute.version() <= before.version()) {
                continue;
            }
            if (ours.contains(name)) {
                changes.stored(name, attribute.version(), attribute.value());
                conflicts.add(name);
            } else if (!takeStoredValue(name, attribute, codec, loader, false)) {
                conflicts.add(name);
            }
        }
        for (String name : changes.knownNames()) {
            if (!stored.attributes().containsKey(name)) {
                // Removed after the version this copy knows, since this snapshot is newer than that.
                changes.removedFromStore(name);
                if (ours.contains(name) || !dropUnlessChangedHere(name)) {
                    conflicts.add(name);
                }
            }
        }
        storedVersion = stored.version(); // last: a request that sees this version sees the values above
        storedExpiresAt = stored.expiresAt();
        if (stored.lastAccess() > thisAccessedTime) {
            thisAccessedTime = stored.lastAccess();
            lastAccessedTime = stored.lastAccess();
        }
        return conflicts;
    }

    /** Another node removed this attribute and its removal is kept: no listener fires. */
    void dropLocally(String name) {
        attributes.remove(name);
        changes.removedFromStore(name);
    }

    private boolean dropUnlessChangedHere(String name) {
        changes.readable(name);
        return replaceUnlessChangedHere(name, null);
    }

    /**
     * Puts {@code value} (null: removes the attribute) unless a request of this node changed the
     * attribute and has not written it: atomic with a request's put of the same name, which marks
     * the name changing before it.
     *
     * @return false when the local value was kept
     */
    private boolean replaceUnlessChangedHere(String name, Object value) {
        boolean[] kept = {false};
        attributes.compute(name, (key, local) -> {
            kept[0] = changes.changedHere(key);
            return kept[0] ? local : value;
        });
        return !kept[0];
    }

    /**
     * Replaces the local value with the stored one, unless {@code force} is false and a request of
     * this node changed the attribute and has not written it. Either way the copy now knows the
     * stored version. A value this node cannot read is left in the store and not served here from
     * an older copy.
     *
     * @return false when the local value was kept because it was changed here
     */
    boolean takeStoredValue(String name, StoredAttribute stored, AttributeCodec codec, ClassLoader loader,
            boolean force) {
        AttributeCodec.Read read = codec.read(stored.value(), loader);
        Object value = read.value();
        Exception unreadableBecause = read.problem();
        boolean taken;
        if (!force) {
            taken = replaceUnlessChangedHere(name, value);
        } else {
            taken = true;
            if (value == null) {
                attributes.remove(name);
            } else {
                attributes.put(name, value);
            }
        }
        changes.stored(name, stored.version(), stored.value());
        if (!taken) {
            return false;
        }
        changes.tookStored(name, unreadableBecause == null);
        if (unreadableBecause != null) {
            farm().attributeProblems.unreadable(this, name, unreadableBecause);
        }
        return true;
    }

    /** A request starts using this copy. */
    @Override
    public void access() {
        changes.requestStarted();
        super.access();
        CheckpointValve.accessed(this);
    }

    /** A request is done with this copy. */
    @Override
    public void endAccess() {
        super.endAccess();
        changes.requestEnded();
    }

    /** Moves the access times forward to what another node recorded. */
    void accessedElsewhere(long lastAccess, long expiresAt) {
        if (lastAccess > thisAccessedTime) {
            thisAccessedTime = lastAccess;
            lastAccessedTime = lastAccess;
        }
        storedExpiresAt = Math.max(storedExpiresAt, expiresAt);
    }

    // ---- expiry ------------------------------------------------------------------------------

    /**
     * Unlike {@link StandardSession#isValid()}, an idle copy does not expire itself here: another
     * node may have kept the session alive. The Manager's {@link ExpirySweeper} asks the store first, off this thread.
     */
    @Override
    public boolean isValid() {
        if (!isValid) {
            return false;
        }
        if (expiring || activityCheck && accessCount.get() > 0) {
            return true;
        }
        if (maxInactiveInterval > 0 && System.currentTimeMillis() - thisAccessedTime >= maxInactiveInterval * 1000L) {
            farm().idleTimeout(this);
            return false;
        }
        return true;
    }

    /** {@link #isValid()} without side effects. */
    boolean isLive() {
        return isValid && !expiring;
    }

    @Override
    public void expire(boolean notify) {
        boolean wasValid = isValid;
        super.expire(notify);
        if (wasValid && !isValid && manager instanceof FarmManager fm) {
            fm.sessionEnded(this);
        }
    }
}
