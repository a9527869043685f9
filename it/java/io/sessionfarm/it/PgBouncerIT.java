package io.sessionfarm.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.List;

import org.junit.jupiter.api.Test;

import io.sessionfarm.store.TestDatabase;

/**
 * Runs in the PgBouncer cell only (it/pom.xml): two sticky nodes whose pools go through PgBouncer
 * in transaction mode, while their migrations and move listeners (LISTEN) reach PostgreSQL
 * directly through {@code directJdbcUrl}. A session moved away and back is served fresh, because
 * the move was heard, and the node's own login holds no pooled connection on the server.
 */
class PgBouncerIT extends FarmTestBase {

    @Test
    void thePoolGoesThroughPgBouncerAndMovesAreHeardOnTheDirectConnection() throws Exception {
        assertTrue(Boolean.getBoolean("sessionfarm.pgbouncer"), "runs in the PgBouncer cell");
        Farm farm = farm(PgBouncerIT.class);
        List<Farm.Node> nodes = startNodes(farm, fixture("context-sticky.xml"), "bouncer-a", "bouncer-b");
        Farm.Node a = nodes.get(0);
        Farm.Node b = nodes.get(1);
        assertTrue(a.property("sessionfarm.jdbcUrl", "").contains("prepareThreshold=0"), "the nodes' jdbcUrl is PgBouncer's");
        for (Farm.Node node : nodes) {
            String stats = new Client().get(node, "/api/stats").body();
            assertTrue(stats.contains("\"hearingMoves\":true"), node.name() + " listens, directly: " + stats);
        }

        Client user = new Client();
        assertEquals(1, user.get(a, "/api/whoami").intField("counter"));
        assertEquals(2, user.get(b, "/api/whoami").intField("counter"), "taken over from the store");
        assertEquals(3, user.get(a, "/api/whoami").intField("counter"), "back on A: the move was heard, no stale copy");
        assertEquals(1, new Client().get(a, "/api/stats").intField("movesCaught"), "caught by the notice");

        // PgBouncer logs in to PostgreSQL as the test server's user: the node's own login is seen
        // there only on its direct connection (the listener), never with the pool's connections.
        String login = a.property("sessionfarm.username", null);
        try (Connection db = TestDatabase.connect(databaseUrl);
                PreparedStatement count = db.prepareStatement("SELECT count(*) FROM pg_stat_activity WHERE usename = ?")) {
            count.setString(1, login);
            try (ResultSet rs = count.executeQuery()) {
                rs.next();
                assertEquals(1, rs.getInt(1), "node A's login holds only its listener's connection");
            }
        }
    }
}
