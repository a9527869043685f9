package io.sessionfarm.tls;

import java.lang.reflect.InvocationTargetException;
import java.security.GeneralSecurityException;

import org.apache.tomcat.util.net.SSLHostConfig;

/**
 * The farm's TLS session sharing for one connector, as its protocol drives it. The implementation
 * ({@code FarmTls}, in {@code src/main/java22}) needs Java 22's FFM API and Tomcat's FFM OpenSSL
 * classes. It is loaded by name, and only once {@link #missing()} found both, so that a Java 17
 * node that configures {@link FarmTlsProtocol} gets a message, not a class-version error.
 */
interface TlsSharing {

    /** Our SSLImplementation, which exports and imports OpenSSL sessions (Java 22+). */
    String IMPLEMENTATION = "io.sessionfarm.tls.FarmTlsImplementation";
    /** Tomcat's FFM OpenSSL implementation, to which ours delegates: in Tomcat 11, and in 10.1's tomcat-coyote-ffm.jar. */
    String TOMCAT_OPENSSL = "org.apache.tomcat.util.net.openssl.panama.OpenSSLImplementation";
    int JAVA = 22;
    /** The drop-in JAR's manifest entry that says whether the TLS part is in it (tomcat-valve/pom.xml). */
    String MANIFEST_ENTRY = "Sessionfarm-TLS-Sharing";

    /** Joins the farm's key ring and session cache; stops the connector if it cannot. */
    void start() throws GeneralSecurityException;

    /** Joins a host's fresh {@code SSL_CTX} to the farm: at start and on every reload. */
    void attach(SSLHostConfig host);

    void stop();

    /** What this JVM, this JAR or this Tomcat lacks for sharing: null if nothing. */
    static String missing() {
        return missing(Runtime.version().feature(), TlsSharing.class.getClassLoader());
    }

    /** As {@link #missing()}, for a JVM of that feature release whose classes come from {@code loader}. */
    static String missing(int javaFeature, ClassLoader loader) {
        if (javaFeature < JAVA) {
            return "Java " + JAVA + " or later (this is Java " + javaFeature + ")";
        }
        // Looked up as a resource: loading a Java 22 class to find out would be the error we avoid.
        if (loader.getResource(IMPLEMENTATION.replace('.', '/') + ".class") == null) {
            return "a sessionfarm JAR built with its TLS part (this one was built by a JDK older than " + JAVA
                    + ", as its manifest's " + MANIFEST_ENTRY + " says: build it with a JDK " + JAVA + " or newer)";
        }
        try {
            Class.forName(TOMCAT_OPENSSL, false, loader);
            return null;
        } catch (ClassNotFoundException | LinkageError e) {
            return "Tomcat's FFM OpenSSL classes (" + TOMCAT_OPENSSL + "; Tomcat 10.1 ships them in lib/tomcat-coyote-ffm.jar)";
        }
    }

    /** The implementation, once {@link #missing()} is null. */
    static TlsSharing create(TlsSettings settings, String connector) {
        try {
            return (TlsSharing) Class.forName("io.sessionfarm.tls.FarmTls")
                    .getDeclaredConstructor(TlsSettings.class, String.class).newInstance(settings, connector);
        } catch (InvocationTargetException e) {
            if (e.getCause() instanceof RuntimeException runtime) {
                throw runtime;
            }
            throw new IllegalStateException(e.getCause());
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("the sessionfarm JAR lacks its TLS classes", e);
        }
    }
}
