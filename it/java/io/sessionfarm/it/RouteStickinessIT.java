package io.sessionfarm.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Sticky sessions behind a real balancer with the token valve: each node's Engine has its own
 * {@code jvmRoute}, the valve's {@code routeCookie} carries it, and HAProxy sends a session's
 * requests to the server whose {@code cookie} matches. A node killed with {@code kill -9}: its
 * users go on on other nodes with nothing lost, and stay on their new node.
 */
class RouteStickinessIT extends FarmTestBase {

    private static final String ROUTE_COOKIE = "SFROUTE";

    private static Farm farm;
    private static List<Farm.Node> nodes;
    private static Process haproxy;
    private static int port;

    @BeforeAll
    static void startFarmBehindHaproxy() throws Exception {
        assertTrue(Balancer.installed(), "haproxy is needed: sudo apt-get install haproxy (./check installs it)");
        farm = farm(RouteStickinessIT.class);
        nodes = new ArrayList<>();
        for (String name : List.of("route-a", "route-b", "route-c")) {
            Farm.Node node = farm.create(name, Farm.freePort(0), farmContext());
            farm.setJvmRoute(node, name);
            edit(node.base().resolve("conf/context.xml"), "<Valve className=\"io.sessionfarm.token.TokenValve\"",
                    "<Valve className=\"io.sessionfarm.token.TokenValve\" routeCookie=\"" + ROUTE_COOKIE + "\"");
            nodes.add(node);
        }
        start(farm, nodes);
        Path dir = Files.createTempDirectory("sessionfarm-haproxy");
        port = Farm.freePort(0);
        // Passive cookie mode: HAProxy reads the node's cookie and never sets one. A dead server's
        // users are sent to another (redispatch), which answers with its own route.
        String config = """
                global
                  maxconn 256
                defaults
                  mode http
                  option redispatch
                  retries 2
                  timeout connect 2s
                  timeout client 30s
                  timeout server 30s
                frontend web
                  bind 127.0.0.1:%d
                  default_backend farm
                backend farm
                  balance roundrobin
                  cookie %s
                """.formatted(port, ROUTE_COOKIE);
        for (Farm.Node node : nodes) {
            config += "  server " + node.name() + " 127.0.0.1:" + node.port() + " check inter 500ms fall 3 rise 2 cookie "
                    + node.name() + "\n"; // the server's cookie value is its node's jvmRoute
        }
        haproxy = Balancer.start(config, port, dir.resolve("haproxy.cfg"), dir.resolve("haproxy.log"), false);
    }

    @AfterAll
    static void stopBalancer() {
        if (haproxy != null) {
            haproxy.destroy();
        }
    }

    @Test
    void usersStayOnTheirNodeAndMoveWithNothingLostWhenItIsKilled() throws Exception {
        List<Client> users = new ArrayList<>();
        Map<Client, String> home = new HashMap<>();
        Map<Client, Integer> counters = new HashMap<>();
        for (int u = 0; u < 6; u++) {
            Client user = new Client();
            Client.Reply first = user.get(through("/api/whoami"));
            assertEquals(1, first.intField("counter"));
            String node = first.field("node");
            assertEquals(node, user.cookie(ROUTE_COOKIE), "the route cookie names the node that made the session");
            users.add(user);
            home.put(user, node);
            counters.put(user, 1);
        }
        assertTrue(home.values().stream().distinct().count() >= 2, "round-robin spread the new sessions: " + home.values());
        java.util.Random order = new java.util.Random(7);
        for (int round = 0; round < 5; round++) {
            // In another order each round, with a request without a session between: only the cookie keeps users home.
            java.util.Collections.shuffle(users, order);
            new Client().get(through("/api/ping"));
            for (Client user : users) {
                Client.Reply reply = user.get(through("/api/whoami"));
                assertEquals(home.get(user), reply.field("node"), "sticky to its node");
                assertEquals(counters.merge(user, 1, Integer::sum), reply.intField("counter"));
                assertTrue(reply.header("Set-Cookie").stream().noneMatch(c -> c.startsWith(ROUTE_COOKIE + "=")),
                        "no route cookie while the browser has the right one: " + reply.headers());
            }
        }
        assertIdsCarryRoutes();

        Farm.Node victim = nodes.get(nodes.stream().map(Farm.Node::name).toList().indexOf(home.get(users.get(0))));
        farm.kill(victim);
        for (Client user : users) {
            Client.Reply moved = user.get(through("/api/whoami"));
            assertEquals(200, moved.status());
            assertEquals(counters.merge(user, 1, Integer::sum), moved.intField("counter"), "nothing acknowledged lost");
            String now = moved.field("node");
            assertNotEquals(victim.name(), now);
            if (home.get(user).equals(victim.name())) {
                assertEquals(now, user.cookie(ROUTE_COOKIE), "the new node put its route in");
                home.put(user, now);
            } else {
                assertEquals(home.get(user), now, "users of the other nodes did not move");
            }
        }
        for (int round = 0; round < 5; round++) {
            java.util.Collections.shuffle(users, order);
            new Client().get(through("/api/ping"));
            for (Client user : users) {
                Client.Reply reply = user.get(through("/api/whoami"));
                assertEquals(home.get(user), reply.field("node"), "sticky to its new node");
                assertEquals(counters.merge(user, 1, Integer::sum), reply.intField("counter"));
            }
        }
        // The killed node back: its former users stay where they moved.
        farm.start(victim);
        farm.awaitUp(victim, START);
        boolean balancedAgain = false;
        for (int i = 0; i < 40 && !balancedAgain; i++) { // HAProxy's checks find it up (rise 2, every 500 ms)
            balancedAgain = victim.name().equals(new Client().get(through("/api/ping")).field("node"));
            Thread.sleep(100);
        }
        assertTrue(balancedAgain, "HAProxy sends new users to the returned node again");
        for (Client user : users) {
            Client.Reply reply = user.get(through("/api/whoami"));
            assertEquals(home.get(user), reply.field("node"), "no fail-back");
            assertEquals(counters.merge(user, 1, Integer::sum), reply.intField("counter"));
        }
    }

    @Test
    void aRouteCookieWithoutAJvmRouteStopsTheContextSayingWhatToSet() throws Exception {
        Farm.Node node = farm.create("route-none", Farm.freePort(0), farmContext());
        edit(node.base().resolve("conf/context.xml"), "<Valve className=\"io.sessionfarm.token.TokenValve\"",
                "<Valve className=\"io.sessionfarm.token.TokenValve\" routeCookie=\"" + ROUTE_COOKIE + "\"");
        farm.start(node);
        registerForStop(List.of(node));
        awaitServerStarted(node);
        assertEquals(404, new Client().get(node, "/api/whoami").status(), "the context did not start");
        String log = log(node);
        assertTrue(log.contains("routeCookie=\"SFROUTE\" puts this node's jvmRoute in a cookie, but the Engine's jvmRoute"
                + " is not set"), log);
        assertFalse(log.contains(node.property("sessionfarm.password", "?")), "no password in the log");
    }

    /** Session ids end with the route of the node that made them, as on plain Tomcat. */
    private static void assertIdsCarryRoutes() throws Exception {
        try (var db = java.sql.DriverManager.getConnection(databaseUrl, io.sessionfarm.store.TestDatabase.server().user(),
                io.sessionfarm.store.TestDatabase.server().password());
                var rs = db.createStatement().executeQuery("SELECT id FROM sessionfarm_session")) {
            int rows = 0;
            while (rs.next()) {
                String id = rs.getString(1);
                assertTrue(nodes.stream().anyMatch(n -> id.endsWith("." + n.name())), id);
                rows++;
            }
            assertTrue(rows >= 6, "the sessions are stored: " + rows);
        }
    }

    private static URI through(String path) {
        return URI.create("http://127.0.0.1:" + port + path);
    }

    private static void edit(Path file, String from, String to) throws Exception {
        String text = Files.readString(file);
        assertTrue(text.contains(from), from + " in " + file);
        Files.writeString(file, text.replace(from, to));
    }
}
