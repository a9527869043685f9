package io.sessionfarm.session;

import java.sql.SQLException;

import org.apache.juli.logging.Log;

import io.sessionfarm.store.SessionStore;
import io.sessionfarm.store.StoreGate;

/**
 * Compares this node's clock with the database's. Nothing depends on them agreeing (stored times
 * and expiry follow the database's clock), but a wrong clock is worth a warning: once when it goes
 * beyond the threshold, once when it is back.
 */
final class ClockWatch {

    static final int CHECK_SECONDS = 60;
    static final long WARNING_MILLIS = 2000;

    private final SessionStore store;
    private final StoreGate gate;
    private final Log log;
    private final String app;
    private volatile long skewMillis;
    private boolean warned; // only the Manager's executor checks

    ClockWatch(SessionStore store, StoreGate gate, Log log, String app) {
        this.store = store;
        this.gate = gate;
        this.log = log;
        this.app = app;
    }

    void check() {
        if (!gate.open()) {
            return;
        }
        try {
            long skew = store.clockSkewMillis();
            skewMillis = skew;
            boolean off = Math.abs(skew) > WARNING_MILLIS;
            if (off && !warned) {
                log.warn(FarmManager.messages.getString("farmManager.clockSkew", app, Long.toString(Math.abs(skew)),
                        skew > 0 ? "ahead of" : "behind"));
            } else if (!off && warned) {
                log.info(FarmManager.messages.getString("farmManager.clockBack", app, Long.toString(Math.abs(skew))));
            }
            warned = off;
            gate.succeeded();
        } catch (SQLException e) {
            gate.failed(e);
        }
    }

    /** How far this node's clock was ahead of the database's at the last check (negative: behind). */
    long skewMillis() {
        return skewMillis;
    }
}
