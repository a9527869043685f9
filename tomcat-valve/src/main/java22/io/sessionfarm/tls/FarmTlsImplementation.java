package io.sessionfarm.tls;

import java.lang.foreign.MemorySegment;
import java.lang.reflect.Field;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

import javax.net.ssl.SSLSession;

import org.apache.tomcat.util.net.SSLHostConfigCertificate;
import org.apache.tomcat.util.net.SSLImplementation;
import org.apache.tomcat.util.net.SSLSupport;
import org.apache.tomcat.util.net.SSLUtil;
import org.apache.tomcat.util.net.jsse.JSSESupport;
import org.apache.tomcat.util.res.StringManager;

/**
 * Tomcat's FFM OpenSSL implementation, whose per-request TLS view also tells how the connection's
 * handshake resumed. A request reads it through the standard {@code ssl_session_mgr} attribute, as a
 * {@code Supplier<String>}; sessionfarm's checkpoint valve publishes it as the request attribute {@code io.sessionfarm.tls.resumed}.
 * <p>
 * It delegates to Tomcat's, found by name: that class ships only in the distribution's
 * {@code lib/tomcat-coyote-ffm.jar}, which is not published to Maven Central to compile against.
 */
public class FarmTlsImplementation extends SSLImplementation {


    private static final StringManager sm = StringManager.getManager(FarmTlsImplementation.class);

    private final SSLImplementation openSsl;

    public FarmTlsImplementation() {
        try {
            openSsl = SSLImplementation.getInstance(TlsSharing.TOMCAT_OPENSSL);
        } catch (ClassNotFoundException | RuntimeException e) {
            throw new IllegalStateException(sm.getString("farmTlsImplementation.noOpenSsl", TlsSharing.TOMCAT_OPENSSL), e);
        }
    }

    @Override
    public SSLSupport getSSLSupport(SSLSession session, Map<String, List<String>> additionalAttributes) {
        return new Support(session, additionalAttributes);
    }

    @Override
    public SSLUtil getSSLUtil(SSLHostConfigCertificate certificate) {
        return openSsl.getSSLUtil(certificate);
    }

    /**
     * Tomcat's JSSE-style view of the session, plus {@link #resumed()}, which it also supplies as a
     * {@code Supplier<String>}: a JDK type, so that sessions read it without a TLS class.
     */
    public static final class Support extends JSSESupport implements Supplier<String> {

        // OpenSSLEngine keeps its SSL* private: OpenSSLSession -> its engine -> state -> ssl.
        // Read once per request and only here; tested against the Tomcat version the build names.
        private static final Field ENGINE;
        private static final Field STATE;
        private static final Field SSL;

        static {
            Field engine = null;
            Field state = null;
            Field ssl = null;
            try {
                Class<?> sessionClass = Class.forName("org.apache.tomcat.util.net.openssl.panama.OpenSSLEngine$OpenSSLSession");
                engine = sessionClass.getDeclaredField("this$0");
                engine.setAccessible(true);
                state = engine.getType().getDeclaredField("state");
                state.setAccessible(true);
                ssl = state.getType().getDeclaredField("ssl");
                ssl.setAccessible(true);
            } catch (ReflectiveOperationException | RuntimeException e) {
                engine = null;
            }
            ENGINE = engine;
            STATE = state;
            SSL = ssl;
        }

        private final SSLSession session;

        Support(SSLSession session, Map<String, List<String>> additionalAttributes) {
            super(session, additionalAttributes);
            this.session = session;
        }

        /**
         * "ticket" or "cache" if this connection resumed a session that way, "yes" if it resumed on
         * a local host, "no" if not, null if unknown.
         */
        public String resumed() {
            if (ENGINE == null) {
                return null;
            }
            try {
                MemorySegment ssl = (MemorySegment) SSL.get(STATE.get(ENGINE.get(session)));
                if ((int) OpenSsl.SSL_session_reused.invokeExact(ssl) == 0) {
                    return "no";
                }
                long mark = TlsCallbacks.mark(ssl);
                return mark == TlsCallbacks.RESUMED_BY_CACHE ? "cache" : mark == TlsCallbacks.RESUMED_BY_TICKET ? "ticket" : "yes";
            } catch (Throwable t) {
                return null;
            }
        }

        /** {@link #resumed()}. */
        @Override
        public String get() {
            return resumed();
        }
    }
}
