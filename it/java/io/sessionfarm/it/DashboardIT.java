package io.sessionfarm.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import javax.imageio.ImageIO;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The sample's farm dashboard ({@code /farm.html}) as a browser shows it while the farm runs
 * load: headless Chromium draws the page, and the test reads both the page it made and its
 * screenshot, in which the plots' lines must be there in their colours. A node killed with
 * {@code kill -9} shows as down on the others' dashboards.
 */
class DashboardIT extends FarmTestBase {

    /** The page's first three series colours (COLORS in farm.html); lines of equal values hide each other. */
    private static final int[] SERIES_COLORS = {0x1f77b4, 0xd62728, 0x2ca02c};
    private static final List<String> PLOTS = List.of("sessions", "checkpoints", "latency", "tokens", "tls");

    private static Farm farm;
    private static List<Farm.Node> nodes;

    @BeforeAll
    static void startFarm() throws Exception {
        farm = farm(DashboardIT.class);
        nodes = new ArrayList<>();
        for (String name : List.of("dash-a", "dash-b", "dash-c")) {
            nodes.add(farm.create(name, Farm.freePort(0), farmContext()));
        }
        farm.introduce(nodes);
        start(farm, nodes);
    }

    @Test
    void theDashboardPlotsTheFarmUnderLoadAndShowsAKilledNodeDown() throws Exception {
        String chromium = Tools.require("chromium", "chromium");
        boolean tls = farm.nodeJavaFeature() >= 22;
        AtomicBoolean running = new AtomicBoolean(true);
        ExecutorService load = Executors.newFixedThreadPool(4);
        List<Future<Integer>> users = new ArrayList<>();
        for (int u = 0; u < 3; u++) {
            int offset = u;
            users.add(load.submit(() -> {
                int requests = 0;
                while (running.get()) {
                    Client user = new Client(); // new sessions now and then, and requests on every node
                    for (int i = 0; i < 20 && running.get(); i++, requests++) {
                        assertEquals(200, user.get(nodes.get((offset + i) % nodes.size()), "/api/whoami").status());
                    }
                }
                return requests;
            }));
        }
        if (tls) {
            users.add(load.submit(() -> {
                int handshakes = 0;
                for (int i = 0; running.get(); i++) {
                    handshakes += 1 + SClient.reconnect(nodes.get(i % nodes.size()).httpsPort(), "tls1_2");
                }
                return handshakes;
            }));
        }
        Thread.sleep(2_000);
        Path screenshot = ROOT.resolve("target/it-farms/dashboard.png");
        String dom = browse(chromium, nodes.get(0), screenshot);
        running.set(false);
        for (Future<Integer> user : users) {
            assertTrue(user.get() > 0, "load ran");
        }
        load.shutdown();

        assertTrue(Integer.parseInt(attribute(dom, "<body[^>]*data-samples=\"(\\d+)\"")) >= 10, "the page polled: " + dom);
        for (Farm.Node node : nodes) {
            assertTrue(dom.contains("data-node=\"" + node.name() + "\" data-state=\"up\""), node.name() + " up: " + dom);
        }
        for (String plot : PLOTS) {
            if (plot.equals("tls") && !tls) {
                continue; // no sessionfarm TLS connector before Java 22
            }
            Matcher figure = Pattern.compile("<figure id=\"" + plot + "\">(.*?)</figure>", Pattern.DOTALL).matcher(dom);
            assertTrue(figure.find(), plot);
            Matcher series = Pattern.compile("class=\"series\"[^>]*data-points=\"(\\d+)\"").matcher(figure.group(1));
            int lines = 0;
            while (series.find()) {
                lines += Integer.parseInt(series.group(1)) >= 3 ? 1 : 0;
            }
            assertTrue(lines >= (plot.equals("sessions") || plot.equals("latency") ? 3 : 1),
                    plot + ": lines of at least three points (one a node in the per-node plots): " + figure.group(1));
        }
        // The load shows: lines that rose above zero, not only lines along the axis.
        for (String[] risen : List.of(new String[] {"sessions", "dash-a"}, new String[] {"sessions", "dash-c"},
                new String[] {"checkpoints", "by requests"}, new String[] {"checkpoints", "on create"},
                new String[] {"latency", "dash-b"}, new String[] {"tokens", "issued"},
                new String[] {"tls", "resumed by ticket"}, new String[] {"tls", "full"})) {
            if (risen[0].equals("tls") && !tls) {
                continue;
            }
            Matcher figure = Pattern.compile("<figure id=\"" + risen[0] + "\">(.*?)</figure>", Pattern.DOTALL).matcher(dom);
            assertTrue(figure.find(), risen[0]);
            double max = Double.parseDouble(attribute(figure.group(1), "data-series=\"" + risen[1] + "\"[^>]*data-max=\"([\\d.]+)\""));
            assertTrue(max > 0, risen[0] + " / " + risen[1] + " rose above zero: " + figure.group(1));
        }
        BufferedImage image = ImageIO.read(screenshot.toFile());
        for (String plot : PLOTS) {
            if (plot.equals("tls") && !tls) {
                continue;
            }
            int[] box = java.util.Arrays.stream(attribute(dom, "<figure id=\"" + plot + "\">.*?data-box=\"([\\d,]+)\"")
                    .split(",")).mapToInt(Integer::parseInt).toArray();
            int columns = columnsWith(image, SERIES_COLORS, box);
            assertTrue(columns > box[2] / 50, plot + ": a line above the axis in more than 1/50 of the plot's columns"
                    + " in the screenshot: " + columns + " of its " + box[2]);
        }

        farm.kill(nodes.get(2));
        String after = browse(chromium, nodes.get(1), null);
        assertTrue(after.contains("data-node=\"dash-c\" data-state=\"down\""), "the killed node shows down: " + after);
        assertTrue(after.contains("data-node=\"dash-a\" data-state=\"up\""), after);
    }

    /** The page as headless Chromium leaves it after 15 s of (virtual) time, and optionally its screenshot. */
    private static String browse(String chromium, Farm.Node node, Path screenshot) throws Exception {
        Path profile = Files.createTempDirectory(ROOT.resolve("target"), "chromium-");
        List<String> command = new ArrayList<>(List.of(chromium, "--headless", "--no-sandbox", "--disable-gpu",
                "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--user-data-dir=" + profile, "--virtual-time-budget=15000", "--window-size=1400,1400",
                "--hide-scrollbars", "--dump-dom"));
        if (screenshot != null) {
            command.add("--screenshot=" + screenshot);
        }
        command.add("http://localhost:" + node.port() + "/farm.html");
        Path out = profile.resolveSibling(profile.getFileName() + ".html");
        Process browser = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.DISCARD)
                .redirectOutput(out.toFile()).start();
        boolean finished = browser.waitFor(90, TimeUnit.SECONDS);
        if (!finished) {
            browser.destroyForcibly();
        }
        assertTrue(finished, "chromium finished");
        String dom = Files.readString(out, StandardCharsets.UTF_8);
        Files.delete(out);
        Farm.deleteTree(profile);
        return dom;
    }

    private static String attribute(String dom, String regex) {
        Matcher matcher = Pattern.compile(regex).matcher(dom);
        assertTrue(matcher.find(), regex + " in " + dom);
        return matcher.group(1);
    }

    /**
     * Columns of the box {x, y, width, height} with a pixel near one of {@code colors} above the
     * plot's zero line (a series that stays at zero draws along it): a line's middle keeps its
     * colour through anti-aliasing.
     */
    private static int columnsWith(BufferedImage image, int[] colors, int[] box) {
        int zero = box[1] + box[3] * (200 - 20) / 200; // y of 0 in farm.html's viewBox (H 200, BOTTOM 20)
        int columns = 0;
        for (int x = box[0]; x < Math.min(image.getWidth(), box[0] + box[2]); x++) {
            column:
            for (int y = box[1]; y < Math.min(image.getHeight(), zero - 4); y++) {
                int p = image.getRGB(x, y);
                for (int rgb : colors) {
                    if (Math.abs(((p >> 16) & 0xff) - ((rgb >> 16) & 0xff)) + Math.abs(((p >> 8) & 0xff) - ((rgb >> 8) & 0xff))
                            + Math.abs((p & 0xff) - (rgb & 0xff)) < 24) {
                        columns++;
                        break column;
                    }
                }
            }
        }
        return columns;
    }
}
