package io.sessionfarm.token;

import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.sql.SQLException;

import org.apache.catalina.Session;
import org.apache.catalina.connector.Response;

import io.sessionfarm.keys.Sha256;
import io.sessionfarm.session.SessionFarm;
import io.sessionfarm.store.StoreGate;
import io.sessionfarm.token.TokenSettings.Route;
import io.sessionfarm.token.TokenStore.Family;
import io.sessionfarm.token.TokenStore.Handoff;

/**
 * Hands a session over to the node that serves a path. The first node redirects to the target
 * node's {@link TokenValve#HANDOFF_PATH} with a single-use code that stands for the session, never
 * the token itself (which would leak through logs, history and Referer); the target node redeems
 * it, once, into a token family of its own, and sends the browser on to the clean URL.
 */
final class HandoffEndpoint {

    /** How long a code can be redeemed. */
    static final long CODE_TTL_MILLIS = 30_000;
    /** Families one session may have (one per browser that redeemed a code): the least recently used go. */
    static final int MAX_FAMILIES = 8;
    private static final String NOT_NOW =
            "This page is served by another node, and the hand-off cannot be prepared now. Try again shortly.";
    private static final String NOT_PREPARED =
            "This page is served by another node, and the hand-off could not be prepared. Try again shortly.";
    private static final String STORE_UNAVAILABLE = "The session store is unavailable. Try again shortly.";
    private static final String GONE =
            "This hand-off link was already used or has expired. Go back and follow the link again.";

    private final TokenSettings settings;
    private final TokenStore store;
    private final StoreGate gate;
    private final SessionFarm farm;
    private final TokenStats stats;

    HandoffEndpoint(TokenSettings settings, TokenStore store, StoreGate gate, SessionFarm farm, TokenStats stats) {
        this.settings = settings;
        this.store = store;
        this.gate = gate;
        this.farm = farm;
        this.stats = stats;
    }

    /** The route of a path another node serves; null if this node serves it. */
    Route routeFor(String path) {
        for (Route route : settings.routes()) {
            if (path.startsWith(route.prefix()) && !route.target().equals(settings.self())) {
                return route;
            }
        }
        return null;
    }

    /** The resource lives on another node: redirect there with a code for the request's session. */
    void handOff(Exchange exchange, Route route) throws IOException {
        String target = localTarget(exchange);
        noReferrer(exchange.response);
        if (!gate.open()) {
            exchange.answer(503, NOT_NOW);
            return;
        }
        try {
            if (exchange.family == null || farm.findSession(exchange.family.sessionId()) == null) {
                redirect(exchange.response, route.target() + target); // no session to carry
                return;
            }
            if (exchange.state == TokenState.UNVERIFIED) {
                exchange.answer(503, NOT_NOW);
                return;
            }
            if (exchange.state == TokenState.CURRENT) {
                // Issuing a code is a rotation whose successor counts as used at once: whoever used
                // a copy of this token to get a code has forked it, and the holder who goes on with
                // the old token is refused within a second and caught as a reuse after the grace.
                // (A parallel request that presented the predecessor changes nothing.)
                Family current = exchange.family;
                Family next = store.rotateUsed(current.family(), current.tokenId(), current.sessionId(),
                        RandomIds.newId(), settings.graceMillis());
                if (next != null) {
                    stats.tokensRotated.increment();
                    exchange.accept(next, TokenState.CURRENT, true);
                }
            }
            String code = RandomIds.newCode();
            store.createHandoff(Sha256.of(code), exchange.family.sessionId(), exchange.family.createdAt(), target,
                    CODE_TTL_MILLIS);
            stats.handoffsIssued.increment();
            redirect(exchange.response,
                    route.target() + exchange.contextPath() + TokenValve.HANDOFF_PATH + "?code=" + code);
        } catch (SQLException e) {
            gate.failed(e);
            exchange.answer(503, NOT_PREPARED);
        }
    }

    /** The receiving end: the code works once, within its lifetime, then the browser goes to the clean URL. */
    void redeem(Exchange exchange) throws IOException {
        noReferrer(exchange.response);
        String code = exchange.request.getParameter("code");
        if (code == null || !code.matches("[A-Za-z0-9_-]{43}")) {
            stats.handoffsRefused.increment();
            exchange.answer(400, "This hand-off link is not valid.");
            return;
        }
        if (!gate.open()) {
            exchange.answer(503, STORE_UNAVAILABLE);
            return;
        }
        try {
            Handoff handoff = store.redeem(Sha256.of(code));
            Session session = handoff == null ? null : farm.findSession(handoff.sessionId());
            if (session == null) {
                stats.handoffsRefused.increment();
                exchange.answer(410, GONE);
                return;
            }
            if (exchange.family != null) {
                // The browser already holds a session here. A link never replaces it: its own
                // session goes on, the same one or not (a link can be anyone's).
                if (!handoff.sessionId().equals(exchange.family.sessionId())) {
                    stats.handoffsRefused.increment();
                }
                redirect(exchange.response, safeTarget(handoff.target()));
                return;
            }
            Family row = store.create(RandomIds.newId(), handoff.sessionId(), RandomIds.newId(), handoff.createdAt());
            store.capFamilies(handoff.sessionId(), MAX_FAMILIES);
            stats.handoffsRedeemed.increment();
            stats.tokensIssued.increment();
            exchange.accept(row, TokenState.HANDOFF, true);
            redirect(exchange.response, safeTarget(handoff.target()));
        } catch (SQLException e) {
            gate.failed(e);
            exchange.answer(503, STORE_UNAVAILABLE);
        }
    }

    /**
     * Where the browser goes after the hand-off, on the receiving node: the request's path as
     * Tomcat normalized it (not the raw text, in which {@code //host/..} would leave the farm),
     * re-encoded, and its query.
     */
    private static String localTarget(Exchange exchange) {
        String path = exchange.contextPath() + exchange.path();
        String encoded;
        try {
            encoded = new URI(null, null, path, null).getRawPath();
        } catch (URISyntaxException e) {
            encoded = "/";
        }
        String query = exchange.request.getQueryString();
        return safeTarget(encoded + (query == null ? "" : "?" + query));
    }

    /** A path on this node, never another host: anything but a path starting with one {@code /} becomes {@code /}. */
    static String safeTarget(String target) {
        boolean local = target != null && target.startsWith("/") && !target.startsWith("//")
                && !target.startsWith("/\\") && target.chars().noneMatch(c -> c < 0x21 || c == 0x7f);
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
}
