package io.sessionfarm.tls;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.StringReader;
import java.util.Arrays;
import java.util.function.Supplier;

import org.apache.catalina.Server;
import org.apache.catalina.connector.Connector;
import org.apache.catalina.startup.Catalina;
import org.apache.tomcat.util.digester.Digester;
import org.junit.jupiter.api.Test;
import org.xml.sax.InputSource;

/**
 * The connector's attributes as Tomcat reads them from {@code server.xml}: through Catalina's own
 * digester rules, without starting anything.
 */
class FarmTlsProtocolTest {

    /** Catalina, reading a {@code server.xml} with the rules it starts Tomcat with. */
    private static final class ServerXml extends Catalina {
        Connector connector(String attributes) throws Exception {
            Digester digester = createStartDigester();
            digester.push(this);
            digester.parse(new InputSource(new StringReader("<Server port=\"-1\"><Service name=\"Catalina\">"
                    + "<Connector protocol=\"io.sessionfarm.tls.FarmTlsProtocol\" " + attributes + "/>"
                    + "</Service></Server>")));
            Server server = getServer();
            return server.findServices()[0].findConnectors()[0];
        }
    }

    private static IllegalArgumentException initFails(String attributes) throws Exception {
        Connector connector = new ServerXml().connector(attributes);
        FarmTlsProtocol protocol = assertInstanceOf(FarmTlsProtocol.class, connector.getProtocolHandler());
        return assertThrows(IllegalArgumentException.class, protocol::init);
    }

    @Test
    void aMisspeltAttributeStopsTheConnectorNamingItAndTheConnectorsOwnAttributes() throws Exception {
        String message = initFails("port=\"0\" SSLEnabled=\"true\" lookupTimout=\"50\" singelUseHosts=\"a\""
                + " socket.rxBufSiz=\"1024\" jdbcUrl=\"jdbc:postgresql://db/app\"").getMessage();
        assertTrue(message.contains("unknown attribute(s) [lookupTimout, singelUseHosts, socket.rxBufSiz] in <Connector>"),
                message);
        assertTrue(message.contains("this connector's own attributes are [directJdbcUrl, jdbcUrl, localCacheSize, localHosts,"
                + " lookupTimeout, masterKeyFile, migrate, password, poolSize, singleUseHosts, storeTimeout,"
                + " ticketKeyRotation, username]"), message);
    }

    @Test
    void tomcatsOwnConnectorAttributesAndTheFarmsAreAccepted() throws Exception {
        // Tomcat's attributes live on the Connector, the protocol, its endpoint and the endpoint's
        // socket properties; the farm's on this protocol. None of them is refused: start goes on to
        // read the farm's settings, which lack a jdbcUrl here.
        String message = initFails("port=\"0\" address=\"127.0.0.1\" SSLEnabled=\"true\" maxThreads=\"50\""
                + " connectionTimeout=\"20000\" URIEncoding=\"UTF-8\" maxPostSize=\"4096\" acceptCount=\"50\""
                + " useSendfile=\"false\" socket.rxBufSize=\"65536\" maxHttpHeaderSize=\"16384\""
                + " lookupTimeout=\"50\" localCacheSize=\"100\" ticketKeyRotation=\"600\"").getMessage();
        assertFalse(message.contains("unknown attribute"), message);
        assertTrue(message.contains("cannot start: attribute [jdbcUrl] has value []"), message);
    }

    @Test
    void aTomcatAttributeWithAValueItCannotParseIsLeftToTomcatsWarning() throws Exception {
        String message = initFails("port=\"0\" SSLEnabled=\"true\" maxPostSize=\"2MB\" maxThreads=\"many\"").getMessage();
        assertFalse(message.contains("unknown attribute"), message);
    }

    @Test
    void everyAttributeOfTheFarmHasASetterSoNoneReachesTheTypoTrap() {
        for (String name : TlsSettings.ATTRIBUTES) {
            String setter = "set" + Character.toUpperCase(name.charAt(0)) + name.substring(1);
            assertTrue(Arrays.stream(FarmTlsProtocol.class.getMethods())
                    .anyMatch(m -> m.getName().equals(setter) && m.getParameterCount() == 1
                            && m.getParameterTypes()[0] == String.class), setter);
        }
    }

    @Test
    void withoutTomcatsFfmOpenSslTheConnectorSaysWhatItNeeds() throws Exception {
        // These tests run on tomcat-embed-core 10.1, which has no FFM OpenSSL classes (Tomcat 10.1
        // ships them in a JAR of their own, lib/tomcat-coyote-ffm.jar): a well-configured connector
        // says so, after its configuration is checked, and loads nothing of the TLS part.
        String message = initFails("port=\"0\" SSLEnabled=\"true\" jdbcUrl=\"jdbc:postgresql://127.0.0.1/x\"").getMessage();
        assertTrue(message.contains("sharing TLS sessions needs Tomcat's FFM OpenSSL classes"), message);
        assertTrue(message.contains("the Manager and the valves work on Java 17"), message);
    }

    @Test
    void withoutTlsTheConnectorSaysWhatToChange() throws Exception {
        String message = initFails("port=\"0\"").getMessage();
        assertTrue(message.contains("without TLS: set SSLEnabled=\"true\" and add an SSLHostConfig"), message);
    }

    @Test
    void onTheJdksTlsTheConnectorSaysItCannotShare() throws Exception {
        String message = initFails("port=\"0\" SSLEnabled=\"true\""
                + " sslImplementationName=\"org.apache.tomcat.util.net.jsse.JSSEImplementation\"").getMessage();
        assertTrue(message.contains("the JDK's own TLS (JSSE) cannot export or import sessions or ticket keys"), message);
        assertTrue(message.contains("set it to " + FarmTlsImplementation.class.getName() + ";"), message);
        assertEquals(-1, message.indexOf("''"), "apostrophes are formatted once");
    }

    @Test
    void theRequestsTlsViewSuppliesHowTheHandshakeResumedThroughAJdkType() {
        // The Manager's checkpoint valve reads it as a Supplier, without importing this package.
        assertTrue(Supplier.class.isAssignableFrom(FarmTlsImplementation.Support.class));
    }
}
