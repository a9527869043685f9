package io.sessionfarm.token;

import java.security.GeneralSecurityException;

import org.apache.juli.logging.Log;
import org.apache.tomcat.util.buf.MessageBytes;
import org.apache.tomcat.util.http.MimeHeaders;
import org.apache.tomcat.util.res.StringManager;

import io.sessionfarm.keys.KeyRing;
import io.sessionfarm.token.TokenStore.Family;

/**
 * The token cookie on its way out: the family's current token sealed under the primary key, as
 * one {@code Set-Cookie} header that replaces any earlier token of the same response.
 */
final class TokenCookie {

    private static final StringManager sm = StringManager.getManager(TokenCookie.class);

    private final TokenSettings settings;
    private final TokenCodec codec;
    private final KeyRing ring;
    private final Log log;
    private final String app;

    TokenCookie(TokenSettings settings, TokenCodec codec, KeyRing ring, Log log, String app) {
        this.settings = settings;
        this.codec = codec;
        this.ring = ring;
        this.log = log;
        this.app = app;
    }

    /** Sets the row's current token on the response, unless the response is committed already. */
    void send(Exchange exchange, Family row) {
        if (exchange.response.isCommitted()) {
            if (log.isDebugEnabled()) {
                log.debug(sm.getString("tokenCookie.committed", app));
            }
            return;
        }
        KeyRing.Key key = ring.sealingKey(1);
        String value;
        try {
            value = codec.seal(row.current(key.id()), key);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("AES-GCM failed", e);
        }
        String header = header(value, exchange.contextPath());
        // A second token in one response (created, then renamed at login) replaces the first.
        MimeHeaders headers = exchange.response.getCoyoteResponse().getMimeHeaders();
        String prefix = settings.cookieName() + "=";
        boolean replaced = false;
        for (int i = 0; i < headers.size(); i++) {
            MessageBytes name = headers.getName(i);
            if (name.equalsIgnoreCase("Set-Cookie") && headers.getValue(i).toString().startsWith(prefix)) {
                headers.getValue(i).setString(header);
                replaced = true;
            }
        }
        if (!replaced) {
            exchange.response.addHeader("Set-Cookie", header);
        }
        exchange.response.setHeader("Cache-Control", "no-store");
        exchange.cookieValue = value;
    }

    /**
     * The path is the context's configured one, never the request's (which may carry {@code ;}
     * parameters); no Domain and no expiry, so the cookie stays with this host and this browser run.
     */
    private String header(String value, String contextPath) {
        StringBuilder header = new StringBuilder(settings.cookieName()).append('=').append(value)
                .append("; Path=").append(contextPath.isEmpty() ? "/" : contextPath);
        if (settings.secure()) {
            header.append("; Secure");
        }
        return header.append("; HttpOnly; SameSite=").append(settings.sameSite()).toString();
    }
}
