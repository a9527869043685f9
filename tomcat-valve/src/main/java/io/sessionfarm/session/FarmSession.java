package io.sessionfarm.session;

import java.io.NotSerializableException;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantLock;

import org.apache.catalina.session.StandardSession;

import io.sessionfarm.store.Checkpoint;
import io.sessionfarm.store.StoredSession;
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

    /** What the store holds of an attribute, as far as this copy knows: digest null when unknown. */
    private record Known(long version, byte[] digest) {
    }

    /** Attribute name to what the store holds of it; only ever moves to newer versions. */
    private final transient Map<String, Known> known = new ConcurrentHashMap<>();
    /** Names set or removed through the API and not yet written (or being written). */
    private final transient Set<String> changedNames = ConcurrentHashMap.newKeySet();
    /**
     * Names of mutable values the application read since the last checkpoint: only these can have
     * been changed in place, so only these are serialized and compared.
     */
    private final transient Set<String> readNames = ConcurrentHashMap.newKeySet();
    /** Names whose current value could not be serialized; not retried until set again. */
    private final transient Set<String> unserializable = ConcurrentHashMap.newKeySet();
    /**
     * Names whose newest stored value this node could not read: not served from an older copy, and
     * neither written nor removed from here until the application sets them again.
     */
    private final transient Set<String> unreadable = ConcurrentHashMap.newKeySet();
    /** Names a request is setting or removing right now: a merge never replaces their value. */
    private final transient Map<String, Integer> changing = new ConcurrentHashMap<>();
    /** Requests using this copy now: their read marks must outlive other requests' checkpoints. */
    private final transient AtomicInteger inFlight = new AtomicInteger();
    private final transient AtomicInteger updatesSinceCheckpoint = new AtomicInteger();
    private final transient AtomicInteger requestsSinceCheckpoint = new AtomicInteger();

    private transient volatile long storedVersion;
    private transient volatile long storedExpiresAt;
    private transient volatile long checkpointedAt = System.currentTimeMillis();
    private transient volatile boolean accessedSinceCheckpoint;
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
            readNames.add(name);
        }
        return value;
    }

    @Override
    public void setAttribute(String name, Object value, boolean notify) {
        if (value == null || name == null) {
            super.setAttribute(name, value, notify);
            return;
        }
        changing.merge(name, 1, Integer::sum); // before the value: a merge running now must not replace it
        try {
            super.setAttribute(name, value, notify);
        } finally {
            recordUpdate(name); // after: a checkpoint may have taken the mark before the value was in
            changing.computeIfPresent(name, (key, n) -> n == 1 ? null : n - 1);
        }
    }

    @Override
    protected void removeAttributeInternal(String name, boolean notify) {
        boolean tracked = attributes.containsKey(name) && isValid && !expiring;
        if (!tracked) {
            super.removeAttributeInternal(name, notify);
            return;
        }
        changing.merge(name, 1, Integer::sum);
        try {
            super.removeAttributeInternal(name, notify);
        } finally {
            recordUpdate(name);
            changing.computeIfPresent(name, (key, n) -> n == 1 ? null : n - 1);
        }
    }

    private void recordUpdate(String name) {
        changedNames.add(name);
        unserializable.remove(name);
        unreadable.remove(name);
        updatesSinceCheckpoint.incrementAndGet();
    }

    /** Changed here and not written yet, or being changed right now. */
    private boolean changedHere(String name) {
        return changedNames.contains(name) || changing.containsKey(name);
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

    void requestServed() {
        requestsSinceCheckpoint.incrementAndGet();
        accessedSinceCheckpoint = true;
    }

    @Override
    public boolean isStored() {
        return storedVersion > 0;
    }

    long storedVersion() {
        return storedVersion;
    }

    long storedExpiresAt() {
        return storedExpiresAt;
    }

    @Override
    public long checkpointedAt() {
        return checkpointedAt;
    }

    @Override
    public int updatesSinceCheckpoint() {
        return updatesSinceCheckpoint.get();
    }

    @Override
    public int requestsSinceCheckpoint() {
        return requestsSinceCheckpoint.get();
    }

    @Override
    public boolean mayHaveChanged() {
        return accessedSinceCheckpoint || !changedNames.isEmpty() || !isStored();
    }

    boolean storeRowRemoved() {
        return storeRowRemoved;
    }

    void markStoreRowRemoved() {
        storeRowRemoved = true;
    }

    // ---- building a checkpoint ---------------------------------------------------------------

    /** The attributes a checkpoint must write or delete, and what to remember once it is written. */
    record Delta(Map<String, byte[]> writes, Map<String, byte[]> digests, Set<String> removals, Set<String> drained,
            boolean timeoutChanged) {
        boolean isEmpty() {
            return writes.isEmpty() && removals.isEmpty() && !timeoutChanged;
        }

        Set<String> names() {
            Set<String> names = new HashSet<>(writes.keySet());
            names.addAll(removals);
            return names;
        }

        void drop(String name) {
            writes.remove(name);
            digests.remove(name);
            removals.remove(name);
        }
    }

    /**
     * Finds what changed since the stored version. A value set through the API is serialized and
     * compared with the stored digest. A mutable value the application read since the last
     * checkpoint is too, which catches objects changed in place. Other values cannot have changed
     * and are not touched. Call under {@link #checkpointLock}.
     */
    Delta collectChanges(boolean byRequest) {
        Set<String> drained = new HashSet<>(changedNames);
        changedNames.removeAll(drained);
        Set<String> read = new HashSet<>(readNames);
        if (inFlight.get() <= (byRequest ? 1 : 0)) {
            // Another request may still change what it read, in place: its marks stay until it is done.
            readNames.removeAll(read);
        }
        boolean timeout = timeoutChanged;
        timeoutChanged = false;
        Map<String, byte[]> writes = new HashMap<>();
        Map<String, byte[]> digests = new HashMap<>();
        Set<String> removals = new HashSet<>();
        for (Map.Entry<String, Object> attribute : attributes.entrySet()) {
            String name = attribute.getKey();
            Object value = attribute.getValue();
            boolean explicit = drained.contains(name);
            Known stored = known.get(name);
            if (!explicit && (unserializable.contains(name) || unreadable.contains(name)
                    || stored != null && (AttributeCodec.isImmutable(value) || !read.contains(name)))) {
                continue;
            }
            byte[] bytes;
            try {
                bytes = AttributeCodec.serialize(value);
            } catch (NotSerializableException e) {
                unserializable.add(name);
                farm().attributeProblems.notSerializable(name, value, e);
                if (stored != null) {
                    removals.add(name); // never leave an older value behind for another node to resurrect
                }
                continue;
            } catch (Exception e) {
                changedNames.add(name); // e.g. modified by a request while being written: next time
                continue;
            }
            byte[] digest = AttributeCodec.digest(bytes);
            if (stored == null || !Arrays.equals(digest, stored.digest())) {
                writes.put(name, bytes);
                digests.put(name, digest);
            }
        }
        for (String name : known.keySet()) {
            // A value removed after it was serialized above: its removal waits for the next checkpoint.
            if (!attributes.containsKey(name) && !writes.containsKey(name) && !unreadable.contains(name)) {
                removals.add(name);
            }
        }
        return new Delta(writes, digests, removals, drained, timeout);
    }

    Checkpoint toCheckpoint(Delta delta) {
        return new Checkpoint(id, storedVersion, creationTime, thisAccessedTime, maxInactiveInterval,
                delta.writes(), delta.removals());
    }

    void checkpointed(Delta delta, long version, long now) {
        delta.digests().forEach((name, digest) -> known.put(name, new Known(version, digest)));
        delta.removals().forEach(known::remove);
        storedVersion = version;
        storedExpiresAt = Checkpoint.expiresAt(thisAccessedTime, maxInactiveInterval);
        resetCounters(now);
    }

    /** A due checkpoint found nothing to write. */
    void nothingToCheckpoint(long now) {
        resetCounters(now);
    }

    /** A checkpoint failed: its changes stay owed and are found again by the next one. */
    void checkpointFailed(Delta delta) {
        owed = true;
        timeoutChanged |= delta.timeoutChanged();
        changedNames.addAll(delta.drained());
        changedNames.addAll(delta.writes().keySet());
    }

    boolean owed() {
        return owed;
    }

    private void resetCounters(long now) {
        owed = false;
        updatesSinceCheckpoint.set(0);
        requestsSinceCheckpoint.set(0);
        accessedSinceCheckpoint = false;
        checkpointedAt = now;
    }

    void touched(long expiresAt) {
        storedExpiresAt = Math.max(storedExpiresAt, expiresAt);
    }

    /** The stored copy is gone or was renamed away: the next checkpoint writes everything anew. */
    void forgetStoredState() {
        storedVersion = 0;
        known.clear();
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
        resetCounters(System.currentTimeMillis());
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
            Known before = known.get(name);
            if (before != null && attribute.version() <= before.version()) {
                continue;
            }
            if (ours.contains(name)) {
                known.put(name, new Known(attribute.version(),
                        attribute.value() == null ? null : AttributeCodec.digest(attribute.value())));
                conflicts.add(name);
            } else if (!takeStoredValue(name, attribute, codec, loader, false)) {
                conflicts.add(name);
            }
        }
        for (String name : Set.copyOf(known.keySet())) {
            if (!stored.attributes().containsKey(name)) {
                // Removed after the version this copy knows, since this snapshot is newer than that.
                known.remove(name);
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
        known.remove(name);
    }

    private boolean dropUnlessChangedHere(String name) {
        unreadable.remove(name);
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
            kept[0] = changedHere(key);
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
        Object value = null;
        Exception unreadableBecause = null;
        if (stored.value() == null) {
            unreadableBecause = new java.io.IOException(
                    "its stored value cannot be decrypted: altered, or under a key not in this node's ring");
        } else {
            try {
                value = codec.deserialize(stored.value(), loader);
            } catch (Exception e) {
                unreadableBecause = e;
            }
        }
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
        known.put(name, new Known(stored.version(), stored.value() == null ? null : AttributeCodec.digest(stored.value())));
        if (!taken) {
            return false;
        }
        unserializable.remove(name);
        if (unreadableBecause != null) {
            unreadable.add(name);
            farm().attributeProblems.unreadable(this, name, unreadableBecause);
        } else {
            unreadable.remove(name);
        }
        return true;
    }

    /** A request starts using this copy. */
    @Override
    public void access() {
        inFlight.incrementAndGet();
        super.access();
        CheckpointValve.accessed(this);
    }

    /** A request is done with this copy. */
    @Override
    public void endAccess() {
        super.endAccess();
        inFlight.updateAndGet(n -> Math.max(0, n - 1));
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
     * node may have kept the session alive. The Manager asks the store first.
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
