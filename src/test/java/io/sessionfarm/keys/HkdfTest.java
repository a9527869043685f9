package io.sessionfarm.keys;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.util.Arrays;
import java.util.HexFormat;

import org.junit.jupiter.api.Test;

class HkdfTest {

    /** RFC 5869, test case 1: the first 32 bytes of the output keying material from its PRK and info. */
    @Test
    void matchesTheRfcTestVector() throws Exception {
        HexFormat hex = HexFormat.of();
        byte[] prk = hex.parseHex("077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5");
        byte[] info = hex.parseHex("f0f1f2f3f4f5f6f7f8f9");
        assertArrayEquals(hex.parseHex("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"),
                Hkdf.expand(prk, info));
    }

    @Test
    void eachUseGetsAKeyOfItsOwn() throws Exception {
        byte[] ringKey = new byte[32];
        Arrays.fill(ringKey, (byte) 7);
        byte[] cache = Hkdf.expand(ringKey, "sessionfarm tls session cache");
        byte[] hmac = Hkdf.expand(ringKey, "sessionfarm tls ticket hmac");
        assertFalse(Arrays.equals(cache, hmac));
        assertFalse(Arrays.equals(cache, ringKey));
        assertFalse(Arrays.equals(hmac, ringKey));
    }
}
