package io.sessionfarm.token;

import jakarta.servlet.http.Cookie;

/**
 * The balancer's route cookie ({@code routeCookie="SFROUTE"}): this node's {@code jvmRoute},
 * in the clear, on every response to a request that carries a session whose browser presented
 * another route or none. A sticky balancer keyed on it (HAProxy's {@code cookie SFROUTE} with
 * each server's {@code cookie <jvmRoute>}) then sends the session's next requests here; when
 * this node dies, the node that serves the next request puts its own route in. The session id
 * stays inside the sealed token: the route names a node, never a session.
 */
final class RouteCookie {

    static final RouteCookie OFF = new RouteCookie(null, null, null);

    private final String name;
    private final String route;
    private final String header;

    private RouteCookie(String name, String route, String header) {
        this.name = name;
        this.route = route;
        this.header = header;
    }

    /** Path=/ as the balancer routes the whole host; Secure and SameSite as the token's cookie. */
    static RouteCookie of(TokenSettings settings, String jvmRoute) {
        if (settings.routeCookie() == null) {
            return OFF;
        }
        return new RouteCookie(settings.routeCookie(), jvmRoute, settings.routeCookie() + "=" + jvmRoute + "; Path=/"
                + (settings.secure() ? "; Secure" : "") + "; HttpOnly; SameSite=" + settings.sameSite());
    }

    /**
     * Once per response: sets this node's route, unless the browser presented it already (among
     * several cookies of that name, as a balancer may pick any it knows) or the response has one
     * (an async dispatch runs the valve again). Marked {@code private} for caches: a shared cache
     * must not hand one user's route to others.
     */
    void stamp(Exchange exchange) {
        if (name == null || exchange.routeCookieHandled || exchange.response.isCommitted()) {
            return;
        }
        exchange.routeCookieHandled = true;
        Cookie[] cookies = exchange.request.getCookies();
        if (cookies != null) {
            for (Cookie presented : cookies) {
                if (presented.getName().equals(name) && presented.getValue().equals(route)) {
                    return;
                }
            }
        }
        for (String sent : exchange.response.getHeaders("Set-Cookie")) {
            if (sent.startsWith(name + "=")) {
                return;
            }
        }
        exchange.response.addHeader("Set-Cookie", header);
        if (exchange.response.getHeader("Cache-Control") == null) {
            exchange.response.setHeader("Cache-Control", "private");
        }
    }
}
