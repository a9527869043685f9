package io.sessionfarm.tls;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URL;

import org.junit.jupiter.api.Test;

/**
 * What a connector configured with sessionfarm's TLS protocol is told it lacks, in the order a
 * user can act on: the JVM, then the JAR (one built by a JDK older than 22 has no TLS part), then
 * Tomcat. Runs in both builds, with and without the TLS part.
 */
class TlsSharingTest {

    /** This test's class loader, with or without the TLS part's implementation class, whichever JDK built this. */
    private static ClassLoader loader(boolean withTlsPart) {
        return new ClassLoader(TlsSharingTest.class.getClassLoader()) {
            @Override
            public URL getResource(String name) {
                if (name.equals("io/sessionfarm/tls/FarmTlsImplementation.class")) {
                    return withTlsPart ? TlsSharingTest.class.getResource("TlsSharingTest.class") : null;
                }
                return super.getResource(name);
            }
        };
    }

    @Test
    void anOlderJavaIsNamedFirst() {
        String missing = TlsSharing.missing(17, loader(false));
        assertEquals("Java 22 or later (this is Java 17)", missing);
    }

    @Test
    void aJarBuiltWithoutTheTlsPartSaysHowToGetOne() {
        String missing = TlsSharing.missing(25, loader(false));
        assertNotNull(missing);
        assertTrue(missing.startsWith("a sessionfarm JAR built with its TLS part")
                && missing.contains("Sessionfarm-TLS-Sharing") && missing.contains("build it with a JDK 22 or newer"), missing);
    }

    @Test
    void withTheTlsPartTomcatsFfmOpenSslIsWhatRemains() {
        // This build's classpath has tomcat-embed-core 10.1, without the FFM OpenSSL classes.
        String missing = TlsSharing.missing(25, loader(true));
        assertNotNull(missing);
        assertTrue(missing.startsWith("Tomcat's FFM OpenSSL classes"), missing);
    }
}
