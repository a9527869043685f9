package io.sessionfarm.session;

import java.sql.SQLException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.atomic.LongAdder;

import org.apache.juli.logging.Log;

import io.sessionfarm.keys.Sha256;
import io.sessionfarm.store.SessionStore;
import io.sessionfarm.store.SessionStore.ExpiredSession;
import io.sessionfarm.store.StoreGate;
import io.sessionfarm.store.StoredSession;
import io.sessionfarm.store.StoredSession.Stamp;

/**
 * Expiry, exactly once across the farm: a session expires on the node that removes its row, by
 * the database's clock, and only that node fires its listeners. Idle local copies ask the store
 * first (another node may have kept the session alive); a periodic sweep removes the rows whose
 * sessions no node holds.
 */
final class ExpirySweeper {

    /** Expired sessions taken per sweep batch. */
    static final int BATCH = 500;
    /** Batches per sweep: a backlog of expired sessions drains over several sweeps instead of hogging the node. */
    static final int ROUNDS = 2;

    private final FarmManager manager;
    private final SessionStore store;
    private final AttributeCodec codec;
    private final StoreGate gate;
    private final ExecutorService executor;
    private final Log log;
    private final Set<String> inFlight = ConcurrentHashMap.newKeySet();
    final LongAdder expiredBySweep = new LongAdder();

    private final SessionRebinder rebinder;

    ExpirySweeper(FarmManager manager, SessionStore store, AttributeCodec codec, StoreGate gate,
            ExecutorService executor, SessionRebinder rebinder) {
        this.manager = manager;
        this.rebinder = rebinder;
        this.store = store;
        this.codec = codec;
        this.gate = gate;
        this.executor = executor;
        this.log = manager.log();
    }

    /** A local copy went idle (seen on Tomcat's background thread): the store decides, off that thread. */
    void idleTimeout(FarmSession session) {
        String id = session.getIdInternal();
        if (executor.isShutdown() || !inFlight.add(id)) {
            return;
        }
        executor.execute(() -> {
            try {
                expireIdle(session);
            } catch (RuntimeException e) {
                log.error(FarmManager.messages.getString("farmManager.expiryFailed", manager.appName(), Sha256.forLog(id)), e);
            } finally {
                inFlight.remove(id);
            }
        });
    }

    private void expireIdle(FarmSession session) {
        if (!session.isLive()) {
            return;
        }
        if (!session.isStored()) {
            session.expire(true);
            return;
        }
        String id = session.getIdInternal();
        try {
            if (store.deleteIfExpired(id)) {
                session.markStoreRowRemoved();
                session.expire(true); // this node removed the row, so this node fires the listeners
            } else {
                // Not expired by the database's clock: kept alive elsewhere, or this node's idle
                // judgement was early. The copy stays; one that another node has since changed
                // is brought up to date by the next request's check, as an idle copy always is.
                Stamp stamp = store.stamp(id);
                if (stamp == null) {
                    manager.goneElsewhere(session);
                } else if (stamp.version() == session.storedVersion()) {
                    session.accessedElsewhere(stamp.lastAccess(), stamp.expiresAt());
                }
            }
            gate.succeeded();
        } catch (SQLException e) {
            gate.failed(e); // tried again at the next processExpires
        }
    }

    /** Background: removes expired sessions from the store, in batches, and fires their listeners once. */
    void sweep() {
        sweepExpired();
        if (rebinder.inUse) {
            try {
                store.forgetOldMoves(); // old ids of sessions a RouteBinderValve moved, past their grace
                gate.succeeded();
            } catch (SQLException e) {
                gate.failed(e);
            }
        }
    }

    private void sweepExpired() {
        try {
            for (int round = 0; round < ROUNDS; round++) {
                SessionStore.Sweep sweep = store.sweepExpired(BATCH);
                gate.succeeded();
                for (ExpiredSession expired : sweep.taken()) {
                    expireSwept(expired);
                }
                if (sweep.found() < BATCH) {
                    return;
                }
            }
        } catch (SQLException e) {
            gate.failed(e);
        } catch (RuntimeException e) {
            log.error(FarmManager.messages.getString("farmManager.sweepFailed", manager.appName()), e);
        }
    }

    private void expireSwept(ExpiredSession expired) {
        FarmSession session = manager.localCopy(expired.id()) instanceof FarmSession local ? local : rebuilt(expired);
        session.markStoreRowRemoved();
        session.expire(true);
        expiredBySweep.increment();
    }

    /** A session this node never held, rebuilt only so its listeners can see its attributes. */
    private FarmSession rebuilt(ExpiredSession expired) {
        Map<String, StoredSession.StoredAttribute> attributes = new LinkedHashMap<>();
        expired.attributes().forEach((name, value) -> attributes.put(name, new StoredSession.StoredAttribute(1, value)));
        FarmSession session = (FarmSession) manager.createEmptySession();
        session.restore(new StoredSession(expired.id(), 1, expired.createdAt(), expired.lastAccess(),
                expired.maxInactive(), 0, attributes), codec, manager.webappClassLoader());
        return session;
    }
}
