package io.sessionfarm.keys;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Base64;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MasterKeyTest {

    @TempDir
    Path dir;

    private Path keyFile(String mode) throws Exception {
        Path file = dir.resolve("master-" + mode + ".key");
        Files.writeString(file, Base64.getEncoder().encodeToString(new byte[32]) + "\n");
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString(mode));
        return file;
    }

    @Test
    void aKeyFileOnlyItsOwnerCanReadLoads() throws Exception {
        assertNotNull(MasterKey.load(keyFile("rw-------").toString(), Map.<String, String>of()::get));
        assertNotNull(MasterKey.load(keyFile("r--------").toString(), Map.<String, String>of()::get));
    }

    @Test
    void aKeyFileItsGroupOrOthersCanReadIsRefusedSayingHowToFixIt() throws Exception {
        for (String mode : new String[] {"rw-r--r--", "rw-r-----", "rw----r--"}) {
            Path file = keyFile(mode);
            IllegalArgumentException refused = assertThrows(IllegalArgumentException.class,
                    () -> MasterKey.load(file.toString(), Map.<String, String>of()::get));
            assertTrue(refused.getMessage().contains("chmod 600 " + file), refused.getMessage());
        }
    }
}
