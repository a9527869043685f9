package io.sessionfarm.sample;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * The farm as one node sees it, for the dashboard: every node's {@code /api/stats}, asked at
 * once, with a node that does not answer within a second shown as down. The nodes are those the
 * system property {@code sessionfarm.farm.nodes} names ({@code node1=http://127.0.0.1:8081,...},
 * which {@code ./farm up} writes); without it, this node alone.
 */
public final class FarmView {

    /** A node's reply, JSON as it came: the dashboard reads it, this node does not. */
    public record Json(String text) {
    }

    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(1)).build();
    private static final Duration TIMEOUT = Duration.ofSeconds(1);

    private FarmView() {
    }

    /** Each node's name and URL, in the order configured. */
    public static Map<String, String> nodes(String self, String selfUrl) {
        Map<String, String> nodes = new LinkedHashMap<>();
        for (String entry : System.getProperty("sessionfarm.farm.nodes", "").split(",")) {
            int eq = entry.indexOf('=');
            if (eq > 0 && entry.startsWith("http", eq + 1)) {
                nodes.put(entry.substring(0, eq).trim(), entry.substring(eq + 1).trim());
            }
        }
        if (nodes.isEmpty()) {
            nodes.put(self, selfUrl);
        }
        return nodes;
    }

    /**
     * A node's URL with the host name this request came by: the browser sends the cart's cookie to
     * every port of a host, but not from {@code localhost} to {@code 127.0.0.1}.
     */
    public static String onThisHost(String url, jakarta.servlet.http.HttpServletRequest request) {
        URI uri = URI.create(url);
        if (uri.getHost() == null) {
            return url; // a path: this node
        }
        return uri.getScheme() + "://" + (request.getServerName().contains(":") ? "[" + request.getServerName() + "]"
                : request.getServerName()) + (uri.getPort() < 0 ? "" : ":" + uri.getPort()) + uri.getRawPath();
    }

    /** One entry a node: name, url, up, and when up the time of its answer and its stats. */
    public static List<Map<String, Object>> poll(Map<String, String> nodes) {
        List<CompletableFuture<Map<String, Object>>> replies = new ArrayList<>();
        for (Map.Entry<String, String> node : nodes.entrySet()) {
            HttpRequest request = HttpRequest.newBuilder(URI.create(node.getValue() + "/api/stats")).timeout(TIMEOUT).build();
            replies.add(HTTP.sendAsync(request, HttpResponse.BodyHandlers.ofString())
                    .handle((response, failure) -> {
                        Map<String, Object> entry = new LinkedHashMap<>();
                        entry.put("name", node.getKey());
                        entry.put("url", node.getValue());
                        boolean up = failure == null && response.statusCode() == 200 && response.body().startsWith("{");
                        entry.put("up", up);
                        if (up) {
                            // The answer's own time: rates are counted against it, not the browser's clock.
                            entry.put("at", System.currentTimeMillis());
                            entry.put("reply", new Json(response.body()));
                        }
                        return entry;
                    }));
        }
        return replies.stream().map(CompletableFuture::join).toList();
    }
}
