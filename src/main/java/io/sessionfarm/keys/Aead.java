package io.sessionfarm.keys;

import java.security.GeneralSecurityException;
import java.security.SecureRandom;

import javax.crypto.Cipher;
import javax.crypto.SecretKey;
import javax.crypto.spec.GCMParameterSpec;

/** AES-GCM from the JDK: a random 12-byte nonce in front of the ciphertext and its 16-byte tag. */
public final class Aead {

    public static final int NONCE_BYTES = 12;
    public static final int TAG_BYTES = 16;
    public static final int OVERHEAD = NONCE_BYTES + TAG_BYTES;

    private static final SecureRandom RANDOM = new SecureRandom();
    private static final ThreadLocal<Cipher> CIPHER = ThreadLocal.withInitial(() -> {
        try {
            return Cipher.getInstance("AES/GCM/NoPadding");
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("this JDK has no AES/GCM", e);
        }
    });

    private Aead() {
    }

    /** nonce || ciphertext || tag */
    public static byte[] seal(SecretKey key, byte[] associated, byte[] plaintext) throws GeneralSecurityException {
        byte[] out = new byte[NONCE_BYTES + plaintext.length + TAG_BYTES];
        byte[] nonce = new byte[NONCE_BYTES];
        RANDOM.nextBytes(nonce);
        System.arraycopy(nonce, 0, out, 0, NONCE_BYTES);
        Cipher cipher = CIPHER.get();
        cipher.init(Cipher.ENCRYPT_MODE, key, new GCMParameterSpec(TAG_BYTES * 8, nonce));
        cipher.updateAAD(associated);
        cipher.doFinal(plaintext, 0, plaintext.length, out, NONCE_BYTES);
        return out;
    }

    /** Opens what {@link #seal} made from {@code in[offset, offset+length)}; throws if it was altered. */
    public static byte[] open(SecretKey key, byte[] associated, byte[] in, int offset, int length)
            throws GeneralSecurityException {
        if (length < OVERHEAD) {
            throw new javax.crypto.AEADBadTagException("too short");
        }
        Cipher cipher = CIPHER.get();
        cipher.init(Cipher.DECRYPT_MODE, key, new GCMParameterSpec(TAG_BYTES * 8, in, offset, NONCE_BYTES));
        cipher.updateAAD(associated);
        return cipher.doFinal(in, offset + NONCE_BYTES, length - NONCE_BYTES);
    }
}
