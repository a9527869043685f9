package io.sessionfarm.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import io.sessionfarm.store.TestDatabase;

/**
 * A node that logs in with its own role in the least-privilege group of {@code sql/least-privilege.sql}:
 * the schema is migrated by its owner with the JAR's documented command, the node serves sessions
 * and tokens, and the role cannot drop, alter, truncate or create anything.
 */
class LeastPrivilegeIT extends FarmTestBase {

    private static final String NODE_ROLE = "sessionfarm_it_node";
    private static final String NODE_PASSWORD = "node-pw-" + Long.toHexString(System.nanoTime());
    private static Farm.Node node;

    @BeforeAll
    static void startNodeWithItsOwnRole() throws Exception {
        Farm farm = farm(LeastPrivilegeIT.class);
        TestDatabase.Server server = TestDatabase.server();
        ProcessBuilder command = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("sessionfarm.jar"), "io.sessionfarm.store.Database", "migrate", databaseUrl,
                server.user()).redirectErrorStream(true);
        command.environment().put("SESSIONFARM_DB_PASSWORD", server.password() == null ? "" : server.password());
        Process migrate = command.start();
        migrate.getOutputStream().close();
        String output = new String(migrate.getInputStream().readAllBytes());
        assertTrue(migrate.waitFor(60, TimeUnit.SECONDS) && migrate.exitValue() == 0, output);
        assertTrue(output.contains("the sessionfarm schema is current"), output);
        try (Connection owner = TestDatabase.connect(databaseUrl); Statement st = owner.createStatement()) {
            st.execute(Files.readString(ROOT.resolve("sql/least-privilege.sql")));
            st.execute("DO $$ BEGIN CREATE ROLE " + NODE_ROLE + " LOGIN IN ROLE sessionfarm_node;"
                    + " EXCEPTION WHEN duplicate_object THEN NULL; END $$");
            st.execute("ALTER ROLE " + NODE_ROLE + " PASSWORD '" + NODE_PASSWORD + "'");
        }
        node = farm.create("least-privilege", Farm.freePort(0), fixture("context-least-privilege.xml"));
        farm.setProperty(node, "sessionfarm.username", NODE_ROLE);
        farm.setProperty(node, "sessionfarm.password", NODE_PASSWORD);
        start(farm, List.of(node));
    }

    @Test
    void theNodeServesSessionsAndTokensWithItsOwnRole() throws Exception {
        Client user = new Client();
        assertEquals(1, user.get(node, "/api/incr?name=n").intField("n"));
        String token = user.token();
        assertEquals(2, user.get(node, "/api/incr?name=n").intField("n"));
        assertNotEquals(token, user.token(), "rotated, through the role's grants");
        assertTrue(log(node).contains("migrate=false"), "the node did not migrate");
    }

    @Test
    void theRoleCannotChangeTheSchema() throws Exception {
        try (Connection role = DriverManager.getConnection(databaseUrl, NODE_ROLE, NODE_PASSWORD)) {
            for (String ddl : List.of("DROP TABLE sessionfarm_attribute", "ALTER TABLE sessionfarm_session ADD COLUMN x int",
                    "TRUNCATE sessionfarm_key", "CREATE TABLE sessionfarm_extra (id int)",
                    "DELETE FROM sessionfarm_schema_history", "CREATE INDEX x ON sessionfarm_token (generation)")) {
                try (Statement st = role.createStatement()) {
                    st.execute(ddl);
                    throw new AssertionError("the node's role could run: " + ddl);
                } catch (SQLException refused) {
                    assertEquals("42501", refused.getSQLState(), ddl + ": " + refused.getMessage());
                }
            }
        }
    }

    @Test
    @Tag("tls")
    void theTlsConnectorsRoleCannotReadSessionsAndTheSessionsRoleCannotReadTlsSessions() throws Exception {
        String tlsUser = node.property("sessionfarm.tls.username", null);
        try (Connection tls = DriverManager.getConnection(databaseUrl, tlsUser, node.property("sessionfarm.tls.password", null))) {
            for (String table : List.of("sessionfarm_session", "sessionfarm_attribute", "sessionfarm_token",
                    "sessionfarm_handoff", "sessionfarm_session_moved")) {
                assertRefused(tls, "SELECT count(*) FROM " + table);
            }
            try (Statement st = tls.createStatement()) {
                st.executeQuery("SELECT count(*) FROM sessionfarm_tls_session").close(); // its own table
            }
        }
        try (Connection sessions = DriverManager.getConnection(databaseUrl, NODE_ROLE, NODE_PASSWORD)) {
            assertRefused(sessions, "SELECT count(*) FROM sessionfarm_tls_session");
        }
        assertTrue(log(node).contains("username=" + tlsUser), "the node's TLS connector logs in with its own role");
    }

    private static void assertRefused(Connection connection, String sql) {
        try (Statement st = connection.createStatement()) {
            st.executeQuery(sql).close();
            throw new AssertionError("allowed: " + sql);
        } catch (SQLException refused) {
            assertEquals("42501", refused.getSQLState(), sql + ": " + refused.getMessage());
        }
    }
}
