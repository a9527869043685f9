package io.sessionfarm.it.bench;

import java.io.ByteArrayOutputStream;
import java.io.ObjectOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import io.sessionfarm.it.Farm;
import io.sessionfarm.store.TestDatabase;

/**
 * Expiry at scale: 100,000 expired sessions in the store, three nodes sweeping them (listeners
 * fired once each), while wrk loads one node. Reports the time to expire them all and the
 * request p99 during the sweep against a run of the same load without it.
 */
public final class ExpiryBenchmark {

    /** Three nodes, PostgreSQL and wrk share two cores here: half the other benchmarks' load. */
    private static final int CONNECTIONS = 16;

    public static void main(String[] args) throws Exception {
        Path root = Path.of(args[0]).toAbsolutePath();
        int sessions = Integer.parseInt(args[1]);
        int seconds = Integer.parseInt(args[2]);
        String url = TestDatabase.fresh("expiry_bench");
        TestDatabase.Server server = TestDatabase.server();
        Farm farm = new Farm(Farm.Layout.of(root, root.resolve("target/bench-farm")),
                new Farm.Store(url, server.user(), server.password()));
        List<Farm.Node> nodes = new ArrayList<>();
        for (String name : List.of("expiry-1", "expiry-2", "expiry-3")) {
            Farm.Node node = farm.create(name, Farm.freePort(0), root.resolve("it/fixtures/context-fast-expiry.xml"));
            farm.start(node);
            nodes.add(node);
        }
        try {
            for (Farm.Node node : nodes) {
                farm.awaitUp(node, Duration.ofSeconds(120));
            }
            Farm.Node loaded = nodes.get(0);
            Path ids = loaded.base().resolve("session-ids.txt");
            Files.write(ids, Wrk.createSessions(loaded, 200, null));
            Wrk.run(root, loaded, "/api/whoami", ids, CONNECTIONS, 5);
            Wrk.Result baseline = Wrk.run(root, loaded, "/api/whoami", ids, CONNECTIONS, seconds);

            insertExpired(url, sessions);
            long start = System.nanoTime();
            CompletableFuture<Wrk.Result> during = CompletableFuture.supplyAsync(() -> {
                try {
                    return Wrk.run(root, loaded, "/api/whoami", ids, CONNECTIONS, seconds);
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            double expirySeconds = awaitExpired(url, start);
            Wrk.Result load = during.get();
            long destroyed = 0;
            for (Farm.Node node : nodes) {
                Matcher m = Pattern.compile("session destroyed label=bulk ").matcher(Files.readString(node.log()));
                while (m.find()) {
                    destroyed++;
                }
            }
            System.out.println("| run | requests/s | p50 ms | p99 ms | expired sessions | time to expire all | sessionDestroyed fired |");
            System.out.println("|---|---:|---:|---:|---:|---:|---:|");
            System.out.println(row("baseline: no expiry running", baseline, "", "", ""));
            System.out.println(row("while 3 nodes expire the sessions", load, String.valueOf(sessions),
                    String.format(Locale.ROOT, "%.1f s", expirySeconds), String.valueOf(destroyed)));
        } finally {
            for (Farm.Node node : nodes) {
                farm.stop(node, Duration.ofSeconds(30));
            }
        }
    }

    private static String row(String name, Wrk.Result r, String expired, String time, String destroyed) {
        return String.format(Locale.ROOT, "| %s | %.0f | %.2f | %.2f | %s | %s | %s |", name, r.requestsPerSecond(),
                r.p50Millis(), r.p99Millis(), expired, time, destroyed);
    }

    /** Sessions that expired an hour ago, each with one small attribute, written straight into the store. */
    private static void insertExpired(String url, int count) throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject("bulk");
        }
        long past = System.currentTimeMillis() - 3_600_000;
        try (Connection db = TestDatabase.connect(url)) {
            db.setAutoCommit(false); // the nodes' sweepers must not see a session before its attribute
            try (PreparedStatement ps = db.prepareStatement("""
                    INSERT INTO sessionfarm_session (app, id, version, created_at, last_access, max_inactive, expires_at)
                    SELECT 'localhost/', 'bulk-' || g, 1, ?, ?, 60, ? FROM generate_series(1, ?) g""")) {
                ps.setLong(1, past);
                ps.setLong(2, past);
                ps.setLong(3, past + 60_000);
                ps.setInt(4, count);
                ps.executeUpdate();
            }
            try (PreparedStatement ps = db.prepareStatement("""
                    INSERT INTO sessionfarm_attribute (app, session_id, name, version, value)
                    SELECT 'localhost/', 'bulk-' || g, 'label', 1, ? FROM generate_series(1, ?) g""")) {
                ps.setBytes(1, bytes.toByteArray());
                ps.setInt(2, count);
                ps.executeUpdate();
            }
            db.commit();
        }
    }

    private static double awaitExpired(String url, long start) throws Exception {
        try (Connection db = TestDatabase.connect(url); Statement st = db.createStatement()) {
            while (true) {
                try (ResultSet rs = st.executeQuery("SELECT count(*) FROM sessionfarm_session WHERE id LIKE 'bulk-%'")) {
                    rs.next();
                    if (rs.getLong(1) == 0) {
                        return (System.nanoTime() - start) / 1e9;
                    }
                }
                if (System.nanoTime() - start > 600e9) {
                    throw new IllegalStateException("expiry did not finish in 10 minutes");
                }
                Thread.sleep(100);
            }
        }
    }
}
