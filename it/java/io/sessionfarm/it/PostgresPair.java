package io.sessionfarm.it;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Two PostgreSQL clusters of this machine's own server (Debian's package), made for one test: a
 * primary and a streaming-replication standby of it ({@code pg_basebackup -R}), synchronous or
 * not. The test can kill the primary's postmaster ({@code kill -9}), promote the standby
 * ({@code pg_ctl promote}, what Patroni does when it fails over) and rebuild the old primary as
 * the new standby. Both run as the postgres user (PostgreSQL refuses root), with trust on
 * loopback, in a temporary directory removed at the end.
 */
public final class PostgresPair implements ReplicatedPostgres {

    /** One cluster: its data directory and port. */
    public record Cluster(Path data, int port) {
    }

    private final Path dir;
    private final Path bin;
    private final boolean synchronous;
    private Cluster primary;
    private Cluster standby;
    private int generation;

    private PostgresPair(Path dir, Path bin, boolean synchronous) {
        this.dir = dir;
        this.bin = bin;
        this.synchronous = synchronous;
    }

    /**
     * A primary and its standby, started, with database {@code database}. Synchronous: a commit
     * returns once the standby has it ({@code synchronous_standby_names = '*'}).
     */
    public static PostgresPair start(String database, boolean synchronous) throws Exception {
        Path bin = serverBin();
        Tools.require(bin == null ? Path.of("/usr/lib/postgresql/N/bin/initdb") : bin.resolve("initdb"),
                "postgresql");
        Path dir = directoryOfPostgres("sessionfarm-pair-");
        PostgresPair pair = new PostgresPair(dir, bin, synchronous);
        try {
            pair.primary = pair.initPrimary(Farm.freePort(25432));
            pair.standby = pair.cloneOf(pair.primary, Farm.freePort(26432));
            try (Connection c = pair.connect(pair.primary, "postgres"); Statement st = c.createStatement()) {
                st.execute("CREATE DATABASE " + database);
            }
            pair.awaitStreaming();
        } catch (Exception e) {
            pair.close();
            throw e;
        }
        return pair;
    }

    /** Whether this machine has PostgreSQL's server programs to make a pair with. */
    public static boolean available() {
        return serverBin() != null;
    }

    /** The newest PostgreSQL server's programs of Debian's packages; null if there are none. */
    static Path serverBin() {
        try (Stream<Path> versions = Files.list(Path.of("/usr/lib/postgresql"))) {
            return versions.map(v -> v.resolve("bin")).filter(b -> Files.isExecutable(b.resolve("initdb")))
                    .max(Path::compareTo).orElse(null);
        } catch (IOException e) {
            return null;
        }
    }

    /**
     * pgjdbc's multi-host URL: both servers, and only the one that is primary taken. Host status
     * is rechecked every 2 s, not pgjdbc's 10, so a promoted standby is found soon.
     */
    @Override
    public String url(String database) {
        return multiHostUrl(primary.port(), standby.port(), database);
    }

    static String multiHostUrl(int port, int otherPort, String database) {
        return "jdbc:postgresql://127.0.0.1:" + port + ",127.0.0.1:" + otherPort + "/" + database
                + "?targetServerType=primary&hostRecheckSeconds=2";
    }

    public Cluster primary() {
        return primary;
    }

    public Cluster standby() {
        return standby;
    }

    /** {@code kill -9} of the primary's postmaster: no shutdown, no last WAL sent. */
    @Override
    public void killPrimary() throws Exception {
        run("kill", "-9", Long.toString(postmaster(primary)));
    }

    /** {@code pg_ctl stop -m fast}: the primary ends its sessions and shuts down cleanly. */
    public void stopPrimary() throws Exception {
        pgCtl("stop", primary, "-m", "fast", "-w");
    }

    public void startPrimary() throws Exception {
        pgCtl("start", primary, "-w");
    }

    /** Sends {@code signal} (STOP, CONT) to the primary's postmaster and every process it started. */
    public void signalPrimary(String signal) throws Exception {
        String pid = Long.toString(postmaster(primary));
        run("pkill", "-" + signal, "-P", pid);
        run("kill", "-" + signal, pid);
    }

    /** Whether the primary's postmaster runs. */
    public boolean primaryRuns() {
        try {
            return ProcessHandle.of(postmaster(primary)).map(ProcessHandle::isAlive).orElse(false);
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    private static long postmaster(Cluster cluster) throws IOException {
        return postmaster(cluster.data());
    }

    /** The process id of the postmaster of data directory {@code data}. */
    static long postmaster(Path data) throws IOException {
        return Long.parseLong(Files.readAllLines(data.resolve("postmaster.pid")).get(0).trim());
    }

    /** A failover manager's checks (2 s), then the promotion. */
    @Override
    public void standbyTakesOver() throws Exception {
        Thread.sleep(2_000);
        promoteStandby();
    }

    /**
     * Promotes the standby; the pair then has a primary and no standby. A synchronous primary
     * without a standby would wait for one at every commit, so synchronous replication is switched
     * off until {@link #rebuildStandby} brings one back (Patroni's synchronous_mode does the same).
     */
    public void promoteStandby() throws Exception {
        pgCtl("promote", standby, "-w");
        Cluster old = primary;
        primary = standby;
        standby = old;
        if (synchronous) {
            try (Connection c = connect(primary, "postgres"); Statement st = c.createStatement()) {
                st.execute("ALTER SYSTEM SET synchronous_standby_names = ''");
                st.execute("SELECT pg_reload_conf()");
            }
        }
    }

    /**
     * The old primary, dead since {@link #killPrimary}, rebuilt as a standby of the new one on its
     * old port, from a fresh base backup (its last WAL may be ahead of what the new primary took
     * over). Synchronous replication is switched on again once it streams.
     */
    @Override
    public void rebuildStandby() throws Exception {
        Cluster dead = standby;
        awaitGone(dead);
        standby = cloneOf(primary, dead.port());
        if (synchronous) {
            try (Connection c = connect(primary, "postgres"); Statement st = c.createStatement()) {
                st.execute("ALTER SYSTEM SET synchronous_standby_names = '*'");
                st.execute("SELECT pg_reload_conf()");
            }
        }
        awaitStreaming();
    }

    @Override
    public String standbyState() throws SQLException {
        return standbyState(primary.port());
    }

    @Override
    public String replayLag() throws SQLException {
        return replayLag(primary.port());
    }

    /** What the primary on {@code port} sees of its standby: its sync_state, or null if none streams. */
    static String standbyState(int port) throws SQLException {
        try (Connection c = connect(port, "postgres"); Statement st = c.createStatement();
                ResultSet rs = st.executeQuery("SELECT sync_state FROM pg_stat_replication WHERE state = 'streaming'")) {
            return rs.next() ? rs.getString(1) : null;
        }
    }

    /** The standby's write, flush and replay lag, as the primary on {@code port} last measured them. */
    static String replayLag(int port) throws SQLException {
        try (Connection c = connect(port, "postgres"); Statement st = c.createStatement();
                ResultSet rs = st.executeQuery("SELECT coalesce(write_lag::text, '-'), coalesce(flush_lag::text, '-'),"
                        + " coalesce(replay_lag::text, '-') FROM pg_stat_replication")) {
            return rs.next() ? "write " + rs.getString(1) + ", flush " + rs.getString(2) + ", replay " + rs.getString(3)
                    : "no standby";
        }
    }

    public Connection connect(Cluster cluster, String database) throws SQLException {
        return connect(cluster.port(), database);
    }

    static Connection connect(int port, String database) throws SQLException {
        return DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + port + "/" + database, "postgres", "");
    }

    @Override
    public void close() throws Exception {
        for (Cluster cluster : new Cluster[] {primary, standby}) {
            if (cluster != null && Files.exists(cluster.data().resolve("postmaster.pid"))) {
                try {
                    pgCtl("stop", cluster, "-m", "immediate");
                } catch (IllegalStateException e) {
                    // killed before: nothing to stop
                }
            }
        }
        run("pkill", "-9", "-f", dir.toString()); // orphaned backends of a killed postmaster
        Farm.deleteTree(dir);
    }

    private Cluster initPrimary(int port) throws Exception {
        Cluster cluster = new Cluster(dir.resolve("data-" + generation++), port);
        asPostgres(bin.resolve("initdb").toString(), "-D", cluster.data().toString(), "-U", "postgres",
                "--auth=trust", "--no-sync");
        Files.writeString(cluster.data().resolve("postgresql.conf"), String.join("\n", "",
                "listen_addresses = '127.0.0.1'",
                "unix_socket_directories = '" + dir + "'",
                "shared_buffers = 32MB",
                "max_connections = 100",
                "wal_level = replica",
                "max_wal_senders = 4",
                "synchronous_standby_names = '" + (synchronous ? "*" : "") + "'",
                ""), java.nio.file.StandardOpenOption.APPEND);
        pgCtl("start", cluster, "-w");
        return cluster;
    }

    /** A standby of {@code source} on {@code port}: a base backup with the WAL, streaming from it. */
    private Cluster cloneOf(Cluster source, int port) throws Exception {
        Cluster cluster = new Cluster(dir.resolve("data-" + generation++), port);
        asPostgres(bin.resolve("pg_basebackup").toString(), "-h", "127.0.0.1", "-p", Integer.toString(source.port()),
                "-U", "postgres", "-D", cluster.data().toString(), "-R", "-X", "stream", "-c", "fast");
        pgCtl("start", cluster, "-w");
        return cluster;
    }

    private void awaitStreaming() throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        String expected = synchronous ? "sync" : "async";
        while (!expected.equals(standbyState())) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("the standby on port " + standby.port() + " does not stream ("
                        + standbyState() + "); its log: " + Files.readString(dir.resolve("log-" + standby.port())));
            }
            Thread.sleep(200);
        }
    }

    /** Waits until no process of a killed cluster is left (its backends go when they notice). */
    private void awaitGone(Cluster cluster) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (run("pgrep", "-f", "postgres.*" + cluster.data()) == 0 || portAnswers(cluster.port())) {
            if (System.nanoTime() > deadline) {
                run("pkill", "-9", "-f", cluster.data().toString());
            }
            Thread.sleep(200);
        }
    }

    private static boolean portAnswers(int port) {
        try (java.net.Socket ignored = new java.net.Socket("127.0.0.1", port)) {
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    private void pgCtl(String action, Cluster cluster, String... more) throws Exception {
        List<String> command = new ArrayList<>(List.of(bin.resolve("pg_ctl").toString(), action, "-D",
                cluster.data().toString(), "-l", dir.resolve("log-" + cluster.port()).toString(), "-o",
                "-p " + cluster.port()));
        command.addAll(List.of(more));
        asPostgres(command.toArray(String[]::new));
    }

    static boolean root() {
        return "root".equals(System.getProperty("user.name"));
    }

    /** {@code command} as the postgres user runs it: through runuser when this is root. */
    static List<String> asPostgresUser(String... command) {
        List<String> full = new ArrayList<>();
        if (root()) {
            full.addAll(List.of("runuser", "-u", "postgres", "--"));
        }
        full.addAll(List.of(command));
        return full;
    }

    /** A new temporary directory the postgres user owns; outside the checkout, so that it can reach it. */
    static Path directoryOfPostgres(String prefix) throws Exception {
        Path dir = Files.createTempDirectory(prefix, PosixFilePermissions.asFileAttribute(
                PosixFilePermissions.fromString("rwxr-xr-x")));
        if (root()) {
            run("chown", "postgres:postgres", dir.toString());
        }
        return dir;
    }

    /** Runs {@code command} as the postgres user to its end; fails with its output if it does. */
    static void asPostgres(String... command) throws Exception {
        Process process = new ProcessBuilder(asPostgresUser(command)).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes());
        if (!process.waitFor(120, TimeUnit.SECONDS) || process.exitValue() != 0) {
            process.destroyForcibly();
            throw new IllegalStateException(String.join(" ", command) + " failed: " + output);
        }
    }

    static int run(String... command) throws Exception {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        process.getInputStream().readAllBytes();
        if (!process.waitFor(30, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            throw new IllegalStateException(String.join(" ", command) + " hung");
        }
        return process.exitValue();
    }
}
