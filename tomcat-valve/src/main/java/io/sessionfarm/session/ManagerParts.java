package io.sessionfarm.session;

import java.sql.SQLException;
import java.util.UUID;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

import javax.naming.InitialContext;
import javax.naming.NamingException;
import javax.sql.DataSource;

import org.apache.catalina.Context;
import org.apache.catalina.LifecycleException;
import org.apache.catalina.Session;
import org.apache.juli.logging.Log;

import io.sessionfarm.session.CheckpointPolicy.Trigger;
import io.sessionfarm.session.ManagerSettings.Mode;
import io.sessionfarm.store.Daemons;
import io.sessionfarm.store.Database;
import io.sessionfarm.store.SessionMoves;
import io.sessionfarm.store.SessionStore;
import io.sessionfarm.store.StoreGate;
import io.sessionfarm.store.StoreSettings;

/**
 * The working parts of a started {@link FarmManager}, wired together: the database and its gate,
 * the attribute keys, the store, the checkpointer, the session loader, the poller, the expiry
 * sweeper, the clock watch, the rebinder (for a RouteBinderValve) and, in sticky mode, the move
 * notices (with their listener thread);
 * and the two daemon threads that run the background work. Made when the Manager starts, stopped when it stops; the Manager's
 * JMX attributes read their counters.
 */
final class ManagerParts {

    final Database database;
    final StoreGate gate;
    final AttributeKeys keys;
    final SessionStore store;
    final Checkpointer checkpointer;
    /** Sticky mode only. */
    final SessionMoves moves;
    final SessionLoader loader;
    final CheckpointPoller poller;
    final ExpirySweeper expiry;
    final ClockWatch clock;
    final SessionRebinder rebinder;
    private final ScheduledThreadPoolExecutor executor;

    private ManagerParts(FarmManager manager, ManagerSettings settings, Database database, AttributeKeys keys) {
        String app = manager.appName();
        Log log = manager.log();
        this.database = database;
        this.keys = keys;
        gate = new StoreGate(java.util.logging.Logger.getLogger(FarmManager.class.getName()),
                error -> FarmManager.messages.getString("farmManager.storeDown", app, error),
                FarmManager.messages.getString("farmManager.storeBack", app));
        store = new SessionStore(database.dataSource(), app, keys.sealer());
        AttributeCodec codec = new AttributeCodec(settings.deserializationFilter());
        checkpointer = new Checkpointer(manager, store, codec, settings.conflictPolicy(), gate);
        moves = settings.mode() != Mode.STICKY ? null : new SessionMoves(database::connectionOfItsOwn,
                database.dataSource(), app, UUID.randomUUID().toString(), new MoveHearing(log, app));
        loader = new SessionLoader(manager, store, checkpointer, codec, gate, settings.mode(), moves);
        poller = new CheckpointPoller(manager, store, checkpointer, settings.policy(), gate);
        executor = new ScheduledThreadPoolExecutor(2, Daemons.named("sessionfarm-" + app));
        executor.setRemoveOnCancelPolicy(true);
        executor.setExecuteExistingDelayedTasksAfterShutdownPolicy(false);
        rebinder = new SessionRebinder(manager, store, gate, moves);
        expiry = new ExpirySweeper(manager, store, codec, gate, executor, rebinder);
        clock = new ClockWatch(store, gate, log, app);
    }

    /**
     * Opens the store (a share of the node's pool, or the context's JNDI DataSource), checks the
     * keys, and starts the background work. Whatever fails here stops the context with a message.
     */
    static ManagerParts start(FarmManager manager, ManagerSettings settings, String masterKeyFile)
            throws LifecycleException {
        Database database;
        try {
            database = open(manager, settings.store());
        } catch (SQLException | NamingException e) {
            throw new LifecycleException(FarmManager.messages.getString("farmManager.storeUnreachable", manager.appName(),
                    settings.store().where(), settings.store().username(), e.getMessage()), e);
        }
        ManagerParts parts;
        try {
            parts = new ManagerParts(manager, settings, database,
                    AttributeKeys.start(masterKeyFile, database, manager.appName(), manager.log()));
        } catch (LifecycleException | RuntimeException e) {
            database.close();
            throw e;
        }
        try {
            parts.startWork(settings, manager.log());
        } catch (RuntimeException e) {
            Daemons.stop(parts.executor);
            database.close(); // this context's share of the node's pool
            throw e;
        }
        return parts;
    }

    private static Database open(FarmManager manager, StoreSettings store) throws SQLException, NamingException {
        if (store.dataSourceName() == null) {
            return store.open("sessionfarm-sessions"); // the node's pool, which its other contexts share
        }
        Context context = manager.getContext();
        ClassLoader previous = context.bind(false, null); // looked up as the webapp would
        try {
            javax.naming.Context env = (javax.naming.Context) new InitialContext().lookup("java:comp/env");
            return Database.of((DataSource) env.lookup(store.dataSourceName()), store.migrate());
        } finally {
            context.unbind(false, previous);
        }
    }

    private void startWork(ManagerSettings settings, Log log) {
        if (moves != null) {
            moves.start();
            every(60, 60, moves::prune);
        }
        clock.check();
        every(ClockWatch.CHECK_SECONDS, ClockWatch.CHECK_SECONDS, clock::check);
        every(CheckpointPolicy.POLL_SECONDS, CheckpointPolicy.POLL_SECONDS, poller::poll);
        every(AttributeKeys.CHECK_SECONDS, AttributeKeys.CHECK_SECONDS, () -> keys.rotateIfDue(gate, log));
        long sweep = settings.expirySweepSeconds();
        // Nodes start together; a random first delay spreads their sweeps apart.
        every(ThreadLocalRandom.current().nextLong(1, sweep + 1), sweep, expiry::sweep);
    }

    private void every(long firstSeconds, long seconds, Runnable task) {
        executor.scheduleWithFixedDelay(task, firstSeconds, seconds, TimeUnit.SECONDS);
    }

    /**
     * Stops the background work, writes what the sessions may still owe (leaving the farm is not
     * expiring: they stay in the store for the other nodes) and closes the store.
     *
     * @return how many sessions still owe a checkpoint (the store was down)
     */
    int stop(Session[] sessions) {
        Daemons.stop(executor);
        if (moves != null) {
            moves.close();
        }
        int owed = checkpointer.checkpointAll(sessions, Trigger.STOP);
        database.close();
        return owed;
    }
}
