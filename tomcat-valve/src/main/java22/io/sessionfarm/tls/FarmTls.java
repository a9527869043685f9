package io.sessionfarm.tls;

import java.lang.management.ManagementFactory;
import java.security.GeneralSecurityException;
import java.sql.SQLException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

import javax.management.ObjectName;

import org.apache.juli.logging.Log;
import org.apache.juli.logging.LogFactory;
import org.apache.tomcat.util.net.SSLHostConfig;
import org.apache.tomcat.util.res.StringManager;

import io.sessionfarm.keys.KeyRing;
import io.sessionfarm.keys.MasterKey;
import io.sessionfarm.store.Daemons;
import io.sessionfarm.store.Database;
import io.sessionfarm.store.StoreGate;

/**
 * One HTTPS connector's share of the farm, from start to stop: its keys ({@link TlsKeySource}),
 * its session cache ({@link TlsSessionCache}), the binding of each host's {@code SSL_CTX}
 * ({@link SslContextBinder}) and its counters ({@link FarmTlsStats}, over JMX). A background task
 * rotates the ring, cleans the store and, while the store is down, notices its return.
 */
final class FarmTls implements TlsSharing {

    /** What the callbacks know of one farm {@code SSL_CTX}. */
    record Binding(FarmTls farm, String host, byte[] namespace, boolean singleUse, boolean statefulTickets) {
    }

    private static final Log log = LogFactory.getLog(FarmTls.class);
    private static final StringManager sm = StringManager.getManager(FarmTls.class);

    private final TlsSettings settings;
    private final String connector;
    private final StoreGate gate;
    private final TlsKeySource keys;
    private final TlsSessionCache cache;
    private final FarmTlsStats stats;
    private final SslContextBinder binder;

    private volatile Database database;
    private ScheduledExecutorService maintenance;
    /** How often the ring and the table are looked after while the store answers (and a ring that failed is retried). */
    private long maintenanceNanos;
    /** System.nanoTime() of the next look: unmoved by wall-clock steps. */
    private long nextMaintenance;
    private boolean ringFailed;
    private ObjectName objectName;

    FarmTls(TlsSettings settings, String connector) {
        this.settings = settings;
        this.connector = connector;
        this.gate = new StoreGate(java.util.logging.Logger.getLogger(FarmTls.class.getName()),
                error -> sm.getString("farmTls.storeDown", connector, error),
                sm.getString("farmTls.storeBack", connector));
        this.keys = new TlsKeySource(MasterKey.load(settings.masterKeyFile(), System::getenv),
                settings.ticketKeyRotationSeconds() * 1000);
        LocalTier local = new LocalTier(settings.localCacheSize());
        this.stats = new FarmTlsStats(keys, gate, local);
        this.cache = new TlsSessionCache(settings, connector, keys, gate, local, stats);
        this.binder = new SslContextBinder(this, settings, connector);
    }

    /**
     * Opens the store and reads the farm's ring. A store that cannot be reached is no reason to
     * refuse HTTPS: the node starts with a ticket key of its own and joins the farm when the store
     * answers. A master key that opens none of the farm's keys is a configuration error and throws.
     */
    @Override
    public void start() throws GeneralSecurityException {
        cache.start();
        maintenance = Executors.newSingleThreadScheduledExecutor(Daemons.named("sessionfarm-tls-" + connector + "-maintenance"));
        try {
            connect();
        } catch (SQLException e) {
            gate.failed(e);
        } catch (GeneralSecurityException | RuntimeException e) {
            stop();
            throw e;
        }
        maintenanceNanos = TimeUnit.MILLISECONDS.toNanos(Math.clamp(settings.ticketKeyRotationSeconds() * 1000 / 20, 1000, 10_000));
        nextMaintenance = System.nanoTime() + maintenanceNanos;
        // Every back-off, so that a store that went away (a failover) is back within a second or two.
        maintenance.scheduleWithFixedDelay(this::maintain, StoreGate.BACKOFF_MILLIS, StoreGate.BACKOFF_MILLIS,
                TimeUnit.MILLISECONDS);
        try {
            objectName = new ObjectName("io.sessionfarm:type=FarmTls,connector=" + ObjectName.quote(connector));
            ManagementFactory.getPlatformMBeanServer().registerMBean(stats, objectName);
        } catch (Exception e) {
            log.warn(sm.getString("farmTls.mbeanFailed", connector, e));
            objectName = null;
        }
        log.info(sm.getString("farmTls.started", connector, settings));
    }

    private void connect() throws SQLException, GeneralSecurityException {
        Database db = settings.store().open("sessionfarm-tls-" + connector);
        try {
            keys.join(db.dataSource());
            cache.connected(new TlsSessionStore(db.dataSource()));
            database = db;
        } catch (KeyRing.Unusable e) {
            db.close();
            if (e.getCause() instanceof SQLException down) {
                throw down; // degraded mode: the maintenance task tries again
            }
            throw new GeneralSecurityException(e.getMessage(), e);
        } catch (GeneralSecurityException | RuntimeException e) {
            db.close();
            throw e;
        }
    }

    /**
     * Looks after the ring and the table when due, and probes a store that is down once per
     * back-off; a ring that could not be used is tried again at the slower pace only.
     */
    private void maintain() {
        long now = System.nanoTime();
        boolean due = gate.isDown() && !ringFailed ? gate.probeDue() : now - nextMaintenance >= 0;
        if (!due) {
            return;
        }
        nextMaintenance = now + maintenanceNanos;
        ringFailed = false;
        try {
            if (!keys.joined()) {
                connect();
                log.info(sm.getString("farmTls.joinedRing", connector));
            } else {
                keys.rotateIfDue();
                cache.maintainStore();
            }
            gate.succeeded();
        } catch (SQLException e) {
            gate.failed(e);
        } catch (GeneralSecurityException | RuntimeException e) {
            ringFailed = true;
            log.error(sm.getString("farmTls.ringUnusable", connector, e.getMessage()));
        }
    }

    @Override
    public void stop() {
        TlsCallbacks.unbindAll(this);
        if (objectName != null) {
            try {
                ManagementFactory.getPlatformMBeanServer().unregisterMBean(objectName);
            } catch (Exception e) {
                // already gone
            }
        }
        // Sessions made in the last moments are written before the pool closes.
        Daemons.stop(maintenance);
        cache.stop();
        if (database != null) {
            database.close();
        }
    }

    /** Joins each certificate's {@code SSL_CTX} of a shared host, right after Tomcat made it. */
    @Override
    public void attach(SSLHostConfig host) {
        binder.attach(host);
    }

    // ---- for TlsCallbacks, on handshaking threads

    TlsKeySource keys() {
        return keys;
    }

    TlsSessionCache cache() {
        return cache;
    }

    FarmTlsStats stats() {
        return stats;
    }
}
