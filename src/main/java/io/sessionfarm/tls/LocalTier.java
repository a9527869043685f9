package io.sessionfarm.tls;

import java.nio.ByteBuffer;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The in-memory tier of one connector's TLS session cache: the sessions used most recently, each
 * until its own expiry. A hit here costs a handshake no round trip to the store.
 */
final class LocalTier {

    private record Held(byte[] der, long expiresAt) {
    }

    private final int capacity;
    private final Map<ByteBuffer, Held> entries;

    /** @param capacity sessions kept at most (least recently used go first); 0 keeps none */
    LocalTier(int capacity) {
        this.capacity = capacity;
        this.entries = Collections.synchronizedMap(new LinkedHashMap<>(16, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<ByteBuffer, Held> eldest) {
                return size() > capacity;
            }
        });
    }

    /** Keeps {@code der} itself, not a copy: the caller must not change it afterwards. */
    void put(byte[] id, byte[] der, long expiresAt) {
        if (capacity > 0) {
            entries.put(ByteBuffer.wrap(id), new Held(der, expiresAt));
        }
    }

    /**
     * A copy of the session's bytes (the handshake wipes what it is given), or null if it is not
     * here or expired at {@code now}.
     */
    byte[] get(byte[] id, long now) {
        Held hit = entries.get(ByteBuffer.wrap(id));
        return hit != null && hit.expiresAt() > now ? hit.der().clone() : null;
    }

    int size() {
        return entries.size();
    }
}
