package io.sessionfarm.store;

import java.util.Map;
import java.util.Set;

/**
 * What one checkpoint writes: the session's metadata and only the attributes that changed.
 *
 * @param baseVersion the version this node last read or wrote; 0 for a session not yet stored
 * @param writes serialized values of the attributes set or changed since the base version
 * @param removals names of the attributes removed since the base version
 */
public record Checkpoint(String id, long baseVersion, long createdAt, long lastAccess, int maxInactive,
        Map<String, byte[]> writes, Set<String> removals) {

    public long expiresAt() {
        return expiresAt(lastAccess, maxInactive);
    }

    public static long expiresAt(long lastAccess, int maxInactiveSeconds) {
        return maxInactiveSeconds <= 0 ? Long.MAX_VALUE : lastAccess + maxInactiveSeconds * 1000L;
    }
}
