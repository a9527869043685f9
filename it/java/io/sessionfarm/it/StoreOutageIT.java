package io.sessionfarm.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * PostgreSQL down (connections refused) or hung (bytes stop), under load, on the farm's own
 * configuration (Manager and token valve): nodes keep serving the sessions they hold, accept the
 * tokens they can authenticate, owe their checkpoints and new token families, and write them all
 * when the database returns.
 */
class StoreOutageIT extends FarmTestBase {

    private static final int USERS = 10;
    private static FaultyProxy proxy;
    private static List<Farm.Node> nodes;
    private static final ExecutorService pool = Executors.newFixedThreadPool(USERS + 4);

    @BeforeAll
    static void startFarmBehindProxy() throws Exception {
        Farm farm = farm(StoreOutageIT.class, url -> {
            proxy = new FaultyProxy(url);
            return proxy.url();
        });
        nodes = startNodes(farm, farmContext(), "outage-a", "outage-b");
    }

    @AfterAll
    static void closeProxy() throws Exception {
        pool.shutdownNow();
        proxy.close();
    }

    /** One user pinned to a node; returns the last counter value the node acknowledged. */
    private static Future<Integer> useUntil(Client user, Farm.Node node, long end, List<String> failures) {
        return pool.submit(() -> {
            int last = 0;
            while (System.currentTimeMillis() < end) {
                try {
                    Client.Reply reply = user.get(node, "/api/whoami");
                    if (reply.status() != 200) {
                        failures.add(node.name() + ": HTTP " + reply.status());
                    } else {
                        last = reply.intField("counter");
                    }
                } catch (Exception e) {
                    failures.add(node.name() + ": " + e);
                }
            }
            return last;
        });
    }

    private void runOutage(Runnable breakIt, String kind) throws Exception {
        List<Client> users = new ArrayList<>();
        for (int i = 0; i < USERS; i++) {
            Client user = new Client();
            user.get(nodes.get(i % 2), "/api/whoami");
            users.add(user);
        }
        List<String> failures = java.util.Collections.synchronizedList(new ArrayList<>());
        breakIt.run();
        long end = System.currentTimeMillis() + 30_000;
        List<Future<Integer>> runs = new ArrayList<>();
        for (int i = 0; i < USERS; i++) {
            runs.add(useUntil(users.get(i), nodes.get(i % 2), end, failures));
        }
        Client newcomer = new Client();
        assertEquals(200, newcomer.get(nodes.get(0), "/api/set?name=arrived&value=during-" + kind).status(),
                "new sessions are created while the store is " + kind);
        List<Integer> acknowledged = new ArrayList<>();
        for (Future<Integer> run : runs) {
            acknowledged.add(run.get());
        }
        assertEquals(List.of(), failures, "no request fails while the store is " + kind);

        proxy.restore();
        awaitCaughtUp();
        for (int i = 0; i < USERS; i++) {
            Client.Reply reply = users.get(i).get(nodes.get((i + 1) % 2), "/api/get");
            assertEquals((int) acknowledged.get(i), reply.intField("counter"),
                    "user " + i + ": the other node sees every change made during the outage");
        }
        assertTrue(newcomer.get(nodes.get(1), "/api/get").body().contains("\"arrived\":\"during-" + kind + "\""));
    }

    private static void awaitCaughtUp() throws Exception {
        long deadline = System.currentTimeMillis() + 60_000;
        for (Farm.Node node : nodes) {
            while (true) {
                String stats = new Client().get(node, "/api/stats").body();
                if (!stats.contains("\"storeAvailable\":false") && stats.contains("\"owedCheckpoints\":0")
                        && stats.contains("\"owedFamilies\":0")) {
                    break;
                }
                assertTrue(System.currentTimeMillis() < deadline, node.name() + " never caught up: " + stats);
                Thread.sleep(250);
            }
        }
    }

    @Test
    void databaseDownUnderLoadLosesNothingAndTheBacklogDrains() throws Exception {
        runOutage(() -> {
            try {
                proxy.refuse();
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }, "down");
        for (Farm.Node node : nodes) {
            String log = log(node);
            assertTrue(count(log, "the session store is unreachable") >= 1, node.name());
            assertTrue(count(log, "the session store is reachable again") >= 1, node.name());
            // The token valve shares the Manager's degraded mode, and its messages.
        }
    }

    @Test
    void hungDatabaseNeverHangsRequests() throws Exception {
        runOutage(proxy::pause, "hung");
    }

    /**
     * A login while the store is down: the session gets its new id, and the browser a token for
     * it (a family written when the store returns). Before, the token valve kept the old id's
     * token, so the browser's next request named an id that no longer existed and the user was
     * logged out at once; the fault harness's shop workload found it.
     */
    @Test
    void aLoginWhileTheStoreIsDownKeepsTheUserLoggedIn() throws Exception {
        Client user = new Client();
        user.get(nodes.get(0), "/api/set?name=item&value=teapot");
        String beforeLogin = user.token();
        proxy.refuse();
        try {
            user.get(nodes.get(0), "/api/get"); // the node finds the store down
            assertEquals(200, user.get(nodes.get(0), "/api/login?value=alice").status());
            String during = user.get(nodes.get(0), "/api/get").body();
            assertTrue(during.contains("\"user\":\"alice\"") && during.contains("\"item\":\"teapot\""),
                    "still logged in, with the session's data: " + during);
        } finally {
            proxy.restore();
        }
        awaitCaughtUp();
        String after = user.get(nodes.get(1), "/api/get").body();
        assertTrue(after.contains("\"user\":\"alice\"") && after.contains("\"item\":\"teapot\""),
                "the other node serves the logged-in session once the store is back: " + after);
        String old = user.withCookie(Client.TOKEN_COOKIE, beforeLogin).get(nodes.get(1), "/api/get").body();
        assertTrue(old.contains("\"session\":false"), "a token from before the login opens nothing: " + old);
    }

    private static int count(String text, String needle) {
        Matcher m = Pattern.compile(Pattern.quote(needle)).matcher(text);
        int n = 0;
        while (m.find()) {
            n++;
        }
        return n;
    }
}
