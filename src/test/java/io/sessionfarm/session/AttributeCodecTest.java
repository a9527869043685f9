package io.sessionfarm.session;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.InvalidClassException;
import java.io.NotSerializableException;
import java.io.Serializable;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import org.junit.jupiter.api.Test;

class AttributeCodecTest {

    /** A class of the "webapp" that the built-in allow-list does not name. */
    record Cart(List<String> items) implements Serializable {
    }

    private static AttributeCodec codec(String allowedClasses) {
        return new AttributeCodec(ManagerSettings.parse(Map.of("jdbcUrl", "jdbc:postgresql://x/y",
                "allowedClasses", allowedClasses)).deserializationFilter());
    }

    private final ClassLoader loader = getClass().getClassLoader();

    @Test
    void jdkValueTypesRoundTrip() throws Exception {
        Map<String, Object> value = new LinkedHashMap<>(Map.of("n", 1, "list", new ArrayList<>(List.of("a"))));
        assertEquals(value, codec("").deserialize(AttributeCodec.serialize(value), loader));
    }

    @Test
    void classOutsideTheAllowListIsRefusedBeforeItIsBuilt() throws Exception {
        byte[] bytes = AttributeCodec.serialize(new Cart(List.of("teapot")));
        assertThrows(InvalidClassException.class, () -> codec("").deserialize(bytes, loader));
        assertEquals(new Cart(List.of("teapot")), codec("io.sessionfarm.session.*").deserialize(bytes, loader));
    }

    @Test
    void dynamicProxiesAreRefused() throws Exception {
        Object proxy = Proxy.newProxyInstance(loader, new Class<?>[] {Runnable.class},
                (SerializableHandler) (p, m, a) -> null);
        byte[] bytes = AttributeCodec.serialize(proxy);
        assertThrows(InvalidClassException.class, () -> codec("io.sessionfarm.**").deserialize(bytes, loader));
    }

    interface SerializableHandler extends java.lang.reflect.InvocationHandler, Serializable {
    }

    @Test
    void notSerializableNamesTheClass() {
        NotSerializableException e = assertThrows(NotSerializableException.class,
                () -> AttributeCodec.serialize(List.of(new Object())));
        assertTrue(e.getMessage().contains("java.lang.Object"));
    }

    @Test
    void trailingBytesAreRefused() throws Exception {
        byte[] bytes = AttributeCodec.serialize("x");
        byte[] longer = java.util.Arrays.copyOf(bytes, bytes.length + 1);
        assertThrows(java.io.IOException.class, () -> codec("").deserialize(longer, loader));
    }

    @Test
    void garbageAndMutatedBytesNeverEscapeAsAnythingButAnException() throws Exception {
        AttributeCodec codec = codec("");
        byte[] good = AttributeCodec.serialize(new ArrayList<>(List.of("a", "b", 3)));
        Random random = new Random(42);
        for (int i = 0; i < 5_000; i++) {
            byte[] input = i % 2 == 0 ? good.clone() : new byte[random.nextInt(64)];
            if (i % 2 == 0) {
                input[random.nextInt(input.length)] ^= (byte) (1 + random.nextInt(255));
            } else {
                random.nextBytes(input);
            }
            try {
                codec.deserialize(input, loader);
            } catch (Exception expected) {
                // refused cleanly
            }
        }
    }

    @Test
    void immutableTypesAreRecognised() {
        assertTrue(AttributeCodec.isImmutable("s"));
        assertTrue(AttributeCodec.isImmutable(42));
        assertTrue(AttributeCodec.isImmutable(Thread.State.NEW));
        assertFalse(AttributeCodec.isImmutable(new ArrayList<>()));
        assertFalse(AttributeCodec.isImmutable(new StringBuilder()));
    }
}
