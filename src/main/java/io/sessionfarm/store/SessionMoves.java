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
    /** The longest an announcing node waits for its own notice to come back. */
    static final long ECHO_WAIT_MILLIS = 200;
    private static final long PING_MILLIS = 10_000;
    private static final long MAX_BACKOFF_MILLIS = 30_000;

    /** What the listener tells its owner, which logs it. */
    public interface Hearing {
        void listening();

        /** The listening connection failed; every copy is checked until it is back. */
        void lost(String error);

        /** The DataSource gives no connection of sessionfarm's PostgreSQL driver: there is nothing to listen with. */
        void unsupported(String why);
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
    /** When LISTEN last took effect on an unbroken connection; 0 while not listening. */
    private volatile long listeningSince;

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
        this.listener = new Thread(this::listen, "sessionfarm-moves-" + app.replaceAll("[^A-Za-z0-9.-]+", "-"));
        listener.setDaemon(true);
        listener.setContextClassLoader(SessionMoves.class.getClassLoader());
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
        boolean listening = isListening();
        if (listening) {
            echoes.put(echo, back);
        }
        try (Connection connection = pool.getConnection();
                PreparedStatement statement = connection.prepareStatement(ANNOUNCE)) {
            statement.setString(1, CHANNEL);
            statement.setString(2, node + "/" + echo + " " + key(sessionId) + " " + app);
            statement.execute();
            sent.increment();
            if (listening && !back.await(ECHO_WAIT_MILLIS, TimeUnit.MILLISECONDS)) {
                unechoed.increment();
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
     * @param knownCurrentAt when this node last read the session's version (before the read)
     */
    public boolean mayHaveMoved(String sessionId, long knownCurrentAt, long now) {
        long since = listeningSince;
        if (since == 0 || knownCurrentAt < since || now - knownCurrentAt > RETENTION_MILLIS) {
            return true;
        }
        if (noticed.isEmpty()) {
            return false;
        }
        Long at = noticed.get(key(sessionId));
        return at != null && at >= knownCurrentAt;
    }

    public boolean isListening() {
        return listeningSince != 0;
    }

    /** Forgets notices older than {@link #RETENTION_MILLIS}; called by the Manager's poller. */
    public void prune(long now) {
        noticed.values().removeIf(at -> now - at > RETENTION_MILLIS);
    }

    void heard(String payload, long now) {
        String[] parts = payload.split(" ", 3);
        if (parts.length != 3 || !parts[2].equals(app)) {
            return;
        }
        if (parts[0].startsWith(node + "/")) {
            CountDownLatch back = echoes.get(parts[0].substring(node.length() + 1));
            if (back != null) {
                back.countDown();
            }
            return;
        }
        heard.increment();
        if (noticed.size() >= MAX_NOTICES) {
            noticed.clear();
            listeningSince = now; // what was known before now is checked again
        }
        noticed.put(parts[1], now);
    }

    private String key(String sessionId) {
        return HexFormat.of().formatHex(Sha256.of(app + "\n" + sessionId), 0, 16);
    }

    private void listen() {
        long backoff = 1000;
        while (!closed) {
            try (Connection connection = listeningConnections.open()) {
                listening = connection;
                if (!connection.isWrapperFor(PGConnection.class)) {
                    hearing.unsupported(connection.getClass().getName());
                    return;
                }
                PGConnection pg = connection.unwrap(PGConnection.class);
                try (Statement statement = connection.createStatement()) {
                    statement.execute(LISTEN);
                }
                listeningSince = System.currentTimeMillis();
                hearing.listening();
                backoff = 1000;
                long pinged = System.currentTimeMillis();
                while (!closed) {
                    PGNotification[] notices = pg.getNotifications(WAIT_MILLIS);
                    long now = System.currentTimeMillis();
                    if (notices != null) {
                        for (PGNotification notice : notices) {
                            heard(notice.getParameter(), now);
                        }
                    }
                    if (now - pinged > PING_MILLIS) {
                        Database.ping(connection); // a silent connection may be a dead one
                        pinged = now;
                    }
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
