package io.sessionfarm.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;

/** dataSourceName: the Manager uses the container's JNDI DataSource and starts no pool of its own. */
class JndiDataSourceIT extends FarmTestBase {

    @Test
    void sessionsAreSharedThroughAContainerDataSource() throws Exception {
        Farm farm = farm(JndiDataSourceIT.class);
        // Tomcat's DBCP needs the plain driver beside it in lib/.
        Path driver = Path.of(org.postgresql.Driver.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        List<Farm.Node> nodes = new java.util.ArrayList<>();
        for (String name : List.of("jndi-a", "jndi-b")) {
            Farm.Node node = farm.create(name, Farm.freePort(0), fixture("context-jndi.xml"));
            Files.copy(driver, node.base().resolve("lib").resolve(driver.getFileName()));
            farm.start(node);
            nodes.add(node);
        }
        registerForStop(nodes);
        for (Farm.Node node : nodes) {
            farm.awaitUp(node, START);
        }
        Client user = new Client();
        assertEquals(1, user.get(nodes.get(0), "/api/whoami").intField("counter"));
        assertEquals(2, user.get(nodes.get(1), "/api/whoami").intField("counter"));
        assertTrue(log(nodes.get(0)).contains("dataSourceName=jdbc/sessions"));
        // The node's HTTPS connector has a pool for the TLS sessions (sessionfarm-tls-…); the Manager none.
        assertFalse(log(nodes.get(0)).lines().anyMatch(l -> l.contains("HikariDataSource") && !l.contains("sessionfarm-tls-")),
                "no pool of its own");
    }
}
