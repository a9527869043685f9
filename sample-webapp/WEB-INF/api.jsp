<%@ page contentType="application/json;charset=UTF-8" pageEncoding="UTF-8" session="false"
    import="java.util.*,jakarta.servlet.http.HttpSession,io.sessionfarm.sample.*" %><%!
    /** Not Serializable on purpose: shows that such an attribute stays local and breaks nothing. */
    public static final class LocalOnly {
        private final Thread owner = Thread.currentThread();
        @Override public String toString() { return "held by " + owner.getName(); }
    }

    static String quote(Object value) {
        StringBuilder out = new StringBuilder("\"");
        for (char c : String.valueOf(value).toCharArray()) {
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                default -> { if (c < 0x20) out.append(String.format("\\u%04x", (int) c)); else out.append(c); }
            }
        }
        return out.append('"').toString();
    }

    static String toJson(Object value) {
        if (value instanceof Number || value instanceof Boolean) return value.toString();
        if (value instanceof Collection<?> items) {
            StringJoiner out = new StringJoiner(",", "[", "]");
            items.forEach(item -> out.add(toJson(item)));
            return out.toString();
        }
        if (value instanceof Map<?, ?> entries) {
            StringJoiner out = new StringJoiner(",", "{", "}");
            entries.forEach((k, v) -> out.add(quote(k) + ":" + toJson(v)));
            return out.toString();
        }
        return quote(value);
    }
%><%
    String node = System.getProperty("sessionfarm.node", "node");
    String op = request.getPathInfo() == null ? "/" : request.getPathInfo();
    if (op.startsWith("/strict/")) {
        op = op.substring("/strict".length()); // the same ops, where the token valve answers 401 to a bad token
    }
    String name = request.getParameter("name");
    String value = request.getParameter("value");
    Map<String, Object> reply = new LinkedHashMap<>();
    reply.put("node", node);
    if (request.getAttribute("io.sessionfarm.token.state") != null) {
        reply.put("token", request.getAttribute("io.sessionfarm.token.state"));
    }
    HttpSession session;
    switch (op) {
        case "/ping" -> reply.put("up", true);
        case "/report" -> {
            // Served by one node only (handoffRoutes): the session arrives through a hand-off code.
            session = request.getSession(false);
            reply.put("session", session != null);
            if (session != null) {
                reply.put("counter", session.getAttribute("counter"));
            }
        }
        case "/whoami" -> {
            session = request.getSession();
            Integer counter = (Integer) session.getAttribute("counter");
            counter = counter == null ? 1 : counter + 1;
            session.setAttribute("counter", counter);
            reply.put("counter", counter);
            reply.put("new", session.isNew());
            if (request.isSecure()) {
                // TLS state beside the HttpSession: this connection's, and what the session was created under.
                Map<String, Object> tls = new LinkedHashMap<>();
                tls.put("protocol", String.valueOf(request.getAttribute("org.apache.tomcat.util.net.secure_protocol_version")).split(":")[0]);
                tls.put("cipher", request.getAttribute("jakarta.servlet.request.cipher_suite"));
                tls.put("resumed", String.valueOf(request.getAttribute("io.sessionfarm.tls.resumed")));
                tls.put("sessionCreatedUnder", String.valueOf(session.getAttribute("io.sessionfarm.tls.createdUnder")));
                reply.put("tls", tls);
            }
        }
        case "/set" -> {
            session = request.getSession();
            session.setAttribute(name, value);
            reply.put(name, value);
        }
        case "/append" -> {
            // Changed in place, without a second setAttribute: the Manager must still notice.
            session = request.getSession();
            @SuppressWarnings("unchecked")
            List<String> list = (List<String>) session.getAttribute(name);
            if (list == null) {
                list = new ArrayList<>();
                session.setAttribute(name, list);
            }
            list.add(value);
            reply.put(name, list);
        }
        case "/checkout" -> {
            // The shop's checkout: the cart becomes an order and is emptied.
            session = request.getSession();
            @SuppressWarnings("unchecked")
            List<String> cart = (List<String>) session.getAttribute("cart");
            Integer orders = (Integer) session.getAttribute("orders");
            session.setAttribute("orders", orders == null ? 1 : orders + 1);
            session.removeAttribute("cart");
            reply.put("user", session.getAttribute("user"));
            reply.put("ordered", cart == null ? List.of() : cart);
        }
        case "/incr" -> {
            // Read, add one, write back: two nodes doing this to different attributes must not lose any.
            session = request.getSession();
            Integer n = (Integer) session.getAttribute(name);
            if (request.getParameter("pause") != null) {
                // A slow request (for the tests): the session may move to another node meanwhile.
                try {
                    Thread.sleep(Math.min(10_000, Long.parseLong(request.getParameter("pause"))));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            n = n == null ? 1 : n + 1;
            session.setAttribute(name, n);
            reply.put(name, n);
        }
        case "/track" -> {
            session = request.getSession();
            session.setAttribute("label", value);
            session.setAttribute("tracked", new Tracked(value));
            reply.put("label", value);
        }
        case "/timeout" -> {
            session = request.getSession();
            session.setMaxInactiveInterval(Integer.parseInt(value));
            reply.put("timeout", session.getMaxInactiveInterval());
        }
        case "/fill" -> {
            // Twenty small attributes, for the change-detection benchmark: lists (checked by
            // digest at each checkpoint) or strings (known immutable, never re-serialized).
            session = request.getSession();
            for (int i = 0; i < 20; i++) {
                session.setAttribute("item" + i, "mutable".equals(value) ? new ArrayList<>(List.of("x" + i)) : "x" + i);
            }
            reply.put("filled", value);
        }
        case "/tls-reload" -> {
            // A demo of an operator's TLS reload; only from this machine.
            if (!request.getRemoteAddr().equals("127.0.0.1")) {
                response.setStatus(403);
            } else {
                reply.put("reloaded", FarmStats.reloadTls());
            }
        }
        case "/stats" -> reply.put("stats", FarmStats.of("localhost", request.getContextPath()));
        case "/farm" -> {
            // The dashboard's (farm.html): every node's stats, or that it is down; from this machine only.
            if (!request.getRemoteAddr().equals("127.0.0.1") && !request.getRemoteAddr().equals("0:0:0:0:0:0:0:1")) {
                response.setStatus(403);
            } else {
                String self = System.getProperty("sessionfarm.self", request.getScheme() + "://127.0.0.1:" + request.getLocalPort());
                reply.put("at", System.currentTimeMillis());
                reply.put("nodes", FarmView.poll(FarmView.nodes(node, self + request.getContextPath())));
            }
        }
        case "/get" -> {
            session = request.getSession(false);
            reply.put("session", session != null);
            if (session != null) {
                Map<String, Object> attributes = new TreeMap<>();
                for (String key : Collections.list(session.getAttributeNames())) {
                    Object attribute = session.getAttribute(key);
                    attributes.put(key, attribute instanceof LocalOnly ? attribute.toString() : attribute);
                }
                reply.put("attributes", attributes);
            }
        }
        case "/local-only" -> {
            session = request.getSession();
            session.setAttribute("localOnly", new LocalOnly());
            session.setAttribute("note", value);
        }
        case "/login" -> {
            request.getSession();
            request.changeSessionId();
            request.getSession().setAttribute("user", value);
            reply.put("user", value);
        }
        case "/invalidate" -> {
            session = request.getSession(false);
            if (session != null) session.invalidate();
            reply.put("invalidated", session != null);
        }
        default -> {
            response.setStatus(404);
            reply.put("error", "unknown operation");
        }
    }
    out.print(toJson(reply));
%>
