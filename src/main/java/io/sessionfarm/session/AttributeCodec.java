package io.sessionfarm.session;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InvalidClassException;
import java.io.ObjectInputFilter;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.ObjectStreamClass;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.LocalTime;
import java.time.OffsetDateTime;
import java.time.ZonedDateTime;
import java.util.Set;
import java.util.UUID;

import io.sessionfarm.keys.Sha256;

/**
 * One attribute value to bytes and back. Values are read with the webapp's class loader and only
 * through the configured {@link ObjectInputFilter}, so a row naming a class outside the allow-list
 * is refused before any of its code runs.
 */
final class AttributeCodec {

    /** Types whose instances cannot change after construction: only setAttribute can change them. */
    private static final Set<Class<?>> IMMUTABLE = Set.of(String.class, Boolean.class, Character.class, Byte.class,
            Short.class, Integer.class, Long.class, Float.class, Double.class, BigInteger.class, BigDecimal.class,
            UUID.class, Instant.class, Duration.class, LocalDate.class, LocalTime.class, LocalDateTime.class,
            OffsetDateTime.class, ZonedDateTime.class);

    private final ObjectInputFilter filter;

    AttributeCodec(ObjectInputFilter filter) {
        this.filter = filter;
    }

    static boolean isImmutable(Object value) {
        return IMMUTABLE.contains(value.getClass()) || value instanceof Enum<?>;
    }

    /** @throws java.io.NotSerializableException naming the first class in the value that cannot be written */
    static byte[] serialize(Object value) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(256);
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(value);
        }
        return bytes.toByteArray();
    }

    Object deserialize(byte[] bytes, ClassLoader loader) throws IOException, ClassNotFoundException {
        try (ObjectInputStream in = new WebappObjectInputStream(bytes, loader)) {
            in.setObjectInputFilter(filter);
            Object value = in.readObject();
            if (in.read() != -1) {
                throw new IOException("trailing bytes after the attribute value");
            }
            return value;
        }
    }

    /** A stored value read back: the object, or why it could not be. */
    record Read(Object value, Exception problem) {
    }

    /** Reads a stored value back; a null {@code stored} is a value the store could not decrypt. */
    Read read(byte[] stored, ClassLoader loader) {
        if (stored == null) {
            return new Read(null, new IOException(
                    "its stored value cannot be decrypted: altered, or under a key not in this node's ring"));
        }
        try {
            return new Read(deserialize(stored, loader), null);
        } catch (IOException | ClassNotFoundException | RuntimeException e) {
            return new Read(null, e);
        }
    }

    /** Compares serialized forms: equal digests mean the stored copy is still current. */
    static byte[] digest(byte[] bytes) {
        return Sha256.of(bytes);
    }

    private static final class WebappObjectInputStream extends ObjectInputStream {
        private final ClassLoader loader;

        WebappObjectInputStream(byte[] bytes, ClassLoader loader) throws IOException {
            super(new ByteArrayInputStream(bytes));
            this.loader = loader;
        }

        @Override
        protected Class<?> resolveClass(ObjectStreamClass desc) throws IOException, ClassNotFoundException {
            try {
                return Class.forName(desc.getName(), false, loader);
            } catch (ClassNotFoundException e) {
                return super.resolveClass(desc); // primitives and their arrays
            }
        }

        @Override
        protected Class<?> resolveProxyClass(String[] interfaces) throws IOException {
            throw new InvalidClassException("dynamic proxies are never read back from the session store");
        }
    }
}
