package io.sessionfarm.tls;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.ByteBuffer;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.Map;

import javax.crypto.SecretKey;
import javax.crypto.spec.SecretKeySpec;

import org.junit.jupiter.api.Test;

class TicketKeysTest {

    private static SecretKey random() {
        byte[] bytes = new byte[32];
        new SecureRandom().nextBytes(bytes);
        return new SecretKeySpec(bytes, "AES");
    }

    private static final Map<Integer, SecretKey> RING = Map.of(7, random(), 8, random(), 9, random());

    @Test
    void thePrimaryEncryptsAndEveryKeyOfTheRingDecrypts() throws Exception {
        TicketKeys keys = TicketKeys.derive(RING, 8);
        assertEquals(3, keys.size());
        assertEquals(8, ByteBuffer.wrap(keys.current().name()).getInt());
        for (int id : RING.keySet()) {
            TicketKeys.TicketKey key = TicketKeys.derive(Map.of(id, RING.get(id)), id).current();
            TicketKeys.TicketKey found = keys.find(key.name());
            assertArrayEquals(key.aesKey(), found.aesKey());
            assertEquals(id == 8, keys.isCurrent(found));
        }
    }

    @Test
    void everyNodeDerivesTheSameKeysFromTheSameRing() throws Exception {
        TicketKeys one = TicketKeys.derive(RING, 7);
        TicketKeys two = TicketKeys.derive(Map.copyOf(RING), 7);
        assertArrayEquals(one.current().name(), two.current().name());
        assertArrayEquals(one.current().hmacKey(), two.current().hmacKey());
        assertArrayEquals(one.current().aesKey(), two.current().aesKey());
    }

    @Test
    void theKeysAreSizedForAes256AndHmacSha256AndIndependent() throws Exception {
        TicketKeys.TicketKey key = TicketKeys.derive(RING, 9).current();
        assertEquals(16, key.name().length);
        assertEquals(32, key.hmacKey().length);
        assertEquals(32, key.aesKey().length);
        assertFalse(Arrays.equals(key.hmacKey(), key.aesKey()));
        assertFalse(Arrays.equals(key.aesKey(), RING.get(9).getEncoded()), "the ring's key itself is never used");
    }

    @Test
    void anUnknownNameFindsNothing() throws Exception {
        TicketKeys keys = TicketKeys.derive(RING, 7);
        assertNull(keys.find(new byte[16]));
        byte[] altered = keys.current().name().clone();
        altered[15] ^= 1;
        assertNull(keys.find(altered));
    }

    @Test
    void aNodesLocalKeyIsItsOwn() {
        TicketKeys one = TicketKeys.local();
        TicketKeys two = TicketKeys.local();
        assertSame(one.current(), one.find(one.current().name()));
        assertNull(one.find(two.current().name()));
        assertNotEquals(ByteBuffer.wrap(one.current().aesKey()), ByteBuffer.wrap(two.current().aesKey()));
    }

    @Test
    void aRingWithoutItsPrimaryIsRefused() {
        assertThrows(GeneralSecurityException.class, () -> TicketKeys.derive(RING, 99));
    }
}
