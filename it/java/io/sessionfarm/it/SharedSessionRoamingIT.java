package io.sessionfarm.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * What a browser making parallel requests behind a round-robin balancer does to one session in
 * shared mode: several clients share one session (one cookie jar), each increments an attribute of
 * its own, every request goes to the next node, all at once. Each reply must be exactly one more
 * than the last reply that client got: a smaller one is a stale read or a lost write.
 */
class SharedSessionRoamingIT extends FarmTestBase {

    private static final int CLIENTS = 6;
    private static final int REQUESTS = 200;

    private static Farm farm;
    private static List<Farm.Node> plain;
    private static List<Farm.Node> tokens;
    private static final ExecutorService threads = Executors.newFixedThreadPool(CLIENTS);

    @BeforeAll
    static void startFarm() throws Exception {
        farm = farm(SharedSessionRoamingIT.class);
        plain = new ArrayList<>();
        tokens = new ArrayList<>();
        for (String name : List.of("a", "b", "c")) {
            plain.add(farm.create("plain-" + name, Farm.freePort(0), fixture("context-manager-only.xml")));
            tokens.add(farm.create("token-" + name, Farm.freePort(0), farmContext()));
        }
        List<Farm.Node> all = new ArrayList<>(plain);
        all.addAll(tokens);
        start(farm, all);
    }

    @AfterAll
    static void stopThreads() {
        threads.shutdownNow();
    }

    @Test
    void clientsOfOneSessionRoamingOverThreeNodesAtOnceSeeEveryWriteAndLoseNone() throws Exception {
        roam(plain, null);
    }

    @Test
    void theSameBehindTheTokenValve() throws Exception {
        roam(tokens, null);
    }

    @Test
    void theSameWhileANodeIsKilledAndRestarted() throws Exception {
        Farm.Node victim = plain.get(2);
        roam(plain, () -> {
            Thread.sleep(1500);
            farm.kill(victim);
            Thread.sleep(3000);
            farm.start(victim);
            farm.awaitUp(victim, START);
            return null;
        });
        assertTrue(farm.isUp(victim));
    }

    /**
     * Runs the clients over {@code nodes}; {@code fault} runs beside them. A request that fails
     * without a reply (its node was killed) may or may not have been applied: the client's next
     * reply may then be one more than expected, never less.
     */
    private static void roam(List<Farm.Node> nodes, java.util.concurrent.Callable<Void> fault) throws Exception {
        Client browser = new Client();
        browser.get(nodes.get(0), "/api/whoami");
        List<String> anomalies = Collections.synchronizedList(new ArrayList<>());
        List<Future<Integer>> clients = new ArrayList<>();
        for (int c = 0; c < CLIENTS; c++) {
            String name = "c" + c;
            int offset = c;
            clients.add(threads.submit(() -> {
                int told = 0;
                boolean unknown = false; // the last request got no reply
                int failures = 0;
                for (int request = 1; request <= REQUESTS; request++) {
                    Farm.Node node = nodes.get((offset + request) % nodes.size());
                    Client.Reply reply;
                    try {
                        reply = browser.get(node, "/api/incr?name=" + name);
                    } catch (IOException e) {
                        unknown = true;
                        if (++failures > REQUESTS / 2) {
                            throw new AssertionError(name + ": too many requests without a reply", e);
                        }
                        continue;
                    }
                    int value = reply.status() == 200 ? reply.intField(name) : -1;
                    boolean expected = value == told + 1 || unknown && value == told + 2;
                    if (!expected) {
                        anomalies.add(name + " request " + request + " on " + reply.field("node") + ": told " + value
                                + " after " + told + " (status " + reply.status() + ")");
                    }
                    told = Math.max(told, value);
                    unknown = false;
                }
                return told;
            }));
        }
        Future<Void> faultRun = fault == null ? null : threads.submit(fault);
        List<Integer> finals = new ArrayList<>();
        for (Future<Integer> client : clients) {
            finals.add(client.get(5, TimeUnit.MINUTES));
        }
        if (faultRun != null) {
            faultRun.get(3, TimeUnit.MINUTES);
        }
        assertTrue(anomalies.isEmpty(), anomalies.size() + " anomalies: "
                + anomalies.subList(0, Math.min(10, anomalies.size())));
        for (Farm.Node node : nodes) {
            if (!farm.isUp(node)) {
                continue;
            }
            Client.Reply reply = browser.get(node, "/api/get");
            for (int c = 0; c < CLIENTS; c++) {
                assertEquals(finals.get(c), reply.intField("c" + c), "c" + c + " on " + node.name() + ": " + reply.body());
            }
        }
    }
}
