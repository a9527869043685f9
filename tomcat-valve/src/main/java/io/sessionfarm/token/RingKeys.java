package io.sessionfarm.token;

import java.sql.SQLException;

import javax.crypto.SecretKey;

import io.sessionfarm.keys.KeyRing;
import io.sessionfarm.store.StoreGate;

/**
 * The token keys of the farm's key ring, as tokens are opened with them. An id this node does not
 * know makes it read the ring again ({@link KeyRing#findOrRefresh}: one read at a time, shared by
 * the requests waiting for it, at most two a second for unknown ids), but never while the store is
 * down: then the token is refused at once, or forged cookies would make request threads wait on
 * the pool.
 */
final class RingKeys implements TokenVerifier.Keys {

    private final KeyRing ring;
    private final StoreGate gate;

    RingKeys(KeyRing ring, StoreGate gate) {
        this.ring = ring;
        this.gate = gate;
    }

    @Override
    public SecretKey find(int id) {
        if (!gate.open()) {
            return ring.known(id);
        }
        try {
            return ring.findOrRefresh(id);
        } catch (SQLException e) {
            gate.failed(e);
            return null;
        }
    }

    @Override
    public int primaryId() {
        return ring.primary().id();
    }
}
