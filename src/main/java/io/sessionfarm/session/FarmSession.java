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
 * and a digest of each attribute as last written or read. From that it finds what changed — by
 * {@code setAttribute}/{@code removeAttribute}, or in place inside a mutable object — so that a
 * checkpoint writes only those attributes.
 */
public class FarmSession extends StandardSession {

    private static final long serialVersionUID = 1L;

    /** Serializes checkpoints and merges of this session; request threads never wait on I/O under it otherwise. */
    final transient ReentrantLock checkpointLock = new ReentrantLock();

    /** Attribute name to digest of its serialized value, as the store holds it at {@link #storedVersion}. */
    private final transient Map<String, byte[]> storedDigests = new ConcurrentHashMap<>();
    /** Names set or removed through the API since the last checkpoint. */
    private final transient Set<String> changedNames = ConcurrentHashMap.newKeySet();
    /**
     * Names of mutable values the application read since the last checkpoint: only these can have
     * been changed in place, so only these are serialized and compared.
     */
    private final transient Set<String> readNames = ConcurrentHashMap.newKeySet();
    /** Names whose current value could not be serialized; not retried until set again. */
    private final transient Set<String> unserializable = ConcurrentHashMap.newKeySet();
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
        super.setAttribute(name, value, notify);
        if (value != null) {
            recordUpdate(name);
        }
    }

    @Override
    protected void removeAttributeInternal(String name, boolean notify) {
        boolean present = attributes.containsKey(name);
        super.removeAttributeInternal(name, notify);
        if (present && isValid && !expiring) {
            recordUpdate(name);
        }
    }

    private void recordUpdate(String name) {
        changedNames.add(name);
        unserializable.remove(name);
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

    void requestServed() {
        requestsSinceCheckpoint.incrementAndGet();
        accessedSinceCheckpoint = true;
    }

    boolean isStored() {
        return storedVersion > 0;
    }

    long storedVersion() {
        return storedVersion;
    }

    long storedExpiresAt() {
        return storedExpiresAt;
    }

    long checkpointedAt() {
        return checkpointedAt;
    }

    int updatesSinceCheckpoint() {
        return updatesSinceCheckpoint.get();
    }

    int requestsSinceCheckpoint() {
        return requestsSinceCheckpoint.get();
    }

    boolean mayHaveChanged() {
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
    Delta collectChanges() {
        Set<String> drained = new HashSet<>(changedNames);
        changedNames.removeAll(drained);
        Set<String> read = new HashSet<>(readNames);
        readNames.removeAll(read);
        boolean timeout = timeoutChanged;
        timeoutChanged = false;
        Map<String, byte[]> writes = new HashMap<>();
        Map<String, byte[]> digests = new HashMap<>();
        Set<String> removals = new HashSet<>();
        for (Map.Entry<String, Object> attribute : attributes.entrySet()) {
            String name = attribute.getKey();
            Object value = attribute.getValue();
            boolean explicit = drained.contains(name);
            boolean stored = storedDigests.containsKey(name);
            if (!explicit && (unserializable.contains(name)
                    || stored && (AttributeCodec.isImmutable(value) || !read.contains(name)))) {
                continue;
            }
            byte[] bytes;
            try {
                bytes = AttributeCodec.serialize(value);
            } catch (NotSerializableException e) {
                unserializable.add(name);
                farm().attributeNotSerializable(this, name, value, e);
                if (storedDigests.containsKey(name)) {
                    removals.add(name); // never leave an older value behind for another node to resurrect
                }
                continue;
            } catch (Exception e) {
                changedNames.add(name); // e.g. modified by a request while being written: next time
                continue;
            }
            byte[] digest = AttributeCodec.digest(bytes);
            if (!Arrays.equals(digest, storedDigests.get(name))) {
                writes.put(name, bytes);
                digests.put(name, digest);
            }
        }
        for (String name : storedDigests.keySet()) {
            if (!attributes.containsKey(name)) {
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
        storedDigests.putAll(delta.digests());
        delta.removals().forEach(storedDigests::remove);
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
        storedDigests.clear();
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
     * Takes in the attributes another node wrote after this copy's stored version, except those
     * named in {@code ours} (changed here and not yet written). Call under {@link #checkpointLock}.
     *
     * @return the names both this node and another changed: a conflict
     */
    Set<String> adopt(StoredSession stored, Set<String> ours, AttributeCodec codec, ClassLoader loader) {
        Set<String> conflicts = new HashSet<>();
        long base = storedVersion;
        for (Map.Entry<String, StoredAttribute> entry : stored.attributes().entrySet()) {
            String name = entry.getKey();
            StoredAttribute attribute = entry.getValue();
            if (attribute.version() <= base) {
                continue;
            }
            if (ours.contains(name)) {
                conflicts.add(name);
                continue;
            }
            takeStoredValue(name, attribute.value(), codec, loader);
        }
        for (String name : Set.copyOf(storedDigests.keySet())) {
            if (!stored.attributes().containsKey(name)) {
                if (ours.contains(name)) {
                    conflicts.add(name);
                } else {
                    attributes.remove(name);
                    storedDigests.remove(name);
                }
            }
        }
        storedVersion = stored.version();
        storedExpiresAt = stored.expiresAt();
        if (stored.lastAccess() > thisAccessedTime) {
            thisAccessedTime = stored.lastAccess();
            lastAccessedTime = stored.lastAccess();
        }
        return conflicts;
    }

    /** Names changed here through the API and not yet written. */
    Set<String> pendingNames() {
        return Set.copyOf(changedNames);
    }

    /** Another node removed this attribute and its removal is kept: no listener fires. */
    void dropLocally(String name) {
        attributes.remove(name);
        storedDigests.remove(name);
    }

    /** Replaces the local value with the stored one; an unreadable value is skipped and left in the store. */
    boolean takeStoredValue(String name, byte[] bytes, AttributeCodec codec, ClassLoader loader) {
        if (bytes == null) {
            farm().attributeUnreadable(this, name, new java.io.IOException(
                    "its stored value cannot be decrypted: altered, or under a key not in this node's ring"));
            return false;
        }
        try {
            attributes.put(name, codec.deserialize(bytes, loader));
            storedDigests.put(name, AttributeCodec.digest(bytes));
            unserializable.remove(name);
            return true;
        } catch (Exception e) {
            farm().attributeUnreadable(this, name, e);
            return false;
        }
    }

    /** Moves the access times forward to what another node recorded. */
    void accessedElsewhere(long lastAccess, long expiresAt) {
        if (lastAccess > thisAccessedTime) {
            thisAccessedTime = lastAccess;
            lastAccessedTime = lastAccess;
        }
        storedExpiresAt = Math.max(storedExpiresAt, expiresAt);
    }

    @Override
    public void access() {
        super.access();
        CheckpointValve.accessed(this);
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
