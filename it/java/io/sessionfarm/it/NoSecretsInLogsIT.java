package io.sessionfarm.it;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import io.sessionfarm.keys.KeyRing;
import io.sessionfarm.keys.MasterKey;
import io.sessionfarm.store.TestDatabase;

/**
 * A whole farm run, logged: startup with a password written into context.xml, logins, token
 * rotations on every response, a hand-off, a replayed token, bad tokens, the database refused for
 * a while, a node killed and restarted, key rotations, and TLS handshakes resumed across the nodes.
 * Then every line of every node's logs is searched for the password, every token and session id
 * the run produced, the master key, every data key and every TLS session secret, in the forms a
 * careless log would print them. On Java 17 nodes (no TLS connector) the same run, without the TLS part.
 */
class NoSecretsInLogsIT extends FarmTestBase {

    private static FaultyProxy proxy;

    @AfterAll
    static void closeProxy() throws Exception {
        if (proxy != null) {
            proxy.close();
        }
    }

    @Test
    void noPasswordTokenKeyOrSessionIdIsEverLogged() throws Exception {
        Farm farm = farm(NoSecretsInLogsIT.class, url -> {
            proxy = new FaultyProxy(url);
            return proxy.url();
        });
        String password = "pw-" + Long.toHexString(System.nanoTime()) + "-do-not-log";
        Path context = ROOT.resolve("target/it-farms/NoSecretsInLogsIT/context.xml");
        Files.createDirectories(context.getParent());
        Files.writeString(context, Files.readString(farmContext())
                .replace("${sessionfarm.password}", password)
                .replace("rotateAfter=\"60\" grace=\"20\"", "rotateAfter=\"0\" grace=\"0\" keyRotation=\"2\""));
        List<Farm.Node> nodes = new ArrayList<>();
        for (String name : List.of("quiet-a", "quiet-b")) {
            nodes.add(farm.create(name, Farm.freePort(0), context));
        }
        farm.route(nodes, "/api/report", nodes.get(1));
        start(farm, nodes);
        Farm.Node a = nodes.get(0);
        Farm.Node b = nodes.get(1);

        List<String> tokens = new ArrayList<>();
        List<Client> users = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            Client user = new Client();
            users.add(user);
            user.get(a, "/api/login?value=user" + i);
            for (int step = 0; step < 5; step++) {
                user.get(nodes.get(step % 2), "/api/append?name=cart&value=item" + step);
                tokens.add(user.token());
            }
        }
        Client handedOff = users.get(0);
        String location = handedOff.get(a, "/api/report").header("Location").get(0);
        handedOff.get(b, location.substring(location.indexOf("/.sessionfarm")));
        tokens.add(handedOff.token());
        // A replay: a token four rotations old revokes its session (and logs one audit line).
        Client victim = users.get(1);
        String old = tokens.get(5);
        assertTrue(victim.withCookie(Client.TOKEN_COOKIE, old).get(b, "/api/get").body().contains("\"session\":false"));
        // Bad tokens.
        for (String bad : List.of("garbage", old.substring(0, 40), old.replace('A', 'B'))) {
            new Client().withCookie(Client.TOKEN_COOKIE, bad).get(a, "/api/whoami");
        }
        // TLS: full handshakes on one node and resumptions on the other, by ticket and by the
        // farm's session cache, TLS 1.2 and 1.3. s_client prints each session's secret. Nodes on
        // Java 17 (the Tomcat 10.1 cell) have no TLS connector, and so no TLS secrets to leak.
        List<String> tlsSecrets = new ArrayList<>();
        if (farm.nodeJavaFeature() >= 22) {
            Path sessions = Files.createTempDirectory("tls-sessions");
            for (String host : List.of("localhost", "stateful.localhost")) {
                for (String version : List.of("tls1_2", "tls1_3")) {
                    Path session = sessions.resolve(host + "-" + version + ".pem");
                    tlsSecrets.addAll(sessionSecrets(SClient.get(a.httpsPort(), host, version, "/api/ping", null, session)));
                    Thread.sleep(300);
                    SClient.Result resumed = SClient.get(b.httpsPort(), host, version, "/api/ping", session, null);
                    assertTrue(resumed.reused(), host + " " + version);
                    tlsSecrets.addAll(sessionSecrets(resumed));
                }
            }
            assertTrue(tlsSecrets.size() >= 8, "TLS secrets to look for: " + tlsSecrets.size());
        }
        // The database refused for a while, under traffic.
        proxy.refuse();
        for (Client user : users) {
            user.get(a, "/api/append?name=cart&value=during-outage");
            tokens.add(user.token());
        }
        proxy.restore();
        Thread.sleep(3000);
        // A node killed and restarted; the users go on.
        farm.kill(b);
        farm.start(b);
        farm.awaitUp(b, Duration.ofSeconds(120));
        for (Client user : users) {
            user.get(b, "/api/get");
            tokens.add(user.token());
        }

        List<Map.Entry<String, String>> secrets = new ArrayList<>();
        secrets.add(Map.entry("the database password", password));
        tokens.stream().filter(t -> t != null).forEach(t -> secrets.add(Map.entry("a token", t)));
        byte[] master = Base64.getDecoder().decode(Files.readString(farm.masterKeyFile()).strip());
        secrets.add(Map.entry("the master key (base64)", Base64.getEncoder().encodeToString(master)));
        secrets.add(Map.entry("the master key (hex)", HexFormat.of().formatHex(master)));
        try (Connection db = TestDatabase.connect(databaseUrl); Statement st = db.createStatement()) {
            try (ResultSet rs = st.executeQuery("SELECT id FROM sessionfarm_session UNION SELECT session_id FROM sessionfarm_token")) {
                while (rs.next()) {
                    secrets.add(Map.entry("a session id", rs.getString(1)));
                }
            }
            org.postgresql.ds.PGSimpleDataSource dataSource = new org.postgresql.ds.PGSimpleDataSource();
            dataSource.setURL(databaseUrl);
            dataSource.setUser(TestDatabase.server().user());
            dataSource.setPassword(TestDatabase.server().password());
            try (ResultSet rs = st.executeQuery("SELECT DISTINCT purpose, id FROM sessionfarm_key")) {
                while (rs.next()) {
                    KeyRing ring = new KeyRing(dataSource, MasterKey.of(master), rs.getString(1),
                            new KeyRing.Schedule(Long.MAX_VALUE, 0, 0));
                    byte[] key = ring.find(rs.getInt(2)).getEncoded();
                    secrets.add(Map.entry("a data key (base64)", Base64.getEncoder().encodeToString(key)));
                    secrets.add(Map.entry("a data key (hex)", HexFormat.of().formatHex(key)));
                }
            }
        }
        for (String hex : tlsSecrets) {
            byte[] bytes = HexFormat.of().parseHex(hex);
            secrets.add(Map.entry("a TLS session secret (hex)", hex));
            secrets.add(Map.entry("a TLS session secret (hex)", hex.toLowerCase(java.util.Locale.ROOT)));
            secrets.add(Map.entry("a TLS session secret (base64)", Base64.getEncoder().encodeToString(bytes)));
        }
        assertTrue(secrets.size() > 20, "the run produced secrets to look for: " + secrets.size());

        long lines = 0;
        for (Farm.Node node : nodes) {
            try (Stream<Path> files = Files.list(node.base().resolve("logs"))) {
                for (Path file : files.toList()) {
                    String log = Files.readString(file, StandardCharsets.ISO_8859_1);
                    lines += log.lines().count();
                    for (Map.Entry<String, String> secret : secrets) {
                        assertFalse(log.contains(secret.getValue()), secret.getKey() + " in " + file);
                    }
                }
            }
        }
        String all = log(a) + log(b);
        assertTrue(all.contains("AUDIT token reuse") && all.contains("session store is unreachable")
                && all.contains("password=<masked>"), "the run did log what happened, without the secrets");
        assertTrue(lines > 50, "the logs were read: " + lines + " lines");
    }

    /** The TLS 1.2 master secret or TLS 1.3 resumption secret that s_client printed for its session. */
    private static List<String> sessionSecrets(SClient.Result result) {
        List<String> found = new ArrayList<>();
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("(?:Master-Key|Resumption PSK): ([0-9A-F]{32,})")
                .matcher(result.output());
        while (m.find()) {
            found.add(m.group(1));
        }
        return found;
    }
}
