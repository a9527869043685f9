package io.sessionfarm.it;

import java.io.IOException;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;

/**
 * A real PgBouncer (Debian's package) in transaction pooling mode in front of the test server,
 * as production farms run one: each transaction may get another server connection, so nothing
 * of a session (its locks, LISTEN, named prepared statements) carries over. One per test JVM,
 * started on first use and stopped when the JVM ends. PgBouncer logs in to PostgreSQL as the
 * test server's user whatever user a node names (auth_type any), which this cell's tests allow;
 * its configuration, with that password, is a temporary file readable by the user it runs as.
 */
public final class PgBouncer {

    static final Path BINARY = Path.of("/usr/sbin/pgbouncer");
    private static PgBouncer running;

    private final int port;

    private PgBouncer(int port) {
        this.port = port;
    }

    /** {@code url} of the test server through this JVM's PgBouncer, which starts on first use. */
    public static String through(String url) throws Exception {
        java.net.URI server = java.net.URI.create(url.substring("jdbc:".length()));
        io.sessionfarm.store.TestDatabase.Server login = io.sessionfarm.store.TestDatabase.server();
        return get(server.getHost(), server.getPort() < 0 ? 5432 : server.getPort(), login.user(), login.password())
                .route(url);
    }

    /** The running PgBouncer, started on first use, in front of {@code host:port} as {@code user}. */
    private static synchronized PgBouncer get(String host, int serverPort, String user, String password) throws Exception {
        if (running == null) {
            running = start(host, serverPort, user, password);
        }
        return running;
    }

    /**
     * {@code url} through PgBouncer: the same database, and pgjdbc told not to name its prepared
     * statements, which PgBouncer before 1.21 (Debian 12 ships 1.18) cannot carry in this mode.
     */
    private String route(String url) {
        String through = url.replaceFirst("//[^/]+/", "//127.0.0.1:" + port + "/");
        return through + (through.contains("?") ? "&" : "?") + "prepareThreshold=0";
    }

    private static PgBouncer start(String host, int serverPort, String user, String password) throws Exception {
        Tools.require(BINARY, "pgbouncer");
        int port = Farm.freePort(16432);
        // Outside the checkout: PgBouncer refuses to run as root, and the user it runs as must read this.
        Path dir = Files.createTempDirectory("sessionfarm-pgbouncer-", PosixFilePermissions.asFileAttribute(
                PosixFilePermissions.fromString("rwxr-xr-x")));
        Path ini = dir.resolve("pgbouncer.ini");
        Files.writeString(ini, String.join("\n",
                "[databases]",
                "* = host=" + host + " port=" + serverPort + " user=" + user
                        + (password == null || password.isEmpty() ? "" : " password=" + password),
                "[pgbouncer]",
                "listen_addr = 127.0.0.1",
                "listen_port = " + port,
                "auth_type = any",
                "pool_mode = transaction",
                "max_client_conn = 1000",
                "default_pool_size = 60",
                "unix_socket_dir =",
                "logfile =",
                "pidfile =",
                "ignore_startup_parameters = extra_float_digits,options", ""));
        List<String> command = new ArrayList<>();
        if ("root".equals(System.getProperty("user.name"))) {
            command.addAll(List.of("runuser", "-u", "postgres", "--"));
        }
        command.addAll(List.of(BINARY.toString(), ini.toString()));
        Process process = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(dir.resolve("pgbouncer.log").toFile()).start();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            process.destroy();
            try {
                process.waitFor();
                Farm.deleteTree(dir);
            } catch (IOException | InterruptedException e) {
                // a temporary directory left behind
            }
        }));
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (true) {
            try (Socket ignored = new Socket("127.0.0.1", port)) {
                return new PgBouncer(port);
            } catch (IOException notYet) {
                if (!process.isAlive() || System.nanoTime() > deadline) {
                    throw new IllegalStateException("PgBouncer did not start: " + Files.readString(dir.resolve("pgbouncer.log")));
                }
                Thread.sleep(100);
            }
        }
    }
}
