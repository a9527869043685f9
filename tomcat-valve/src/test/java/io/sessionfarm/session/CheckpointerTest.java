package io.sessionfarm.session;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import org.apache.catalina.core.StandardContext;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import io.sessionfarm.store.TestDatabase;
import io.sessionfarm.session.CheckpointPolicy.Trigger;
import io.sessionfarm.session.ManagerSettings.ConflictPolicy;
import io.sessionfarm.store.StoreGate;
import io.sessionfarm.store.Database;
import io.sessionfarm.store.SessionStore;

/** Two "nodes" (two managers, two local copies) writing one session through a real store. */
class CheckpointerTest {

    private static Database database;
    private static int sessions;

    @BeforeAll
    static void open() throws Exception {
        TestDatabase.Server server = TestDatabase.server();
        database = Database.open(TestDatabase.fresh("checkpointer_test"), server.user(), server.password(), 4, 2000,
                "checkpointer-test");
    }

    @AfterAll
    static void close() {
        database.close();
    }

    private record Node(FarmManager manager, SessionStore store, Checkpointer checkpointer) {
        FarmSession copyOf(String id) throws Exception {
            FarmSession session = (FarmSession) manager.createEmptySession();
            session.restore(store.load(id), codec(), getClass().getClassLoader());
            return session;
        }
    }

    private static AttributeCodec codec() {
        return new AttributeCodec(ManagerSettings.parse(Map.of("jdbcUrl", "jdbc:postgresql://x/y")).deserializationFilter());
    }

    private static Node node(ConflictPolicy policy) {
        FarmManager manager = new FarmManager();
        StandardContext context = new StandardContext();
        context.setPath("/test");
        manager.setContext(context);
        SessionStore store = new SessionStore(database.dataSource(), "localhost/test");
        return new Node(manager, store, new Checkpointer(manager, store, codec(), policy,
                new StoreGate(java.util.logging.Logger.getLogger(CheckpointerTest.class.getName()), error -> "down: " + error, "back")));
    }

    private static FarmSession newSession(Node node) {
        FarmSession session = (FarmSession) node.manager().createEmptySession();
        session.setValid(true);
        session.setCreationTime(System.currentTimeMillis());
        session.setMaxInactiveInterval(1800);
        session.setId("s" + (++sessions) + "-" + System.nanoTime(), false);
        return session;
    }

    /** Two nodes holding copies of one stored version of a session with one attribute. */
    private record TwoNodes(Node a, Node b, FarmSession onA, FarmSession onB) {
    }

    private static TwoNodes twoNodes(ConflictPolicy policy, String name, String value) throws Exception {
        Node a = node(policy);
        Node b = node(policy);
        FarmSession onA = newSession(a);
        onA.setAttribute(name, value);
        a.checkpointer().checkpoint(onA, Trigger.CREATE, System.currentTimeMillis(), true);
        return new TwoNodes(a, b, onA, b.copyOf(onA.getIdInternal()));
    }

    private static void write(Node node, FarmSession session, String name, String value) {
        session.setAttribute(name, value);
        node.checkpointer().checkpoint(session, Trigger.REQUESTS, System.currentTimeMillis(), true);
    }

    @Test
    void anUnchangedSessionIssuesNoSql() {
        Node node = node(ConflictPolicy.LAST_WRITER_WINS);
        FarmSession session = newSession(node);
        session.setAttribute("cart", new ArrayList<>(List.of("teapot")));
        node.checkpointer().checkpoint(session, Trigger.CREATE, System.currentTimeMillis(), true);
        long operations = node.store().operations();
        for (int i = 0; i < 10; i++) {
            session.getAttribute("cart");
            node.checkpointer().checkpoint(session, Trigger.REQUESTS, System.currentTimeMillis(), true);
        }
        assertEquals(operations, node.store().operations(), "reads without changes must not touch the store");
        assertEquals(10, node.checkpointer().skippedUnchanged.sum());
    }

    @Test
    void changesToDifferentAttributesOnTwoNodesBothSurvive() throws Exception {
        TwoNodes t = twoNodes(ConflictPolicy.LAST_WRITER_WINS, "x", "0");
        write(t.a(), t.onA(), "fromA", "a");
        write(t.b(), t.onB(), "fromB", "b");

        var stored = t.a().store().load(t.onA().getIdInternal());
        assertEquals(3, stored.version());
        assertTrue(stored.attributes().keySet().containsAll(List.of("x", "fromA", "fromB")));
        assertEquals("a", t.onB().getAttribute("fromA"), "B took in A's change while merging");
        assertEquals(0, t.b().checkpointer().conflicts.sum(), "different attributes are not a conflict");
    }

    @Test
    void twoNodesWritingOneSessionWithoutPauseEachEndEveryCheckpointStored() throws Exception {
        TwoNodes t = twoNodes(ConflictPolicy.LAST_WRITER_WINS, "x", "0");
        int rounds = 400;
        ExecutorService nodes = Executors.newFixedThreadPool(2);
        try {
            List<Future<?>> runs = new ArrayList<>();
            for (Node node : List.of(t.a(), t.b())) {
                FarmSession copy = node == t.a() ? t.onA() : t.onB();
                String name = node == t.a() ? "a" : "b";
                runs.add(nodes.submit(() -> {
                    for (int i = 1; i <= rounds; i++) {
                        copy.setAttribute(name, i);
                        node.checkpointer().checkpoint(copy, Trigger.REQUESTS, System.currentTimeMillis(), true);
                        // What the response is about to report must already be in the store.
                        assertFalse(copy.owed(), name + " round " + i + " left its change unwritten");
                    }
                    return null;
                }));
            }
            for (Future<?> run : runs) {
                run.get();
            }
        } finally {
            nodes.shutdown();
        }
        FarmSession reread = t.a().copyOf(t.onA().getIdInternal());
        assertEquals(rounds, reread.getAttribute("a"));
        assertEquals(rounds, reread.getAttribute("b"));
        assertEquals(0, t.a().checkpointer().conflicts.sum() + t.b().checkpointer().conflicts.sum(),
                "different attributes are not a conflict");
    }

    @Test
    void sameAttributeOnTwoNodesFollowsThePolicyAndIsCounted() throws Exception {
        for (ConflictPolicy policy : ConflictPolicy.values()) {
            TwoNodes t = twoNodes(policy, "color", "red");
            write(t.a(), t.onA(), "color", "green");
            write(t.b(), t.onB(), "color", "blue");

            String expected = policy == ConflictPolicy.LAST_WRITER_WINS ? "blue" : "green";
            FarmSession reread = t.a().copyOf(t.onA().getIdInternal());
            assertEquals(expected, reread.getAttribute("color"), policy.toString());
            assertEquals(expected, t.onB().getAttribute("color"), policy + ": B's copy agrees with the store");
            assertEquals(1, t.b().checkpointer().conflicts.sum(), policy.toString());
        }
    }

    /**
     * The database lost the node's last write (a failover to an asynchronous standby that had not
     * received it, a restore): the next checkpoint finds an older version than the node wrote. The
     * node's copy is the newer one and is written over the store whole; before, the locked merge
     * found no row of the version it expected and dropped the copy, with every change since.
     */
    @Test
    void aStoreThatLostWritesIsWrittenOverByTheNewerCopy() throws Exception {
        TwoNodes t = twoNodes(ConflictPolicy.LAST_WRITER_WINS, "x", "1");
        String id = t.onA().getIdInternal();
        write(t.a(), t.onA(), "kept", "k");
        try (java.sql.Connection c = database.dataSource().getConnection(); java.sql.Statement st = c.createStatement()) {
            st.execute("CREATE TEMP TABLE lost_session AS SELECT * FROM sessionfarm_session WHERE id = '" + id + "'");
            st.execute("ALTER TABLE lost_session DROP COLUMN expires_minute"); // computed again on the way back
            st.execute("CREATE TEMP TABLE lost_attribute AS SELECT * FROM sessionfarm_attribute WHERE session_id = '" + id + "'");
            write(t.a(), t.onA(), "x", "2"); // acknowledged, then lost by the database
            t.onA().removeAttribute("kept");
            write(t.a(), t.onA(), "added", "a");
            st.execute("DELETE FROM sessionfarm_attribute WHERE session_id = '" + id + "'");
            st.execute("DELETE FROM sessionfarm_session WHERE id = '" + id + "'");
            st.execute("INSERT INTO sessionfarm_session SELECT * FROM lost_session");
            st.execute("INSERT INTO sessionfarm_attribute SELECT * FROM lost_attribute");
        }
        assertEquals(2, t.a().store().load(id).version(), "the store went back to version 2");

        write(t.a(), t.onA(), "y", "3");
        assertTrue(t.onA().isLive(), "the newer copy is kept");
        assertEquals(1, t.a().checkpointer().storeRollbacks.sum());
        FarmSession reread = t.b().copyOf(id);
        assertEquals("2", reread.getAttribute("x"), "the write the database lost is back");
        assertEquals("3", reread.getAttribute("y"));
        assertEquals("a", reread.getAttribute("added"));
        assertEquals(null, reread.getAttribute("kept"), "a removal the database lost is made again");
        write(t.a(), t.onA(), "y", "4");
        assertEquals(1, t.a().checkpointer().storeRollbacks.sum(), "then checkpoints go on as usual");
        assertEquals("4", t.b().copyOf(id).getAttribute("y"));
    }

    @Test
    void aSessionInvalidatedElsewhereIsNotWrittenBack() throws Exception {
        TwoNodes t = twoNodes(ConflictPolicy.LAST_WRITER_WINS, "x", "1");
        t.a().store().delete(t.onA().getIdInternal());
        write(t.b(), t.onB(), "x", "2");
        assertEquals(null, t.b().store().load(t.onA().getIdInternal()), "an invalidated session must not come back");
        assertFalse(t.onB().isLive());
    }

    @Test
    void aShorterTimeoutAloneIsWrittenAndShortensTheStoredExpiry() throws Exception {
        Node node = node(ConflictPolicy.LAST_WRITER_WINS);
        FarmSession session = newSession(node);
        session.setAttribute("x", "1");
        node.checkpointer().checkpoint(session, Trigger.CREATE, System.currentTimeMillis(), true);
        long before = node.store().stamp(session.getIdInternal()).expiresAt();
        session.setMaxInactiveInterval(3);
        node.checkpointer().checkpoint(session, Trigger.REQUESTS, System.currentTimeMillis(), true);
        var stored = node.store().load(session.getIdInternal());
        assertEquals(3, stored.maxInactive());
        assertTrue(stored.expiresAt() < before - 1_700_000, "the stored expiry follows the shorter timeout");
    }
}
