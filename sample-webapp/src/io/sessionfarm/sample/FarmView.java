package io.sessionfarm.sample;

import java.net.URI;
import java.net.URISyntaxException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * The farm as one node sees it, for the dashboard: every node's {@code /api/stats}, asked at
 * once, with a node that does not answer within two seconds shown as down. The nodes are those
 * the system property {@code sessionfarm.farm.nodes} names ({@code node1=http://127.0.0.1:8081,...},
 * which {@code ./farm up} writes); without it, this node alone.
 */
public final class FarmView {

    private static final long TIMEOUT_SECONDS = 2;

    /** Made at the first poll: the shop page, which only lists the nodes, starts no client threads. */
    private static final class Http {
        static final HttpClient CLIENT = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(TIMEOUT_SECONDS)).build();
    }

    private FarmView() {
    }

    /** Each node's name and URL, in the order configured; an entry that is no http(s) URL is left out. */
    public static Map<String, String> nodes(String self, String selfUrl) {
        Map<String, String> nodes = new LinkedHashMap<>();
        for (String entry : System.getProperty("sessionfarm.farm.nodes", "").split(",")) {
            int eq = entry.indexOf('=');
            String url = eq < 0 ? "" : entry.substring(eq + 1).trim();
            if (eq > 0 && isHttpUrl(url)) {
                nodes.put(entry.substring(0, eq).trim(), url);
            }
        }
        if (nodes.isEmpty()) {
            nodes.put(self, selfUrl);
        }
        return nodes;
    }

    private static boolean isHttpUrl(String url) {
        try {
            URI uri = new URI(url);
            return ("http".equals(uri.getScheme()) || "https".equals(uri.getScheme())) && uri.getHost() != null;
        } catch (URISyntaxException e) {
            return false;
        }
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

    /**
     * One entry a node: name, url, up, and when up the time this node received its answer and the
     * answer itself as a string (the page parses it: a node answering nonsense spoils only its own
     * entry).
     */
    public static List<Map<String, Object>> poll(Map<String, String> nodes) {
        List<CompletableFuture<Map<String, Object>>> replies = new ArrayList<>();
        for (Map.Entry<String, String> node : nodes.entrySet()) {
            HttpRequest request = HttpRequest.newBuilder(URI.create(node.getValue() + "/api/stats"))
                    .timeout(Duration.ofSeconds(TIMEOUT_SECONDS)).build();
            replies.add(Http.CLIENT.sendAsync(request, HttpResponse.BodyHandlers.ofString())
                    .orTimeout(TIMEOUT_SECONDS, TimeUnit.SECONDS) // the whole answer, body included
                    .handle((response, failure) -> {
                        Map<String, Object> entry = new LinkedHashMap<>();
                        entry.put("name", node.getKey());
                        entry.put("url", node.getValue());
                        boolean up = failure == null && response.statusCode() == 200;
                        entry.put("up", up);
                        if (up) {
                            entry.put("at", System.currentTimeMillis());
                            entry.put("reply", response.body());
                        }
                        return entry;
                    }));
        }
        return replies.stream().map(CompletableFuture::join).toList();
    }
}
