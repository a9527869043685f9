package io.sessionfarm.keys;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.util.Arrays;
import java.util.Base64;
import java.util.EnumSet;
import java.util.Set;

import javax.crypto.SecretKey;
import javax.crypto.spec.SecretKeySpec;

/**
 * The farm master key: 32 random bytes, base64, from a file or an environment variable and never
 * from the database. It only wraps the data keys of the {@link KeyRing}; a database reader
 * without it learns no key.
 */
public final class MasterKey {

    /** Where a node finds the master key when no file is configured. */
    public static final String ENVIRONMENT_VARIABLE = "SESSIONFARM_MASTER_KEY";
    static final String HOW_TO_MAKE = "make one with: openssl rand -base64 32";

    private final SecretKey key;

    private MasterKey(byte[] bytes) {
        this.key = new SecretKeySpec(bytes, "AES");
    }

    /**
     * The key in {@code file}, or if that is null, in {@link #ENVIRONMENT_VARIABLE}. The message of
     * the exception says what is wrong and how to fix it, and never contains key material.
     */
    public static MasterKey load(String file, java.util.function.Function<String, String> environment) {
        String text;
        String source;
        if (file != null && !file.isBlank()) {
            source = "masterKeyFile [" + file + "]";
            try {
                text = Files.readString(Path.of(file), StandardCharsets.US_ASCII);
            } catch (IOException e) {
                throw new IllegalArgumentException(source + " cannot be read (" + e.getClass().getSimpleName() + "); "
                        + HOW_TO_MAKE + " > " + file);
            }
        } else {
            source = "environment variable " + ENVIRONMENT_VARIABLE;
            text = environment.apply(ENVIRONMENT_VARIABLE);
            if (text == null || text.isBlank()) {
                throw new IllegalArgumentException("no farm master key: set masterKeyFile, or the " + source
                        + "; every node of the farm needs the same key; " + HOW_TO_MAKE);
            }
        }
        byte[] bytes;
        try {
            bytes = Base64.getDecoder().decode(text.strip());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(source + " does not hold base64 text; " + HOW_TO_MAKE);
        }
        if (bytes.length != 32) {
            throw new IllegalArgumentException(source + " holds " + bytes.length + " bytes, not 32; " + HOW_TO_MAKE);
        }
        if (file != null && !file.isBlank()) {
            refuseIfOthersMayRead(Path.of(file), source);
        }
        try {
            return new MasterKey(bytes);
        } finally {
            Arrays.fill(bytes, (byte) 0);
        }
    }

    /** Whoever can read the file can open every stored key: only its owner may (mode 600 or 400). */
    private static void refuseIfOthersMayRead(Path file, String source) {
        Set<PosixFilePermission> permissions;
        try {
            permissions = Files.getPosixFilePermissions(file);
        } catch (UnsupportedOperationException | IOException e) {
            return; // not a POSIX file system: its own access control applies
        }
        Set<PosixFilePermission> others = EnumSet.of(PosixFilePermission.GROUP_READ, PosixFilePermission.GROUP_WRITE,
                PosixFilePermission.GROUP_EXECUTE, PosixFilePermission.OTHERS_READ, PosixFilePermission.OTHERS_WRITE,
                PosixFilePermission.OTHERS_EXECUTE);
        others.retainAll(permissions);
        if (!others.isEmpty()) {
            throw new IllegalArgumentException(source + " is open to its group or to others (" + PosixFilePermissions
                    .toString(permissions) + "); only its owner may read it: chmod 600 " + file);
        }
    }

    /** Like {@link #load}, but null when neither the file nor the environment variable is given. */
    public static MasterKey loadIfConfigured(String file, java.util.function.Function<String, String> environment) {
        if ((file == null || file.isBlank()) && (environment.apply(ENVIRONMENT_VARIABLE) == null
                || environment.apply(ENVIRONMENT_VARIABLE).isBlank())) {
            return null;
        }
        return load(file, environment);
    }

    public static MasterKey of(byte[] bytes) {
        if (bytes.length != 32) {
            throw new IllegalArgumentException("a master key has 32 bytes");
        }
        return new MasterKey(bytes.clone());
    }

    /** Encrypts a data key; the purpose and id are bound as associated data, so rows cannot be swapped. */
    byte[] wrap(String purpose, int id, byte[] dataKey) throws GeneralSecurityException {
        return Aead.seal(key, associated(purpose, id), dataKey);
    }

    byte[] unwrap(String purpose, int id, byte[] wrapped) throws GeneralSecurityException {
        return Aead.open(key, associated(purpose, id), wrapped, 0, wrapped.length);
    }

    private static byte[] associated(String purpose, int id) {
        byte[] name = ("sessionfarm key ring/" + purpose).getBytes(StandardCharsets.UTF_8);
        return ByteBuffer.allocate(name.length + 4).put(name).putInt(id).array();
    }
}
