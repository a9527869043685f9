package io.sessionfarm.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Three nodes behind no balancer at all: every request may land anywhere, several at once. */
class FarmCorrectnessIT extends FarmTestBase {

    private static final long RUN_MILLIS = 30_000;

    private static List<Farm.Node> nodes;
    private static final ExecutorService clients = Executors.newFixedThreadPool(16);

    @BeforeAll
    static void startFarm() throws Exception {
        nodes = startNodes(farm(FarmCorrectnessIT.class), fixture("context-fast-expiry.xml"), "node1", "node2", "node3");
    }

    @AfterAll
    static void stopClients() {
        clients.shutdownNow();
    }

    @Test
    void sequentialRequestsAlternatingBetweenNodesCountEveryIncrement() throws Exception {
        Client user = new Client();
        long end = System.currentTimeMillis() + RUN_MILLIS;
        int sent = 0;
        while (System.currentTimeMillis() < end) {
            Client.Reply reply = user.get(nodes.get(sent % 3), "/api/whoami");
            sent++;
            assertEquals(sent, reply.intField("counter"), "request " + sent + " on " + reply.field("node"));
        }
        assertTrue(sent > 100, "only " + sent + " requests in 30 s");
    }

    @Test
    void twoClientsSharingOneSessionOnDifferentNodesLoseNoIncrement() throws Exception {
        Client first = new Client();
        first.get(nodes.get(0), "/api/whoami");
        Client second = first.withSessionId(first.sessionId());
        long end = System.currentTimeMillis() + RUN_MILLIS;
        Future<Integer> a = clients.submit(incrementUntil(first, nodes.get(0), "a", end));
        Future<Integer> b = clients.submit(incrementUntil(second, nodes.get(1), "b", end));
        int sentA = a.get();
        int sentB = b.get();
        Client.Reply reply = first.get(nodes.get(2), "/api/get");
        assertEquals(sentA, reply.intField("a"), reply.body());
        assertEquals(sentB, reply.intField("b"), reply.body());
    }

    /** Increments one attribute through one node; every reply must be exactly one more than the last. */
    private static Callable<Integer> incrementUntil(Client client, Farm.Node node, String name, long end) {
        return () -> {
            int sent = 0;
            while (System.currentTimeMillis() < end) {
                sent++;
                assertEquals(sent, client.get(node, "/api/incr?name=" + name).intField(name), name);
            }
            return sent;
        };
    }

    @Test
    void sameAttributeChangedOnTwoNodesAtOnceIsSettledByThePolicyAndCounted() throws Exception {
        Client first = new Client();
        first.get(nodes.get(0), "/api/whoami");
        Client second = first.withSessionId(first.sessionId());
        int conflictsBefore = conflicts();
        long end = System.currentTimeMillis() + 5_000;
        List<Future<Integer>> runs = new ArrayList<>();
        for (Client client : List.of(first, second)) {
            Farm.Node node = client == first ? nodes.get(0) : nodes.get(1);
            runs.add(clients.submit(() -> {
                int sent = 0;
                while (System.currentTimeMillis() < end) {
                    assertEquals(200, client.get(node, "/api/incr?name=shared").status());
                    sent++;
                }
                return sent;
            }));
        }
        int total = runs.get(0).get() + runs.get(1).get();
        int stored = first.get(nodes.get(2), "/api/get").intField("shared");
        assertTrue(conflicts() > conflictsBefore, "the conflict counter must move");
        assertTrue(stored <= total, "last writer wins: a value that one of the nodes wrote");
        assertTrue(nodes.stream().anyMatch(n -> logContains(n, "were changed on this node and another at once")));
    }

    @Test
    void failingBackToANodeWithAnOldCopyServesTheNewData() throws Exception {
        Client user = new Client();
        user.get(nodes.get(0), "/api/set?name=step&value=one");
        user.get(nodes.get(1), "/api/set?name=step&value=two");
        assertTrue(user.get(nodes.get(0), "/api/get").body().contains("\"step\":\"two\""));
        user.get(nodes.get(0), "/api/append?name=list&value=x");
        user.get(nodes.get(1), "/api/append?name=list&value=y");
        assertTrue(user.get(nodes.get(0), "/api/get").body().contains("\"list\":[\"x\",\"y\"]"));
    }

    @Test
    void expiredSessionsFireTheirListenersExactlyOnceAcrossTheFarm() throws Exception {
        int count = 1000;
        List<Future<?>> made = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            String label = "e" + i;
            Farm.Node first = nodes.get(i % 3);
            Farm.Node second = nodes.get((i + 1) % 3); // two nodes hold a copy of each session
            made.add(clients.submit(() -> {
                Client user = new Client();
                assertEquals(200, user.get(first, "/api/track?value=" + label).status());
                assertEquals(200, user.get(second, "/api/timeout?value=3").status());
                return null;
            }));
        }
        for (Future<?> f : made) {
            f.get();
        }
        long deadline = System.currentTimeMillis() + 120_000;
        Map<String, Integer> destroyed = Map.of();
        while (System.currentTimeMillis() < deadline) {
            destroyed = countLabels("sample: session destroyed label=(e\\d+) ");
            if (destroyed.size() == count) {
                break;
            }
            Thread.sleep(500);
        }
        assertEquals(count, destroyed.size(), "every session expires");
        Thread.sleep(3_000); // give a wrongly repeated expiry the time to show itself
        destroyed = countLabels("sample: session destroyed label=(e\\d+) ");
        Map<String, Integer> unbound = countLabels("sample: unbound label=(e\\d+) ");
        destroyed.forEach((label, n) -> assertEquals(1, n, "sessionDestroyed of " + label));
        assertEquals(count, unbound.size(), "valueUnbound for every session");
        unbound.forEach((label, n) -> assertEquals(1, n, "valueUnbound of " + label));
    }

    @Test
    void aSessionKeptBusyOnOneNodeIsNeverExpiredByAnother() throws Exception {
        Client user = new Client();
        user.get(nodes.get(1), "/api/track?value=busy");
        user.get(nodes.get(2), "/api/timeout?value=4");
        long end = System.currentTimeMillis() + 20_000;
        int counter = 0;
        while (System.currentTimeMillis() < end) {
            Client.Reply reply = user.get(nodes.get(0), "/api/whoami");
            assertEquals(++counter, reply.intField("counter"), "the session survived");
            Thread.sleep(1_000); // a user reading a page: well inside the 4 s idle timeout
        }
        assertEquals(0, countLabels("sample: session destroyed label=(busy) ").size(),
                "another node's old copy must not expire a session in use");
    }

    private static int conflicts() throws Exception {
        int sum = 0;
        for (Farm.Node node : nodes) {
            sum += new Client().get(node, "/api/stats").intField("conflicts");
        }
        return sum;
    }

    private static boolean logContains(Farm.Node node, String text) {
        try {
            return log(node).contains(text);
        } catch (java.io.IOException e) {
            return false;
        }
    }

    private static Map<String, Integer> countLabels(String regex) throws java.io.IOException {
        Map<String, Integer> counts = new HashMap<>();
        Pattern pattern = Pattern.compile(regex);
        for (Farm.Node node : nodes) {
            Matcher m = pattern.matcher(log(node));
            while (m.find()) {
                counts.merge(m.group(1), 1, Integer::sum);
            }
        }
        return counts;
    }
}
