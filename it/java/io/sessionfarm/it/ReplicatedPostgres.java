package io.sessionfarm.it;

import java.sql.SQLException;

/**
 * A PostgreSQL primary with a streaming standby that takes over when the primary dies, made for
 * one test: by hand ({@link PostgresPair}) or by Patroni ({@link PatroniPair}).
 */
public interface ReplicatedPostgres extends AutoCloseable {

    /** pgjdbc's multi-host URL of database {@code database}: whichever server is primary is taken. */
    String url(String database);

    /** The primary's host dies: {@code kill -9}, no shutdown, no last WAL sent. */
    void killPrimary() throws Exception;

    /** Returns once the standby is the primary and takes writes. */
    void standbyTakesOver() throws Exception;

    /** The old primary, dead since {@link #killPrimary}, streams again as the new standby. */
    void rebuildStandby() throws Exception;

    /** The primary's view of its standby: its sync_state, or null if none streams. */
    String standbyState() throws SQLException;

    /** How far behind the standby is, as the primary last measured it. */
    String replayLag() throws SQLException;
}
