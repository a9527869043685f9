package io.sessionfarm.session;

import java.io.IOException;
import java.sql.SQLException;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;

import javax.naming.InitialContext;
import javax.naming.NamingException;
import javax.sql.DataSource;

import org.apache.catalina.Context;
import org.apache.catalina.LifecycleException;
import org.apache.catalina.LifecycleState;
import org.apache.catalina.Session;
import org.apache.catalina.Valve;
import org.apache.catalina.session.ManagerBase;
import org.apache.juli.logging.Log;
import org.apache.juli.logging.LogFactory;
import org.apache.tomcat.util.res.StringManager;

import io.sessionfarm.config.Attributes;
import io.sessionfarm.keys.MasterKey;
import io.sessionfarm.session.CheckpointPolicy.Trigger;
import io.sessionfarm.session.ManagerSettings.Mode;
import io.sessionfarm.store.Daemons;
import io.sessionfarm.store.Database;
import io.sessionfarm.store.SessionMoves;
import io.sessionfarm.store.SessionStore;
import io.sessionfarm.store.StoreGate;
import io.sessionfarm.store.StoreSettings;
import io.sessionfarm.store.StoredSession.Stamp;

/**
 * A Tomcat {@code <Manager>} that keeps sessions in this node's memory and checkpoints them to
 * PostgreSQL, so that any node of a farm can take over any session.
 *
 * <pre>{@code <Manager className="io.sessionfarm.session.FarmManager"
 *          jdbcUrl="jdbc:postgresql://127.0.0.1:5432/app" username="app" password="..."
 *          checkpointAfterRequests="1"/>}</pre>
 *
 * Setters only store strings; everything is parsed and checked in {@link #startInternal()}, where
 * a bad value — or an attribute this Manager does not know — stops the context.
 */
public class FarmManager extends ManagerBase implements SessionFarm {

    static final StringManager messages = StringManager.getManager(FarmManager.class);

    private static final int MAX_SESSION_ID_LENGTH = 256;

    private final Log log = LogFactory.getLog(FarmManager.class); // per instance: this class lives in lib/

    private final Map<String, String> raw = new ConcurrentHashMap<>();
    private final Attributes.Unknown unknownAttributes = new Attributes.Unknown();

    private ManagerSettings settings;
    private AttributeKeys attributeKeys;
    private Database database;
    private SessionStore store;
    private AttributeCodec codec;
    private Checkpointer checkpointer;
    private SessionLoader loader;
    private CheckpointPoller poller;
    private SessionMoves moves;
    private ExpirySweeper expiry;
    private ClockWatch clock;
    private StoreGate gate;
    private ScheduledThreadPoolExecutor executor;

    private final List<SessionFarm.Companion> companions = new java.util.concurrent.CopyOnWriteArrayList<>();

    private final LongAdder droppedStaleCopies = new LongAdder();
    final AttributeProblems attributeProblems = new AttributeProblems(this);

    // ---- configuration: setters store, startInternal() checks ----------------------------------

    public void setJdbcUrl(String value) { raw.put("jdbcUrl", value); }
    public String getJdbcUrl() { String url = raw.get("jdbcUrl"); return url == null ? null : Attributes.maskUrl(url); }
    public void setUsername(String value) { raw.put("username", value); }
    public String getUsername() { return raw.get("username"); }
    /** Write-only: there is no getter, so JMX and configuration dumps cannot show it. */
    public void setPassword(String value) { raw.put("password", value); }
    public void setDataSourceName(String value) { raw.put("dataSourceName", value); }
    public String getDataSourceName() { return raw.get("dataSourceName"); }
    public void setPoolSize(String value) { raw.put("poolSize", value); }
    public String getPoolSize() { return raw.get("poolSize"); }
    public void setStoreTimeout(String value) { raw.put("storeTimeout", value); }
    public String getStoreTimeout() { return raw.get("storeTimeout"); }
    public void setCheckpointOnCreate(String value) { raw.put("checkpointOnCreate", value); }
    public String getCheckpointOnCreate() { return raw.get("checkpointOnCreate"); }
    public void setCheckpointInterval(String value) { raw.put("checkpointInterval", value); }
    public String getCheckpointInterval() { return raw.get("checkpointInterval"); }
    public void setCheckpointAfterUpdates(String value) { raw.put("checkpointAfterUpdates", value); }
    public String getCheckpointAfterUpdates() { return raw.get("checkpointAfterUpdates"); }
    public void setCheckpointAfterRequests(String value) { raw.put("checkpointAfterRequests", value); }
    public String getCheckpointAfterRequests() { return raw.get("checkpointAfterRequests"); }
    public void setMode(String value) { raw.put("mode", value); }
    public String getMode() { return raw.get("mode"); }
    public void setConflictPolicy(String value) { raw.put("conflictPolicy", value); }
    public String getConflictPolicy() { return raw.get("conflictPolicy"); }
    public void setAllowedClasses(String value) { raw.put("allowedClasses", value); }
    public String getAllowedClasses() { return raw.get("allowedClasses"); }
    public void setExpirySweepInterval(String value) { raw.put("expirySweepInterval", value); }
    /** The farm master key, which encrypts attribute values at rest; without it, SESSIONFARM_MASTER_KEY. */
    public void setMasterKeyFile(String value) { raw.put("masterKeyFile", value); }
    public String getMasterKeyFile() { return raw.get("masterKeyFile"); }
    /** false: the node's role may not change the schema, so it only checks that it is current. */
    public void setMigrate(String value) { raw.put("migrate", value); }
    public String getMigrate() { return raw.get("migrate"); }
    public String getExpirySweepInterval() { return raw.get("expirySweepInterval"); }

    /**
     * Tomcat's digester calls this for an attribute with no setter. Such an attribute is almost
     * always a typo; it is remembered so that start can refuse it instead of ignoring it.
     */
    public boolean setProperty(String name, String value) {
        return unknownAttributes.add(name);
    }

    // ---- lifecycle -----------------------------------------------------------------------------

    /** Installs the checkpoint valve as soon as the Manager joins its context, ahead of any authenticator. */
    @Override
    public void setContext(Context context) {
        super.setContext(context);
        if (context != null) {
            for (Valve valve : context.getPipeline().getValves()) {
                if (valve instanceof CheckpointValve) {
                    return;
                }
            }
            context.getPipeline().addValve(new CheckpointValve());
        }
    }

    @Override
    protected void startInternal() throws LifecycleException {
        super.startInternal();
        settings = configured();
        try {
            database = openDatabase();
        } catch (SQLException | NamingException e) {
            throw new LifecycleException(messages.getString("farmManager.storeUnreachable", appName(),
                    settings.store().where(), settings.store().username(), e.getMessage()), e);
        }
        gate = new StoreGate(java.util.logging.Logger.getLogger(FarmManager.class.getName()),
                error -> messages.getString("farmManager.storeDown", appName(), error),
                messages.getString("farmManager.storeBack", appName()));
        try {
            attributeKeys = AttributeKeys.start(raw.get("masterKeyFile"), database, appName(), log);
        } catch (LifecycleException e) {
            database.close();
            throw e;
        }
        store = new SessionStore(database.dataSource(), appName(), attributeKeys.sealer());
        codec = new AttributeCodec(settings.deserializationFilter());
        checkpointer = new Checkpointer(this, store, codec, settings.conflictPolicy(), gate);
        executor = newExecutor();
        if (settings.mode() == Mode.STICKY) {
            moves = new SessionMoves(database::connectionOfItsOwn, database.dataSource(), appName(),
                    java.util.UUID.randomUUID().toString(), new MoveHearing(log, appName()));
            moves.start();
            SessionMoves notices = moves;
            every(60, 60, () -> notices.prune(System.currentTimeMillis()));
        }
        loader = new SessionLoader(this, store, checkpointer, codec, gate, settings.mode(), moves);
        poller = new CheckpointPoller(this, store, checkpointer, settings.policy(), gate);
        expiry = new ExpirySweeper(this, store, codec, gate, executor);
        clock = new ClockWatch(store, gate, log, appName());
        clock.check();
        every(ClockWatch.CHECK_SECONDS, ClockWatch.CHECK_SECONDS, clock::check);
        every(CheckpointPolicy.POLL_SECONDS, CheckpointPolicy.POLL_SECONDS, poller::poll);
        every(AttributeKeys.CHECK_SECONDS, AttributeKeys.CHECK_SECONDS, () -> attributeKeys.rotateIfDue(gate, log));
        long sweep = settings.expirySweepSeconds();
        // Nodes start together; a random first delay spreads their sweeps apart.
        every(ThreadLocalRandom.current().nextLong(1, sweep + 1), sweep, expiry::sweep);
        log.info(messages.getString("farmManager.started", appName(), settings, settings.policy().lossBound()));
        for (Valve valve : getContext().getPipeline().getValves()) {
            if (valve instanceof SessionFarm.Companion companion) {
                try {
                    companion.managerStarted(this);
                } catch (LifecycleException | RuntimeException e) {
                    executor.shutdownNow();
                    closeMoves();
                    database.close();
                    throw e;
                }
                companions.add(companion);
            }
        }
        setState(LifecycleState.STARTING);
    }

    private ManagerSettings configured() throws LifecycleException {
        if (!unknownAttributes.names().isEmpty()) {
            throw new LifecycleException(messages.getString("farmManager.unknownAttribute", appName(),
                    unknownAttributes.names(), new java.util.TreeSet<>(ManagerSettings.ATTRIBUTES)));
        }
        try {
            return ManagerSettings.parse(raw);
        } catch (IllegalArgumentException e) {
            throw new LifecycleException(messages.getString("farmManager.badConfiguration", appName(), e.getMessage()));
        }
    }

    /** The farm master key, if one is configured: the token valve uses it when it names none of its own. */
    public MasterKey masterKey() {
        return attributeKeys == null ? null : attributeKeys.master();
    }

    /** A pool of its own, or the context's JNDI DataSource (looked up as the webapp would). */
    private Database openDatabase() throws SQLException, NamingException {
        StoreSettings store = settings.store();
        if (store.dataSourceName() == null) {
            return store.open("sessionfarm-" + appName().replaceAll("[^A-Za-z0-9.]+", "-"));
        }
        Context context = getContext();
        ClassLoader previous = context.bind(false, null);
        try {
            javax.naming.Context env = (javax.naming.Context) new InitialContext().lookup("java:comp/env");
            return Database.of((DataSource) env.lookup(store.dataSourceName()), store.migrate());
        } finally {
            context.unbind(false, previous);
        }
    }

    private void every(long firstSeconds, long seconds, Runnable task) {
        executor.scheduleWithFixedDelay(task, firstSeconds, seconds, TimeUnit.SECONDS);
    }

    private ScheduledThreadPoolExecutor newExecutor() {
        ScheduledThreadPoolExecutor pool = new ScheduledThreadPoolExecutor(2, Daemons.named("sessionfarm-" + appName()));
        pool.setRemoveOnCancelPolicy(true);
        pool.setExecuteExistingDelayedTasksAfterShutdownPolicy(false);
        return pool;
    }

    @Override
    protected void stopInternal() throws LifecycleException {
        setState(LifecycleState.STOPPING);
        companions.forEach(SessionFarm.Companion::managerStopping);
        companions.clear();
        Daemons.stop(executor);
        closeMoves();
        if (checkpointer != null) {
            // Leaving the farm is not expiring: sessions stay in the store for the other nodes.
            int owed = checkpointer.checkpointAll(findSessions(), Trigger.STOP);
            if (owed > 0) {
                log.warn(messages.getString("farmManager.stoppedOwing", appName(), Integer.valueOf(owed)));
            }
        }
        sessions.clear();
        if (database != null) {
            database.close();
            database = null;
        }
        super.stopInternal();
    }

    private void closeMoves() {
        if (moves != null) {
            moves.close();
            moves = null;
        }
    }

    /** Sessions live in the store; there is nothing to load or unload at restart. */
    @Override
    public void load() {
    }

    @Override
    public void unload() {
    }

    // ---- sessions ------------------------------------------------------------------------------

    @Override
    public Session createSession(String sessionId) {
        Session session = super.createSession(sessionId);
        String tls = CheckpointValve.tlsOfCurrentRequest();
        if (tls != null) {
            session.getSession().setAttribute(CheckpointValve.TLS_CREATED_UNDER_ATTRIBUTE, tls);
        }
        for (SessionFarm.Companion companion : companions) {
            companion.sessionCreated(session);
        }
        return session;
    }

    @Override
    public Session createEmptySession() {
        return new FarmSession(this);
    }

    /**
     * The local copy brought up to date with the store (in shared mode, or after it idled here);
     * otherwise the stored session (takeover after a node died or a balancer moved the client).
     */
    @Override
    public Session findSession(String id) throws IOException {
        if (id == null || id.length() > MAX_SESSION_ID_LENGTH) {
            return null;
        }
        return loader == null ? super.findSession(id) : loader.find(id);
    }

    /** This node's copy, as it is. */
    Session localCopy(String id) {
        return sessions.get(id);
    }

    /**
     * A companion read this session's stamp at the start of the current request, in the same
     * statement as its own work, so the shared-mode version check need not read it again. The
     * stamp is null if the session has no row. A null id forgets it (end of request).
     */
    public void prefetched(String sessionId, Stamp stamp) {
        if (sessionId == null) {
            SessionLoader.forgetPrefetched();
        } else if (loader != null) {
            loader.prefetched(sessionId, stamp);
        }
    }

    /** The session was invalidated, expired or renamed on another node: forget this copy quietly. */
    void goneElsewhere(FarmSession session) {
        session.setValid(false);
        remove(session);
        droppedStaleCopies.increment();
    }

    @Override
    protected void changeSessionId(Session session, String newId, boolean notifySessionListeners,
            boolean notifyContainerListeners) {
        String oldId = session.getIdInternal();
        if (session instanceof FarmSession farmSession && checkpointer != null) {
            // No checkpoint may run between the new id in memory and the row's move: it would find
            // no row under the new id and take the session for gone.
            farmSession.checkpointLock.lock();
            try {
                super.changeSessionId(session, newId, notifySessionListeners, notifyContainerListeners);
                checkpointer.renamed(farmSession, oldId, newId);
            } finally {
                farmSession.checkpointLock.unlock();
            }
        } else {
            super.changeSessionId(session, newId, notifySessionListeners, notifyContainerListeners);
        }
        for (SessionFarm.Companion companion : companions) {
            companion.sessionIdChanged(session, oldId);
        }
    }

    /** End of a request that used this session: checkpoint if the policy says so. */
    void requestEnded(FarmSession session) {
        if (checkpointer != null) {
            checkpointer.requestEnded(session, settings.policy());
        }
    }

    // ---- expiry: exactly once across the farm --------------------------------------------------

    /** Tomcat's background thread: no I/O here, idle copies are handed to the executor. */
    @Override
    public void processExpires() {
        long start = System.currentTimeMillis();
        for (Session session : findSessions()) {
            session.isValid();
        }
        processingTime += System.currentTimeMillis() - start;
    }

    /** A local copy went idle: expire it only if the store agrees, else another node kept it alive. */
    void idleTimeout(FarmSession session) {
        if (expiry != null) {
            expiry.idleTimeout(session);
        }
    }

    /** Called by {@link FarmSession#expire(boolean)}: an invalidated session leaves the store too. */
    void sessionEnded(FarmSession session) {
        String id = session.getIdInternal();
        for (SessionFarm.Companion companion : companions) {
            companion.sessionEnded(id);
        }
        if (!session.storeRowRemoved() && poller != null) {
            poller.delete(id);
        }
    }

    void deleteLater(String id) {
        poller.deleteLater(id);
    }

    // ---- helpers ------------------------------------------------------------------------------

    ClassLoader webappClassLoader() {
        org.apache.catalina.Loader loader = getContext().getLoader();
        return loader == null ? FarmManager.class.getClassLoader() : loader.getClassLoader();
    }

    Log log() {
        return log;
    }

    /** The store's degraded mode, for companions, which share it; null unless started. */
    public StoreGate storeGate() {
        return gate;
    }

    /** The store's database, for companions; null unless started. */
    public Database database() {
        return database;
    }

    /** Host and context path: the key of this webapp's rows, shared by all nodes serving it. */
    public String appName() {
        Context context = getContext();
        if (context == null) {
            return "(no context)";
        }
        String host = context.getParent() == null ? "" : context.getParent().getName();
        String path = context.getPath();
        return host + (path == null || path.isEmpty() ? "/" : path);
    }

    // ---- JMX (attributes of this Manager's MBean) ----------------------------------------------

    public String getLossBound() { return settings == null ? null : settings.policy().lossBound(); }
    public boolean getStoreAvailable() { return gate != null && !gate.isDown(); }
    /** How far this node's clock was ahead of the database's at the last check (negative: behind). */
    public long getClockSkewMillis() { return clock == null ? 0 : clock.skewMillis(); }
    public long getCheckpointsOnCreate() { return written(Trigger.CREATE); }
    public long getCheckpointsByInterval() { return written(Trigger.INTERVAL); }
    public long getCheckpointsByUpdates() { return written(Trigger.UPDATES); }
    public long getCheckpointsByRequests() { return written(Trigger.REQUESTS); }
    public long getCheckpointsRetried() { return written(Trigger.RETRY); }
    public long getCheckpointsAtStop() { return written(Trigger.STOP); }
    public long getCheckpointsSkippedUnchanged() { return checkpointer == null ? 0 : checkpointer.skippedUnchanged.sum(); }
    public long getExpiryExtensions() { return checkpointer == null ? 0 : checkpointer.expiryExtensions.sum(); }
    public long getRefreshesFromStore() { return checkpointer == null ? 0 : checkpointer.refreshes.sum(); }
    public long getConflicts() { return checkpointer == null ? 0 : checkpointer.conflicts.sum(); }
    public long getLoadsFromStore() { return loader == null ? 0 : loader.loadsFromStore.sum(); }
    public long getDroppedStaleCopies() { return droppedStaleCopies.sum(); }
    public long getExpiredBySweep() { return expiry == null ? 0 : expiry.expiredBySweep.sum(); }
    public long getAttributesNotSerializable() { return attributeProblems.notSerializable.sum(); }
    public long getAttributesUnreadable() { return attributeProblems.unreadable.sum(); }
    public long getStoreOperations() { return store == null ? 0 : store.operations(); }
    public long getStoreFailures() { return store == null ? 0 : store.failures(); }
    public double getStoreLatencyMillis() { return store == null ? 0 : store.averageLatencyMillis(); }

    public int getOwedCheckpoints() { return Checkpointer.owed(findSessions()); }
    /** Sticky mode: copies found older than the store, or gone from it, before they were served (a client moved). */
    public long getMovesCaught() { return loader == null ? 0 : loader.movesCaught.sum(); }
    public long getMoveNoticesSent() { return moves == null ? 0 : moves.sent.sum(); }
    public long getMoveNoticesHeard() { return moves == null ? 0 : moves.heard.sum(); }
    /** Sticky mode: whether this node hears the others' move notices (if not, every copy is checked before use). */
    public boolean getHearingMoves() { return moves != null && moves.isListening(); }

    private long written(Trigger trigger) {
        return checkpointer == null ? 0 : checkpointer.written(trigger);
    }
}
