package io.sessionfarm.tls;

import java.security.GeneralSecurityException;
import java.sql.SQLException;
import java.util.Map;

import javax.crypto.SecretKey;
import javax.sql.DataSource;

import io.sessionfarm.keys.Hkdf;
import io.sessionfarm.keys.KeyRing;
import io.sessionfarm.keys.MasterKey;

/**
 * One connector's keys, all derived from the farm's {@code tls} key ring: the ticket keys of the
 * moment and the keys that seal stored sessions. Until the node has read the ring it issues
 * tickets under a key of its own ({@link TicketKeys#local()}), which resume on this node only.
 */
final class TlsKeySource {

    static final String RING_PURPOSE = "tls";

    private final MasterKey master;
    private final long rotationMillis;

    private volatile KeyRing ring;
    private volatile TicketKeys ticketKeys = TicketKeys.local();
    private volatile Map<Integer, SecretKey> derivedFrom;

    /** @param rotationMillis how long a key encrypts; it then decrypts for as long again */
    TlsKeySource(MasterKey master, long rotationMillis) {
        this.master = master;
        this.rotationMillis = rotationMillis;
    }

    /**
     * Reads the farm's ring, creating its first key if the farm has none, and derives the ticket
     * keys from it. Throws if the database fails or this node's master key is not the farm's.
     */
    void join(DataSource dataSource) throws KeyRing.Unusable, GeneralSecurityException {
        // A key encrypts for one rotation and decrypts for one more; tickets and stored sessions
        // live at most one rotation (the hosts' timeouts are capped to it), so nothing outlives its key.
        KeyRing opened = KeyRing.open(dataSource, master, RING_PURPOSE,
                new KeyRing.Schedule(rotationMillis, Math.min(60_000, rotationMillis / 4), rotationMillis),
                KeyRing.StoredData.TLS_SESSIONS);
        deriveTicketKeys(opened);
        ring = opened; // joined only with keys derived
    }

    boolean joined() {
        return ring != null;
    }

    /** One maintenance step once joined: this node rotates the ring if it is its turn, and every node follows. */
    void rotateIfDue() throws SQLException, GeneralSecurityException {
        ring.rotateIfDue();
        deriveTicketKeys(ring);
    }

    private void deriveTicketKeys(KeyRing from) throws GeneralSecurityException {
        Map<Integer, SecretKey> keys = from.keys();
        if (keys != derivedFrom) {
            ticketKeys = TicketKeys.derive(keys, from.primary().id());
            derivedFrom = keys;
        }
    }

    TicketKeys ticketKeys() {
        return ticketKeys;
    }

    /** The ring's key to seal {@code sessions} new sessions under; only once joined. */
    KeyRing.Key sealingKey(int sessions) {
        return ring.sealingKey(sessions);
    }

    /** The ring key with this id, or null if the farm does not have it; only once joined. */
    SecretKey ringKey(int id) {
        return ring.find(id);
    }

    /** The key that seals stored sessions, derived from a ring key that also derives the ticket keys. */
    static SecretKey cacheKey(SecretKey ringKey) throws GeneralSecurityException {
        return Hkdf.aesKey(ringKey, "sessionfarm tls session cache");
    }

    /** Ticket keys this node can decrypt with: previous, current and next. */
    int ticketKeyCount() {
        return ticketKeys.size();
    }

    /** Seconds since the current ticket key was promoted; -1 before this node has read the farm's ring. */
    long ticketKeyAgeSeconds() {
        KeyRing joined = ring;
        return joined == null ? -1 : joined.primaryAgeMillis() / 1000;
    }

    /** Rotation steps this node performed for the farm. */
    long rotations() {
        KeyRing joined = ring;
        return joined == null ? 0 : joined.rotations();
    }
}
