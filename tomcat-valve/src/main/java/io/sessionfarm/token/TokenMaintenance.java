package io.sessionfarm.token;

import java.sql.SQLException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

import org.apache.juli.logging.Log;
import org.apache.tomcat.util.res.StringManager;

import io.sessionfarm.keys.KeyRing;
import io.sessionfarm.session.SessionFarm;
import io.sessionfarm.store.Daemons;
import io.sessionfarm.store.StoreGate;

/**
 * The token valve's background thread: rotates the token keys when due, deletes families and
 * hand-off codes that can no longer be used, and, every second, lets the outage memory probe the
 * store and catch up.
 */
final class TokenMaintenance {

    private static final StringManager sm = StringManager.getManager(TokenMaintenance.class);
    private static final long CLEANUP_MILLIS = 60_000;

    private final TokenSettings settings;
    private final TokenStore store;
    private final KeyRing ring;
    private final OutageMemory memory;
    private final StoreGate gate;
    private final SessionFarm farm;
    private final Log log;
    private final String app;
    private ScheduledExecutorService executor;
    private long lastCleanup;

    TokenMaintenance(TokenSettings settings, TokenStore store, KeyRing ring, OutageMemory memory, StoreGate gate,
            SessionFarm farm, Log log, String app) {
        this.settings = settings;
        this.store = store;
        this.ring = ring;
        this.memory = memory;
        this.gate = gate;
        this.farm = farm;
        this.log = log;
        this.app = app;
    }

    /** @param tickMillis how often the key ring and the tables are looked after */
    void start(long tickMillis) {
        executor = Executors.newSingleThreadScheduledExecutor(Daemons.named("sessionfarm-tokens-" + app));
        executor.scheduleWithFixedDelay(this::maintain, tickMillis, tickMillis, TimeUnit.MILLISECONDS);
        executor.scheduleWithFixedDelay(memory::catchUp, 1, 1, TimeUnit.SECONDS);
    }

    void stop() {
        Daemons.stop(executor);
    }

    private void maintain() {
        if (!gate.open()) {
            return; // the outage memory probes the store meanwhile
        }
        try {
            ring.rotateIfDue();
            long now = System.currentTimeMillis();
            if (now - lastCleanup >= CLEANUP_MILLIS) {
                store.deleteExpired(settings.idleMillis() + settings.graceMillis(), settings.absoluteMillis());
                memory.forgetExpired(now - farm.getClockSkewMillis(), settings.absoluteMillis());
                lastCleanup = now;
            }
            gate.succeeded();
        } catch (SQLException e) {
            gate.failed(e);
        } catch (RuntimeException e) {
            log.error(sm.getString("tokenMaintenance.failed", app), e);
        }
    }
}
