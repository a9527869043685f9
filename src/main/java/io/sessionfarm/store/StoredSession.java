package io.sessionfarm.store;

import java.util.Map;

/**
 * A session as the store holds it.
 *
 * @param attributes by name; each carries the session version that last wrote it
 */
public record StoredSession(String id, long version, long createdAt, long lastAccess, int maxInactive,
        long expiresAt, Map<String, StoredAttribute> attributes) {

    public record StoredAttribute(long version, byte[] value) {
    }

    /** The cheap part of a stored session, read to check that a local copy is current. */
    public record Stamp(long version, long lastAccess, long expiresAt) {
    }
}
