package io.sessionfarm.session;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

import jakarta.servlet.AsyncEvent;
import jakarta.servlet.AsyncListener;
import jakarta.servlet.ServletException;

import org.apache.catalina.Globals;
import org.apache.catalina.Manager;
import org.apache.catalina.Session;
import org.apache.catalina.connector.Request;
import org.apache.catalina.connector.Response;
import org.apache.catalina.valves.ValveBase;
import org.apache.tomcat.util.net.SSLSupport;

/**
 * Ends each request with the checkpoint its session's policy asks for, before the response is
 * sent. The Manager installs it when it joins its context, ahead of the authenticator Tomcat adds
 * at start, so it also sees sessions an authenticator touched. Asynchronous requests are handled
 * when they complete.
 */
public final class CheckpointValve extends ValveBase {

    /** Sessions the current request obtained, recorded by {@link FarmSession#access()}. */
    private static final ThreadLocal<List<FarmSession>> ACCESSED = new ThreadLocal<>();
    private static final String ASYNC_NOTE = CheckpointValve.class.getName() + ".async";

    /** Session attribute: the TLS protocol and cipher suite of the request that created the session. */
    public static final String TLS_CREATED_UNDER_ATTRIBUTE = "io.sessionfarm.tls.createdUnder";
    /** Request attribute: how the connection's handshake resumed, on sessionfarm's TLS connector. */
    static final String TLS_RESUMED_ATTRIBUTE = "io.sessionfarm.tls.resumed";
    private static final ThreadLocal<String> TLS = new ThreadLocal<>();

    public CheckpointValve() {
        super(true);
    }

    static void accessed(FarmSession session) {
        List<FarmSession> sessions = ACCESSED.get();
        if (sessions != null && !sessions.contains(session)) {
            sessions.add(session);
        }
    }

    @Override
    public void invoke(Request request, Response response) throws IOException, ServletException {
        List<FarmSession> outer = ACCESSED.get();
        List<FarmSession> accessed = new ArrayList<>(1);
        ACCESSED.set(accessed);
        String outerTls = TLS.get();
        TLS.set(request.isSecure() ? publishTls(request) : null);
        try {
            getNext().invoke(request, response);
        } finally {
            ACCESSED.set(outer);
            TLS.set(outerTls);
            if (request.isAsync()) {
                completeLater(request);
            } else if (request.getNote(ASYNC_NOTE) == null) {
                accessed.forEach(CheckpointValve::requestEnded);
            }
        }
    }

    /** An async request's session is checkpointed when it completes, on whichever thread that is. */
    private static void completeLater(Request request) {
        if (request.getNote(ASYNC_NOTE) != null) {
            return;
        }
        request.setNote(ASYNC_NOTE, Boolean.TRUE);
        request.getAsyncContext().addListener(new AsyncListener() {
            @Override
            public void onComplete(AsyncEvent event) {
                Session session = request.getSessionInternal(false);
                if (session instanceof FarmSession farmSession) {
                    requestEnded(farmSession);
                }
            }

            @Override
            public void onTimeout(AsyncEvent event) {
            }

            @Override
            public void onError(AsyncEvent event) {
            }

            @Override
            public void onStartAsync(AsyncEvent event) {
                event.getAsyncContext().addListener(this);
            }
        });
    }

    /**
     * TLS state beside the HttpSession: publishes how this connection's handshake resumed, as
     * {@link #TLS_RESUMED_ATTRIBUTE} (on sessionfarm's TLS connector), and returns the protocol and
     * cipher suite a session created by this request remembers.
     */
    private static String publishTls(Request request) {
        // sessionfarm's TLS connector makes its SSLSupport a Supplier of how the handshake resumed:
        // a JDK type, so sessions need no TLS class.
        if (request.getAttribute(SSLSupport.SESSION_MGR) instanceof Supplier<?> tls && tls.get() instanceof String resumed) {
            request.setAttribute(TLS_RESUMED_ATTRIBUTE, resumed);
        }
        Object protocol = request.getAttribute(SSLSupport.PROTOCOL_VERSION_KEY); // e.g. "TLSv1.3:TLS"
        Object cipher = request.getAttribute(Globals.CIPHER_SUITE_ATTR);
        return protocol == null ? null : protocol.toString().split(":")[0] + " " + cipher;
    }

    /** The TLS protocol and cipher suite of the request this thread serves, or null (not TLS, or no request). */
    static String tlsOfCurrentRequest() {
        return TLS.get();
    }

    private static void requestEnded(FarmSession session) {
        Manager manager = session.getManager();
        if (manager instanceof FarmManager farmManager) {
            farmManager.requestEnded(session);
        }
    }
}
