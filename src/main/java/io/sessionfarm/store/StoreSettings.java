package io.sessionfarm.store;

import static io.sessionfarm.config.Attributes.bool;
import static io.sessionfarm.config.Attributes.integer;
import static io.sessionfarm.config.Attributes.maskUrl;

import java.sql.SQLException;
import java.util.Map;
import java.util.Set;

/**
 * How a component reaches PostgreSQL, read from its configuration attributes: {@code jdbcUrl}
 * (or, where a container DataSource is allowed, {@code dataSourceName}), {@code directJdbcUrl}
 * (the server itself, when jdbcUrl goes through a transaction pooler), {@code username},
 * {@code password}, {@code poolSize}, {@code storeTimeout} and {@code migrate}. The Manager and
 * the TLS connector read them here, each with its own defaults, in one wording.
 */
public record StoreSettings(String jdbcUrl, String directJdbcUrl, String dataSourceName, String username, String password,
        int poolSize, int timeoutMillis, boolean migrate) {

    /** The attributes read here; {@code dataSourceName} only where {@link Defaults#dataSourceAllowed()}. */
    public static final Set<String> ATTRIBUTES = Set.of("jdbcUrl", "directJdbcUrl", "username", "password", "poolSize",
            "storeTimeout", "migrate");

    /** One component's defaults and limits. */
    public record Defaults(int poolSize, int maxPoolSize, String poolSizeAllowed, int timeoutMillis,
            boolean dataSourceAllowed) {
    }

    public static StoreSettings parse(Map<String, String> raw, Defaults defaults) {
        String jdbcUrl = blankToNull(raw.get("jdbcUrl"));
        String dataSourceName = defaults.dataSourceAllowed() ? blankToNull(raw.get("dataSourceName")) : null;
        if (defaults.dataSourceAllowed() && (jdbcUrl == null) == (dataSourceName == null)) {
            throw new IllegalArgumentException("set exactly one of [jdbcUrl] (e.g. jdbc:postgresql://127.0.0.1:5432/app)"
                    + " or [dataSourceName] (a JNDI DataSource of the context); got "
                    + (jdbcUrl == null ? "neither" : "both"));
        }
        if (dataSourceName == null && (jdbcUrl == null || !jdbcUrl.startsWith("jdbc:postgresql:"))) {
            throw new IllegalArgumentException("attribute [jdbcUrl] has value [" + (jdbcUrl == null ? "" : maskUrl(jdbcUrl))
                    + "]: expected a PostgreSQL URL, jdbc:postgresql://host:port/database");
        }
        String directJdbcUrl = blankToNull(raw.get("directJdbcUrl"));
        if (directJdbcUrl != null && (jdbcUrl == null || !directJdbcUrl.startsWith("jdbc:postgresql:"))) {
            throw new IllegalArgumentException("attribute [directJdbcUrl] has value [" + maskUrl(directJdbcUrl) + "]: expected"
                    + " a PostgreSQL URL that reaches the server itself, not through a transaction pooler, beside [jdbcUrl]");
        }
        return new StoreSettings(
                jdbcUrl,
                directJdbcUrl == null ? jdbcUrl : directJdbcUrl,
                dataSourceName,
                blankToNull(raw.get("username")),
                raw.get("password"),
                integer(raw, "poolSize", defaults.poolSize(), 4, defaults.maxPoolSize(), defaults.poolSizeAllowed()),
                integer(raw, "storeTimeout", defaults.timeoutMillis(), 250, 60_000, "milliseconds from 250 to 60000"),
                bool(raw, "migrate", true));
    }

    /** Opens a pool on {@link #jdbcUrl()} and, if {@link #migrate()}, migrates the schema. */
    public Database open(String poolName) throws SQLException {
        return Database.open(jdbcUrl, directJdbcUrl, username, password, migrate, poolSize, timeoutMillis, poolName);
    }

    /** Where the store is, fit for a log line: the URL with any password masked, or the JNDI name. */
    public String where() {
        return jdbcUrl == null ? dataSourceName : maskUrl(jdbcUrl);
    }

    /** The settings as a log line: the password and any password in the URL are masked. */
    @Override
    public String toString() {
        return "jdbcUrl=" + (jdbcUrl == null ? null : maskUrl(jdbcUrl))
                + (directJdbcUrl == null || directJdbcUrl.equals(jdbcUrl) ? "" : ", directJdbcUrl=" + maskUrl(directJdbcUrl))
                + ", username=" + username
                + ", password=" + (password == null ? null : "<masked>")
                + (dataSourceName == null ? "" : ", dataSourceName=" + dataSourceName)
                + ", poolSize=" + poolSize + ", storeTimeout=" + timeoutMillis + "ms, migrate=" + migrate;
    }

    private static String blankToNull(String s) {
        return s == null || s.isBlank() ? null : s.trim();
    }
}
