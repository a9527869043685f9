package io.sessionfarm.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The embedded sample (sample-boot): a Spring Boot 3.5 application on its embedded Tomcat 10.1,
 * with the Manager installed in code, run as a farm of three processes behind HAProxy
 * round-robin. A session made on one process continues on the others and survives
 * {@code kill -9} of the process that served it last.
 */
class SpringBootFarmIT extends FarmTestBase {

    private static Path dir;
    private static final List<Process> processes = new ArrayList<>();
    private static final List<String> names = List.of("boot1", "boot2", "boot3");
    private static Process haproxy;
    private static int port;

    @BeforeAll
    static void startFarm() throws Exception {
        assertTrue(Balancer.installed(), "haproxy is needed: sudo apt-get install haproxy (./check installs it)");
        Path jar = Path.of(System.getProperty("sessionfarm.bootJar"));
        assertTrue(Files.isRegularFile(jar), "the sample is built by ./mvnw package: " + jar);
        // The farm's database, directory and master key; its Tomcat distribution is not used.
        Farm farm = farm(SpringBootFarmIT.class);
        Farm.Store store = farm.store();
        dir = farm.layout().farmDir();
        Path key = farm.masterKeyFile();
        String java17 = System.getProperty("sessionfarm.jdk17", "");
        Path javaHome = Path.of(!java17.isBlank() && !java17.startsWith("${") ? java17 : System.getProperty("java.home"));
        List<Integer> ports = new ArrayList<>();
        for (String name : names) {
            int nodePort = Farm.freePort(0);
            ports.add(nodePort);
            List<String> command = new ArrayList<>(List.of(javaHome.resolve("bin/java").toString(), "-Xmx256m", "-jar",
                    jar.toString(), "--server.port=" + nodePort, "--sessionfarm.node=" + name,
                    "--sessionfarm.jdbc-url=" + store.jdbcUrl(), "--sessionfarm.username=" + store.username(),
                    "--sessionfarm.master-key-file=" + key));
            if (store.password() != null && !store.password().isEmpty()) {
                command.add("--sessionfarm.password=" + store.password());
            }
            processes.add(new ProcessBuilder(command).redirectErrorStream(true)
                    .redirectOutput(dir.resolve(name + ".log").toFile()).start());
        }
        for (int i = 0; i < names.size(); i++) {
            awaitUp(ports.get(i), names.get(i));
        }
        port = Farm.freePort(0);
        StringBuilder servers = new StringBuilder();
        for (int i = 0; i < names.size(); i++) {
            servers.append("  server ").append(names.get(i)).append(" 127.0.0.1:").append(ports.get(i))
                    .append(" check inter 300 fall 1\n");
        }
        String config = """
                global
                  maxconn 256
                defaults
                  mode http
                  timeout connect 2s
                  timeout client 30s
                  timeout server 30s
                  retries 3
                  option redispatch
                frontend web
                  bind 127.0.0.1:%d
                  default_backend farm
                backend farm
                  balance roundrobin
                """.formatted(port) + servers;
        haproxy = Balancer.start(config, port, dir.resolve("haproxy.cfg"), dir.resolve("haproxy.log"), false);
    }

    private static void awaitUp(int nodePort, String name) throws Exception {
        long deadline = System.nanoTime() + 120_000_000_000L;
        while (System.nanoTime() < deadline) {
            try {
                if (new Client().get(URI.create("http://127.0.0.1:" + nodePort + "/api/ping")).status() == 200) {
                    return;
                }
            } catch (IOException notYet) {
                // starting
            }
            Thread.sleep(300);
        }
        throw new AssertionError(name + " did not start; see " + dir.resolve(name + ".log") + ":\n"
                + Files.readString(dir.resolve(name + ".log")));
    }

    @AfterAll
    static void stopFarm() {
        if (haproxy != null) {
            haproxy.destroy();
        }
        processes.forEach(Process::destroy);
    }

    private static Client.Reply viaBalancer(Client user) throws Exception {
        Client.Reply reply = user.get(URI.create("http://127.0.0.1:" + port + "/api/whoami"));
        assertEquals(200, reply.status(), reply.body());
        return reply;
    }

    @Test
    void aSessionContinuesOnEveryProcessAndSurvivesKillOfTheOneThatServedIt() throws Exception {
        Client user = new Client();
        Set<String> servedBy = new HashSet<>();
        String last = null;
        for (int i = 1; i <= 9; i++) {
            Client.Reply reply = viaBalancer(user);
            assertEquals(i, reply.intField("counter"), "request " + i + " on " + reply.field("node"));
            servedBy.add(reply.field("node"));
            last = reply.field("node");
        }
        assertEquals(Set.copyOf(names), servedBy, "round-robin over the three processes");

        Process victim = processes.get(names.indexOf(last));
        victim.destroyForcibly().waitFor(); // kill -9
        for (int i = 10; i <= 15; i++) {
            Client.Reply reply = viaBalancer(user);
            assertEquals(i, reply.intField("counter"), "request " + i + " after " + last + " was killed");
            assertNotEquals(last, reply.field("node"));
        }
    }
}
