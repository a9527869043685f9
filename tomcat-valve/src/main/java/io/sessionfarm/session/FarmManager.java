package io.sessionfarm.session;

import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

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
import io.sessionfarm.store.Database;
import io.sessionfarm.store.StoreGate;
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
    /** Null until started. */
    private ManagerParts parts;

    private final List<SessionFarm.Companion> companions = new java.util.concurrent.CopyOnWriteArrayList<>();

    private final LongAdder droppedStaleCopies = new LongAdder();
    final AttributeProblems attributeProblems = new AttributeProblems(this);

    // ---- configuration: setters store, startInternal() checks ----------------------------------

    public void setJdbcUrl(String value) { Attributes.set(raw, "jdbcUrl", value); }
    public String getJdbcUrl() { String url = raw.get("jdbcUrl"); return url == null ? null : Attributes.maskUrl(url); }
    public void setDirectJdbcUrl(String value) { Attributes.set(raw, "directJdbcUrl", value); }
    public void setUsername(String value) { Attributes.set(raw, "username", value); }
    public String getUsername() { return raw.get("username"); }
    /** Write-only: there is no getter, so JMX and configuration dumps cannot show it. */
    public void setPassword(String value) { Attributes.set(raw, "password", value); }
    public void setDataSourceName(String value) { Attributes.set(raw, "dataSourceName", value); }
    public String getDataSourceName() { return raw.get("dataSourceName"); }
    public void setPoolSize(String value) { Attributes.set(raw, "poolSize", value); }
    public String getPoolSize() { return raw.get("poolSize"); }
    public void setStoreTimeout(String value) { Attributes.set(raw, "storeTimeout", value); }
    public String getStoreTimeout() { return raw.get("storeTimeout"); }
    public void setCheckpointOnCreate(String value) { Attributes.set(raw, "checkpointOnCreate", value); }
    public String getCheckpointOnCreate() { return raw.get("checkpointOnCreate"); }
    public void setCheckpointInterval(String value) { Attributes.set(raw, "checkpointInterval", value); }
    public String getCheckpointInterval() { return raw.get("checkpointInterval"); }
    public void setCheckpointAfterUpdates(String value) { Attributes.set(raw, "checkpointAfterUpdates", value); }
    public String getCheckpointAfterUpdates() { return raw.get("checkpointAfterUpdates"); }
    public void setCheckpointAfterRequests(String value) { Attributes.set(raw, "checkpointAfterRequests", value); }
    public String getCheckpointAfterRequests() { return raw.get("checkpointAfterRequests"); }
    public void setMode(String value) { Attributes.set(raw, "mode", value); }
    public String getMode() { return raw.get("mode"); }
    public void setConflictPolicy(String value) { Attributes.set(raw, "conflictPolicy", value); }
    public String getConflictPolicy() { return raw.get("conflictPolicy"); }
    public void setAllowedClasses(String value) { Attributes.set(raw, "allowedClasses", value); }
    public String getAllowedClasses() { return raw.get("allowedClasses"); }
    public void setExpirySweepInterval(String value) { Attributes.set(raw, "expirySweepInterval", value); }
    /** The farm master key, which encrypts attribute values at rest; without it, SESSIONFARM_MASTER_KEY. */
    public void setMasterKeyFile(String value) { Attributes.set(raw, "masterKeyFile", value); }
    public String getMasterKeyFile() { return raw.get("masterKeyFile"); }
    /** false: the node's role may not change the schema, so it only checks that it is current. */
    public void setMigrate(String value) { Attributes.set(raw, "migrate", value); }
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
        parts = ManagerParts.start(this, settings, raw.get("masterKeyFile"));
        log.info(messages.getString("farmManager.started", appName(), settings, settings.policy().lossBound()));
        for (Valve valve : getContext().getPipeline().getValves()) {
            if (valve instanceof SessionFarm.Companion companion) {
                try {
                    companion.managerStarted(this);
                } catch (LifecycleException | RuntimeException e) {
                    parts.stop(new Session[0]);
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
        return parts == null ? null : parts.keys.master();
    }

    @Override
    protected void stopInternal() throws LifecycleException {
        setState(LifecycleState.STOPPING);
        companions.forEach(SessionFarm.Companion::managerStopping);
        companions.clear();
        if (parts != null) {
            int owed = parts.stop(findSessions());
            if (owed > 0) {
                log.warn(messages.getString("farmManager.stoppedOwing", appName(), Integer.valueOf(owed)));
            }
        }
        sessions.clear();
        super.stopInternal();
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
        return parts == null ? super.findSession(id) : parts.loader.find(id);
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
        } else if (parts != null) {
            parts.loader.prefetched(sessionId, stamp);
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
        if (session instanceof FarmSession farmSession && parts != null) {
            // No checkpoint may run between the new id in memory and the row's move: it would find
            // no row under the new id and take the session for gone.
            farmSession.checkpointLock.lock();
            try {
                super.changeSessionId(session, newId, notifySessionListeners, notifyContainerListeners);
                parts.checkpointer.renamed(farmSession, oldId, newId);
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

    /**
     * A request for a session another node made or last served, on the node of {@code route}:
     * the id it should carry (see {@link SessionRebinder}).
     */
    String rebind(String requestedId, String route, long graceMillis) throws IOException {
        return parts == null ? requestedId : parts.rebinder.rebind(requestedId, route, graceMillis);
    }

    /** The session's new id in memory, its row already moved; the companions are told as at a login. */
    void reboundInMemory(FarmSession session, String newId) {
        String oldId = session.getIdInternal();
        super.changeSessionId(session, newId, true, true);
        for (SessionFarm.Companion companion : companions) {
            companion.sessionIdChanged(session, oldId);
        }
    }

    /** End of a request that used this session: checkpoint if the policy says so. */
    void requestEnded(FarmSession session) {
        if (parts != null) {
            long version = session.storedVersion();
            parts.checkpointer.requestEnded(session, settings.policy());
            if (session.storedVersion() != version) {
                parts.loader.written(session);
            }
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
        if (parts != null) {
            parts.expiry.idleTimeout(session);
        }
    }

    /** Called by {@link FarmSession#expire(boolean)}: an invalidated session leaves the store too. */
    void sessionEnded(FarmSession session) {
        String id = session.getIdInternal();
        for (SessionFarm.Companion companion : companions) {
            companion.sessionEnded(id);
        }
        if (!session.storeRowRemoved() && parts != null) {
            parts.poller.delete(id);
        }
    }

    void deleteLater(String id) {
        parts.poller.deleteLater(id);
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
        return parts == null ? null : parts.gate;
    }

    /** The store's database, for companions; null unless started. */
    public Database database() {
        return parts == null ? null : parts.database;
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
    public boolean getStoreAvailable() { return parts != null && !parts.gate.isDown(); }
    /** How far this node's clock was ahead of the database's at the last check (negative: behind). */
    public long getClockSkewMillis() { return parts == null ? 0 : parts.clock.skewMillis(); }
    public long getCheckpointsOnCreate() { return written(Trigger.CREATE); }
    public long getCheckpointsByInterval() { return written(Trigger.INTERVAL); }
    public long getCheckpointsByUpdates() { return written(Trigger.UPDATES); }
    public long getCheckpointsByRequests() { return written(Trigger.REQUESTS); }
    public long getCheckpointsRetried() { return written(Trigger.RETRY); }
    public long getCheckpointsAtStop() { return written(Trigger.STOP); }
    public long getCheckpointsSkippedUnchanged() { return parts == null ? 0 : parts.checkpointer.skippedUnchanged.sum(); }
    public long getExpiryExtensions() { return parts == null ? 0 : parts.checkpointer.expiryExtensions.sum(); }
    public long getRefreshesFromStore() { return parts == null ? 0 : parts.checkpointer.refreshes.sum(); }
    public long getConflicts() { return parts == null ? 0 : parts.checkpointer.conflicts.sum(); }
    public long getStoreRollbacks() { return parts == null ? 0 : parts.checkpointer.storeRollbacks.sum(); }
    public long getLoadsFromStore() { return parts == null ? 0 : parts.loader.loadsFromStore.sum(); }
    public long getDroppedStaleCopies() { return droppedStaleCopies.sum(); }
    /** Sessions given this node's jvmRoute suffix (RouteBinderValve), and requests an old id led to the new one. */
    public long getSessionsRebound() { return parts == null ? 0 : parts.rebinder.rebound.sum(); }
    public long getOldIdsFollowed() { return parts == null ? 0 : parts.rebinder.followed.sum(); }
    public long getExpiredBySweep() { return parts == null ? 0 : parts.expiry.expiredBySweep.sum(); }
    public long getAttributesNotSerializable() { return attributeProblems.notSerializable.sum(); }
    public long getAttributesUnreadable() { return attributeProblems.unreadable.sum(); }
    public long getStoreOperations() { return parts == null ? 0 : parts.store.operations(); }
    public long getStoreFailures() { return parts == null ? 0 : parts.store.failures(); }
    public double getStoreLatencyMillis() { return parts == null ? 0 : parts.store.averageLatencyMillis(); }

    public int getOwedCheckpoints() { return Checkpointer.owed(findSessions()); }
    /** Sticky mode: copies found older than the store, or gone from it, before they were served (a client moved). */
    public long getMovesCaught() { return parts == null ? 0 : parts.loader.movesCaught.sum(); }
    public long getMoveNoticesSent() { return parts == null || parts.moves == null ? 0 : parts.moves.sent.sum(); }
    public long getMoveNoticesHeard() { return parts == null || parts.moves == null ? 0 : parts.moves.heard.sum(); }
    /** Sticky mode: whether this node hears the others' move notices (if not, every copy is checked before use). */
    public boolean getHearingMoves() { return parts != null && parts.moves != null && parts.moves.isListening(); }

    private long written(Trigger trigger) {
        return parts == null ? 0 : parts.checkpointer.written(trigger);
    }
}
