package io.sessionfarm.session;

import java.sql.SQLException;
import java.util.concurrent.atomic.LongAdder;

import org.apache.catalina.Session;

import io.sessionfarm.session.ManagerSettings.Mode;
import io.sessionfarm.store.SessionMoves;
import io.sessionfarm.store.SessionStore;
import io.sessionfarm.store.StoreGate;
import io.sessionfarm.store.StoredSession;
import io.sessionfarm.store.StoredSession.Stamp;

/**
 * Finds the copy of a session that a request may use. In shared mode every request checks the
 * local copy's version against the store's (one primary-key read) and takes in what other nodes
 * wrote since, so that a request that starts after another's response sees that response's writes
 * on whichever node it lands. In sticky mode a copy is checked only when another node may have
 * served the session since ({@link SessionMoves}) or after it idled here; a node that starts
 * serving a session from the store tells the others so before it answers.
 */
final class SessionLoader {

    /**
     * A session's stamp a companion read on this thread for this request, in the same statement as
     * its own work; used once. {@code stamp} is null when there is no row.
     */
    private record Prefetched(SessionLoader loader, String id, Stamp stamp) {
    }

    private static final ThreadLocal<Prefetched> PREFETCHED = new ThreadLocal<>();

    private final FarmManager manager;
    private final SessionStore store;
    private final Checkpointer checkpointer;
    private final AttributeCodec codec;
    private final StoreGate gate;
    private final Mode mode;
    /** Sticky mode only. */
    private final SessionMoves moves;

    /**
     * How long after a move a node's writes are announced: longer than a request that was in
     * flight on the other node when the session moved.
     */
    static final long CONTESTED_MILLIS = 60_000;

    private final Object[] loadLocks = new Object[64];
    final LongAdder loadsFromStore = new LongAdder();
    /** Sticky copies found older than the store (or gone from it) before they were served. */
    final LongAdder movesCaught = new LongAdder();

    SessionLoader(FarmManager manager, SessionStore store, Checkpointer checkpointer, AttributeCodec codec,
            StoreGate gate, Mode mode, SessionMoves moves) {
        this.manager = manager;
        this.store = store;
        this.checkpointer = checkpointer;
        this.codec = codec;
        this.gate = gate;
        this.mode = mode;
        this.moves = moves;
        for (int i = 0; i < loadLocks.length; i++) {
            loadLocks[i] = new Object();
        }
    }

    /** Remembers a stamp read for this request, for the version check of {@link #find}. */
    void prefetched(String id, Stamp stamp) {
        PREFETCHED.set(new Prefetched(this, id, stamp));
    }

    /** The end of the request: a stamp not used by then is stale. */
    static void forgetPrefetched() {
        PREFETCHED.remove();
    }

    /**
     * The local copy brought up to date, or the stored session (takeover after a node died or a
     * balancer moved the client); null when there is none.
     */
    Session find(String id) {
        Session local = manager.localCopy(id);
        if (local == null) {
            Loaded loaded = load(id);
            if (loaded == null) {
                return null;
            }
            if (loaded.byThisRequest()) {
                announce(loaded.session());
                return loaded.session();
            }
            local = loaded.session(); // another request loaded it, maybe before this one began: check it
        }
        if (local instanceof FarmSession session && session.isStored() && mustCheck(session)) {
            return upToDate(session) ? session : null;
        }
        return local;
    }

    /** Shared mode: always. Sticky mode: when another node may have served it since, or after it idled here. */
    private boolean mustCheck(FarmSession session) {
        if (mode == Mode.SHARED) {
            return true;
        }
        return idleHere(session, System.currentTimeMillis())
                || moves.mayHaveMoved(session.getIdInternal(), session.knownCurrentAt(), SessionMoves.now());
    }

    /**
     * A request of this node wrote a new version. If another node may hold a copy it trusts (this
     * node took the session from the store, or heard another node serve it, within
     * {@link #CONTESTED_MILLIS}), it is told, before the response is sent.
     */
    void written(FarmSession session) {
        if (mode != Mode.STICKY) {
            return;
        }
        long since = SessionMoves.now() - CONTESTED_MILLIS;
        if (session.servedFromStoreAt() >= since || moves.heardOf(session.getIdInternal(), since)) {
            announce(session);
        }
    }

    private static boolean idleHere(FarmSession session, long now) {
        int maxInactive = session.getMaxInactiveInterval();
        return maxInactive > 0 && now - session.getThisAccessedTimeInternal() >= maxInactive * 1000L;
    }

    /**
     * Brings a local copy up to the store's version: one primary-key read, and a load only when
     * another node wrote since. While the store is down the copy is served as it is.
     *
     * @return false when the session is gone from the store (the copy is dropped)
     */
    private boolean upToDate(FarmSession session) {
        if (!gate.open()) {
            return true;
        }
        String id = session.getIdInternal();
        long checkedAt = SessionMoves.now();
        try {
            Prefetched prefetched = PREFETCHED.get();
            Stamp stamp;
            if (mode == Mode.SHARED && prefetched != null && prefetched.loader() == this && prefetched.id().equals(id)) {
                PREFETCHED.remove();
                stamp = prefetched.stamp();
            } else {
                stamp = store.stamp(id);
            }
            if (stamp != null && stamp.version() <= session.storedVersion()) {
                gate.succeeded();
                session.accessedElsewhere(stamp.lastAccess(), stamp.expiresAt());
                servingHere(session, checkedAt);
                return true;
            }
            StoredSession stored = stamp == null ? null : store.load(id);
            gate.succeeded();
            if (mode == Mode.STICKY) {
                movesCaught.increment();
            }
            if (stored == null) {
                if (movedMeanwhile(session, id)) {
                    return upToDate(session);
                }
                manager.goneElsewhere(session);
                return false;
            }
            checkpointer.refresh(session, stored);
            servingHere(session, checkedAt);
        } catch (SQLException e) {
            gate.failed(e);
        }
        return true;
    }

    /**
     * No row under {@code id}: a {@link SessionRebinder} of this node may be moving the session to
     * another id, its row moved and its copy not yet. Waits for the move to finish (it holds the
     * checkpoint lock throughout), and says whether the copy now has another id to check.
     */
    private static boolean movedMeanwhile(FarmSession session, String id) {
        session.checkpointLock.lock();
        session.checkpointLock.unlock();
        return session.isValid() && !session.getIdInternal().equals(id);
    }

    /**
     * The copy is the store's newest as of {@code checkedAt}. In sticky mode the other nodes are
     * told, before this request is answered, that their copies may be old from now on.
     */
    private void servingHere(FarmSession session, long checkedAt) {
        session.knownCurrentAt(checkedAt);
        announce(session);
    }

    /**
     * Sticky mode: this node serves the session from what the store holds. A notice that cannot be
     * sent means the store failed: the node goes to its degraded mode, where every node serves
     * what it has.
     */
    private void announce(FarmSession session) {
        if (mode != Mode.STICKY) {
            return;
        }
        session.servedFromStore(SessionMoves.now());
        try {
            moves.announce(session.getIdInternal());
        } catch (SQLException e) {
            gate.failed(e);
        }
    }

    private record Loaded(FarmSession session, boolean byThisRequest) {
    }

    private Loaded load(String id) {
        if (!gate.open()) {
            return null;
        }
        synchronized (loadLocks[Math.floorMod(id.hashCode(), loadLocks.length)]) {
            if (manager.localCopy(id) instanceof FarmSession again) {
                return new Loaded(again, false);
            }
            long loadedAt = SessionMoves.now();
            StoredSession stored;
            try {
                stored = store.load(id);
                gate.succeeded();
            } catch (SQLException e) {
                gate.failed(e);
                return null;
            }
            if (stored == null || stored.expired()) {
                return null;
            }
            FarmSession session = (FarmSession) manager.createEmptySession();
            session.restore(stored, codec, manager.webappClassLoader());
            session.knownCurrentAt(loadedAt);
            manager.add(session);
            loadsFromStore.increment();
            session.activate();
            return new Loaded(session, true);
        }
    }
}
