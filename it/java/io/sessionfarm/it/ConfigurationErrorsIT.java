package io.sessionfarm.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.ConnectException;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Mistakes in context.xml stop the context, and mistakes on the TLS connector in server.xml stop
 * that connector, with a message that names them; nothing starts half-configured.
 */
class ConfigurationErrorsIT extends FarmTestBase {

    private static Farm farm;
    private static Farm.Node typo;
    private static Farm.Node outOfRange;
    private static Farm.Node sharedDeferred;
    private static Farm.Node unreachable;
    private static Farm.Node tokenTypo;
    private static Farm.Node noMasterKey;
    private static Farm.Node readableMasterKey;
    private static java.nio.file.Path readableKeyFile;

    @BeforeAll
    static void startBrokenNodes() throws Exception {
        farm = farm(ConfigurationErrorsIT.class);
        List<Farm.Node> nodes = new ArrayList<>();
        typo = farm.create("typo", Farm.freePort(0), fixture("context-typo.xml"));
        outOfRange = farm.create("out-of-range", Farm.freePort(0), fixture("context-out-of-range.xml"));
        sharedDeferred = farm.create("shared-deferred", Farm.freePort(0), fixture("context-shared-deferred.xml"));
        unreachable = farm.create("unreachable", Farm.freePort(0), fixture("context-unreachable.xml"));
        tokenTypo = farm.create("token-typo", Farm.freePort(0), fixture("context-token-typo.xml"));
        noMasterKey = farm.create("no-master-key", Farm.freePort(0), fixture("context-token-no-master-key.xml"));
        readableMasterKey = farm.create("readable-master-key", Farm.freePort(0));
        readableKeyFile = farm.masterKeyFile().resolveSibling("readable.key");
        java.nio.file.Files.copy(farm.masterKeyFile(), readableKeyFile, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        java.nio.file.Files.setPosixFilePermissions(readableKeyFile,
                java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
        farm.setProperty(readableMasterKey, "sessionfarm.masterKeyFile", readableKeyFile.toString());
        nodes.addAll(List.of(typo, outOfRange, sharedDeferred, unreachable, tokenTypo, noMasterKey, readableMasterKey));
        for (Farm.Node node : nodes) {
            farm.start(node);
        }
        registerForStop(nodes);
        for (Farm.Node node : nodes) {
            awaitServerStarted(node);
        }
    }

    private static void assertContextRefused(Farm.Node node) throws Exception {
        Client.Reply reply = new Client().get(node, "/api/ping");
        assertEquals(404, reply.status(), "the webapp must not be serving");
        assertTrue(log(node).contains("Context [] startup failed"), node.name());
    }

    @Test
    void misspeltAttributeStopsTheContext() throws Exception {
        assertContextRefused(typo);
        assertTrue(log(typo).contains("unknown attribute(s) [checkpointIntervall] in <Manager>"), log(typo));
    }

    @Test
    void outOfRangeValueStopsTheContextNamingWhatIsAllowed() throws Exception {
        assertContextRefused(outOfRange);
        assertTrue(log(outOfRange).contains("attribute [checkpointInterval] has value [600]: expected whole seconds from 1 to 300"),
                log(outOfRange));
    }

    @Test
    void sharedModeWithADeferredPolicyStopsTheContextNamingBothAndWhatToUseInstead() throws Exception {
        assertContextRefused(sharedDeferred);
        String log = log(sharedDeferred);
        assertTrue(log.contains("mode=\"shared\" (the default) lets any node serve any request")
                && log.contains("checkpointInterval=\"10\" defers them")
                && log.contains("Use checkpointAfterRequests=\"1\"") && log.contains("or mode=\"sticky\""), log);
    }

    @Test
    void unreachableDatabaseStopsTheContextWithoutPrintingThePassword() throws Exception {
        assertContextRefused(unreachable);
        String log = log(unreachable);
        assertTrue(log.contains("the session store [jdbc:postgresql://127.0.0.1:1/nowhere] as user [farm] is not usable"), log);
        assertFalse(log.contains("s3cret-pw-xyzzy"), "the password must never reach a log");
    }

    @Test
    void misspeltTokenValveAttributeStopsTheContext() throws Exception {
        assertContextRefused(tokenTypo);
        assertTrue(log(tokenTypo).contains("unknown attribute(s) [rotateAftr] in <Valve>"), log(tokenTypo));
    }

    @Test
    void aMasterKeyFileOthersCanReadStopsTheContextSayingHowToFixIt() throws Exception {
        assertContextRefused(readableMasterKey);
        String log = log(readableMasterKey);
        assertTrue(log.contains("is open to its group or to others (rw-r--r--)")
                && log.contains("chmod 600 " + readableKeyFile), log);
    }

    @Test
    void missingMasterKeyStopsTheContextSayingHowToMakeOne() throws Exception {
        assertContextRefused(noMasterKey);
        String log = log(noMasterKey);
        assertTrue(log.contains("masterKeyFile [/nonexistent/sessionfarm/master.key] cannot be read")
                && log.contains("openssl rand -base64 32"), log);
    }

    @Test
    @Tag("tls")
    void misspeltTlsConnectorAttributeStopsTheConnectorWhilePlainHttpServesOn() throws Exception {
        Farm.Node tlsTypo = farm.create("tls-typo", Farm.freePort(0));
        Path serverXml = tlsTypo.base().resolve("conf/server.xml");
        String connector = "protocol=\"io.sessionfarm.tls.FarmTlsProtocol\"";
        String xml = Files.readString(serverXml);
        assertTrue(xml.contains(connector), connector);
        Files.writeString(serverXml, xml.replace(connector, connector + " lookupTimout=\"50\""));
        start(farm, List.of(tlsTypo));
        String log = log(tlsTypo);
        assertTrue(log.contains("unknown attribute(s) [lookupTimout] in <Connector>")
                && log.contains("this connector's own attributes are [directJdbcUrl, jdbcUrl, localCacheSize, localHosts, lookupTimeout,"), log);
        assertTrue(farm.isUp(tlsTypo), "plain HTTP still serves");
        try (Socket ignored = new Socket("127.0.0.1", tlsTypo.httpsPort())) {
            throw new AssertionError("the HTTPS connector should not listen");
        } catch (ConnectException expected) {
            // stopped, as it should be
        }
    }
}
