package io.sessionfarm.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

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
        port = Farm.freePort(0);
        // Passive cookie mode: HAProxy reads the node's cookie (each server's is its jvmRoute) and
        // never sets one. A dead server's users are sent to another, which puts its own route in.
        haproxy = Balancer.http(nodes, port, "  cookie " + ROUTE_COOKIE + "\n", "cookie {node}",
                Files.createTempDirectory("sessionfarm-haproxy"));
    }

    @AfterAll
    static void stopBalancer() {
        if (haproxy != null) {
            haproxy.destroy();
        }
    }

    @Test
    void usersStayOnTheirNodeAndMoveWithNothingLostWhenItIsKilled() throws Exception {
        StickyUsers farmUsers = new StickyUsers(port, "/api/whoami", "counter");
        for (int u = 0; u < 6; u++) {
            farmUsers.join();
            Client user = farmUsers.users.get(u);
            assertEquals(farmUsers.home.get(user), user.cookie(ROUTE_COOKIE), "the route cookie names the node that made the session");
        }
        assertTrue(farmUsers.home.values().stream().distinct().count() >= 2, "round-robin spread the new sessions: "
                + farmUsers.home.values());
        farmUsers.rounds(5, "sticky to its node", (user, reply) -> assertTrue(reply.header("Set-Cookie").stream()
                .noneMatch(c -> c.startsWith(ROUTE_COOKIE + "=")), "no route cookie while the browser has the right one: "
                + reply.headers()));
        assertIdsCarryRoutes();

        String victimName = farmUsers.home.get(farmUsers.users.get(0));
        Farm.Node victim = nodes.stream().filter(n -> n.name().equals(victimName)).findFirst().orElseThrow();
        farm.kill(victim);
        for (Client user : farmUsers.users) {
            String now = farmUsers.next(user).field("node");
            assertNotEquals(victim.name(), now);
            if (farmUsers.home.get(user).equals(victim.name())) {
                assertEquals(now, user.cookie(ROUTE_COOKIE), "the new node put its route in");
                farmUsers.home.put(user, now);
            } else {
                assertEquals(farmUsers.home.get(user), now, "users of the other nodes did not move");
            }
        }
        farmUsers.rounds(5, "sticky to its new node", (user, reply) -> { });
        // The killed node back: its former users stay where they moved.
        farm.start(victim);
        farm.awaitUp(victim, START);
        boolean balancedAgain = false;
        for (int i = 0; i < 40 && !balancedAgain; i++) { // HAProxy's checks find it up (rise 2, every 500 ms)
            balancedAgain = victim.name().equals(new Client().get(farmUsers.through("/api/ping")).field("node"));
            Thread.sleep(100);
        }
        assertTrue(balancedAgain, "HAProxy sends new users to the returned node again");
        farmUsers.rounds(1, "no fail-back", (user, reply) -> { });
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

    /** Session ids end with a node's route, as on plain Tomcat. */
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

    private static void edit(Path file, String from, String to) throws Exception {
        String text = Files.readString(file);
        assertTrue(text.contains(from), from + " in " + file);
        Files.writeString(file, text.replace(from, to));
    }
}
