package io.sessionfarm.keys;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;

import javax.crypto.Mac;
import javax.crypto.SecretKey;
import javax.crypto.spec.SecretKeySpec;

/**
 * HKDF-Expand (RFC 5869) with HMAC-SHA256, for one 32-byte key per use of a ring key: a key that
 * encrypts one kind of data is never also the HMAC key or the encryption key of another. The ring
 * keys are uniformly random, so they serve as the pseudorandom key without the extract step.
 */
public final class Hkdf {

    private Hkdf() {
    }

    /** The 32 bytes that {@code info} names, derived from {@code key}. */
    public static byte[] expand(byte[] key, String info) throws GeneralSecurityException {
        return expand(key, info.getBytes(StandardCharsets.UTF_8));
    }

    /** The first block of HKDF-Expand: T(1) = HMAC(key, info || 0x01), 32 bytes. */
    static byte[] expand(byte[] key, byte[] info) throws GeneralSecurityException {
        Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(new SecretKeySpec(key, "HmacSHA256"));
        mac.update(info);
        mac.update((byte) 1);
        return mac.doFinal();
    }

    /** An AES-256 key for {@code info}, derived from {@code key}. */
    public static SecretKey aesKey(SecretKey key, String info) throws GeneralSecurityException {
        return new SecretKeySpec(expand(key.getEncoded(), info), "AES");
    }
}
