package io.sessionfarm.tls;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;

import org.apache.tomcat.util.res.StringManager;

/**
 * The OpenSSL calls Tomcat's FFM connector does not bind, bound here with the Foreign Function
 * &amp; Memory API against the same library Tomcat loaded (its {@code LIBRARY_NAME} property, else
 * {@code libssl}; libcrypto's symbols are found through libssl's dependencies, as Tomcat does).
 * Facts behind each choice are in {@code shared/research/tls-ffm-facts.md}.
 */
final class OpenSsl {

    // SSL_CTX_ctrl commands (the macros of ssl.h)
    static final int CTRL_SET_SESS_CACHE_SIZE = 42;
    static final int CTRL_SET_SESS_CACHE_MODE = 44;
    static final int CTRL_SESS_ACCEPT_GOOD = 25;
    static final int CTRL_SESS_HIT = 27;

    // Cache mode: a server cache whose only store is ours, so OpenSSL's local evictions never
    // reach the farm (the remove callback still fires on them; it is ignored).
    static final long SESS_CACHE_SERVER = 0x2;
    static final long SESS_CACHE_NO_INTERNAL = 0x300;

    static final long OP_NO_TICKET = 1L << 14;
    static final int TLS1_3_VERSION = 0x0304;
    static final int TICKET_IV_BYTES = 16; // AES-256-CBC

    // OSSL_PARAM { const char *key; unsigned int data_type; void *data; size_t data_size; size_t return_size; }
    static final long OSSL_PARAM_BYTES = 40;
    static final int OSSL_PARAM_UTF8_STRING = 4;
    static final int OSSL_PARAM_OCTET_STRING = 5;
    static final long OSSL_PARAM_UNMODIFIED = -1L;

    // before the bindings below, whose errors it words
    private static final StringManager sm = StringManager.getManager(OpenSsl.class);
    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LOOKUP = SymbolLookup.libraryLookup(System.mapLibraryName(
            System.getProperty("org.apache.tomcat.util.openssl.LIBRARY_NAME", "ssl")), Arena.global());

    static final MethodHandle SSL_CTX_ctrl = bind("SSL_CTX_ctrl", JAVA_LONG, ADDRESS, JAVA_INT, JAVA_LONG, ADDRESS);
    static final MethodHandle SSL_CTX_get_options = bind("SSL_CTX_get_options", JAVA_LONG, ADDRESS);
    static final MethodHandle SSL_CTX_get_timeout = bind("SSL_CTX_get_timeout", JAVA_LONG, ADDRESS);
    static final MethodHandle SSL_CTX_set_timeout = bind("SSL_CTX_set_timeout", JAVA_LONG, ADDRESS, JAVA_LONG);
    static final MethodHandle SSL_CTX_set_session_id_context =
            bind("SSL_CTX_set_session_id_context", JAVA_INT, ADDRESS, ADDRESS, JAVA_INT);
    static final MethodHandle SSL_CTX_sess_set_new_cb = bindVoid("SSL_CTX_sess_set_new_cb", ADDRESS, ADDRESS);
    static final MethodHandle SSL_CTX_sess_set_get_cb = bindVoid("SSL_CTX_sess_set_get_cb", ADDRESS, ADDRESS);
    static final MethodHandle SSL_CTX_sess_set_remove_cb = bindVoid("SSL_CTX_sess_set_remove_cb", ADDRESS, ADDRESS);
    static final MethodHandle SSL_CTX_set_tlsext_ticket_key_evp_cb =
            bind("SSL_CTX_set_tlsext_ticket_key_evp_cb", JAVA_INT, ADDRESS, ADDRESS);
    static final MethodHandle SSL_get_SSL_CTX = bind("SSL_get_SSL_CTX", ADDRESS, ADDRESS);
    static final MethodHandle SSL_version = bind("SSL_version", JAVA_INT, ADDRESS);
    static final MethodHandle SSL_session_reused = bind("SSL_session_reused", JAVA_INT, ADDRESS);
    static final MethodHandle SSL_set_ex_data = bind("SSL_set_ex_data", JAVA_INT, ADDRESS, JAVA_INT, ADDRESS);
    static final MethodHandle SSL_get_ex_data = bind("SSL_get_ex_data", ADDRESS, ADDRESS, JAVA_INT);
    static final MethodHandle i2d_SSL_SESSION = bind("i2d_SSL_SESSION", JAVA_INT, ADDRESS, ADDRESS);
    static final MethodHandle d2i_SSL_SESSION = bind("d2i_SSL_SESSION", ADDRESS, ADDRESS, ADDRESS, JAVA_LONG);
    static final MethodHandle SSL_SESSION_free = bindVoid("SSL_SESSION_free", ADDRESS);
    static final MethodHandle SSL_SESSION_get_id = bind("SSL_SESSION_get_id", ADDRESS, ADDRESS, ADDRESS);
    static final MethodHandle SSL_SESSION_get_timeout = bind("SSL_SESSION_get_timeout", JAVA_LONG, ADDRESS);
    static final MethodHandle CRYPTO_get_ex_new_index = bind("CRYPTO_get_ex_new_index", JAVA_INT,
            JAVA_INT, JAVA_LONG, ADDRESS, ADDRESS, ADDRESS, ADDRESS);
    static final MethodHandle EVP_aes_256_cbc = bind("EVP_aes_256_cbc", ADDRESS);
    static final MethodHandle EVP_EncryptInit_ex =
            bind("EVP_EncryptInit_ex", JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS);
    static final MethodHandle EVP_DecryptInit_ex =
            bind("EVP_DecryptInit_ex", JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS);
    static final MethodHandle EVP_MAC_CTX_set_params = bind("EVP_MAC_CTX_set_params", JAVA_INT, ADDRESS, ADDRESS);

    // The callbacks' C shapes
    static final FunctionDescriptor NEW_SESSION = FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS);
    static final FunctionDescriptor GET_SESSION = FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS, JAVA_INT, ADDRESS);
    static final FunctionDescriptor REMOVE_SESSION = FunctionDescriptor.ofVoid(ADDRESS, ADDRESS);
    static final FunctionDescriptor TICKET_KEY =
            FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_INT);

    private OpenSsl() {
    }

    private static MethodHandle bind(String name, java.lang.foreign.MemoryLayout result,
            java.lang.foreign.MemoryLayout... args) {
        return LINKER.downcallHandle(symbol(name), FunctionDescriptor.of(result, args));
    }

    private static MethodHandle bindVoid(String name, java.lang.foreign.MemoryLayout... args) {
        return LINKER.downcallHandle(symbol(name), FunctionDescriptor.ofVoid(args));
    }

    private static MemorySegment symbol(String name) {
        return LOOKUP.find(name).orElseThrow(() -> new UnsatisfiedLinkError(sm.getString("openSsl.missingSymbol", name)));
    }

    /**
     * A function pointer to a static method of {@code owner}, alive for the JVM's life: Tomcat
     * frees an old {@code SSL_CTX} some time after a reload, while its connections may still call.
     */
    static MemorySegment upcall(Class<?> owner, String method, FunctionDescriptor shape) {
        try {
            MethodType type = shape.toMethodType();
            MethodHandle target = MethodHandles.lookup().findStatic(owner, method, type);
            return LINKER.upcallStub(target, shape, Arena.global());
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(e);
        }
    }

    static long ctrl(MemorySegment ctx, int command, long value) {
        try {
            return (long) SSL_CTX_ctrl.invokeExact(ctx, command, value, MemorySegment.NULL);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }
}
