package io.sessionfarm.tls;

import java.security.GeneralSecurityException;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

import org.apache.catalina.connector.Connector;
import org.apache.coyote.http11.Http11NioProtocol;
import org.apache.tomcat.util.IntrospectionUtils;
import org.apache.tomcat.util.net.NioEndpoint;
import org.apache.tomcat.util.net.SSLHostConfig;
import org.apache.tomcat.util.net.SocketProperties;
import org.apache.tomcat.util.res.StringManager;

import io.sessionfarm.config.Attributes;

/**
 * Tomcat's NIO HTTP/1.1 protocol on its FFM OpenSSL implementation, with every shared host's TLS
 * sessions joined to the farm: one ticket-key ring and one session cache for all nodes, through
 * PostgreSQL. In {@code server.xml}:
 *
 * <pre>{@code
 * <Connector port="8443" SSLEnabled="true" protocol="io.sessionfarm.tls.FarmTlsProtocol"
 *            jdbcUrl="jdbc:postgresql://db:5432/app" username="sessionfarm_node1" password="..."
 *            masterKeyFile="/etc/sessionfarm/master.key">
 *   <SSLHostConfig> <Certificate certificateFile="..." certificateKeyFile="..."/> </SSLHostConfig>
 * </Connector>
 * }</pre>
 *
 * The TLS callbacks are installed right after Tomcat creates each host's {@code SSL_CTX}, so a
 * reload of the TLS configuration keeps them. This builds on Tomcat classes that are public but not
 * a documented extension point: sessionfarm is tested with the Tomcat version its build names.
 * <p>
 * An attribute that neither Tomcat's connector nor this protocol knows stops the connector with a
 * message that names it, instead of Tomcat's warning: it is almost always a typo.
 */
public class FarmTlsProtocol extends Http11NioProtocol {

    private static final StringManager sm = StringManager.getManager(FarmTlsProtocol.class);
    private static final String SOCKET_PREFIX = "socket.";

    private final Map<String, String> raw = new HashMap<>();
    private final Attributes.Unknown unknownAttributes = new Attributes.Unknown();
    private final Endpoint endpoint;
    private TlsSharing farm;

    public FarmTlsProtocol() {
        this(new Endpoint());
    }

    // The endpoint is kept here, not read back with getEndpoint(), whose declared return type
    // differs between Tomcat 10.1 and 11: a call compiled against one fails on the other.
    private FarmTlsProtocol(Endpoint endpoint) {
        super(endpoint);
        this.endpoint = endpoint;
        setSslImplementationName(TlsSharing.IMPLEMENTATION);
    }

    public void setJdbcUrl(String value) { raw.put("jdbcUrl", value); }
    public void setDirectJdbcUrl(String value) { raw.put("directJdbcUrl", value); }
    public void setUsername(String value) { raw.put("username", value); }
    public void setPassword(String value) { raw.put("password", value); }
    public void setPoolSize(String value) { raw.put("poolSize", value); }
    public void setStoreTimeout(String value) { raw.put("storeTimeout", value); }
    public void setMigrate(String value) { raw.put("migrate", value); }
    public void setMasterKeyFile(String value) { raw.put("masterKeyFile", value); }
    public void setTicketKeyRotation(String value) { raw.put("ticketKeyRotation", value); }
    public void setLookupTimeout(String value) { raw.put("lookupTimeout", value); }
    public void setLocalCacheSize(String value) { raw.put("localCacheSize", value); }
    public void setLocalHosts(String value) { raw.put("localHosts", value); }
    public void setSingleUseHosts(String value) { raw.put("singleUseHosts", value); }

    /**
     * Tomcat's digester calls this (through {@link Connector#setProperty}) for a {@code <Connector>}
     * attribute that has no setter on the Connector or on this protocol; Tomcat's endpoint takes the
     * ones it knows. Any other name is remembered so that {@link #init()} refuses it.
     */
    @Override
    public boolean setProperty(String name, String value) {
        if (super.setProperty(name, value)) {
            return true;
        }
        // A Tomcat attribute whose value its setter cannot parse keeps Tomcat's own warning.
        return !knownToTomcat(name) && unknownAttributes.add(name);
    }

    private boolean knownToTomcat(String name) {
        return hasSetter(Connector.class, name) || hasSetter(getClass(), name) || hasSetter(endpoint.getClass(), name)
                || name.startsWith(SOCKET_PREFIX) && hasSetter(SocketProperties.class, name.substring(SOCKET_PREFIX.length()));
    }

    /** As Tomcat's digester looks for a setter: by name, of any one parameter. */
    private static boolean hasSetter(Class<?> type, String name) {
        String setter = "set" + IntrospectionUtils.capitalize(name);
        return Arrays.stream(type.getMethods()).anyMatch(m -> m.getName().equals(setter) && m.getParameterCount() == 1);
    }

    @Override
    public void init() throws Exception {
        String connector = getName().replace("\"", "");
        if (!unknownAttributes.names().isEmpty()) {
            throw new IllegalArgumentException(sm.getString("farmTlsProtocol.unknownAttribute", connector,
                    unknownAttributes.names(), new TreeSet<>(TlsSettings.ATTRIBUTES)));
        }
        if (!isSSLEnabled()) {
            throw new IllegalArgumentException(sm.getString("farmTlsProtocol.noTls", getName(), getClass().getName()));
        }
        if (!isOpenSsl(getSslImplementationName())) {
            throw new IllegalArgumentException(notOpenSsl(getName()));
        }
        List<String> hosts = Arrays.stream(findSslHostConfigs()).map(SSLHostConfig::getHostName).toList();
        TlsSettings settings;
        try {
            settings = TlsSettings.parse(raw, hosts);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(sm.getString("farmTlsProtocol.badConfiguration", connector, e.getMessage()), e);
        }
        // Configuration first, so that one restart fixes both; then whether this JVM and Tomcat can share.
        String missing = TlsSharing.missing();
        if (missing != null) {
            throw new IllegalArgumentException(sm.getString("farmTlsProtocol.unsupported", connector, missing));
        }
        try {
            farm = TlsSharing.create(settings, connector);
            endpoint.farm = farm;
            farm.start();
        } catch (IllegalArgumentException | GeneralSecurityException e) {
            throw new IllegalArgumentException(sm.getString("farmTlsProtocol.badConfiguration", connector, e.getMessage()), e);
        }
        super.init();
    }

    @Override
    public void destroy() throws Exception {
        try {
            super.destroy();
        } finally {
            if (farm != null) {
                farm.stop();
            }
        }
    }

    @Override
    protected String getNamePrefix() {
        return isSSLEnabled() ? "https-farm-nio" : super.getNamePrefix();
    }

    static String notOpenSsl(String connector) {
        return sm.getString("farmTlsProtocol.notOpenSsl", connector, TlsSharing.IMPLEMENTATION);
    }

    /** Ours, or Tomcat's FFM OpenSSL implementation (or a subclass): then sharing works, only "resumed" is unknown. */
    private static boolean isOpenSsl(String implementation) {
        if (TlsSharing.IMPLEMENTATION.equals(implementation)) {
            return true; // not loaded here: it needs Java 22, which init() checks next
        }
        try {
            ClassLoader loader = FarmTlsProtocol.class.getClassLoader();
            Class<?> type = Class.forName(implementation, false, loader);
            return Class.forName(TlsSharing.TOMCAT_OPENSSL, false, loader).isAssignableFrom(type);
        } catch (ClassNotFoundException | RuntimeException | LinkageError e) {
            return false;
        }
    }

    /** Joins each host's fresh {@code SSL_CTX} to the farm: at start and on every reload. */
    static final class Endpoint extends NioEndpoint {

        private volatile TlsSharing farm;

        @Override
        protected void createSSLContext(SSLHostConfig sslHostConfig) throws IllegalArgumentException {
            super.createSSLContext(sslHostConfig);
            if (farm != null) {
                farm.attach(sslHostConfig);
            }
        }
    }
}
