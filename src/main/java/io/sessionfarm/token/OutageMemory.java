package io.sessionfarm.token;

import java.sql.SQLException;
import java.util.HexFormat;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import io.sessionfarm.store.StoreGate;
import io.sessionfarm.token.TokenStore.Family;

/**
 * What one node knows and owes while the store is unreachable, and the catching up once it is
 * back. It knows the newest token it verified for each family, so a token it saw superseded does
 * not pass unchecked; it owes the families it made (written when the store returns) and the
 * revocations of sessions that ended (carried out when it returns).
 */
final class OutageMemory {

    /** Families whose newest token a node remembers: about 100 bytes each. */
    static final int NEWEST_REMEMBERED = 50_000;

    /** A family's newest token as this node saw it; {@code createdAt} on the database's clock. */
    private record Newest(long generation, byte[] tokenId, long createdAt) {
    }

    private final FamilyStore store;
    private final StoreGate gate;
    /** Families made while the store was unreachable, by family id in hex. */
    private final Map<String, Family> owedFamilies = new ConcurrentHashMap<>();
    /** Sessions that ended while the store was unreachable. */
    private final Set<String> owedRevocations = ConcurrentHashMap.newKeySet();
    /**
     * Read and written by every request, so no lock over the whole map; families past their
     * absolute timeout are dropped by {@link #forgetExpired}.
     */
    private final Map<String, Newest> newest = new ConcurrentHashMap<>();

    OutageMemory(FamilyStore store, StoreGate gate) {
        this.store = store;
        this.gate = gate;
    }

    /** A token this node let pass: the newest of its family unless a later generation passed already. */
    void remember(Family row) {
        String key = key(row.family());
        if (newest.size() < NEWEST_REMEMBERED || newest.containsKey(key)) {
            newest.merge(key, new Newest(row.generation(), row.tokenId(), row.createdAt()),
                    (known, seen) -> seen.generation() >= known.generation() ? seen : known);
        }
    }

    /**
     * Whether this node knows that the token opens nothing any more, though the store cannot say:
     * its session ended here, this node saw a later token of its family (or another token of the
     * same generation), or the family is past its absolute timeout.
     */
    boolean knowsBetter(Token token, long databaseNow, long absoluteMillis) {
        Newest known = newest.get(key(token.family()));
        boolean superseded = known != null && (token.generation() < known.generation()
                || token.generation() == known.generation() && !token.sameToken(known.tokenId()));
        return owedRevocations.contains(token.sessionId()) || superseded
                || known != null && databaseNow - known.createdAt() > absoluteMillis;
    }

    /** A family made while the store was down: written when it is back, or when its token is first checked. */
    void owe(Family row) {
        owedFamilies.put(key(row.family()), row);
    }

    /** A session that ended while the store was down: its families are revoked when it is back. */
    void oweRevocation(String sessionId) {
        owedRevocations.add(sessionId);
    }

    /** Revokes the session's families now if this node owed that; whether it did. */
    boolean revokeIfOwed(String sessionId) throws SQLException {
        if (!owedRevocations.contains(sessionId)) {
            return false;
        }
        store.revokeSession(sessionId);
        owedRevocations.remove(sessionId);
        return true;
    }

    /** When the family began (database clock), if this node let one of its tokens pass; 0 if not. */
    long createdAt(byte[] family) {
        Newest known = newest.get(key(family));
        return known == null ? 0 : known.createdAt();
    }

    /** The family's row, written now if this node owed it for that session; null if it owes no such family. */
    Family writeIfOwed(String sessionId, byte[] family) throws SQLException {
        Family owed = owedFamilies.get(key(family));
        return owed == null || !owed.sessionId().equals(sessionId) ? null : write(owed);
    }

    /** Every second: probes the store while it is down, and settles what is owed once it is back. */
    void catchUp() {
        try {
            if (!gate.usable(store::ping)) {
                return;
            }
            for (Family owed : owedFamilies.values()) {
                write(owed);
            }
            for (String sessionId : owedRevocations) {
                revokeIfOwed(sessionId);
            }
            gate.succeeded();
        } catch (SQLException e) {
            gate.failed(e);
        }
    }

    /** Forgets the newest tokens of families past their absolute timeout. */
    void forgetExpired(long databaseNow, long absoluteMillis) {
        newest.values().removeIf(family -> databaseNow - family.createdAt() > absoluteMillis);
    }

    int owedFamilies() {
        return owedFamilies.size();
    }

    /**
     * Requests and the background task may race to write the same family: one writes it, the
     * others then read it. Never written twice: once written, a login may move the family to the
     * session's new id, and a second write would bring it back under the old one.
     */
    private Family write(Family owed) throws SQLException {
        String key = key(owed.family());
        synchronized (owed) {
            if (owedFamilies.get(key) != owed) {
                return store.read(owed.sessionId(), owed.family()); // written meanwhile
            }
            Family written;
            try {
                written = store.create(owed.family(), owed.sessionId(), owed.tokenId(), owed.createdAt());
            } catch (SQLException e) {
                if (!"23505".equals(e.getSQLState())) { // unique violation: an earlier try committed, its answer lost
                    throw e;
                }
                written = store.read(owed.sessionId(), owed.family());
            }
            owedFamilies.remove(key, owed);
            return written;
        }
    }

    private static String key(byte[] family) {
        return HexFormat.of().formatHex(family);
    }
}
