package io.sessionfarm.it.bench;

import java.io.IOException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import io.sessionfarm.it.Balancer;
import io.sessionfarm.it.Farm;
import io.sessionfarm.store.TestDatabase;

/**
 * Issue 5: returning TLS clients of a three-node farm behind HAProxy round-robin (TCP), side by
 * side in one run: (a) Tomcat as it is, (b) sessionfarm's ticket ring, (c) sessionfarm's session
 * cache, each for RSA-2048 and EC P-256 certificates and TLS 1.2 and 1.3. The clients are
 * {@code openssl s_time -reuse}: each reconnects over and over, offering the session of its first
 * handshake, and fetches /api/ping every time; round-robin sends each reconnection to the next
 * node. A fourth farm, Tomcat as it is with clients that never resume ({@code -new}), measures
 * what a full handshake costs here, and so how much resumption can gain at most. Then a soak: 100,000 resumptions through the session cache on one node, its RSS sampled.
 * Run by {@code it/bench/run-tls}.
 */
public final class TlsBenchmark {

    /** {@code returning}: clients offer their first session again ({@code -reuse}), or never ({@code -new}). */
    record Variant(String name, String serverXml, boolean returning) {
    }

    static final List<Variant> VARIANTS = List.of(
            new Variant("(a) Tomcat as it is", "tomcat.xml", true),
            new Variant("(b) ticket ring", "tickets.xml", true),
            new Variant("(c) session cache", "cache.xml", true),
            // The reference for what a full handshake costs here: how far resumption can lift (a) at all.
            new Variant("(a) Tomcat, new clients only", "tomcat.xml", false));
    static final List<String> KEYS = List.of("rsa", "ec");
    static final List<String> VERSIONS = List.of("tls1_2", "tls1_3");

    record Result(Variant variant, String key, String version, long connections, long resumed, long full,
            double seconds, double nodeCpuSeconds) {
        /** Of the reconnections s_time marked: 'r' resumed, '*' a full handshake. */
        double resumptionRate() {
            return (double) resumed / Math.max(1, resumed + full);
        }

        double handshakesPerSecond() {
            return connections / seconds;
        }

        /** CPU time of the three Tomcat JVMs per connection, in milliseconds: handshake, request and all. */
        double nodeCpuMillisPerConnection() {
            return 1000 * nodeCpuSeconds / connections;
        }
    }

    /** Enough clients to keep the machine busy: one s_time waits for each round trip in turn. */
    private static final int CLIENTS = 8;
    private static final Pattern CONNECTIONS = Pattern.compile("(\\d+) connections in (\\d+) real seconds");

    private final Path root;
    private final Farm farm;
    private final int seconds;

    TlsBenchmark(Path root, int seconds) throws Exception {
        this.root = root;
        String jdbcUrl = TestDatabase.fresh("tls_bench");
        TestDatabase.Server server = TestDatabase.server();
        this.farm = new Farm(Farm.Layout.of(root, root.resolve("target/bench-farm")),
                new Farm.Store(jdbcUrl, server.user(), server.password()));
        this.seconds = seconds;
    }

    private List<Farm.Node> start(Variant variant, String key, int count) throws Exception {
        List<Farm.Node> nodes = new ArrayList<>();
        for (int i = 1; i <= count; i++) {
            Farm.Node node = farm.create("tls-bench-" + i, Farm.freePort(0), root.resolve("conf/context.xml"));
            Files.copy(root.resolve("it/bench/servers").resolve(variant.serverXml()), node.base().resolve("conf/server.xml"),
                    java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            Path tls = farm.tlsMaterial();
            farm.setProperty(node, "sessionfarm.tls.certificate", tls.resolve(key + ".pem").toString());
            farm.setProperty(node, "sessionfarm.tls.key", tls.resolve(key + ".key").toString());
            nodes.add(node);
        }
        for (Farm.Node node : nodes) {
            farm.start(node);
        }
        for (Farm.Node node : nodes) {
            farm.awaitUp(node, Duration.ofSeconds(120));
        }
        return nodes;
    }

    private void stop(List<Farm.Node> nodes) throws InterruptedException {
        for (Farm.Node node : nodes) {
            farm.stop(node, Duration.ofSeconds(30));
        }
    }

    List<Result> measure(Variant variant, String key) throws Exception {
        List<Farm.Node> nodes = start(variant, key, 3);
        Process haproxy = null;
        try {
            int port = Farm.freePort(0);
            haproxy = Balancer.tcpRoundRobin(nodes, port, nodes.get(0).base(), false);
            List<Result> results = new ArrayList<>();
            for (String version : VERSIONS) {
                // Warm-up at full load: the handshake paths' Java code (the callbacks) must be compiled
                // before it is timed; with one short client, a cold farm made the cache look 2.6× slower.
                List<Process> warmUp = new ArrayList<>();
                for (int i = 0; i < CLIENTS; i++) {
                    warmUp.add(sTimeProcess(port, version, 10, variant.returning()));
                }
                for (Process client : warmUp) {
                    finish(client);
                }
                double cpuBefore = cpuSeconds(nodes);
                List<Process> clients = new ArrayList<>();
                for (int i = 0; i < CLIENTS; i++) {
                    clients.add(sTimeProcess(port, version, seconds, variant.returning()));
                }
                long connections = 0;
                long resumed = 0;
                long full = 0;
                double longest = 0;
                for (Process client : clients) {
                    String output = finish(client);
                    resumed += marks(output, 'r');
                    full += marks(output, '*');
                    Matcher m = CONNECTIONS.matcher(output);
                    if (!m.find()) {
                        throw new IllegalStateException("s_time printed no count:\n" + output);
                    }
                    connections += Long.parseLong(m.group(1));
                    longest = Math.max(longest, Double.parseDouble(m.group(2)));
                }
                Result result = new Result(variant, key, version, connections, resumed, full, longest,
                        cpuSeconds(nodes) - cpuBefore);
                System.err.println(row(result));
                results.add(result);
            }
            return results;
        } finally {
            if (haproxy != null) {
                haproxy.destroy();
                haproxy.waitFor();
            }
            stop(nodes);
        }
    }

    /** 100,000 resumptions (TLS 1.2, session cache, L1 tier) on one node; RSS every 10,000. */
    List<long[]> soak(int resumptions) throws Exception {
        List<Farm.Node> nodes = start(VARIANTS.get(2), "ec", 1);
        Farm.Node node = nodes.get(0);
        List<long[]> samples = new ArrayList<>();
        try {
            long pid = node.process().orElseThrow().pid();
            sTime(node.httpsPort(), "tls1_2", 5); // warm-up
            long start = resumedByCache(node);
            samples.add(new long[] {0, rss(pid)});
            while (resumedByCache(node) - start < resumptions) {
                List<Process> clients = new ArrayList<>();
                for (int i = 0; i < 4; i++) {
                    clients.add(sTimeProcess(node.httpsPort(), "tls1_2", 5, true));
                }
                for (Process client : clients) {
                    finish(client);
                }
                long done = resumedByCache(node) - start;
                if (done >= samples.size() * 10_000L) {
                    samples.add(new long[] {done, rss(pid)});
                    System.err.printf(Locale.ROOT, "soak: %,d resumptions, RSS %,d kB%n", done, samples.get(samples.size() - 1)[1]);
                }
            }
        } finally {
            stop(nodes);
        }
        return samples;
    }

    private static String sTime(int port, String version, int time) throws IOException, InterruptedException {
        return finish(sTimeProcess(port, version, time, true));
    }

    private static Process sTimeProcess(int port, String version, int time, boolean returning) throws IOException {
        // -www: a request on every connection; reading its reply also reads TLS 1.3's tickets
        return new ProcessBuilder("openssl", "s_time", "-connect", "127.0.0.1:" + port, returning ? "-reuse" : "-new",
                "-" + version,
                "-time", Integer.toString(time), "-www", "/api/ping").redirectErrorStream(true).start();
    }

    /** User and system CPU time the nodes' JVMs have used, in seconds (/proc/PID/stat, 100 ticks a second). */
    private static double cpuSeconds(List<Farm.Node> nodes) throws IOException {
        long ticks = 0;
        for (Farm.Node node : nodes) {
            String stat = Files.readString(Path.of("/proc/" + node.process().orElseThrow().pid() + "/stat"));
            String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            ticks += Long.parseLong(fields[11]) + Long.parseLong(fields[12]); // utime, stime
        }
        return ticks / 100.0;
    }

    private static String finish(Process process) throws IOException, InterruptedException {
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        process.waitFor(60, TimeUnit.SECONDS);
        return output;
    }

    /** s_time prints one character per reconnection: 'r' when it resumed, '*' for a full handshake. */
    private static long marks(String output, char mark) {
        int from = output.indexOf("session id reuse");
        return from < 0 ? 0 : output.substring(from).lines().skip(1).filter(l -> l.matches("[r*]+"))
                .mapToLong(line -> line.chars().filter(c -> c == mark).count()).sum();
    }

    static String label(String version) {
        return version.equals("tls1_2") ? "TLS 1.2" : "TLS 1.3";
    }

    private static long resumedByCache(Farm.Node node) throws IOException, InterruptedException {
        String stats = HttpClient.newHttpClient().send(HttpRequest.newBuilder(node.url("/api/stats")).build(),
                HttpResponse.BodyHandlers.ofString()).body();
        Matcher m = Pattern.compile("\"ResumedByCache\":(\\d+)").matcher(stats);
        if (!m.find()) {
            throw new IllegalStateException("no TLS counters in " + stats);
        }
        return Long.parseLong(m.group(1));
    }

    private static long rss(long pid) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("\\D", ""));
            }
        }
        return -1;
    }

    static String row(Result r) {
        return String.format(Locale.ROOT, "| %s | %s | %s | %,d | %.1f%% | %.0f | %.2f |", r.variant().name(),
                r.key().equals("rsa") ? "RSA-2048" : "EC P-256", label(r.version()),
                r.connections(), 100 * r.resumptionRate(), r.handshakesPerSecond(), r.nodeCpuMillisPerConnection());
    }

    /** {@code TlsBenchmark ROOT [SECONDS] [SOAK_RESUMPTIONS]}: prints markdown tables for docs/benchmarks.md. */
    public static void main(String[] args) throws Exception {
        Path root = Path.of(args.length > 0 ? args[0] : ".").toAbsolutePath().normalize();
        int seconds = args.length > 1 ? Integer.parseInt(args[1]) : 15;
        int soak = args.length > 2 ? Integer.parseInt(args[2]) : 100_000;
        TlsBenchmark bench = new TlsBenchmark(root, seconds);
        List<Result> results = new ArrayList<>();
        for (String key : KEYS) {
            for (Variant variant : VARIANTS) {
                results.addAll(bench.measure(variant, key));
            }
        }
        System.out.println();
        System.out.println("Clients: " + CLIENTS + " × `openssl s_time -reuse -time " + seconds
                + " [-www /api/ping]` through HAProxy round-robin (TCP) over 3 nodes, " + Runtime.getRuntime().availableProcessors()
                + " cores shared by everything; `-new` instead of `-reuse` for new clients only.");
        System.out.println();
        System.out.println("| farm | certificate | protocol | connections | resumed | handshakes/s | node CPU ms per connection |");
        System.out.println("|---|---|---|---|---|---|---|");
        results.forEach(r -> System.out.println(row(r)));
        System.out.println();
        System.out.println("| certificate | protocol | (b) ÷ (a) handshakes/s | at most, with (a) resuming as it did"
                + " | (c) ÷ (b) handshakes/s | node CPU per connection, (b) ÷ (a) | node CPU per connection, (c) ÷ (a) |");
        System.out.println("|---|---|---|---|---|---|---|");
        for (String key : KEYS) {
            for (String version : VERSIONS) {
                Result a = result(results, 0, key, version);
                Result b = result(results, 1, key, version);
                Result c = result(results, 2, key, version);
                Result full = result(results, 3, key, version);
                // (a) pays a full handshake for the share it did not resume; were resumption free of
                // everything else, (b) would be faster by (1 - p) * r + p, r = resumed rate / full rate.
                double r = b.handshakesPerSecond() / full.handshakesPerSecond();
                double p = a.resumptionRate();
                System.out.printf(Locale.ROOT, "| %s | %s | %.2f× | %.2f× | %.2f× | %.2f× | %.2f× |%n",
                        key.equals("rsa") ? "RSA-2048" : "EC P-256", label(version),
                        b.handshakesPerSecond() / a.handshakesPerSecond(), (1 - p) * r + p,
                        c.handshakesPerSecond() / b.handshakesPerSecond(),
                        b.nodeCpuMillisPerConnection() / a.nodeCpuMillisPerConnection(),
                        c.nodeCpuMillisPerConnection() / a.nodeCpuMillisPerConnection());
            }
        }
        if (soak > 0) {
            List<long[]> samples = bench.soak(soak);
            System.out.println();
            System.out.println("| resumptions (session cache, TLS 1.2, one node) | RSS (MB) |");
            System.out.println("|---|---|");
            for (long[] s : samples) {
                System.out.printf(Locale.ROOT, "| %,d | %.0f |%n", s[0], s[1] / 1024.0);
            }
        }
    }

    private static Result result(List<Result> results, int variant, String key, String version) {
        return results.stream().filter(r -> r.variant() == VARIANTS.get(variant) && r.key().equals(key)
                && r.version().equals(version)).findFirst().orElseThrow();
    }
}
