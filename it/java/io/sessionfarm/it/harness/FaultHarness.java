package io.sessionfarm.it.harness;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;

import io.sessionfarm.it.Balancer;
import io.sessionfarm.it.Client;
import io.sessionfarm.it.Farm;
import io.sessionfarm.it.PgBouncer;
import io.sessionfarm.it.PostgresPair;
import io.sessionfarm.store.TestDatabase;
import io.sessionfarm.it.harness.ScriptedUser.Outcome;
import io.sessionfarm.keys.KeyRing;
import io.sessionfarm.keys.MasterKey;

/**
 * The fault harness: scripted users on a real farm (three Tomcat nodes with the farm's own
 * {@code conf/context.xml}: per-request checkpoints, shared mode, token valve, encrypted
 * attributes) while faults are injected one after another:
 * <ul>
 * <li>{@code kill -9} of a random node, then a restart;</li>
 * <li>PostgreSQL stopped and started; PostgreSQL paused with SIGSTOP and resumed with SIGCONT;</li>
 * <li>the primary killed ({@code kill -9}), its synchronous standby promoted, and the old primary
 * rebuilt as the new standby;</li>
 * <li>the token key rotated farm-wide, then a node restarted;</li>
 * <li>a rolling restart of every node.</li>
 * </ul>
 * Half the users are pinned to a node (as behind a sticky balancer) and move only when it dies;
 * the others roam round-robin, through HAProxy when it is installed (health checks, redispatch
 * on a refused connection), and, since nodes cannot see each other's changes while the store is
 * down, wait out store faults (the README's documented bound). The numbers that must be zero:
 * acknowledged writes lost (the per-request policy's bound is nothing) and replies carrying
 * another user's data. Loopback only, bounded in users, rate and time.
 */
public final class FaultHarness {

    public enum Fault { KILL_NODE, STOP_DATABASE, PAUSE_DATABASE, PRIMARY_FAILOVER, ROTATE_KEY_AND_RESTART, ROLLING_RESTART }

    public record Report(Duration duration, long requests, Map<Fault, Long> faults, Map<Outcome, Long> outcomes,
            long lostWrites, long foreignData, List<String> notInjected, Path directory) {
        public String markdown() {
            StringBuilder out = new StringBuilder();
            out.append(String.format(Locale.ROOT, "%d requests in %d s by scripted users.%n%n", requests,
                    duration.toSeconds()));
            out.append("| fault | injected |\n|---|---:|\n");
            faults.forEach((fault, n) -> out.append("| ").append(describe(fault)).append(" | ").append(n).append(" |\n"));
            out.append("\n| what the users saw | requests |\n|---|---:|\n");
            outcomes.forEach((outcome, n) -> out.append("| ").append(describe(outcome)).append(" | ").append(n).append(" |\n"));
            out.append(String.format(Locale.ROOT, "%n**Acknowledged writes lost: %d. Replies with another user's data: %d.**%n",
                    lostWrites, foreignData));
            notInjected.forEach(note -> out.append("\nNote: ").append(note).append('\n'));
            return out.toString();
        }
    }

    static String describe(Fault fault) {
        return switch (fault) {
            case KILL_NODE -> "`kill -9` of a random node, restarted 2 s later";
            case STOP_DATABASE -> "PostgreSQL's primary stopped (`pg_ctl stop -m fast`) for 10 s, then started";
            case PAUSE_DATABASE -> "PostgreSQL's primary paused (SIGSTOP to its processes) for 10 s, then SIGCONT";
            case PRIMARY_FAILOVER -> "`kill -9` of the primary's postmaster, the standby promoted 2 s later, the old"
                    + " primary rebuilt as the new synchronous standby";
            case ROTATE_KEY_AND_RESTART -> "token key rotated farm-wide, then a node restarted";
            case ROLLING_RESTART -> "rolling restart of every node";
        };
    }

    static String describe(Outcome outcome) {
        return switch (outcome) {
            case OK -> "answered as expected";
            case UNREACHABLE -> "connection refused or reset (a node down or restarting)";
            case SERVER_ERROR -> "HTTP 5xx";
            case OTHER_STATUS -> "other HTTP status";
            case NEW_SESSION -> "session gone, user logged in again";
            case LOST_WRITES -> "acknowledged writes missing";
            case FOREIGN_DATA -> "another user's data";
        };
    }

    private static final int NODES = 3;
    private static final long THINK_MILLIS = 40;
    private static final long SAMPLE_MILLIS = 5000;

    private final Path root;
    private final Workload workload;
    private final Path directory;
    private final Farm farm;
    private final String jdbcUrl;
    private final List<Farm.Node> nodes = new ArrayList<>();
    private final Set<Integer> down = ConcurrentHashMap.newKeySet();
    private final AtomicBoolean storeFault = new AtomicBoolean();
    private final AtomicBoolean running = new AtomicBoolean(true);
    private final LongAdder requests = new LongAdder();
    private final Map<Outcome, LongAdder> outcomes = new EnumMap<>(Outcome.class);
    private final Map<Fault, Long> faults = new EnumMap<>(Fault.class);
    private final List<String> notInjected = new CopyOnWriteArrayList<>();
    private final List<Sample> samples = new CopyOnWriteArrayList<>();
    private final StringBuffer relations = new StringBuffer();
    private final List<Plot.Marker> markers = new CopyOnWriteArrayList<>();
    private final Random random = new Random(20261122);
    private final long start = System.currentTimeMillis();
    /** A primary and its synchronous standby made for this run; null in the PgBouncer cell. */
    private final PostgresPair pair;
    /** Otherwise the machine's own cluster, for stopping and pausing it; null if it is not local. */
    private final String cluster;
    /** HAProxy in front of the nodes for the roaming users, when it is installed. */
    private Process haproxy;
    private Farm.Node front;

    /** One point of the time series: requests and errors in the interval, memory, table sizes. */
    record Sample(double seconds, double requestsPerSecond, long errors, long[] rssKb, long[] heapKb, long tableKb,
            long deadRows, long[] tableParts) {
    }

    private FaultHarness(Path root, String name, Workload workload) throws Exception {
        this.root = root;
        this.workload = workload;
        this.directory = root.resolve("target/harness").resolve(name);
        // In the PgBouncer cell the nodes' pools go through PgBouncer, which points at one server: the
        // machine's own, which the database faults stop and pause while PgBouncer keeps running.
        // Elsewhere the harness makes a primary and a synchronous standby, which can also fail over.
        boolean pgBouncer = Boolean.getBoolean("sessionfarm.pgbouncer");
        this.pair = !pgBouncer && PostgresPair.available() ? PostgresPair.start("harness", true) : null;
        this.cluster = pair == null ? localCluster() : null;
        this.jdbcUrl = pair != null ? pair.url("harness") : TestDatabase.fresh("harness_" + name);
        TestDatabase.Server server = TestDatabase.server();
        String nodesUrl = pgBouncer ? PgBouncer.through(jdbcUrl) : jdbcUrl;
        this.farm = new Farm(Farm.Layout.of(root, directory), pair != null ? new Farm.Store(jdbcUrl, "postgres", "")
                : new Farm.Store(nodesUrl, jdbcUrl, server.user(), server.password()));
        for (Outcome outcome : Outcome.values()) {
            outcomes.put(outcome, new LongAdder());
        }
    }

    /** What the scripted users do. */
    public enum Workload {
        /** Carts of 1 to 12 items, emptied at checkout; a third of the shoppers then log out and return. */
        SHOP,
        /** One cart per user that only grows: one ever-growing attribute, the store's worst case. */
        GROWING_CART
    }

    /** Runs the harness for {@code duration}, with a fault every {@code faultEvery}; writes its report under target/harness. */
    public static Report run(Path root, String name, Duration duration, Duration faultEvery, int users,
            Workload workload) throws Exception {
        FaultHarness harness = new FaultHarness(root, name, workload);
        Thread safety = new Thread(harness::resumeDatabase);
        Runtime.getRuntime().addShutdownHook(safety);
        try {
            return harness.execute(duration, faultEvery, users);
        } finally {
            harness.resumeDatabase();
            Runtime.getRuntime().removeShutdownHook(safety);
            if (harness.pair != null) {
                harness.pair.close();
            }
        }
    }

    private Report execute(Duration duration, Duration faultEvery, int userCount) throws Exception {
        Path context = root.resolve("conf/context.xml");
        for (int i = 1; i <= NODES; i++) {
            nodes.add(farm.create("harness-" + i, Farm.freePort(0), context));
        }
        for (Farm.Node node : nodes) {
            farm.start(node);
        }
        for (Farm.Node node : nodes) {
            farm.awaitUp(node, Duration.ofSeconds(120));
        }
        startHaproxy();
        List<ScriptedUser> users = new ArrayList<>();
        List<Thread> threads = new ArrayList<>();
        for (int u = 0; u < userCount; u++) {
            ScriptedUser user = new ScriptedUser("user" + u, u % 2 == 0, u % NODES, workload == Workload.GROWING_CART);
            users.add(user);
            Thread thread = new Thread(() -> drive(user), "harness-" + user.name);
            thread.start();
            threads.add(thread);
        }
        Thread sampler = new Thread(this::sample, "harness-sampler");
        sampler.setDaemon(true);
        sampler.start();
        long end = start + duration.toMillis();
        int next = 0;
        Fault[] cycle = Fault.values();
        while (System.currentTimeMillis() + faultEvery.toMillis() / 2 < end) {
            Thread.sleep(Math.min(faultEvery.toMillis(), Math.max(0, end - System.currentTimeMillis())));
            if (System.currentTimeMillis() >= end) {
                break;
            }
            inject(cycle[next++ % cycle.length]);
        }
        Thread.sleep(Math.max(0, end - System.currentTimeMillis()));
        running.set(false);
        for (Thread thread : threads) {
            thread.join(60_000);
        }
        // A last read of every cart, on a node other than the last one used, with everything up.
        for (ScriptedUser user : users) {
            count(user.step(nodes.get((user.home + 1) % NODES)));
        }
        sampler.interrupt();
        relations("end");
        if (haproxy != null) {
            haproxy.destroy();
            haproxy.waitFor();
        }
        for (Farm.Node node : nodes) {
            farm.stop(node, Duration.ofSeconds(30));
        }
        long lost = users.stream().mapToLong(u -> u.lostWrites).sum();
        Map<Outcome, Long> seen = new LinkedHashMap<>();
        outcomes.forEach((outcome, n) -> seen.put(outcome, n.sum()));
        Report report = new Report(Duration.ofMillis(System.currentTimeMillis() - start), requests.sum(), faults, seen,
                lost, seen.get(Outcome.FOREIGN_DATA), notInjected, directory);
        Files.writeString(directory.resolve("report.md"), report.markdown());
        writeSamples();
        Plot.write(directory.resolve("plot.png"), samples, markers, NODES);
        return report;
    }

    private void drive(ScriptedUser user) {
        int roam = user.home;
        while (running.get()) {
            if (user.roaming && storeFault.get()) {
                pause(200);
                continue;
            }
            Outcome outcome;
            if (user.roaming && front != null) {
                outcome = user.step(front);
            } else {
                int index = user.roaming ? roam++ % NODES : user.home;
                for (int tries = 0; down.contains(index) && tries < NODES; tries++) {
                    index = (index + 1) % NODES;
                }
                outcome = user.step(nodes.get(index));
            }
            count(outcome);
            if (outcome == Outcome.UNREACHABLE && !user.roaming) {
                user.home = (user.home + 1) % NODES; // its node died: the balancer moves it
            }
            pause(THINK_MILLIS);
        }
    }

    private void count(Outcome outcome) {
        requests.increment();
        outcomes.get(outcome).increment();
    }

    private void startHaproxy() throws IOException, InterruptedException {
        if (!Balancer.installed()) {
            notInjected.add("HAProxy in front of the roaming users: it is not installed (apt-get install haproxy);"
                    + " they pick nodes round-robin themselves");
            return;
        }
        int port = Farm.freePort(0);
        String config = """
                global
                  maxconn 2048
                defaults
                  mode http
                  timeout connect 2s
                  timeout client 60s
                  timeout server 60s
                  retries 3
                  option redispatch
                  retry-on conn-failure empty-response
                frontend front
                  bind 127.0.0.1:%d
                  default_backend farm
                backend farm
                  balance roundrobin
                  option httpchk GET /api/ping
                """.formatted(port) + Balancer.servers(nodes, Farm.Node::port, "check inter 500 fall 1 rise 2");
        haproxy = Balancer.start(config, port, directory.resolve("haproxy.cfg"), directory.resolve("haproxy.log"), false);
        front = new Farm.Node("haproxy", directory, port);
    }

    // ---- faults --------------------------------------------------------------------------------

    private void inject(Fault fault) throws Exception {
        String cannot = null;
        if (fault == Fault.PRIMARY_FAILOVER && pair == null) {
            cannot = Boolean.getBoolean("sessionfarm.pgbouncer") ? "PgBouncer points at one server, which a failover"
                    + " would have to re-point it from" : "PostgreSQL's server programs are not installed here";
        } else if ((fault == Fault.STOP_DATABASE || fault == Fault.PAUSE_DATABASE) && pair == null && cluster == null) {
            cannot = "PostgreSQL is not a local cluster this harness can control";
        }
        if (cannot != null) {
            String reason = describe(fault) + ": " + cannot;
            if (!notInjected.contains(reason)) {
                notInjected.add(reason);
            }
            return;
        }
        markers.add(new Plot.Marker(seconds(), fault.name().toLowerCase(Locale.ROOT).replace('_', ' ')));
        System.err.println(String.format(Locale.ROOT, "[%5.0f s] %s", seconds(), describe(fault)));
        switch (fault) {
            case KILL_NODE -> {
                int i = random.nextInt(NODES);
                down.add(i);
                farm.kill(nodes.get(i));
                pause(2000);
                restart(i, false);
            }
            case STOP_DATABASE -> {
                beginStoreFault();
                if (pair != null) {
                    pair.stopPrimary();
                } else {
                    run("pg_ctlcluster", "--skip-systemctl-redirect", cluster, "main", "stop", "-m", "fast");
                }
                pause(10_000);
                if (pair != null) {
                    pair.startPrimary();
                } else {
                    run("pg_ctlcluster", "--skip-systemctl-redirect", cluster, "main", "start");
                }
                awaitDatabase();
                awaitNodesBackOnStore();
                storeFault.set(false);
            }
            case PAUSE_DATABASE -> {
                beginStoreFault();
                signalDatabase("STOP");
                pause(10_000);
                signalDatabase("CONT");
                awaitNodesBackOnStore();
                storeFault.set(false);
            }
            case PRIMARY_FAILOVER -> {
                beginStoreFault();
                long killed = System.currentTimeMillis();
                pair.killPrimary();
                pause(2_000); // a failover manager's checks
                pair.promoteStandby();
                awaitNodesBackOnStore();
                storeFault.set(false);
                System.err.println(String.format(Locale.ROOT, "[%5.0f s] every node back on the store %d ms after the"
                        + " kill", seconds(), System.currentTimeMillis() - killed));
                pair.rebuildStandby();
            }
            case ROTATE_KEY_AND_RESTART -> {
                rotateTokenKey();
                restart(random.nextInt(NODES), true);
            }
            case ROLLING_RESTART -> {
                for (int i = 0; i < NODES; i++) {
                    restart(i, true);
                }
            }
        }
        faults.merge(fault, 1L, Long::sum);
    }

    private void restart(int i, boolean clean) throws Exception {
        Farm.Node node = nodes.get(i);
        down.add(i);
        if (clean) {
            farm.stop(node, Duration.ofSeconds(30));
        }
        farm.start(node);
        farm.awaitUp(node, Duration.ofSeconds(120));
        down.remove(i);
    }

    /**
     * Tells the roaming users a store fault is coming, then gives the requests they have in flight
     * time to end: one sent just before the flag, and answered once the store is down, would meet
     * the documented bound of an outage (nodes cannot see each other's changes) and be counted lost.
     */
    private void beginStoreFault() {
        storeFault.set(true);
        pause(500);
    }

    /** Adds a token key and promotes it at once, as a rotation under way would, from outside the nodes. */
    private void rotateTokenKey() throws Exception {
        MasterKey master = MasterKey.load(farm.masterKeyFile().toString(), name -> null);
        TestDatabase.Server server = TestDatabase.server();
        org.postgresql.ds.PGSimpleDataSource dataSource = new org.postgresql.ds.PGSimpleDataSource();
        dataSource.setURL(jdbcUrl);
        dataSource.setUser(server.user());
        dataSource.setPassword(server.password());
        KeyRing ring = new KeyRing(dataSource, master, "token", new KeyRing.Schedule(0, 0, 3_600_000));
        ring.rotateIfDue(); // add
        ring.rotateIfDue(); // promote
    }

    private static String localCluster() {
        String url = System.getenv().getOrDefault("SESSIONFARM_TEST_JDBC_URL", "");
        if (!url.isEmpty() && !url.contains("127.0.0.1") && !url.contains("localhost")) {
            return null;
        }
        try (var versions = Files.list(Path.of("/etc/postgresql"))) {
            return Files.isExecutable(Path.of("/usr/bin/pg_ctlcluster"))
                    ? versions.map(p -> p.getFileName().toString()).sorted().findFirst().orElse(null) : null;
        } catch (IOException e) {
            return null;
        }
    }

    private void signalDatabase(String signal) throws Exception {
        if (pair != null) {
            pair.signalPrimary(signal);
        } else {
            run("pkill", "-" + signal, "-u", "postgres", "-x", "postgres");
        }
    }

    /** Never leave PostgreSQL paused or stopped, whatever happened. */
    private void resumeDatabase() {
        try {
            if (pair != null) {
                if (pair.primaryRuns()) {
                    signalDatabase("CONT");
                }
            } else if (cluster != null) {
                signalDatabase("CONT");
                run("pg_ctlcluster", "--skip-systemctl-redirect", cluster, "main", "start");
            }
        } catch (Exception e) {
            // best effort; start fails harmlessly when it is running
        }
    }

    /**
     * Roaming users return only once every node that is up reaches the store again and owes it
     * nothing: until then a node serves its local copies (degraded mode), which roaming users
     * cannot rely on. That can take longer than PostgreSQL's own return, e.g. through PgBouncer,
     * which waits server_login_retry (15 s) after a failed login before it tries again.
     */
    private void awaitNodesBackOnStore() throws Exception {
        long deadline = System.currentTimeMillis() + 60_000;
        for (int i = 0; i < NODES; i++) {
            while (!down.contains(i) && !farm.isBackOnStore(nodes.get(i))) {
                if (System.currentTimeMillis() > deadline) {
                    throw new IllegalStateException(nodes.get(i).name() + " was not back on the store 60 s after PostgreSQL");
                }
                pause(250);
            }
        }
    }

    private void awaitDatabase() throws Exception {
        for (int i = 0; i < 60; i++) {
            try (Connection c = TestDatabase.connect(jdbcUrl)) {
                return;
            } catch (java.sql.SQLException notYet) {
                pause(500);
            }
        }
        throw new IllegalStateException("PostgreSQL did not come back");
    }

    private static void run(String... command) throws IOException, InterruptedException {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes());
        if (!process.waitFor(60, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            throw new IllegalStateException(String.join(" ", command) + " hung");
        }
        if (process.exitValue() != 0 && !command[0].equals("pkill") && !output.contains("already running")) {
            throw new IllegalStateException(String.join(" ", command) + " failed: " + output);
        }
    }

    // ---- samples -------------------------------------------------------------------------------

    private void sample() {
        long lastRequests = 0;
        long lastErrors = 0;
        while (running.get()) {
            pause(SAMPLE_MILLIS);
            long total = requests.sum();
            // Counted from the outcomes themselves: total minus OK, read a moment apart, could dip below zero.
            long errors = outcomes.entrySet().stream().filter(e -> e.getKey() != Outcome.OK)
                    .mapToLong(e -> e.getValue().sum()).sum();
            long[] rss = new long[NODES];
            long[] heap = new long[NODES];
            for (int i = 0; i < NODES; i++) {
                long pid = nodes.get(i).process().map(ProcessHandle::pid).orElse(-1L);
                rss[i] = pid < 0 ? -1 : rssKb(pid);
                heap[i] = pid < 0 ? -1 : heapKb(pid);
            }
            long[] tables = storeFault.get() ? unknownTables() : tables();
            if (relations.isEmpty() && seconds() >= 300 && !storeFault.get()) {
                relations("5 min");
            }
            samples.add(new Sample(seconds(), (total - lastRequests) * 1000.0 / SAMPLE_MILLIS, errors - lastErrors, rss,
                    heap, tables[0], tables[1], java.util.Arrays.copyOfRange(tables, 2, 6)));
            lastRequests = total;
            lastErrors = errors;
        }
    }

    private static long rssKb(long pid) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.replaceAll("\\D+", ""));
                }
            }
        } catch (IOException | NumberFormatException e) {
            // the node is restarting
        }
        return -1;
    }

    private static long heapKb(long pid) {
        try {
            Process jcmd = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "jcmd").toString(),
                    Long.toString(pid), "GC.heap_info").redirectErrorStream(true).start();
            String out = new String(jcmd.getInputStream().readAllBytes());
            jcmd.waitFor(10, TimeUnit.SECONDS);
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("used (\\d+)K").matcher(out);
            return m.find() ? Long.parseLong(m.group(1)) : -1;
        } catch (IOException | InterruptedException e) {
            return -1;
        }
    }

    /**
     * The sessionfarm tables' size in KB (with indexes and TOAST) and their dead rows (TOAST's
     * too); then what grows: the sessions stored, and the session, attribute and token tables'
     * sizes in KB. -1 if unknown.
     */
    private long[] tables() {
        try (Connection c = TestDatabase.connect(jdbcUrl); Statement st = c.createStatement()) {
            st.setQueryTimeout(2);
            try (ResultSet rs = st.executeQuery("""
                    SELECT (SELECT sum(pg_total_relation_size(oid)) / 1024 FROM pg_class
                             WHERE relname LIKE 'sessionfarm%' AND relkind = 'r'),
                           (SELECT sum(n_dead_tup) FROM pg_stat_all_tables
                             WHERE relid IN (SELECT oid FROM pg_class WHERE relname LIKE 'sessionfarm%' AND relkind = 'r'
                                             UNION SELECT reltoastrelid FROM pg_class
                                              WHERE relname LIKE 'sessionfarm%' AND relkind = 'r')),
                           (SELECT count(*) FROM sessionfarm_session),
                           pg_total_relation_size('sessionfarm_session') / 1024,
                           pg_total_relation_size('sessionfarm_attribute') / 1024,
                           pg_total_relation_size('sessionfarm_token') / 1024""")) {
                rs.next();
                return new long[] {rs.getLong(1), rs.getLong(2), rs.getLong(3), rs.getLong(4), rs.getLong(5), rs.getLong(6)};
            }
        } catch (java.sql.SQLException e) {
            return unknownTables();
        }
    }

    /**
     * Where the tables' space is, for relations.csv: the size of every sessionfarm table, index and
     * TOAST table, and each table's row counts since the statistics began (a failover starts them
     * anew on the promoted server). Updates that change no indexed column are HOT: in place, no new
     * index entries.
     */
    private void relations(String when) {
        try (Connection c = TestDatabase.connect(jdbcUrl); Statement st = c.createStatement()) {
            st.setQueryTimeout(5);
            try (ResultSet rs = st.executeQuery("""
                    SELECT c.relname, pg_relation_size(c.oid) / 1024, s.n_live_tup, s.n_dead_tup, s.n_tup_ins,
                           s.n_tup_upd, s.n_tup_hot_upd, s.n_tup_del, s.autovacuum_count
                      FROM pg_class c LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid
                     WHERE c.relname LIKE 'sessionfarm%' AND c.relkind IN ('r', 'i')
                        OR c.oid IN (SELECT reltoastrelid FROM pg_class WHERE relname LIKE 'sessionfarm%')
                     ORDER BY c.relname""")) {
                while (rs.next()) {
                    relations.append(when);
                    for (int i = 1; i <= 9; i++) {
                        String value = rs.getString(i);
                        relations.append(',').append(value == null ? "" : value);
                    }
                    relations.append('\n');
                }
            }
        } catch (java.sql.SQLException e) {
            relations.append(when).append(",unknown: ").append(e.getMessage().replace(',', ' ')).append('\n');
        }
    }

    /** What {@link #tables} returns when the store does not answer. */
    private static long[] unknownTables() {
        long[] unknown = new long[6];
        java.util.Arrays.fill(unknown, -1);
        return unknown;
    }

    private void writeSamples() throws IOException {
        StringBuilder csv = new StringBuilder("seconds,requests_per_second,errors");
        for (int i = 1; i <= NODES; i++) {
            csv.append(",rss_kb_node").append(i);
        }
        for (int i = 1; i <= NODES; i++) {
            csv.append(",heap_kb_node").append(i);
        }
        csv.append(",sessionfarm_tables_kb,sessionfarm_dead_rows,stored_sessions,session_table_kb,attribute_table_kb,token_table_kb\n");
        for (Sample s : samples) {
            csv.append(String.format(Locale.ROOT, "%.0f,%.1f,%d", s.seconds(), s.requestsPerSecond(), s.errors()));
            for (long v : s.rssKb()) {
                csv.append(',').append(v);
            }
            for (long v : s.heapKb()) {
                csv.append(',').append(v);
            }
            csv.append(',').append(s.tableKb()).append(',').append(s.deadRows());
            for (long v : s.tableParts()) {
                csv.append(',').append(v);
            }
            csv.append('\n');
        }
        Files.writeString(directory.resolve("samples.csv"), csv);
        Files.writeString(directory.resolve("relations.csv"), "when,relation,kb,live_rows,dead_rows,inserts,updates,"
                + "hot_updates,deletes,autovacuums\n" + relations);
        StringBuilder faultsCsv = new StringBuilder("seconds,fault\n");
        markers.forEach(m -> faultsCsv.append(String.format(Locale.ROOT, "%.0f,%s%n", m.seconds(), m.label())));
        Files.writeString(directory.resolve("faults.csv"), faultsCsv);
    }

    private double seconds() {
        return (System.currentTimeMillis() - start) / 1000.0;
    }

    private static void pause(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * {@code FaultHarness ROOT MINUTES [USERS] [shop|growing-cart]}: the long run; its report lands in
     * target/harness/long/ (long-growing-cart/ for the worst case).
     */
    public static void main(String[] args) throws Exception {
        Path root = Path.of(args[0]).toAbsolutePath();
        int minutes = Integer.parseInt(args[1]);
        int users = args.length > 2 ? Integer.parseInt(args[2]) : 12;
        Workload workload = args.length > 3 && args[3].equals("growing-cart") ? Workload.GROWING_CART : Workload.SHOP;
        Report report = run(root, workload == Workload.SHOP ? "long" : "long-growing-cart", Duration.ofMinutes(minutes),
                Duration.ofSeconds(60), users, workload);
        System.out.println(report.markdown());
        System.out.println("samples, faults and plot: " + report.directory());
        System.exit(report.lostWrites() == 0 && report.foreignData() == 0 ? 0 : 1);
    }
}
