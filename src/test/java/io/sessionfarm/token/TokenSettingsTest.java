package io.sessionfarm.token;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

class TokenSettingsTest {

    private static TokenSettings parse(Map<String, String> raw) {
        return TokenSettings.parse(raw, "", 30 * 60);
    }

    private static String error(Map<String, String> raw, String contextPath) {
        return assertThrows(IllegalArgumentException.class, () -> TokenSettings.parse(raw, contextPath, 1800)).getMessage();
    }

    @Test
    void defaultsAreSafeAndFollowTheContext() {
        TokenSettings settings = parse(Map.of());
        assertEquals("__Host-sessionfarm", settings.cookieName());
        assertTrue(settings.secure());
        assertEquals("Lax", settings.sameSite());
        assertEquals(60_000, settings.rotateAfterMillis());
        assertEquals(20_000, settings.graceMillis());
        assertEquals(1_800_000, settings.idleMillis(), "the context's session timeout");
        assertEquals(28_800_000, settings.absoluteMillis());
        assertFalse(settings.rotateEveryResponse());
        assertEquals("__Secure-sessionfarm", TokenSettings.parse(Map.of(), "/shop", 1800).cookieName(),
                "__Host- needs Path=/; elsewhere __Secure-");
        assertEquals("sessionfarm", TokenSettings.parse(Map.of("secure", "false"), "", 1800).cookieName());
        assertTrue(parse(Map.of("rotateAfter", "0")).rotateEveryResponse());
    }

    @Test
    void badValuesNameTheAttributeAndWhatIsAllowed() {
        assertEquals("attribute [grace] has value [600]: expected whole seconds from 0 to 300", error(Map.of("grace", "600"), ""));
        assertTrue(error(Map.of("sameSite", "Sometimes"), "").contains("Lax, Strict or None"));
        assertTrue(error(Map.of("sameSite", "None", "secure", "false"), "").contains("sameSite"));
        assertTrue(error(Map.of("secure", "yes"), "").contains("true or false"));
        assertTrue(error(Map.of("cookieName", "__Host-x"), "/shop").contains("root context"));
        assertTrue(error(Map.of("cookieName", "a b"), "").contains("cookieName"));
        assertTrue(error(Map.of("rotateAfter", "1800", "idleTimeout", "1800"), "").contains("fewer seconds than idleTimeout"));
        assertTrue(error(Map.of("rejectPaths", "api"), "").contains("starting with /"));
        assertTrue(error(Map.of("handoffRoutes", "/r=ftp://x"), "").contains("handoffRoutes"));
        assertTrue(error(Map.of("handoffRoutes", "/r=http://127.0.0.1:8082"), "").contains("handoffSelf"));
        assertTrue(error(Map.of("routeCookie", "route; Path=/"), "").contains("routeCookie"));
        assertTrue(error(Map.of("routeCookie", "__Host-sessionfarm"), "").contains("other than the token's cookie name"));
        assertTrue(error(Map.of("routeCookie", "$route"), "").contains("routeCookie"), "HAProxy skips $ names");
        assertTrue(error(Map.of("routeCookie", "__Host-route", "secure", "false"), "").contains("secure"));
    }

    @Test
    void theRouteCookieIsOffUnlessNamed() {
        assertEquals(null, parse(Map.of()).routeCookie());
        assertEquals("SFROUTE", parse(Map.of("routeCookie", "SFROUTE")).routeCookie());
        assertEquals("__Host-route", parse(Map.of("routeCookie", "__Host-route")).routeCookie(), "no subdomain can shadow it");
        assertTrue(parse(Map.of("routeCookie", "SFROUTE")).toString().contains("route cookie SFROUTE"));
    }

    @Test
    void routesAreNormalisedToSchemeHostAndPort() {
        TokenSettings settings = parse(Map.of("handoffRoutes", "/reports/=http://10.0.0.2:8080/, /admin=https://admin.example",
                "handoffSelf", "http://10.0.0.1:8080"));
        assertEquals(List.of(new TokenSettings.Route("/reports/", "http://10.0.0.2:8080"),
                new TokenSettings.Route("/admin", "https://admin.example")), settings.routes());
        assertEquals("http://10.0.0.1:8080", settings.self());
    }
}
