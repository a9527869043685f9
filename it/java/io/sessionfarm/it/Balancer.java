package io.sessionfarm.it;

import java.io.IOException;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * HAProxy in TCP mode, round-robin over the nodes' HTTPS ports: TLS passes through untouched, so
 * each new connection of a returning client lands on another node, as behind a balancer that is
 * not sticky. A connection still open when its node went away is not retried.
 */
public final class Balancer {

    private Balancer() {
    }

    public static boolean installed() {
        return Files.isExecutable(Path.of("/usr/sbin/haproxy")) || Files.isExecutable(Path.of("/usr/bin/haproxy"));
    }

    /**
     * Starts HAProxy on {@code port}; {@code daemon}: detached, its pid in {@code dir/haproxy.pid}
     * (for ./farm), else a child process the caller stops.
     */
    public static Process tcpRoundRobin(List<Farm.Node> nodes, int port, Path dir, boolean daemon)
            throws IOException, InterruptedException {
        StringBuilder config = new StringBuilder("""
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
                """.formatted(port));
        for (Farm.Node node : nodes) {
            config.append("  server ").append(node.name()).append(" 127.0.0.1:").append(node.httpsPort())
                    .append(" check inter 1s\n");
        }
        Files.createDirectories(dir);
        Path file = dir.resolve("haproxy-tls.cfg");
        Files.writeString(file, config);
        ProcessBuilder builder = daemon
                ? new ProcessBuilder("haproxy", "-D", "-p", dir.resolve("haproxy.pid").toString(), "-f", file.toString())
                : new ProcessBuilder("haproxy", "-db", "-f", file.toString());
        Process process = builder.redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(dir.resolve("haproxy.log").toFile())).start();
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
        throw new IllegalStateException("HAProxy did not start; see " + dir.resolve("haproxy.log"));
    }
}
