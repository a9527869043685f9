package io.sessionfarm.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Test;

/**
 * The sample farm's commands as a newcomer types them: {@code ./farm up}, then one node killed and
 * started again by name, {@code status} saying so, and {@code down}. A session made on the node
 * that is killed lives on on the other, and on it again once it is back.
 */
class FarmCommandsIT extends FarmTestBase {

    @Test
    void aNodeIsKilledAndStartedByNameAndItsUsersKeepTheirSessions() throws Exception {
        Farm farm = farm(FarmCommandsIT.class).withMetrics(); // as ./farm runs it
        try {
            assertEquals(0, farm.command("up", "--nodes", "2"));
            List<Farm.Node> nodes = farm.existingNodes();
            Farm.Node node1 = nodes.get(0);
            Farm.Node node2 = nodes.get(1);
            assertTrue(node1.metricsPort() > 0 && node2.metricsPort() > 0, "each node has its Prometheus endpoint");
            Client user = new Client();
            assertEquals(1, user.get(node1, "/api/incr?name=n").intField("n"));

            assertEquals(0, farm.command("kill", "node1"));
            List<String> status = farm.status();
            assertTrue(status.get(0).startsWith("node1 ") && status.get(0).endsWith("down (./farm start node1)"),
                    status.toString());
            assertTrue(status.get(1).startsWith("node2 ") && status.get(1).endsWith("up"), status.toString());
            assertEquals(2, user.get(node2, "/api/incr?name=n").intField("n"), "the session lives on on node2");

            assertEquals(0, farm.command("start", "node1"));
            assertTrue(farm.status().get(0).endsWith("up"), farm.status().toString());
            assertEquals(3, user.get(node1, "/api/incr?name=n").intField("n"), "and on node1 once it is back");

            assertEquals(0, farm.command("stop", "node2"));
            assertTrue(farm.status().get(1).endsWith("down (./farm start node2)"), farm.status().toString());
            assertEquals(2, farm.command("kill", "node9"), "a node the farm does not have");
            assertEquals(2, farm.command("kill"), "no node named");
        } finally {
            farm.command("down");
        }
    }
}
