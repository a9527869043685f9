package io.sessionfarm.keys;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/** SHA-256, the plugin's one hash: of attribute values, hand-off codes, TLS cache keys and ids in logs. */
public final class Sha256 {

    /** One per thread: looking a digest up in the providers costs more than digesting a small value. */
    private static final ThreadLocal<MessageDigest> DIGEST = ThreadLocal.withInitial(() -> {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK has SHA-256", e);
        }
    });

    private Sha256() {
    }

    public static byte[] of(byte[]... parts) {
        MessageDigest digest = DIGEST.get();
        for (byte[] part : parts) {
            digest.update(part);
        }
        return digest.digest();
    }

    public static byte[] of(String text) {
        return of(text.getBytes(StandardCharsets.UTF_8));
    }

    /** Session ids are credentials: logs carry a short hash of one instead. */
    public static String forLog(String id) {
        return HexFormat.of().formatHex(of(id), 0, 6);
    }
}
