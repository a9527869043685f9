package io.sessionfarm.store;

/**
 * The farm's one clock is the database's: every stored time (creation, last access, expiry, token
 * issue) is a time of the database, and every decision that ends a session compares with it. A
 * node works with its own clock in memory; times cross over as offsets from "now" on each side,
 * so a node whose clock is wrong by minutes still stores, and reads back, the right times.
 */
public final class DatabaseClock {

    /** The database's current time in epoch milliseconds, as SQL: the same within one statement. */
    public static final String NOW = "(extract(epoch from statement_timestamp()) * 1000)::bigint";

    /** Stored for "never expires". */
    static final long NEVER = Long.MAX_VALUE;

    private DatabaseClock() {
    }

    /** A time of this node's clock as an offset from this node's now, to bind as {@code NOW + ?}. */
    static long offset(long localTime, long localNow) {
        return localTime - localNow;
    }

    /**
     * A time read from the database on this node's clock.
     *
     * @param databaseNow {@link #NOW}, read in the same statement
     * @param localNow this node's time when the statement ran
     */
    public static long toLocal(long databaseTime, long databaseNow, long localNow) {
        return databaseTime == NEVER ? NEVER : databaseTime - databaseNow + localNow;
    }
}
