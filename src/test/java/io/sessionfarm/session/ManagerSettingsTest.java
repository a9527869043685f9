package io.sessionfarm.session;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.Map;

import org.junit.jupiter.api.Test;

import io.sessionfarm.config.Attributes;
import io.sessionfarm.store.StoreSettings;

class ManagerSettingsTest {

    private static Map<String, String> raw(String... pairs) {
        Map<String, String> raw = new HashMap<>();
        raw.put("jdbcUrl", "jdbc:postgresql://127.0.0.1:5432/app");
        for (int i = 0; i < pairs.length; i += 2) {
            raw.put(pairs[i], pairs[i + 1]);
        }
        return raw;
    }

    private static String rejection(Map<String, String> raw) {
        return assertThrows(IllegalArgumentException.class, () -> ManagerSettings.parse(raw)).getMessage();
    }

    @Test
    void defaultsWriteEveryRequestInSharedMode() {
        ManagerSettings settings = ManagerSettings.parse(raw());
        assertEquals(new CheckpointPolicy(true, 0, 0, 1), settings.policy());
        assertEquals(ManagerSettings.Mode.SHARED, settings.mode());
        assertEquals(ManagerSettings.ConflictPolicy.LAST_WRITER_WINS, settings.conflictPolicy());
        assertEquals(10, settings.store().poolSize());
        assertEquals(5000, settings.store().timeoutMillis());
    }

    @Test
    void namingOneTriggerTurnsTheOthersOff() {
        assertEquals(new CheckpointPolicy(true, 30_000, 0, 0),
                ManagerSettings.parse(raw("mode", "sticky", "checkpointInterval", "30")).policy());
        assertEquals(new CheckpointPolicy(false, 10_000, 5, 3), ManagerSettings.parse(raw("mode", "sticky",
                "checkpointInterval", "10", "checkpointAfterUpdates", "5", "checkpointAfterRequests", "3",
                "checkpointOnCreate", "false")).policy());
    }

    @Test
    void sharedModeRefusesAPolicyThatDefersWritesNamingBothAttributesAndTheWayOut() {
        String byDefault = rejection(raw("checkpointInterval", "10"));
        assertTrue(byDefault.contains("mode=\"shared\" (the default)") && byDefault.contains("checkpointInterval=\"10\""),
                byDefault);
        assertTrue(byDefault.contains("checkpointAfterRequests=\"1\"") && byDefault.contains("mode=\"sticky\""), byDefault);
        String updates = rejection(raw("mode", "shared", "checkpointAfterUpdates", "5"));
        assertTrue(updates.contains("mode=\"shared\" (set)") && updates.contains("checkpointAfterUpdates=\"5\""), updates);
        String everyThird = rejection(raw("mode", "SHARED", "checkpointAfterRequests", "3"));
        assertTrue(everyThird.contains("checkpointAfterRequests=\"3\""), everyThird);
    }

    @Test
    void sharedModeTakesEveryRequestWithOtherTriggersBesideItAndStickyModeTakesAnyPolicy() {
        assertEquals(new CheckpointPolicy(true, 10_000, 0, 1), ManagerSettings.parse(raw("mode", "shared",
                "checkpointAfterRequests", "1", "checkpointInterval", "10")).policy());
        assertEquals(ManagerSettings.Mode.STICKY, ManagerSettings.parse(raw("mode", "sticky",
                "checkpointAfterUpdates", "5")).mode());
    }

    @Test
    void typoInANumberNamesAttributeValueAndRange() {
        String message = rejection(raw("checkpointInterval", "3O"));
        assertTrue(message.contains("[checkpointInterval]") && message.contains("[3O]") && message.contains("1 to 300"),
                message);
    }

    @Test
    void outOfRangeValuesAreRefused() {
        assertTrue(rejection(raw("checkpointInterval", "301")).contains("1 to 300"));
        assertTrue(rejection(raw("poolSize", "1")).contains("[poolSize]"));
        assertTrue(rejection(raw("storeTimeout", "10")).contains("[storeTimeout]"));
        assertTrue(rejection(raw("checkpointAfterRequests", "-1")).contains("[checkpointAfterRequests]"));
    }

    @Test
    void allTriggersOffIsRefused() {
        assertTrue(rejection(raw("checkpointAfterRequests", "0")).contains("no checkpoint policy"));
    }

    @Test
    void booleansAndChoicesAreStrict() {
        assertTrue(rejection(raw("checkpointOnCreate", "yes")).contains("true or false"));
        String message = rejection(raw("mode", "stikcy"));
        assertTrue(message.contains("[mode]") && message.contains("shared or sticky"), message);
        assertEquals(ManagerSettings.Mode.STICKY, ManagerSettings.parse(raw("mode", "sticky")).mode());
        assertEquals(ManagerSettings.ConflictPolicy.KEEP_STORED,
                ManagerSettings.parse(raw("conflictPolicy", "keepStored")).conflictPolicy());
    }

    @Test
    void exactlyOneOfUrlOrDataSource() {
        Map<String, String> neither = raw();
        neither.remove("jdbcUrl");
        assertTrue(rejection(neither).contains("neither"));
        assertTrue(rejection(raw("dataSourceName", "jdbc/sessions")).contains("both"));
        assertTrue(rejection(raw("jdbcUrl", "jdbc:mysql://db/app")).contains("PostgreSQL URL"));
    }

    @Test
    void theDirectUrlDefaultsToJdbcUrlAndMustBeAPostgreSqlUrlBesideIt() {
        assertEquals("jdbc:postgresql://127.0.0.1:5432/app", ManagerSettings.parse(raw()).store().directJdbcUrl());
        StoreSettings throughPgBouncer = ManagerSettings.parse(raw("jdbcUrl",
                "jdbc:postgresql://127.0.0.1:6432/app?prepareThreshold=0", "directJdbcUrl",
                "jdbc:postgresql://db:5432/app?password=s3cret")).store();
        assertEquals("jdbc:postgresql://db:5432/app?password=s3cret", throughPgBouncer.directJdbcUrl());
        assertTrue(throughPgBouncer.toString().contains("directJdbcUrl=") && !throughPgBouncer.toString().contains("s3cret"),
                throughPgBouncer.toString());
        assertTrue(rejection(raw("directJdbcUrl", "db:5432/app")).contains("[directJdbcUrl]"));
        assertTrue(rejection(raw("dataSourceName", "jdbc/sessions", "jdbcUrl", "", "directJdbcUrl",
                "jdbc:postgresql://db/app")).contains("[directJdbcUrl]"), "only beside jdbcUrl");
    }

    @Test
    void badClassPatternIsRefused() {
        assertTrue(rejection(raw("allowedClasses", "com.example.;;maxdepth=x")).contains("[allowedClasses]"));
    }

    @Test
    void passwordsNeverAppearInTheConfigurationDump() {
        ManagerSettings settings = ManagerSettings.parse(raw("jdbcUrl",
                "jdbc:postgresql://db/app?user=x&password=s3cret", "password", "hunter2"));
        String dump = settings.toString();
        assertFalse(dump.contains("s3cret"), dump);
        assertFalse(dump.contains("hunter2"), dump);
        assertTrue(dump.contains("password=<masked>"), dump);
        assertFalse(Attributes.maskUrl("jdbc:postgresql://u:pw@db/app").contains("pw@"));
    }

    @Test
    void lossBoundIsStatedPerPolicy() {
        assertTrue(new CheckpointPolicy(true, 0, 0, 1).lossBound().startsWith("nothing acknowledged"));
        assertEquals("per session, at most the changes of its last 31 s or its last 4 attribute updates, whichever is less",
                new CheckpointPolicy(true, 30_000, 5, 0).lossBound().replace("its last 4 attribute updates or the changes of its last 31 s",
                        "the changes of its last 31 s or its last 4 attribute updates"));
    }
}
