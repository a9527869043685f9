package io.sessionfarm.tls;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.security.SecureRandom;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import org.apache.juli.logging.Log;
import org.apache.juli.logging.LogFactory;
import org.apache.tomcat.util.res.StringManager;

/**
 * The four OpenSSL callbacks, installed on every shared host's {@code SSL_CTX}. They run on
 * Tomcat's worker threads in the middle of a handshake: each one catches everything (an exception
 * escaping an upcall kills the JVM) and a failure is a full handshake, never an error. The stubs
 * live as long as the JVM, as old contexts may still call after a reload.
 */
final class TlsCallbacks {

    private static final Log log = LogFactory.getLog(TlsCallbacks.class);
    private static final StringManager sm = StringManager.getManager(TlsCallbacks.class);
    private static final SecureRandom RANDOM = new SecureRandom();

    /** The per-connection mark of how a handshake resumed, in the {@code SSL}'s ex_data. */
    static final long RESUMED_BY_TICKET = 1;
    static final long RESUMED_BY_CACHE = 2;
    static final long COUNTED_FULL = 3;
    static final int EX_INDEX;

    static final MemorySegment NEW_SESSION;
    static final MemorySegment GET_SESSION;
    static final MemorySegment REMOVE_SESSION;
    static final MemorySegment TICKET_KEY;
    private static final MemorySegment AES_256_CBC;

    /** The host each farm {@code SSL_CTX} serves, by the context's address. */
    private static final Map<Long, FarmTls.Binding> BINDINGS = new ConcurrentHashMap<>();

    static {
        try {
            // SSL_get_ex_new_index is a macro over this; CRYPTO_EX_INDEX_SSL is 0
            EX_INDEX = (int) OpenSsl.CRYPTO_get_ex_new_index.invokeExact(0, 0L, MemorySegment.NULL,
                    MemorySegment.NULL, MemorySegment.NULL, MemorySegment.NULL);
            AES_256_CBC = (MemorySegment) OpenSsl.EVP_aes_256_cbc.invokeExact();
        } catch (Throwable t) {
            throw new ExceptionInInitializerError(t);
        }
        NEW_SESSION = OpenSsl.upcall(TlsCallbacks.class, "newSession", OpenSsl.NEW_SESSION);
        GET_SESSION = OpenSsl.upcall(TlsCallbacks.class, "getSession", OpenSsl.GET_SESSION);
        REMOVE_SESSION = OpenSsl.upcall(TlsCallbacks.class, "removeSession", OpenSsl.REMOVE_SESSION);
        TICKET_KEY = OpenSsl.upcall(TlsCallbacks.class, "ticketKey", OpenSsl.TICKET_KEY);
    }

    private TlsCallbacks() {
    }

    static void bind(MemorySegment ctx, FarmTls.Binding binding) {
        BINDINGS.put(ctx.address(), binding);
    }

    static void unbindAll(FarmTls farm) {
        BINDINGS.values().removeIf(b -> b.farm() == farm);
    }

    private static FarmTls.Binding binding(MemorySegment ssl) throws Throwable {
        MemorySegment ctx = (MemorySegment) OpenSsl.SSL_get_SSL_CTX.invokeExact(ssl);
        return BINDINGS.get(ctx.address());
    }

    /** {@code int new_session_cb(SSL *, SSL_SESSION *)}: returns 0, so OpenSSL keeps no extra reference. */
    static int newSession(MemorySegment ssl, MemorySegment session) {
        try {
            FarmTls.Binding binding = binding(ssl);
            if (binding == null) {
                return 0;
            }
            countIfFull(ssl, binding.farm().stats());
            // A TLS 1.3 stateless ticket carries the session itself: nothing to store (nginx skips them too).
            if ((int) OpenSsl.SSL_version.invokeExact(ssl) == OpenSsl.TLS1_3_VERSION && !binding.statefulTickets()) {
                return 0;
            }
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment length = arena.allocate(JAVA_INT);
                MemorySegment idPointer = (MemorySegment) OpenSsl.SSL_SESSION_get_id.invokeExact(session, length);
                byte[] id = idPointer.reinterpret(length.get(JAVA_INT, 0)).toArray(JAVA_BYTE);
                int size = (int) OpenSsl.i2d_SSL_SESSION.invokeExact(session, MemorySegment.NULL);
                if (id.length == 0 || size <= 0 || size > TlsSessionCache.MAX_SESSION_BYTES) {
                    return 0;
                }
                MemorySegment der = arena.allocate(size);
                MemorySegment cursor = arena.allocate(ADDRESS);
                cursor.set(ADDRESS, 0, der);
                int written = (int) OpenSsl.i2d_SSL_SESSION.invokeExact(session, cursor);
                long timeout = (long) OpenSsl.SSL_SESSION_get_timeout.invokeExact(session);
                byte[] bytes = der.asSlice(0, written).toArray(JAVA_BYTE);
                der.fill((byte) 0); // the session's secret
                binding.farm().cache().sessionCreated(binding, id, bytes, timeout);
            }
        } catch (Throwable t) {
            failed(Callback.NEW_SESSION, t);
        }
        return 0;
    }

    /**
     * {@code SSL_SESSION *get_session_cb(SSL *, const unsigned char *id, int len, int *copy)}: a
     * fresh session from {@code d2i} has one reference, which {@code *copy = 0} hands to OpenSSL.
     */
    static MemorySegment getSession(MemorySegment ssl, MemorySegment id, int length, MemorySegment copy) {
        try {
            FarmTls.Binding binding = binding(ssl);
            if (binding == null || length <= 0) {
                return MemorySegment.NULL;
            }
            byte[] der = binding.farm().cache().lookup(binding, id.reinterpret(length).toArray(JAVA_BYTE));
            if (der == null) {
                return MemorySegment.NULL;
            }
            MemorySegment session;
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment buffer = arena.allocateFrom(JAVA_BYTE, der);
                java.util.Arrays.fill(der, (byte) 0);
                MemorySegment cursor = arena.allocate(ADDRESS);
                cursor.set(ADDRESS, 0, buffer);
                session = (MemorySegment) OpenSsl.d2i_SSL_SESSION.invokeExact(MemorySegment.NULL, cursor, buffer.byteSize());
                buffer.fill((byte) 0);
            }
            if (session.equals(MemorySegment.NULL)) {
                binding.farm().cache().unreadable(TlsSessionCache.Unreadable.NOT_A_SESSION);
                return MemorySegment.NULL;
            }
            copy.reinterpret(JAVA_INT.byteSize()).set(JAVA_INT, 0, 0);
            setMark(ssl, RESUMED_BY_CACHE);
            binding.farm().stats().resumedByCache();
            return session;
        } catch (Throwable t) {
            failed(Callback.GET_SESSION, t);
            return MemorySegment.NULL;
        }
    }

    /**
     * {@code void remove_session_cb(SSL_CTX *, SSL_SESSION *)}: ignored. It fires on OpenSSL's
     * local evictions and on every unclean close; passing those on deleted sessions that were
     * still good on other nodes. Stored sessions end by their own TTL. Never frees the session.
     */
    static void removeSession(MemorySegment ctx, MemorySegment session) {
    }

    /**
     * {@code int ticket_key_cb(SSL *, unsigned char key_name[16], unsigned char *iv,
     * EVP_CIPHER_CTX *, EVP_MAC_CTX *, int enc)}. Encrypting: the current key, a fresh IV; returns 1
     * (0 would send no ticket). Decrypting: 0 for a key this farm does not know (a full handshake),
     * 2 to renew a ticket of a previous or next key and every TLS 1.3 ticket (clients such as
     * Chrome use a TLS 1.3 ticket once), else 1.
     */
    static int ticketKey(MemorySegment ssl, MemorySegment name, MemorySegment iv, MemorySegment cipher,
            MemorySegment mac, int encrypt) {
        try {
            FarmTls.Binding binding = binding(ssl);
            if (binding == null) {
                return 0;
            }
            FarmTlsStats stats = binding.farm().stats();
            TicketKeys keys = binding.farm().keys().ticketKeys();
            MemorySegment keyName = name.reinterpret(TicketKeys.NAME_BYTES);
            MemorySegment ivBytes = iv.reinterpret(OpenSsl.TICKET_IV_BYTES);
            TicketKeys.TicketKey key;
            if (encrypt == 1) {
                key = keys.current();
                MemorySegment.copy(key.name(), 0, keyName, JAVA_BYTE, 0, key.name().length);
                byte[] fresh = new byte[OpenSsl.TICKET_IV_BYTES];
                RANDOM.nextBytes(fresh);
                MemorySegment.copy(fresh, 0, ivBytes, JAVA_BYTE, 0, fresh.length);
            } else {
                key = keys.find(keyName.toArray(JAVA_BYTE));
                if (key == null) {
                    stats.unknownTicketKey();
                    return 0;
                }
            }
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment aesKey = arena.allocateFrom(JAVA_BYTE, key.aesKey());
                int ok = encrypt == 1
                        ? (int) OpenSsl.EVP_EncryptInit_ex.invokeExact(cipher, AES_256_CBC, MemorySegment.NULL, aesKey, ivBytes)
                        : (int) OpenSsl.EVP_DecryptInit_ex.invokeExact(cipher, AES_256_CBC, MemorySegment.NULL, aesKey, ivBytes);
                aesKey.fill((byte) 0);
                if (ok != 1 || !macKey(arena, mac, key.hmacKey())) {
                    return 0;
                }
            }
            if (encrypt == 1) {
                stats.ticketIssued();
                countIfFull(ssl, stats); // TLS 1.2 with a ticket calls no new-session callback
                return 1;
            }
            setMark(ssl, RESUMED_BY_TICKET);
            stats.resumedByTicket();
            boolean tls13 = (int) OpenSsl.SSL_version.invokeExact(ssl) == OpenSsl.TLS1_3_VERSION;
            return keys.isCurrent(key) && !tls13 ? 1 : 2;
        } catch (Throwable t) {
            failed(Callback.TICKET_KEY, t);
            return 0;
        }
    }

    /** {@code EVP_MAC_CTX_set_params(mac, {"key": hmacKey, "digest": "SHA256"})}. */
    private static boolean macKey(Arena arena, MemorySegment mac, byte[] hmacKey) throws Throwable {
        MemorySegment params = arena.allocate(OpenSsl.OSSL_PARAM_BYTES * 3); // zeroed: the third ends the list
        MemorySegment key = arena.allocateFrom(JAVA_BYTE, hmacKey);
        param(params, 0, arena.allocateFrom("key"), OpenSsl.OSSL_PARAM_OCTET_STRING, key, hmacKey.length);
        param(params, 1, arena.allocateFrom("digest"), OpenSsl.OSSL_PARAM_UTF8_STRING, arena.allocateFrom("SHA256"), 6);
        int ok = (int) OpenSsl.EVP_MAC_CTX_set_params.invokeExact(mac, params);
        key.fill((byte) 0);
        return ok == 1;
    }

    private static void param(MemorySegment params, int index, MemorySegment key, int type, MemorySegment data,
            long size) {
        long at = index * OpenSsl.OSSL_PARAM_BYTES;
        params.set(ADDRESS, at, key);
        params.set(JAVA_INT, at + 8, type);
        params.set(ADDRESS, at + 16, data);
        params.set(JAVA_LONG, at + 24, size);
        params.set(JAVA_LONG, at + 32, OpenSsl.OSSL_PARAM_UNMODIFIED);
    }

    /**
     * Counts the connection's handshake as full, once, if it did not resume. Called where a
     * session is born: the new-session callback (twice per TLS 1.3 handshake, once per ticket),
     * and the ticket callback, the only one a TLS 1.2 handshake that sends a ticket makes.
     */
    private static void countIfFull(MemorySegment ssl, FarmTlsStats stats) throws Throwable {
        if ((int) OpenSsl.SSL_session_reused.invokeExact(ssl) == 0 && mark(ssl) != COUNTED_FULL) {
            setMark(ssl, COUNTED_FULL);
            stats.fullHandshake();
        }
    }

    static long mark(MemorySegment ssl) throws Throwable {
        return ((MemorySegment) OpenSsl.SSL_get_ex_data.invokeExact(ssl, EX_INDEX)).address();
    }

    private static void setMark(MemorySegment ssl, long mark) throws Throwable {
        int ignored = (int) OpenSsl.SSL_set_ex_data.invokeExact(ssl, EX_INDEX, MemorySegment.ofAddress(mark));
    }

    private enum Callback { NEW_SESSION, GET_SESSION, TICKET_KEY }

    /** Logs what failed, never the session or key bytes; called from upcalls, so it throws nothing itself. */
    private static void failed(Callback callback, Throwable t) {
        try {
            log.warn(switch (callback) {
                case NEW_SESSION -> sm.getString("tlsCallbacks.newSessionFailed", t);
                case GET_SESSION -> sm.getString("tlsCallbacks.getSessionFailed", t);
                case TICKET_KEY -> sm.getString("tlsCallbacks.ticketKeyFailed", t);
            });
        } catch (Throwable ignored) {
            // an exception escaping an upcall would end the JVM
        }
    }
}
