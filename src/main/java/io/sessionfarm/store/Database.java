package io.sessionfarm.store;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;

import javax.sql.DataSource;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;

import org.flywaydb.core.Flyway;
import org.postgresql.ds.PGSimpleDataSource;

/**
 * The plugin's connection to PostgreSQL: its own HikariCP pool (or a DataSource the container
 * provides) with the schema migrated by Flyway from the plugin's own location and history table,
 * so a webapp's own Flyway never sees or touches it.
 */
public final class Database implements AutoCloseable {

    public static final String MIGRATIONS = "classpath:io/sessionfarm/sql";
    public static final String HISTORY_TABLE = "sessionfarm_schema_history";

    private final DataSource dataSource;
    private final HikariDataSource ownedPool;
    /** Where long-held connections come from: the driver itself (outside the pool), or the container's DataSource. */
    private final DataSource longHeld;

    private Database(DataSource dataSource, HikariDataSource ownedPool, DataSource longHeld) {
        this.dataSource = dataSource;
        this.ownedPool = ownedPool;
        this.longHeld = longHeld;
    }

    /**
     * Opens a pool on a JDBC URL and migrates the schema. Fails fast: an unreachable server or a
     * refused login throws here, at start, not on the first request.
     */
    public static Database open(String jdbcUrl, String username, String password, int poolSize,
            int timeoutMillis, String poolName) throws SQLException {
        return open(jdbcUrl, username, password, true, poolSize, timeoutMillis, poolName);
    }

    /**
     * @param migrate true: bring the schema up to date (the role must own the tables); false: only
     *                check that it is, for a least-privilege role that may not change it
     */
    public static Database open(String jdbcUrl, String username, String password, boolean migrate, int poolSize,
            int timeoutMillis, String poolName) throws SQLException {
        PGSimpleDataSource pg = new PGSimpleDataSource();
        pg.setURL(jdbcUrl);
        if (username != null) {
            pg.setUser(username);
        }
        if (password != null) {
            pg.setPassword(password);
        }
        int timeoutSeconds = Math.max(1, (timeoutMillis + 999) / 1000);
        pg.setConnectTimeout(timeoutSeconds);
        pg.setLoginTimeout(timeoutSeconds);
        // A hung server must not hold a request thread for long: reads give up after this.
        pg.setSocketTimeout(timeoutSeconds);
        pg.setApplicationName("sessionfarm");

        HikariConfig config = new HikariConfig();
        config.setDataSource(pg);
        config.setPoolName(poolName);
        config.setMaximumPoolSize(poolSize);
        config.setMinimumIdle(Math.min(2, poolSize));
        config.setConnectionTimeout(Math.max(250, timeoutMillis));
        config.setValidationTimeout(Math.max(250, timeoutMillis));
        config.setInitializationFailTimeout(Math.max(1, timeoutMillis));
        HikariDataSource pool;
        try {
            pool = new HikariDataSource(config);
        } catch (RuntimeException e) {
            throw new SQLException(rootMessage(e), e);
        }
        try {
            schema(pool, migrate);
            return new Database(pool, pool, pg);
        } catch (SQLException | RuntimeException e) {
            pool.close();
            throw e;
        }
    }

    /** Uses a DataSource the container provides (JNDI); migrates the schema but owns no pool. */
    public static Database of(DataSource dataSource, boolean migrate) throws SQLException {
        try (Connection probe = dataSource.getConnection()) {
            probe.isValid(5);
        }
        schema(dataSource, migrate);
        return new Database(dataSource, null, dataSource);
    }

    /** Work on one connection; it may throw one checked exception besides SQLException. */
    @FunctionalInterface
    public interface Work<T, E extends Exception> {
        T run(Connection connection) throws SQLException, E;
    }

    /** One transaction on a connection of {@code dataSource}: committed if {@code work} returns, rolled back if it throws. */
    public static <T, E extends Exception> T inTransaction(DataSource dataSource, Work<T, E> work) throws SQLException, E {
        try (Connection connection = dataSource.getConnection()) {
            return inTransaction(connection, work);
        }
    }

    /** One transaction on {@code connection}, which is left in auto-commit afterwards (container pools do not reset it). */
    public static <T, E extends Exception> T inTransaction(Connection connection, Work<T, E> work) throws SQLException, E {
        connection.setAutoCommit(false);
        try {
            T result = work.run(connection);
            connection.commit();
            return result;
        } catch (Exception e) {
            try {
                connection.rollback();
            } catch (SQLException rollback) {
                e.addSuppressed(rollback);
            }
            throw e;
        } finally {
            try {
                connection.setAutoCommit(true);
            } catch (SQLException e) {
                // broken: its pool discards it
            }
        }
    }

    /** One round trip, to learn whether the store answers. */
    public static void ping(DataSource dataSource) throws SQLException {
        try (Connection connection = dataSource.getConnection()) {
            ping(connection);
        }
    }

    public static void ping(Connection connection) throws SQLException {
        try (Statement statement = connection.createStatement()) {
            statement.execute("SELECT 1");
        }
    }

    /** Serializes migrations across the farm: nodes starting together must not race Flyway's baseline. */
    static final long MIGRATION_LOCK = 0x5E5510F4L;

    /** How long a node waits for another that is checking or migrating the schema. */
    static final long MIGRATION_WAIT_MILLIS = 120_000;

    /**
     * Takes the farm's migration lock, asking again every 200 ms rather than blocking in one
     * statement: a node that starts beside a slow one (a long pause, a loaded machine) would
     * otherwise hit its socket timeout (storeTimeout) and fail to start.
     */
    private static void awaitMigrationLock(Statement statement) throws SQLException {
        long deadline = System.nanoTime() + MIGRATION_WAIT_MILLIS * 1_000_000;
        while (true) {
            try (ResultSet rs = statement.executeQuery("SELECT pg_try_advisory_lock(" + MIGRATION_LOCK + ")")) {
                if (rs.next() && rs.getBoolean(1)) {
                    return;
                }
            }
            if (System.nanoTime() > deadline) {
                throw new SQLException("another node has held the sessionfarm migration lock for over "
                        + MIGRATION_WAIT_MILLIS / 1000 + " s (advisory lock " + MIGRATION_LOCK + ")");
            }
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new SQLException("interrupted while waiting for the sessionfarm migration lock", e);
            }
        }
    }

    private static void schema(DataSource dataSource, boolean migrate) throws SQLException {
        try (Connection lock = dataSource.getConnection(); Statement statement = lock.createStatement()) {
            awaitMigrationLock(statement);
            try {
                Flyway flyway = Flyway.configure(Database.class.getClassLoader())
                        .dataSource(dataSource)
                        .locations(MIGRATIONS)
                        .table(HISTORY_TABLE)
                        // The database may already hold the webapp's own tables.
                        .baselineOnMigrate(true)
                        .baselineVersion("0")
                        .load();
                if (migrate) {
                    flyway.migrate();
                } else {
                    var result = flyway.validateWithResult();
                    if (!result.validationSuccessful) {
                        throw new SQLException("the sessionfarm schema is not current and migrate=\"false\" may not"
                                + " change it (" + result.getAllErrorMessages() + "); run the migrations as the tables'"
                                + " owner: java -cp sessionfarm.jar " + Database.class.getName() + " migrate JDBC_URL USER");
                    }
                }
            } catch (RuntimeException e) {
                throw new SQLException("schema migration failed: " + rootMessage(e), e);
            } finally {
                statement.execute("SELECT pg_advisory_unlock(" + MIGRATION_LOCK + ")");
            }
        }
    }

    /**
     * {@code migrate JDBC_URL USER}, password from {@code SESSIONFARM_DB_PASSWORD}: brings the
     * schema up to date as its owner, for farms whose nodes run with a least-privilege role.
     */
    public static void main(String[] args) throws SQLException {
        if (args.length != 3 || !args[0].equals("migrate")) {
            System.err.println("usage: java -cp sessionfarm.jar " + Database.class.getName()
                    + " migrate JDBC_URL USER   (password in SESSIONFARM_DB_PASSWORD)");
            System.exit(2);
        }
        try (Database database = open(args[1], args[2], System.getenv("SESSIONFARM_DB_PASSWORD"), true, 4, 10_000,
                "sessionfarm-migrate")) {
            System.out.println("the sessionfarm schema is current");
        }
    }

    public DataSource dataSource() {
        return dataSource;
    }

    /**
     * A connection held for a long time (a listener): with a pool of its own, a connection outside
     * it; with a container's DataSource, one of that DataSource's connections, held for good.
     */
    public Connection connectionOfItsOwn() throws SQLException {
        return longHeld.getConnection();
    }

    @Override
    public void close() {
        if (ownedPool != null) {
            ownedPool.close();
        }
    }

    static String rootMessage(Throwable t) {
        Throwable root = t;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        return root == t ? String.valueOf(t.getMessage()) : t.getMessage() + " (" + root.getMessage() + ")";
    }
}
