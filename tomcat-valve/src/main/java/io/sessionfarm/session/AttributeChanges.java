package io.sessionfarm.session;

import java.io.NotSerializableException;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * What one local copy knows of its attributes: for each, the version that last wrote it to the
 * store and a digest of that value; and which names requests of this node changed, read, or are
 * changing right now. From this a checkpoint finds what to write, and a merge what it may replace.
 */
final class AttributeChanges {

    /** What the store holds of an attribute, as far as this copy knows: digest null when unknown. */
    record Known(long version, byte[] digest) {
    }

    /**
     * The attributes a checkpoint must write or delete, and what to remember once it is written;
     * with the requests and updates counted when it was collected, which it covers.
     */
    record Delta(Map<String, byte[]> writes, Map<String, byte[]> digests, Set<String> removals, Set<String> drained,
            boolean timeoutChanged, int requests, int updates) {
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

    /** Attribute name to what the store holds of it; only ever moves to newer versions. */
    private final Map<String, Known> known = new ConcurrentHashMap<>();
    /** Names set or removed through the API and not yet written (or being written). */
    private final Set<String> changedNames = ConcurrentHashMap.newKeySet();
    /**
     * Names of mutable values the application read since the last checkpoint: only these can have
     * been changed in place, so only these are serialized and compared.
     */
    private final Set<String> readNames = ConcurrentHashMap.newKeySet();
    /** Names whose current value could not be serialized; not retried until set again. */
    private final Set<String> unserializable = ConcurrentHashMap.newKeySet();
    /**
     * Names whose newest stored value this node could not read: not served from an older copy, and
     * neither written nor removed from here until the application sets them again.
     */
    private final Set<String> unreadable = ConcurrentHashMap.newKeySet();
    /** Names a request is setting or removing right now: a merge never replaces their value. */
    private final Map<String, Integer> changing = new ConcurrentHashMap<>();
    /** Requests using this copy now: their read marks must outlive other requests' checkpoints. */
    private final AtomicInteger inFlight = new AtomicInteger();

    void read(String name) {
        readNames.add(name);
    }

    /** Before a request puts or removes a value: a merge running now must not replace it. */
    void changing(String name) {
        changing.merge(name, 1, Integer::sum);
    }

    /** After the put or removal: a checkpoint may have taken the mark before the value was in. */
    void changed(String name) {
        changedNames.add(name);
        unserializable.remove(name);
        unreadable.remove(name);
        changing.computeIfPresent(name, (key, n) -> n == 1 ? null : n - 1);
    }

    /** Changed here and not written yet, or being changed right now. */
    boolean changedHere(String name) {
        return changedNames.contains(name) || changing.containsKey(name);
    }

    boolean anyChanged() {
        return !changedNames.isEmpty();
    }

    void requestStarted() {
        inFlight.incrementAndGet();
    }

    void requestEnded() {
        inFlight.updateAndGet(n -> Math.max(0, n - 1));
    }

    /**
     * Finds what changed since the stored version. A value set through the API is serialized and
     * compared with the stored digest. A mutable value the application read since the last
     * checkpoint is too, which catches objects changed in place. Other values cannot have changed
     * and are not touched.
     */
    Delta collect(Map<String, Object> attributes, boolean byRequest, boolean timeoutChanged, int requests, int updates,
            AttributeProblems problems) {
        Set<String> drained = new HashSet<>(changedNames);
        changedNames.removeAll(drained);
        Set<String> read = new HashSet<>(readNames);
        if (inFlight.get() <= (byRequest ? 1 : 0)) {
            // Another request may still change what it read, in place: its marks stay until it is done.
            readNames.removeAll(read);
        }
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
                problems.notSerializable(name, value, e);
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
        return new Delta(writes, digests, removals, drained, timeoutChanged, requests, updates);
    }

    /**
     * Adds to {@code delta} every attribute it does not write yet and the removal of every stored
     * name this copy does not have: the store lost writes, and this copy is written over it whole.
     * A value that cannot be serialized now waits for the next checkpoint; one this node could not
     * read stays as stored.
     */
    void rewriteAll(Map<String, Object> attributes, Set<String> storedNames, Delta delta) {
        for (Map.Entry<String, Object> attribute : attributes.entrySet()) {
            String name = attribute.getKey();
            if (delta.writes().containsKey(name) || unreadable.contains(name)) {
                continue;
            }
            if (unserializable.contains(name)) {
                delta.removals().add(name); // never leave an older value behind to resurrect
                continue;
            }
            try {
                byte[] bytes = AttributeCodec.serialize(attribute.getValue());
                delta.writes().put(name, bytes);
                delta.digests().put(name, AttributeCodec.digest(bytes));
            } catch (Exception e) {
                changedNames.add(name); // modified while being written, or newly unserializable: next time
            }
        }
        for (String name : storedNames) {
            if (!attributes.containsKey(name) && !unreadable.contains(name)) {
                delta.removals().add(name);
            }
        }
    }

    void written(Delta delta, long version) {
        delta.digests().forEach((name, digest) -> known.put(name, new Known(version, digest)));
        delta.removals().forEach(known::remove);
    }

    /** A checkpoint failed: its changes are found again by the next one. */
    void notWritten(Delta delta) {
        changedNames.addAll(delta.drained());
        changedNames.addAll(delta.writes().keySet());
    }

    Known known(String name) {
        return known.get(name);
    }

    Set<String> knownNames() {
        return Set.copyOf(known.keySet());
    }

    /** The store holds {@code value} (null: unreadable here) of {@code name} at {@code version}. */
    void stored(String name, long version, byte[] value) {
        known.put(name, new Known(version, value == null ? null : AttributeCodec.digest(value)));
    }

    void removedFromStore(String name) {
        known.remove(name);
    }

    /** The stored copy is gone or was renamed away: the next checkpoint writes everything anew. */
    void forgetStored() {
        known.clear();
    }

    /** The newest stored value of {@code name} is no longer one this node failed to read (it was removed). */
    void readable(String name) {
        unreadable.remove(name);
    }

    /** A value taken from the store replaced the local one. */
    void tookStored(String name, boolean readable) {
        unserializable.remove(name);
        if (readable) {
            unreadable.remove(name);
        } else {
            unreadable.add(name);
        }
    }
}
