package io.sessionfarm.token;

import java.sql.SQLException;

import org.apache.catalina.Session;
import org.apache.juli.logging.Log;
import org.apache.tomcat.util.res.StringManager;

import io.sessionfarm.store.StoreGate;
import io.sessionfarm.token.TokenStore.Family;

/**
 * Keeps token families in step with their sessions, as the Manager reports them: a new session
 * gets a new family and its first token, a login moves the browser's family to the new id and
 * revokes every other one, and a session's end revokes them all, farm-wide.
 */
final class SessionEvents {

    private static final StringManager sm = StringManager.getManager(SessionEvents.class);

    private final TokenStore store;
    private final StoreGate gate;
    private final OutageMemory memory;
    private final TokenCookie cookie;
    private final TokenStats stats;
    private final Log log;
    private final String app;

    SessionEvents(TokenStore store, StoreGate gate, OutageMemory memory, TokenCookie cookie, TokenStats stats, Log log,
            String app) {
        this.store = store;
        this.gate = gate;
        this.memory = memory;
        this.cookie = cookie;
        this.stats = stats;
        this.log = log;
        this.app = app;
    }

    /**
     * A session was created on the request of {@code exchange}: its first token goes out with the
     * response. While the store is down the family is owed, and written when it is back.
     */
    void created(Session session, Exchange exchange) {
        String id = session.getIdInternal();
        byte[] family = RandomIds.newId();
        byte[] tokenId = RandomIds.newId();
        Family row = null;
        if (gate.open()) {
            try {
                row = store.create(family, id, tokenId, 0);
                if (exchange.family != null) {
                    store.deleteFamily(exchange.family.sessionId(), exchange.family.family()); // its session is gone; this one replaces it
                }
                gate.succeeded();
            } catch (SQLException e) {
                gate.failed(e);
            }
        }
        if (row == null) {
            long now = System.currentTimeMillis();
            row = Family.owed(family, id, tokenId, now, now);
            memory.owe(row);
        }
        stats.tokensIssued.increment();
        exchange.accept(row, TokenState.ISSUED, true);
    }

    /**
     * A login ({@code changeSessionId}): the family of the browser that logged in follows the new
     * id with a new token, and no token minted before the login opens anything after it. Every
     * other family of the session is revoked, so a family planted by a hand-off link, or a token
     * captured before the login, dies here.
     *
     * @param exchange the request that logged in; null if this valve did not see it
     */
    void idChanged(Session session, String oldId, Exchange exchange) {
        String newId = session.getIdInternal();
        if (gate.open()) {
            try {
                // The family of this request follows the login if it belongs to the session as it
                // was (the database decides: a second login racing the first finds it moved already).
                byte[] keep = exchange != null && exchange.family != null ? exchange.family.family() : null;
                if (!store.loggedIn(oldId, newId, keep)) {
                    return;
                }
                if (exchange.cookieValue != null) {
                    // This response already carries a new token: seal it again with the new id rather
                    // than rotate twice, which would turn the browser's parallel requests into replays.
                    exchange.family = exchange.family.renamed(newId);
                    cookie.send(exchange, exchange.family);
                } else {
                    Family next = store.rotateAtLogin(exchange.family.family(), exchange.family.tokenId(), newId,
                            RandomIds.newId());
                    if (next != null) {
                        stats.tokensRotated.increment();
                        exchange.accept(next, exchange.state, true);
                    }
                }
                return;
            } catch (SQLException e) {
                gate.failed(e);
            }
        }
        loginWhileDown(session, oldId, exchange);
    }

    /**
     * The store cannot move the family now. The browser that logged in gets a family of its own
     * for the new id, written when the store is back, when every family of the old id is revoked;
     * this node refuses the old id's tokens from now on. (Keeping the old token would send the
     * browser's next request to an id that no longer exists: logged out at once.)
     */
    private void loginWhileDown(Session session, String oldId, Exchange exchange) {
        String newId = session.getIdInternal();
        memory.oweRevocation(oldId);
        if (exchange != null && exchange.family != null && oldId.equals(exchange.family.sessionId())) {
            long now = System.currentTimeMillis();
            // The absolute lifetime carries over: from the family, if this node let one of its
            // tokens pass (an unverified token does not say), else from the session's creation,
            // which no family of it precedes.
            long known = exchange.family.createdAt() > 0 ? exchange.family.createdAt()
                    : memory.createdAt(exchange.family.family());
            long createdAt = known > 0 ? known : session.getCreationTime();
            Family row = Family.owed(RandomIds.newId(), newId, RandomIds.newId(), now, createdAt);
            memory.owe(row);
            stats.tokensIssued.increment();
            exchange.accept(row, TokenState.ISSUED, true);
        }
        if (log.isDebugEnabled()) {
            log.debug(sm.getString("sessionEvents.loginWhileDown", app));
        }
    }

    /** The session was invalidated or expired: every token of it, on every node, opens nothing. */
    void ended(String sessionId) {
        if (gate.open()) {
            try {
                store.revokeSession(sessionId);
                gate.succeeded();
                return;
            } catch (SQLException e) {
                gate.failed(e);
            }
        }
        memory.oweRevocation(sessionId);
    }
}
