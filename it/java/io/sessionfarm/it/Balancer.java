package io.sessionfarm.it;

import java.io.IOException;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.ToIntFunction;

/**
 * HAProxy on loopback in front of a farm's nodes, for the tests, the benchmarks and ./farm: each
 * caller writes the configuration it needs; starting it and waiting until it answers is here.
 */
public final class Balancer {

    private Balancer() {
    }

    public static boolean installed() {
        return Files.isExecutable(Path.of("/usr/sbin/haproxy")) || Files.isExecutable(Path.of("/usr/bin/haproxy"));
    }

    /** One {@code server} line per node, on the port {@code port} picks, with {@code options} (may be empty). */
    public static String servers(List<Farm.Node> nodes, ToIntFunction<Farm.Node> port, String options) {
        StringBuilder lines = new StringBuilder();
        for (Farm.Node node : nodes) {
            lines.append("  server ").append(node.name()).append(" 127.0.0.1:").append(port.applyAsInt(node))
                    .append(options.isEmpty() ? "" : " " + options).append('\n');
        }
        return lines.toString();
    }

    /**
     * Writes {@code config} to {@code file} and starts HAProxy on it, logging to {@code log}, then
     * waits until {@code port} answers. {@code daemon}: detached, its pid in {@code file}'s folder
     * as {@code haproxy.pid} (for ./farm); else a child process the caller stops.
     */
    public static Process start(String config, int port, Path file, Path log, boolean daemon)
            throws IOException, InterruptedException {
        Files.createDirectories(file.getParent());
        Files.writeString(file, config);
        ProcessBuilder builder = daemon
                ? new ProcessBuilder("haproxy", "-D", "-p", file.resolveSibling("haproxy.pid").toString(), "-f", file.toString())
                : new ProcessBuilder("haproxy", "-db", "-f", file.toString());
        Process process = builder.redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                .start();
        if (daemon) {
            process.waitFor();
        }
        for (int i = 0; i < 50; i++) {
            try (Socket probe = new Socket("127.0.0.1", port)) {
                return process;
            } catch (IOException notYet) {
                Thread.sleep(100);
            }
        }
        process.destroy();
        throw new IllegalStateException("HAProxy did not start; see " + log);
    }

    /**
     * HAProxy in HTTP mode on {@code port} in front of the nodes' HTTP ports, with {@code backend}
     * (the backend's own lines, before its servers: how it is sticky) and {@code serverOptions}.
     * A request for a server that is down, or refuses the connection, goes to another one
     * (redispatch), as a farm's balancer is set up.
     */
    public static Process http(List<Farm.Node> nodes, int port, String backend, String serverOptions, Path dir)
            throws IOException, InterruptedException {
        String config = """
                global
                  maxconn 256
                defaults
                  mode http
                  option redispatch
                  retries 2
                  timeout connect 2s
                  timeout client 30s
                  timeout server 30s
                frontend web
                  bind 127.0.0.1:%d
                  default_backend farm
                backend farm
                  balance roundrobin
                """.formatted(port) + backend;
        for (Farm.Node node : nodes) {
            config += "  server " + node.name() + " 127.0.0.1:" + node.port() + " check inter 500ms fall 3 rise 2 "
                    + serverOptions.replace("{node}", node.name()) + "\n";
        }
        return start(config, port, dir.resolve("haproxy.cfg"), dir.resolve("haproxy.log"), false);
    }

    /**
     * HAProxy in TCP mode, round-robin over the nodes' HTTPS ports: TLS passes through untouched,
     * so each new connection of a returning client lands on another node, as behind a balancer
     * that is not sticky. A connection still open when its node went away is not retried.
     */
    public static Process tcpRoundRobin(List<Farm.Node> nodes, int port, Path dir, boolean daemon)
            throws IOException, InterruptedException {
        String config = """
                global
                  maxconn 4096
                defaults
                  mode tcp
                  timeout connect 2s
                  timeout client 60s
                  timeout server 60s
                frontend tls
                  bind 127.0.0.1:%d
                  default_backend farm
                backend farm
                  balance roundrobin
                """.formatted(port) + servers(nodes, Farm.Node::httpsPort, "check inter 1s");
        return start(config, port, dir.resolve("haproxy-tls.cfg"), dir.resolve("haproxy.log"), daemon);
    }
}
