package io.sessionfarm.it.harness;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.function.ToDoubleFunction;

import javax.imageio.ImageIO;

/** The harness run as a PNG: throughput, errors, memory and the tables over time, with the faults marked. */
final class Plot {

    record Marker(double seconds, String label) {
    }

    private static final int WIDTH = 1200;
    private static final int PANEL = 220;
    private static final int LEFT = 80;
    private static final int RIGHT = 20;
    private static final int TOP = 40;
    private static final Color[] NODE_COLORS = {new Color(0x1f77b4), new Color(0xff7f0e), new Color(0x2ca02c)};

    private Plot() {
    }

    static void write(Path file, List<FaultHarness.Sample> samples, List<Marker> markers, int nodes) throws IOException {
        int height = TOP + 4 * (PANEL + 40) + 20;
        BufferedImage image = new BufferedImage(WIDTH, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = image.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, WIDTH, height);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        double span = samples.isEmpty() ? 1 : samples.get(samples.size() - 1).seconds();
        g.setColor(Color.BLACK);
        g.drawString("sessionfarm fault harness: " + samples.size() + " samples over " + Math.round(span)
                + " s; dashed lines are faults", LEFT, 20);
        int y = TOP;
        panel(g, y, "requests / s", samples, span, markers, List.of(s -> s.requestsPerSecond()), List.of(Color.DARK_GRAY));
        y += PANEL + 40;
        panel(g, y, "non-OK requests / 5 s", samples, span, markers, List.of(s -> s.errors()), List.of(Color.RED));
        y += PANEL + 40;
        List<ToDoubleFunction<FaultHarness.Sample>> rss = new java.util.ArrayList<>();
        List<Color> colors = new java.util.ArrayList<>();
        for (int i = 0; i < nodes; i++) {
            int node = i;
            rss.add(s -> s.rssKb()[node] < 0 ? Double.NaN : s.rssKb()[node] / 1024.0);
            colors.add(NODE_COLORS[i % NODE_COLORS.length]);
        }
        panel(g, y, "RSS MB per node (blue, orange, green)", samples, span, markers, rss, colors);
        y += PANEL + 40;
        panel(g, y, "sessionfarm tables: MB with indexes and TOAST (purple), dead rows / 1000 (brown)", samples, span,
                markers, List.of(s -> s.tableKb() < 0 ? Double.NaN : s.tableKb() / 1024.0,
                        s -> s.deadRows() < 0 ? Double.NaN : s.deadRows() / 1000.0),
                List.of(new Color(0x9467bd), new Color(0x8c564b)));
        g.dispose();
        ImageIO.write(image, "png", file.toFile());
    }

    private static void panel(Graphics2D g, int top, String title, List<FaultHarness.Sample> samples, double span,
            List<Marker> markers, List<ToDoubleFunction<FaultHarness.Sample>> series, List<Color> colors) {
        int width = WIDTH - LEFT - RIGHT;
        double max = 1;
        for (ToDoubleFunction<FaultHarness.Sample> f : series) {
            for (FaultHarness.Sample s : samples) {
                double v = f.applyAsDouble(s);
                if (!Double.isNaN(v)) {
                    max = Math.max(max, v);
                }
            }
        }
        max *= 1.1;
        g.setColor(Color.BLACK);
        g.drawString(title, LEFT, top - 6);
        g.drawRect(LEFT, top, width, PANEL);
        g.drawString(String.format("%.0f", max), 5, top + 12);
        g.drawString("0", 5, top + PANEL);
        g.drawString("0 s", LEFT, top + PANEL + 14);
        g.drawString(Math.round(span) + " s", LEFT + width - 40, top + PANEL + 14);
        g.setStroke(new BasicStroke(1, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10, new float[] {4, 4}, 0));
        g.setColor(Color.GRAY);
        for (Marker m : markers) {
            int x = LEFT + (int) (m.seconds() / span * width);
            g.drawLine(x, top, x, top + PANEL);
            g.drawString(m.label(), x + 2, top + 12 + (markers.indexOf(m) % 4) * 12);
        }
        g.setStroke(new BasicStroke(1.5f));
        for (int k = 0; k < series.size(); k++) {
            g.setColor(colors.get(k));
            int px = -1;
            int py = -1;
            for (FaultHarness.Sample s : samples) {
                double v = series.get(k).applyAsDouble(s);
                if (Double.isNaN(v)) {
                    px = -1;
                    continue;
                }
                int x = LEFT + (int) (s.seconds() / span * width);
                int yv = top + PANEL - (int) (v / max * PANEL);
                if (px >= 0) {
                    g.drawLine(px, py, x, yv);
                }
                px = x;
                py = yv;
            }
        }
    }
}
