package io.sessionfarm.session;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;

import org.apache.catalina.connector.Connector;
import org.apache.catalina.connector.Request;
import org.apache.catalina.connector.Response;
import org.apache.catalina.valves.ValveBase;
import org.apache.tomcat.util.net.SSLSupport;
import org.junit.jupiter.api.Test;

/** What the checkpoint valve publishes of a request's TLS, read through Tomcat's own request attributes. */
class CheckpointValveTlsTest {

    /** What the next valve saw as the request's "resumed" attribute. */
    private static Object resumedSeenBy(Object sslSessionManager) throws Exception {
        org.apache.coyote.Request coyote = new org.apache.coyote.Request();
        coyote.setAttribute(SSLSupport.SESSION_MGR, sslSessionManager);
        Request request = new Request(new Connector("HTTP/1.1"));
        request.setCoyoteRequest(coyote); // Tomcat 10.1's way; 11 also takes it in the constructor
        request.setSecure(true); // as the connector's adapter marks a request that came over TLS
        AtomicReference<Object> seen = new AtomicReference<>();
        CheckpointValve valve = new CheckpointValve();
        valve.setNext(new ValveBase() {
            @Override
            public void invoke(Request r, Response response) {
                seen.set(r.getAttribute("io.sessionfarm.tls.resumed"));
            }
        });
        valve.invoke(request, null);
        return seen.get();
    }

    /** An SSLSupport that, like sessionfarm's, also supplies how the handshake resumed. */
    private static Object support(String resumed) {
        return java.lang.reflect.Proxy.newProxyInstance(CheckpointValveTlsTest.class.getClassLoader(),
                new Class<?>[] {SSLSupport.class, Supplier.class},
                (proxy, method, args) -> method.getName().equals("get") ? resumed : null);
    }

    @Test
    void howTheHandshakeResumedIsPublishedWhenTheTlsSupportSuppliesIt() throws Exception {
        assertEquals("ticket", resumedSeenBy(support("ticket")));
        assertEquals("cache", resumedSeenBy(support("cache")));
    }

    @Test
    void nothingIsPublishedWhenItIsUnknown() throws Exception {
        assertNull(resumedSeenBy(support(null)));
        assertNull(resumedSeenBy(java.lang.reflect.Proxy.newProxyInstance(CheckpointValveTlsTest.class.getClassLoader(),
                new Class<?>[] {SSLSupport.class}, (proxy, method, args) -> null)), "Tomcat's own SSLSupport");
    }
}
