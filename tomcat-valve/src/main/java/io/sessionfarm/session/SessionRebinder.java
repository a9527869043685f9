package io.sessionfarm.session;

import java.io.IOException;
import java.sql.SQLException;
import java.util.concurrent.atomic.LongAdder;

import org.apache.catalina.Session;

import io.sessionfarm.store.SessionMoves;
import io.sessionfarm.store.SessionStore;
import io.sessionfarm.store.StoreGate;

/**
 * Gives a session that another node made or last served this node's {@code jvmRoute} suffix,
 * as Tomcat's {@code JvmRouteBinderValve} does, so that a balancer routing by the suffix keeps it
 * here ({@link RouteBinderValve}). The row moves to the new id and the old id leads to it for a
 * grace, in one transaction: a browser's requests already under way with the old id, on any
 * node, find the session under its new id instead of starting a new one. After the grace the
 * old id is dead everywhere.
 */
final class SessionRebinder {

    /** Moves chained within a grace (node1 died, then node2) are followed this far. */
    private static final int MAX_HOPS = 4;

    final LongAdder rebound = new LongAdder();
    final LongAdder followed = new LongAdder();
    /** A RouteBinderValve runs on this context: the sweep forgets old ids past their grace. */
    volatile boolean inUse;

    private final FarmManager manager;
    private final SessionStore store;
    private final StoreGate gate;
    /** Sticky mode only. */
    private final SessionMoves moves;

    SessionRebinder(FarmManager manager, SessionStore store, StoreGate gate, SessionMoves moves) {
        this.manager = manager;
        this.store = store;
        this.gate = gate;
        this.moves = moves;
    }

    /** {@code base.route} for a Tomcat id {@code base} or {@code base.otherRoute}. */
    static String withRoute(String id, String route) {
        int dot = id.indexOf('.');
        return (dot < 0 ? id : id.substring(0, dot)) + "." + route;
    }

    /**
     * The id a request for {@code requestedId} should carry on the node of {@code route}: the
     * session rebound to it, the id an earlier move led to, or {@code requestedId} as it was
     * (no such session, or the store does not answer: served as it is, rebound by a later request).
     */
    String rebind(String requestedId, String route, long graceMillis) throws IOException {
        inUse = true;
        String newId = withRoute(requestedId, route);
        if (!gate.open()) {
            return requestedId;
        }
        if (newId.equals(requestedId) && moves == null && manager.localCopy(requestedId) != null) {
            // Shared mode, this node's own session held here: Tomcat's lookup checks it anyway,
            // and a second check here would cost every request a read.
            return requestedId;
        }
        Session found = manager.findSession(requestedId);
        try {
            if (!(found instanceof FarmSession session)) {
                // No such session; or moved by another node (after this node died and came back;
                // in sticky mode also while a balancer sent its users elsewhere for a moment,
                // whose move notice makes this node check its copy): follow the move.
                return follow(requestedId);
            }
            if (newId.equals(requestedId)) {
                return requestedId;
            }
            session.checkpointLock.lock();
            try {
                if (!session.getIdInternal().equals(requestedId)) {
                    followed.increment(); // a parallel request on this node moved it a moment ago
                    return session.getIdInternal();
                }
                if (!session.isValid()) {
                    return follow(requestedId); // dropped meanwhile: by a parallel request that found it moved, or ended
                }
                if (session.isStored() && !store.rebind(requestedId, newId, graceMillis)) {
                    // Another node moved it first, or it ended: this copy is stale.
                    gate.succeeded();
                    manager.goneElsewhere(session);
                    return follow(requestedId);
                }
                gate.succeeded();
                manager.reboundInMemory(session, newId);
                rebound.increment();
                if (moves != null) {
                    // Sticky mode: a live node that still trusts a copy under the old id checks it
                    // (and finds it moved) before it serves it again.
                    try {
                        moves.announce(requestedId);
                    } catch (SQLException e) {
                        gate.failed(e); // the session has moved: this request carries it on
                    }
                }
                return newId;
            } finally {
                session.checkpointLock.unlock();
            }
        } catch (SQLException e) {
            gate.failed(e);
            return requestedId;
        }
    }

    /** Where the moves from {@code requestedId} within their grace lead, or {@code requestedId}. */
    private String follow(String requestedId) throws SQLException {
        String id = requestedId;
        for (int hop = 0; hop < MAX_HOPS; hop++) {
            String movedTo = store.movedTo(id);
            if (movedTo == null) {
                break;
            }
            id = movedTo;
        }
        gate.succeeded();
        if (!id.equals(requestedId)) {
            followed.increment();
        }
        return id;
    }
}
