package io.sessionfarm.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.Test;

/**
 * A farm upgraded in place: three Tomcat 10.1 nodes (on Java 17 when the build knows one) are
 * replaced one at a time by Tomcat 11 nodes, while clients keep using their sessions through
 * whichever nodes are in rotation, as behind a balancer that drains a node before it stops. The
 * same drop-in JAR and context.xml on both lines; no session and no acknowledged write is lost.
 */
class RollingUpgradeIT extends FarmTestBase {

    private static final int CLIENTS = 6;

    /** One user: a session and the last counter value a response acknowledged. */
    private static final class User {
        final Client client = new Client();
        int acknowledged;
        int unacknowledgedApplied;
    }

    @Test
    void replacingEveryTomcat101NodeByATomcat11NodeUnderLoadLosesNoSessionAndNoAcknowledgedWrite() throws Exception {
        Farm eleven = farm(RollingUpgradeIT.class);
        Farm tenOne = eleven.onTomcat(Path.of(System.getProperty("sessionfarm.tomcat10")));
        String java17 = System.getProperty("sessionfarm.jdk17", "");
        if (!java17.isBlank() && !java17.startsWith("${")) {
            tenOne = tenOne.withNodeJava(Path.of(java17));
        }
        Path context = fixture("context-manager-only.xml");
        List<Farm.Node> old = new ArrayList<>();
        for (int i = 1; i <= 3; i++) {
            old.add(tenOne.create("tomcat10-" + i, Farm.freePort(0), context));
        }
        start(tenOne, old);
        List<Farm.Node> rotation = new CopyOnWriteArrayList<>(old);

        List<User> users = new ArrayList<>();
        for (int i = 0; i < CLIENTS; i++) {
            User user = new User();
            user.acknowledged = user.client.get(old.get(i % 3), "/api/whoami").intField("counter");
            users.add(user);
        }
        AtomicBoolean running = new AtomicBoolean(true);
        AtomicInteger requests = new AtomicInteger();
        AtomicInteger refused = new AtomicInteger();
        ExecutorService load = Executors.newFixedThreadPool(CLIENTS);
        List<Future<?>> clients = new ArrayList<>();
        for (User user : users) {
            clients.add(load.submit(() -> {
                int turn = 0;
                while (running.get()) {
                    List<Farm.Node> live = List.copyOf(rotation);
                    Farm.Node node = live.get(turn++ % live.size());
                    Client.Reply reply;
                    try {
                        reply = user.client.get(node, "/api/whoami");
                    } catch (java.io.IOException e) {
                        refused.incrementAndGet();
                        continue; // the node went away under this request: not acknowledged, try the next
                    }
                    if (reply.status() == 503 && !rotation.contains(node)) {
                        refused.incrementAndGet();
                        continue; // the node is stopping (its context is down): not acknowledged, try the next
                    }
                    assertEquals(200, reply.status(), reply.body());
                    int counter = reply.intField("counter");
                    assertTrue(counter > user.acknowledged, "on " + node.name() + ": counter " + counter
                            + " after " + user.acknowledged + " was acknowledged");
                    user.unacknowledgedApplied += counter - user.acknowledged - 1;
                    user.acknowledged = counter;
                    requests.incrementAndGet();
                }
                return null;
            }));
        }

        List<Farm.Node> upgraded = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            Thread.sleep(2_000);
            Farm.Node fresh = eleven.create("tomcat11-" + (i + 1), Farm.freePort(0), context);
            start(eleven, List.of(fresh));
            rotation.add(fresh);
            upgraded.add(fresh);
            rotation.remove(old.get(i)); // drained by the balancer first, then stopped
            Thread.sleep(500);
            tenOne.stop(old.get(i), Duration.ofSeconds(30));
        }
        Thread.sleep(2_000);
        running.set(false);
        for (Future<?> client : clients) {
            client.get(); // rethrows a client's failed assertion
        }
        load.shutdown();

        int unacknowledged = 0;
        for (User user : users) {
            Client.Reply last = user.client.get(upgraded.get(0), "/api/whoami");
            assertEquals(user.acknowledged + 1, last.intField("counter"), "every acknowledged write is on the new line");
            unacknowledged += user.unacknowledgedApplied;
        }
        System.out.printf("rolling upgrade: %d requests of %d clients over 3 Tomcat 10.1 -> 11 replacements;"
                + " %d refused by a stopping node and sent again; %d writes applied whose response was lost%n",
                requests.get(), CLIENTS, refused.get(), unacknowledged);
        assertTrue(requests.get() > 100, "the clients kept working through the upgrade");
    }
}
