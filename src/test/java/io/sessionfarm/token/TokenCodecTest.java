package io.sessionfarm.token;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Random;

import javax.crypto.spec.SecretKeySpec;

import org.junit.jupiter.api.Test;

import io.sessionfarm.keys.KeyRing;
import io.sessionfarm.token.TokenCodec.BadToken;
import io.sessionfarm.token.TokenCodec.Rejection;

class TokenCodecTest {

    private static final KeyRing.Key KEY = new KeyRing.Key(42, new SecretKeySpec(new byte[32], "AES"));
    private static final KeyRing.Key OTHER = new KeyRing.Key(42, new SecretKeySpec(filled(7), "AES"));
    private static final TokenCodec CODEC = new TokenCodec("__Host-sessionfarm", "localhost/");
    private static final TokenCodec.Keys KEYS = id -> id == KEY.id() ? KEY.secret() : null;

    private static byte[] filled(int b) {
        return filled(b, 32);
    }

    private static byte[] filled(int b, int n) {
        byte[] bytes = new byte[n];
        java.util.Arrays.fill(bytes, (byte) b);
        return bytes;
    }

    private static Token token() {
        return new Token(filled(1, 16), filled(2, 16), 7, 1_700_000_000_000L, "0123456789ABCDEF0123456789ABCDEF", KEY.id());
    }

    @Test
    void roundTripsAndHidesTheSessionId() throws Exception {
        Token token = token();
        String sealed = CODEC.seal(token, KEY);
        assertEquals(token, CODEC.open(sealed, KEYS));
        assertFalse(new String(Base64.getUrlDecoder().decode(sealed), StandardCharsets.ISO_8859_1).contains(token.sessionId()));
        assertTrue(sealed.matches("[A-Za-z0-9_-]+"), "a cookie-safe value");
        assertTrue(sealed.length() <= TokenCodec.MAX_LENGTH);
    }

    @Test
    void sameTokenTwiceIsTwoDifferentCiphertexts() throws Exception {
        assertFalse(CODEC.seal(token(), KEY).equals(CODEC.seal(token(), KEY)), "a fresh nonce each time");
    }

    @Test
    void everyFlippedBitIsRefused() throws Exception {
        byte[] bytes = Base64.getUrlDecoder().decode(CODEC.seal(token(), KEY));
        for (int i = 0; i < bytes.length * 8; i++) {
            byte[] copy = bytes.clone();
            copy[i / 8] ^= (byte) (1 << (i % 8));
            String value = Base64.getUrlEncoder().withoutPadding().encodeToString(copy);
            BadToken e = assertThrows(BadToken.class, () -> CODEC.open(value, KEYS), "bit " + i);
            assertTrue(e.getMessage().matches("[a-z_]+"), "the reason only, never the value");
        }
    }

    @Test
    void wrongKeyUnknownKeyOtherCookieOtherAppAreRefused() throws Exception {
        String sealed = CODEC.seal(token(), KEY);
        assertEquals(Rejection.TAMPERED, assertThrows(BadToken.class, () -> CODEC.open(sealed, id -> OTHER.secret())).reason());
        assertEquals(Rejection.UNKNOWN_KEY, assertThrows(BadToken.class, () -> CODEC.open(sealed, id -> null)).reason());
        assertEquals(Rejection.TAMPERED, assertThrows(BadToken.class,
                () -> new TokenCodec("other", "localhost/").open(sealed, KEYS)).reason(), "bound to its cookie name");
        assertEquals(Rejection.TAMPERED, assertThrows(BadToken.class,
                () -> new TokenCodec("__Host-sessionfarm", "localhost/shop").open(sealed, KEYS)).reason(), "bound to its app");
    }

    @Test
    void missingTruncatedOversizedAndGarbageAreMalformed() throws Exception {
        String sealed = CODEC.seal(token(), KEY);
        for (String value : new String[] {null, "", "x", "%%%%", sealed.substring(0, sealed.length() / 2),
                sealed + sealed, "A".repeat(TokenCodec.MAX_LENGTH + 1), "not a token at all", "AQAAACo" }) {
            assertThrows(BadToken.class, () -> CODEC.open(value, KEYS), String.valueOf(value));
        }
    }

    /**
     * A bounded fuzz run: random strings, random bytes, and mutations of a real token (flips,
     * truncations, splices) must only ever be refused with {@link BadToken}: no other exception,
     * and whatever opens is the original token (a splice can rebuild the original text).
     */
    @Test
    void fuzzedInputsAreRefusedCleanly() throws Exception {
        Random random = new Random(Long.getLong("sessionfarm.fuzzSeed", 20261122L));
        String sealed = CODEC.seal(token(), KEY);
        byte[] real = Base64.getUrlDecoder().decode(sealed);
        String alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/.%; \u0000\u00e9";
        for (int i = 0; i < 200_000; i++) {
            String value = switch (i % 4) {
                case 0 -> {
                    StringBuilder b = new StringBuilder();
                    int n = random.nextInt(TokenCodec.MAX_LENGTH + 20);
                    for (int j = 0; j < n; j++) {
                        b.append(alphabet.charAt(random.nextInt(alphabet.length())));
                    }
                    yield b.toString();
                }
                case 1 -> {
                    byte[] bytes = new byte[random.nextInt(300)];
                    random.nextBytes(bytes);
                    if (bytes.length > 0 && random.nextBoolean()) {
                        bytes[0] = 1; // a plausible version byte
                    }
                    yield Base64.getUrlEncoder().withoutPadding().encodeToString(bytes);
                }
                case 2 -> {
                    byte[] bytes = real.clone();
                    for (int flips = 1 + random.nextInt(4); flips > 0; flips--) {
                        bytes[random.nextInt(bytes.length)] ^= (byte) (1 + random.nextInt(255));
                    }
                    yield Base64.getUrlEncoder().withoutPadding().encodeToString(bytes);
                }
                default -> {
                    int cut = random.nextInt(sealed.length());
                    String piece = sealed.substring(random.nextInt(sealed.length()));
                    yield random.nextBoolean() ? sealed.substring(0, cut) + piece : piece + sealed.substring(cut);
                }
            };
            try {
                assertEquals(token(), CODEC.open(value, KEYS), "only the original opens");
            } catch (BadToken expected) {
                // the only other acceptable outcome
            }
        }
    }
}
