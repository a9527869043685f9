package io.sessionfarm.tls;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.Arrays;

import org.junit.jupiter.api.Test;

class LocalTierTest {

    private static byte[] id(int n) {
        return new byte[] {(byte) n, 42};
    }

    @Test
    void theLeastRecentlyUsedSessionGoesFirst() {
        LocalTier tier = new LocalTier(2);
        tier.put(id(1), new byte[] {1}, Long.MAX_VALUE);
        tier.put(id(2), new byte[] {2}, Long.MAX_VALUE);
        assertNotNull(tier.get(id(1), 0), "1 is now the most recently used");
        tier.put(id(3), new byte[] {3}, Long.MAX_VALUE);
        assertEquals(2, tier.size());
        assertNull(tier.get(id(2), 0));
        assertArrayEquals(new byte[] {1}, tier.get(id(1), 0));
        assertArrayEquals(new byte[] {3}, tier.get(id(3), 0));
    }

    @Test
    void anExpiredSessionIsAMiss() {
        LocalTier tier = new LocalTier(2);
        tier.put(id(1), new byte[] {1}, 1000);
        assertNotNull(tier.get(id(1), 999));
        assertNull(tier.get(id(1), 1000));
    }

    @Test
    void aHitIsACopyThatTheHandshakeMayWipe() {
        LocalTier tier = new LocalTier(2);
        tier.put(id(1), new byte[] {7, 7}, Long.MAX_VALUE);
        Arrays.fill(tier.get(id(1), 0), (byte) 0);
        assertArrayEquals(new byte[] {7, 7}, tier.get(id(1), 0));
    }

    @Test
    void sizeZeroKeepsNothing() {
        LocalTier tier = new LocalTier(0);
        tier.put(id(1), new byte[] {1}, Long.MAX_VALUE);
        assertEquals(0, tier.size());
        assertNull(tier.get(id(1), 0));
    }
}
