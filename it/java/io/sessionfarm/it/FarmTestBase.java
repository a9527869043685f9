package io.sessionfarm.it;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.AfterAll;
import io.sessionfarm.store.TestDatabase;

/** Integration tests: real Tomcat distribution nodes on loopback, one fresh database per class. */
public abstract class FarmTestBase {

    protected static final Path ROOT = Path.of(System.getProperty("sessionfarm.root", "")).toAbsolutePath().normalize();
    protected static final Duration START = Duration.ofSeconds(120);

    private static final List<Farm.Node> started = new ArrayList<>();
    private static Farm farm;
    /** The database of the current test class's farm. */
    protected static String databaseUrl;

    /** How the nodes reach the test database: directly, or through something put in between. */
    @FunctionalInterface
    protected interface Route {
        String to(String databaseUrl) throws Exception;
    }

    /**
     * A farm for this test class, on a database of its own; in the PgBouncer cell
     * ({@code -Dsessionfarm.pgbouncer=true}) through PgBouncer, with migrations and LISTEN direct.
     */
    protected static Farm farm(Class<?> testClass) throws Exception {
        if (Boolean.getBoolean("sessionfarm.pgbouncer")) {
            return farm(testClass, PgBouncer::through, true);
        }
        return farm(testClass, url -> url);
    }

    /** A farm for this test class, on a database of its own, reached through {@code route}. */
    protected static Farm farm(Class<?> testClass, Route route) throws Exception {
        return farm(testClass, route, false);
    }

    private static Farm farm(Class<?> testClass, Route route, boolean directBesideRoute) throws Exception {
        String url = TestDatabase.fresh(testClass.getSimpleName());
        databaseUrl = url;
        TestDatabase.Server server = TestDatabase.server();
        String routed = route.to(url);
        farm = new Farm(Farm.Layout.of(ROOT, ROOT.resolve("target/it-farms/" + testClass.getSimpleName()
                + System.getProperty("sessionfarm.farmSuffix", ""))),
                new Farm.Store(routed, directBesideRoute ? url : routed, server.user(), server.password()));
        return farm;
    }


    /** Creates and starts nodes, all at once, and waits until each answers. */
    protected static List<Farm.Node> startNodes(Farm farm, Path contextXml, String... names) throws Exception {
        List<Farm.Node> nodes = new ArrayList<>();
        for (String name : names) {
            nodes.add(farm.create(name, Farm.freePort(0), contextXml));
        }
        start(farm, nodes);
        return nodes;
    }

    /** Starts nodes made by {@link Farm#create}, all at once, and waits until each answers. */
    protected static void start(Farm farm, List<Farm.Node> nodes) throws Exception {
        for (Farm.Node node : nodes) {
            farm.start(node);
            started.add(node);
        }
        for (Farm.Node node : nodes) {
            farm.awaitUp(node, START);
        }
    }

    /** Nodes a test started by hand, stopped after the class like the others. */
    protected static void registerForStop(List<Farm.Node> nodes) {
        started.addAll(nodes);
    }

    protected static Path fixture(String name) {
        return ROOT.resolve("it/fixtures").resolve(name);
    }

    protected static Path farmContext() {
        return ROOT.resolve("conf/context.xml");
    }

    protected static String log(Farm.Node node) throws IOException {
        return Files.readString(node.log());
    }

    /** Polls until Tomcat has finished starting (whatever became of the webapp). */
    protected static void awaitServerStarted(Farm.Node node) throws Exception {
        long deadline = System.nanoTime() + START.toNanos();
        while (System.nanoTime() < deadline) {
            if (Files.exists(node.log()) && log(node).contains("Server startup in")) {
                return;
            }
            Thread.sleep(200);
        }
        throw new AssertionError(node.name() + " never finished starting:\n" + Farm.tail(node, 40));
    }

    @AfterAll
    static void stopAll() throws Exception {
        for (Farm.Node node : started) {
            farm.stop(node, Duration.ofSeconds(30));
        }
        started.clear();
    }
}
