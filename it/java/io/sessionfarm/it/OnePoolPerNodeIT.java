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
 * A newcomer's node: the Manager and the token valve in conf/context.xml of a stock Tomcat with its
 * five webapps (ROOT, docs, examples, manager, host-manager). Those that take the Manager share
 * one pool: one pool per webapp (10 connections each, 2 held idle) would spend a farm's
 * max_connections. (manager and host-manager name a Manager of their own in META-INF/context.xml,
 * which Tomcat lets win: they keep Tomcat's StandardManager.)
 */
class OnePoolPerNodeIT extends FarmTestBase {

    private static final List<String> STOCK_WEBAPPS = List.of("docs", "examples", "manager", "host-manager");

    @Test
    void aStockTomcatsFiveWebappsShareOnePool() throws Exception {
        Farm farm = farm(OnePoolPerNodeIT.class);
        Farm.Node node = farm.create("stock", Farm.freePort(0), farmContext());
        for (String app : STOCK_WEBAPPS) {
            Farm.copyTree(farm.layout().tomcatHome().resolve("webapps").resolve(app), node.base().resolve("webapps").resolve(app),
                    path -> true);
        }
        start(farm, List.of(node));

        Client browser = new Client();
        assertEquals(1, browser.get(node, "/api/incr?name=n").intField("n"));
        assertEquals(2, browser.get(node, "/api/incr?name=n").intField("n"), "ROOT's sessions work");
        assertEquals(200, new Client().get(node, "/docs/").status());
        assertEquals(200, new Client().get(node, "/examples/servlets/servlet/SessionExample").status());
        for (String protectedApp : List.of("/manager/html", "/host-manager/html")) {
            assertEquals(401, new Client().get(node, protectedApp).status(), protectedApp + " asks for a login");
        }

        String log = log(node);
        assertTrue(log.contains("sessionfarm's pool [sessionfarm-sessions]") && log.contains("has 3 users on this node,"
                + " up to 10 connections") && !log.contains("has 4 users"), "one pool, three contexts: " + log);
        Thread.sleep(1500); // time for per-webapp pools, were there any, to fill to their minimum of 2 each
        String login = node.property("sessionfarm.username", null);
        try (Connection db = TestDatabase.connect(databaseUrl);
                PreparedStatement count = db.prepareStatement("SELECT count(*) FROM pg_stat_activity"
                        + " WHERE usename = ? AND application_name = 'sessionfarm'")) {
            count.setString(1, login);
            try (ResultSet rs = count.executeQuery()) {
                rs.next();
                int connections = rs.getInt(1);
                assertTrue(connections < 2 * 3, "the node holds " + connections
                        + " connections: one pool, not three pools of at least 2");
            }
        }
    }
}
