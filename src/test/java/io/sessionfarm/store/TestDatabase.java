package io.sessionfarm.store;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;

import org.testcontainers.containers.PostgreSQLContainer;

/**
 * The PostgreSQL the tests use: the server named by {@code SESSIONFARM_TEST_JDBC_URL} (with
 * {@code SESSIONFARM_TEST_DB_USER}/{@code _PASSWORD}); else a Testcontainers PostgreSQL when a
 * Docker engine is reachable; else the local server at 127.0.0.1:5432, user postgres. Each test
 * class gets a database of its own, created fresh.
 */
public final class TestDatabase {

    private static PostgreSQLContainer<?> container;

    private TestDatabase() {
    }

    public record Server(String adminUrl, String user, String password) {
        /** The URL of database {@code name} on this server. */
        public String url(String name) {
            return adminUrl.replaceFirst("/[^/?]*(\\?|$)", "/" + name + "$1");
        }
    }

    public static synchronized Server server() {
        String url = System.getenv("SESSIONFARM_TEST_JDBC_URL");
        if (url != null && !url.isBlank()) {
            return new Server(url, env("SESSIONFARM_TEST_DB_USER", "postgres"), env("SESSIONFARM_TEST_DB_PASSWORD", ""));
        }
        if (dockerReachable()) {
            if (container == null) {
                container = new PostgreSQLContainer<>("postgres:15.10");
                container.start();
            }
            return new Server(container.getJdbcUrl(), container.getUsername(), container.getPassword());
        }
        return new Server("jdbc:postgresql://127.0.0.1:5432/postgres", "postgres", "");
    }

    /** A new, empty database for one test class; returns its JDBC URL. */
    public static String fresh(String name) throws SQLException {
        String database = "sessionfarm_" + name.toLowerCase().replaceAll("[^a-z0-9]+", "_");
        Server server = server();
        try (Connection admin = DriverManager.getConnection(server.adminUrl(), server.user(), server.password());
                Statement statement = admin.createStatement()) {
            statement.execute("DROP DATABASE IF EXISTS " + database + " WITH (FORCE)");
            statement.execute("CREATE DATABASE " + database);
        }
        return server.url(database);
    }

    public static Connection connect(String url) throws SQLException {
        Server server = server();
        return DriverManager.getConnection(url, server.user(), server.password());
    }

    private static boolean dockerReachable() {
        String host = System.getenv("DOCKER_HOST");
        if ((host == null || host.isBlank()) && !Files.exists(Path.of("/var/run/docker.sock"))) {
            return false;
        }
        try {
            return org.testcontainers.DockerClientFactory.instance().isDockerAvailable();
        } catch (RuntimeException e) {
            return false;
        }
    }

    private static String env(String name, String dflt) {
        String value = System.getenv(name);
        return value == null ? dflt : value;
    }
}
