package io.sessionfarm.it;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * A farm of real Tomcat nodes on loopback: each node is a CATALINA_BASE made from the unpacked
 * Tomcat distribution, with the sessionfarm JAR in its {@code lib/}, the sample webapp as ROOT and
 * a {@code context.xml}. Used by {@code ./farm} and by the integration tests.
 */
public final class Farm {

    /** Where things are: the Tomcat distribution, the plugin JAR, the webapp, the configuration. */
    public record Layout(Path tomcatHome, Path jar, Path webapp, Path conf, Path sql, Path farmDir) {

        /**
         * The layout of a built checkout rooted at {@code root}, on the Tomcat distribution the
         * system property {@code sessionfarm.tomcat} names, else the newest under target/tomcat.
         */
        public static Layout of(Path root, Path farmDir) {
            return of(root, farmDir, System.getProperty("sessionfarm.tomcat"));
        }

        /** @param tomcatHome a Tomcat distribution, or a version prefix such as "10.1", or null for the newest */
        public static Layout of(Path root, Path farmDir, String tomcatHome) {
            Path target = root.resolve("target");
            Path tomcat;
            if (tomcatHome != null && Files.isDirectory(Path.of(tomcatHome))) {
                tomcat = Path.of(tomcatHome);
            } else {
                String prefix = "apache-tomcat-" + (tomcatHome == null ? "" : tomcatHome);
                try (Stream<Path> dists = Files.list(target.resolve("tomcat"))) {
                    tomcat = dists.filter(p -> p.getFileName().toString().startsWith(prefix))
                            .max(java.util.Comparator.comparing(Layout::version))
                            .orElseThrow(() -> new IllegalStateException("no " + prefix + "* under target/tomcat: run ./mvnw package"));
                } catch (IOException e) {
                    throw new IllegalStateException("no Tomcat under target/tomcat: run ./mvnw package", e);
                }
            }
            Path jar;
            try (Stream<Path> jars = Files.list(target)) {
                jar = jars.filter(p -> p.getFileName().toString().matches("sessionfarm-[^o].*\\.jar")).findFirst()
                        .orElseThrow(() -> new IllegalStateException("no sessionfarm JAR in target/: run ./mvnw package"));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return new Layout(tomcat, jar, root.resolve("sample-webapp"), root.resolve("conf"), root.resolve("sql"), farmDir);
        }

        /** The Prometheus JMX exporter's Java agent, which the build puts beside the plugin JAR. */
        public Path metricsAgent() {
            return jar.getParent().resolve("prometheus/jmx_prometheus_javaagent.jar");
        }

        /** apache-tomcat-10.1.59 → 10.001.059, for ordering. */
        private static String version(Path dist) {
            StringBuilder key = new StringBuilder();
            for (String part : dist.getFileName().toString().replace("apache-tomcat-", "").split("\\.")) {
                key.append(String.format("%04d.", part.matches("\\d+") ? Integer.parseInt(part) : 0));
            }
            return key.toString();
        }
    }

    /** How the farm reaches PostgreSQL: a login that owns the tables; each node gets a login of its own. */
    /**
     * The database the nodes use: {@code jdbcUrl}, and {@code directJdbcUrl} to the server itself
     * when jdbcUrl goes through a transaction pooler (PgBouncer), for migrations and LISTEN.
     */
    public record Store(String jdbcUrl, String directJdbcUrl, String username, String password) {
        public Store(String jdbcUrl, String username, String password) {
            this(jdbcUrl, jdbcUrl, username, password);
        }
    }

    /** A node's own database login, in the least-privilege group of sql/least-privilege.sql. */
    record Login(String username, String password) {
    }

    public record Node(String name, Path base, int port) {
        public URI url(String path) {
            return URI.create("http://127.0.0.1:" + port + path);
        }

        public Path log() {
            return base.resolve("logs/console.log");
        }

        /** The port of the node's HTTPS connector (sessionfarm's TLS connector), or -1. */
        public int httpsPort() {
            return Integer.parseInt(property("sessionfarm.https.port", "-1"));
        }

        /** The value the node's conf/catalina.properties gives {@code name} (the last line wins). */
        public String property(String name, String dflt) {
            String value = dflt;
            try {
                for (String line : Files.readAllLines(base.resolve("conf/catalina.properties"))) {
                    if (line.startsWith(name + "=")) {
                        value = line.substring(name.length() + 1).trim();
                    }
                }
            } catch (IOException e) {
                // no such node
            }
            return value;
        }

        /** The port of the node's Prometheus endpoint (the JMX exporter's agent), or -1. */
        public int metricsPort() {
            return Integer.parseInt(property("sessionfarm.metrics.port", "-1"));
        }

        /** Where Prometheus scrapes the node. */
        public URI metricsUrl() {
            return URI.create("http://127.0.0.1:" + metricsPort() + "/metrics");
        }

        Path pidFile() {
            return base.resolve("node.pid");
        }

        public Optional<ProcessHandle> process() {
            try {
                return ProcessHandle.of(Long.parseLong(Files.readString(pidFile()).trim())).filter(ProcessHandle::isAlive);
            } catch (IOException | NumberFormatException e) {
                return Optional.empty();
            }
        }
    }

    private static final HttpClient PROBE = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

    private final Layout layout;
    private final Store store;
    private final Path nodeJava;
    private final boolean metrics;

    public Farm(Layout layout, Store store) {
        this(layout, store, null, false);
    }

    private Farm(Layout layout, Store store, Path nodeJava, boolean metrics) {
        this.layout = layout;
        this.store = store;
        this.nodeJava = nodeJava;
        this.metrics = metrics;
    }

    public Layout layout() {
        return layout;
    }

    public Store store() {
        return store;
    }

    /** The same farm (directory, database, master key) on another Tomcat distribution. */
    public Farm onTomcat(Path tomcatHome) {
        return new Farm(new Layout(tomcatHome, layout.jar(), layout.webapp(), layout.conf(), layout.sql(), layout.farmDir()),
                store, nodeJava, metrics);
    }

    /** The same farm (directory, database, master key) with its nodes on another JVM. */
    public Farm withNodeJava(Path javaHome) {
        return new Farm(layout, store, javaHome, metrics);
    }

    /**
     * The same farm, whose nodes made from now on run the Prometheus JMX exporter's agent with
     * conf/prometheus/jmx-exporter.yaml, each on a port of its own ({@link Node#metricsUrl()}).
     */
    public Farm withMetrics() {
        if (!Files.isRegularFile(layout.metricsAgent())) {
            throw new IllegalStateException("no " + layout.metricsAgent() + ": run ./mvnw package");
        }
        return new Farm(layout, store, nodeJava, true);
    }

    /** Builds a node's CATALINA_BASE with the farm's own conf/context.xml. */
    public Node create(String name, int port) throws IOException {
        return create(name, port, layout.conf().resolve("context.xml"));
    }

    /** Builds a node's CATALINA_BASE, anew, with the given context.xml. */
    public Node create(String name, int port, Path contextXml) throws IOException {
        Path base = layout.farmDir().resolve(name);
        deleteTree(base);
        for (String dir : List.of("conf", "lib", "logs", "temp", "work", "webapps")) {
            Files.createDirectories(base.resolve(dir));
        }
        try (Stream<Path> files = Files.list(layout.tomcatHome().resolve("conf"))) {
            for (Path file : files.filter(Files::isRegularFile).toList()) {
                Files.copy(file, base.resolve("conf").resolve(file.getFileName()));
            }
        }
        Files.copy(layout.conf().resolve("server.xml"), base.resolve("conf/server.xml"), StandardCopyOption.REPLACE_EXISTING);
        if (nodeJavaFeature() < 22) {
            // The HTTPS connector shares TLS sessions, which needs Java 22: left out on older nodes.
            Path serverXml = base.resolve("conf/server.xml");
            Files.writeString(serverXml, Files.readString(serverXml).replaceFirst(
                    "(?s)<Connector address=\"127.0.0.1\" port=\"\\$\\{sessionfarm.https.port}\".*?</Connector>", ""));
        }
        Files.copy(contextXml, base.resolve("conf/context.xml"), StandardCopyOption.REPLACE_EXISTING);
        if (!store.directJdbcUrl().equals(store.jdbcUrl())) {
            for (Path xml : List.of(base.resolve("conf/context.xml"), base.resolve("conf/server.xml"))) {
                Files.writeString(xml, Files.readString(xml).replace("jdbcUrl=\"${sessionfarm.jdbcUrl}\"",
                        "jdbcUrl=\"${sessionfarm.jdbcUrl}\" directJdbcUrl=\"${sessionfarm.directJdbcUrl}\""));
            }
        }
        Files.copy(layout.jar(), base.resolve("lib").resolve(layout.jar().getFileName()));
        deployWebapp(base.resolve("webapps/ROOT"));
        Login[] logins = nodeLogins(name);
        Login login = logins[0];
        Path tls = tlsMaterial();
        // Read by Tomcat into system properties, which fill the ${...} in server.xml and context.xml;
        // kept in a file so the password never shows on a command line.
        Files.writeString(base.resolve("conf/catalina.properties"), String.join("\n", "",
                "sessionfarm.node=" + name,
                "sessionfarm.tomcat.home=" + layout.tomcatHome(),
                "sessionfarm.http.port=" + port,
                "sessionfarm.jdbcUrl=" + store.jdbcUrl(),
                "sessionfarm.directJdbcUrl=" + store.directJdbcUrl(),
                "sessionfarm.username=" + login.username(),
                "sessionfarm.password=" + login.password(),
                "sessionfarm.tls.username=" + logins[1].username(),
                "sessionfarm.tls.password=" + logins[1].password(),
                "sessionfarm.masterKeyFile=" + masterKeyFile(),
                "sessionfarm.self=http://127.0.0.1:" + port,
                "sessionfarm.handoffRoutes=",
                "sessionfarm.https.port=" + freePort(port + 1000),
                "sessionfarm.tls.certificate=" + tls.resolve("rsa.pem"),
                "sessionfarm.tls.key=" + tls.resolve("rsa.key"),
                "sessionfarm.tls.ticketKeyRotation=43200",
                metrics ? "sessionfarm.metrics.port=" + freePort(port + 1300) : "", ""), StandardOpenOption.APPEND);
        return new Node(name, base, port);
    }

    /**
     * The node's own logins, which may read and write rows and nothing else: one for its sessions
     * and tokens (group sessionfarm_node) and one for its TLS connector (group sessionfarm_tls),
     * which cannot read the sessions. The farm's login migrates the tables (once per farm),
     * applies sql/least-privilege.sql and makes the roles. Nodes then find the schema current and
     * never change it.
     *
     * @return the sessions login; the TLS login is written to the node's properties by the caller
     */
    private Login[] nodeLogins(String node) throws IOException {
        String role = "sessionfarm_" + node.replaceAll("[^A-Za-z0-9]", "_").toLowerCase(java.util.Locale.ROOT);
        masterKeyFile(); // made first, so that a new farm key is known below
        Login sessions = new Login(role, randomPassword());
        Login tls = new Login(role + "_tls", randomPassword());
        // Through the JAR's own Database class, so that ./farm needs nothing but the JAR besides.
        try (io.sessionfarm.store.Database admin = io.sessionfarm.store.Database.open(store.jdbcUrl(),
                store.directJdbcUrl(), store.username(), store.password(), !migrated, 4, 10_000, "farm-admin");
                java.sql.Connection connection = admin.dataSource().getConnection();
                java.sql.Statement st = connection.createStatement()) {
            migrated = true;
            if (newMasterKey) {
                // A new farm key cannot open what an earlier farm on this database stored: start afresh.
                st.execute("DELETE FROM sessionfarm_key; DELETE FROM sessionfarm_token; DELETE FROM sessionfarm_session;"
                        + " DELETE FROM sessionfarm_tls_session");
                newMasterKey = false;
            }
            st.execute(Files.readString(layout.sql().resolve("least-privilege.sql")));
            for (Login login : new Login[] {sessions, tls}) {
                st.execute("DO $$ BEGIN CREATE ROLE " + login.username() + " LOGIN; EXCEPTION WHEN duplicate_object"
                        + " THEN NULL; END $$");
                st.execute("ALTER ROLE " + login.username() + " LOGIN PASSWORD '" + login.password() + "'");
                st.execute("GRANT " + (login == tls ? "sessionfarm_tls" : "sessionfarm_node") + " TO " + login.username());
            }
        } catch (java.sql.SQLException e) {
            throw new IOException("cannot prepare the database logins of node " + node + ": " + e.getMessage(), e);
        }
        return new Login[] {sessions, tls};
    }

    private static String randomPassword() {
        byte[] secret = new byte[12];
        new java.security.SecureRandom().nextBytes(secret);
        return java.util.HexFormat.of().formatHex(secret);
    }

    private boolean migrated;
    private boolean newMasterKey;

    /** Puts another build's plugin JAR in a node's {@code lib/} in place of this build's (benchmarks). */
    public void useJar(Node node, Path jar) throws IOException {
        try (Stream<Path> libs = Files.list(node.base().resolve("lib"))) {
            for (Path lib : libs.filter(l -> l.getFileName().toString().startsWith("sessionfarm")).toList()) {
                Files.delete(lib);
            }
        }
        Files.copy(jar, node.base().resolve("lib").resolve(jar.getFileName()));
    }

    /** Sets a property of a node that has not started yet (a later line wins). */
    public void setProperty(Node node, String name, String value) throws IOException {
        Files.writeString(node.base().resolve("conf/catalina.properties"), name + "=" + value + "\n",
                StandardOpenOption.APPEND);
    }

    /** Gives the node's Engine {@code <Engine jvmRoute="route">}: its session ids end in {@code .route}. */
    public void setJvmRoute(Node node, String route) throws IOException {
        Path serverXml = node.base().resolve("conf/server.xml");
        String engine = "<Engine name=\"Catalina\" defaultHost=\"localhost\"";
        String xml = Files.readString(serverXml);
        if (!xml.contains(engine + ">")) {
            throw new IllegalStateException("no " + engine + "> in " + serverXml);
        }
        Files.writeString(serverXml, xml.replace(engine + ">", engine + " jvmRoute=\"" + route + "\">"));
    }

    /** Tells every node of {@code nodes} where all of them are: the sample's dashboard and shop page list them. */
    public void introduce(List<Node> nodes) throws IOException {
        String all = String.join(",", nodes.stream().map(n -> n.name() + "=http://127.0.0.1:" + n.port()).toList());
        for (Node node : nodes) {
            setProperty(node, "sessionfarm.farm.nodes", all);
        }
    }

    /** Routes {@code prefix} to {@code target}, on every given node: the token valve hands sessions over. */
    public void route(List<Node> nodes, String prefix, Node target) throws IOException {
        for (Node node : nodes) {
            setProperty(node, "sessionfarm.handoffRoutes", prefix + "=http://127.0.0.1:" + target.port());
        }
    }

    /** The farm's master key, one for all its nodes, made on first use: 32 random bytes, base64. */
    public Path masterKeyFile() throws IOException {
        Path file = layout.farmDir().resolve("master.key");
        if (!Files.exists(file)) {
            byte[] key = new byte[32];
            new java.security.SecureRandom().nextBytes(key);
            Files.createDirectories(layout.farmDir());
            Files.writeString(file, java.util.Base64.getEncoder().encodeToString(key) + "\n");
            newMasterKey = true;
            try {
                Files.setPosixFilePermissions(file, java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
            } catch (UnsupportedOperationException e) {
                // not a POSIX file system
            }
        }
        return file;
    }

    /**
     * The farm's TLS certificates, made on first use with the openssl command: self-signed, for
     * localhost and its subdomains, one RSA-2048 (rsa.pem, rsa.key) and one EC P-256 (ec.pem, ec.key).
     */
    public Path tlsMaterial() throws IOException {
        Path dir = layout.farmDir().resolve("tls");
        Files.createDirectories(dir);
        for (String kind : List.of("rsa", "ec")) {
            if (Files.exists(dir.resolve(kind + ".pem"))) {
                continue;
            }
            List<String> command = new ArrayList<>(List.of("openssl", "req", "-x509", "-nodes", "-days", "365",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,DNS:*.localhost,IP:127.0.0.1",
                    "-keyout", dir.resolve(kind + ".key").toString(), "-out", dir.resolve(kind + ".pem").toString()));
            command.addAll(kind.equals("rsa") ? List.of("-newkey", "rsa:2048")
                    : List.of("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"));
            try {
                Process openssl = new ProcessBuilder(command).redirectErrorStream(true).start();
                String output = new String(openssl.getInputStream().readAllBytes());
                if (openssl.waitFor() != 0) {
                    throw new IOException("openssl could not make the farm's certificate: " + output);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException(e);
            }
        }
        return dir;
    }

    /** The node as an earlier run left it, if there is one. */
    public Optional<Node> existing(String name) {
        Path base = layout.farmDir().resolve(name);
        try {
            for (String line : Files.readAllLines(base.resolve("conf/catalina.properties"))) {
                if (line.startsWith("sessionfarm.http.port=")) {
                    return Optional.of(new Node(name, base, Integer.parseInt(line.substring(line.indexOf('=') + 1).trim())));
                }
            }
        } catch (IOException | NumberFormatException e) {
            // no such node
        }
        return Optional.empty();
    }

    public List<Node> existingNodes() throws IOException {
        List<Node> nodes = new ArrayList<>();
        if (Files.isDirectory(layout.farmDir())) {
            try (Stream<Path> dirs = Files.list(layout.farmDir())) {
                for (Path dir : dirs.sorted().toList()) {
                    existing(dir.getFileName().toString()).ifPresent(nodes::add);
                }
            }
        }
        return nodes;
    }

    /** The nodes' JVM: as set by {@link #withNodeJava}, else sessionfarm.nodeJavaHome (a Tomcat 10.1 cell runs Java 17), else this JVM's. */
    Path nodeJavaHome() {
        if (nodeJava != null) {
            return nodeJava;
        }
        String property = System.getProperty("sessionfarm.nodeJavaHome", "");
        return Path.of(property.isBlank() || property.startsWith("${") ? System.getProperty("java.home") : property);
    }

    /** The nodes' Java feature release, from the JDK's release file. */
    int nodeJavaFeature() throws IOException {
        Path release = nodeJavaHome().resolve("release");
        if (!Files.exists(release)) {
            return Runtime.version().feature();
        }
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("JAVA_VERSION=\"(\\d+)").matcher(Files.readString(release));
        return m.find() ? Integer.parseInt(m.group(1)) : Runtime.version().feature();
    }

    /** Starts the node's Tomcat in the background; its output goes to logs/console.log. */
    public Process start(Node node) throws IOException {
        return start(node, Map.of());
    }

    /** Starts the node's Tomcat with more environment variables (e.g. libfaketime's). */
    public Process start(Node node, Map<String, String> environment) throws IOException {
        Path javaHome = nodeJavaHome();
        ProcessBuilder builder = new ProcessBuilder(layout.tomcatHome().resolve("bin/catalina.sh").toString(), "run")
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(node.log().toFile()));
        builder.environment().put("CATALINA_HOME", layout.tomcatHome().toString());
        builder.environment().put("CATALINA_BASE", node.base().toString());
        builder.environment().put("JAVA_HOME", javaHome.toString());
        builder.environment().remove("JRE_HOME");
        String options = "-Xms128m -Xmx512m --enable-native-access=ALL-UNNAMED";
        if (node.metricsPort() > 0) {
            options += " -javaagent:" + layout.metricsAgent() + "=127.0.0.1:" + node.metricsPort() + ":"
                    + layout.conf().resolve("prometheus/jmx-exporter.yaml");
        }
        builder.environment().put("CATALINA_OPTS", options);
        builder.environment().putAll(environment);
        Process process = builder.start(); // catalina.sh execs java: this pid is Tomcat's
        Files.writeString(node.pidFile(), Long.toString(process.pid()));
        return process;
    }

    /** Waits until the node answers HTTP; fails with the tail of its log if it dies or times out. */
    public void awaitUp(Node node, Duration timeout) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            if (isUp(node)) {
                return;
            }
            if (node.process().isEmpty()) {
                throw new IllegalStateException(node.name() + " exited during start; its log ends:\n" + tail(node, 40));
            }
            Thread.sleep(200);
        }
        throw new IllegalStateException(node.name() + " did not answer within " + timeout + "; its log ends:\n" + tail(node, 40));
    }

    /**
     * Whether the node reaches its store and owes it nothing: until then, after an outage, it
     * serves its local copies (degraded mode), which a client moving between nodes cannot rely on.
     */
    public boolean isBackOnStore(Node node) {
        try {
            Client.Reply stats = new Client().get(node, "/api/stats");
            return stats.status() == 200 && !stats.body().contains("\"storeAvailable\":false")
                    && stats.intField("owedCheckpoints") == 0;
        } catch (IOException | RuntimeException | AssertionError e) { // down, or not answering stats yet
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    public boolean isUp(Node node) {
        try {
            HttpResponse<String> response = PROBE.send(HttpRequest.newBuilder(node.url("/api/ping"))
                    .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString());
            return response.statusCode() == 200;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /** A clean stop (SIGTERM: Tomcat runs its shutdown hook), forced after the timeout. */
    public void stop(Node node, Duration timeout) throws InterruptedException {
        Optional<ProcessHandle> process = node.process();
        if (process.isEmpty()) {
            return;
        }
        process.get().destroy();
        try {
            process.get().onExit().get(timeout.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            kill(node);
        }
    }

    /** kill -9: the node dies with whatever it had not written. */
    public void kill(Node node) throws InterruptedException {
        Optional<ProcessHandle> process = node.process();
        if (process.isPresent()) {
            process.get().destroyForcibly();
            try {
                process.get().onExit().get(30, java.util.concurrent.TimeUnit.SECONDS);
            } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
                throw new IllegalStateException(node.name() + " survived kill -9", e);
            }
        }
    }

    public static String tail(Node node, int lines) {
        try {
            List<String> all = Files.readAllLines(node.log());
            return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
        } catch (IOException e) {
            return "(no log: " + e.getMessage() + ")";
        }
    }

    /** A free loopback port, preferring {@code preferred}. */
    public static int freePort(int preferred) throws IOException {
        if (preferred > 0) {
            try (ServerSocket socket = new ServerSocket()) {
                socket.bind(new InetSocketAddress("127.0.0.1", preferred));
                return preferred;
            } catch (IOException taken) {
                // fall through to any free port
            }
        }
        try (ServerSocket socket = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort();
        }
    }

    /** Copies the sample webapp and compiles its few classes (src/) into WEB-INF/classes. */
    /** Deploys the sample webapp once more on a node that has not started, at context path /{@code name}. */
    public void deployWebapp(Node node, String name) throws IOException {
        deployWebapp(node.base().resolve("webapps").resolve(name));
    }

    /** Copies the files and directories under {@code from} that {@code keep} accepts to the same places under {@code to}. */
    static void copyTree(Path from, Path to, java.util.function.Predicate<Path> keep) throws IOException {
        try (Stream<Path> paths = Files.walk(from)) {
            for (Path path : paths.filter(keep).toList()) {
                Path target = to.resolve(from.relativize(path).toString());
                if (Files.isDirectory(path)) {
                    Files.createDirectories(target);
                } else {
                    Files.copy(path, target, StandardCopyOption.REPLACE_EXISTING);
                }
            }
        }
    }

    private void deployWebapp(Path root) throws IOException {
        Path sources = layout.webapp().resolve("src");
        copyTree(layout.webapp(), root, p -> !p.startsWith(sources));
        // For Java 17, the oldest JVM a node may run (the Tomcat 10.1 cell's).
        List<String> args = new ArrayList<>(List.of("--release", "17", "-d", root.resolve("WEB-INF/classes").toString(),
                "-cp", layout.tomcatHome().resolve("lib/servlet-api.jar").toString(), "-proc:none"));
        try (Stream<Path> javaFiles = Files.walk(sources)) {
            javaFiles.filter(p -> p.toString().endsWith(".java")).forEach(p -> args.add(p.toString()));
        }
        javax.tools.JavaCompiler javac = javax.tools.ToolProvider.getSystemJavaCompiler();
        if (javac == null || javac.run(null, null, null, args.toArray(String[]::new)) != 0) {
            throw new IllegalStateException("could not compile the sample webapp's classes (is this a JDK?)");
        }
    }

    static void deleteTree(Path dir) throws IOException {
        if (Files.exists(dir)) {
            try (Stream<Path> paths = Files.walk(dir)) {
                for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
                    Files.delete(path);
                }
            }
        }
    }

    // ---- ./farm ---------------------------------------------------------------------------------

    static final String USAGE = "usage: ./farm up [--nodes N] [--tomcat 10.1|11] | status | down"
            + " | stop NODE | kill NODE | start NODE";

    /** {@code ./farm} (see {@link #USAGE}): run from the checkout's root after a build. */
    public static void main(String[] args) throws Exception {
        Path root = Path.of("").toAbsolutePath();
        int tomcat = List.of(args).indexOf("--tomcat");
        if (tomcat > 0 && (tomcat + 1 == args.length || args[tomcat + 1].startsWith("-"))) {
            System.err.println(USAGE);
            System.exit(2);
        }
        Farm farm = new Farm(Layout.of(root, root.resolve("target/farm"), tomcat > 0 ? args[tomcat + 1] : null), new Store(
                env("SESSIONFARM_JDBC_URL", "jdbc:postgresql://127.0.0.1:5432/test"),
                env("SESSIONFARM_DB_USER", "postgres"), env("SESSIONFARM_DB_PASSWORD", "")));
        System.exit((Files.isRegularFile(farm.layout().metricsAgent()) ? farm.withMetrics() : farm).command(args));
    }

    /** One {@code ./farm} command (see {@link #USAGE}) on this farm; returns its exit status. */
    int command(String... args) throws Exception {
        String command = args.length == 0 ? "status" : args[0];
        if (List.of("stop", "kill", "start").contains(command)) {
            return one(command, args.length == 2 ? args[1] : null);
        }
        int nodes = 3;
        if (args.length % 2 == 0 && args.length > 0) {
            command = "usage";
        }
        for (int i = 1; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--nodes" -> nodes = Integer.parseInt(args[i + 1]);
                case "--tomcat" -> { } // the layout's
                default -> command = "usage";
            }
        }
        switch (command) {
            case "up" -> {
                return up(nodes);
            }
            case "status" -> status().forEach(System.out::println);
            case "down" -> down();
            default -> {
                System.err.println(USAGE);
                return 2;
            }
        }
        return 0;
    }

    /**
     * Stops (SIGTERM: the node writes what it owes), kills ({@code kill -9}: it dies with whatever
     * it had not written) or starts one node of the farm, so that a failover can be tried without
     * looking up a process id.
     */
    private int one(String command, String name) throws Exception {
        List<Node> nodes = existingNodes();
        Optional<Node> found = nodes.stream().filter(n -> n.name().equals(name)).findFirst();
        if (found.isEmpty()) {
            System.err.println(name == null ? USAGE : nodes.isEmpty() ? "no farm: ./farm up starts one"
                    : "no node " + name + " in this farm; its nodes: "
                            + String.join(", ", nodes.stream().map(Node::name).toList()));
            return 2;
        }
        Node node = found.get();
        switch (command) {
            case "stop" -> {
                stop(node, Duration.ofSeconds(30));
                System.out.println(name + " stopped. ./farm start " + name + " brings it back.");
            }
            case "kill" -> {
                kill(node);
                System.out.println(name + " killed (kill -9). Its users continue on the other nodes;"
                        + " ./farm start " + name + " brings it back.");
            }
            default -> {
                if (node.process().isPresent()) {
                    System.out.println(name + " is already running: " + node.url("/"));
                    return 0;
                }
                // On the Tomcat it was made with (./farm up --tomcat 10.1), not the newest one here.
                Farm made = onTomcat(Path.of(node.property("sessionfarm.tomcat.home", layout.tomcatHome().toString())));
                made.start(node);
                try {
                    awaitUp(node, Duration.ofSeconds(90));
                } catch (IllegalStateException e) {
                    System.err.println(e.getMessage());
                    return 1;
                }
                System.out.println(name + " is up: " + node.url("/"));
            }
        }
        return 0;
    }

    private int up(int count) throws Exception {
        if (count < 1 || count > 9) {
            throw new IllegalArgumentException("--nodes takes 1 to 9");
        }
        down();
        List<Node> nodes = new ArrayList<>();
        for (int i = 1; i <= count; i++) {
            nodes.add(create("node" + i, freePort(8080 + i)));
        }
        Node reports = nodes.get(nodes.size() - 1);
        if (count > 1) {
            route(nodes, "/api/report", reports);
        }
        introduce(nodes);
        for (Node node : nodes) {
            System.out.println("starting " + node.name() + " on port " + node.port() + " ...");
            start(node);
        }
        for (Node node : nodes) {
            try {
                awaitUp(node, Duration.ofSeconds(90));
            } catch (IllegalStateException e) {
                System.err.println(e.getMessage());
                System.err.println("Is PostgreSQL reachable at " + store.jdbcUrl()
                        + "? Set SESSIONFARM_JDBC_URL, SESSIONFARM_DB_USER and SESSIONFARM_DB_PASSWORD to use another.");
                down();
                return 1;
            }
            System.out.println(node.name() + " is up: " + node.url("/")
                    + (node.metricsPort() > 0 ? "  metrics (Prometheus): " + node.metricsUrl() : ""));
        }
        if (nodeJavaFeature() < 22) {
            System.out.println("No HTTPS: the nodes run Java " + nodeJavaFeature()
                    + ", and sessionfarm's TLS connector needs Java 22 or newer.");
        } else {
            httpsFront(nodes);
        }
        System.out.println("The farm's dashboard, on any node: " + nodes.get(0).url("/farm.html"));
        System.out.println("Open any node's URL, fill a cart, then use another node: the cart follows."
                + (count > 1 ? " /api/report lives on " + reports.name() + " only: other nodes hand the session over." : "")
                + " /api/whoami shows the TLS protocol and whether the connection resumed."
                + " ./farm status shows the nodes, ./farm kill node1 kills one (./farm start node1 brings it back),"
                + " ./farm down stops them.");
        return 0;
    }

    /** Each node's HTTPS port, and HAProxy round-robin over them when it is installed. */
    private void httpsFront(List<Node> nodes) throws IOException, InterruptedException {
        for (Node node : nodes) {
            System.out.println(node.name() + " HTTPS (sessionfarm's TLS connector): https://127.0.0.1:" + node.httpsPort() + "/");
        }
        if (Balancer.installed()) {
            int port = freePort(8443);
            Balancer.tcpRoundRobin(nodes, port, layout.farmDir(), true);
            System.out.println("HTTPS front, HAProxy round-robin (TCP) over every node: https://127.0.0.1:" + port
                    + "/  (try: openssl s_client -connect 127.0.0.1:" + port + " -tls1_2 -reconnect)");
        } else {
            System.out.println("No HTTPS front: HAProxy is not installed (sudo apt-get install haproxy, then ./farm up"
                    + " again); each node's HTTPS port above still works.");
        }
    }

    /** ./farm status: a line a node, with its URLs and whether it is up, starting or down. */
    List<String> status() throws IOException {
        List<Node> nodes = existingNodes();
        if (nodes.isEmpty()) {
            return List.of("no farm: ./farm up starts one");
        }
        List<String> lines = new ArrayList<>();
        for (Node node : nodes) {
            String state = isUp(node) ? "up" : node.process().isPresent() ? "starting (running, not answering yet)"
                    : "down (./farm start " + node.name() + ")";
            lines.add(node.name() + "  " + node.url("/") + "  https://127.0.0.1:" + node.httpsPort() + "/  " + state);
        }
        return lines;
    }

    private void down() throws Exception {
        Path haproxyPid = layout.farmDir().resolve("haproxy.pid");
        if (Files.exists(haproxyPid)) {
            for (String pid : Files.readAllLines(haproxyPid)) {
                if (!pid.isBlank()) {
                    ProcessHandle.of(Long.parseLong(pid.trim())).ifPresent(ProcessHandle::destroy);
                }
            }
            Files.delete(haproxyPid);
        }
        for (Node node : existingNodes()) {
            if (node.process().isPresent()) {
                System.out.println("stopping " + node.name() + " ...");
                stop(node, Duration.ofSeconds(30));
            }
        }
    }

    private static String env(String name, String dflt) {
        String value = System.getenv(name);
        return value == null || value.isEmpty() ? dflt : value;
    }
}
