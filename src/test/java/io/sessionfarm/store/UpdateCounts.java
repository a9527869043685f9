package io.sessionfarm.store;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;

import javax.sql.DataSource;

import org.postgresql.ds.PGSimpleDataSource;

/**
 * A table's updates, and of those the ones PostgreSQL did in place (HOT: no new index entry, the
 * old version pruned without a vacuum), as pg_stat_all_tables counts them.
 */
public record UpdateCounts(long updates, long inPlace) {

    /**
     * A new database with the sessionfarm tables, for one test alone: the counts are per table,
     * and another test's updates, reported late by a pooled connection, would mix with its own.
     */
    public static String freshDatabase(String name) throws SQLException {
        String url = TestDatabase.fresh(name);
        TestDatabase.Server server = TestDatabase.server();
        Database.open(url, server.user(), server.password(), 1, 2000, name).close(); // migrates
        return url;
    }

    /**
     * Connections without a pool: a backend's counts reach pg_stat_all_tables when it ends, so a
     * store on this shows its updates a moment after each call.
     */
    public static DataSource unpooled(String url) {
        TestDatabase.Server server = TestDatabase.server();
        PGSimpleDataSource direct = new PGSimpleDataSource();
        direct.setURL(url);
        direct.setUser(server.user());
        direct.setPassword(server.password());
        return direct;
    }

    /** The counts of {@code table}, once at least {@code atLeast} updates show (or after 15 s). */
    public static UpdateCounts of(String url, String table, long atLeast) throws SQLException, InterruptedException {
        long deadline = System.currentTimeMillis() + 15_000;
        try (Connection con = TestDatabase.connect(url);
                PreparedStatement ps = con.prepareStatement(
                        "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_all_tables WHERE relname = ?")) {
            ps.setString(1, table);
            while (true) {
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    UpdateCounts counts = new UpdateCounts(rs.getLong(1), rs.getLong(2));
                    if (counts.updates >= atLeast || System.currentTimeMillis() > deadline) {
                        return counts;
                    }
                }
                Thread.sleep(100);
            }
        }
    }

    /** The updates since {@code before}. */
    public UpdateCounts since(UpdateCounts before) {
        return new UpdateCounts(updates - before.updates, inPlace - before.inPlace);
    }

    public long notInPlace() {
        return updates - inPlace;
    }
}
