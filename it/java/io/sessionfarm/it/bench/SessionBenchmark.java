package io.sessionfarm.it.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;

import io.sessionfarm.it.Farm;
import io.sessionfarm.store.TestDatabase;

/**
 * Side-by-side throughput of session managers on one real Tomcat node: wrk on loopback drives
 * {@code GET /api/whoami} (reads and writes one small attribute) over 200 pre-made sessions, and
 * PostgreSQL's own counters give the database work per request. Run by {@code it/bench/run-sessions}.
 */
public final class SessionBenchmark {

    /** Which peer JARs a configuration needs in lib/. */
    enum Peers { NONE, POSTGRESQL_DRIVER, REDISSON }

    /**
     * One configuration to measure: a context.xml, peer JARs, extra properties, the request to
     * load, the plugin JAR (null: this build's), and the Tomcat and Java the node runs on (null:
     * the farm's own).
     */
    record Variant(String name, String context, Peers peers, String properties, String path, String setupPath,
            Path jar, Path tomcat, Path java) {
        static Variant of(String name, String context, Peers peers, String properties) {
            return new Variant(name, context, peers, properties, "/api/whoami", null, null, null, null);
        }

        Variant requesting(String newPath) {
            return new Variant(name, context, peers, properties, newPath, setupPath, jar, tomcat, java);
        }

        Variant afterEachSessionIs(String setup) {
            return new Variant(name, context, peers, properties, path, setup, jar, tomcat, java);
        }

        Variant withJar(String label, Path otherJar) {
            return new Variant(name + ", " + label, context, peers, properties, path, setupPath, otherJar, tomcat, java);
        }

        Variant on(String label, Path otherTomcat, Path otherJava) {
            return new Variant(name + ", " + label, context, peers, properties, path, setupPath, jar, otherTomcat, otherJava);
        }
    }

    /**
     * What one configuration cost: per request, database transactions, rows written, WAL bytes and
     * PostgreSQL's CPU time (all its processes, in microseconds); per session, heap and stored bytes.
     */
    record Result(Variant variant, Wrk.Result load, double transactionsPerRequest, double rowsWrittenPerRequest,
            double walBytesPerRequest, double postgresCpuMicrosPerRequest, double heapKbPerSession,
            double storedBytesPerSession) {
    }

    private static final String STICKY = "sessionfarm.mode=sticky";
    private static final String SHARED = "sessionfarm.mode=shared";
    private static final String ACTIVITY_CHECK = "org.apache.catalina.session.StandardSession.ACTIVITY_CHECK=true";

    /** Issue 2: the managers side by side, one small attribute read and written per request. */
    static final List<Variant> MANAGERS = List.of(
            Variant.of("StandardManager (memory only)", "standard.xml", Peers.NONE, ""),
            Variant.of("PersistentManager + DataSourceStore + PersistentValve", "persistent.xml", Peers.POSTGRESQL_DRIVER, ACTIVITY_CHECK),
            Variant.of("Redisson 3.52.0, AFTER_REQUEST, readMode REDIS", "redisson.xml", Peers.REDISSON, ""),
            Variant.of("Redisson 3.52.0, AFTER_REQUEST, readMode MEMORY", "redisson-memory.xml", Peers.REDISSON, ""),
            Variant.of("sessionfarm, interval 10 s", "sessionfarm-interval.xml", Peers.NONE, STICKY),
            Variant.of("sessionfarm, every 5 updates", "sessionfarm-updates.xml", Peers.NONE, STICKY),
            Variant.of("sessionfarm, per request", "sessionfarm-per-request.xml", Peers.NONE, STICKY),
            Variant.of("sessionfarm, per request, request that changes nothing", "sessionfarm-per-request.xml", Peers.NONE, STICKY)
                    .requesting("/api/get"));

    /** Issue 3: the shared-mode version check and the in-place change detection, against sticky and the limit. */
    static final List<Variant> MODES = List.of(
            Variant.of("StandardManager (memory only)", "standard.xml", Peers.NONE, ""),
            Variant.of("sessionfarm, per request, sticky", "sessionfarm-per-request.xml", Peers.NONE, STICKY),
            Variant.of("sessionfarm, per request, shared", "sessionfarm-per-request.xml", Peers.NONE, SHARED),
            Variant.of("StandardManager, + 20 small lists", "standard.xml", Peers.NONE, "")
                    .afterEachSessionIs("/api/fill?value=mutable"),
            Variant.of("sessionfarm, per request, sticky, + 20 small strings (known immutable: not digested)",
                    "sessionfarm-per-request.xml", Peers.NONE, STICKY).afterEachSessionIs("/api/fill?value=immutable"),
            Variant.of("sessionfarm, per request, sticky, + 20 small lists the request does not read (not digested)",
                    "sessionfarm-per-request.xml", Peers.NONE, STICKY).afterEachSessionIs("/api/fill?value=mutable"),
            // The same without the database write, which otherwise drowns the cost of detection:
            Variant.of("sessionfarm, per request, sticky, + 20 small strings, request that changes nothing",
                    "sessionfarm-per-request.xml", Peers.NONE, STICKY).afterEachSessionIs("/api/fill?value=immutable")
                    .requesting("/api/get"),
            Variant.of("sessionfarm, per request, sticky, + 20 small lists, request that changes nothing",
                    "sessionfarm-per-request.xml", Peers.NONE, STICKY).afterEachSessionIs("/api/fill?value=mutable")
                    .requesting("/api/get"));

    /**
     * Issue 15: what one PostgreSQL primary pays for each policy (docs/scale.md), the database's
     * own work per request beside the throughput.
     */
    static final List<Variant> SCALE = List.of(
            Variant.of("sessionfarm, per request, sticky", "sessionfarm-per-request.xml", Peers.NONE, STICKY),
            Variant.of("sessionfarm, per request, shared", "sessionfarm-per-request.xml", Peers.NONE, SHARED),
            Variant.of("sessionfarm, every 5 updates, sticky", "sessionfarm-updates.xml", Peers.NONE, STICKY),
            Variant.of("sessionfarm, interval 10 s, sticky", "sessionfarm-interval.xml", Peers.NONE, STICKY),
            Variant.of("sessionfarm, per request, sticky, request that changes nothing", "sessionfarm-per-request.xml",
                    Peers.NONE, STICKY).requesting("/api/get"));

    /**
     * A change's cost, side by side with an earlier build's JAR: shared and sticky mode at the
     * per-request policy, each measured twice, the two builds in turn and in both orders, so that
     * drift and warm-up hit both alike.
     */
    static List<Variant> baseline(Path baselineJar) {
        List<Variant> rows = new ArrayList<>();
        for (int round = 1; round <= 2; round++) {
            for (String mode : List.of(SHARED, STICKY)) {
                Variant variant = Variant.of("sessionfarm, per request, " + mode.substring(mode.indexOf('=') + 1),
                        "sessionfarm-per-request.xml", Peers.NONE, mode);
                Variant before = variant.withJar("before (" + baselineJar.getFileName() + "), round " + round, baselineJar);
                Variant after = variant.withJar("this build, round " + round, null);
                rows.addAll(round % 2 == 1 ? List.of(before, after) : List.of(after, before));
            }
        }
        return rows;
    }

    /**
     * Issue 13: the per-request and interval rows on Tomcat 10.1 with Java 17 next to Tomcat 11
     * with this JDK, each line twice and in both orders, with StandardManager on each as the limit.
     */
    static List<Variant> lines(Path tomcat10, Path java17) {
        List<Variant> rows = new ArrayList<>();
        List<Variant> measured = List.of(
                Variant.of("StandardManager (memory only)", "standard.xml", Peers.NONE, ""),
                Variant.of("sessionfarm, per request", "sessionfarm-per-request.xml", Peers.NONE, STICKY),
                Variant.of("sessionfarm, interval 10 s", "sessionfarm-interval.xml", Peers.NONE, STICKY));
        for (int round = 1; round <= 2; round++) {
            for (Variant variant : measured) {
                Variant older = variant.on("Tomcat 10.1 / Java 17, round " + round, tomcat10, java17);
                Variant newer = variant.on("Tomcat 11 / Java " + Runtime.version().feature() + ", round " + round,
                        null, null);
                rows.addAll(round % 2 == 1 ? List.of(older, newer) : List.of(newer, older));
            }
        }
        return rows;
    }

    private final Path root;
    private final Path peers;
    private final Farm farm;
    private final String jdbcUrl;
    private final int seconds;
    private final int connections;
    private final boolean measureHeap;

    SessionBenchmark(Path root, Path peers, int seconds, int connections, boolean measureHeap) throws Exception {
        this.root = root;
        this.peers = peers;
        this.jdbcUrl = TestDatabase.fresh("bench");
        TestDatabase.Server server = TestDatabase.server();
        this.farm = new Farm(Farm.Layout.of(root, root.resolve("target/bench-farm")),
                new Farm.Store(jdbcUrl, server.user(), server.password()));
        this.seconds = seconds;
        this.connections = connections;
        this.measureHeap = measureHeap;
        try (Connection db = TestDatabase.connect(jdbcUrl); Statement st = db.createStatement()) {
            // DataSourceStore's table, in PostgreSQL terms (Tomcat documents only MySQL DDL).
            st.execute("""
                    CREATE TABLE tomcat_sessions (session_id varchar(100) NOT NULL PRIMARY KEY,
                        valid_session char(1) NOT NULL, max_inactive int NOT NULL, last_access bigint NOT NULL,
                        app_name varchar(255), session_data bytea)""");
            st.execute("CREATE INDEX tomcat_sessions_app ON tomcat_sessions (app_name)");
        }
    }

    Result measure(Variant variant) throws Exception {
        Farm farm = variant.tomcat() == null ? this.farm : this.farm.onTomcat(variant.tomcat());
        farm = variant.java() == null ? farm : farm.withNodeJava(variant.java());
        Farm.Node node = farm.create("bench-" + variant.name().toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9]+", "-"),
                Farm.freePort(0), root.resolve("it/bench/contexts").resolve(variant.context()));
        try (Connection db = TestDatabase.connect(jdbcUrl); Statement st = db.createStatement()) {
            // The node logs in with its least-privilege role (Farm): PersistentManager needs its table too.
            st.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON tomcat_sessions TO sessionfarm_node");
        }
        if (variant.jar() != null) {
            farm.useJar(node, variant.jar());
        }
        for (Path lib : peerJars(variant.peers())) {
            Files.copy(lib, node.base().resolve("lib").resolve(lib.getFileName()));
        }
        Files.writeString(node.base().resolve("conf/redisson.yaml"), """
                singleServerConfig:
                  address: "redis://127.0.0.1:6379"
                """);
        Files.writeString(node.base().resolve("conf/catalina.properties"), "\n" + variant.properties() + "\n",
                StandardOpenOption.APPEND);
        farm.start(node);
        try {
            farm.awaitUp(node, Duration.ofSeconds(120));
            Path ids = node.base().resolve("session-ids.txt");
            Files.write(ids, Wrk.createSessions(node, 200, variant.setupPath()));
            Wrk.run(root, node, variant.path(), ids, connections, 5); // warm-up: JIT, pools, caches
            long[] before = databaseCounters();
            long cpuBefore = postgresCpuMicros();
            Wrk.Result load = Wrk.run(root, node, variant.path(), ids, connections, seconds);
            long cpuAfter = postgresCpuMicros();
            long[] after = databaseCounters();
            double requests = load.requests();
            double[] perSession = measureHeap ? perSession(node) : new double[] {Double.NaN, Double.NaN};
            return new Result(variant, load, (after[0] - before[0]) / requests, (after[1] - before[1]) / requests,
                    (after[2] - before[2]) / requests, (cpuAfter - cpuBefore) / requests, perSession[0], perSession[1]);
        } finally {
            farm.stop(node, Duration.ofSeconds(30));
        }
    }

    private List<Path> peerJars(Peers kind) throws IOException {
        Path dir = switch (kind) {
            case NONE -> null;
            case POSTGRESQL_DRIVER -> peers.resolve("postgresql");
            case REDISSON -> peers.resolve("redisson");
        };
        if (dir == null) {
            return List.of();
        }
        try (Stream<Path> jars = Files.list(dir)) {
            return jars.toList();
        }
    }

    /**
     * Transactions committed or rolled back and rows written in the benchmark database, and the
     * server's WAL position in bytes.
     */
    private long[] databaseCounters() throws SQLException, InterruptedException {
        Thread.sleep(600); // the statistics collector publishes every 500 ms
        try (Connection db = TestDatabase.connect(jdbcUrl); Statement st = db.createStatement()) {
            st.execute("SELECT pg_stat_clear_snapshot()");
            try (ResultSet rs = st.executeQuery("""
                    SELECT xact_commit + xact_rollback, tup_inserted + tup_updated + tup_deleted,
                           pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint
                      FROM pg_stat_database WHERE datname = current_database()""")) {
                rs.next();
                return new long[] {rs.getLong(1), rs.getLong(2), rs.getLong(3)};
            }
        }
    }

    /**
     * CPU time of every PostgreSQL process on this machine so far (user and system, from /proc),
     * in microseconds: the database server's own cost, apart from Tomcat's and wrk's.
     */
    private static long postgresCpuMicros() throws IOException {
        long ticks = 0;
        try (Stream<Path> processes = Files.list(Path.of("/proc"))) {
            for (Path process : processes.filter(p -> p.getFileName().toString().matches("\\d+")).toList()) {
                try {
                    String stat = Files.readString(process.resolve("stat"));
                    if (stat.contains("(postgres)")) {
                        String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                        ticks += Long.parseLong(fields[11]) + Long.parseLong(fields[12]); // utime, stime
                    }
                } catch (IOException gone) {
                    // the process ended meanwhile
                }
            }
        }
        return ticks * 10_000; // 100 ticks a second (USER_HZ)
    }

    /**
     * Per session of 10,000 more: heap after a full GC, and the bytes the session tables grew by
     * (rows and indexes), 12 s later: a checkpoint on interval (10 s) has written them by then.
     */
    private double[] perSession(Farm.Node node) throws Exception {
        long pid = node.process().orElseThrow().pid();
        long heapBefore = heapUsedKb(pid);
        long storedBefore = storedBytes();
        Wrk.createSessions(node, 10_000, null);
        long heapAfter = heapUsedKb(pid);
        Thread.sleep(12_000);
        long storedAfter = storedBytes();
        return new double[] {(heapAfter - heapBefore) / 10_000.0, (storedAfter - storedBefore) / 10_000.0};
    }

    private long storedBytes() throws SQLException {
        try (Connection db = TestDatabase.connect(jdbcUrl); Statement st = db.createStatement();
                ResultSet rs = st.executeQuery("""
                        SELECT sum(pg_total_relation_size(c.oid))::bigint FROM pg_class c
                         WHERE c.relkind = 'r' AND c.relname IN ('sessionfarm_session', 'sessionfarm_attribute')""")) {
            rs.next();
            return rs.getLong(1);
        }
    }

    private static long heapUsedKb(long pid) throws IOException, InterruptedException {
        Path jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd");
        run(jcmd.toString(), Long.toString(pid), "GC.run");
        return (long) Wrk.number(run(jcmd.toString(), Long.toString(pid), "GC.heap_info"), "used (\\d+)K");
    }

    private static String run(String... command) throws IOException, InterruptedException {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes());
        process.waitFor();
        return output;
    }




    /**
     * {@code SessionBenchmark ROOT PEERS_DIR SUITE SECONDS CONNECTIONS [BASELINE_JAR | TOMCAT10 JAVA17]};
     * suite: managers, modes, baseline (which needs the earlier build's JAR), or lines (which needs
     * a Tomcat 10.1 distribution and a Java 17).
     */
    public static void main(String[] args) throws Exception {
        Path root = Path.of(args[0]).toAbsolutePath();
        boolean perSession = args[2].equals("managers") || args[2].equals("scale");
        SessionBenchmark bench = new SessionBenchmark(root, Path.of(args[1]), Integer.parseInt(args[3]),
                Integer.parseInt(args[4]), perSession);
        List<Variant> variants = switch (args[2]) {
            case "managers" -> MANAGERS;
            case "modes" -> MODES;
            case "scale" -> SCALE;
            case "baseline" -> baseline(Path.of(args[5]).toAbsolutePath());
            case "lines" -> lines(Path.of(args[5]).toAbsolutePath(), Path.of(args[6]));
            default -> throw new IllegalArgumentException("suite: managers, modes, scale, baseline or lines, not " + args[2]);
        };
        List<Result> results = new ArrayList<>();
        for (Variant variant : variants) {
            System.err.println("measuring " + variant.name() + " ...");
            Result result = bench.measure(variant);
            System.err.println(args[2].equals("scale") ? scaleRow(result) : row(result));
            results.add(result);
        }
        if (args[2].equals("scale")) {
            System.out.println("| configuration | request | requests/s | p99 ms | DB transactions / request | WAL bytes / request"
                    + " | PostgreSQL CPU µs / request | transactions / PostgreSQL CPU second | stored bytes / session |");
            System.out.println("|---|---|---:|---:|---:|---:|---:|---:|---:|");
            results.forEach(r -> System.out.println(scaleRow(r)));
            return;
        }
        System.out.println("| configuration | request | requests/s | p50 ms | p99 ms | DB transactions / request | DB rows written / request | heap KB / session |");
        System.out.println("|---|---|---:|---:|---:|---:|---:|---:|");
        results.forEach(r -> System.out.println(row(r)));
    }

    private static String scaleRow(Result r) {
        double perCpuSecond = r.postgresCpuMicrosPerRequest() == 0 ? Double.NaN
                : r.transactionsPerRequest() / r.postgresCpuMicrosPerRequest() * 1_000_000;
        return String.format(Locale.ROOT, "| %s | `%s` | %.0f | %.2f | %.3f | %.0f | %.1f | %.0f | %.0f |", r.variant().name(),
                r.variant().path(), r.load().requestsPerSecond(), r.load().p99Millis(), r.transactionsPerRequest(),
                r.walBytesPerRequest(), r.postgresCpuMicrosPerRequest(), perCpuSecond, r.storedBytesPerSession());
    }

    private static String row(Result r) {
        return String.format(Locale.ROOT, "| %s | `%s` | %.0f | %.2f | %.2f | %.3f | %.3f | %s |", r.variant().name(),
                r.variant().path(), r.load().requestsPerSecond(), r.load().p50Millis(), r.load().p99Millis(),
                r.transactionsPerRequest(), r.rowsWrittenPerRequest(),
                Double.isNaN(r.heapKbPerSession()) ? "" : String.format(Locale.ROOT, "%.2f", r.heapKbPerSession()));
    }
}
