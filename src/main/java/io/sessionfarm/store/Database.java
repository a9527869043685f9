package io.sessionfarm.store;

import java.sql.Connection;
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

    private Database(DataSource dataSource, HikariDataSource ownedPool) {
        this.dataSource = dataSource;
        this.ownedPool = ownedPool;
    }

    /**
     * Opens a pool on a JDBC URL and migrates the schema. Fails fast: an unreachable server or a
     * refused login throws here, at start, not on the first request.
     */
    public static Database open(String jdbcUrl, String username, String password, int poolSize,
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
            migrate(pool);
            return new Database(pool, pool);
        } catch (SQLException | RuntimeException e) {
            pool.close();
            throw e;
        }
    }

    /** Uses a DataSource the container provides (JNDI); migrates the schema but owns no pool. */
    public static Database of(DataSource dataSource) throws SQLException {
        try (Connection probe = dataSource.getConnection()) {
            probe.isValid(5);
        }
        migrate(dataSource);
        return new Database(dataSource, null);
    }

    /** Serializes migrations across the farm: nodes starting together must not race Flyway's baseline. */
    static final long MIGRATION_LOCK = 0x5E5510F4L;

    private static void migrate(DataSource dataSource) throws SQLException {
        try (Connection lock = dataSource.getConnection(); Statement statement = lock.createStatement()) {
            statement.execute("SELECT pg_advisory_lock(" + MIGRATION_LOCK + ")");
            try {
                Flyway.configure(Database.class.getClassLoader())
                        .dataSource(dataSource)
                        .locations(MIGRATIONS)
                        .table(HISTORY_TABLE)
                        // The database may already hold the webapp's own tables.
                        .baselineOnMigrate(true)
                        .baselineVersion("0")
                        .load()
                        .migrate();
            } catch (RuntimeException e) {
                throw new SQLException("schema migration failed: " + rootMessage(e), e);
            } finally {
                statement.execute("SELECT pg_advisory_unlock(" + MIGRATION_LOCK + ")");
            }
        }
    }

    public DataSource dataSource() {
        return dataSource;
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
