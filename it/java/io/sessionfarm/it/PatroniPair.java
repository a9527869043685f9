package io.sessionfarm.it;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Two PostgreSQL servers run by Patroni (Debian's {@code patroni}, with one {@code etcd} member
 * as its store of the cluster's state), in {@code synchronous_mode}: Patroni makes the primary and
 * a synchronous standby, and when the primary's host dies it promotes the standby by itself, once
 * the dead leader's lock in etcd has expired ({@code ttl}, 10 s here). The old primary's Patroni,
 * started again, rewinds it ({@code pg_rewind}) and it rejoins as the new synchronous standby.
 * Everything runs as the postgres user in a temporary directory removed at the end.
 */
public final class PatroniPair implements ReplicatedPostgres {

    /** One member: its Patroni's configuration, REST port and PostgreSQL port, and the running Patroni. */
    private static final class Member {
        final String name;
        final Path config;
        final int restPort;
        final int port;
        Process patroni;

        Member(String name, Path config, int restPort, int port) {
            this.name = name;
            this.config = config;
            this.restPort = restPort;
            this.port = port;
        }
    }

    private static final Duration WAIT = Duration.ofSeconds(90);

    private final Path dir;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(1)).build();
    private final List<Member> members = new ArrayList<>();
    private Process etcd;
    private Member primary;
    private Member standby;

    private PatroniPair(Path dir) {
        this.dir = dir;
    }

    /** Whether this machine has Patroni, etcd and PostgreSQL's server programs. */
    public static boolean available() {
        return Tools.installed("patroni") && Tools.installed("etcd") && PostgresPair.serverBin() != null;
    }

    /** A leader and its synchronous standby, both streaming, with database {@code database}. */
    public static PatroniPair start(String database) throws Exception {
        Tools.require("patroni", "patroni");
        Tools.require("etcd", "etcd-server");
        Path bin = PostgresPair.serverBin();
        Tools.require(bin == null ? Path.of("/usr/lib/postgresql/N/bin/initdb") : bin.resolve("initdb"), "postgresql");
        PatroniPair pair = new PatroniPair(PostgresPair.directoryOfPostgres("sessionfarm-patroni-"));
        try {
            int etcdPort = Farm.freePort(22391);
            String peerUrl = "http://127.0.0.1:" + Farm.freePort(22392);
            pair.etcd = pair.asPostgres("etcd", "etcd", "--name", "e1", "--data-dir", pair.dir.resolve("etcd").toString(),
                    "--listen-client-urls", "http://127.0.0.1:" + etcdPort,
                    "--advertise-client-urls", "http://127.0.0.1:" + etcdPort,
                    "--listen-peer-urls", peerUrl, "--initial-advertise-peer-urls", peerUrl,
                    "--initial-cluster", "e1=" + peerUrl, "--initial-cluster-state", "new",
                    "--initial-cluster-token", pair.dir.getFileName().toString());
            for (int i = 1; i <= 2; i++) {
                String name = "node" + i;
                Member member = new Member(name, pair.dir.resolve(name + ".yml"), Farm.freePort(28007 + i),
                        Farm.freePort(27431 + i));
                Files.writeString(member.config, pair.config(member, bin, etcdPort));
                pair.members.add(member);
            }
            pair.primary = pair.members.get(0);
            pair.standby = pair.members.get(1);
            pair.startPatroni(pair.primary);
            pair.awaitRole(pair.primary, "primary");
            pair.startPatroni(pair.standby);
            pair.awaitSynchronous();
            try (Connection c = PostgresPair.connect(pair.primary.port, "postgres"); Statement st = c.createStatement()) {
                st.execute("CREATE DATABASE " + database);
            }
        } catch (Exception | Error e) {
            pair.close();
            throw e;
        }
        return pair;
    }

    /**
     * A member's configuration. The leader's lock lives 10 s: a standby promotes 10 s after its
     * leader died, the shortest that keeps Patroni's rule {@code loop_wait + 2 × retry_timeout <= ttl}
     * with a 1 s loop. pg_rewind brings a dead leader back; where it cannot, the member is cloned anew.
     */
    private String config(Member member, Path bin, int etcdPort) {
        Path home = dir.resolve(member.name);
        return """
                scope: sessionfarm
                namespace: /service/
                name: %1$s
                restapi:
                  listen: 127.0.0.1:%2$d
                  connect_address: 127.0.0.1:%2$d
                etcd3:
                  hosts: 127.0.0.1:%3$d
                bootstrap:
                  dcs:
                    ttl: 10
                    loop_wait: 1
                    retry_timeout: 3
                    maximum_lag_on_failover: 1048576
                    synchronous_mode: true
                    postgresql:
                      use_pg_rewind: true
                      use_slots: true
                      parameters:
                        wal_level: replica
                        hot_standby: "on"
                        wal_log_hints: "on"
                        max_wal_senders: 5
                        max_replication_slots: 5
                        wal_keep_size: 64MB
                        shared_buffers: 32MB
                        max_connections: 100
                  initdb:
                    - encoding: UTF8
                    - auth: trust
                postgresql:
                  listen: 127.0.0.1:%4$d
                  connect_address: 127.0.0.1:%4$d
                  data_dir: %5$s/data
                  bin_dir: %6$s
                  pgpass: %5$s/pgpass
                  use_pg_rewind: true
                  remove_data_directory_on_rewind_failure: true
                  remove_data_directory_on_diverged_timelines: true
                  authentication:
                    superuser:
                      username: postgres
                    replication:
                      username: replicator
                    rewind:
                      username: postgres
                  parameters:
                    unix_socket_directories: %5$s
                  pg_hba:
                    - local all all trust
                    - host all all 127.0.0.1/32 trust
                    - host replication all 127.0.0.1/32 trust
                """.formatted(member.name, member.restPort, etcdPort, member.port, home, bin);
    }

    @Override
    public String url(String database) {
        return PostgresPair.multiHostUrl(members.get(0).port, members.get(1).port, database);
    }

    /**
     * {@code kill -9} of the primary's Patroni, its postmaster and every backend at once: its host
     * died. The postmaster is not Patroni's child (it is detached), and a Patroni killed alone
     * would leave a primary that still takes writes while the standby is promoted beside it:
     * Patroni's watchdog exists to stop that, and this machine has none.
     */
    @Override
    public void killPrimary() throws Exception {
        ProcessHandle postmaster = ProcessHandle.of(PostgresPair.postmaster(dir.resolve(primary.name).resolve("data")))
                .orElseThrow();
        List<ProcessHandle> host = new ArrayList<>(primary.patroni.descendants().toList());
        host.add(primary.patroni.toHandle());
        host.add(postmaster);
        host.addAll(postmaster.children().toList());
        host.forEach(ProcessHandle::destroyForcibly);
    }

    /** Patroni's own failover: the standby's Patroni takes the expired lock and promotes. */
    @Override
    public void standbyTakesOver() throws Exception {
        awaitRole(standby, "primary");
        Member old = primary;
        primary = standby;
        standby = old;
    }

    /** The old primary's Patroni started again: it rewinds its server and joins as the synchronous standby. */
    @Override
    public void rebuildStandby() throws Exception {
        standby.patroni.waitFor(30, TimeUnit.SECONDS); // nothing left of the dead host
        startPatroni(standby);
        awaitSynchronous();
    }

    @Override
    public String standbyState() throws SQLException {
        return PostgresPair.standbyState(primary.port);
    }

    @Override
    public String replayLag() throws SQLException {
        return PostgresPair.replayLag(primary.port);
    }

    @Override
    public void close() throws Exception {
        for (Process process : new Process[] {members.isEmpty() ? null : members.get(0).patroni,
                members.size() < 2 ? null : members.get(1).patroni, etcd}) {
            if (process != null) {
                process.descendants().forEach(ProcessHandle::destroyForcibly);
                process.destroyForcibly();
            }
        }
        PostgresPair.run("pkill", "-9", "-f", dir.toString()); // backends a killed postmaster left
        Farm.deleteTree(dir);
    }

    private void startPatroni(Member member) throws Exception {
        member.patroni = asPostgres(member.name, "patroni", member.config.toString());
    }

    /** Waits until {@code member}'s Patroni says it is in {@code role} (its REST API: 200 on /primary, /sync). */
    private void awaitRole(Member member, String role) throws Exception {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (status(member, role) != 200) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException(member.name + " is not " + role + " after " + WAIT.toSeconds()
                        + " s; its log ends: " + logTail(member.name));
            }
            Thread.sleep(100);
        }
    }

    /** The standby is Patroni's synchronous standby, and the primary sees it streaming as such. */
    private void awaitSynchronous() throws Exception {
        awaitRole(standby, "sync");
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!"sync".equals(standbyState())) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException(standby.name + " does not stream synchronously: " + logTail(standby.name));
            }
            Thread.sleep(100);
        }
    }

    private int status(Member member, String path) {
        try {
            return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + member.restPort + "/" + path))
                    .timeout(Duration.ofSeconds(2)).build(), HttpResponse.BodyHandlers.discarding()).statusCode();
        } catch (java.io.IOException e) {
            return -1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
    }

    /** Starts {@code command} as the postgres user, its output appended to the log {@code name}. */
    private Process asPostgres(String name, String... command) throws Exception {
        return new ProcessBuilder(PostgresPair.asPostgresUser(command)).directory(dir.toFile()).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(dir.resolve(name + ".log").toFile())).start();
    }

    private String logTail(String name) {
        try {
            List<String> lines = Files.readAllLines(dir.resolve(name + ".log"));
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 30), lines.size()));
        } catch (java.io.IOException e) {
            return "(no log: " + e.getMessage() + ")";
        }
    }
}
