package io.sessionfarm.store;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.HexFormat;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

import javax.sql.DataSource;

import org.postgresql.PGConnection;
import org.postgresql.PGNotification;

import io.sessionfarm.keys.Sha256;

/**
 * Move notices between the nodes of a sticky farm. A sticky node trusts its copy of a session
 * without reading the store, which is only right while no other node serves the session. A
 * balancer that moves a client away and back (a node marked down for a moment) breaks that: the
 * node it comes back to holds an old copy. So a node that starts serving a session from the store
 * says so on a PostgreSQL channel, before it answers, and every other node hears it on a
 * connection of its own and checks its copy against the store before it serves it again.
 * <p>
 * The node that announces waits until its own notice comes back on its listening connection:
 * PostgreSQL has then delivered it to every listener, so the others have heard it before the
 * announcing node's response leaves, save for the moment their listener threads take to read it.
 * <p>
 * A copy is trusted only while this node has listened without a break since it last knew the copy
 * current: while the listening connection is down, or after it came back, {@link #mayHaveMoved}
 * says yes, and the copy is checked as in shared mode. Notices carry a hash of the session id,
 * never the id: any role of the database may listen.
 */
public final class SessionMoves implements AutoCloseable {

    static final String CHANNEL = "sessionfarm_moved";
    static final String LISTEN = "LISTEN " + CHANNEL;
    static final String ANNOUNCE = "SELECT pg_notify(?, ?)";

    /** How long a notice is remembered; a copy not checked for longer is checked anyway. */
    public static final long RETENTION_MILLIS = 10 * 60_000;
    /** More notices than this at once are forgotten, and every copy is checked instead. */
    static final int MAX_NOTICES = 100_000;
    private static final int WAIT_MILLIS = 500;
    /**
     * How often the listener sends itself a probe notice, and how long it waits for it: a silent
     * connection may be a dead one, and a pooler in transaction mode (PgBouncer) takes LISTEN
     * without ever passing a notice on.
     */
    static final long PROBE_MILLIS = 5_000;
    static final long PROBE_WAIT_MILLIS = 3_000;
    private static final String PROBE = "probe";
    /** The longest an announcing node waits for its own notice to come back. */
    static final long ECHO_WAIT_MILLIS = 1000;
    private static final long MAX_BACKOFF_MILLIS = 30_000;

    /** What the listener tells its owner, which logs it. */
    public interface Hearing {
        void listening();

        /** The listening connection failed; every copy is checked until it is back. */
        void lost(String error);

        /** The DataSource gives no connection of sessionfarm's PostgreSQL driver: there is nothing to listen with. */
        void unsupported(String connectionClass);
    }

    /** Where the listening connection comes from: one of its own, held for as long as it works. */
    @FunctionalInterface
    public interface ConnectionSource {
        Connection open() throws SQLException;
    }

    private final ConnectionSource listeningConnections;
    private final DataSource pool;
    private final String app;
    private final String node;
    private final Hearing hearing;
    private final Map<String, Long> noticed = new ConcurrentHashMap<>();
    private final Map<String, CountDownLatch> echoes = new ConcurrentHashMap<>();
    private final AtomicLong sequence = new AtomicLong();
    private final Thread listener;
    private volatile boolean closed;
    private volatile Connection listening;
    /**
     * When LISTEN last took effect on an unbroken connection that passes notices on; 0 while not
     * listening. This and every other time here are {@link #now()}, which no clock step moves.
     */
    private volatile long listeningSince;
    /** The listener's own probes: the last sent (listener thread only), the last heard back, and when. */
    private long probesSent;
    private volatile long probeHeard;
    private volatile long probeHeardAt;
    /** An announcement's own notice did not come back: the listener reconnects. */
    private volatile boolean deaf;

    public final LongAdder sent = new LongAdder();
    public final LongAdder heard = new LongAdder();
    /** Announcements whose own notice did not come back in time. */
    public final LongAdder unechoed = new LongAdder();

    /**
     * @param listeningConnections a connection outside the pool, held by the listener
     * @param pool for the notices this node sends
     * @param node this node's instance, which tells its own notices from the others' (no spaces or slashes)
     */
    public SessionMoves(ConnectionSource listeningConnections, DataSource pool, String app, String node, Hearing hearing) {
        this.listeningConnections = listeningConnections;
        this.pool = pool;
        this.app = app;
        this.node = node;
        this.hearing = hearing;
        this.listener = Daemons.named("sessionfarm-moves-" + app).newThread(this::listen);
    }

    public void start() {
        listener.start();
    }

    /**
     * This node starts serving the session: the others check their copies before they serve theirs.
     * Returns once the notice has come back to this node (or after {@link #ECHO_WAIT_MILLIS}).
     */
    public void announce(String sessionId) throws SQLException {
        String echo = Long.toString(sequence.incrementAndGet());
        CountDownLatch back = new CountDownLatch(1);
        boolean awaitEcho = isListening();
        if (awaitEcho) {
            echoes.put(echo, back);
        }
        try {
            try (Connection connection = pool.getConnection();
                    PreparedStatement statement = connection.prepareStatement(ANNOUNCE)) {
                statement.setString(1, CHANNEL);
                statement.setString(2, node + "/" + echo + " " + key(sessionId) + " " + app);
                statement.execute();
            }
            sent.increment();
            if (awaitEcho && !back.await(ECHO_WAIT_MILLIS, TimeUnit.MILLISECONDS)) {
                unechoed.increment();
                listeningSince = 0; // trust nothing until the listener has reconnected and heard itself
                deaf = true;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            echoes.remove(echo);
        }
    }

    /**
     * Whether another node may have served the session since this node last knew its copy current.
     *
     * @param knownCurrentAt when this node last read the session's version (before the read), by {@link #now()}
     */
    public boolean mayHaveMoved(String sessionId, long knownCurrentAt, long now) {
        // The notices first, then the time since when they are complete: an overflow that clears
        // them moves that time forward before it clears.
        Long at = noticed.isEmpty() ? null : noticed.get(key(sessionId));
        long since = listeningSince;
        if (since == 0 || knownCurrentAt < since || now - knownCurrentAt > RETENTION_MILLIS
                || now - probeHeardAt > PROBE_MILLIS + PROBE_WAIT_MILLIS) {
            return true;
        }
        return at != null && at >= knownCurrentAt;
    }

    /** Whether another node said it serves the session at or after {@code since}. */
    public boolean heardOf(String sessionId, long since) {
        Long at = noticed.isEmpty() ? null : noticed.get(key(sessionId));
        return at != null && at >= since;
    }

    /** The clock of this class: milliseconds that only move forward. */
    public static long now() {
        return System.nanoTime() / 1_000_000;
    }

    public boolean isListening() {
        return listeningSince != 0;
    }

    /** Forgets notices older than {@link #RETENTION_MILLIS}; the Manager calls it every minute. */
    public void prune() {
        prune(now());
    }

    void prune(long now) {
        noticed.values().removeIf(at -> now - at > RETENTION_MILLIS);
    }

    void heard(String payload, long now) {
        String[] parts = payload.split(" ", 3);
        if (parts.length != 3 || !parts[2].equals(app)) {
            return;
        }
        if (parts[0].startsWith(node + "/")) {
            String echo = parts[0].substring(node.length() + 1);
            if (parts[1].equals(PROBE)) {
                probeHeardAt = now;
                probeHeard = Long.parseLong(echo);
            } else {
                CountDownLatch back = echoes.get(echo);
                if (back != null) {
                    back.countDown();
                }
            }
            return;
        }
        if (parts[1].equals(PROBE)) {
            return;
        }
        if (noticed.size() >= MAX_NOTICES) {
            listeningSince = now; // what was known before now is checked again; set before the clear
            noticed.clear();
        }
        noticed.put(parts[1], now);
        heard.increment(); // after: whoever sees the count sees the notice acted on
    }

    private String key(String sessionId) {
        return HexFormat.of().formatHex(Sha256.of(app + "\n" + sessionId), 0, 16);
    }

    private void listen() {
        try {
            listenUntilClosed();
        } finally {
            listeningSince = 0; // whatever ended the thread, nothing is heard from now on
        }
    }

    private void listenUntilClosed() {
        long backoff = 1000;
        while (!closed) {
            try (Connection connection = listeningConnections.open()) {
                listening = connection;
                if (!connection.isWrapperFor(PGConnection.class)) {
                    hearing.unsupported(connection.getClass().getName());
                    return;
                }
                PGConnection pg = connection.unwrap(PGConnection.class);
                try {
                    deaf = false;
                    try (Statement statement = connection.createStatement()) {
                        statement.execute(LISTEN);
                    }
                    long listenedAt = now();
                    long probedAt = probe(connection);
                    while (!closed && !deaf) {
                        PGNotification[] notices = pg.getNotifications(WAIT_MILLIS);
                        long now = now();
                        if (notices != null) {
                            for (PGNotification notice : notices) {
                                heard(notice.getParameter(), now);
                            }
                        }
                        if (probeHeard == probesSent) {
                            if (listeningSince == 0) {
                                listeningSince = listenedAt; // every notice since LISTEN has been heard
                                hearing.listening();
                                backoff = 1000;
                            }
                            if (now - probedAt >= PROBE_MILLIS) {
                                probedAt = probe(connection);
                            }
                        } else if (now - probedAt > PROBE_WAIT_MILLIS) {
                            throw new SQLException("a notice this node sent itself did not come back within "
                                    + PROBE_WAIT_MILLIS + " ms (a dead connection, or a pooler in transaction mode,"
                                    + " such as PgBouncer, which does not pass notices on)");
                        }
                    }
                    if (deaf) {
                        throw new SQLException("an announcement's own notice did not come back within " + ECHO_WAIT_MILLIS + " ms");
                    }
                } finally {
                    unlisten(connection);
                }
            } catch (SQLException | RuntimeException e) {
                boolean wasListening = listeningSince != 0;
                listeningSince = 0;
                if (closed) {
                    return;
                }
                if (wasListening || backoff == 1000) {
                    hearing.lost(e.getMessage());
                }
                sleep(backoff);
                backoff = Math.min(backoff * 2, MAX_BACKOFF_MILLIS);
            } finally {
                listening = null;
            }
        }
    }

    /** Sends this node a probe notice on the listening connection; returns when. */
    private long probe(Connection connection) throws SQLException {
        probesSent++;
        try (PreparedStatement statement = connection.prepareStatement(ANNOUNCE)) {
            statement.setString(1, CHANNEL);
            statement.setString(2, node + "/" + probesSent + " " + PROBE + " " + app);
            statement.execute();
        }
        return now();
    }

    /** A pooled connection (a container's DataSource) goes back without this node's LISTEN on it. */
    private static void unlisten(Connection connection) {
        try (Statement statement = connection.createStatement()) {
            statement.execute("UNLISTEN *");
        } catch (SQLException e) {
            // closing anyway
        }
    }

    private void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            closed = true;
        }
    }

    @Override
    public void close() {
        closed = true;
        listeningSince = 0;
        listener.interrupt();
        Connection connection = listening;
        if (connection != null) {
            try {
                connection.close(); // wakes a listener blocked on the socket
            } catch (SQLException e) {
                // closing anyway
            }
        }
        try {
            listener.join(Daemons.STOP_WAIT_MILLIS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
