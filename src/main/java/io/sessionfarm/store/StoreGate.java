package io.sessionfarm.store;

import java.sql.SQLException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Function;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Degraded mode. After a store failure, request threads stop calling the store and carry on
 * without it, so that at most the requests in flight when it failed wait for its timeout. A
 * background task probes it once per back-off and reopens the gate when it answers. The log says
 * once that the store is down and once that it is back (through java.util.logging, which Tomcat's
 * JULI routes like its own loggers, so the core needs no Tomcat class).
 */
public final class StoreGate {

    public static final long BACKOFF_MILLIS = 1000;

    private final Logger log;
    private final Function<String, String> downMessage;
    private final String backMessage;
    private final AtomicBoolean down = new AtomicBoolean();
    private volatile long retryAt;

    /**
     * @param downMessage what to log when the store goes down, given the error's message
     * @param backMessage what to log when it is back
     */
    public StoreGate(Logger log, Function<String, String> downMessage, String backMessage) {
        this.log = log;
        this.downMessage = downMessage;
        this.backMessage = backMessage;
    }

    /** Whether a request thread should use the store: not while it is down. */
    public boolean open() {
        return !down.get();
    }

    /** For the background task: whether to try the store now (when down, once per back-off). */
    public boolean probeDue() {
        return !down.get() || System.currentTimeMillis() >= retryAt;
    }

    /** A round trip to the store. */
    @FunctionalInterface
    public interface Ping {
        void run() throws SQLException;
    }

    /**
     * For a background task: whether to use the store now. While it is down, at most once per
     * back-off, {@code ping} probes it, and reopens the gate when it answers.
     *
     * @throws SQLException the probe failed: the caller passes it to {@link #failed}
     */
    public boolean usable(Ping ping) throws SQLException {
        if (!isDown()) {
            return true;
        }
        if (!probeDue()) {
            return false;
        }
        ping.run();
        succeeded();
        return true;
    }

    public boolean isDown() {
        return down.get();
    }

    public void failed(Exception e) {
        retryAt = System.currentTimeMillis() + BACKOFF_MILLIS;
        if (down.compareAndSet(false, true)) {
            log.warning(downMessage.apply(e.getMessage()));
        } else if (log.isLoggable(Level.FINE)) {
            log.fine("still unreachable: " + downMessage.apply(e.getMessage()));
        }
    }

    public void succeeded() {
        if (down.compareAndSet(true, false)) {
            log.info(backMessage);
        }
    }
}
