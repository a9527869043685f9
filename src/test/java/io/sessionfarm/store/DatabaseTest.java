package io.sessionfarm.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.sql.SQLException;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import com.zaxxer.hikari.HikariDataSource;

/** One pool per node: what shares a pool, what does not, and when it closes; against a real PostgreSQL. */
class DatabaseTest {

    private static String url;
    private static TestDatabase.Server server;

    @BeforeAll
    static void freshDatabase() throws Exception {
        url = TestDatabase.fresh("database_test");
        server = TestDatabase.server();
    }

    private static Database open(String password, int poolSize, int timeoutMillis) throws SQLException {
        return Database.open(url, url, server.user(), password, true, poolSize, timeoutMillis, "database-test");
    }

    @Test
    void componentsNamingTheSameStoreShareOnePoolThatClosesWithTheLastOfThem() throws Exception {
        try (Database first = open(server.password(), 4, 2000)) {
            Database second = open(server.password(), 4, 2000);
            assertSame(first.dataSource(), second.dataSource(), "one pool");
            assertEquals(2, first.poolUsers());
            second.close();
            second.close(); // a second close gives up nothing more
            assertEquals(1, first.poolUsers());
            Database.ping(first.dataSource()); // still open for the other
            HikariDataSource pool = (HikariDataSource) first.dataSource();
            first.close();
            assertTrue(pool.isClosed(), "closed with its last user");
        }
    }

    @Test
    void theSharedPoolGrowsToTheLargestPoolSizeAskedFor() throws Exception {
        try (Database small = open(server.password(), 4, 2000); Database large = open(server.password(), 12, 2000)) {
            assertEquals(12, ((HikariDataSource) small.dataSource()).getMaximumPoolSize());
            try (Database smaller = open(server.password(), 5, 2000)) {
                assertEquals(12, ((HikariDataSource) smaller.dataSource()).getMaximumPoolSize(), "never shrinks");
            }
        }
    }

    @Test
    void anotherTimeoutIsAnotherPool() throws Exception {
        // The key is the URL, the login and the timeout; another login (which this test's server may
        // not have) takes the same path.
        try (Database manager = open(server.password(), 4, 2000); Database connector = open(server.password(), 4, 3000)) {
            assertNotSame(manager.dataSource(), connector.dataSource());
            assertEquals(1, connector.poolUsers());
        }
    }

    @Test
    void thePoolsThreadsHoldThePluginsClassLoaderNotTheOpenersContextLoader() throws Exception {
        ClassLoader webapp = new java.net.URLClassLoader(new java.net.URL[0], DatabaseTest.class.getClassLoader());
        Thread opener = Thread.currentThread();
        ClassLoader previous = opener.getContextClassLoader();
        opener.setContextClassLoader(webapp); // as Tomcat does while a context starts
        try (Database database = open(server.password(), 4, 2500)) {
            Database.ping(database.dataSource());
            int poolThreads = 0;
            for (Thread thread : Thread.getAllStackTraces().keySet()) {
                if (thread.getName().startsWith("database-test-")) {
                    assertSame(Database.class.getClassLoader(), thread.getContextClassLoader(), thread.getName());
                    poolThreads++;
                }
            }
            assertTrue(poolThreads > 0, "the pool's threads are named after it");
        } finally {
            opener.setContextClassLoader(previous);
        }
    }

    @Test
    void aShareThatFailsToStartIsGivenBack() throws Exception {
        String empty = TestDatabase.fresh("database_test_empty");
        SQLException refused = assertThrows(SQLException.class,
                () -> Database.open(empty, empty, server.user(), server.password(), false, 4, 2000, "database-test"));
        assertTrue(refused.getMessage().contains("the sessionfarm schema is not current"), refused.getMessage());
        try (Database migrated = Database.open(empty, empty, server.user(), server.password(), true, 4, 2000, "database-test")) {
            assertEquals(1, migrated.poolUsers(), "the failed share was given back");
        }
    }
}
