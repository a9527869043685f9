package io.sessionfarm.it;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.StringJoiner;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One browser-like user: Java's HttpClient with a cookie jar of its own. All nodes are on
 * 127.0.0.1, and like a browser the jar sends the same cookies to every port, so the user can be
 * moved between nodes the way a balancer would. Like a browser on loopback, it keeps and sends
 * {@code Secure} cookies over plain http (Java's own CookieManager would not).
 */
public final class Client {

    /** The token valve's cookie in the sample farm. */
    public static final String TOKEN_COOKIE = "__Host-sessionfarm";

    private final Map<String, String> cookies = new LinkedHashMap<>();
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    public record Reply(int status, String body, Map<String, List<String>> headers) {
        public int intField(String name) {
            Matcher m = Pattern.compile("\"" + Pattern.quote(name) + "\":(\\d+)").matcher(body);
            if (!m.find()) {
                throw new AssertionError("no numeric field " + name + " in " + body);
            }
            return Integer.parseInt(m.group(1));
        }

        public String field(String name) {
            Matcher m = Pattern.compile("\"" + Pattern.quote(name) + "\":\"([^\"]*)\"").matcher(body);
            return m.find() ? m.group(1) : null;
        }

        public List<String> header(String name) {
            return headers.entrySet().stream().filter(e -> e.getKey().equalsIgnoreCase(name))
                    .flatMap(e -> e.getValue().stream()).toList();
        }
    }

    public Reply get(Farm.Node node, String path) throws IOException, InterruptedException {
        return get(node.url(path));
    }

    public Reply get(URI uri) throws IOException, InterruptedException {
        HttpRequest.Builder request = HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(20));
        String header = cookieHeader();
        if (!header.isEmpty()) {
            request.header("Cookie", header);
        }
        HttpResponse<String> response = http.send(request.build(), HttpResponse.BodyHandlers.ofString());
        for (String setCookie : response.headers().allValues("Set-Cookie")) {
            remember(setCookie);
        }
        return new Reply(response.statusCode(), response.body(), response.headers().map());
    }

    private synchronized String cookieHeader() {
        StringJoiner header = new StringJoiner("; ");
        cookies.forEach((name, value) -> header.add(name + "=" + value));
        return header.toString();
    }

    private synchronized void remember(String setCookie) {
        String pair = setCookie.split(";", 2)[0];
        int eq = pair.indexOf('=');
        if (eq > 0) {
            String name = pair.substring(0, eq).strip();
            if (setCookie.toLowerCase().contains("max-age=0")) {
                cookies.remove(name);
            } else {
                cookies.put(name, pair.substring(eq + 1).strip());
            }
        }
    }

    public synchronized String cookie(String name) {
        return cookies.get(name);
    }

    public synchronized void setCookie(String name, String value) {
        cookies.put(name, value);
    }

    public String sessionId() {
        return cookie("JSESSIONID");
    }

    public String token() {
        return cookie(TOKEN_COOKIE);
    }

    /** A second user who holds a copy of this user's session cookie. */
    public Client withSessionId(String id) {
        return withCookie("JSESSIONID", id);
    }

    /** A second user who holds a copy of one of this user's cookies. */
    public Client withCookie(String name, String value) {
        Client other = new Client();
        other.setCookie(name, value);
        return other;
    }
}
