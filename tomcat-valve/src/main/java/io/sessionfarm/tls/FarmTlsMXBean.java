package io.sessionfarm.tls;

/**
 * One HTTPS connector's farm TLS counters, as {@code io.sessionfarm:type=FarmTls,connector="…"}.
 * Handshakes are counted on the farm's (shared) hosts only; a local host is Tomcat's alone.
 */
public interface FarmTlsMXBean {

    /** Handshakes that resumed nothing. */
    long getFullHandshakes();

    /** Tickets this connector decrypted (its own or another node's). */
    long getResumedByTicket();

    /** Sessions the cache handed to OpenSSL (from the local tier or the store). */
    long getResumedByCache();

    long getTicketsIssued();

    /** Tickets under a key the farm does not have (too old, or another farm's): full handshakes. */
    long getTicketsWithUnknownKey();

    long getCacheLocalHits();

    long getCacheStoreHits();

    long getCacheMisses();

    /** Store lookups that failed or took longer than lookupTimeout: full handshakes. */
    long getCacheErrors();

    /** Stored sessions refused as altered, foreign or undecodable: full handshakes. */
    long getCacheUnreadable();

    long getSessionsStored();

    /** New sessions not written to the store (store down or write queue full): they resume on this node only. */
    long getSessionWritesDropped();

    /** New sessions whose write took longer than {@code lookupTimeout}: the handshake went on without waiting longer. */
    long getSessionWritesLate();

    int getLocalCacheEntries();

    double getStoreLookupMillisAverage();

    boolean getStoreAvailable();

    /** Seconds since the current ticket key was promoted; -1 before this node has read the farm's ring. */
    long getTicketKeyAgeSeconds();

    /** Ticket keys this node can decrypt with: previous, current and next. */
    int getTicketKeys();

    /** Rotation steps this node performed for the farm. */
    long getTicketKeyRotations();
}
