package io.sessionfarm.session;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;

import org.apache.catalina.core.StandardContext;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import io.sessionfarm.store.TestDatabase;
import io.sessionfarm.session.CheckpointPolicy.Trigger;
import io.sessionfarm.session.ManagerSettings.ConflictPolicy;
import io.sessionfarm.session.ManagerSettings.Mode;
import io.sessionfarm.store.Database;
import io.sessionfarm.store.SessionStore;
import io.sessionfarm.store.StoreGate;
import io.sessionfarm.store.StoredSession;

/**
 * A model of shared mode: three simulated nodes (a Manager's loader and checkpointer each, one
 * real store), and clients that share one session, every request on another node, several clients
 * at once. Each client has attributes of its own: a counter it sets, a list it changes in place,
 * and an attribute it sets and removes in turn. Random pauses between the steps of a request,
 * background checkpoints and dropped local copies vary the interleavings from run to run. Each
 * request must find exactly what the client's previous request left: anything else is a stale read
 * or a lost update.
 */
class SharedModeInterleavingTest {

    private static final CheckpointPolicy PER_REQUEST = new CheckpointPolicy(true, 0, 0, 1);

    private static final int NODES = 3;
    private static final int CLIENTS = 4;
    private static final int REQUESTS = 120;

    private static Database database;

    @BeforeAll
    static void open() throws Exception {
        TestDatabase.Server server = TestDatabase.server();
        database = Database.open(TestDatabase.fresh("interleaving_test"), server.user(), server.password(), 8, 5000,
                "interleaving-test");
    }

    @AfterAll
    static void close() {
        database.close();
    }

    /** One simulated node: what a started Manager wires together, on the shared store. */
    private record Node(FarmManager manager, Checkpointer checkpointer, SessionLoader loader) {
        static Node start() {
            FarmManager manager = new FarmManager();
            StandardContext context = new StandardContext();
            context.setPath("/model");
            manager.setContext(context);
            SessionStore store = new SessionStore(database.dataSource(), "localhost/model");
            AttributeCodec codec = new AttributeCodec(
                    ManagerSettings.parse(Map.of("jdbcUrl", "jdbc:postgresql://x/y")).deserializationFilter());
            StoreGate gate = new StoreGate(java.util.logging.Logger.getLogger(SharedModeInterleavingTest.class.getName()), e -> "down: " + e, "back");
            Checkpointer checkpointer = new Checkpointer(manager, store, codec, ConflictPolicy.LAST_WRITER_WINS, gate);
            return new Node(manager, checkpointer, new SessionLoader(manager, store, checkpointer, codec, gate, Mode.SHARED, null));
        }

        FarmSession find(String id) {
            return (FarmSession) loader.find(id);
        }
    }

    @ParameterizedTest(name = "seed {0}")
    @ValueSource(longs = {1, 2, 3, 4})
    void clientsRoamingOverThreeNodesAtOnceSeeEveryWriteAndLoseNone(long seed) throws Exception {
        List<Node> nodes = new ArrayList<>();
        for (int i = 0; i < NODES; i++) {
            nodes.add(Node.start());
        }
        String id = createSession(nodes.get(0));
        List<String> anomalies = Collections.synchronizedList(new ArrayList<>());
        AtomicBoolean running = new AtomicBoolean(true);
        ExecutorService threads = Executors.newFixedThreadPool(CLIENTS + 1);
        try {
            List<Future<?>> clients = new ArrayList<>();
            for (int c = 0; c < CLIENTS; c++) {
                int client = c;
                Random random = new Random(seed * 31 + c);
                clients.add(threads.submit(() -> {
                    int told = 0;
                    for (int request = 1; request <= REQUESTS; request++) {
                        Node node = nodes.get((client + request) % NODES);
                        String where = "client " + client + " request " + request + ": ";
                        told = increment(node, id, "c" + client, told, random, anomaly -> anomalies.add(where + anomaly));
                    }
                    return told;
                }));
            }
            Future<?> background = threads.submit(() -> disturb(nodes, id, new Random(seed), running));
            for (Future<?> client : clients) {
                client.get(120, TimeUnit.SECONDS);
            }
            running.set(false);
            background.get(10, TimeUnit.SECONDS);
        } finally {
            threads.shutdownNow();
        }
        assertTrue(anomalies.isEmpty(), anomalies.size() + " anomalies, first: "
                + anomalies.subList(0, Math.min(5, anomalies.size())));
        StoredSession stored = new SessionStore(database.dataSource(), "localhost/model").load(id);
        FarmSession reread = nodes.get(0).find(id);
        for (int c = 0; c < CLIENTS; c++) {
            assertEquals(REQUESTS, reread.getAttribute("c" + c), "c" + c + " as stored at version " + stored.version());
        }
    }

    private static String createSession(Node node) {
        FarmSession session = (FarmSession) node.manager().createEmptySession();
        session.setValid(true);
        session.setCreationTime(System.currentTimeMillis());
        session.setMaxInactiveInterval(1800);
        session.setId("model-" + System.nanoTime(), false);
        node.manager().add(session);
        for (int c = 0; c < CLIENTS; c++) {
            session.setAttribute("c" + c, 0);
            session.setAttribute("list-c" + c, new ArrayList<Integer>());
        }
        node.checkpointer().checkpoint(session, Trigger.CREATE, System.currentTimeMillis(), true);
        return session.getIdInternal();
    }

    /**
     * One request, as Tomcat makes it: find the session (the freshness check), access it, read and
     * change the client's attributes, end with the per-request checkpoint, end the access.
     * Anything but what the client's previous request left is an anomaly; the client goes on from
     * what it read.
     *
     * @return what the reply tells the client: its counter
     */
    @SuppressWarnings("unchecked")
    private static int increment(Node node, String id, String name, int told, Random random,
            Consumer<String> anomaly) {
        pause(random);
        FarmSession session = node.find(id);
        if (session == null) {
            anomaly.accept("session not found");
            return told;
        }
        session.access();
        try {
            pause(random);
            Integer value = (Integer) session.getAttribute(name);
            int read = value == null ? 0 : value;
            if (read != told) {
                anomaly.accept("read " + value + " after being told " + told);
            }
            List<Integer> list = (List<Integer>) session.getAttribute("list-" + name);
            if (list == null || list.size() != told) {
                anomaly.accept("its list, changed in place, has " + (list == null ? null : list.size())
                        + " entries after being told " + told);
            }
            Object toggled = session.getAttribute("toggle-" + name);
            if ((toggled != null) != (told % 2 == 1)) {
                anomaly.accept("the attribute it " + (told % 2 == 1 ? "set" : "removed") + " last is "
                        + (toggled == null ? "gone" : "there"));
            }
            pause(random);
            session.setAttribute(name, read + 1);
            if (list != null) {
                list.add(read + 1); // no setAttribute: the checkpoint must notice
            }
            if ((read + 1) % 2 == 1) {
                session.setAttribute("toggle-" + name, read + 1);
            } else {
                session.removeAttribute("toggle-" + name);
            }
            pause(random);
            // As a real request ends: the policy decides, with other requests' checkpoints finishing meanwhile.
            node.checkpointer().requestEnded(session, PER_REQUEST);
            if (session.owed()) {
                anomaly.accept("its checkpoint was left owed");
            }
            return read + 1;
        } finally {
            session.endAccess();
        }
    }

    /** Background work of the nodes: interval checkpoints, and now and then a local copy dropped. */
    private static Void disturb(List<Node> nodes, String id, Random random, AtomicBoolean running) {
        while (running.get()) {
            Node node = nodes.get(random.nextInt(NODES));
            if (node.manager().localCopy(id) instanceof FarmSession copy) {
                if (random.nextInt(10) == 0) {
                    node.manager().remove(copy); // as after an eviction: the next request loads it anew
                } else {
                    node.checkpointer().checkpoint(copy, Trigger.INTERVAL, System.currentTimeMillis(), false);
                }
            }
            pause(random);
        }
        return null;
    }

    private static void pause(Random random) {
        int choice = random.nextInt(8);
        try {
            if (choice == 0) {
                Thread.sleep(1);
            } else if (choice == 1) {
                Thread.yield();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
