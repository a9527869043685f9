package io.sessionfarm.store;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.HashMap;
import java.util.Map;
import java.util.logging.Logger;

import javax.sql.DataSource;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;

import org.flywaydb.core.Flyway;
import org.postgresql.ds.PGSimpleDataSource;

/**
 * The plugin's connection to PostgreSQL: a HikariCP pool that every component of the JVM naming
 * the same server and login shares (or a DataSource the container provides), with the schema
 * migrated by Flyway from the plugin's own location and history table, so a webapp's own Flyway
 * never sees or touches it.
 */
public final class Database implements AutoCloseable {

    public static final String MIGRATIONS = "classpath:io/sessionfarm/sql";
    public static final String HISTORY_TABLE = "sessionfarm_schema_history";

    private static final Logger LOG = Logger.getLogger(Database.class.getName());
    /**
     * This JVM's pools, one for each database, login and timeout: the Managers of a node's contexts
     * (and their token valves) and its TLS connectors share one when they name the same, so
     * poolSize is a node's figure.
     */
    private static final Map<PoolKey, SharedPool> POOLS = new HashMap<>();

    private final DataSource dataSource;
    /** The shared pool this handle holds a share of; null for a container's DataSource. */
    private final PoolKey share;
    /** Where long-held connections come from: the driver itself (outside the pool), or the container's DataSource. */
    private final DataSource longHeld;
    private boolean closed;

    private Database(DataSource dataSource, PoolKey share, DataSource longHeld) {
        this.dataSource = dataSource;
        this.share = share;
        this.longHeld = longHeld;
    }

    /** What makes two components' pools one: the same server, login and timeout. Never printed whole. */
    private record PoolKey(String jdbcUrl, String directJdbcUrl, String username, String password, int timeoutMillis) {
        @Override
        public String toString() {
            return "jdbcUrl=" + io.sessionfarm.config.Attributes.maskUrl(jdbcUrl) + ", username=" + username;
        }
    }

    /** One pool and how many open handles share it. */
    private static final class SharedPool {
        final HikariDataSource pool;
        final PGSimpleDataSource direct;
        int users;

        SharedPool(HikariDataSource pool, PGSimpleDataSource direct) {
            this.pool = pool;
            this.direct = direct;
        }
    }

    /**
     * A share of the pool on a JDBC URL, with the schema migrated. Fails fast: an unreachable
     * server or a refused login throws here, at start, not on the first request.
     */
    public static Database open(String jdbcUrl, String username, String password, int poolSize,
            int timeoutMillis, String poolName) throws SQLException {
        return open(jdbcUrl, jdbcUrl, username, password, true, poolSize, timeoutMillis, poolName);
    }

    /**
     * A share of this JVM's pool for that server, login and timeout, made on first use; the pool
     * grows to the largest {@code poolSize} asked for, and closes when its last share does.
     *
     * @param directJdbcUrl the server itself, for what a transaction pooler (PgBouncer) in front of
     *                {@code jdbcUrl} cannot carry: the migration's session-level locks and LISTEN
     * @param migrate true: bring the schema up to date (the role must own the tables); false: only
     *                check that it is, for a least-privilege role that may not change it
     */
    public static Database open(String jdbcUrl, String directJdbcUrl, String username, String password, boolean migrate,
            int poolSize, int timeoutMillis, String poolName) throws SQLException {
        PoolKey key = new PoolKey(jdbcUrl, directJdbcUrl, username, password, timeoutMillis);
        SharedPool shared;
        synchronized (POOLS) {
            shared = POOLS.get(key);
            if (shared == null) {
                shared = newPool(key, poolSize, poolName);
                POOLS.put(key, shared);
            } else if (poolSize > shared.pool.getMaximumPoolSize()) {
                shared.pool.getHikariConfigMXBean().setMaximumPoolSize(poolSize);
            }
            shared.users++;
            LOG.info("sessionfarm's pool [" + shared.pool.getPoolName() + "] (" + key + ") has " + shared.users
                    + (shared.users == 1 ? " user" : " users") + " on this node, up to "
                    + shared.pool.getMaximumPoolSize() + " connections (a farm needs that many per node, plus one"
                    + " for each sticky context's move listener)");
        }
        Database database = new Database(shared.pool, key, shared.direct);
        try {
            // On connections of its own to the server itself: the migration lock is a session's.
            schema(shared.direct, migrate);
            return database;
        } catch (SQLException | RuntimeException e) {
            database.close();
            throw e;
        }
    }

    private static SharedPool newPool(PoolKey key, int poolSize, String poolName) throws SQLException {
        HikariConfig config = new HikariConfig();
        config.setDataSource(driver(key, key.jdbcUrl()));
        config.setPoolName(poolName);
        config.setMaximumPoolSize(poolSize);
        config.setMinimumIdle(Math.min(2, poolSize));
        config.setConnectionTimeout(Math.max(250, key.timeoutMillis()));
        config.setValidationTimeout(Math.max(250, key.timeoutMillis()));
        config.setInitializationFailTimeout(Math.max(1, key.timeoutMillis()));
        // The pool outlives the context that made it: its threads must not hold that webapp's class loader.
        config.setThreadFactory(Daemons.named(poolName));
        try {
            return new SharedPool(new HikariDataSource(config), driver(key, key.directJdbcUrl()));
        } catch (RuntimeException e) {
            throw new SQLException(rootMessage(e), e);
        }
    }

    /** The driver's own DataSource for {@code url}, with the key's login and timeouts. */
    private static PGSimpleDataSource driver(PoolKey key, String url) {
        PGSimpleDataSource pg = new PGSimpleDataSource();
        pg.setURL(url);
        if (key.username() != null) {
            pg.setUser(key.username());
        }
        if (key.password() != null) {
            pg.setPassword(key.password());
        }
        int timeoutSeconds = Math.max(1, (key.timeoutMillis() + 999) / 1000);
        pg.setConnectTimeout(timeoutSeconds);
        pg.setLoginTimeout(timeoutSeconds);
        // A hung server must not hold a request thread for long: reads give up after this.
        pg.setSocketTimeout(timeoutSeconds);
        pg.setApplicationName("sessionfarm");
        return pg;
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
                        + MIGRATION_WAIT_MILLIS / 1000 + " s (advisory lock " + MIGRATION_LOCK + ")" + THROUGH_A_POOLER);
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
            SQLException failed = null;
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
                failed = new SQLException("schema migration failed: " + rootMessage(e), e);
            } catch (SQLException e) {
                failed = e;
            }
            try {
                releaseMigrationLock(statement);
            } catch (SQLException e) {
                if (failed == null) {
                    throw e;
                }
                failed.addSuppressed(e); // the first failure is the one to report
            }
            if (failed != null) {
                throw failed;
            }
        }
    }

    /** Said when a session's lock did not stay with the session: a transaction pooler is in between. */
    static final String THROUGH_A_POOLER = "; if the URL goes through a transaction pooler (PgBouncer with"
            + " pool_mode = transaction), set directJdbcUrl to PostgreSQL itself: a session's lock taken through"
            + " the pooler stays on whichever server connection served it";

    /** Releases the lock, and fails if it was not this session's to release: then it is held elsewhere, for good. */
    private static void releaseMigrationLock(Statement statement) throws SQLException {
        try (ResultSet rs = statement.executeQuery("SELECT pg_advisory_unlock(" + MIGRATION_LOCK + ")")) {
            if (!rs.next() || !rs.getBoolean(1)) {
                throw new SQLException("the sessionfarm migration lock (advisory lock " + MIGRATION_LOCK
                        + ") was no longer this connection's to release, so it is left held" + THROUGH_A_POOLER);
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
        try (Database database = open(args[1], args[2], System.getenv("SESSIONFARM_DB_PASSWORD"), 4, 10_000,
                "sessionfarm-migrate")) {
            System.out.println("the sessionfarm schema is current");
        }
    }

    public DataSource dataSource() {
        return dataSource;
    }

    /**
     * A connection held for a long time (a listener): with the node's pool, a connection outside it
     * to the server itself ({@code directJdbcUrl}); with a container's DataSource, one of that
     * DataSource's connections, held for good.
     */
    public Connection connectionOfItsOwn() throws SQLException {
        return longHeld.getConnection();
    }

    /** Gives up this share of the pool: the last share closes it. A container's DataSource stays open. */
    @Override
    public void close() {
        if (share == null) {
            return;
        }
        synchronized (POOLS) {
            if (closed) {
                return;
            }
            closed = true;
            SharedPool shared = POOLS.get(share);
            if (shared != null && --shared.users == 0) {
                POOLS.remove(share);
                shared.pool.close();
            }
        }
    }

    /** How many open handles share the pool this one uses (for tests and the log); 0 for a container's DataSource. */
    public int poolUsers() {
        synchronized (POOLS) {
            SharedPool shared = share == null ? null : POOLS.get(share);
            return shared == null ? 0 : shared.users;
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
