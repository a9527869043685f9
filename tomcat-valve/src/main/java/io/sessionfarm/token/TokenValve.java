package io.sessionfarm.token;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.EnumSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;

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
import org.apache.tomcat.util.buf.MessageBytes;
import org.apache.tomcat.util.http.MimeHeaders;

import io.sessionfarm.config.Attributes;
import io.sessionfarm.keys.KeyRing;
import io.sessionfarm.keys.MasterKey;
import io.sessionfarm.keys.Sha256;
import io.sessionfarm.session.FarmManager;
import io.sessionfarm.store.Daemons;
import io.sessionfarm.store.StoreGate;
import io.sessionfarm.token.TokenCodec.BadToken;
import io.sessionfarm.token.TokenSettings.Route;
import io.sessionfarm.token.TokenStore.Family;
import io.sessionfarm.token.TokenStore.Handoff;

/**
 * The front valve of seed 002: the browser holds an encrypted, rotating token instead of a session
 * id. Each request's token is decrypted by the node that receives it and checked against the
 * common session database; the response carries its successor.
 *
 * <pre>{@code <Valve className="io.sessionfarm.token.TokenValve" masterKeyFile="/etc/sessionfarm/master.key"/>}</pre>
 *
 * It works beside a {@link FarmManager} in the same context and uses its database. Tomcat's own
 * session cookie and URL rewriting are switched off for the context: a session id is only ever
 * taken from a token this farm issued, so a client cannot choose one (no session fixation).
 */
public final class TokenValve extends ValveBase implements FarmManager.Companion {

    /** Where a second node redeems a hand-off code, under the context path. */
    public static final String HANDOFF_PATH = "/.sessionfarm/handoff";
    /**
     * Request attribute telling the application what the request's token was: {@code current},
     * {@code predecessor} (inside the grace period), {@code issued} (a new session),
     * {@code handoff}, or {@code unverified} (accepted while the store was unreachable).
     */
    public static final String STATE_ATTRIBUTE = "io.sessionfarm.token.state";
    static final String KEY_PURPOSE = "token";
    static final long HANDOFF_TTL_MILLIS = 30_000;
    private static final int MAX_COOKIES_TRIED = 3;
    private static final long CLEANUP_MILLIS = 60_000;
    /**
     * How long after its successor's first use a predecessor inside the grace still passes: long
     * enough for requests a browser sent before it had the successor, short of a copy that someone
     * else goes on presenting.
     */
    static final long RACE_MILLIS = 1000;
    /** Families whose newest token a node remembers for outage mode: about 100 bytes each. */
    static final int NEWEST_REMEMBERED = 50_000;
    /** Families one session may have (one per browser that redeemed a hand-off): the least recently used go. */
    static final int MAX_FAMILIES = 8;

    private static final ThreadLocal<Exchange> CURRENT = new ThreadLocal<>();
    private static final SecureRandom RANDOM = new SecureRandom();

    private final Log log = LogFactory.getLog(TokenValve.class); // per instance: this class lives in lib/
    private final Map<String, String> raw = new ConcurrentHashMap<>();
    private final Attributes.Unknown unknownAttributes = new Attributes.Unknown();

    private volatile boolean ready;
    private TokenSettings settings;
    private FarmManager manager;
    private TokenStore store;
    private KeyRing ring;
    private TokenCodec codec;
    private String app;
    private ScheduledExecutorService executor;
    private long lastCleanup;
    private StoreGate gate;
    /** Families made while the store was unreachable, written when it returns. */
    private final Map<String, Family> owedFamilies = new ConcurrentHashMap<>();
    /** Sessions that ended while the store was unreachable: their families are revoked when it returns. */
    private final java.util.Set<String> owedRevocations = ConcurrentHashMap.newKeySet();
    /**
     * The newest token of each family this node has verified, for up to {@link #NEWEST_REMEMBERED}
     * families: while the store is down, what this node knows to be superseded does not pass. Read
     * and written by every request, so no lock over the whole map; families past their absolute
     * timeout are dropped by the maintenance task.
     */
    private final Map<String, Newest> newest = new ConcurrentHashMap<>();

    /** A family's newest token as this node saw it; {@code createdAt} on the database's clock. */
    private record Newest(long generation, byte[] tokenId, long createdAt) {
    }

    private final LongAdder verified = new LongAdder();
    private final LongAdder issued = new LongAdder();
    private final LongAdder rotated = new LongAdder();
    private final LongAdder acceptedInGrace = new LongAdder();
    private final LongAdder rejectedMalformed = new LongAdder();
    private final LongAdder rejectedUnknownKey = new LongAdder();
    private final LongAdder rejectedTampered = new LongAdder();
    private final LongAdder rejectedUnknownFamily = new LongAdder();
    private final LongAdder rejectedBeforeLogin = new LongAdder();
    private final LongAdder rejectedLatePredecessor = new LongAdder();
    private final LongAdder closedIdle = new LongAdder();
    private final LongAdder closedAbsolute = new LongAdder();
    private final LongAdder replaysRevoked = new LongAdder();
    private final LongAdder acceptedWhileStoreDown = new LongAdder();
    private final LongAdder handoffsIssued = new LongAdder();
    private final LongAdder handoffsRedeemed = new LongAdder();
    private final LongAdder handoffsRefused = new LongAdder();

    public TokenValve() {
        super(true);
    }

    // ---- configuration: setters store, managerStarted() checks ---------------------------------

    public void setMasterKeyFile(String value) { raw.put("masterKeyFile", value); }
    public void setCookieName(String value) { raw.put("cookieName", value); }
    public String getCookieName() { return settings == null ? raw.get("cookieName") : settings.cookieName(); }
    public void setSecure(String value) { raw.put("secure", value); }
    public void setSameSite(String value) { raw.put("sameSite", value); }
    public void setRotateAfter(String value) { raw.put("rotateAfter", value); }
    public void setGrace(String value) { raw.put("grace", value); }
    public void setIdleTimeout(String value) { raw.put("idleTimeout", value); }
    public void setAbsoluteTimeout(String value) { raw.put("absoluteTimeout", value); }
    public void setKeyRotation(String value) { raw.put("keyRotation", value); }
    public void setRejectPaths(String value) { raw.put("rejectPaths", value); }
    public void setHandoffRoutes(String value) { raw.put("handoffRoutes", value); }
    public void setHandoffSelf(String value) { raw.put("handoffSelf", value); }

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
            context.addServletContainerInitializer(
                    (classes, servletContext) -> servletContext.setSessionTrackingModes(EnumSet.noneOf(SessionTrackingMode.class)),
                    null);
        }
    }

    // ---- lifecycle: the Manager calls in once its store is ready -------------------------------

    @Override
    public void managerStarted(FarmManager manager) throws LifecycleException {
        Context context = manager.getContext();
        app = manager.appName();
        if (!unknownAttributes.names().isEmpty()) {
            throw new LifecycleException("sessionfarm token valve [" + app + "] cannot start: unknown attribute(s) "
                    + unknownAttributes.names() + " in <Valve>; its attributes are " + new java.util.TreeSet<>(TokenSettings.ATTRIBUTES));
        }
        MasterKey master;
        try {
            settings = TokenSettings.parse(raw, context.getPath(), context.getSessionTimeout() * 60);
            // The Manager's key when the valve names none of its own: one master key per farm.
            master = settings.masterKeyFile() == null && manager.masterKey() != null ? manager.masterKey()
                    : MasterKey.load(settings.masterKeyFile(), System::getenv);
        } catch (IllegalArgumentException e) {
            throw new LifecycleException("sessionfarm token valve [" + app + "] cannot start: " + e.getMessage());
        }
        if (!context.getServletContext().getEffectiveSessionTrackingModes().isEmpty()) {
            throw new LifecycleException("sessionfarm token valve [" + app + "] cannot start: the webapp turned session"
                    + " tracking " + context.getServletContext().getEffectiveSessionTrackingModes()
                    + " back on; tokens carry the session, so remove <tracking-mode> from web.xml");
        }
        this.manager = manager;
        // One degraded mode per context: once either the Manager or this valve finds the store
        // down, neither makes request threads wait on it again until the probe finds it back.
        gate = manager.storeGate();
        store = new TokenStore(manager.database().dataSource(), app);
        codec = new TokenCodec(settings.cookieName(), app);
        long tick = Math.clamp(settings.keyRotationMillis() / 4, 1000, 10_000);
        try {
            ring = KeyRing.open(manager.database().dataSource(), master, KEY_PURPOSE, new KeyRing.Schedule(
                    settings.keyRotationMillis(), 3 * tick, settings.idleMillis() + settings.graceMillis() + 2 * tick),
                    KeyRing.StoredData.NONE);
        } catch (KeyRing.Unusable e) {
            throw new LifecycleException("sessionfarm token valve [" + app + "] cannot start: " + e.getMessage());
        }
        executor = Executors.newSingleThreadScheduledExecutor(Daemons.named("sessionfarm-tokens-" + app));
        executor.scheduleWithFixedDelay(this::maintain, tick, tick, TimeUnit.MILLISECONDS);
        executor.scheduleWithFixedDelay(this::catchUp, 1, 1, TimeUnit.SECONDS);
        ready = true;
        log.info("sessionfarm token valve [" + app + "] started: " + settings + "; Tomcat's session cookie and URL"
                + " rewriting are off for this context");
    }

    @Override
    public void managerStopping() {
        ready = false;
        Daemons.stop(executor);
    }

    // ---- requests ------------------------------------------------------------------------------

    /** One request's view of its token: what it presented, which family it turned out to be. */
    private final class Exchange {
        final Request request;
        final Response response;
        Family family;
        boolean rejected;
        String cookieValue;

        Exchange(Request request, Response response) {
            this.request = request;
            this.response = response;
        }

        void accept(Family row, String state, boolean sendCookie) {
            family = row;
            String key = HexFormat.of().formatHex(row.family());
            if (newest.size() < NEWEST_REMEMBERED || newest.containsKey(key)) {
                newest.merge(key, new Newest(row.generation(), row.tokenId(), row.createdAt()),
                        (known, seen) -> seen.generation() >= known.generation() ? seen : known);
            }
            request.setAttribute(STATE_ATTRIBUTE, state);
            manager.prefetched(row.sessionId(), row.stamp());
            request.setRequestedSessionId(row.sessionId());
            request.setRequestedSessionCookie(true);
            if (sendCookie) {
                sendCookie(this, row);
            }
        }
    }

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
        String path = pathOf(request);
        Exchange x = new Exchange(request, response);
        Exchange outer = CURRENT.get();
        CURRENT.set(x);
        try {
            begin(x);
            if (path.equals(HANDOFF_PATH)) {
                redeem(x);
                return;
            }
            if (x.rejected && settings.rejectPaths().stream().anyMatch(path::startsWith)) {
                plain(response, 401, "Your session has ended or its token was not accepted. Sign in again.");
                return;
            }
            Route route = routeFor(path);
            if (route != null) {
                handOff(x, route);
                return;
            }
            getNext().invoke(request, response);
        } finally {
            CURRENT.set(outer);
            manager.prefetched(null, null);
        }
    }

    /**
     * The request's path inside the context, decoded and normalized by Tomcat. The context path is
     * the configured one: the request's own ({@code getContextPath()}) is raw text from the client,
     * path parameters ({@code ;...}) included.
     */
    private static String pathOf(Request request) {
        String uri = request.getDecodedRequestURI();
        String contextPath = contextPath(request);
        return uri == null ? "/" : uri.substring(Math.min(uri.length(), contextPath.length()));
    }

    private static String contextPath(Request request) {
        return request.getContext() == null ? "" : request.getContext().getPath();
    }

    /** Finds the request's token, if any, and decides what it is worth. */
    private void begin(Exchange x) {
        Cookie[] cookies = x.request.getCookies();
        if (cookies == null) {
            return;
        }
        Token token = null;
        int tried = 0;
        for (Cookie cookie : cookies) {
            if (cookie.getName().equals(settings.cookieName()) && tried++ < MAX_COOKIES_TRIED) {
                try {
                    token = codec.open(cookie.getValue(), this::key);
                    break;
                } catch (BadToken e) {
                    rejectedCount(e.reason()).increment();
                    if (log.isDebugEnabled()) {
                        log.debug("sessionfarm token valve [" + app + "]: a " + e.getMessage() + " token was ignored");
                    }
                }
            }
        }
        if (token == null) {
            x.rejected = tried > 0;
            return;
        }
        if (!gate.open()) {
            acceptWhileStoreDown(x, token);
            return;
        }
        try {
            verify(x, token);
            gate.succeeded();
        } catch (SQLException e) {
            gate.failed(e);
            acceptWhileStoreDown(x, token);
        }
    }

    /**
     * A token key by id. An id this node does not know makes it read the ring again (at most once a
     * second), but never while the store is down: then it is a bad token at once, or forged
     * cookies would make request threads wait on the pool.
     */
    private javax.crypto.SecretKey key(int id) {
        if (!gate.open()) {
            return ring.known(id);
        }
        try {
            return ring.findOrRefresh(id);
        } catch (SQLException e) {
            gate.failed(e);
            return null;
        }
    }

    private LongAdder rejectedCount(TokenCodec.Rejection reason) {
        return switch (reason) {
            case MALFORMED -> rejectedMalformed;
            case UNKNOWN_KEY -> rejectedUnknownKey;
            case TAMPERED -> rejectedTampered;
        };
    }

    /**
     * The database decides: the current token passes (and rotates when due); the immediate
     * predecessor passes within the grace period and gets the same successor; anything older is a
     * replay and revokes the session.
     */
    private void verify(Exchange x, Token token) throws SQLException {
        if (token.keyId() == ring.primary().id() && System.currentTimeMillis() - token.issuedAt() >= settings.rotateAfterMillis()) {
            // Probably due (the database's clock decides): try the rotation alone, one round trip.
            Family next = store.rotateIfDue(token.family(), token.tokenId(), token.sessionId(), newId(), settings.graceMillis(),
                    settings.rotateAfterMillis(), settings.idleMillis(), settings.absoluteMillis());
            if (next != null) {
                verified.increment();
                rotated.increment();
                x.accept(next, "current", true);
                return;
            }
        }
        Family row = store.read(token.family());
        if (row == null && owedFamilies.containsKey(HexFormat.of().formatHex(token.family()))) {
            row = writeOwed(owedFamilies.get(HexFormat.of().formatHex(token.family())));
        }
        for (int attempt = 0; row != null && attempt < 3; attempt++) {
            if (!token.sessionId().equals(row.sessionId())) {
                // The family names another session than the token: the token is from before a
                // login (which moved the family and left it no predecessor), or, if it is the
                // current one, the row was altered by someone who can write the table. It opens nothing.
                (token.sameToken(row.tokenId()) ? rejectedTampered : rejectedBeforeLogin).increment();
                x.rejected = true;
                return;
            }
            if (token.sameToken(row.tokenId()) && token.generation() == row.generation()) {
                if (closedByTime(row)) {
                    x.rejected = true;
                    return;
                }
                verified.increment();
                boolean due = settings.rotateEveryResponse() || row.now() - row.issuedAt() >= settings.rotateAfterMillis()
                        || token.keyId() != ring.primary().id();
                if (!due) {
                    if (row.currentUsedAt() == 0) {
                        store.firstUse(row.family(), row.tokenId()); // once per rotation
                    }
                    x.accept(row, "current", false);
                    return;
                }
                Family next = store.rotate(row.family(), row.tokenId(), row.sessionId(), newId(), settings.graceMillis());
                if (next != null) {
                    rotated.increment();
                    x.accept(next, "current", true);
                    return;
                }
                row = store.read(token.family()); // a parallel request rotated first: look again
                continue;
            }
            if (token.sameToken(row.previousTokenId()) && row.now() <= row.previousUntil()) {
                if (row.currentUsedAt() != 0 && row.now() - row.currentUsedAt() > RACE_MILLIS) {
                    // Its successor is in use elsewhere: this copy gets nothing, and if it comes
                    // back after the grace it is a reuse. Refused, not revoked, inside the grace: a
                    // request that was merely slow on the network costs its owner nothing.
                    rejectedLatePredecessor.increment();
                    x.rejected = true;
                    return;
                }
                if (closedByTime(row)) {
                    x.rejected = true;
                    return;
                }
                // A parallel request, or a late response's cookie: the same successor, never a new branch.
                verified.increment();
                acceptedInGrace.increment();
                x.accept(row, "predecessor", true);
                return;
            }
            replayed(row, token);
            x.rejected = true;
            return;
        }
        if (row == null) {
            rejectedUnknownFamily.increment();
        }
        x.rejected = true;
    }

    /** The idle and absolute timeouts, by the database's clock. */
    private boolean closedByTime(Family row) throws SQLException {
        boolean absolute = row.now() - row.createdAt() > settings.absoluteMillis();
        if (!absolute && row.now() - row.issuedAt() <= settings.idleMillis()) {
            return false;
        }
        (absolute ? closedAbsolute : closedIdle).increment();
        store.revokeSession(row.sessionId());
        expireSession(row.sessionId());
        if (log.isDebugEnabled()) {
            log.debug("sessionfarm token valve [" + app + "]: session [" + io.sessionfarm.keys.Sha256.forLog(row.sessionId())
                    + "] closed by its " + (absolute ? "absolute" : "idle") + " timeout");
        }
        return true;
    }

    /** A superseded token outside its grace period: someone holds a copy. Everyone holding it is out. */
    private void replayed(Family row, Token token) throws SQLException {
        int families = store.revokeSession(row.sessionId());
        expireSession(row.sessionId());
        replaysRevoked.increment();
        log.warn("sessionfarm token valve [" + app + "]: AUDIT token reuse: generation " + token.generation()
                + " of a token family was presented after generation " + row.generation()
                + " replaced it and outside the grace period; session [" + io.sessionfarm.keys.Sha256.forLog(row.sessionId())
                + "] and its " + families + " token families are revoked for every holder");
    }

    private void expireSession(String sessionId) {
        try {
            Session session = manager.findSession(sessionId);
            if (session != null) {
                session.expire();
            }
        } catch (IOException | RuntimeException e) {
            log.warn("sessionfarm token valve [" + app + "]: could not end session [" + io.sessionfarm.keys.Sha256.forLog(sessionId)
                    + "]: " + e.getMessage());
        }
    }

    /**
     * The store is unreachable, so nothing can be checked against it: an authentic token inside the
     * idle timeout (by its own issue time) keeps its session, without rotation, until the store
     * returns, unless this node knows better: a session that ended here, a generation older than
     * (or a token other than) the newest this node verified for the family, or a family past its
     * absolute timeout. Counted and logged as degraded.
     */
    private void acceptWhileStoreDown(Exchange x, Token token) {
        // The token's times are the database's clock; the Manager knows how far this node's is off.
        long now = System.currentTimeMillis() - manager.getClockSkewMillis();
        Newest known = newest.get(HexFormat.of().formatHex(token.family()));
        boolean superseded = known != null && (token.generation() < known.generation()
                || token.generation() == known.generation() && !token.sameToken(known.tokenId()));
        if (now - token.issuedAt() > settings.idleMillis() || owedRevocations.contains(token.sessionId()) || superseded
                || known != null && now - known.createdAt() > settings.absoluteMillis()) {
            x.rejected = true;
            return;
        }
        acceptedWhileStoreDown.increment();
        x.family = new Family(token.family(), token.sessionId(), token.tokenId(), token.generation(), token.issuedAt(),
                null, 0, 0, System.currentTimeMillis(), null, 0);
        x.request.setRequestedSessionId(token.sessionId());
        x.request.setRequestedSessionCookie(true);
        x.request.setAttribute(STATE_ATTRIBUTE, "unverified");
    }

    // ---- the Manager tells: a session was created, or changed its id (login) -------------------

    @Override
    public void sessionCreated(Session session) {
        Exchange x = CURRENT.get();
        if (x == null || !ready) {
            return; // not on a request thread this valve saw (async): the response cannot take a cookie here
        }
        String id = session.getIdInternal();
        byte[] family = newId();
        byte[] tokenId = newId();
        Family row = null;
        if (gate.open()) {
            try {
                row = store.create(family, id, tokenId, 0);
                if (x.family != null) {
                    store.deleteFamily(x.family.family()); // its session is gone; this one replaces it
                }
                gate.succeeded();
            } catch (SQLException e) {
                gate.failed(e);
            }
        }
        if (row == null) { // written by the background task once the store is back
            long now = System.currentTimeMillis();
            row = new Family(family, id, tokenId, 0, now, null, 0, now, now, null, 0);
            owedFamilies.put(HexFormat.of().formatHex(family), row);
        }
        issued.increment();
        x.accept(row, "issued", true);
    }

    /**
     * A login ({@code changeSessionId}): the family of the browser that logged in follows the new
     * id with a new token, and no token minted before the login opens anything after it. Every
     * other family of the session is revoked, so a family planted by a hand-off link, or a token
     * captured before the login, dies here.
     */
    @Override
    public void sessionIdChanged(Session session, String oldId) {
        if (!ready) {
            return;
        }
        Exchange x = CURRENT.get();
        String newId = session.getIdInternal();
        if (!gate.open()) {
            log.debug("sessionfarm token valve [" + app + "]: store down; the session's token families keep its old id");
            return;
        }
        try {
            // The family of this request follows the login if it belongs to the session as it was
            // (the database decides: a second login racing the first finds it moved already).
            boolean ours = store.loggedIn(oldId, newId, x != null && x.family != null ? x.family.family() : null);
            if (!ours) {
                return;
            }
            String state = String.valueOf(x.request.getAttribute(STATE_ATTRIBUTE));
            if (x.cookieValue != null) {
                // This response already carries a new token: seal it again with the new id rather
                // than rotate twice, which would turn the browser's parallel requests into replays.
                x.family = x.family.renamed(newId);
                sendCookie(x, x.family);
            } else {
                Family next = store.rotateAtLogin(x.family.family(), x.family.tokenId(), newId, newId());
                if (next != null) {
                    rotated.increment();
                    x.accept(next, state, true);
                }
            }
        } catch (SQLException e) {
            gate.failed(e);
        }
    }

    /** The session was invalidated or expired: every token of it, on every node, opens nothing. */
    @Override
    public void sessionEnded(String sessionId) {
        if (!ready) {
            return;
        }
        if (gate.open()) {
            try {
                store.revokeSession(sessionId);
                gate.succeeded();
                return;
            } catch (SQLException e) {
                gate.failed(e);
            }
        }
        owedRevocations.add(sessionId);
    }

    // ---- the cookie ----------------------------------------------------------------------------

    private void sendCookie(Exchange x, Family row) {
        if (x.response.isCommitted()) {
            log.debug("sessionfarm token valve [" + app + "]: response already committed; the token cookie was not sent");
            return;
        }
        KeyRing.Key key = ring.sealingKey(1);
        String value;
        try {
            value = codec.seal(row.current(key.id()), key);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("AES-GCM failed", e);
        }
        String path = contextPath(x.request);
        StringBuilder header = new StringBuilder(settings.cookieName()).append('=').append(value)
                .append("; Path=").append(path.isEmpty() ? "/" : path);
        if (settings.secure()) {
            header.append("; Secure");
        }
        header.append("; HttpOnly; SameSite=").append(settings.sameSite());
        // A second token in one response (created, then renamed at login) replaces the first.
        MimeHeaders headers = x.response.getCoyoteResponse().getMimeHeaders();
        String prefix = settings.cookieName() + "=";
        boolean replaced = false;
        for (int i = 0; i < headers.size(); i++) {
            MessageBytes name = headers.getName(i);
            if (name.equalsIgnoreCase("Set-Cookie") && headers.getValue(i).toString().startsWith(prefix)) {
                headers.getValue(i).setString(header.toString());
                replaced = true;
            }
        }
        if (!replaced) {
            x.response.addHeader("Set-Cookie", header.toString());
        }
        x.response.setHeader("Cache-Control", "no-store");
        x.cookieValue = value;
    }

    // ---- hand-off to the node that serves a path -----------------------------------------------

    private Route routeFor(String path) {
        for (Route route : settings.routes()) {
            if (path.startsWith(route.prefix()) && !route.target().equals(settings.self())) {
                return route;
            }
        }
        return null;
    }

    /**
     * The resource lives on another node: redirect there with a single-use code that stands for
     * the session, never the token itself (which would leak through logs, history and Referer).
     */
    private void handOff(Exchange x, Route route) throws IOException {
        Request request = x.request;
        String target = localTarget(request);
        noReferrer(x.response);
        if (!gate.open()) {
            plain(x.response, 503, "This page is served by another node, and the hand-off cannot be prepared now. Try again shortly.");
            return;
        }
        try {
            if (x.family == null || manager.findSession(x.family.sessionId()) == null) {
                redirect(x.response, route.target() + target); // no session to carry
                return;
            }
            String state = String.valueOf(request.getAttribute(STATE_ATTRIBUTE));
            if (state.equals("unverified")) {
                plain(x.response, 503, "This page is served by another node, and the hand-off cannot be prepared now. Try again shortly.");
                return;
            }
            if (state.equals("current")) {
                // Issuing a code is a rotation whose successor counts as used at once: whoever used
                // a copy of this token to get a code has forked it, and the holder who goes on with
                // the old token is refused within a second and caught as a reuse after the grace.
                // (A parallel request that presented the predecessor changes nothing.)
                Family next = store.rotateUsed(x.family.family(), x.family.tokenId(), x.family.sessionId(), newId(),
                        settings.graceMillis());
                if (next != null) {
                    rotated.increment();
                    x.accept(next, state, true);
                }
            }
            String code = Base64.getUrlEncoder().withoutPadding().encodeToString(newBytes(32));
            store.createHandoff(Sha256.of(code), x.family.sessionId(), x.family.createdAt(), target, HANDOFF_TTL_MILLIS);
            handoffsIssued.increment();
            redirect(x.response, route.target() + contextPath(request) + HANDOFF_PATH + "?code=" + code);
        } catch (SQLException e) {
            gate.failed(e);
            plain(x.response, 503, "This page is served by another node, and the hand-off could not be prepared. Try again shortly.");
        }
    }

    /** The receiving end: the code works once, within its lifetime, then the browser goes to the clean URL. */
    private void redeem(Exchange x) throws IOException {
        noReferrer(x.response);
        String code = x.request.getParameter("code");
        if (code == null || !code.matches("[A-Za-z0-9_-]{43}")) {
            handoffsRefused.increment();
            plain(x.response, 400, "This hand-off link is not valid.");
            return;
        }
        if (!gate.open()) {
            plain(x.response, 503, "The session store is unavailable. Try again shortly.");
            return;
        }
        try {
            Handoff handoff = store.redeem(Sha256.of(code));
            Session session = handoff == null ? null : manager.findSession(handoff.sessionId());
            if (session == null) {
                handoffsRefused.increment();
                plain(x.response, 410, "This hand-off link was already used or has expired. Go back and follow the link again.");
                return;
            }
            if (x.family != null) {
                // The browser already holds a session here. A link never replaces it: its own
                // session goes on, the same one or not (a link can be anyone's).
                if (!handoff.sessionId().equals(x.family.sessionId())) {
                    handoffsRefused.increment();
                }
                redirect(x.response, safeTarget(handoff.target()));
                return;
            }
            Family row = store.create(newId(), handoff.sessionId(), newId(), handoff.createdAt());
            store.capFamilies(handoff.sessionId(), MAX_FAMILIES);
            handoffsRedeemed.increment();
            issued.increment();
            x.accept(row, "handoff", true);
            redirect(x.response, safeTarget(handoff.target()));
        } catch (SQLException e) {
            gate.failed(e);
            plain(x.response, 503, "The session store is unavailable. Try again shortly.");
        }
    }

    /**
     * Where the browser goes after the hand-off, on the receiving node: the request's path as
     * Tomcat normalized it (not the raw text, in which {@code //host/..} would leave the farm),
     * re-encoded, and its query.
     */
    private static String localTarget(Request request) {
        String path = contextPath(request) + pathOf(request);
        String encoded;
        try {
            encoded = new java.net.URI(null, null, path, null).getRawPath();
        } catch (java.net.URISyntaxException e) {
            encoded = "/";
        }
        return safeTarget(encoded + (request.getQueryString() == null ? "" : "?" + request.getQueryString()));
    }

    /** A path on this node, never another host: anything but a path starting with one {@code /} becomes {@code /}. */
    static String safeTarget(String target) {
        boolean local = target != null && target.startsWith("/") && !target.startsWith("//") && !target.startsWith("/\\")
                && target.chars().noneMatch(c -> c < 0x21 || c == 0x7f);
        return local ? target : "/";
    }

    private static void noReferrer(Response response) {
        response.setHeader("Referrer-Policy", "no-referrer");
        response.setHeader("Cache-Control", "no-store");
    }

    private static void redirect(Response response, String location) {
        response.setStatus(303);
        response.setHeader("Location", location);
    }

    private static void plain(Response response, int status, String message) throws IOException {
        response.setStatus(status);
        response.setContentType("text/plain;charset=UTF-8");
        response.getWriter().println(message);
    }

    // ---- background: key rotation, cleanup, owed families --------------------------------------

    /** Every second: probes the store while it is down, and writes the families owed once it is back. */
    private void catchUp() {
        try {
            if (gate.isDown()) {
                if (!gate.probeDue()) {
                    return;
                }
                store.ping();
                gate.succeeded();
            }
            for (Family owed : owedFamilies.values()) {
                writeOwed(owed);
            }
            for (String sessionId : owedRevocations) {
                store.revokeSession(sessionId);
                owedRevocations.remove(sessionId);
            }
            gate.succeeded();
        } catch (SQLException e) {
            gate.failed(e);
        }
    }

    private void maintain() {
        if (!gate.open()) {
            return; // catchUp() probes the store meanwhile
        }
        try {
            ring.rotateIfDue();
            long now = System.currentTimeMillis();
            if (now - lastCleanup >= CLEANUP_MILLIS) {
                store.deleteExpired(settings.idleMillis() + settings.graceMillis(), settings.absoluteMillis());
                long databaseNow = now - manager.getClockSkewMillis();
                newest.values().removeIf(family -> databaseNow - family.createdAt() > settings.absoluteMillis());
                lastCleanup = now;
            }
            gate.succeeded();
        } catch (SQLException e) {
            gate.failed(e);
        } catch (RuntimeException e) {
            log.error("sessionfarm token valve [" + app + "]: maintenance failed", e);
        }
    }

    /** Writes a family made while the store was down; a request and the background task may race to it. */
    private Family writeOwed(Family owed) throws SQLException {
        Family written;
        try {
            written = store.create(owed.family(), owed.sessionId(), owed.tokenId(), owed.createdAt());
        } catch (SQLException e) {
            if (!"23505".equals(e.getSQLState())) { // unique violation: the other one wrote it
                throw e;
            }
            written = store.read(owed.family());
        }
        owedFamilies.remove(HexFormat.of().formatHex(owed.family()));
        return written;
    }

    private static byte[] newId() {
        return newBytes(TokenCodec.ID_BYTES);
    }

    private static byte[] newBytes(int n) {
        byte[] bytes = new byte[n];
        RANDOM.nextBytes(bytes);
        return bytes;
    }

    // ---- JMX -----------------------------------------------------------------------------------

    public long getTokensVerified() { return verified.sum(); }
    public long getTokensIssued() { return issued.sum(); }
    public long getTokensRotated() { return rotated.sum(); }
    public long getAcceptedInGrace() { return acceptedInGrace.sum(); }
    public long getRejectedMalformed() { return rejectedMalformed.sum(); }
    public long getRejectedUnknownKey() { return rejectedUnknownKey.sum(); }
    public long getRejectedTampered() { return rejectedTampered.sum(); }
    public long getRejectedUnknownFamily() { return rejectedUnknownFamily.sum(); }
    public long getRejectedBeforeLogin() { return rejectedBeforeLogin.sum(); }
    public long getRejectedLatePredecessor() { return rejectedLatePredecessor.sum(); }
    public long getClosedByIdleTimeout() { return closedIdle.sum(); }
    public long getClosedByAbsoluteTimeout() { return closedAbsolute.sum(); }
    public long getReplaysRevoked() { return replaysRevoked.sum(); }
    public long getAcceptedWhileStoreDown() { return acceptedWhileStoreDown.sum(); }
    public long getHandoffsIssued() { return handoffsIssued.sum(); }
    public long getHandoffsRedeemed() { return handoffsRedeemed.sum(); }
    public long getHandoffsRefused() { return handoffsRefused.sum(); }
    public int getOwedFamilies() { return owedFamilies.size(); }
    public boolean getStoreAvailable() { return gate != null && !gate.isDown(); }
    public long getKeyRotations() { return ring == null ? 0 : ring.rotations(); }
    public long getPrimaryKeyAgeSeconds() { return ring == null ? 0 : ring.primaryAgeMillis() / 1000; }
    public int getKeysInRing() { return ring == null ? 0 : ring.size(); }
}
