package io.sessionfarm.token;

import java.security.SecureRandom;
import java.util.Base64;

/** Fresh random values: family and token ids, and hand-off codes. */
final class RandomIds {

    private static final SecureRandom RANDOM = new SecureRandom();
    /** 256 bits: a code cannot be guessed within its lifetime. */
    private static final int CODE_BYTES = 32;

    private RandomIds() {
    }

    /** A family or token id. */
    static byte[] newId() {
        return newBytes(TokenCodec.ID_BYTES);
    }

    /** A hand-off code, base64url without padding: 43 characters. */
    static String newCode() {
        return Base64.getUrlEncoder().withoutPadding().encodeToString(newBytes(CODE_BYTES));
    }

    private static byte[] newBytes(int n) {
        byte[] bytes = new byte[n];
        RANDOM.nextBytes(bytes);
        return bytes;
    }
}
