package io.sessionfarm.token;

import java.io.IOException;
import java.sql.SQLException;
import java.util.EnumSet;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;

import jakarta.servlet.ServletException;
import jakarta.servlet.SessionTrackingMode;
import jakarta.servlet.http.Cookie;

import org.apache.catalina.Container;
import org.apache.catalina.Context;
import org.apache.catalina.LifecycleException;
import org.apache.catalina.Session;
import org.apache.catalina.connector.Request;
import org.apache.catalina.connector.Response;
import org.apache.catalina.valves.ValveBase;
import org.apache.juli.logging.Log;
import org.apache.juli.logging.LogFactory;
import org.apache.tomcat.util.res.StringManager;

import io.sessionfarm.config.Attributes;
import io.sessionfarm.keys.KeyRing;
import io.sessionfarm.keys.MasterKey;
import io.sessionfarm.keys.Sha256;
import io.sessionfarm.session.SessionFarm;
import io.sessionfarm.store.StoreGate;
import io.sessionfarm.token.TokenSettings.Route;
import io.sessionfarm.token.TokenVerifier.Verdict;

/**
 * Replaces the session cookie with an encrypted, rotating token: the browser holds a token instead
 * of a session id. Each request's token is decrypted by the node that receives it and checked
 * against the common session database; the response carries its successor.
 *
 * <pre>{@code <Valve className="io.sessionfarm.token.TokenValve" masterKeyFile="/etc/sessionfarm/master.key"/>}</pre>
 *
 * It works beside sessionfarm's Manager in the same context ({@link SessionFarm}) and uses its
 * database. Tomcat's own session cookie and URL rewriting are switched off for the context: a
 * session id is only ever taken from a token this farm issued, so a client cannot choose one (no
 * session fixation).
 */
public final class TokenValve extends ValveBase implements SessionFarm.Companion {

    /** Where a second node redeems a hand-off code, under the context path. */
    public static final String HANDOFF_PATH = "/.sessionfarm/handoff";
    /**
     * Request attribute telling the application what the request's token was: {@code current},
     * {@code predecessor} (inside the grace period), {@code issued} (a new session),
     * {@code handoff}, or {@code unverified} (accepted while the store was unreachable).
     */
    public static final String STATE_ATTRIBUTE = "io.sessionfarm.token.state";
    static final String KEY_PURPOSE = "token";
    /** Token cookies of one request that are opened at most: more cost decryptions and prove nothing. */
    private static final int MAX_COOKIES_TRIED = 3;
    private static final String REJECTED = "Your session has ended or its token was not accepted. Sign in again.";

    private static final StringManager sm = StringManager.getManager(TokenValve.class);
    /** The request this thread is serving, for the Manager's calls back while it runs. */
    private static final ThreadLocal<Exchange> CURRENT = new ThreadLocal<>();

    private final Log log = LogFactory.getLog(TokenValve.class); // per instance: this class lives in lib/
    private final Map<String, String> raw = new ConcurrentHashMap<>();
    private final Attributes.Unknown unknownAttributes = new Attributes.Unknown();
    private final TokenStats stats = new TokenStats();

    private volatile boolean ready;
    private TokenSettings settings;
    private SessionFarm farm;
    private String app;
    private StoreGate gate;
    private KeyRing ring;
    private OutageMemory memory;
    private TokenCookie cookie;
    private RouteCookie routeCookie = RouteCookie.OFF;
    private TokenVerifier verifier;
    private HandoffEndpoint handoff;
    private SessionEvents events;
    private TokenMaintenance maintenance;

    public TokenValve() {
        super(true);
    }

    // ---- configuration: setters store, managerStarted() checks ---------------------------------

    public void setMasterKeyFile(String value) { Attributes.set(raw, "masterKeyFile", value); }
    public void setCookieName(String value) { Attributes.set(raw, "cookieName", value); }
    public String getCookieName() { return settings == null ? raw.get("cookieName") : settings.cookieName(); }
    public void setSecure(String value) { Attributes.set(raw, "secure", value); }
    public void setSameSite(String value) { Attributes.set(raw, "sameSite", value); }
    public void setRotateAfter(String value) { Attributes.set(raw, "rotateAfter", value); }
    public void setGrace(String value) { Attributes.set(raw, "grace", value); }
    public void setIdleTimeout(String value) { Attributes.set(raw, "idleTimeout", value); }
    public void setAbsoluteTimeout(String value) { Attributes.set(raw, "absoluteTimeout", value); }
    public void setKeyRotation(String value) { Attributes.set(raw, "keyRotation", value); }
    public void setRejectPaths(String value) { Attributes.set(raw, "rejectPaths", value); }
    public void setHandoffRoutes(String value) { Attributes.set(raw, "handoffRoutes", value); }
    public void setHandoffSelf(String value) { Attributes.set(raw, "handoffSelf", value); }
    public void setRouteCookie(String value) { Attributes.set(raw, "routeCookie", value); }

    /** An attribute with no setter is almost always a typo: remembered, and refused at start. */
    public boolean setProperty(String name, String value) {
        return unknownAttributes.add(name);
    }

    /**
     * Joins the context: switches off Tomcat's session cookie and URL rewriting. The tracking
     * modes can only be set while the context starts, so an initializer does it, after web.xml.
     */
    @Override
    public void setContainer(Container container) {
        super.setContainer(container);
        if (container instanceof Context context) {
            context.addServletContainerInitializer((classes, servletContext) ->
                    servletContext.setSessionTrackingModes(EnumSet.noneOf(SessionTrackingMode.class)), null);
        }
    }

    // ---- lifecycle: the Manager calls in once its store is ready -------------------------------

    @Override
    public void managerStarted(SessionFarm farm) throws LifecycleException {
        start(farm);
    }

    @Override
    public void managerStopping() {
        ready = false;
        if (maintenance != null) {
            maintenance.stop();
        }
    }

    private void start(SessionFarm farm) throws LifecycleException {
        Context context = farm.getContext();
        app = farm.appName();
        if (!unknownAttributes.names().isEmpty()) {
            throw new LifecycleException(sm.getString("tokenValve.unknownAttribute", app, unknownAttributes.names(),
                    new TreeSet<>(TokenSettings.ATTRIBUTES)));
        }
        MasterKey master;
        try {
            settings = TokenSettings.parse(raw, context.getPath(), context.getSessionTimeout() * 60);
            // The Manager's key when the valve names none of its own: one master key per farm.
            master = settings.masterKeyFile() == null && farm.masterKey() != null ? farm.masterKey()
                    : MasterKey.load(settings.masterKeyFile(), System::getenv);
        } catch (IllegalArgumentException e) {
            throw new LifecycleException(sm.getString("tokenValve.badConfiguration", app, e.getMessage()));
        }
        String jvmRoute = null;
        if (settings.routeCookie() != null) {
            try {
                jvmRoute = SessionFarm.usableJvmRoute(context);
            } catch (IllegalArgumentException e) {
                throw new LifecycleException(sm.getString("tokenValve.noJvmRoute", app, settings.routeCookie(), e.getMessage()));
            }
        }
        Set<SessionTrackingMode> tracking = context.getServletContext().getEffectiveSessionTrackingModes();
        if (!tracking.isEmpty()) {
            throw new LifecycleException(sm.getString("tokenValve.trackingOn", app, tracking));
        }
        this.farm = farm;
        routeCookie = RouteCookie.of(settings, jvmRoute);
        // One degraded mode per context: once either the Manager or this valve finds the store
        // down, neither makes request threads wait on it again until the probe finds it back.
        gate = farm.storeGate();
        long tick = Math.max(1000, Math.min(10_000, settings.keyRotationMillis() / 4));
        try {
            ring = KeyRing.open(farm.database().dataSource(), master, KEY_PURPOSE, new KeyRing.Schedule(
                    settings.keyRotationMillis(), 3 * tick, settings.idleMillis() + settings.graceMillis() + 2 * tick),
                    KeyRing.StoredData.NONE);
        } catch (KeyRing.Unusable e) {
            throw new LifecycleException(sm.getString("tokenValve.badConfiguration", app, e.getMessage()));
        }
        wire();
        maintenance.start(tick);
        ready = true;
        log.info(sm.getString("tokenValve.started", app, settings));
    }

    /** The parts that serve requests, on the Manager's store and pool. */
    private void wire() {
        TokenStore store = new TokenStore(farm.database().dataSource(), app);
        TokenCodec codec = new TokenCodec(settings.cookieName(), app);
        memory = new OutageMemory(store, gate);
        cookie = new TokenCookie(settings, codec, ring, log, app);
        verifier = new TokenVerifier(settings, codec, new RingKeys(ring, gate), store, memory, stats,
                this::expireSession, log, app);
        handoff = new HandoffEndpoint(settings, store, gate, farm, stats);
        events = new SessionEvents(store, gate, memory, cookie, stats, log, app);
        maintenance = new TokenMaintenance(settings, store, ring, memory, gate, farm, log, app);
    }

    // ---- requests ------------------------------------------------------------------------------

    @Override
    public void invoke(Request request, Response response) throws IOException, ServletException {
        // A session id never comes from the client itself: only from a token verified below.
        request.setRequestedSessionId(null);
        request.setRequestedSessionCookie(false);
        request.setRequestedSessionURL(false);
        if (!ready) {
            getNext().invoke(request, response);
            return;
        }
        Exchange exchange = new Exchange(request, response, farm, memory, cookie);
        Exchange outer = CURRENT.get();
        CURRENT.set(exchange);
        try {
            begin(exchange);
            if (!answeredHere(exchange)) {
                if (exchange.family != null) {
                    routeCookie.stamp(exchange); // the session is served here now
                }
                getNext().invoke(request, response);
            }
        } finally {
            CURRENT.set(outer);
            farm.prefetched(null, null);
        }
    }

    /** Finds the request's token, if any, and decides what it is worth. */
    private void begin(Exchange exchange) {
        Cookie[] cookies = exchange.request.getCookies();
        if (cookies == null) {
            return;
        }
        Token token = null;
        int tried = 0;
        for (Cookie presented : cookies) {
            if (presented.getName().equals(settings.cookieName()) && tried++ < MAX_COOKIES_TRIED) {
                token = verifier.open(presented.getValue());
                if (token != null) {
                    break;
                }
            }
        }
        if (token == null) {
            exchange.rejected = tried > 0;
            return;
        }
        exchange.take(verdict(token));
    }

    /** The store decides while it answers; while it does not, the verifier does with what this node knows. */
    private Verdict verdict(Token token) {
        if (gate.open()) {
            try {
                Verdict verdict = verifier.verify(token);
                gate.succeeded();
                return verdict;
            } catch (SQLException e) {
                gate.failed(e);
            }
        }
        // The token's times are the database's clock; the Manager knows how far this node's is off.
        return verifier.verifyWithoutStore(token, System.currentTimeMillis() - farm.getClockSkewMillis());
    }

    /**
     * Requests the application never sees: the hand-off endpoint, a refused token under
     * {@code rejectPaths}, and paths that another node serves.
     */
    private boolean answeredHere(Exchange exchange) throws IOException {
        String path = exchange.path();
        if (path.equals(HANDOFF_PATH)) {
            handoff.redeem(exchange);
            return true;
        }
        if (exchange.rejected && settings.rejectPaths().stream().anyMatch(path::startsWith)) {
            exchange.answer(401, REJECTED);
            return true;
        }
        Route route = handoff.routeFor(path);
        if (route != null) {
            handoff.handOff(exchange, route);
            return true;
        }
        return false;
    }

    /** Ends this node's copy of a session whose tokens were revoked, so that its listeners run here. */
    private void expireSession(String sessionId) {
        try {
            Session session = farm.findSession(sessionId);
            if (session != null) {
                session.expire();
            }
        } catch (IOException | RuntimeException e) {
            log.warn(sm.getString("tokenValve.expireFailed", app, Sha256.forLog(sessionId), e.getMessage()));
        }
    }

    // ---- the Manager tells: a session was created, changed its id (login), or ended ------------

    @Override
    public void sessionCreated(Session session) {
        Exchange exchange = CURRENT.get();
        // Off a request thread this valve saw (async), the response cannot take a cookie.
        if (ready && exchange != null) {
            events.created(session, exchange);
            routeCookie.stamp(exchange); // a session made here: its next requests come here
        }
    }

    @Override
    public void sessionIdChanged(Session session, String oldId) {
        if (ready) {
            events.idChanged(session, oldId, CURRENT.get());
        }
    }

    @Override
    public void sessionEnded(String sessionId) {
        if (ready) {
            events.ended(sessionId);
        }
    }

    // ---- JMX (attributes of this valve's MBean, found by Tomcat on this class) ------------------

    public long getTokensVerified() { return stats.tokensVerified.sum(); }
    public long getTokensIssued() { return stats.tokensIssued.sum(); }
    public long getTokensRotated() { return stats.tokensRotated.sum(); }
    public long getAcceptedInGrace() { return stats.acceptedInGrace.sum(); }
    public long getRejectedMalformed() { return stats.rejectedMalformed.sum(); }
    public long getRejectedUnknownKey() { return stats.rejectedUnknownKey.sum(); }
    public long getRejectedTampered() { return stats.rejectedTampered.sum(); }
    public long getRejectedUnknownFamily() { return stats.rejectedUnknownFamily.sum(); }
    public long getRejectedLatePredecessor() { return stats.rejectedLatePredecessor.sum(); }
    public long getClosedByIdleTimeout() { return stats.closedByIdleTimeout.sum(); }
    public long getClosedByAbsoluteTimeout() { return stats.closedByAbsoluteTimeout.sum(); }
    public long getReplaysRevoked() { return stats.replaysRevoked.sum(); }
    public long getAcceptedWhileStoreDown() { return stats.acceptedWhileStoreDown.sum(); }
    public long getHandoffsIssued() { return stats.handoffsIssued.sum(); }
    public long getHandoffsRedeemed() { return stats.handoffsRedeemed.sum(); }
    public long getHandoffsRefused() { return stats.handoffsRefused.sum(); }
    public int getOwedFamilies() { return memory == null ? 0 : memory.owedFamilies(); }
    public boolean getStoreAvailable() { return gate != null && !gate.isDown(); }
    public long getKeyRotations() { return ring == null ? 0 : ring.rotations(); }
    public long getPrimaryKeyAgeSeconds() { return ring == null ? 0 : ring.primaryAgeMillis() / 1000; }
    public int getKeysInRing() { return ring == null ? 0 : ring.size(); }
}
