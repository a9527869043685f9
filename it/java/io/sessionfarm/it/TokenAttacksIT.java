package io.sessionfarm.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import io.sessionfarm.store.TestDatabase;

/**
 * The token valve attacked as the security review did it, on real nodes: three in shared mode with
 * {@code /api/report} served by node C only, two in sticky mode; tokens rotate after 60 s with a
 * 2 s grace ({@code context-tokens-attacks.xml}). An attacker and a victim are separate cookie
 * jars; a jar with no cookie stands for a browser on another host name.
 */
class TokenAttacksIT extends FarmTestBase {

    private static final long GRACE_MILLIS = 2000;

    private static Farm farm;
    private static Farm.Node a;
    private static Farm.Node b;
    private static Farm.Node c;
    private static Farm.Node stickyA;
    private static Farm.Node stickyB;
    private static Farm.Node pollA;
    private static Farm.Node pollB;
    private static final ExecutorService threads = Executors.newFixedThreadPool(24);

    @BeforeAll
    static void startFarm() throws Exception {
        farm = farm(TokenAttacksIT.class);
        var context = fixture("context-tokens-attacks.xml");
        a = farm.create("attack-a", Farm.freePort(0), context);
        b = farm.create("attack-b", Farm.freePort(0), context);
        c = farm.create("attack-c", Farm.freePort(0), context);
        stickyA = farm.create("sticky-a", Farm.freePort(0), context);
        stickyB = farm.create("sticky-b", Farm.freePort(0), context);
        pollA = farm.create("poll-a", Farm.freePort(0), context);
        pollB = farm.create("poll-b", Farm.freePort(0), context);
        for (Farm.Node node : List.of(a, b, c, stickyA, stickyB, pollA, pollB)) {
            boolean sticky = node == stickyA || node == stickyB;
            boolean polling = node == pollA || node == pollB;
            farm.setProperty(node, "sessionfarm.mode", sticky ? "sticky" : "shared");
            farm.setProperty(node, "sessionfarm.rotateAfter", polling ? "3" : "60");
        }
        farm.route(List.of(a, b, c), "/api/report", c);
        farm.deployWebapp(a, "shop"); // a context that is not the root: its cookie cannot be __Host-
        start(farm, List.of(a, b, c, stickyA, stickyB, pollA, pollB));
    }

    @AfterAll
    static void stopThreads() {
        threads.shutdownNow();
    }

    private static Client.Reply get(Client user, Farm.Node node, String path) throws Exception {
        Client.Reply reply = user.get(node, path);
        assertFalse(reply.body().contains("Exception"), "never a stack trace: " + reply.body());
        return reply;
    }

    /** The hand-off link a request for {@code /api/report} on node A leads to (not followed). */
    private static String handOffLink(Client user) throws Exception {
        Client.Reply redirect = get(user, a, "/api/report");
        assertEquals(303, redirect.status(), redirect.body());
        String location = redirect.header("Location").get(0);
        assertTrue(location.contains("/.sessionfarm/handoff?code="), location);
        return location.substring(location.indexOf("/.sessionfarm"));
    }

    @Test
    void aHandOffLinkCannotGiveItsAuthorAViewOfTheVictimsLogin() throws Exception {
        Client attacker = new Client();
        get(attacker, a, "/api/whoami");
        String link = handOffLink(attacker);

        Client victim = new Client(); // on another host name: no cookie of the farm's
        Client.Reply opened = get(victim, c, link);
        assertEquals(303, opened.status(), opened.body());
        get(victim, c, "/api/login?value=victim");
        assertTrue(get(victim, c, "/api/get").body().contains("\"user\":\"victim\""));

        for (Farm.Node node : List.of(a, b, c)) {
            Client.Reply seen = get(attacker, node, "/api/get");
            assertFalse(seen.body().contains("victim"), "the attacker sees the victim's login on " + node.name()
                    + ": " + seen.body());
        }
    }

    @Test
    void aHandOffLinkNeverReplacesTheSessionTheBrowserHolds() throws Exception {
        Client attacker = new Client();
        get(attacker, a, "/api/set?name=owner&value=attacker");
        String link = handOffLink(attacker);

        Client victim = new Client();
        get(victim, c, "/api/set?name=owner&value=victim");
        Client.Reply opened = get(victim, c, link);
        assertEquals(303, opened.status());
        assertEquals("/api/report", opened.header("Location").get(0));
        Client.Reply own = get(victim, c, "/api/get");
        assertTrue(own.body().contains("\"owner\":\"victim\""), "the victim keeps its own session: " + own.body());
    }

    @Test
    void aTokenCapturedBeforeLoginOpensNothingAfterIt() throws Exception {
        Client user = new Client();
        get(user, a, "/api/whoami");
        Client capturedBeforeLogin = user.withCookie(Client.TOKEN_COOKIE, user.token());
        get(user, a, "/api/login?value=alice");
        // At once, well inside the grace period that a rotation would give.
        Client.Reply replay = get(capturedBeforeLogin, b, "/api/get");
        assertTrue(replay.body().contains("\"session\":false"), replay.body());
        assertTrue(get(user, b, "/api/get").body().contains("\"user\":\"alice\""), "the user is logged in");
    }

    @Test
    void aThiefWhoForksAStolenTokenThroughAHandOffIsCaughtAsAReuse() throws Exception {
        Client owner = new Client();
        get(owner, a, "/api/login?value=owner");
        Client thief = owner.withCookie(Client.TOKEN_COOKIE, owner.token());
        String link = handOffLink(thief);
        Client forked = new Client(); // the thief redeems from a clean jar: a family of its own
        assertEquals(303, get(forked, c, link).status());
        assertTrue(get(forked, c, "/api/report").body().contains("\"session\":true"));

        Thread.sleep(GRACE_MILLIS + 1000);
        Client.Reply next = get(owner, b, "/api/get");
        assertTrue(next.body().contains("\"session\":false"), "the owner's old token is a reuse: " + next.body());
        assertTrue(log(b).contains("AUDIT token reuse"));
        Client.Reply thiefAfter = get(forked, c, "/api/report");
        assertTrue(thiefAfter.body().contains("\"session\":false"), "the fork is revoked too: " + thiefAfter.body());
    }

    @Test
    void aSessionHasAtMostEightTokenFamilies() throws Exception {
        Client owner = new Client();
        get(owner, a, "/api/login?value=many");
        List<Client> redeemers = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            Client redeemer = new Client();
            assertEquals(303, get(redeemer, c, handOffLink(owner)).status());
            redeemers.add(redeemer);
        }
        assertTrue(maxFamiliesPerSession() <= 8, "families of one session: " + maxFamiliesPerSession());
        assertTrue(get(redeemers.get(redeemers.size() - 1), c, "/api/report").body().contains("\"session\":true"), "the newest works");
        assertTrue(get(redeemers.get(0), c, "/api/report").body().contains("\"session\":false"), "the oldest went");
    }

    @Test
    void logoutRevokesEveryTokenOnEveryNodeInSharedAndStickyMode() throws Exception {
        for (List<Farm.Node> nodes : List.of(List.of(a, b), List.of(stickyA, stickyB))) {
            Client user = new Client();
            get(user, nodes.get(0), "/api/login?value=leaving");
            get(user, nodes.get(1), "/api/get"); // the second node now holds a copy of the session
            Client copy = user.withCookie(Client.TOKEN_COOKIE, user.token());
            get(user, nodes.get(0), "/api/invalidate");
            for (Farm.Node node : nodes) {
                Client.Reply after = get(copy, node, "/api/get");
                assertTrue(after.body().contains("\"session\":false"), node.name() + " after logout: " + after.body());
            }
        }
    }

    @Test
    void aFamilyRowPointedAtAnotherSessionOpensNothing() throws Exception {
        String aliceMark = "alice" + System.nanoTime();
        String malloryMark = "mallory" + System.nanoTime();
        Client alice = new Client();
        get(alice, a, "/api/login?value=alice");
        get(alice, a, "/api/set?name=" + aliceMark + "&value=1");
        Client mallory = new Client();
        get(mallory, a, "/api/set?name=" + malloryMark + "&value=1");
        // Someone who can write the tables points mallory's family at alice's session.
        execute("UPDATE sessionfarm_token SET session_id = (SELECT session_id FROM sessionfarm_attribute WHERE name = '"
                + aliceMark + "') WHERE session_id = (SELECT session_id FROM sessionfarm_attribute WHERE name = '"
                + malloryMark + "')");
        Client.Reply seen = get(mallory, b, "/api/get");
        assertFalse(seen.body().contains("alice"), seen.body());
        assertTrue(get(alice, b, "/api/get").body().contains("\"user\":\"alice\""), "alice is still logged in");
    }

    @Test
    void aSealedValueCopiedIntoAnotherSessionsRowIsRefused() throws Exception {
        String aliceMark = "alice" + System.nanoTime();
        String malloryMark = "mallory" + System.nanoTime();
        Client alice = new Client();
        get(alice, a, "/api/set?name=role&value=administrator");
        get(alice, a, "/api/set?name=" + aliceMark + "&value=1");
        Client mallory = new Client();
        get(mallory, a, "/api/set?name=role&value=guest");
        get(mallory, a, "/api/set?name=" + malloryMark + "&value=1");
        // Someone who can write the tables copies alice's sealed value into mallory's row.
        execute("UPDATE sessionfarm_attribute m SET value = x.value, key_id = x.key_id FROM sessionfarm_attribute x"
                + " WHERE m.name = 'role' AND x.name = 'role'"
                + " AND x.session_id = (SELECT session_id FROM sessionfarm_attribute WHERE name = '" + aliceMark + "')"
                + " AND m.session_id = (SELECT session_id FROM sessionfarm_attribute WHERE name = '" + malloryMark + "')");
        Client.Reply seen = get(mallory, c, "/api/get"); // node C has no copy: it reads the store
        assertTrue(seen.body().contains("\"session\":true"), seen.body());
        assertFalse(seen.body().contains("administrator"), "a value moved from another session: " + seen.body());
        assertTrue(log(c).contains("attribute [role] of session"), "refused with a warning");
    }

    @Test
    void pathParametersInTheRequestCannotAddAttributesToTheCookie() throws Exception {
        Process curl = new ProcessBuilder(Tools.require("curl", "curl"), "-s", "-o", "/dev/null", "-D", "-", "--path-as-is",
                "http://127.0.0.1:" + a.port() + "/shop;Domain=evil.example/api/whoami")
                .redirectErrorStream(true).start();
        String headers = new String(curl.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(curl.waitFor(20, TimeUnit.SECONDS), headers);
        String cookie = header(headers, "Set-Cookie");
        assertTrue(cookie.startsWith("__Secure-sessionfarm="), "__Secure- where __Host- cannot be: " + cookie);
        assertTrue(cookie.contains("; Path=/shop; Secure"), cookie);
        assertFalse(cookie.toLowerCase().contains("domain") || cookie.contains("evil"), cookie);
    }

    @Test
    void aRouteWrittenWithSlashesNeverRedirectsOffTheFarm() throws Exception {
        Client user = new Client();
        get(user, a, "/api/whoami");
        String headers = curlHeaders(user, a, "//evil.example/../api/report?x=1");
        String location = header(headers, "Location");
        assertTrue(location.contains("/.sessionfarm/handoff?code="), headers);
        Client.Reply redeemed = get(new Client(), c, location.substring(location.indexOf("/.sessionfarm")));
        String target = redeemed.header("Location").get(0);
        assertEquals("/api/report?x=1", target, "the normalized path, on this node");
        assertFalse(target.contains("evil"), target);
    }

    @Test
    void junkCookiesWhileTheDatabaseIsPausedCostNothingAndGenuineRequestsAreAnswered() throws Exception {
        Client user = new Client();
        get(user, b, "/api/whoami");
        List<Long> genuine = new ArrayList<>();
        AtomicLong slowestJunk = new AtomicLong();
        signalDatabase("STOP");
        try {
            long end = System.currentTimeMillis() + 10_000;
            Future<List<Future<?>>> flood = threads.submit(() -> {
                List<Future<?>> junk = new ArrayList<>();
                while (System.currentTimeMillis() < end) {
                    junk.add(threads.submit(() -> {
                        long start = System.nanoTime();
                        Client forger = new Client();
                        // Three token cookies: as many as the valve tries in one request.
                        forger.setCookie(Client.TOKEN_COOKIE, forgedToken() + "; " + Client.TOKEN_COOKIE + "="
                                + forgedToken() + "; " + Client.TOKEN_COOKIE + "=" + forgedToken());
                        forger.get(b, "/api/get");
                        slowestJunk.accumulateAndGet((System.nanoTime() - start) / 1_000_000, Math::max);
                        return null;
                    }));
                    Thread.sleep(50); // 20 a second
                }
                return junk;
            });
            while (System.currentTimeMillis() < end) {
                long start = System.nanoTime();
                Client.Reply reply = get(user, b, "/api/incr?name=n");
                genuine.add((System.nanoTime() - start) / 1_000_000);
                assertEquals(200, reply.status());
                Thread.sleep(500);
            }
            for (Future<?> junk : flood.get(30, TimeUnit.SECONDS)) {
                junk.get(30, TimeUnit.SECONDS);
            }
        } finally {
            signalDatabase("CONT");
            awaitStoreBack();
        }
        // The requests that meet the paused store first wait for it, at most storeTimeout (5 s);
        // after that no request waits on it, whatever the junk.
        assertTrue(genuine.get(0) <= 6000, "the first genuine request, ms: " + genuine);
        long slowestLater = genuine.stream().skip(1).mapToLong(Long::longValue).max().orElse(0);
        assertTrue(slowestLater < 1000, "genuine requests after the first, ms: " + genuine);
        assertTrue(genuine.size() >= 8, "genuine requests answered: " + genuine);
        assertTrue(slowestJunk.get() <= 7000, "slowest junk request: " + slowestJunk.get() + " ms");
    }

    @Test
    void whileTheDatabaseIsPausedATokenTheNodeKnowsSupersededOpensNothing() throws Exception {
        Client user = new Client();
        get(user, b, "/api/whoami");
        Client stale = user.withCookie(Client.TOKEN_COOKIE, user.token());
        assertEquals(303, get(user, b, "/api/report").status(), "a hand-off code: a rotation on node B");
        assertFalse(stale.token().equals(user.token()));
        Thread.sleep(GRACE_MILLIS + 500);
        signalDatabase("STOP");
        try {
            get(user, b, "/api/get"); // meets the paused store and waits for it, once
            Client.Reply old = get(stale, b, "/api/get");
            assertTrue(old.body().contains("\"session\":false"), "a superseded token while the store is down: "
                    + old.body());
            Client.Reply current = get(user, b, "/api/get");
            assertTrue(current.body().contains("\"session\":true") && current.body().contains("unverified"),
                    "the newest token keeps its session: " + current.body());
        } finally {
            signalDatabase("CONT");
            awaitStoreBack();
        }
    }

    /**
     * A thief polls every 0.9 to 1.9 s with a stolen copy, updating it from every response as a
     * browser does, while the owner works every 200 to 400 ms; tokens rotate every 3 s and the grace
     * is 2 s. The thief is never two rotations behind and always inside the grace, so only the rule
     * that a predecessor passes no later than a second after its successor's first use can catch it.
     */
    @Test
    void aThiefAndTheOwnerBothPollingInsideTheGraceAreCaughtAsAReuse() throws Exception {
        Client owner = new Client();
        get(owner, pollA, "/api/login?value=owner");
        Client thief = owner.withCookie(Client.TOKEN_COOKIE, owner.token());
        java.util.Random random = new java.util.Random();
        long start = System.currentTimeMillis();
        long nextOwner = start;
        long nextThief = start;
        long thiefOut = 0;
        while (!reuseLogged() && System.currentTimeMillis() - start < 600_000) {
            long now = System.currentTimeMillis();
            if (now >= nextOwner) {
                nextOwner = now + 200 + random.nextInt(200);
                get(owner, random.nextBoolean() ? pollA : pollB, "/api/get");
            } else if (now >= nextThief) {
                nextThief = now + 900 + random.nextInt(1000);
                // A refused thief keeps presenting what it holds, as a script would.
                if (get(thief, pollB, "/api/get").body().contains("\"session\":false") && thiefOut == 0) {
                    thiefOut = now;
                }
            } else {
                Thread.sleep(20);
            }
        }
        assertTrue(reuseLogged(), "reuse never detected in 10 minutes");
        assertTrue(thiefOut > 0, "the thief was refused before the reuse was detected");
        assertTrue(get(owner, pollA, "/api/get").body().contains("\"session\":false"), "revoked for every holder");
        System.out.printf("thief and owner polling: thief refused after %d ms, reuse detected after %d ms%n",
                thiefOut - start, System.currentTimeMillis() - start);
    }

    private static boolean reuseLogged() throws IOException {
        return log(pollA).contains("AUDIT token reuse") || log(pollB).contains("AUDIT token reuse");
    }

    /** After PostgreSQL resumes, every node finds its store again within its probe period. */
    private static void awaitStoreBack() throws Exception {
        long deadline = System.currentTimeMillis() + 30_000;
        for (Farm.Node node : List.of(a, b, c, stickyA, stickyB, pollA, pollB)) {
            while (!new Client().get(node, "/api/stats").body().contains("\"storeAvailable\":true")
                    && System.currentTimeMillis() < deadline) {
                Thread.sleep(200);
            }
        }
    }

    /** A token-shaped cookie under a key id no node has: well-formed, so only the key lookup rejects it. */
    private static String forgedToken() {
        byte[] bytes = new byte[1 + 4 + 12 + 16 + 16 + 16 + 8 + 8 + 1 + 32];
        new SecureRandom().nextBytes(bytes);
        bytes[0] = 1; // version
        return Base64.getUrlEncoder().withoutPadding().encodeToString(bytes);
    }

    private static void signalDatabase(String signal) throws IOException, InterruptedException {
        Process kill = new ProcessBuilder("pkill", "-" + signal, "-u", "postgres", "-x", "postgres").start();
        kill.waitFor(10, TimeUnit.SECONDS);
    }

    private static int maxFamiliesPerSession() throws Exception {
        TestDatabase.Server server = TestDatabase.server();
        try (Connection connection = DriverManager.getConnection(databaseUrl, server.user(), server.password());
                Statement st = connection.createStatement();
                ResultSet rs = st.executeQuery("SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n"
                        + " FROM sessionfarm_token GROUP BY session_id) f")) {
            rs.next();
            return rs.getInt(1);
        }
    }

    private static void execute(String sql) throws Exception {
        TestDatabase.Server server = TestDatabase.server();
        try (Connection connection = DriverManager.getConnection(databaseUrl, server.user(), server.password());
                Statement st = connection.createStatement()) {
            st.execute(sql);
        }
    }

    /** curl keeps the path as written ({@code --path-as-is}); Java's client would not send it so. */
    private static String curlHeaders(Client user, Farm.Node node, String rawPath) throws Exception {
        Process curl = new ProcessBuilder(Tools.require("curl", "curl"), "-s", "-o", "/dev/null", "-D", "-", "--path-as-is",
                "-b", Client.TOKEN_COOKIE + "=" + user.token(), "http://127.0.0.1:" + node.port() + rawPath)
                .redirectErrorStream(true).start();
        String out = new String(curl.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(curl.waitFor(20, TimeUnit.SECONDS), out);
        return out;
    }

    private static String header(String headers, String name) {
        for (String line : headers.split("\r?\n")) {
            if (line.toLowerCase().startsWith(name.toLowerCase() + ":")) {
                return line.substring(name.length() + 1).strip();
            }
        }
        throw new AssertionError("no " + name + " in " + headers);
    }
}
