package io.sessionfarm.it.bench;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

import io.sessionfarm.it.Client;
import io.sessionfarm.it.Balancer;
import io.sessionfarm.it.Farm;
import io.sessionfarm.store.TestDatabase;

/**
 * Issue 4: the token valve's cost. Two real Tomcat nodes behind HAProxy round-robin (every request
 * may land on either node), the same Manager configuration in each run, with and without the
 * valve. wrk keeps each session's latest cookie, as a browser would, over 200 pre-made sessions.
 * Run by {@code it/bench/run-tokens}.
 */
public final class TokenBenchmark {

    /** @param jar the plugin JAR, null for this build's */
    record Variant(String name, String context, Path jar) {
        Variant(String name, String context) {
            this(name, context, null);
        }
    }

    static final List<Variant> VARIANTS = List.of(
            new Variant("without the valve (plain JSESSIONID cookie)", "farm-no-valve.xml"),
            new Variant("token valve, rotation after 60 s", "farm-tokens-rotate-60.xml"),
            new Variant("token valve, rotation on every response", "farm-tokens-rotate-0.xml"));

    /**
     * The valve's common path (a current token, no rotation due) against an earlier build's JAR:
     * the 60 s-rotation row twice for each build, in turn and in both orders, beside the farm
     * without the valve.
     */
    static List<Variant> baseline(Path jar) {
        List<Variant> rows = new ArrayList<>(List.of(VARIANTS.get(0)));
        for (int round = 1; round <= 2; round++) {
            Variant before = new Variant("token valve, rotation after 60 s, before (" + jar.getFileName() + "), round "
                    + round, "farm-tokens-rotate-60.xml", jar);
            Variant after = new Variant("token valve, rotation after 60 s, this build, round " + round,
                    "farm-tokens-rotate-60.xml");
            rows.addAll(round % 2 == 1 ? List.of(before, after) : List.of(after, before));
        }
        return rows;
    }

    record Result(Variant variant, Wrk.Result load, double transactionsPerRequest) {
    }

    private static final int SESSIONS = 200;

    private final Path root;
    private final Farm farm;
    private final String jdbcUrl;
    private final int seconds;
    private final int threads;

    TokenBenchmark(Path root, int seconds, int threads) throws Exception {
        this.root = root;
        this.jdbcUrl = TestDatabase.fresh("token_bench");
        TestDatabase.Server server = TestDatabase.server();
        this.farm = new Farm(Farm.Layout.of(root, root.resolve("target/bench-farm")),
                new Farm.Store(jdbcUrl, server.user(), server.password()));
        this.seconds = seconds;
        this.threads = threads;
    }

    Result measure(Variant variant) throws Exception {
        Path context = root.resolve("it/bench/contexts").resolve(variant.context());
        List<Farm.Node> nodes = List.of(farm.create("token-bench-1", Farm.freePort(0), context),
                farm.create("token-bench-2", Farm.freePort(0), context));
        if (variant.jar() != null) {
            for (Farm.Node node : nodes) {
                farm.useJar(node, variant.jar());
            }
        }
        Process haproxy = null;
        try {
            for (Farm.Node node : nodes) {
                farm.start(node);
            }
            for (Farm.Node node : nodes) {
                farm.awaitUp(node, Duration.ofSeconds(120));
            }
            int port = Farm.freePort(0);
            haproxy = haproxy(nodes, port);
            URI front = URI.create("http://127.0.0.1:" + port + "/api/whoami");
            Path cookies = nodes.get(0).base().resolve("session-cookies.txt");
            Files.write(cookies, sessions(front));
            Wrk.run(root, front, cookies, "tokens.lua", threads, threads, 5); // warm-up: JIT, pools, caches
            long before = transactions();
            Wrk.Result load = Wrk.run(root, front, cookies, "tokens.lua", threads, threads, seconds);
            long after = transactions();
            return new Result(variant, load, (double) (after - before) / load.requests());
        } finally {
            if (haproxy != null) {
                haproxy.destroy();
                haproxy.waitFor();
            }
            for (Farm.Node node : nodes) {
                farm.stop(node, Duration.ofSeconds(30));
            }
        }
    }

    /** One session per client, made through the balancer; each line is the cookie a browser would send. */
    private static List<String> sessions(URI front) throws Exception {
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < SESSIONS; i++) {
            Client client = new Client();
            client.get(front);
            lines.add(client.token() != null ? Client.TOKEN_COOKIE + "=" + client.token() : "JSESSIONID=" + client.sessionId());
        }
        return lines;
    }

    private Process haproxy(List<Farm.Node> nodes, int port) throws IOException, InterruptedException {
        String config = """
                global
                  maxconn 4096
                defaults
                  mode http
                  timeout connect 5s
                  timeout client 60s
                  timeout server 60s
                frontend front
                  bind 127.0.0.1:%d
                  default_backend farm
                backend farm
                  balance roundrobin
                """.formatted(port) + Balancer.servers(nodes, Farm.Node::port, "");
        Path base = nodes.get(0).base();
        return Balancer.start(config, port, base.resolve("haproxy.cfg"), base.resolve("logs/haproxy.log"), false);
    }

    private long transactions() throws SQLException, InterruptedException {
        Thread.sleep(600); // the statistics collector publishes every 500 ms
        try (Connection db = TestDatabase.connect(jdbcUrl); Statement st = db.createStatement()) {
            st.execute("SELECT pg_stat_clear_snapshot()");
            try (ResultSet rs = st.executeQuery("SELECT xact_commit + xact_rollback FROM pg_stat_database"
                    + " WHERE datname = current_database()")) {
                rs.next();
                return rs.getLong(1);
            }
        }
    }

    /** {@code TokenBenchmark ROOT SECONDS THREADS [BASELINE_JAR]} */
    public static void main(String[] args) throws Exception {
        TokenBenchmark bench = new TokenBenchmark(Path.of(args[0]).toAbsolutePath(), Integer.parseInt(args[1]),
                Integer.parseInt(args[2]));
        List<Result> results = new ArrayList<>();
        for (Variant variant : args.length > 3 ? baseline(Path.of(args[3]).toAbsolutePath()) : VARIANTS) {
            System.err.println("measuring " + variant.name() + " ...");
            Result result = bench.measure(variant);
            System.err.println(row(result, result));
            results.add(result);
        }
        System.out.println("| configuration | requests/s | vs. without | p50 ms | p99 ms | DB transactions / request |");
        System.out.println("|---|---:|---:|---:|---:|---:|");
        results.forEach(r -> System.out.println(row(r, results.get(0))));
    }

    private static String row(Result r, Result baseline) {
        return String.format(Locale.ROOT, "| %s | %.0f | %.2f× | %.2f | %.2f | %.3f |", r.variant().name(),
                r.load().requestsPerSecond(), r.load().requestsPerSecond() / baseline.load().requestsPerSecond(),
                r.load().p50Millis(), r.load().p99Millis(), r.transactionsPerRequest());
    }
}
