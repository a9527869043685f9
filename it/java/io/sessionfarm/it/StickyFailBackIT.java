package io.sessionfarm.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.URI;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Sticky mode behind HAProxy with cookie-based stickiness ({@code cookie SRV insert}), the
 * balancer most sticky farms run. When the client's node is put in maintenance through HAProxy's
 * runtime API, HAProxy sends the client to the other node and pins it there; when that one is
 * taken out in turn, the client comes back to the first, which still holds its old copy. That
 * copy must not be served: the node that took the session over said so, and the first node reads
 * the store before it answers.
 */
class StickyFailBackIT extends FarmTestBase {

    private static List<Farm.Node> nodes;
    private static Process haproxy;
    private static Path adminSocket;
    private static int port;

    @BeforeAll
    static void startFarm() throws Exception {
        assertTrue(Balancer.installed(), "haproxy is needed: sudo apt-get install haproxy (./check installs it)");
        Farm farm = farm(StickyFailBackIT.class);
        nodes = startNodes(farm, fixture("context-sticky.xml"), "sticky-a", "sticky-b");
        Path dir = Files.createTempDirectory("sessionfarm-haproxy"); // a short path: a socket's is limited
        adminSocket = dir.resolve("admin.sock");
        port = Farm.freePort(0);
        String config = """
                global
                  maxconn 256
                  stats socket %s mode 600 level admin
                defaults
                  mode http
                  timeout connect 2s
                  timeout client 30s
                  timeout server 30s
                frontend web
                  bind 127.0.0.1:%d
                  default_backend farm
                backend farm
                  balance roundrobin
                  cookie SRV insert indirect nocache
                """.formatted(adminSocket, port)
                + "  server sticky-a 127.0.0.1:" + nodes.get(0).port() + " cookie a\n"
                + "  server sticky-b 127.0.0.1:" + nodes.get(1).port() + " cookie b\n";
        haproxy = Balancer.start(config, port, dir.resolve("haproxy.cfg"), dir.resolve("haproxy.log"), false);
    }

    @AfterAll
    static void stopBalancer() {
        if (haproxy != null) {
            haproxy.destroy();
        }
    }

    @AfterEach
    void bothNodesInService() throws Exception {
        for (Farm.Node node : nodes) {
            admin("enable server farm/" + node.name());
        }
    }

    /** A command to HAProxy's runtime API, as an operator would send it with socat. */
    private static String admin(String command) throws IOException {
        try (SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            channel.connect(UnixDomainSocketAddress.of(adminSocket));
            channel.write(ByteBuffer.wrap((command + "\n").getBytes(StandardCharsets.US_ASCII)));
            ByteArrayOutputStream answer = new ByteArrayOutputStream();
            ByteBuffer buffer = ByteBuffer.allocate(4096);
            while (channel.read(buffer) > 0) {
                answer.write(buffer.array(), 0, buffer.position());
                buffer.clear();
            }
            return answer.toString(StandardCharsets.US_ASCII);
        }
    }

    /** Puts {@code node} in service and every other node in maintenance, as an operator would for a moment. */
    private static void onlyServing(String node) throws IOException {
        for (Farm.Node each : nodes) {
            admin((each.name().equals(node) ? "enable" : "disable") + " server farm/" + each.name());
        }
    }

    private static Client.Reply viaBalancer(Client user, String path) throws Exception {
        Client.Reply reply = user.get(URI.create("http://127.0.0.1:" + port + path));
        assertEquals(200, reply.status(), reply.body());
        return reply;
    }

    private static long movesCaught(Farm.Node node) throws Exception {
        return new Client().get(node, "/api/stats").intField("movesCaught");
    }

    private static long moveNoticesHeard(Farm.Node node) throws Exception {
        return new Client().get(node, "/api/stats").intField("moveNoticesHeard");
    }

    @Test
    void failBackServesTheNewestCopyAndLosesNoAcknowledgedWrite() throws Exception {
        Client user = new Client();
        Client.Reply first = viaBalancer(user, "/api/whoami");
        String home = first.field("node");
        String other = home.equals("sticky-a") ? "sticky-b" : "sticky-a";
        Farm.Node homeNode = nodes.get(home.equals("sticky-a") ? 0 : 1);
        for (int i = 2; i <= 3; i++) {
            Client.Reply reply = viaBalancer(user, "/api/whoami");
            assertEquals(home, reply.field("node"), "the balancer keeps the session where it began");
            assertEquals(i, reply.intField("counter"));
        }
        long caughtBefore = movesCaught(homeNode);

        onlyServing(other); // the home node is marked down for a moment; it keeps running
        for (int i = 4; i <= 5; i++) {
            Client.Reply reply = viaBalancer(user, "/api/whoami");
            assertEquals(other, reply.field("node"), "moved by the balancer");
            assertEquals(i, reply.intField("counter"), "taken over with every acknowledged write");
        }

        onlyServing(home); // and back: the home node still holds its copy of request 3
        Client.Reply back = viaBalancer(user, "/api/whoami");
        assertEquals(home, back.field("node"));
        assertEquals(6, back.intField("counter"), "the home node must not serve its old copy");
        assertEquals(caughtBefore + 1, movesCaught(homeNode), "JMX counts the moved session that was caught");

        onlyServing(other); // the other node's copy is old now in turn
        assertEquals(7, viaBalancer(user, "/api/whoami").intField("counter"));
        bothNodesInService();
        assertEquals(8, viaBalancer(user, "/api/whoami").intField("counter"));
    }

    @Test
    void aBrowserMovedBackAndForthAtEveryRequestSeesEveryWrite() throws Exception {
        Client user = new Client();
        viaBalancer(user, "/api/whoami");
        int expected = 1;
        for (int flip = 0; flip < 40; flip++) {
            onlyServing(nodes.get(flip % 2).name());
            int requests = 1 + flip % 3;
            for (int i = 0; i < requests; i++) {
                Client.Reply reply = viaBalancer(user, "/api/whoami");
                expected++;
                assertEquals(nodes.get(flip % 2).name(), reply.field("node"));
                assertEquals(expected, reply.intField("counter"), "flip " + flip + ", request " + i);
            }
        }
        // Both nodes answer again: whichever the cookie names, the value is the newest.
        bothNodesInService();
        assertEquals(expected + 1, viaBalancer(user, "/api/whoami").intField("counter"));
    }

    @Test
    void aWriteOfARequestInFlightWhenTheSessionMovedIsSeenByTheNodeItMovedTo() throws Exception {
        // Straight to the nodes, no balancer: a browser whose requests go to two nodes at once.
        Farm.Node a = nodes.get(0);
        Farm.Node b = nodes.get(1);
        Client user = new Client();
        assertEquals(1, user.get(a, "/api/incr?name=n").intField("n"));
        var slow = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                return user.get(a, "/api/incr?name=slow&pause=1500"); // a trusts its copy: it began here
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        Thread.sleep(300);
        assertEquals(2, user.get(b, "/api/incr?name=n").intField("n"), "b takes the session over meanwhile");
        long heard = moveNoticesHeard(b);
        assertEquals(1, slow.get().intField("slow"), "a's slow request is acknowledged after b's write");
        // a announced its write before it answered; b acts on the notice once its listener has read
        // it, the moment the README leaves open (on a loaded CI machine it came after b's next
        // request once). Wait for that, then b must serve the write.
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (moveNoticesHeard(b) == heard && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        String onB = user.get(b, "/api/get").body();
        assertTrue(onB.contains("\"slow\":1") && onB.contains("\"n\":2"), "b must not serve its copy from before a's write: " + onB);
        String onA = user.get(a, "/api/get").body();
        assertTrue(onA.contains("\"slow\":1") && onA.contains("\"n\":2"), onA);
    }

    @Test
    void aSessionThatStaysOnItsNodeIsServedFromItsLocalCopyWithoutAnyMoveWork() throws Exception {
        Client user = new Client();
        Client.Reply first = viaBalancer(user, "/api/whoami");
        Farm.Node home = nodes.get(first.field("node").equals("sticky-a") ? 0 : 1);
        String before = new Client().get(home, "/api/stats").body();
        assertTrue(before.contains("\"hearingMoves\":true"), before);
        for (int i = 2; i <= 30; i++) {
            assertEquals(i, viaBalancer(user, "/api/whoami").intField("counter"));
        }
        Client.Reply after = new Client().get(home, "/api/stats");
        Client.Reply earlier = new Client.Reply(200, before, java.util.Map.of());
        for (String counter : List.of("movesCaught", "moveNoticesSent", "refreshesFromStore")) {
            assertEquals(earlier.intField(counter), after.intField(counter), counter + ": nothing moved, so nothing is checked");
        }
    }
}
