package io.sessionfarm.it;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;

/** The outside programs the integration tests drive; a missing one fails naming its package. */
final class Tools {

    static final Path LIBFAKETIME = Path.of("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1");

    private Tools() {
    }

    /** The command's path; fails if it is not installed. */
    static String require(String command, String debianPackage) {
        String found = find(command);
        assertTrue(found != null, missing(command, debianPackage));
        return found;
    }

    static void require(Path file, String debianPackage) {
        assertTrue(Files.exists(file), missing(file.toString(), debianPackage));
    }

    static boolean installed(String command) {
        return find(command) != null;
    }

    private static String missing(String what, String debianPackage) {
        return what + " is needed: sudo apt-get install " + debianPackage + " (./check installs it)";
    }

    private static String find(String command) {
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(File.pathSeparator)) {
            Path candidate = Path.of(dir, command);
            if (Files.isExecutable(candidate)) {
                return candidate.toString();
            }
        }
        return null;
    }
}
