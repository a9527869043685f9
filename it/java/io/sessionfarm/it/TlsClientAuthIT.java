package io.sessionfarm.it;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Client certificates and shared TLS sessions: two nodes of one farm share the ring and the
 * session cache; on one, host {@code _default_} asks for no client certificate, on the other it
 * requires one signed by the farm's test authority. A session made where none was asked for must
 * not resume where one is required, by ticket or by cache.
 */
@Tag("tls")
class TlsClientAuthIT extends FarmTestBase {

    private static Farm.Node open;
    private static Farm.Node strict;
    private static Path pki;

    @BeforeAll
    static void startFarm() throws Exception {
        Farm farm = farm(TlsClientAuthIT.class);
        pki = Files.createDirectories(ROOT.resolve("target/it-farms/TlsClientAuthIT/pki"));
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
                "-subj", "/CN=sessionfarm test clients");
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "client.key", "-out", "client.csr", "-subj", "/CN=client");
        openssl("x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", "client.pem", "-days", "2");
        open = farm.create("open", Farm.freePort(0));
        strict = farm.create("strict", Farm.freePort(0));
        Path serverXml = strict.base().resolve("conf/server.xml");
        String config = Files.readString(serverXml);
        String defaultHost = "<SSLHostConfig hostName=\"_default_\">";
        assertTrue(config.contains(defaultHost), "conf/server.xml has a _default_ host");
        Files.writeString(serverXml, config.replace(defaultHost, "<SSLHostConfig hostName=\"_default_\""
                + " certificateVerification=\"required\" caCertificateFile=\"" + pki.resolve("ca.pem") + "\">"));
        start(farm, List.of(open, strict));
    }

    private static void openssl(String... arguments) throws IOException, InterruptedException {
        List<String> command = new java.util.ArrayList<>(List.of("openssl"));
        command.addAll(List.of(arguments));
        Process process = new ProcessBuilder(command).directory(pki.toFile()).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes());
        assertTrue(process.waitFor(60, TimeUnit.SECONDS) && process.exitValue() == 0, output);
    }

    @ParameterizedTest
    @ValueSource(strings = {"tls1_2", "tls1_3"})
    void aSessionMadeWithoutAClientCertificateDoesNotResumeWhereOneIsRequired(String version) throws Exception {
        Path session = Files.createTempFile(ROOT.resolve("target"), "open-", ".pem");
        SClient.Result made = SClient.get(open.httpsPort(), "localhost", version, "/api/ping", null, session);
        assertTrue(made.reply().startsWith("HTTP/1.1 200"), made.output());
        assertTrue(SClient.get(open.httpsPort(), "localhost", version, "/api/ping", session, null).reused(),
                "the session resumes where it was made");

        SClient.Result offered = SClient.getLenient(strict.httpsPort(), "localhost", version, "/api/ping", session,
                List.of());
        assertFalse(offered.reused(), "resumed past the client certificate requirement:\n" + offered.output());
        assertFalse(offered.reply().startsWith("HTTP/1.1 200"), "served without a client certificate:\n"
                + offered.output());

        SClient.Result withCertificate = SClient.getLenient(strict.httpsPort(), "localhost", version, "/api/ping", null,
                List.of("-cert", pki.resolve("client.pem").toString(), "-key", pki.resolve("client.key").toString()));
        assertTrue(withCertificate.reply().startsWith("HTTP/1.1 200"), "a client with a certificate is served:\n"
                + withCertificate.output());
    }
}
