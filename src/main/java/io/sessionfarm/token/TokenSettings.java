package io.sessionfarm.token;

import static io.sessionfarm.config.Attributes.bool;
import static io.sessionfarm.config.Attributes.invalid;

import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The token valve's configuration, parsed from the attribute strings of its {@code <Valve>}
 * element. Every problem is reported with the attribute, the value and what is allowed.
 */
record TokenSettings(String masterKeyFile, String cookieName, boolean secure, String sameSite, long rotateAfterMillis,
        long graceMillis, long idleMillis, long absoluteMillis, long keyRotationMillis, List<String> rejectPaths,
        List<Route> routes, String self, String routeCookie) {

    /** Requests under {@code prefix} are served by the node at {@code target} (scheme, host, port). */
    record Route(String prefix, String target) {
    }

    static final Set<String> ATTRIBUTES = Set.of("masterKeyFile", "cookieName", "secure", "sameSite", "rotateAfter",
            "grace", "idleTimeout", "absoluteTimeout", "keyRotation", "rejectPaths", "handoffRoutes", "handoffSelf",
            "routeCookie");

    /**
     * @param contextPath         "" for the root context: only there may the cookie be {@code __Host-}
     * @param sessionTimeoutSecs  the context's session timeout, the default idle timeout
     */
    static TokenSettings parse(Map<String, String> raw, String contextPath, int sessionTimeoutSecs) {
        boolean secure = bool(raw, "secure", true);
        String cookieName = raw.get("cookieName");
        if (cookieName == null || cookieName.isBlank()) {
            // __Host- where it can be (root context): no subdomain can set or shadow it. Elsewhere
            // __Secure-, which at least no plain-http page can set.
            cookieName = !secure ? "sessionfarm" : contextPath.isEmpty() ? "__Host-sessionfarm" : "__Secure-sessionfarm";
        } else if (!cookieName.matches("[A-Za-z0-9_.!#$%&'*+^`|~-]{1,64}")) {
            throw invalid("cookieName", cookieName, "1 to 64 letters, digits or _ . - (a cookie name token)");
        } else if (cookieName.startsWith("__Host-") && !(secure && contextPath.isEmpty())) {
            throw invalid("cookieName", cookieName, "no __Host- prefix: it needs secure=\"true\" and the root context (/)");
        } else if (cookieName.startsWith("__Secure-") && !secure) {
            throw invalid("cookieName", cookieName, "no __Secure- prefix: it needs secure=\"true\"");
        }
        String sameSite = raw.getOrDefault("sameSite", "Lax");
        switch (sameSite.toLowerCase(Locale.ROOT)) {
            case "lax" -> sameSite = "Lax";
            case "strict" -> sameSite = "Strict";
            case "none" -> {
                if (!secure) {
                    throw invalid("sameSite", sameSite, "Lax or Strict: browsers refuse SameSite=None without secure=\"true\"");
                }
                sameSite = "None";
            }
            default -> throw invalid("sameSite", sameSite, "Lax, Strict or None");
        }
        int idleDefault = sessionTimeoutSecs > 0 ? sessionTimeoutSecs : 1800;
        long idle = seconds(raw, "idleTimeout", idleDefault, 1, 604800);
        long absolute = seconds(raw, "absoluteTimeout", 28800, 1, 31_536_000);
        long rotateAfter = seconds(raw, "rotateAfter", 60, 0, 86400);
        if (rotateAfter >= idle) {
            throw invalid("rotateAfter", raw.getOrDefault("rotateAfter", "60"),
                    "fewer seconds than idleTimeout (" + idle / 1000 + "), or an active user would time out");
        }
        long grace = seconds(raw, "grace", 20, 0, 300);
        long keyRotation = seconds(raw, "keyRotation", 86400, 2, 31_536_000);
        List<String> rejectPaths = new ArrayList<>();
        for (String path : list(raw.get("rejectPaths"))) {
            if (!path.startsWith("/")) {
                throw invalid("rejectPaths", raw.get("rejectPaths"), "comma-separated path prefixes, each starting with /");
            }
            rejectPaths.add(path);
        }
        List<Route> routes = new ArrayList<>();
        for (String entry : list(raw.get("handoffRoutes"))) {
            int eq = entry.indexOf('=');
            String prefix = eq < 0 ? "" : entry.substring(0, eq).strip();
            String target = eq < 0 ? "" : base(entry.substring(eq + 1).strip());
            if (!prefix.startsWith("/") || target == null) {
                throw invalid("handoffRoutes", raw.get("handoffRoutes"),
                        "comma-separated /path-prefix=http(s)://host:port entries");
            }
            routes.add(new Route(prefix, target));
        }
        String self = raw.get("handoffSelf");
        if (self != null && !self.isBlank()) {
            self = base(self.strip());
            if (self == null) {
                throw invalid("handoffSelf", raw.get("handoffSelf"), "this node's own http(s)://host:port");
            }
        } else {
            self = null;
        }
        if (!routes.isEmpty() && self == null) {
            throw invalid("handoffSelf", "", "this node's own http(s)://host:port, so that it serves its own routes");
        }
        String routeCookie = raw.get("routeCookie");
        if (routeCookie == null || routeCookie.isBlank()) {
            routeCookie = null;
        } else if (!routeCookie.matches("[A-Za-z0-9_.-]{1,64}") || routeCookie.equalsIgnoreCase(cookieName)) {
            throw invalid("routeCookie", routeCookie, "1 to 64 letters, digits or _ . -, other than the token's cookie name");
        } else if (routeCookie.startsWith("__") && !(secure && (routeCookie.startsWith("__Host-")
                || routeCookie.startsWith("__Secure-")))) {
            throw invalid("routeCookie", routeCookie, "a __Host- or __Secure- prefix, which needs secure=\"true\", or none");
        }
        return new TokenSettings(raw.get("masterKeyFile"), cookieName, secure, sameSite, rotateAfter, grace, idle,
                absolute, keyRotation, List.copyOf(rejectPaths), List.copyOf(routes), self, routeCookie);
    }

    boolean rotateEveryResponse() {
        return rotateAfterMillis == 0;
    }

    private static String base(String url) {
        try {
            URI uri = new URI(url);
            if ((!"http".equals(uri.getScheme()) && !"https".equals(uri.getScheme())) || uri.getHost() == null
                    || (uri.getPath() != null && !uri.getPath().isEmpty() && !uri.getPath().equals("/"))
                    || uri.getQuery() != null || uri.getUserInfo() != null) {
                return null;
            }
            return uri.getScheme() + "://" + uri.getHost() + (uri.getPort() > 0 ? ":" + uri.getPort() : "");
        } catch (java.net.URISyntaxException e) {
            return null;
        }
    }

    private static List<String> list(String value) {
        List<String> out = new ArrayList<>();
        if (value != null) {
            for (String part : value.split(",")) {
                if (!part.isBlank()) {
                    out.add(part.strip());
                }
            }
        }
        return out;
    }

    private static long seconds(Map<String, String> raw, String name, long dflt, long min, long max) {
        String value = raw.get(name);
        if (value == null) {
            return dflt * 1000;
        }
        try {
            long n = Long.parseLong(value.strip());
            if (n >= min && n <= max) {
                return n * 1000;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw invalid(name, value, "whole seconds from " + min + " to " + max);
    }

    @Override
    public String toString() {
        return "cookie " + cookieName + (secure ? "; Secure" : "") + "; SameSite=" + sameSite + ", rotation "
                + (rotateEveryResponse() ? "on every response" : "after " + rotateAfterMillis / 1000 + " s")
                + ", grace " + graceMillis / 1000 + " s, idle timeout " + idleMillis / 1000 + " s, absolute timeout "
                + absoluteMillis / 1000 + " s, key rotation every " + keyRotationMillis / 1000 + " s"
                + (routes.isEmpty() ? "" : ", hand-off routes " + routes + " (this node " + self + ")")
                + (routeCookie == null ? "" : ", route cookie " + routeCookie);
    }
}
