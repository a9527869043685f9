package io.sessionfarm.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import io.sessionfarm.store.TestDatabase;

/**
 * One farm, one clock: a node 45 minutes ahead and one 45 minutes behind (libfaketime), neither
 * serving any request, while a client uses a session on a third node whose clock is right. Every
 * node checks its copies and sweeps the store every second; the session must live while it is used
 * and end on time, by the database's clock, once the client stops, with its listener fired once.
 */
class ClockSkewIT extends FarmTestBase {

    private static final int TIMEOUT_SECONDS = 6;

    private static Farm.Node ahead;
    private static Farm.Node behind;
    private static Farm.Node steady;

    @BeforeAll
    static void startFarm() throws Exception {
        Tools.require(Tools.LIBFAKETIME, "faketime");
        Farm farm = farm(ClockSkewIT.class);
        Path context = fixture("context-fast-expiry.xml");
        ahead = farm.create("ahead", Farm.freePort(0), context);
        behind = farm.create("behind", Farm.freePort(0), context);
        steady = farm.create("steady", Farm.freePort(0), context);
        farm.start(ahead, skewed("+45m"));
        farm.start(behind, skewed("-45m"));
        farm.start(steady);
        registerForStop(List.of(ahead, behind, steady));
        for (Farm.Node node : List.of(ahead, behind, steady)) {
            farm.awaitUp(node, START);
        }
    }

    private static Map<String, String> skewed(String offset) {
        // The JVM's monotonic clock stays real: only the wall clock, which stored times came from, is wrong.
        return Map.of("LD_PRELOAD", Tools.LIBFAKETIME.toString(), "FAKETIME", offset, "FAKETIME_DONT_FAKE_MONOTONIC", "1");
    }

    @Test
    void nodesWithWrongClocksWarnAndShowTheirSkew() throws Exception {
        Client probe = new Client();
        long aheadSkew = Long.parseLong(field(probe.get(ahead, "/api/stats").body(), "clockSkewMillis"));
        long behindSkew = Long.parseLong(field(probe.get(behind, "/api/stats").body(), "clockSkewMillis"));
        long steadySkew = Long.parseLong(field(probe.get(steady, "/api/stats").body(), "clockSkewMillis"));
        assertEquals(45 * 60_000, aheadSkew, 10_000);
        assertEquals(-45 * 60_000, behindSkew, 10_000);
        assertEquals(0, steadySkew, 2_000);
        assertTrue(log(ahead).matches("(?s).*this node's clock is \\d+ ms ahead of the database's.*"), log(ahead));
        assertTrue(log(behind).matches("(?s).*this node's clock is \\d+ ms behind the database's.*"), log(behind));
        assertTrue(!log(steady).contains("this node's clock is"), "no warning where the clock is right");
    }

    @Test
    void aSessionInUseLivesOnAndEndsOnTimeByTheDatabasesClock() throws Exception {
        Client user = new Client();
        String label = "skew-" + System.nanoTime();
        user.get(steady, "/api/track?value=" + label);
        assertEquals(TIMEOUT_SECONDS, user.get(steady, "/api/timeout?value=" + TIMEOUT_SECONDS).intField("timeout"));
        // Used every 2 s for 20 s: more than three idle timeouts, while the skewed nodes sweep every second.
        for (int i = 1; i <= 10; i++) {
            Thread.sleep(2000);
            assertEquals(i, user.get(steady, "/api/incr?name=n").intField("n"), "the session lived through use " + i);
        }
        long lastUse = System.currentTimeMillis();
        String id = user.sessionId();
        assertTrue(stored(id), "stored while in use");

        // Once the client stops, it ends by its idle timeout: not before, and soon after.
        long gone = 0;
        while (System.currentTimeMillis() - lastUse < (TIMEOUT_SECONDS + 10) * 1000L) {
            if (!stored(id)) {
                gone = System.currentTimeMillis() - lastUse;
                break;
            }
            Thread.sleep(200);
        }
        assertTrue(gone >= TIMEOUT_SECONDS * 1000L - 1000, "ended " + gone + " ms after its last use");
        assertTrue(gone > 0 && gone <= (TIMEOUT_SECONDS + 4) * 1000L, "ended " + gone + " ms after its last use");

        Thread.sleep(3000); // every node has swept again since
        int destroyed = 0;
        for (Farm.Node node : List.of(ahead, behind, steady)) {
            destroyed += count(log(node), "sample: session destroyed label=" + label);
        }
        assertEquals(1, destroyed, "its listener fired exactly once across the farm");
    }

    private static boolean stored(String id) throws Exception {
        TestDatabase.Server server = TestDatabase.server();
        try (Connection connection = DriverManager.getConnection(databaseUrl, server.user(), server.password());
                PreparedStatement ps = connection.prepareStatement("SELECT 1 FROM sessionfarm_session WHERE id = ?")) {
            ps.setString(1, id);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next();
            }
        }
    }

    private static String field(String json, String name) {
        var m = Pattern.compile("\"" + name + "\":(-?\\d+)").matcher(json);
        assertTrue(m.find(), name + " missing from " + json);
        return m.group(1);
    }

    private static int count(String text, String line) {
        int n = 0;
        for (int at = text.indexOf(line); at >= 0; at = text.indexOf(line, at + 1)) {
            n++;
        }
        return n;
    }
}
