package io.sessionfarm.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.ConnectException;
import java.net.Socket;
import java.nio.file.Files;
import java.util.List;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A node on Java 17 (the Tomcat 10.1 cell): the Manager and the token valve work, and a connector
 * configured with sessionfarm's TLS protocol, which needs Java 22, stops with a message saying so
 * while plain HTTP serves on. Runs only in that cell (it/pom.xml).
 */
class OldJavaIT extends FarmTestBase {

    private static Farm farm;
    private static Farm.Node node;

    @BeforeAll
    static void startNodeOnJava17() throws Exception {
        String java17 = System.getProperty("sessionfarm.nodeJavaHome", "");
        assertTrue(!java17.isBlank() && !java17.startsWith("${"),
                "the Tomcat 10.1 cell runs its nodes on a Java 17: run ./check, or ./mvnw verify -Djdk17.home=/usr/lib/jvm/java-17-openjdk-amd64");
        farm = farm(OldJavaIT.class);
        node = farm.create("java17", Farm.freePort(0), farmContext());
        // Farm leaves the TLS connector out of a Java 17 node's server.xml; this node keeps it.
        Files.copy(ROOT.resolve("conf/server.xml"), node.base().resolve("conf/server.xml"),
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        start(farm, List.of(node));
    }

    @Test
    void theNodeRunsOnJava17() throws Exception {
        String line = javaLine(Files.readString(node.base().resolve("logs/console.log")));
        assertTrue(line.matches(".*JVM Version:\\s+17\\..*"), line);
    }

    @Test
    void sessionsBehindTheTokenValveWorkOnJava17() throws Exception {
        Client browser = new Client();
        assertEquals(200, browser.get(node, "/api/incr?name=n").status());
        Client.Reply reply = browser.get(node, "/api/incr?name=n");
        assertEquals(2, reply.intField("n"), reply.body());
    }

    @Test
    void theTlsConnectorSaysWhatItNeedsAndPlainHttpServesOn() throws Exception {
        String log = Files.readString(node.base().resolve("logs/console.log"));
        assertTrue(log.contains("sharing TLS sessions needs Java 22 or later (this is Java 17)"), log);
        assertTrue(farm.isUp(node), "plain HTTP serves");
        try (Socket ignored = new Socket("127.0.0.1", node.httpsPort())) {
            throw new AssertionError("the HTTPS connector should not listen");
        } catch (ConnectException expected) {
            // stopped, with the message above
        }
        assertTrue(!log.contains("UnsupportedClassVersionError"), "no class of the TLS part was loaded");
    }

    private static String javaLine(String log) {
        return List.of(log.split("\n")).stream().filter(l -> l.contains("JVM Version:")).findFirst().orElse("(no JVM Version line)");
    }
}
