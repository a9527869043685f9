package io.sessionfarm.it;

import java.io.IOException;
import java.net.CookieManager;
import java.net.HttpCookie;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One browser-like user: Java's HttpClient with its own cookie jar. Cookies on 127.0.0.1 are
 * sent to every port, so the user can be moved between nodes the way a balancer would.
 */
public final class Client {

    private final CookieManager cookies = new CookieManager();
    private final HttpClient http = HttpClient.newBuilder().cookieHandler(cookies)
            .connectTimeout(Duration.ofSeconds(5)).build();

    public record Reply(int status, String body) {
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
    }

    public Reply get(Farm.Node node, String path) throws IOException, InterruptedException {
        return get(node.url(path));
    }

    public Reply get(URI uri) throws IOException, InterruptedException {
        HttpResponse<String> response = http.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(20)).build(),
                HttpResponse.BodyHandlers.ofString());
        return new Reply(response.statusCode(), response.body());
    }

    public String sessionId() {
        return cookies.getCookieStore().getCookies().stream().filter(c -> c.getName().equals("JSESSIONID"))
                .map(HttpCookie::getValue).findFirst().orElse(null);
    }

    /** A second user who holds a copy of this user's session cookie. */
    public Client withSessionId(String id) {
        Client other = new Client();
        HttpCookie cookie = new HttpCookie("JSESSIONID", id);
        cookie.setPath("/");
        cookie.setVersion(0);
        other.cookies.getCookieStore().add(URI.create("http://127.0.0.1/"), cookie);
        return other;
    }
}
