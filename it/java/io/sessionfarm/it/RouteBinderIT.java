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
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * jvmRoute without the token valve: session ids end in the node's route, HAProxy routes by that
 * suffix, and the route binder gives a session taken over by another node that node's suffix.
 * A node killed with {@code kill -9} while its users fire requests in parallel with the old id:
 * every request finds the one session, nothing is lost, the users stay on their new node, and
 * after the grace the old id is dead on every node.
 */
class RouteBinderIT extends FarmTestBase {

    private static Farm farm;
    private List<Farm.Node> nodes;
    private Process haproxy;
    private int port;

    @BeforeAll
    static void makeFarm() throws Exception {
        assertTrue(Balancer.installed(), "haproxy is needed: sudo apt-get install haproxy (./check installs it)");
        farm = farm(RouteBinderIT.class);
    }

    /** Three nodes in {@code mode}, each its own jvmRoute, behind HAProxy routing by the id's suffix. */
    private void startBehindHaproxy(String mode) throws Exception {
        nodes = new ArrayList<>();
        for (String name : List.of(mode + "-a", mode + "-b", mode + "-c")) {
            Farm.Node node = farm.create(name, Farm.freePort(0), fixture("context-route-binder.xml"));
            farm.setJvmRoute(node, name);
            Path context = node.base().resolve("conf/context.xml");
            Files.writeString(context, Files.readString(context).replace("mode=\"shared\"", "mode=\"" + mode + "\""));
            nodes.add(node);
        }
        start(farm, nodes);
        port = Farm.freePort(0);
        // As a sticky balancer routes by Tomcat's session ids: the server whose route ends the
        // JSESSIONID, while it is up; else, and for new sessions, round-robin.
        String byRoute = "";
        for (Farm.Node node : nodes) {
            byRoute += "  use-server " + node.name() + " if { req.cook(JSESSIONID) -m end ." + node.name() + " }\n";
        }
        haproxy = Balancer.http(nodes, port, byRoute, "", Files.createTempDirectory("sessionfarm-haproxy"));
    }

    @AfterEach
    void stopFarmAndBalancer() throws Exception {
        if (haproxy != null) {
            haproxy.destroy();
        }
        for (Farm.Node node : nodes == null ? List.<Farm.Node>of() : nodes) {
            farm.stop(node, java.time.Duration.ofSeconds(30));
        }
    }

    @Test
    void inSharedMode() throws Exception {
        startBehindHaproxy("shared");
        aTakenOverSessionGetsTheNewNodesRouteAndParallelRequestsWithTheOldIdLoseNothing();
    }

    /** Sticky mode, as behind a balancer that routes by jvmRoute one would run it: local copies are trusted. */
    @Test
    void inStickyMode() throws Exception {
        startBehindHaproxy("sticky");
        aTakenOverSessionGetsTheNewNodesRouteAndParallelRequestsWithTheOldIdLoseNothing();
    }

    private void aTakenOverSessionGetsTheNewNodesRouteAndParallelRequestsWithTheOldIdLoseNothing() throws Exception {
        StickyUsers farmUsers = new StickyUsers(port, "/api/incr?name=n", "n");
        List<Client> users = farmUsers.users;
        Map<Client, String> home = farmUsers.home;
        for (int u = 0; u < 6; u++) {
            Client.Reply first = farmUsers.join();
            Client user = users.get(u);
            assertTrue(user.sessionId().endsWith("." + first.field("node")), "the id ends in its node's route: "
                    + user.sessionId() + " from " + first.field("node"));
        }
        farmUsers.rounds(3, "routed by its id's suffix", (user, reply) -> { });

        String victim = home.get(users.get(0));
        long victims = home.values().stream().filter(victim::equals).count();
        Farm.Node victimNode = nodes.stream().filter(n -> n.name().equals(victim)).findFirst().orElseThrow();
        farm.kill(victimNode);
        Map<Client, Long> movedAt = new HashMap<>();
        Map<Client, String> oldIds = new HashMap<>();
        ExecutorService browser = Executors.newFixedThreadPool(6);
        for (Client user : users) {
            String oldId = user.sessionId();
            oldIds.put(user, oldId);
            // A busy browser: six requests at once, all sent with the id of the dead node's route.
            List<Future<Client.Reply>> replies = new ArrayList<>();
            for (int i = 0; i < 6; i++) {
                String path = "/api/incr?name=p" + i;
                Client tab = user.withSessionId(oldId);
                replies.add(browser.submit(() -> tab.get(through(path))));
            }
            java.util.Set<String> setIds = new java.util.HashSet<>();
            List<String> answers = new ArrayList<>();
            int cookies = 0;
            for (int i = 0; i < 6; i++) {
                Client.Reply reply = replies.get(i).get();
                assertEquals(200, reply.status(), reply.body());
                assertEquals(1, reply.intField("p" + i), "request " + i + "'s own write counted once: " + reply.body());
                assertNotEquals(victim, reply.field("node"));
                answers.add(reply.body() + " " + reply.header("Set-Cookie"));
                List<String> set = reply.header("Set-Cookie").stream().filter(c -> c.startsWith("JSESSIONID=")).toList();
                set.forEach(c -> setIds.add(c.substring("JSESSIONID=".length()).split(";")[0]));
                cookies += set.isEmpty() ? 0 : 1;
            }
            movedAt.put(user, System.currentTimeMillis()); // the move happened before this
            if (home.get(user).equals(victim)) {
                assertEquals(6, cookies, "every answer sets the browser's id: " + answers);
                assertEquals(1, setIds.size(), "every answer names the same new id: " + setIds);
                user.setCookie("JSESSIONID", setIds.iterator().next());
            } else {
                assertEquals(java.util.Set.of(), setIds, "a session of a live node keeps its cookie");
            }
            Client.Reply after = farmUsers.next(user);
            String stored = user.get(through("/api/get")).body();
            for (int i = 0; i < 6; i++) {
                assertTrue(stored.contains("\"p" + i + "\":1"), "the six parallel writes are all in the one session: " + stored
                        + " (" + oldId + " of " + home.get(user) + ", " + victim + " killed; answers " + answers + ")");
            }
            String newId = user.sessionId();
            String base = oldId.substring(0, oldId.indexOf('.'));
            assertTrue(newId.startsWith(base + "."), "the same session under another route: " + oldId + " -> " + newId);
            if (home.get(user).equals(victim)) {
                assertTrue(newId.endsWith("." + after.field("node")), "rebound to the node that took it over: " + newId);
                home.put(user, after.field("node"));
            } else {
                assertEquals(oldId, newId, "a session of a live node keeps its id");
                assertEquals(home.get(user), after.field("node"));
            }
        }
        browser.shutdown();
        assertEquals(victims, counter("sessionsRebound", victim), "each of the dead node's sessions moved once");
        assertTrue(counter("oldIdsFollowed", victim) >= 5 * victims, "the other five requests of each followed the move");
        farmUsers.rounds(3, "stays on its new node", (user, reply) -> { });

        // The killed node back within the grace (25 s here): a late request with the old id, which
        // names its route, reaches it and is led to the session under its new id.
        Client moved = users.stream().filter(u -> !oldIds.get(u).equals(u.sessionId())).findFirst().orElseThrow();
        farm.start(victimNode);
        farm.awaitUp(victimNode, START);
        assertTrue(System.currentTimeMillis() - movedAt.get(moved) < 23_000, "the node came back within the grace");
        Client late = new Client().withSessionId(oldIds.get(moved));
        assertEquals(farmUsers.expectRaisedElsewhere(moved), late.get(victimNode, "/api/incr?name=n").intField("n"),
                "the old id's own node follows the move");
        assertEquals(moved.sessionId(), late.sessionId(), "and gives the browser the new id");

        // After the grace the old id is dead on every node.
        Thread.sleep(Math.max(0, movedAt.get(moved) + 27_000 - System.currentTimeMillis()));
        for (Farm.Node node : nodes) {
            Client.Reply stale = new Client().withSessionId(oldIds.get(moved)).get(node, "/api/get");
            assertTrue(stale.body().contains("\"session\":false"), node.name() + " serves the old id no more: " + stale.body());
        }
        farmUsers.next(moved); // the session itself lives on under its new id
    }

    @Test
    void theBinderWithoutAJvmRouteOrBesideTheTokenValveStopsTheContextSayingWhy() throws Exception {
        Farm.Node noRoute = farm.create("bind-none", Farm.freePort(0), fixture("context-route-binder.xml"));
        Farm.Node withTokens = farm.create("bind-tokens", Farm.freePort(0), farmContext());
        farm.setJvmRoute(withTokens, "bind-tokens");
        Path context = withTokens.base().resolve("conf/context.xml");
        Files.writeString(context, Files.readString(context).replace("</Context>",
                "<Valve className=\"io.sessionfarm.session.RouteBinderValve\"/></Context>"));
        for (Farm.Node node : List.of(noRoute, withTokens)) {
            farm.start(node);
        }
        registerForStop(List.of(noRoute, withTokens));
        for (Farm.Node node : List.of(noRoute, withTokens)) {
            awaitServerStarted(node);
            assertEquals(404, new Client().get(node, "/api/ping").status(), node.name() + ": the context did not start");
            assertFalse(log(node).contains(node.property("sessionfarm.password", "?")), "no password in the log");
        }
        assertTrue(log(noRoute).contains("it gives sessions this node's jvmRoute, but the Engine's jvmRoute is not set"),
                log(noRoute));
        assertTrue(log(withTokens).contains("use the token valve's routeCookie for a sticky balancer instead"), log(withTokens));
    }

    /** A Manager counter summed over the live nodes. */
    private long counter(String name, String dead) throws Exception {
        long sum = 0;
        for (Farm.Node node : nodes) {
            if (!node.name().equals(dead)) {
                java.util.regex.Matcher m = java.util.regex.Pattern.compile("\"" + name + "\":(\\d+)")
                        .matcher(new Client().get(node, "/api/stats").body());
                assertTrue(m.find(), name);
                sum += Long.parseLong(m.group(1));
            }
        }
        return sum;
    }

    private URI through(String path) {
        return URI.create("http://127.0.0.1:" + port + path);
    }
}
