package io.sessionfarm.it.bench;

import java.io.IOException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import io.sessionfarm.it.Farm;

/** wrk on loopback over a set of pre-made sessions, and what it reports. */
final class Wrk {

    record Result(double requestsPerSecond, double p50Millis, double p99Millis, long requests) {
    }

    private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();

    private Wrk() {
    }

    /** Sessions made with one request each (plus an optional setup request); their cookies feed wrk. */
    static List<String> createSessions(Farm.Node node, int count, String setupPath) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            List<Future<String>> ids = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                ids.add(pool.submit(() -> {
                    HttpResponse<Void> response = HTTP.send(HttpRequest.newBuilder(node.url("/api/whoami")).build(),
                            HttpResponse.BodyHandlers.discarding());
                    String cookie = response.headers().firstValue("Set-Cookie").orElseThrow(
                            () -> new IllegalStateException("no session cookie from " + node.name()));
                    String id = cookie.substring("JSESSIONID=".length(), cookie.indexOf(';'));
                    if (setupPath != null) {
                        HTTP.send(HttpRequest.newBuilder(node.url(setupPath)).header("Cookie", "JSESSIONID=" + id).build(),
                                HttpResponse.BodyHandlers.discarding());
                    }
                    return "JSESSIONID=" + id;
                }));
            }
            List<String> result = new ArrayList<>();
            for (Future<String> id : ids) {
                result.add(id.get());
            }
            return result;
        } finally {
            pool.shutdown();
        }
    }

    static Result run(Path root, Farm.Node node, String path, Path cookies, int connections, int seconds)
            throws IOException, InterruptedException {
        return run(root, node.url(path), cookies, "sessions.lua", 2, connections, seconds);
    }

    /** wrk with {@code threads} threads and a script of it/bench/ over the cookies in the file, one per line. */
    static Result run(Path root, java.net.URI url, Path cookies, String script, int threads, int connections, int seconds)
            throws IOException, InterruptedException {
        ProcessBuilder builder = new ProcessBuilder("wrk", "-t" + threads, "-c" + connections, "-d" + seconds + "s",
                "--latency", "-s", root.resolve("it/bench").resolve(script).toString(), url.toString())
                .redirectErrorStream(true);
        builder.environment().put("SESSION_COOKIES", cookies.toString());
        builder.environment().put("THREADS", Integer.toString(threads));
        Process process = builder.start();
        String output = new String(process.getInputStream().readAllBytes());
        if (process.waitFor() != 0 || !output.contains("Requests/sec")) {
            throw new IllegalStateException("wrk failed:\n" + output);
        }
        if (output.contains("Non-2xx") || output.contains("Socket errors")) {
            throw new IllegalStateException(url + " answered errors under load:\n" + output);
        }
        return new Result(number(output, "Requests/sec:\\s+([\\d.]+)"), millis(output, "50%"), millis(output, "99%"),
                (long) number(output, "(\\d+) requests in"));
    }

    private static double millis(String wrk, String percentile) {
        Matcher m = Pattern.compile(percentile + "\\s+([\\d.]+)(us|ms|s)").matcher(wrk);
        if (!m.find()) {
            throw new IllegalStateException("no " + percentile + " in wrk output:\n" + wrk);
        }
        double value = Double.parseDouble(m.group(1));
        return switch (m.group(2)) {
            case "us" -> value / 1000;
            case "s" -> value * 1000;
            default -> value;
        };
    }

    static double number(String text, String regex) {
        Matcher m = Pattern.compile(regex).matcher(text);
        if (!m.find()) {
            throw new IllegalStateException("no match for " + regex + " in:\n" + text);
        }
        return Double.parseDouble(m.group(1));
    }
}
