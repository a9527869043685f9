package io.sessionfarm.session;

import java.util.concurrent.atomic.AtomicBoolean;

import org.apache.juli.logging.Log;

/**
 * Degraded mode. After a store failure, request threads stop calling the store for a short
 * back-off and serve from memory; the background poller keeps probing. The log says once that
 * the store is down and once that it is back.
 */
final class StoreGate {

    static final long BACKOFF_MILLIS = 1000;

    private final Log log;
    private final String name;
    private final AtomicBoolean down = new AtomicBoolean();
    private volatile long retryAt;

    StoreGate(Log log, String name) {
        this.log = log;
        this.name = name;
    }

    /** Whether a request thread should try the store now. */
    boolean open() {
        return !down.get() || System.currentTimeMillis() >= retryAt;
    }

    boolean isDown() {
        return down.get();
    }

    void failed(Exception e) {
        retryAt = System.currentTimeMillis() + BACKOFF_MILLIS;
        if (down.compareAndSet(false, true)) {
            log.warn(FarmManager.messages.getString("farmManager.storeDown", name, e.getMessage()));
        } else if (log.isDebugEnabled()) {
            log.debug(FarmManager.messages.getString("farmManager.storeStillDown", name, e.getMessage()));
        }
    }

    void succeeded() {
        if (down.compareAndSet(true, false)) {
            log.info(FarmManager.messages.getString("farmManager.storeBack", name));
        }
    }
}
