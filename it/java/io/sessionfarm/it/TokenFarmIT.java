package io.sessionfarm.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import io.sessionfarm.store.TestDatabase;

/**
 * The token valve on three real Tomcat nodes sharing one PostgreSQL, with the clocks of
 * {@code context-tokens-fast.xml}: a new token on every response, 2 s grace, 5 s idle and 12 s
 * absolute timeouts, key rotation every few seconds. {@code /api/report} lives on node C only.
 */
class TokenFarmIT extends FarmTestBase {

    private static final long GRACE_MILLIS = 2000;
    private static final long IDLE_MILLIS = 5000;
    private static final long ABSOLUTE_MILLIS = 12_000;

    private static Farm farm;
    private static Farm.Node a;
    private static Farm.Node b;
    private static Farm.Node c;
    /** Every token a test saw: none may ever appear in a log. */
    private static final Set<String> tokensSeen = ConcurrentHashMap.newKeySet();

    @BeforeAll
    static void startFarm() throws Exception {
        farm = farm(TokenFarmIT.class);
        Path context = fixture("context-tokens-fast.xml");
        a = farm.create("token-a", Farm.freePort(0), context);
        b = farm.create("token-b", Farm.freePort(0), context);
        c = farm.create("token-c", Farm.freePort(0), context);
        farm.route(List.of(a, b, c), "/api/report", c);
        start(farm, List.of(a, b, c));
    }

    private static Client.Reply get(Client user, Farm.Node node, String path) throws Exception {
        Client.Reply reply = user.get(node, path);
        if (user.token() != null) {
            tokensSeen.add(user.token());
        }
        assertFalse(reply.body().contains("Exception"), "never a stack trace: " + reply.body());
        return reply;
    }

    private static List<String> column(String sql) throws Exception {
        List<String> values = new ArrayList<>();
        TestDatabase.Server server = TestDatabase.server();
        try (Connection connection = DriverManager.getConnection(databaseUrl, server.user(), server.password());
                Statement statement = connection.createStatement(); ResultSet rs = statement.executeQuery(sql)) {
            while (rs.next()) {
                values.add(rs.getString(1));
            }
        }
        return values;
    }

    @Test
    void theSessionFollowsTheUserAcrossNodesWhileItsTokenRotates() throws Exception {
        Client user = new Client();
        Client.Reply first = get(user, a, "/api/whoami");
        assertTrue(first.body().contains("\"new\":true"), first.body());
        String issued = user.token();
        assertNotNull(issued, "a token cookie was set");
        String setCookie = first.header("Set-Cookie").get(0);
        assertTrue(setCookie.startsWith(Client.TOKEN_COOKIE + "=") && setCookie.contains("; Path=/")
                && setCookie.contains("; Secure") && setCookie.contains("; HttpOnly") && setCookie.contains("; SameSite=Lax")
                && !setCookie.toLowerCase().contains("domain=") && !setCookie.toLowerCase().contains("expires"), setCookie);
        assertEquals(List.of("no-store"), first.header("Cache-Control"));

        get(user, a, "/api/login?value=alice");
        String afterLogin = user.token();
        assertNotEquals(issued, afterLogin, "a new token at login");
        Client.Reply onB = get(user, b, "/api/get");
        assertTrue(onB.body().contains("\"user\":\"alice\""), onB.body());
        assertEquals("current", onB.field("token"));
        assertNotEquals(afterLogin, user.token(), "rotated on node B");
        Client.Reply onC = get(user, c, "/api/incr?name=n");
        assertEquals(1, onC.intField("n"));
        assertEquals("current", onC.field("token"));

        assertNull(user.sessionId(), "no JSESSIONID cookie, ever");
        List<String> sessionIds = column("SELECT id FROM sessionfarm_session");
        assertFalse(sessionIds.isEmpty());
        for (String id : sessionIds) {
            for (String token : List.of(issued, afterLogin, user.token())) {
                assertFalse(token.contains(id), "the browser never holds a plain session id");
            }
            assertFalse(onB.body().contains(id) || onC.body().contains(id));
        }
    }

    @Test
    void aPredecessorInsideTheGraceGetsTheSameSuccessorAndAReplayAfterItRevokesTheSession() throws Exception {
        Client user = new Client();
        get(user, a, "/api/incr?name=n");
        String old = user.token();
        get(user, b, "/api/incr?name=n"); // rotates: old is now the predecessor
        String successor = user.token();

        // A parallel request that still carried the old token, inside the grace period.
        Client parallel = user.withCookie(Client.TOKEN_COOKIE, old);
        Client.Reply late = get(parallel, c, "/api/get");
        assertTrue(late.body().contains("\"session\":true"), late.body());
        assertEquals("predecessor", late.field("token"));
        // It got the successor the user holds, not a branch of its own: the user's token is still current.
        Client.Reply next = get(user, a, "/api/incr?name=n");
        assertEquals("current", next.field("token"), "no new branch was made: " + next.body());
        assertEquals(3, next.intField("n"));
        assertEquals(successor, user.token(), "not replaced while its predecessor's grace is open");

        Thread.sleep(GRACE_MILLIS + 1000);
        // The old token, captured with curl, replayed after the grace period.
        Process curl = new ProcessBuilder(Tools.require("curl", "curl"), "-s", "-b", Client.TOKEN_COOKIE + "=" + old, b.url("/api/get").toString())
                .redirectErrorStream(true).start();
        String replay = new String(curl.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(curl.waitFor(20, TimeUnit.SECONDS) && curl.exitValue() == 0, replay);
        assertTrue(replay.contains("\"session\":false"), "the replayed token gets nothing: " + replay);

        Client.Reply after = get(user, c, "/api/get");
        assertTrue(after.body().contains("\"session\":false"), "revoked for everyone who held it: " + after.body());
        assertTrue(log(b).contains("AUDIT token reuse"), "one audit line");
        Client.Reply fresh = get(user, c, "/api/whoami");
        assertTrue(fresh.body().contains("\"new\":true"), "the user starts a new session: " + fresh.body());
    }

    /**
     * A busy browser's round with a new token on every response, on three nodes: the first request
     * rotates, one sent after its answer carries the successor, and one that waited for a free
     * connection still carries the first token. Nobody loses the session, no reuse is reported.
     */
    @Test
    void aRequestQueuedWithTheOldTokenKeepsTheSessionAfterTheSuccessorWasUsed() throws Exception {
        long reusesBefore = reuseLines();
        Client user = new Client();
        get(user, a, "/api/incr?name=n");
        for (int round = 1; round <= 3; round++) {
            String old = user.token();
            get(user, b, "/api/incr?name=n"); // rotates: old is now the predecessor
            assertNotEquals(old, user.token());
            Client.Reply withSuccessor = get(user, c, "/api/incr?name=n");
            assertEquals("current", withSuccessor.field("token"), withSuccessor.body());
            Client.Reply queued = get(user.withCookie(Client.TOKEN_COOKIE, old), a, "/api/incr?name=n");
            assertEquals("predecessor", queued.field("token"), "round " + round + ": " + queued.body());
            assertEquals(1 + 3 * round, queued.intField("n"), "round " + round + ": the session lives on: " + queued.body());
            Thread.sleep(GRACE_MILLIS + 200); // the next round's first request rotates again
        }
        Client.Reply after = get(user, b, "/api/get");
        assertEquals(10, after.intField("n"), after.body());
        assertEquals(reusesBefore, reuseLines(), "a busy browser is not a thief");
    }

    /**
     * The same with a hand-off link opened inside the grace, whether an earlier request rotated the
     * token or the link's own request did: issuing the code adds no second generation, so the
     * request still on its way with the old token is one step behind, not a reuse.
     */
    @Test
    void aHandOffInsideTheGraceLeavesARequestQueuedWithTheOldTokenItsSession() throws Exception {
        long reusesBefore = reuseLines();
        Client user = new Client();
        get(user, a, "/api/incr?name=n");
        String old = user.token();
        get(user, b, "/api/incr?name=n"); // rotates: old is now the predecessor
        assertEquals(303, get(user, a, "/api/report").status(), "a hand-off link to node C");
        Client.Reply queued = get(user.withCookie(Client.TOKEN_COOKIE, old), b, "/api/incr?name=n");
        assertEquals("predecessor", queued.field("token"), queued.body());
        assertEquals(3, queued.intField("n"), "the session lives on: " + queued.body());

        Thread.sleep(GRACE_MILLIS + 200);
        String beforeLink = user.token();
        assertEquals(303, get(user, a, "/api/report").status(), "rotates and hands off in one request");
        assertNotEquals(beforeLink, user.token());
        Client.Reply queuedAcrossLink = get(user.withCookie(Client.TOKEN_COOKIE, beforeLink), b, "/api/incr?name=n");
        assertEquals("predecessor", queuedAcrossLink.field("token"), queuedAcrossLink.body());
        assertEquals(4, queuedAcrossLink.intField("n"), "the session lives on: " + queuedAcrossLink.body());
        assertEquals(reusesBefore, reuseLines(), "a busy browser is not a thief");
    }

    private static long reuseLines() throws Exception {
        long lines = 0;
        for (Farm.Node node : List.of(a, b, c)) {
            lines += log(node).lines().filter(line -> line.contains("AUDIT token reuse")).count();
        }
        return lines;
    }

    @Test
    void badTokensGetAFreshSessionOr401AndNeverAChosenSessionId() throws Exception {
        Client owner = new Client();
        get(owner, a, "/api/set?name=secret&value=mine");
        String valid = owner.token();
        char flipped = valid.charAt(valid.length() / 2) == 'A' ? 'B' : 'A';
        String tampered = valid.substring(0, valid.length() / 2) + flipped + valid.substring(valid.length() / 2 + 1);
        List<String> bad = List.of("garbage", "", valid.substring(0, valid.length() - 10), tampered, valid + "AAAA",
                "A".repeat(4000), "AQ" + "_".repeat(150), "%00%01%02", "\"quoted\"");
        for (String value : bad) {
            Client attacker = new Client();
            attacker.setCookie(Client.TOKEN_COOKIE, value);
            Client.Reply page = get(attacker, b, "/api/whoami");
            assertEquals(200, page.status(), value);
            assertTrue(page.body().contains("\"new\":true"), "a bad token is no session: " + page.body());
            Client strict = new Client();
            strict.setCookie(Client.TOKEN_COOKIE, value);
            Client.Reply api = get(strict, c, "/api/strict/get");
            assertEquals(401, api.status(), "API paths answer 401 to a bad token: " + value);
        }
        // A client-chosen session id, by cookie or in the URL, is never used.
        String known = column("SELECT id FROM sessionfarm_session").get(0);
        Client fixation = new Client();
        fixation.setCookie("JSESSIONID", known);
        Client.Reply chosen = get(fixation, a, "/api/whoami;jsessionid=" + known);
        assertTrue(chosen.body().contains("\"new\":true"), chosen.body());
        assertTrue(get(owner, c, "/api/get").body().contains("\"secret\":\"mine\""), "the owner kept the session");
        for (Farm.Node node : List.of(a, b, c)) {
            String log = log(node);
            assertFalse(log.contains(tampered) || log.contains(valid) || log.contains("SEVERE"), node.name());
        }
    }

    @Test
    void idleAndAbsoluteTimeoutsCloseTheSession() throws Exception {
        Client idle = new Client();
        get(idle, a, "/api/whoami");
        Thread.sleep(IDLE_MILLIS + 1500);
        assertTrue(get(idle, b, "/api/whoami").body().contains("\"new\":true"), "closed after the idle timeout");

        Client busy = new Client();
        get(busy, a, "/api/whoami");
        long start = System.currentTimeMillis();
        int round = 0;
        while (true) {
            Thread.sleep(1000);
            Client.Reply reply = get(busy, List.of(a, b, c).get(++round % 3), "/api/whoami");
            long age = System.currentTimeMillis() - start;
            if (reply.body().contains("\"new\":true")) {
                assertTrue(age >= ABSOLUTE_MILLIS - 1000, "closed at " + age + " ms, before the absolute timeout");
                break;
            }
            assertTrue(age < ABSOLUTE_MILLIS + 3000, "still open after " + age + " ms");
        }
    }

    @Test
    void aHandOffWorksOnceAndOnlyOnce() throws Exception {
        Client user = new Client();
        get(user, a, "/api/whoami");
        String token = user.token();
        Client.Reply redirect = get(user, a, "/api/report?x=1");
        assertEquals(303, redirect.status());
        String location = redirect.header("Location").get(0);
        assertTrue(location.startsWith("http://127.0.0.1:" + c.port() + "/.sessionfarm/handoff?code="), location);
        assertFalse(location.contains(token), "the token never travels in a URL");
        assertEquals(List.of("no-referrer"), redirect.header("Referrer-Policy"));

        Client.Reply redeemed = get(user, c, location.substring(location.indexOf("/.sessionfarm")));
        assertEquals(303, redeemed.status());
        assertEquals("/api/report?x=1", redeemed.header("Location").get(0), "on to the clean URL");
        Client.Reply report = get(user, c, "/api/report?x=1");
        assertTrue(report.body().contains("\"session\":true") && report.body().contains("\"counter\":1"), report.body());

        Client thief = new Client();
        Client.Reply again = get(thief, c, location.substring(location.indexOf("/.sessionfarm")));
        assertEquals(410, again.status(), "a code works once");
        assertNull(thief.token());
        assertEquals(400, get(thief, c, "/.sessionfarm/handoff?code=forged").status());
    }

    @Test
    void aKeyRotationDuringTrafficLogsNobodyOut() throws Exception {
        Set<String> primaries = ConcurrentHashMap.newKeySet();
        ExecutorService pool = Executors.newFixedThreadPool(5);
        long end = System.currentTimeMillis() + 10_000;
        List<Future<Integer>> users = new ArrayList<>();
        for (int u = 0; u < 4; u++) {
            int offset = u;
            users.add(pool.submit(() -> {
                Client user = new Client();
                int expected = 0;
                for (int i = offset; System.currentTimeMillis() < end; i++) {
                    Client.Reply reply = get(user, List.of(a, b, c).get(i % 3), "/api/incr?name=n");
                    assertEquals(200, reply.status());
                    assertEquals(++expected, reply.intField("n"), "the session survived every rotation");
                }
                return expected;
            }));
        }
        Future<?> watcher = pool.submit(() -> {
            while (System.currentTimeMillis() < end) {
                primaries.addAll(column("SELECT id FROM sessionfarm_key WHERE purpose = 'token' AND state = 'primary'"));
                Thread.sleep(200);
            }
            return null;
        });
        int requests = 0;
        for (Future<Integer> user : users) {
            requests += user.get();
        }
        watcher.get();
        pool.shutdown();
        assertTrue(primaries.size() >= 2, "the primary key changed during the run: " + primaries);
        assertTrue(requests > 40, "traffic flowed: " + requests);
    }

    @Test
    void chromiumsParallelRequestsNeverLoseTheSessionAndKeepTheNewestToken() throws Exception {
        String chromium = Tools.require("chromium", "chromium");
        Path profile = Files.createTempDirectory(ROOT.resolve("target"), "chromium-");
        Process browser = new ProcessBuilder(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--user-data-dir=" + profile, "--virtual-time-budget=30000", "--dump-dom",
                "http://localhost:" + b.port() + "/parallel.html?rounds=20").redirectError(ProcessBuilder.Redirect.DISCARD).start();
        String dom = new String(browser.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(browser.waitFor(60, TimeUnit.SECONDS), "chromium finished");
        Matcher result = Pattern.compile("<pre id=\"result\">(.*?)</pre>", Pattern.DOTALL).matcher(dom);
        assertTrue(result.find(), dom);
        String json = result.group(1).replace("&quot;", "\"");
        assertTrue(json.startsWith("{\"first\""), json);
        assertFalse(json.contains("\"status\":4") || json.contains("\"status\":5"), json);
        for (int round = 1; round <= 20; round++) {
            for (int i = 0; i < 8; i++) {
                assertTrue(json.contains("\"p" + i + "\":" + round), "p" + i + " reached " + round + ": " + json);
            }
        }
        assertEquals(json.indexOf("\"new\":true"), json.lastIndexOf("\"new\":true"), "one session, made once: " + json);
        String last = json.substring(json.indexOf("\"last\""));
        assertTrue(last.contains("\"token\":\"current\""), "the browser ended with the newest token: " + last);
        for (int i = 0; i < 8; i++) {
            assertTrue(last.contains("\"p" + i + "\":20"), last);
        }
    }

    @Test
    void attributesAreEncryptedAtRestAndPlantedOrAlteredValuesAreRefused() throws Exception {
        String canary = "plaintext-canary-" + System.nanoTime();
        Client user = new Client();
        get(user, a, "/api/set?name=secret&value=" + canary);
        get(user, a, "/api/set?name=planted&value=x");
        get(user, a, "/api/set?name=altered&value=x");
        get(user, a, "/api/set?name=kept&value=fine");
        byte[] masterKey = java.util.Base64.getDecoder().decode(Files.readString(farm.masterKeyFile()).strip());
        TestDatabase.Server server = TestDatabase.server();
        try (Connection db = DriverManager.getConnection(databaseUrl, server.user(), server.password());
                Statement st = db.createStatement()) {
            for (String query : List.of("SELECT value FROM sessionfarm_attribute", "SELECT wrapped FROM sessionfarm_key")) {
                try (ResultSet rs = st.executeQuery(query)) {
                    while (rs.next()) {
                        String raw = new String(rs.getBytes(1), StandardCharsets.ISO_8859_1);
                        assertFalse(raw.contains(canary), "an attribute value in the clear");
                        assertFalse(raw.contains(new String(masterKey, StandardCharsets.ISO_8859_1)), "the master key");
                    }
                }
            }
            String sessionId = column("SELECT session_id FROM sessionfarm_attribute WHERE name = 'secret'").get(0);
            byte[] plain;
            try (var bytes = new java.io.ByteArrayOutputStream(); var out = new java.io.ObjectOutputStream(bytes)) {
                out.writeObject("planted by someone who can write the tables");
                out.flush();
                plain = bytes.toByteArray();
            }
            try (var ps = db.prepareStatement("UPDATE sessionfarm_attribute SET value = ?, key_id = NULL"
                    + " WHERE session_id = ? AND name = 'planted'")) {
                ps.setBytes(1, plain);
                ps.setString(2, sessionId);
                assertEquals(1, ps.executeUpdate());
            }
            try (var ps = db.prepareStatement("UPDATE sessionfarm_attribute SET value = overlay(value placing"
                    + " '\\xff'::bytea from 20 for 1) WHERE session_id = ? AND name = 'altered'")) {
                ps.setString(1, sessionId);
                assertEquals(1, ps.executeUpdate());
            }
        }
        Client.Reply elsewhere = get(user, c, "/api/get"); // node C never held this session: it reads the rows
        assertEquals(200, elsewhere.status());
        assertTrue(elsewhere.body().contains("\"secret\":\"" + canary + "\"") && elsewhere.body().contains("\"kept\":\"fine\""),
                elsewhere.body());
        assertFalse(elsewhere.body().contains("planted") || elsewhere.body().contains("altered"), elsewhere.body());
        String log = log(c);
        assertTrue(log.contains("attribute [planted] of session [") && log.contains("attribute [altered] of session [")
                && log.contains("cannot be decrypted"), "one warning per refused value");
    }

    @Test
    void noTokenEverReachesALog() throws Exception {
        Client user = new Client();
        for (Farm.Node node : List.of(a, b, c)) {
            get(user, node, "/api/whoami");
        }
        for (Farm.Node node : List.of(a, b, c)) {
            String log = log(node);
            for (String token : tokensSeen) {
                assertFalse(log.contains(token), node.name() + " logged a token");
            }
        }
    }
}
