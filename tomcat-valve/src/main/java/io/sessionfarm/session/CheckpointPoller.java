package io.sessionfarm.session;

import java.sql.SQLException;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import org.apache.catalina.Session;

import io.sessionfarm.session.CheckpointPolicy.Trigger;
import io.sessionfarm.store.SessionStore;
import io.sessionfarm.store.StoreGate;

/**
 * The work between requests, every {@link CheckpointPolicy#POLL_SECONDS}: interval checkpoints of
 * idle sessions, checkpoints owed while the store was down, and deletes owed likewise (an ended
 * session's row is deleted here too, or owed). While the store is down it only probes it, once per
 * back-off.
 */
final class CheckpointPoller {

    private final FarmManager manager;
    private final SessionStore store;
    private final Checkpointer checkpointer;
    private final CheckpointPolicy policy;
    private final StoreGate gate;
    private final Set<String> pendingDeletes = ConcurrentHashMap.newKeySet();

    CheckpointPoller(FarmManager manager, SessionStore store, Checkpointer checkpointer, CheckpointPolicy policy,
            StoreGate gate) {
        this.manager = manager;
        this.store = store;
        this.checkpointer = checkpointer;
        this.policy = policy;
        this.gate = gate;
    }

    void poll() {
        try {
            if (!gate.usable(store::ping)) {
                return;
            }
            long now = System.currentTimeMillis();
            for (Session session : manager.findSessions()) {
                if (session instanceof FarmSession farmSession && farmSession.isLive()) {
                    if (farmSession.owed()) {
                        checkpointer.checkpoint(farmSession, Trigger.RETRY, now, false);
                    } else if (policy.dueByTime(farmSession, now) != null) {
                        checkpointer.checkpoint(farmSession, Trigger.INTERVAL, now, false);
                    }
                }
            }
            for (String id : pendingDeletes) {
                store.delete(id);
                pendingDeletes.remove(id);
            }
        } catch (SQLException e) {
            gate.failed(e);
        } catch (RuntimeException e) {
            manager.log().error(FarmManager.messages.getString("farmManager.pollFailed", manager.appName()), e);
        }
    }

    /** Deletes a session's row now, or, while the store is down, at the next poll that finds it up. */
    void delete(String id) {
        try {
            store.delete(id);
            gate.succeeded();
        } catch (SQLException e) {
            gate.failed(e);
            deleteLater(id);
        }
    }

    /** A row whose delete failed: deleted by the next poll that finds the store up. */
    void deleteLater(String id) {
        pendingDeletes.add(id);
    }
}
