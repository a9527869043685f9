package io.sessionfarm.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A node scraped as Prometheus scrapes it: the JMX exporter's Java agent with
 * conf/prometheus/jmx-exporter.yaml turns the Manager's, the token valve's and (on Java 22 and
 * newer) the TLS connector's JMX attributes into metrics, and the store's health follows an
 * outage: {@code storeAvailable} drops to 0 and {@code owedCheckpoints} rises, then both return.
 */
class MetricsIT extends FarmTestBase {

    private static final HttpClient HTTP = HttpClient.newHttpClient();
    private static FaultyProxy proxy;
    private static Farm farm;
    private static Farm.Node node;

    @BeforeAll
    static void startNodeWithMetrics() throws Exception {
        farm = farm(MetricsIT.class, url -> {
            proxy = new FaultyProxy(url);
            return proxy.url();
        }).withMetrics();
        node = startNodes(farm, farmContext(), "metrics-a").get(0);
    }

    @AfterAll
    static void closeProxy() throws Exception {
        proxy.close();
    }

    @Test
    void theStoresHealthShowsInTheMetricsThroughAnOutage() throws Exception {
        Client user = new Client();
        assertEquals(1, user.get(node, "/api/incr?name=n").intField("n")); // written as the session is made
        assertEquals(2, user.get(node, "/api/incr?name=n").intField("n")); // written by the per-request policy
        String metrics = scrape();
        assertEquals(1, value(metrics, "sessionfarm_manager_store_available"), metrics);
        assertEquals(0, value(metrics, "sessionfarm_manager_owed_checkpoints"));
        assertEquals(1, value(metrics, "sessionfarm_manager_checkpoints_on_create_total"), metrics);
        assertEquals(1, value(metrics, "sessionfarm_manager_checkpoints_by_requests_total"), metrics);
        assertTrue(value(metrics, "sessionfarm_token_tokens_issued_total") >= 1, metrics);
        assertEquals(1, value(metrics, "sessionfarm_token_store_available"));
        assertTrue(value(metrics, "sessionfarm_token_keys_in_ring") >= 1);
        if (farm.nodeJavaFeature() >= 22) {
            assertTrue(metrics.contains("sessionfarm_tls_full_handshakes_total{"), "the TLS connector's metrics");
        }

        proxy.refuse();
        for (int i = 3; i <= 5; i++) {
            assertEquals(i, user.get(node, "/api/incr?name=n").intField("n"), "served from memory");
        }
        awaitMetrics(m -> value(m, "sessionfarm_manager_store_available") == 0
                && value(m, "sessionfarm_manager_owed_checkpoints") >= 1
                && value(m, "sessionfarm_token_store_available") == 0);

        proxy.restore();
        awaitMetrics(m -> value(m, "sessionfarm_manager_store_available") == 1
                && value(m, "sessionfarm_manager_owed_checkpoints") == 0
                && value(m, "sessionfarm_token_store_available") == 1);
        assertEquals(6, user.get(node, "/api/incr?name=n").intField("n"), "the changes made during the outage were kept");
    }

    private static String scrape() throws Exception {
        HttpResponse<String> response = HTTP.send(HttpRequest.newBuilder(node.metricsUrl())
                .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, response.statusCode());
        return response.body();
    }

    private static String awaitMetrics(java.util.function.Predicate<String> condition) throws Exception {
        long deadline = System.currentTimeMillis() + 30_000;
        String metrics = scrape();
        while (!condition.test(metrics)) {
            assertTrue(System.currentTimeMillis() < deadline, "the metrics did not follow: " + metrics);
            Thread.sleep(500);
            metrics = scrape();
        }
        return metrics;
    }

    /** The value of the ROOT webapp's {@code name}; fails if the scrape lacks it. */
    private static double value(String metrics, String name) {
        Matcher m = Pattern.compile("(?m)^" + name + "\\{[^}]*context=\"/\"[^}]*\\} (\\S+)$").matcher(metrics);
        assertTrue(m.find(), name + " is not in the scrape");
        return Double.parseDouble(m.group(1));
    }
}
