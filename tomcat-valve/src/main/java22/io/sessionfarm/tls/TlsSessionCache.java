package io.sessionfarm.tls;

import java.security.GeneralSecurityException;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;

import javax.crypto.SecretKey;

import org.apache.juli.logging.Log;
import org.apache.juli.logging.LogFactory;
import org.apache.tomcat.util.res.StringManager;

import io.sessionfarm.keys.Aead;
import io.sessionfarm.keys.KeyRing;
import io.sessionfarm.keys.Sha256;
import io.sessionfarm.store.Daemons;
import io.sessionfarm.store.StoreGate;

/**
 * One connector's TLS session cache: a bounded in-memory tier ({@link LocalTier}) in front of
 * {@code sessionfarm_tls_session}, where sessions are sealed under the farm's ring.
 * <p>
 * OpenSSL cannot pause a handshake while a lookup runs, so a lookup that misses the local tier
 * waits at most {@code lookupTimeout} for the store, on a thread of its own, and a slow, failed or
 * refused lookup is a miss: a full handshake. A new session is written before its id leaves the
 * node, waiting at most as long. While the store is down, handshakes do not wait for it at all.
 */
final class TlsSessionCache {

    /** nginx's cap on one serialized session; larger ones (long certificate chains) are not shared. */
    static final int MAX_SESSION_BYTES = 8192;

    /** Why a stored session could not be used. */
    enum Unreadable { UNKNOWN_KEY, NOT_SEALED_BY_FARM, NOT_A_SESSION }

    private static final Log log = LogFactory.getLog(TlsSessionCache.class);
    private static final StringManager sm = StringManager.getManager(TlsSessionCache.class);

    /** {@code written}: completed once the writer has tried to store the session. */
    private record NewSession(byte[] id, byte[] der, long ttlMillis, CompletableFuture<Void> written) {
    }

    private final TlsSettings settings;
    private final String connector;
    private final TlsKeySource keys;
    private final StoreGate gate;
    private final LocalTier local;
    private final FarmTlsStats stats;

    private volatile TlsSessionStore store;
    private volatile long lastCleanup;
    private volatile long lastUnreadableWarning;
    private ThreadPoolExecutor lookups;
    private ThreadPoolExecutor writes;
    /** New sessions waiting for the writer, which takes them many to a statement. */
    private final BlockingQueue<NewSession> unwritten = new ArrayBlockingQueue<>(10_000);
    private final AtomicBoolean flushQueued = new AtomicBoolean();

    TlsSessionCache(TlsSettings settings, String connector, TlsKeySource keys, StoreGate gate, LocalTier local,
            FarmTlsStats stats) {
        this.settings = settings;
        this.connector = connector;
        this.keys = keys;
        this.gate = gate;
        this.local = local;
        this.stats = stats;
    }

    void start() {
        lookups = pool("lookup", 4, 1000);
        writes = pool("write", 1, 100);
    }

    /** The store to use from now on; called once the farm's ring is joined. */
    void connected(TlsSessionStore store) {
        this.store = store;
    }

    /** For the connector's maintenance task: removes expired rows now and then, and checks the store answers. */
    void maintainStore() throws SQLException {
        long now = System.currentTimeMillis();
        if (now - lastCleanup > 60_000) {
            lastCleanup = now;
            store.deleteExpired();
        }
        store.ping();
    }

    /** Sessions made in the last moments are written before this returns (and before the pool closes). */
    void stop() {
        Daemons.stop(lookups);
        Daemons.stop(writes);
    }

    /**
     * A new session: into the local tier (unless single use), and into the store before the client
     * learns its id, so that the next node the client reaches can find it: OpenSSL sends the id
     * (TLS 1.2's Finished, TLS 1.3's ticket) after this callback returns. The wait is bounded by
     * {@code lookupTimeout}; a slower write finishes behind the handshake.
     */
    void sessionCreated(FarmTls.Binding binding, byte[] sessionId, byte[] der, long timeoutSeconds) {
        byte[] id = Sha256.of(binding.namespace(), sessionId);
        long ttl = Math.min(timeoutSeconds, settings.ticketKeyRotationSeconds()) * 1000;
        if (!binding.singleUse()) {
            local.put(id, der, System.currentTimeMillis() + ttl);
        }
        if (!gate.open() || !keys.joined()) {
            stats.writesDropped(1);
            return;
        }
        NewSession session = new NewSession(id, der, ttl, new CompletableFuture<>());
        if (!unwritten.offer(session)) {
            stats.writesDropped(1);
            return;
        }
        if (flushQueued.compareAndSet(false, true)) {
            try {
                writes.execute(this::flush);
            } catch (RejectedExecutionException e) {
                flushQueued.set(false); // stopping
                return;
            }
        }
        try {
            session.written().get(settings.lookupTimeoutMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException | ExecutionException e) {
            stats.writeLate();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Writes the sessions handshakes left in the queue, up to 500 to a statement: under load one
     * round trip and one commit carry many sessions (a TLS 1.3 resumption makes a new one each time).
     */
    private void flush() {
        flushQueued.set(false); // first: a session queued from now on queues another flush
        List<NewSession> batch = new ArrayList<>();
        while (unwritten.drainTo(batch, 500) > 0) {
            try {
                KeyRing.Key key = keys.sealingKey(batch.size());
                SecretKey cacheKey = TlsKeySource.cacheKey(key.secret());
                List<TlsSessionStore.Sealed> sealed = new ArrayList<>(batch.size());
                for (NewSession session : batch) {
                    byte[] blob = Aead.seal(cacheKey, session.id(), session.der());
                    sealed.add(new TlsSessionStore.Sealed(session.id(), blob, session.ttlMillis()));
                }
                store.putAll(key.id(), sealed);
                stats.sessionsStored(batch.size());
            } catch (SQLException e) {
                stats.writesDropped(batch.size());
                gate.failed(e);
            } catch (GeneralSecurityException | RuntimeException e) {
                stats.writesDropped(batch.size());
                log.warn(sm.getString("tlsSessionCache.notStored", Integer.toString(batch.size()), connector,
                        e.getMessage()));
            } finally {
                batch.forEach(session -> session.written().complete(null));
            }
            batch.clear();
        }
    }

    /** The session's DER bytes, or null for a full handshake. */
    byte[] lookup(FarmTls.Binding binding, byte[] sessionId) {
        byte[] id = Sha256.of(binding.namespace(), sessionId);
        if (!binding.singleUse()) {
            byte[] hit = local.get(id, System.currentTimeMillis());
            if (hit != null) {
                stats.localHit();
                return hit;
            }
        }
        TlsSessionStore.Row row = read(id, binding.singleUse());
        if (row == null) {
            return null;
        }
        SecretKey key = keys.ringKey(row.keyId());
        if (key == null) {
            unreadable(Unreadable.UNKNOWN_KEY);
            return null;
        }
        byte[] der;
        try {
            der = Aead.open(TlsKeySource.cacheKey(key), id, row.blob(), 0, row.blob().length);
        } catch (GeneralSecurityException e) {
            unreadable(Unreadable.NOT_SEALED_BY_FARM);
            return null;
        }
        stats.storeHit();
        if (!binding.singleUse()) {
            // OpenSSL still checks the session's own lifetime on every use
            local.put(id, der.clone(), System.currentTimeMillis() + settings.ticketKeyRotationSeconds() * 1000);
        }
        return der;
    }

    /** The stored row, or null (counted as a miss or an error) if there is none to be had in time. */
    private TlsSessionStore.Row read(byte[] id, boolean singleUse) {
        TlsSessionStore.Row row;
        TlsSessionStore current = store;
        if (!gate.open() || current == null) {
            stats.miss();
            return null;
        }
        long started = System.nanoTime();
        try {
            Future<TlsSessionStore.Row> read = lookups.submit(() -> {
                try {
                    return singleUse ? current.take(id) : current.get(id);
                } catch (SQLException e) {
                    gate.failed(e); // even after this handshake gave up: the next ones skip the store
                    throw e;
                }
            });
            row = read.get(settings.lookupTimeoutMillis(), TimeUnit.MILLISECONDS);
            stats.storeLookup(System.nanoTime() - started);
        } catch (TimeoutException | RejectedExecutionException e) {
            stats.error(); // the read finishes on its own thread; this handshake does not wait
            return null;
        } catch (ExecutionException e) {
            stats.error();
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
        if (row == null) {
            stats.miss();
        }
        return row;
    }

    /** A stored session that cannot be used: counted, warned about at most once a minute, a full handshake. */
    void unreadable(Unreadable why) {
        long count = stats.unreadable();
        long now = System.currentTimeMillis();
        if (now - lastUnreadableWarning > 60_000) {
            lastUnreadableWarning = now;
            String soFar = Long.toString(count);
            log.warn(switch (why) {
                case UNKNOWN_KEY -> sm.getString("tlsSessionCache.unknownKey", connector, soFar);
                case NOT_SEALED_BY_FARM -> sm.getString("tlsSessionCache.notSealedByFarm", connector, soFar);
                case NOT_A_SESSION -> sm.getString("tlsSessionCache.notASession", connector, soFar);
            });
        }
    }

    private ThreadPoolExecutor pool(String role, int threads, int queue) {
        return new ThreadPoolExecutor(threads, threads, 60, TimeUnit.SECONDS, new ArrayBlockingQueue<>(queue),
                Daemons.named("sessionfarm-tls-" + connector + "-" + role), new ThreadPoolExecutor.AbortPolicy());
    }
}
