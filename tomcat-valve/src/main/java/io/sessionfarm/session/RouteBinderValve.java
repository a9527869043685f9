package io.sessionfarm.session;

import java.io.IOException;
import java.util.Map;
import java.util.TreeMap;

import jakarta.servlet.ServletException;

import org.apache.catalina.Context;
import org.apache.catalina.LifecycleException;
import org.apache.catalina.Valve;
import org.apache.catalina.connector.Request;
import org.apache.catalina.connector.Response;
import org.apache.catalina.valves.ValveBase;
import org.apache.juli.logging.Log;
import org.apache.juli.logging.LogFactory;
import org.apache.tomcat.util.res.StringManager;

import io.sessionfarm.config.Attributes;

/**
 * Keeps a sticky balancer that routes by the session id's {@code jvmRoute} suffix (HAProxy,
 * Apache httpd's {@code mod_proxy_balancer}, mod_jk) working after a failover, as Tomcat's
 * {@code JvmRouteBinderValve} does for its cluster: a request whose session id names another
 * node's route ({@code abc.node1} on node2) gets the session under this node's
 * ({@code abc.node2}) and a new session cookie, so the balancer sends its next requests here.
 * <pre>
 *   &lt;Engine name="Catalina" defaultHost="localhost" jvmRoute="node2"&gt;   (server.xml)
 *   &lt;Valve className="io.sessionfarm.session.RouteBinderValve" grace="30"/&gt;   (context.xml)
 * </pre>
 * The old id leads to the new one for {@code grace} seconds (1 to 600, default 30), so that a
 * browser's parallel requests still carrying it find the session on any node; then it is dead.
 * With the token valve the session id never reaches the browser: use its {@code routeCookie}.
 */
public final class RouteBinderValve extends ValveBase {

    private static final Log log = LogFactory.getLog(RouteBinderValve.class);
    private static final StringManager sm = StringManager.getManager(RouteBinderValve.class);

    private final Map<String, String> raw = new TreeMap<>();
    private final Attributes.Unknown unknownAttributes = new Attributes.Unknown();
    private String route;
    private long graceMillis;

    public RouteBinderValve() {
        super(true);
    }

    public void setGrace(String value) { Attributes.set(raw, "grace", value); }

    /** An attribute with no setter is almost always a typo: remembered, and refused at start. */
    public boolean setProperty(String name, String value) {
        return unknownAttributes.add(name);
    }

    @Override
    protected void startInternal() throws LifecycleException {
        if (!unknownAttributes.names().isEmpty()) {
            throw new LifecycleException(sm.getString("routeBinderValve.badConfiguration", getContainer().getName(),
                    "unknown attribute(s) " + unknownAttributes.names() + "; its attribute is [grace]"));
        }
        try {
            graceMillis = Attributes.integer(raw, "grace", 30, 1, 600, "whole seconds from 1 to 600") * 1000L;
        } catch (IllegalArgumentException e) {
            throw new LifecycleException(sm.getString("routeBinderValve.badConfiguration", getContainer().getName(), e.getMessage()));
        }
        try {
            route = SessionFarm.usableJvmRoute(getContainer());
        } catch (IllegalArgumentException e) {
            throw new LifecycleException(sm.getString("routeBinderValve.noJvmRoute", getContainer().getName(), e.getMessage()));
        }
        for (Valve valve : getContainer().getPipeline().getValves()) {
            // By name: the session package knows nothing of the token package (docs/layout.md).
            if (valve.getClass().getName().equals("io.sessionfarm.token.TokenValve")) {
                throw new LifecycleException(sm.getString("routeBinderValve.tokenValve", getContainer().getName()));
            }
        }
        super.startInternal();
    }

    @Override
    public void invoke(Request request, Response response) throws IOException, ServletException {
        String requested = request.getRequestedSessionId();
        Context context = request.getContext();
        if (requested != null && context != null && context.getManager() instanceof FarmManager manager) {
            String id = manager.rebind(requested, route, graceMillis);
            if (!id.equals(requested)) {
                // The request carries the session's id from here on, and the browser gets it as its cookie.
                request.changeSessionId(id);
                if (log.isDebugEnabled()) {
                    log.debug(sm.getString("routeBinderValve.rebound", context.getName(), route));
                }
            }
        }
        getNext().invoke(request, response);
    }
}
