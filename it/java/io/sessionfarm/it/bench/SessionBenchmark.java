package io.sessionfarm.it.bench;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
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
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import io.sessionfarm.it.Farm;
import io.sessionfarm.it.TestDatabase;

/**
 * Side-by-side throughput of session managers on one real Tomcat node: wrk on loopback drives
 * {@code GET /api/whoami} (reads and writes one small attribute) over pre-made sessions, and
 * PostgreSQL's own counters give the database work per request. Run by {@code it/bench/run-sessions}.
 */
public final class SessionBenchmark {

    /** One configuration to measure: a context.xml, peer JARs for lib/, and extra properties. */
    record Variant(String name, Path context, List<Path> libs, String properties) {
    }

    record Result(Variant variant, double requestsPerSecond, double p50Millis, double p99Millis, long requests,
            double transactionsPerRequest, double rowsWrittenPerRequest, double heapKbPerSession) {
    }

    private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();

    private final Path root;
    private final Farm farm;
    private final String jdbcUrl;
    private final int seconds;
    private final int connections;
    private final int sessions;

    SessionBenchmark(Path root, int seconds, int connections, int sessions) throws Exception {
        this.root = root;
        this.jdbcUrl = TestDatabase.fresh("bench");
        TestDatabase.Server server = TestDatabase.server();
        this.farm = new Farm(Farm.Layout.of(root, root.resolve("target/bench-farm")),
                new Farm.Store(jdbcUrl, server.user(), server.password()));
        this.seconds = seconds;
        this.connections = connections;
        this.sessions = sessions;
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
        Farm.Node node = farm.create("bench-" + variant.name().toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9]+", "-"), Farm.freePort(0), variant.context());
        for (Path lib : variant.libs()) {
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
            Files.write(ids, createSessions(node, sessions));
            wrk(node, ids, 5); // warm-up: JIT, pools, caches
            long[] before = databaseCounters();
            String output = wrk(node, ids, seconds);
            long[] after = databaseCounters();
            long requests = longMatch(output, "(\\d+) requests in");
            double heap = heapKbPerSession(node);
            return new Result(variant, doubleMatch(output, "Requests/sec:\\s+([\\d.]+)"),
                    millis(output, "50%"), millis(output, "99%"), requests,
                    (double) (after[0] - before[0]) / requests, (double) (after[1] - before[1]) / requests, heap);
        } finally {
            farm.stop(node, Duration.ofSeconds(30));
        }
    }

    /** Sessions made with one request each; their ids feed wrk. */
    private static List<String> createSessions(Farm.Node node, int count) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            List<Future<String>> ids = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                ids.add(pool.submit(() -> {
                    HttpResponse<Void> response = HTTP.send(HttpRequest.newBuilder(node.url("/api/whoami")).build(),
                            HttpResponse.BodyHandlers.discarding());
                    String cookie = response.headers().firstValue("Set-Cookie").orElseThrow(
                            () -> new IllegalStateException("no session cookie from " + node.name()));
                    return cookie.substring("JSESSIONID=".length(), cookie.indexOf(';'));
                }));
            }
            List<String> result = new ArrayList<>();
            for (Future<String> id : ids) {
                result.add(id.get());
            }
            return result;
        } finally {
            pool.shutdown();
        }
    }

    private String wrk(Farm.Node node, Path ids, int duration) throws IOException, InterruptedException {
        ProcessBuilder builder = new ProcessBuilder("wrk", "-t2", "-c" + connections, "-d" + duration + "s",
                "--latency", "-s", root.resolve("it/bench/sessions.lua").toString(), node.url("/api/whoami").toString())
                .redirectErrorStream(true);
        builder.environment().put("SESSION_IDS", ids.toString());
        Process process = builder.start();
        String output = new String(process.getInputStream().readAllBytes());
        if (process.waitFor() != 0 || !output.contains("Requests/sec")) {
            throw new IllegalStateException("wrk failed:\n" + output);
        }
        if (output.contains("Non-2xx")) {
            throw new IllegalStateException(node.name() + " answered errors under load:\n" + output);
        }
        return output;
    }

    /** Transactions committed or rolled back, and rows written, in the benchmark database. */
    private long[] databaseCounters() throws SQLException, InterruptedException {
        Thread.sleep(600); // the statistics collector publishes every 500 ms
        try (Connection db = TestDatabase.connect(jdbcUrl); Statement st = db.createStatement()) {
            st.execute("SELECT pg_stat_clear_snapshot()");
            try (ResultSet rs = st.executeQuery("""
                    SELECT xact_commit + xact_rollback, tup_inserted + tup_updated + tup_deleted
                      FROM pg_stat_database WHERE datname = current_database()""")) {
                rs.next();
                return new long[] {rs.getLong(1), rs.getLong(2)};
            }
        }
    }

    /** Heap after a full GC, before and after 10,000 more sessions. */
    private static double heapKbPerSession(Farm.Node node) throws Exception {
        long pid = node.process().orElseThrow().pid();
        long before = heapUsedKb(pid);
        createSessions(node, 10_000);
        long after = heapUsedKb(pid);
        return (after - before) / 10_000.0;
    }

    private static long heapUsedKb(long pid) throws IOException, InterruptedException {
        Path jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd");
        run(jcmd.toString(), Long.toString(pid), "GC.run");
        return longMatch(run(jcmd.toString(), Long.toString(pid), "GC.heap_info"), "used (\\d+)K");
    }

    private static String run(String... command) throws IOException, InterruptedException {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes());
        process.waitFor();
        return output;
    }

    private static double millis(String wrk, String percentile) {
        Matcher m = Pattern.compile(percentile + "\\s+([\\d.]+)(us|ms|s)").matcher(wrk);
        if (!m.find()) {
            throw new IllegalStateException("no " + percentile + " in wrk output:\n" + wrk);
        }
        double value = Double.parseDouble(m.group(1));
        return switch (m.group(2)) {
            case "us" -> value / 1000;
            case "s" -> value * 1000;
            default -> value;
        };
    }

    private static double doubleMatch(String text, String regex) {
        Matcher m = Pattern.compile(regex).matcher(text);
        if (!m.find()) {
            throw new IllegalStateException("no match for " + regex + " in:\n" + text);
        }
        return Double.parseDouble(m.group(1));
    }

    private static long longMatch(String text, String regex) {
        return (long) doubleMatch(text, regex);
    }

    /** {@code SessionBenchmark ROOT SECONDS CONNECTIONS SESSIONS PEER_LIBS_DIR VARIANT...}, variant = name=context.xml[?props]. */
    public static void main(String[] args) throws Exception {
        Path root = Path.of(args[0]).toAbsolutePath();
        SessionBenchmark bench = new SessionBenchmark(root, Integer.parseInt(args[1]), Integer.parseInt(args[2]),
                Integer.parseInt(args[3]));
        Path peers = Path.of(args[4]);
        List<Result> results = new ArrayList<>();
        for (int i = 5; i < args.length; i++) {
            String[] parts = args[i].split("=", 2);
            String[] contextAndProps = parts[1].split("\\?", 2);
            Path context = root.resolve("it/bench/contexts").resolve(contextAndProps[0]);
            String properties = contextAndProps.length > 1 ? contextAndProps[1].replace('&', '\n') : "";
            List<Path> libs = new ArrayList<>();
            String kind = parts[0].toLowerCase(Locale.ROOT);
            if (kind.startsWith("redisson")) {
                try (Stream<Path> jars = Files.list(peers.resolve("redisson"))) {
                    libs.addAll(jars.toList());
                }
            } else if (kind.startsWith("persistentmanager")) {
                try (Stream<Path> jars = Files.list(peers.resolve("postgresql"))) {
                    libs.addAll(jars.toList());
                }
            }
            System.err.println("measuring " + parts[0] + " ...");
            Result result = bench.measure(new Variant(parts[0], context, libs, properties));
            System.err.println(row(result));
            results.add(result);
        }
        System.out.println("| configuration | requests/s | p50 ms | p99 ms | DB transactions / request | DB rows written / request | heap KB / session |");
        System.out.println("|---|---:|---:|---:|---:|---:|---:|");
        results.forEach(r -> System.out.println(row(r)));
    }

    private static String row(Result r) {
        return String.format(Locale.ROOT, "| %s | %.0f | %.2f | %.2f | %.3f | %.3f | %.2f |", r.variant().name(),
                r.requestsPerSecond(), r.p50Millis(), r.p99Millis(), r.transactionsPerRequest(),
                r.rowsWrittenPerRequest(), r.heapKbPerSession());
    }
}
