package io.sessionfarm.store;

import java.util.Map;

/**
 * A session as the store holds it.
 *
 * @param attributes by name; each carries the session version that last wrote it
 */
public record StoredSession(String id, long version, long createdAt, long lastAccess, int maxInactive,
        long expiresAt, Map<String, StoredAttribute> attributes) {

    /** @param value the plain serialized value; null when it cannot be decrypted */
    public record StoredAttribute(long version, byte[] value) {
    }

    /** Whether its idle timeout has passed (times are this node's clock; see {@link SessionStore}). */
    public boolean expired() {
        return expiresAt <= System.currentTimeMillis();
    }

    /** The cheap part of a stored session, read to check that a local copy is current. */
    public record Stamp(long version, long lastAccess, long expiresAt) {
    }
}
