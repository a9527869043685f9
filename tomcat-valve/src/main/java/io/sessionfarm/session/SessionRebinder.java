package io.sessionfarm.session;

import java.io.IOException;
import java.sql.SQLException;
import java.util.concurrent.atomic.LongAdder;

import org.apache.catalina.Session;

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

    final LongAdder rebound = new LongAdder();
    final LongAdder followed = new LongAdder();

    private final FarmManager manager;
    private final SessionStore store;
    private final StoreGate gate;

    SessionRebinder(FarmManager manager, SessionStore store, StoreGate gate) {
        this.manager = manager;
        this.store = store;
        this.gate = gate;
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
        String newId = withRoute(requestedId, route);
        if (newId.equals(requestedId) || !gate.open()) {
            return requestedId;
        }
        Session found = manager.findSession(requestedId);
        try {
            if (!(found instanceof FarmSession session)) {
                return followed(requestedId);
            }
            session.checkpointLock.lock();
            try {
                if (!session.getIdInternal().equals(requestedId)) {
                    followed.increment(); // a parallel request on this node moved it a moment ago
                    return session.getIdInternal();
                }
                if (!session.isValid()) {
                    return followed(requestedId); // dropped meanwhile: by a parallel request that found it moved, or ended
                }
                if (session.isStored() && !store.rebind(requestedId, newId, graceMillis)) {
                    // Another node moved it first, or it ended: this copy is stale.
                    gate.succeeded();
                    manager.goneElsewhere(session);
                    return followed(requestedId);
                }
                gate.succeeded();
                manager.reboundInMemory(session, newId);
                rebound.increment();
                return newId;
            } finally {
                session.checkpointLock.unlock();
            }
        } catch (SQLException e) {
            gate.failed(e);
            return requestedId;
        }
    }

    private String followed(String requestedId) throws SQLException {
        String movedTo = store.movedTo(requestedId);
        gate.succeeded();
        if (movedTo == null) {
            return requestedId;
        }
        followed.increment();
        return movedTo;
    }
}
