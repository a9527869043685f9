package io.sessionfarm.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.ConnectException;
import java.net.Socket;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import io.sessionfarm.store.TestDatabase;

/**
 * Shared TLS sessions on three real nodes, driven by {@code openssl s_client}: a session made on
 * one node resumes on the others, by ticket (the farm's key ring) and by session cache (tickets
 * off), for TLS 1.2 and 1.3; through HAProxy round-robin; single use; a local host; key rotation
 * under traffic and a TLS reload; a stored session altered or foreign; PostgreSQL stopped; a
 * connector configured wrong; and a node killed and restarted. The hosts are those of conf/server.xml.
 */
@Tag("tls")
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class TlsFarmIT extends FarmTestBase {

    private static final String TICKETS = "localhost";
    private static final String STATEFUL = "stateful.localhost";
    private static final String SINGLE_USE = "single.localhost";
    private static final String LOCAL = "local.localhost";
    private static final List<String> VERSIONS = List.of("tls1_2", "tls1_3");
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    private static Farm farm;
    private static List<Farm.Node> nodes;
    private static Path sessions;
    private static int counter;

    @BeforeAll
    static void startFarm() throws Exception {
        farm = farm(TlsFarmIT.class);
        nodes = new ArrayList<>();
        for (String name : List.of("a", "b", "c")) {
            Farm.Node node = farm.create(name, Farm.freePort(0), farmContext());
            // Keys rotate every minute here (the shortest allowed), so a rotation happens during the test.
            farm.setProperty(node, "sessionfarm.tls.ticketKeyRotation", "60");
            nodes.add(node);
        }
        start(farm, nodes);
        sessions = Files.createTempDirectory("tls-sessions");
    }

    @AfterAll
    static void startDatabaseAgain() throws Exception {
        startDatabase(); // whatever became of the outage test
    }

    @Test
    @Order(1)
    void aSessionMadeOnOneNodeResumesOnEveryOther() throws Exception {
        List<Long> fullBefore = new ArrayList<>();
        for (Farm.Node node : nodes) {
            fullBefore.add(counter(stats(node), "FullHandshakes"));
        }
        for (String version : VERSIONS) {
            for (String host : List.of(TICKETS, STATEFUL)) {
                Path session = newSession(nodes.get(0), host, version);
                for (Farm.Node other : nodes.subList(1, 3)) {
                    SClient.Result result = SClient.get(other.httpsPort(), host, version, "/api/ping", session, null);
                    assertTrue(result.reused(), version + " " + host + " on " + other.name() + ":\n" + result.output());
                    assertTrue(result.reply().startsWith("HTTP/1.1 200"), result.reply());
                }
            }
        }
        // Four full handshakes on the first node (TLS 1.2 with a ticket too), none where a session resumed.
        assertEquals(fullBefore.get(0) + 4, counter(stats(nodes.get(0)), "FullHandshakes"), stats(nodes.get(0)));
        for (int i = 1; i < 3; i++) {
            assertEquals(fullBefore.get(i), counter(stats(nodes.get(i)), "FullHandshakes"), stats(nodes.get(i)));
        }
        String stats = stats(nodes.get(1));
        assertTrue(counter(stats, "ResumedByTicket") >= 2, stats);
        assertTrue(counter(stats, "ResumedByCache") >= 2, stats);
        assertTrue(counter(stats, "CacheStoreHits") >= 2, stats);
        assertTrue(counter(stats, "TicketKeys") >= 1, stats);
    }

    @Test
    @Order(2)
    void whoamiTellsHowTheConnectionResumedAndTheSessionRemembersItsTls() throws Exception {
        Path session = sessions.resolve("whoami.pem");
        SClient.Result first = SClient.get(nodes.get(0).httpsPort(), TICKETS, "tls1_3", "/api/whoami", null, session);
        assertTrue(first.reply().contains("\"resumed\":\"no\""), first.reply());
        assertTrue(first.reply().contains("\"protocol\":\"TLSv1.3\""), first.reply());
        assertTrue(first.reply().contains("\"sessionCreatedUnder\":\"TLSv1.3 TLS_"), first.reply());
        SClient.Result byTicket = SClient.get(nodes.get(1).httpsPort(), TICKETS, "tls1_3", "/api/whoami", session, null);
        assertTrue(byTicket.reply().contains("\"resumed\":\"ticket\""), byTicket.reply());

        Path stateful = newSession(nodes.get(0), STATEFUL, "tls1_2");
        SClient.Result byCache = SClient.get(nodes.get(2).httpsPort(), STATEFUL, "tls1_2", "/api/whoami", stateful, null);
        assertTrue(byCache.reply().contains("\"resumed\":\"cache\""), byCache.reply());
        assertTrue(byCache.reply().contains("\"sessionCreatedUnder\":\"TLSv1.2 "), byCache.reply());
    }

    @Test
    @Order(3)
    void aLocalHostsSessionsResumeOnlyOnTheirNode() throws Exception {
        for (String version : VERSIONS) {
            Path session = newSession(nodes.get(0), LOCAL, version);
            assertTrue(SClient.get(nodes.get(0).httpsPort(), LOCAL, version, "/api/ping", session, null).reused(), version);
            assertFalse(SClient.get(nodes.get(1).httpsPort(), LOCAL, version, "/api/ping", session, null).reused(), version);
        }
    }

    @Test
    @Order(4)
    void aSingleUseSessionResumesOnceFarmWide() throws Exception {
        for (String version : VERSIONS) {
            Path session = newSession(nodes.get(0), SINGLE_USE, version);
            assertTrue(SClient.get(nodes.get(1).httpsPort(), SINGLE_USE, version, "/api/ping", session, null).reused(),
                    version + ": the first resumption");
            for (Farm.Node node : List.of(nodes.get(2), nodes.get(0), nodes.get(1))) {
                assertFalse(SClient.get(node.httpsPort(), SINGLE_USE, version, "/api/ping", session, null).reused(),
                        version + ": again on " + node.name());
            }
        }
    }

    @Test
    @Order(5)
    void everyReconnectionThroughRoundRobinResumes() throws Exception {
        assertTrue(Balancer.installed(), "haproxy is needed: sudo apt-get install haproxy (./check installs it)");
        int port = Farm.freePort(0);
        Process haproxy = Balancer.tcpRoundRobin(nodes, port, sessions, false);
        try {
            // TLS 1.2: s_client's own reconnect loop, five times over the one session.
            assertEquals(5, SClient.reconnect(port, "tls1_2"));
            // TLS 1.3: s_client -reconnect does not wait for the tickets, so each reconnection is a
            // process of its own, offering the ticket the last one received.
            Path session = sessions.resolve("balanced.pem");
            SClient.get(port, TICKETS, "tls1_3", "/api/ping", null, session);
            Set<String> servedBy = new HashSet<>();
            for (int i = 0; i < 6; i++) {
                SClient.Result result = SClient.get(port, TICKETS, "tls1_3", "/api/whoami", session, session);
                assertTrue(result.reused(), "reconnection " + i + ":\n" + result.output());
                servedBy.add(node(result.reply()));
            }
            assertEquals(Set.of("a", "b", "c"), servedBy, "round-robin reached every node");
        } finally {
            haproxy.destroy();
            haproxy.waitFor();
        }
    }

    @Test
    @Order(6)
    void anAlteredOrForeignStoredSessionIsAFullHandshake() throws Exception {
        try (Connection db = TestDatabase.connect(databaseUrl); Statement st = db.createStatement()) {
            byte[] altered = newStoredSession(st);
            byte[] other = newStoredSession(st);
            byte[] swapped = newStoredSession(st);
            try (var ps = db.prepareStatement("UPDATE sessionfarm_tls_session"
                    + " SET blob = set_byte(blob, 30, (get_byte(blob, 30) + 1) % 256) WHERE id = ?")) {
                ps.setBytes(1, altered);
                assertEquals(1, ps.executeUpdate());
            }
            // Sealed by the farm, but for another session id: the associated data no longer matches.
            try (var ps = db.prepareStatement("UPDATE sessionfarm_tls_session"
                    + " SET blob = (SELECT blob FROM sessionfarm_tls_session WHERE id = ?) WHERE id = ?")) {
                ps.setBytes(1, other);
                ps.setBytes(2, swapped);
                assertEquals(1, ps.executeUpdate());
            }
        }
        Farm.Node b = nodes.get(1);
        Farm.Node c = nodes.get(2);
        assertFalse(SClient.get(b.httpsPort(), STATEFUL, "tls1_2", "/api/ping", sessions.resolve("stored-0.pem"), null).reused());
        assertFalse(SClient.get(c.httpsPort(), STATEFUL, "tls1_2", "/api/ping", sessions.resolve("stored-2.pem"), null).reused());
        assertTrue(SClient.get(b.httpsPort(), STATEFUL, "tls1_2", "/api/ping", sessions.resolve("stored-1.pem"), null).reused(),
                "the untouched session still resumes");
        for (Farm.Node node : List.of(b, c)) {
            assertTrue(counter(stats(node), "CacheUnreadable") >= 1, node.name());
            String log = log(node);
            assertTrue(log.contains("a stored TLS session was refused"), node.name());
            assertFalse(log.contains("at io.sessionfarm.tls"), "no stack trace:\n" + Farm.tail(node, 30));
        }
    }

    @Test
    @Order(7)
    void aDatabaseReaderFindsNoTlsSecretInTheStore() throws Exception {
        Path session = sessions.resolve("secret.pem");
        SClient.Result made = SClient.get(nodes.get(0).httpsPort(), STATEFUL, "tls1_2", "/api/ping", null, session);
        Matcher m = Pattern.compile("Master-Key: ([0-9A-F]{96})").matcher(made.output());
        assertTrue(m.find(), made.output());
        byte[] secret = java.util.HexFormat.of().parseHex(m.group(1));
        Thread.sleep(500);
        try (Connection db = TestDatabase.connect(databaseUrl); Statement st = db.createStatement();
                ResultSet rs = st.executeQuery("SELECT blob FROM sessionfarm_tls_session")) {
            int rows = 0;
            while (rs.next()) {
                rows++;
                byte[] blob = rs.getBytes(1);
                // any 16 bytes of the 48-byte master secret would betray it
                assertFalse(indexOf(blob, java.util.Arrays.copyOfRange(secret, 0, 16)) >= 0, "a stored session is sealed");
                assertFalse(indexOf(blob, java.util.Arrays.copyOfRange(secret, 32, 48)) >= 0, "a stored session is sealed");
            }
            assertTrue(rows > 0);
        }
        assertTrue(SClient.get(nodes.get(1).httpsPort(), STATEFUL, "tls1_2", "/api/ping", session, null).reused(),
                "the sealed session still resumes on another node");
    }

    private static int indexOf(byte[] haystack, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= haystack.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (haystack[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }

    @Test
    @Order(8)
    void keysRotateUnderTrafficAndATlsReloadKeepsTheFarm() throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(150).toNanos();
        long rotationsAtStart = rotations();
        boolean reloaded = false;
        int resumed = 0;
        for (int round = 0; System.nanoTime() < deadline; round++) {
            Farm.Node from = nodes.get(round % 3);
            Farm.Node to = nodes.get((round + 1) % 3);
            String version = VERSIONS.get(round % 2);
            String host = round % 4 < 2 ? TICKETS : STATEFUL;
            Path session = newSession(from, host, version);
            SClient.Result result = SClient.get(to.httpsPort(), host, version, "/api/ping", session, null);
            assertTrue(result.reused(), "round " + round + ", " + version + " " + host + " " + from.name() + " -> "
                    + to.name() + ":\n" + result.output());
            resumed++;
            if (round == 3) {
                String reply = HTTP.send(HttpRequest.newBuilder(nodes.get(1).url("/api/tls-reload")).build(),
                        HttpResponse.BodyHandlers.ofString()).body();
                assertTrue(reply.contains("\"reloaded\":1"), reply);
                reloaded = true;
            }
            if (reloaded && rotations() > rotationsAtStart && round > 8) {
                break;
            }
            Thread.sleep(3000);
        }
        assertTrue(rotations() > rotationsAtStart, "a ticket key was promoted during the test");
        assertTrue(reloaded && resumed > 8, "resumptions: " + resumed);
    }

    @Test
    @Order(9)
    void withPostgresqlStoppedHandshakesAreFullNotErrorsAndResumptionReturns() throws Exception {
        String cluster = cluster();
        assertTrue(cluster != null, "needs the local PostgreSQL cluster (pg_ctlcluster)");
        Farm.Node a = nodes.get(0);
        Farm.Node b = nodes.get(1);
        Path ticket = newSession(a, TICKETS, "tls1_3");
        run("pg_ctlcluster", "--skip-systemctl-redirect", cluster, "main", "stop", "-m", "fast");
        try {
            Path stateful = sessions.resolve("outage.pem");
            long started = System.nanoTime();
            SClient.get(a.httpsPort(), STATEFUL, "tls1_2", "/api/ping", null, stateful);
            for (Farm.Node node : nodes) {
                SClient.Result result = SClient.get(node.httpsPort(), STATEFUL, "tls1_2", "/api/ping", stateful, null);
                assertTrue(result.reply().startsWith("HTTP/1.1 200"), node.name() + ": " + result.reply());
            }
            assertFalse(SClient.get(b.httpsPort(), STATEFUL, "tls1_2", "/api/ping", stateful, null).reused(),
                    "B cannot read the store: a full handshake");
            assertTrue(SClient.get(b.httpsPort(), TICKETS, "tls1_3", "/api/ping", ticket, null).reused(),
                    "tickets need no store");
            assertTrue(Duration.ofNanos(System.nanoTime() - started).toSeconds() < 30,
                    "handshakes did not wait for the store");
        } finally {
            startDatabase();
        }
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (!stats(b).contains("\"StoreAvailable\":true") || !stats(a).contains("\"StoreAvailable\":true")) {
            assertTrue(System.nanoTime() < deadline, "the TLS store came back:\n" + stats(b));
            Thread.sleep(500);
        }
        Path session = newSession(a, STATEFUL, "tls1_2");
        assertTrue(SClient.get(b.httpsPort(), STATEFUL, "tls1_2", "/api/ping", session, null).reused(),
                "resumption across nodes is back");
    }

    @Test
    @Order(10)
    void aConnectorConfiguredWrongStopsWithAMessageThatSaysWhatToChange() throws Exception {
        record Case(String name, String from, String to, String message) {
        }
        List<Case> cases = List.of(
                new Case("jsse", "protocol=\"io.sessionfarm.tls.FarmTlsProtocol\"",
                        "protocol=\"io.sessionfarm.tls.FarmTlsProtocol\" sslImplementationName=\"org.apache.tomcat.util.net.jsse.JSSEImplementation\"",
                        "the JDK's own TLS (JSSE) cannot export or import sessions or ticket keys"),
                new Case("typo", "singleUseHosts=\"single.localhost\"", "singleUseHosts=\"singel.localhost\"",
                        "[singel.localhost] is not the hostName of any SSLHostConfig of this connector"));
        List<Farm.Node> started = new ArrayList<>();
        for (Case c : cases) {
            Farm.Node node = farm.create(c.name(), Farm.freePort(0), farmContext());
            Path serverXml = node.base().resolve("conf/server.xml");
            String xml = Files.readString(serverXml);
            assertTrue(xml.contains(c.from()), c.from());
            Files.writeString(serverXml, xml.replace(c.from(), c.to()));
            farm.start(node);
            started.add(node);
        }
        registerForStop(started);
        for (int i = 0; i < cases.size(); i++) {
            Farm.Node node = started.get(i);
            awaitServerStarted(node);
            assertTrue(log(node).contains(cases.get(i).message()), cases.get(i).name() + ":\n" + Farm.tail(node, 40));
            assertTrue(farm.isUp(node), "plain HTTP still serves");
            try (Socket ignored = new Socket("127.0.0.1", node.httpsPort())) {
                throw new AssertionError(cases.get(i).name() + ": the HTTPS connector should not listen");
            } catch (ConnectException expected) {
                // stopped, as it should be
            }
        }
    }

    @Test
    @Order(11)
    void aNodeKilledAndRestartedResumesTheSessionsMadeBeforeItDied() throws Exception {
        Farm.Node a = nodes.get(0);
        Farm.Node b = nodes.get(1);
        Path ticket = newSession(a, TICKETS, "tls1_3");
        Path stateful = newSession(a, STATEFUL, "tls1_2");
        Path ownTicket = newSession(b, TICKETS, "tls1_2");
        farm.kill(b);
        farm.start(b);
        farm.awaitUp(b, START);
        assertTrue(SClient.get(b.httpsPort(), TICKETS, "tls1_3", "/api/ping", ticket, null).reused(), "a ticket from A");
        assertTrue(SClient.get(b.httpsPort(), STATEFUL, "tls1_2", "/api/ping", stateful, null).reused(), "a cached session from A");
        assertTrue(SClient.get(b.httpsPort(), TICKETS, "tls1_2", "/api/ping", ownTicket, null).reused(),
                "a ticket B issued before it died");
    }

    // ---- helpers

    /** A full handshake on {@code node}; returns the file holding the session it made. */
    private static Path newSession(Farm.Node node, String host, String version) throws Exception {
        Path file = sessions.resolve("session-" + (counter++) + ".pem");
        SClient.Result result = SClient.get(node.httpsPort(), host, version, "/api/ping", null, file);
        assertFalse(result.reused(), result.output());
        Thread.sleep(300); // a write slower than lookupTimeout (a loaded CI machine) finishes behind the handshake
        return file;
    }

    /** A stateful session made on node A, as stored-N.pem; returns the id of its new row. */
    private static byte[] newStoredSession(Statement st) throws Exception {
        Set<String> before = ids(st);
        int n = (int) Files.list(sessions).filter(p -> p.getFileName().toString().startsWith("stored-")).count();
        SClient.get(nodes.get(0).httpsPort(), STATEFUL, "tls1_2", "/api/ping", null, sessions.resolve("stored-" + n + ".pem"));
        for (int i = 0; i < 50; i++) {
            Set<String> after = ids(st);
            after.removeAll(before);
            if (after.size() == 1) {
                return java.util.HexFormat.of().parseHex(after.iterator().next());
            }
            Thread.sleep(100);
        }
        throw new AssertionError("the session was not stored");
    }

    private static Set<String> ids(Statement st) throws Exception {
        Set<String> ids = new HashSet<>();
        try (ResultSet rs = st.executeQuery("SELECT encode(id, 'hex') FROM sessionfarm_tls_session")) {
            while (rs.next()) {
                ids.add(rs.getString(1));
            }
        }
        return ids;
    }

    private static long rotations() throws Exception {
        long sum = 0;
        for (Farm.Node node : nodes) {
            sum += counter(stats(node), "TicketKeyRotations");
        }
        return sum;
    }

    private static String stats(Farm.Node node) throws IOException, InterruptedException {
        return HTTP.send(HttpRequest.newBuilder(node.url("/api/stats")).build(), HttpResponse.BodyHandlers.ofString()).body();
    }

    private static long counter(String stats, String name) {
        Matcher m = Pattern.compile("\"" + name + "\":(\\d+)").matcher(stats);
        assertTrue(m.find(), name + " in " + stats);
        return Long.parseLong(m.group(1));
    }

    private static String node(String reply) {
        Matcher m = Pattern.compile("\"node\":\"([^\"]+)\"").matcher(reply);
        assertTrue(m.find(), reply);
        return m.group(1);
    }

    private static String cluster() throws IOException {
        if (!Files.isExecutable(Path.of("/usr/bin/pg_ctlcluster")) || !Files.isDirectory(Path.of("/etc/postgresql"))) {
            return null;
        }
        try (var versions = Files.list(Path.of("/etc/postgresql"))) {
            return versions.map(p -> p.getFileName().toString()).sorted().findFirst().orElse(null);
        }
    }

    private static void startDatabase() throws Exception {
        String cluster = cluster();
        if (cluster != null) {
            run("pg_ctlcluster", "--skip-systemctl-redirect", cluster, "main", "start");
            for (int i = 0; i < 60; i++) {
                if (new ProcessBuilder("pg_isready", "-q", "-h", "127.0.0.1").start().waitFor() == 0) {
                    return;
                }
                Thread.sleep(500);
            }
        }
    }

    private static void run(String... command) throws IOException, InterruptedException {
        new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start().waitFor();
    }
}
