package io.sessionfarm.session;

import java.io.IOException;

import org.apache.catalina.Container;
import org.apache.catalina.Context;
import org.apache.catalina.Engine;
import org.apache.catalina.LifecycleException;
import org.apache.catalina.Session;

import io.sessionfarm.keys.MasterKey;
import io.sessionfarm.store.Database;
import io.sessionfarm.store.StoreGate;
import io.sessionfarm.store.StoredSession.Stamp;

/**
 * What a valve working beside the farm's Manager on the same store (a {@link Companion}, such as
 * the token valve) may use of it. Every method is meant for after the Manager has started and
 * handed itself to the companion.
 */
public interface SessionFarm {

    /**
     * The {@code jvmRoute} of the Engine above {@code container}, for a valve that puts it in a
     * cookie or a session id: letters, digits, _ and -.
     *
     * @throws IllegalArgumentException saying what is there instead ("not set", or the value), for the valve's message
     */
    static String usableJvmRoute(Container container) {
        String route = null;
        for (Container c = container; c != null && route == null; c = c.getParent()) {
            if (c instanceof Engine engine) {
                route = engine.getJvmRoute();
            }
        }
        if (route == null || route.isBlank()) {
            throw new IllegalArgumentException("not set");
        }
        if (!route.matches("[A-Za-z0-9_-]{1,64}")) {
            throw new IllegalArgumentException("[" + route + "]");
        }
        return route;
    }

    /**
     * A valve that works beside the Manager on its store. The Manager finds it in its context's
     * pipeline, calls it when the store is ready, and tells it, on the request's thread, when a
     * session is created, changes its id or ends.
     */
    interface Companion {
        /** The store is open and migrated; a failure here stops the context. */
        void managerStarted(SessionFarm farm) throws LifecycleException;

        /** The store is about to close. */
        void managerStopping();

        void sessionCreated(Session session);

        void sessionIdChanged(Session session, String oldId);

        /** The session ended on this node (invalidated, or expired by this node): farm-wide. */
        void sessionEnded(String sessionId);
    }

    /** The web application the Manager serves. */
    Context getContext();

    /** Host and context path: the key of this webapp's rows, shared by all nodes serving it. */
    String appName();

    /** The farm master key, if one is configured; null if not. */
    MasterKey masterKey();

    /**
     * The store's degraded mode. A companion shares it: once either finds the store down, neither
     * makes request threads wait on it until the background probe finds it back.
     */
    StoreGate storeGate();

    /** The store's database, migrated, with its pool; a companion uses the same pool. */
    Database database();

    /**
     * A companion read this session's stamp at the start of the current request, in the same
     * statement as its own work, so that the Manager need not read it again on this thread. The
     * stamp is null if the session has no row. A null id forgets it (end of request).
     */
    void prefetched(String sessionId, Stamp stamp);

    /**
     * The session with this id, brought up to date with the store, or taken over from it if this
     * node does not hold it; null if there is none.
     */
    Session findSession(String id) throws IOException;

    /** How far this node's clock was ahead of the database's at the last check (negative: behind). */
    long getClockSkewMillis();
}
