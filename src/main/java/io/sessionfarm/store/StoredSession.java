package io.sessionfarm.store;

import java.util.Map;

/**
 * A session as the store holds it, with its times on this node's clock.
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

    /** The cheap part of a stored session, read to check that a local copy is current; times on this node's clock. */
    public record Stamp(long version, long lastAccess, long expiresAt) {

        /** From the stored times, read with the database's now at this node's {@code localNow}. */
        public static Stamp read(long version, long lastAccess, long expiresAt, long databaseNow, long localNow) {
            return new Stamp(version, DatabaseClock.toLocal(lastAccess, databaseNow, localNow),
                    DatabaseClock.toLocal(expiresAt, databaseNow, localNow));
        }
    }
}
