package io.sessionfarm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.text.MessageFormat;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * For each package of this module's main sources: every message key its classes ask a
 * {@code StringManager} for is in the package's {@code LocalStrings.properties}, and every key
 * there is asked for. Tomcat's StringManager logs a missing key as the bare key, without its
 * arguments, so a typo would lose the message silently. A package with neither calls nor a file
 * has nothing to check.
 */
class LocalStringsTest {

    private static final Path MODULE = module();
    private static final Path SOURCES = MODULE.resolve("src/main/java/io/sessionfarm");
    /** The part compiled for Java 22 (the TLS upcalls): its packages share the properties files. */
    private static final Path SOURCES_22 = MODULE.resolve("src/main/java22/io/sessionfarm");
    private static final Path RESOURCES = MODULE.resolve("src/main/resources/io/sessionfarm");
    /** A StringManager field, whatever its name ({@code sm}, {@code messages}). */
    private static final Pattern MANAGER_FIELD = Pattern.compile("StringManager\\s+(\\w+)\\s*=");
    private static final Pattern LITERAL_KEY = Pattern.compile("\"([^\"\\\\]+)\"");

    @TestFactory
    Stream<DynamicTest> everyKeyAskedForExistsAndEveryKeyIsAskedFor() throws IOException {
        List<Path> packages;
        try (Stream<Path> listed = Files.list(SOURCES)) {
            packages = listed.filter(Files::isDirectory).sorted().toList();
        }
        Set<String> names = packages.stream().map(dir -> dir.getFileName().toString()).collect(Collectors.toSet());
        assertTrue(names.containsAll(Set.of("session", "token")), "the packages are where they were: " + names);
        return packages.stream().map(dir -> DynamicTest.dynamicTest(dir.getFileName().toString(), () -> check(dir)));
    }

    private static void check(Path packageDir) throws IOException {
        String pkg = packageDir.getFileName().toString();
        Set<String> used = new TreeSet<>();
        List<String> computed = new ArrayList<>();
        scan(packageDir, used, computed);
        Path file = RESOURCES.resolve(pkg).resolve("LocalStrings.properties");
        if (used.isEmpty() && computed.isEmpty() && !Files.exists(file)) {
            return;
        }
        assertEquals(List.of(), computed, "keys must be string literals, so that this test can see them");
        Properties properties = new Properties();
        if (Files.exists(file)) {
            try (Reader reader = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
                properties.load(reader);
            }
        }
        Set<String> defined = new TreeSet<>(properties.stringPropertyNames());
        Set<String> missing = new TreeSet<>(used);
        missing.removeAll(defined);
        assertEquals(Set.of(), missing, "keys used in " + pkg + " but not in " + file);
        Set<String> unused = new TreeSet<>(defined);
        unused.removeAll(used);
        assertEquals(Set.of(), unused, "keys in " + file + " that no class of " + pkg + " uses");
        for (String key : defined) {
            String value = properties.getProperty(key);
            new MessageFormat(value); // throws on a malformed pattern
            assertTrue(!value.contains("{") || !value.replace("''", "").contains("'"),
                    key + ": a single ' quotes the rest of the message in MessageFormat; write ''");
        }
    }

    /** Collects the keys of {@code manager.getString(...)} calls, for each StringManager field of the package. */
    private static void scan(Path packageDir, Set<String> used, List<String> computed) throws IOException {
        List<Path> sources = new ArrayList<>();
        for (Path dir : List.of(packageDir, SOURCES_22.resolve(packageDir.getFileName().toString()))) {
            if (Files.isDirectory(dir)) {
                try (Stream<Path> listed = Files.list(dir)) {
                    listed.filter(path -> path.toString().endsWith(".java")).sorted().forEach(sources::add);
                }
            }
        }
        Set<String> managers = new TreeSet<>();
        List<String> texts = new ArrayList<>();
        for (Path source : sources) {
            String text = Files.readString(source);
            texts.add(text);
            Matcher field = MANAGER_FIELD.matcher(text);
            while (field.find()) {
                managers.add(field.group(1));
            }
        }
        if (managers.isEmpty()) {
            return;
        }
        Pattern call = Pattern.compile("\\b(?:" + String.join("|", managers) + ")\\s*\\.\\s*getString\\s*\\(\\s*");
        for (int i = 0; i < sources.size(); i++) {
            Matcher matcher = call.matcher(texts.get(i));
            while (matcher.find()) {
                Matcher key = LITERAL_KEY.matcher(texts.get(i)).region(matcher.end(), texts.get(i).length());
                if (key.lookingAt()) {
                    used.add(key.group(1));
                } else {
                    computed.add(sources.get(i).getFileName() + " at offset " + matcher.end());
                }
            }
        }
    }

    /** This module's directory: Maven runs tests in it; an IDE may run them from the project's root. */
    private static Path module() {
        Path dir = Path.of(System.getProperty("basedir", "")).toAbsolutePath();
        return Files.isDirectory(dir.resolve("src/main/java/io/sessionfarm")) ? dir : dir.resolve("tomcat-valve");
    }
}
