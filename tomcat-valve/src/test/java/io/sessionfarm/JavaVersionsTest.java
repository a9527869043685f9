package io.sessionfarm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.jar.JarFile;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;

import io.sessionfarm.store.Database;
import io.sessionfarm.tls.FarmTlsProtocol;

/**
 * The JAR runs on Java 17: every class is compiled for 17 except the TLS part (src/main/java22),
 * which is for 22, and no Java 17 class names one of those, so nothing loads them on an older JVM
 * (TlsSharing reaches them by name, after checking the JVM). Reads the class files' versions and
 * constant pools, as compiled by whichever JDK runs this build.
 */
class JavaVersionsTest {

    private static final int JAVA_17 = 61;
    private static final int JAVA_22 = 66;

    @Test
    void everyClassIsForJava17ButTheTlsPartAndNoneNamesIt() throws Exception {
        Map<String, byte[]> classes = new TreeMap<>();
        read(Database.class, classes);
        read(FarmTlsProtocol.class, classes);
        assertTrue(classes.size() > 100, "the core's and the Tomcat side's classes: " + classes.size());
        List<String> java22 = new ArrayList<>();
        classes.forEach((name, bytes) -> {
            int major = ((bytes[6] & 0xff) << 8) | (bytes[7] & 0xff);
            if (major == JAVA_22) {
                java22.add(name);
            } else {
                assertEquals(JAVA_17, major, name + " is not for Java 17");
            }
        });
        for (String name : java22) {
            assertTrue(name.startsWith("io/sessionfarm/tls/"), name + ": only the TLS part is for Java 22");
        }
        boolean tlsPartBuilt = FarmTlsProtocol.class.getClassLoader()
                .getResource("io/sessionfarm/tls/FarmTlsImplementation.class") != null;
        assertEquals(tlsPartBuilt, !java22.isEmpty(), "the TLS part is built exactly when this JDK can: " + java22);
        for (Map.Entry<String, byte[]> entry : classes.entrySet()) {
            if (java22.contains(entry.getKey())) {
                continue;
            }
            for (String part : java22) {
                String type = part.substring(0, part.length() - ".class".length());
                assertFalse(namesClass(entry.getValue(), type), entry.getKey() + " names " + type);
            }
        }
    }

    /** Whether a class file's constant pool holds {@code type} as a class name or in a descriptor. */
    private static boolean namesClass(byte[] classFile, String type) {
        String text = new String(classFile, StandardCharsets.ISO_8859_1);
        byte[] name = type.getBytes(StandardCharsets.ISO_8859_1);
        // A CONSTANT_Utf8 entry of exactly the name: tag 1, two length bytes, the name.
        String entry = "\u0001" + (char) (name.length >> 8) + (char) (name.length & 0xff) + type;
        return text.contains(entry) || text.contains("L" + type + ";");
    }

    /** The class files of the directory or JAR that {@code member} was loaded from. */
    private static void read(Class<?> member, Map<String, byte[]> into) throws IOException, URISyntaxException {
        Path location = Path.of(member.getProtectionDomain().getCodeSource().getLocation().toURI());
        if (Files.isDirectory(location)) {
            try (Stream<Path> files = Files.walk(location)) {
                for (Path file : files.filter(f -> f.toString().endsWith(".class")).toList()) {
                    into.put(location.relativize(file).toString(), Files.readAllBytes(file));
                }
            }
            return;
        }
        try (JarFile jar = new JarFile(location.toFile())) {
            for (var entry : jar.stream().filter(e -> e.getName().endsWith(".class")).toList()) {
                try (InputStream in = jar.getInputStream(entry)) {
                    into.put(entry.getName(), in.readAllBytes());
                }
            }
        }
    }
}
