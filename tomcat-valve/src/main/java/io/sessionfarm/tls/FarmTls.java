package io.sessionfarm.tls;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.management.ManagementFactory;
import java.lang.reflect.Method;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;

import javax.crypto.SecretKey;
import javax.management.ObjectName;

import org.apache.juli.logging.Log;
import org.apache.juli.logging.LogFactory;
import org.apache.tomcat.util.net.SSLContext;
import org.apache.tomcat.util.net.SSLHostConfig;
import org.apache.tomcat.util.net.SSLHostConfigCertificate;

import io.sessionfarm.keys.Aead;
import io.sessionfarm.keys.KeyRing;
import io.sessionfarm.keys.MasterKey;
import io.sessionfarm.keys.Sha256;
import io.sessionfarm.store.Daemons;
import io.sessionfarm.store.Database;
import io.sessionfarm.store.StoreGate;

/**
 * One HTTPS connector's share of the farm: its ticket keys, derived from the farm's {@code tls}
 * key ring, and its TLS session cache, a bounded in-memory tier in front of
 * {@code sessionfarm_tls_session}.
 * <p>
 * OpenSSL cannot pause a handshake while a lookup runs, so a lookup that misses the local tier
 * waits at most {@code lookupTimeout} for the store, on a thread of its own, and a slow, failed or
 * refused lookup is a miss: a full handshake. A new session is written before its id leaves the
 * node, waiting at most as long. While the store is down, handshakes do not wait for it at all; a
 * background probe notices its return.
 */
public final class FarmTls implements FarmTlsMXBean {

    /** What the callbacks know of one farm {@code SSL_CTX}. */
    record Binding(FarmTls farm, String host, byte[] namespace, boolean singleUse, boolean statefulTickets) {
    }

    /** nginx's cap on one serialized session; larger ones (long certificate chains) are not shared. */
    static final int MAX_SESSION_BYTES = 8192;
    static final String RING_PURPOSE = "tls";

    private static final Log log = LogFactory.getLog(FarmTls.class);

    private final TlsSettings settings;
    private final String connector;
    private final MasterKey master;
    private final StoreGate gate;
    private final long rotationMillis;

    private volatile Database database;
    private volatile KeyRing ring;
    private volatile TlsSessionStore store;
    private volatile TicketKeys ticketKeys = TicketKeys.local();
    private volatile Map<Integer, SecretKey> derivedFrom;
    private volatile long lastCleanup;
    private volatile long lastUnreadableWarning;

    private final Map<ByteBuffer, Local> local;
    private ScheduledExecutorService maintenance;
    private ThreadPoolExecutor lookups;
    private ThreadPoolExecutor writes;
    /** New sessions waiting for the writer, which takes them many to a statement. */
    private final BlockingQueue<NewSession> unwritten = new ArrayBlockingQueue<>(10_000);
    private final AtomicBoolean flushQueued = new AtomicBoolean();
    private ObjectName objectName;

    private final LongAdder fullHandshakes = new LongAdder();
    private final LongAdder resumedByTicket = new LongAdder();
    private final LongAdder resumedByCache = new LongAdder();
    private final LongAdder ticketsIssued = new LongAdder();
    private final LongAdder unknownTicketKeys = new LongAdder();
    private final LongAdder localHits = new LongAdder();
    private final LongAdder storeHits = new LongAdder();
    private final LongAdder misses = new LongAdder();
    private final LongAdder errors = new LongAdder();
    private final LongAdder unreadable = new LongAdder();
    private final LongAdder sessionsStored = new LongAdder();
    private final LongAdder writesDropped = new LongAdder();
    private final LongAdder writesLate = new LongAdder();
    private final LongAdder lookupNanos = new LongAdder();
    private final LongAdder storeLookups = new LongAdder();

    private record Local(byte[] der, long expiresAt) {
    }

    /** {@code written}: completed once the writer has tried to store the session. */
    private record NewSession(byte[] id, byte[] der, long ttlMillis, CompletableFuture<Void> written) {
    }

    FarmTls(TlsSettings settings, String connector) {
        this.settings = settings;
        this.connector = connector;
        this.master = MasterKey.load(settings.masterKeyFile(), System::getenv);
        this.rotationMillis = settings.ticketKeyRotationSeconds() * 1000;
        this.gate = new StoreGate(java.util.logging.Logger.getLogger(FarmTls.class.getName()),
                error -> "TLS session store unreachable for connector [" + connector + "] (" + error
                        + "): handshakes go on with the keys and sessions this node holds",
                "TLS session store reachable again for connector [" + connector + "]");
        int capacity = settings.localCacheSize();
        this.local = java.util.Collections.synchronizedMap(new LinkedHashMap<>(16, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<ByteBuffer, Local> eldest) {
                return size() > capacity;
            }
        });
    }

    /**
     * Opens the store and reads the farm's ring. A store that cannot be reached is no reason to
     * refuse HTTPS: the node starts with a ticket key of its own and joins the farm when the store
     * answers. A master key that opens none of the farm's keys is a configuration error and throws.
     */
    void start() throws GeneralSecurityException {
        lookups = pool("lookup", 4, 1000);
        writes = pool("write", 1, 100);
        maintenance = Executors.newSingleThreadScheduledExecutor(Daemons.named("sessionfarm-tls-" + connector + "-maintenance"));
        try {
            connect();
        } catch (SQLException e) {
            gate.failed(e);
        } catch (GeneralSecurityException | RuntimeException e) {
            stop();
            throw e;
        }
        long tick = Math.clamp(rotationMillis / 20, 1000, 10_000);
        maintenance.scheduleWithFixedDelay(this::maintain, tick, tick, TimeUnit.MILLISECONDS);
        try {
            objectName = new ObjectName("io.sessionfarm:type=FarmTls,connector=" + ObjectName.quote(connector));
            ManagementFactory.getPlatformMBeanServer().registerMBean(this, objectName);
        } catch (Exception e) {
            log.warn("FarmTls MBean not registered for connector [" + connector + "]: " + e);
            objectName = null;
        }
        log.info("sessionfarm TLS for connector [" + connector + "]: " + settings);
    }

    private void connect() throws SQLException, GeneralSecurityException {
        Database db = Database.open(settings.jdbcUrl(), settings.username(), settings.password(), settings.migrate(),
                settings.poolSize(), settings.storeTimeoutMillis(), "sessionfarm-tls-" + connector);
        try {
            // A key encrypts for one rotation and decrypts for one more; tickets and stored sessions
            // live at most one rotation (attach() caps the hosts' timeouts), so nothing outlives its key.
            ring = KeyRing.open(db.dataSource(), master, RING_PURPOSE,
                    new KeyRing.Schedule(rotationMillis, Math.min(60_000, rotationMillis / 4), rotationMillis),
                    KeyRing.StoredData.TLS_SESSIONS);
            store = new TlsSessionStore(db.dataSource());
            database = db;
            deriveTicketKeys();
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

    private void maintain() {
        if (!gate.probeDue()) {
            return;
        }
        try {
            if (ring == null) {
                connect();
                log.info("connector [" + connector + "] joined the farm's TLS key ring");
            } else {
                ring.rotateIfDue();
                deriveTicketKeys();
                long now = System.currentTimeMillis();
                if (now - lastCleanup > 60_000) {
                    lastCleanup = now;
                    store.deleteExpired();
                }
                store.ping();
            }
            gate.succeeded();
        } catch (SQLException e) {
            gate.failed(e);
        } catch (GeneralSecurityException | RuntimeException e) {
            log.error("connector [" + connector + "] cannot use the farm's TLS key ring: " + e.getMessage());
        }
    }

    private void deriveTicketKeys() throws GeneralSecurityException {
        Map<Integer, SecretKey> keys = ring.keys();
        if (keys != derivedFrom) {
            ticketKeys = TicketKeys.derive(keys, ring.primary().id());
            derivedFrom = keys;
        }
    }

    void stop() {
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
        Daemons.stop(lookups);
        Daemons.stop(writes);
        if (database != null) {
            database.close();
        }
    }

    /**
     * Joins the farm with each certificate's {@code SSL_CTX} of a shared host, right after Tomcat
     * made it: at start and on every reload of the host's TLS configuration. A local host keeps
     * Tomcat's own behaviour (tickets under a key of this node, no session cache).
     */
    void attach(SSLHostConfig host) {
        String hostName = host.getHostName();
        for (SSLHostConfigCertificate certificate : host.getCertificates(true)) {
            MemorySegment ctx = nativeContext(certificate.getSslContext());
            if (ctx == null) {
                throw new IllegalArgumentException(FarmTlsProtocol.notOpenSsl(connector));
            }
            if (!settings.shared(hostName)) {
                continue;
            }
            try {
                long options = (long) OpenSsl.SSL_CTX_get_options.invokeExact(ctx);
                boolean statefulTickets = (options & OpenSsl.OP_NO_TICKET) != 0;
                String verification = verification(host);
                Binding binding = new Binding(this, hostName, namespace(hostName, certificate, verification),
                        settings.singleUse(hostName), statefulTickets);
                install(ctx, hostName, verification);
                TlsCallbacks.bind(ctx, binding);
            } catch (Throwable t) {
                throw new IllegalStateException("cannot install sessionfarm's TLS callbacks on host [" + hostName
                        + "] of connector [" + connector + "]: " + t, t);
            }
        }
    }

    /**
     * The {@code SSL_CTX} of Tomcat's FFM {@code OpenSSLContext} (its public {@code getSSLContext()},
     * called by name: the class is not on Maven Central to compile against), or null for any other
     * kind of context, such as JSSE's.
     */
    private static MemorySegment nativeContext(SSLContext context) {
        try {
            Method method = context.getClass().getMethod("getSSLContext");
            return method.getReturnType() == MemorySegment.class ? (MemorySegment) method.invoke(context) : null;
        } catch (ReflectiveOperationException | RuntimeException e) {
            return null;
        }
    }

    private void install(MemorySegment ctx, String hostName, String verification) throws Throwable {
        // Tomcat gives every host the session id context "default": a session of one host would
        // resume on another. A context per host name and client verification makes OpenSSL refuse
        // that, for tickets too: a session made where no client certificate was asked for does not
        // resume where one is required, or where other certificate authorities are trusted.
        byte[] sidContext = Sha256.of("sessionfarm host " + hostName.toLowerCase(java.util.Locale.ROOT) + "\0"
                + verification);
        try (Arena arena = Arena.ofConfined()) {
            int ignored = (int) OpenSsl.SSL_CTX_set_session_id_context.invokeExact(ctx,
                    arena.allocateFrom(ValueLayout.JAVA_BYTE, sidContext), sidContext.length);
        }
        OpenSsl.ctrl(ctx, OpenSsl.CTRL_SET_SESS_CACHE_MODE, OpenSsl.SESS_CACHE_SERVER | OpenSsl.SESS_CACHE_NO_INTERNAL);
        OpenSsl.SSL_CTX_sess_set_new_cb.invokeExact(ctx, TlsCallbacks.NEW_SESSION);
        OpenSsl.SSL_CTX_sess_set_get_cb.invokeExact(ctx, TlsCallbacks.GET_SESSION);
        OpenSsl.SSL_CTX_sess_set_remove_cb.invokeExact(ctx, TlsCallbacks.REMOVE_SESSION);
        int ignored = (int) OpenSsl.SSL_CTX_set_tlsext_ticket_key_evp_cb.invokeExact(ctx, TlsCallbacks.TICKET_KEY);
        // RFC 9325: a ticket lives at most half as long as its key (a key lasts two rotations).
        long timeout = (long) OpenSsl.SSL_CTX_get_timeout.invokeExact(ctx);
        long limit = settings.ticketKeyRotationSeconds();
        if (timeout > limit) {
            long previous = (long) OpenSsl.SSL_CTX_set_timeout.invokeExact(ctx, limit);
            log.info("host [" + hostName + "] of connector [" + connector + "]: TLS sessions now live " + limit
                    + " s (ticketKeyRotation) instead of " + previous + " s (sessionTimeout), so no ticket outlives its key");
        }
    }

    /**
     * Sessions of one host, certificate and client verification are found only by the same host,
     * certificate and client verification.
     */
    private static byte[] namespace(String hostName, SSLHostConfigCertificate certificate, String verification) {
        String identity = certificate.getType() + "\0"
                + (certificate.getCertificateFile() != null ? certificate.getCertificateFile()
                        : certificate.getCertificateKeystoreFile() + "#" + certificate.getCertificateKeyAlias());
        return Sha256.of(hostName.toLowerCase(java.util.Locale.ROOT) + "\0" + identity + "\0" + verification);
    }

    /**
     * What a host asks of clients: whether it verifies their certificates, how deep, and against
     * which authorities (by the content of the trust files, so that nodes with the files in other
     * places still agree).
     */
    static String verification(SSLHostConfig host) {
        StringBuilder trusted = new StringBuilder();
        for (String file : new String[] {host.getCaCertificateFile(), host.getCaCertificatePath(), host.getTruststoreFile(),
                host.getCertificateRevocationListFile(), host.getCertificateRevocationListPath()}) {
            trusted.append('\0').append(file == null ? "" : contentOrName(file));
        }
        return host.getCertificateVerification() + "\0" + host.getCertificateVerificationDepth() + trusted;
    }

    private static String contentOrName(String file) {
        try {
            Path path = Path.of(file);
            if (Files.isRegularFile(path)) {
                return java.util.HexFormat.of().formatHex(Sha256.of(Files.readAllBytes(path)));
            }
        } catch (java.io.IOException | RuntimeException e) {
            // unreadable here: its name stands for it
        }
        return file;
    }

    // ---- called by TlsCallbacks, on handshaking threads

    TicketKeys ticketKeys() {
        return ticketKeys;
    }

    /**
     * A new session: into the local tier (unless single use), and into the store before the client
     * learns its id, so that the next node the client reaches can find it: OpenSSL sends the id
     * (TLS 1.2's Finished, TLS 1.3's ticket) after this callback returns. The wait is bounded by
     * {@code lookupTimeout}; a slower write finishes behind the handshake.
     */
    void sessionCreated(Binding binding, byte[] sessionId, byte[] der, long timeoutSeconds) {
        byte[] id = Sha256.of(binding.namespace(), sessionId);
        long ttl = Math.min(timeoutSeconds, settings.ticketKeyRotationSeconds()) * 1000;
        if (!binding.singleUse() && settings.localCacheSize() > 0) {
            local.put(ByteBuffer.wrap(id), new Local(der, System.currentTimeMillis() + ttl));
        }
        if (!gate.open() || ring == null) {
            writesDropped.increment();
            return;
        }
        NewSession session = new NewSession(id, der, ttl, new CompletableFuture<>());
        if (!unwritten.offer(session)) {
            writesDropped.increment();
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
            writesLate.increment();
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
                KeyRing.Key key = ring.sealingKey(batch.size());
                SecretKey cacheKey = cacheKey(key.secret());
                List<TlsSessionStore.Sealed> sealed = new ArrayList<>(batch.size());
                for (NewSession session : batch) {
                    byte[] blob = Aead.seal(cacheKey, session.id(), session.der());
                    sealed.add(new TlsSessionStore.Sealed(session.id(), blob, session.ttlMillis()));
                }
                store.putAll(key.id(), sealed);
                sessionsStored.add(batch.size());
            } catch (SQLException e) {
                writesDropped.add(batch.size());
                gate.failed(e);
            } catch (GeneralSecurityException | RuntimeException e) {
                writesDropped.add(batch.size());
                log.warn(batch.size() + " TLS sessions of connector [" + connector + "] were not stored: " + e.getMessage());
            } finally {
                batch.forEach(session -> session.written().complete(null));
            }
            batch.clear();
        }
    }

    /** The session's DER bytes, or null for a full handshake. */
    byte[] lookup(Binding binding, byte[] sessionId) {
        byte[] id = Sha256.of(binding.namespace(), sessionId);
        if (!binding.singleUse()) {
            Local hit = local.get(ByteBuffer.wrap(id));
            if (hit != null && hit.expiresAt() > System.currentTimeMillis()) {
                localHits.increment();
                return hit.der().clone();
            }
        }
        if (!gate.open() || store == null) {
            misses.increment();
            return null;
        }
        long started = System.nanoTime();
        TlsSessionStore.Row row;
        try {
            Future<TlsSessionStore.Row> read = lookups.submit(() -> {
                try {
                    return binding.singleUse() ? store.take(id) : store.get(id);
                } catch (SQLException e) {
                    gate.failed(e); // even after this handshake gave up: the next ones skip the store
                    throw e;
                }
            });
            row = read.get(settings.lookupTimeoutMillis(), TimeUnit.MILLISECONDS);
            lookupNanos.add(System.nanoTime() - started);
            storeLookups.increment();
        } catch (TimeoutException | RejectedExecutionException e) {
            errors.increment(); // the read finishes on its own thread; this handshake does not wait
            return null;
        } catch (ExecutionException e) {
            errors.increment();
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
        if (row == null) {
            misses.increment();
            return null;
        }
        SecretKey key = ring.find(row.keyId());
        if (key == null) {
            unreadable("it names a key this farm does not have");
            return null;
        }
        byte[] der;
        try {
            der = Aead.open(cacheKey(key), id, row.blob(), 0, row.blob().length);
        } catch (GeneralSecurityException e) {
            unreadable("it does not open under the farm's key: altered, or from another farm");
            return null;
        }
        storeHits.increment();
        if (!binding.singleUse() && settings.localCacheSize() > 0) {
            // OpenSSL still checks the session's own lifetime on every use
            local.put(ByteBuffer.wrap(id), new Local(der.clone(), System.currentTimeMillis() + rotationMillis));
        }
        return der;
    }

    /** The key that seals stored sessions, derived from a ring key that also derives the ticket keys. */
    private static SecretKey cacheKey(SecretKey ringKey) throws GeneralSecurityException {
        return io.sessionfarm.keys.Hkdf.aesKey(ringKey, "sessionfarm tls session cache");
    }

    /** A stored session that cannot be used: counted, warned about at most once a minute, a full handshake. */
    void unreadable(String why) {
        unreadable.increment();
        long now = System.currentTimeMillis();
        if (now - lastUnreadableWarning > 60_000) {
            lastUnreadableWarning = now;
            log.warn("connector [" + connector + "]: a stored TLS session was refused (" + why
                    + "); that client gets a full handshake (" + unreadable.sum() + " so far)");
        }
    }

    void fullHandshake() { fullHandshakes.increment(); }
    void resumedByTicket() { resumedByTicket.increment(); }
    void resumedByCache() { resumedByCache.increment(); }
    void ticketIssued() { ticketsIssued.increment(); }
    void unknownTicketKey() { unknownTicketKeys.increment(); }

    // ---- FarmTlsMXBean

    @Override public long getFullHandshakes() { return fullHandshakes.sum(); }
    @Override public long getResumedByTicket() { return resumedByTicket.sum(); }
    @Override public long getResumedByCache() { return resumedByCache.sum(); }
    @Override public long getTicketsIssued() { return ticketsIssued.sum(); }
    @Override public long getTicketsWithUnknownKey() { return unknownTicketKeys.sum(); }
    @Override public long getCacheLocalHits() { return localHits.sum(); }
    @Override public long getCacheStoreHits() { return storeHits.sum(); }
    @Override public long getCacheMisses() { return misses.sum(); }
    @Override public long getCacheErrors() { return errors.sum(); }
    @Override public long getCacheUnreadable() { return unreadable.sum(); }
    @Override public long getSessionsStored() { return sessionsStored.sum(); }
    @Override public long getSessionWritesDropped() { return writesDropped.sum(); }
    @Override public long getSessionWritesLate() { return writesLate.sum(); }
    @Override public int getLocalCacheEntries() { return local.size(); }
    @Override public boolean getStoreAvailable() { return ring != null && !gate.isDown(); }

    @Override
    public double getStoreLookupMillisAverage() {
        long n = storeLookups.sum();
        return n == 0 ? 0 : lookupNanos.sum() / 1e6 / n;
    }

    @Override
    public long getTicketKeyAgeSeconds() {
        return ring == null ? -1 : ring.primaryAgeMillis() / 1000;
    }

    @Override
    public int getTicketKeys() {
        return ticketKeys.size();
    }

    @Override
    public long getTicketKeyRotations() {
        return ring == null ? 0 : ring.rotations();
    }

    private ThreadPoolExecutor pool(String role, int threads, int queue) {
        return new ThreadPoolExecutor(threads, threads, 60, TimeUnit.SECONDS, new ArrayBlockingQueue<>(queue),
                Daemons.named("sessionfarm-tls-" + connector + "-" + role), new ThreadPoolExecutor.AbortPolicy());
    }
}
