package io.sessionfarm.tls;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

class TlsSettingsTest {

    private static final List<String> HOSTS = List.of("_default_", "shop.example.com", "admin.example.com");

    private static Map<String, String> raw(String... pairs) {
        Map<String, String> raw = new HashMap<>(Map.of("jdbcUrl", "jdbc:postgresql://db:5432/app"));
        for (int i = 0; i < pairs.length; i += 2) {
            raw.put(pairs[i], pairs[i + 1]);
        }
        return raw;
    }

    private static String error(Map<String, String> raw) {
        return assertThrows(IllegalArgumentException.class, () -> TlsSettings.parse(raw, HOSTS)).getMessage();
    }

    @Test
    void defaultsShareEveryHostAndRotateTicketKeysEvery12Hours() {
        TlsSettings settings = TlsSettings.parse(raw(), HOSTS);
        assertEquals(43_200, settings.ticketKeyRotationSeconds());
        assertEquals(50, settings.lookupTimeoutMillis());
        assertEquals(20_000, settings.localCacheSize());
        assertTrue(settings.store().migrate());
        for (String host : HOSTS) {
            assertTrue(settings.shared(host));
            assertFalse(settings.singleUse(host));
        }
    }

    @Test
    void hostsAreNamedByTheirSslHostConfigCaseInsensitively() {
        TlsSettings settings = TlsSettings.parse(raw("localHosts", "Admin.Example.com", "singleUseHosts", " shop.example.com ,"), HOSTS);
        assertFalse(settings.shared("admin.example.com"));
        assertTrue(settings.singleUse("SHOP.example.com"));
        assertTrue(settings.shared("shop.example.com"));
    }

    @Test
    void aHostThatIsNoSslHostConfigIsATypo() {
        String message = error(raw("singleUseHosts", "shop.exmaple.com"));
        assertTrue(message.contains("[shop.exmaple.com] is not the hostName of any SSLHostConfig"), message);
        assertTrue(message.contains("shop.example.com"), "lists the real hosts: " + message);
    }

    @Test
    void aHostCannotBeBothLocalAndSingleUse() {
        String message = error(raw("localHosts", "admin.example.com", "singleUseHosts", "admin.example.com"));
        assertTrue(message.contains("both [localHosts] and [singleUseHosts]"), message);
    }

    @Test
    void outOfRangeOrMalformedValuesSayWhatIsAllowed() {
        assertTrue(error(raw("ticketKeyRotation", "30")).contains("whole seconds from 60 to 604800"));
        assertTrue(error(raw("ticketKeyRotation", "12h")).contains("attribute [ticketKeyRotation] has value [12h]"));
        assertTrue(error(raw("lookupTimeout", "0")).contains("milliseconds from 1 to 5000"));
        assertTrue(error(raw("migrate", "yes")).contains("expected true or false"));
        assertTrue(error(raw("jdbcUrl", "jdbc:mysql://db/app")).contains("expected a PostgreSQL URL"));
        Map<String, String> none = raw();
        none.remove("jdbcUrl");
        assertTrue(error(none).contains("attribute [jdbcUrl]"));
    }

    @Test
    void theLogLineMasksPasswords() {
        TlsSettings settings = TlsSettings.parse(raw("jdbcUrl", "jdbc:postgresql://db/app?password=hunter2",
                "password", "hunter2"), HOSTS);
        assertFalse(settings.toString().contains("hunter2"), settings.toString());
    }
}
