package io.sessionfarm.token;

import java.io.IOException;

import org.apache.catalina.connector.Request;
import org.apache.catalina.connector.Response;

import io.sessionfarm.session.SessionFarm;
import io.sessionfarm.token.TokenStore.Family;

/**
 * One request's view of its token: what it presented, which family it turned out to be, and
 * whether a token cookie is on its way out. Accepting a family is what makes the request carry
 * the family's session.
 */
final class Exchange {

    final Request request;
    final Response response;
    /** The family the request's token belongs to; null if it presented none that passed. */
    Family family;
    TokenState state;
    /** It presented a token cookie, and none passed. */
    boolean rejected;
    /** The token this response sets, once one is set. */
    String cookieValue;
    /** The route cookie was considered for this response, sent or not (see {@link RouteCookie}). */
    boolean routeCookieHandled;

    private final SessionFarm farm;
    private final OutageMemory memory;
    private final TokenCookie cookie;

    Exchange(Request request, Response response, SessionFarm farm, OutageMemory memory, TokenCookie cookie) {
        this.request = request;
        this.response = response;
        this.farm = farm;
        this.memory = memory;
        this.cookie = cookie;
    }

    /** The request carries the row's session; with {@code sendCookie}, the response carries its current token. */
    void accept(Family row, TokenState state, boolean sendCookie) {
        family = row;
        this.state = state;
        memory.remember(row);
        request.setAttribute(TokenValve.STATE_ATTRIBUTE, state.attributeValue());
        farm.prefetched(row.sessionId(), row.stamp());
        request.setRequestedSessionId(row.sessionId());
        request.setRequestedSessionCookie(true);
        if (sendCookie) {
            cookie.send(this, row);
        }
    }

    /**
     * The request carries the token's session unverified: nothing new is remembered of the token,
     * the Manager is told of no stamp, and no cookie goes out.
     */
    void acceptUnverified(Family claimed) {
        family = claimed;
        state = TokenState.UNVERIFIED;
        request.setRequestedSessionId(claimed.sessionId());
        request.setRequestedSessionCookie(true);
        request.setAttribute(TokenValve.STATE_ATTRIBUTE, state.attributeValue());
    }

    /** Applies what the verifier decided of the request's token. */
    void take(TokenVerifier.Verdict verdict) {
        if (!verdict.passes()) {
            rejected = true;
        } else if (verdict.state() == TokenState.UNVERIFIED) {
            acceptUnverified(verdict.family());
        } else {
            accept(verdict.family(), verdict.state(), verdict.sendCookie());
        }
    }

    /**
     * The request's path inside the context, decoded and normalized by Tomcat. The context path is
     * the configured one: the request's own ({@code getContextPath()}) is raw text from the client,
     * path parameters ({@code ;...}) included.
     */
    String path() {
        String uri = request.getDecodedRequestURI();
        String contextPath = contextPath();
        return uri == null ? "/" : uri.substring(Math.min(uri.length(), contextPath.length()));
    }

    /** The context's configured path: "" for the root context. */
    String contextPath() {
        return request.getContext() == null ? "" : request.getContext().getPath();
    }

    /** Answers the request here, with a short plain-text page. */
    void answer(int status, String message) throws IOException {
        response.setStatus(status);
        response.setContentType("text/plain;charset=UTF-8");
        response.getWriter().println(message);
    }
}
