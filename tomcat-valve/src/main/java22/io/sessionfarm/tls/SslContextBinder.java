package io.sessionfarm.tls;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.Locale;

import org.apache.juli.logging.Log;
import org.apache.juli.logging.LogFactory;
import org.apache.tomcat.util.net.SSLContext;
import org.apache.tomcat.util.net.SSLHostConfig;
import org.apache.tomcat.util.net.SSLHostConfigCertificate;
import org.apache.tomcat.util.res.StringManager;

import io.sessionfarm.keys.Sha256;

/**
 * Joins each certificate's {@code SSL_CTX} of a shared host to the farm, right after Tomcat made
 * it: a session id context of the host's own, OpenSSL's session cache handed to the farm's
 * callbacks, the farm's ticket keys, and a session lifetime no longer than one key rotation.
 */
final class SslContextBinder {

    private static final Log log = LogFactory.getLog(SslContextBinder.class);
    private static final StringManager sm = StringManager.getManager(SslContextBinder.class);

    private final FarmTls farm;
    private final TlsSettings settings;
    private final String connector;

    SslContextBinder(FarmTls farm, TlsSettings settings, String connector) {
        this.farm = farm;
        this.settings = settings;
        this.connector = connector;
    }

    /**
     * Binds every certificate's {@code SSL_CTX} of {@code host}: at start and on every reload of the
     * host's TLS configuration. A local host keeps Tomcat's own behaviour (tickets under a key of
     * this node, no session cache).
     */
    void attach(SSLHostConfig host) {
        String hostName = host.getHostName();
        for (SSLHostConfigCertificate certificate : host.getCertificates(true)) {
            MemorySegment ctx = nativeContext(certificate.getSslContext());
            if (ctx == null) {
                throw new IllegalArgumentException(FarmTlsProtocol.notOpenSsl(connector));
            }
            if (!settings.shared(hostName)) {
                continue;
            }
            try {
                long options = (long) OpenSsl.SSL_CTX_get_options.invokeExact(ctx);
                boolean statefulTickets = (options & OpenSsl.OP_NO_TICKET) != 0;
                String verification = verification(host);
                FarmTls.Binding binding = new FarmTls.Binding(farm, hostName,
                        namespace(hostName, certificate, verification), settings.singleUse(hostName), statefulTickets);
                install(ctx, hostName, verification);
                TlsCallbacks.bind(ctx, binding);
            } catch (Throwable t) {
                throw new IllegalStateException(sm.getString("sslContextBinder.installFailed", hostName, connector, t), t);
            }
        }
    }

    /**
     * The {@code SSL_CTX} of Tomcat's FFM {@code OpenSSLContext} (its public {@code getSSLContext()},
     * called by name: the class is not on Maven Central to compile against), or null for any other
     * kind of context, such as JSSE's.
     */
    private static MemorySegment nativeContext(SSLContext context) {
        try {
            Method method = context.getClass().getMethod("getSSLContext");
            return method.getReturnType() == MemorySegment.class ? (MemorySegment) method.invoke(context) : null;
        } catch (ReflectiveOperationException | RuntimeException e) {
            return null;
        }
    }

    private void install(MemorySegment ctx, String hostName, String verification) throws Throwable {
        // Tomcat gives every host the session id context "default": a session of one host would
        // resume on another. A context per host name and client verification makes OpenSSL refuse
        // that, for tickets too: a session made where no client certificate was asked for does not
        // resume where one is required, or where other certificate authorities are trusted.
        byte[] sidContext = Sha256.of("sessionfarm host " + hostName.toLowerCase(Locale.ROOT) + "\0" + verification);
        try (Arena arena = Arena.ofConfined()) {
            int ignored = (int) OpenSsl.SSL_CTX_set_session_id_context.invokeExact(ctx,
                    arena.allocateFrom(ValueLayout.JAVA_BYTE, sidContext), sidContext.length);
        }
        OpenSsl.ctrl(ctx, OpenSsl.CTRL_SET_SESS_CACHE_MODE, OpenSsl.SESS_CACHE_SERVER | OpenSsl.SESS_CACHE_NO_INTERNAL);
        OpenSsl.SSL_CTX_sess_set_new_cb.invokeExact(ctx, TlsCallbacks.NEW_SESSION);
        OpenSsl.SSL_CTX_sess_set_get_cb.invokeExact(ctx, TlsCallbacks.GET_SESSION);
        OpenSsl.SSL_CTX_sess_set_remove_cb.invokeExact(ctx, TlsCallbacks.REMOVE_SESSION);
        int ignored = (int) OpenSsl.SSL_CTX_set_tlsext_ticket_key_evp_cb.invokeExact(ctx, TlsCallbacks.TICKET_KEY);
        // RFC 9325: a ticket lives at most half as long as its key (a key lasts two rotations).
        long timeout = (long) OpenSsl.SSL_CTX_get_timeout.invokeExact(ctx);
        long limit = settings.ticketKeyRotationSeconds();
        if (timeout > limit) {
            long previous = (long) OpenSsl.SSL_CTX_set_timeout.invokeExact(ctx, limit);
            log.info(sm.getString("sslContextBinder.timeoutCapped", hostName, connector, Long.toString(limit),
                    Long.toString(previous)));
        }
    }

    /**
     * Sessions of one host, certificate and client verification are found only by the same host,
     * certificate and client verification.
     */
    private static byte[] namespace(String hostName, SSLHostConfigCertificate certificate, String verification) {
        String identity = certificate.getType() + "\0"
                + (certificate.getCertificateFile() != null ? certificate.getCertificateFile()
                        : certificate.getCertificateKeystoreFile() + "#" + certificate.getCertificateKeyAlias());
        return Sha256.of(hostName.toLowerCase(Locale.ROOT) + "\0" + identity + "\0" + verification);
    }

    /**
     * What a host asks of clients: whether it verifies their certificates, how deep, and against
     * which authorities (by the content of the trust files, so that nodes with the files in other
     * places still agree).
     */
    static String verification(SSLHostConfig host) {
        StringBuilder trusted = new StringBuilder();
        for (String file : new String[] {host.getCaCertificateFile(), host.getCaCertificatePath(), host.getTruststoreFile(),
                host.getCertificateRevocationListFile(), host.getCertificateRevocationListPath()}) {
            trusted.append('\0').append(file == null ? "" : contentOrName(file));
        }
        return host.getCertificateVerification() + "\0" + host.getCertificateVerificationDepth() + trusted;
    }

    private static String contentOrName(String file) {
        try {
            Path path = Path.of(file);
            if (Files.isRegularFile(path)) {
                return HexFormat.of().formatHex(Sha256.of(Files.readAllBytes(path)));
            }
        } catch (IOException | RuntimeException e) {
            // unreadable here: its name stands for it
        }
        return file;
    }
}
