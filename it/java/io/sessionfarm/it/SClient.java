package io.sessionfarm.it;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * {@code openssl s_client}, the reference TLS client: one connection carrying one HTTP request,
 * optionally offering a saved session ({@code -sess_in}) and saving the one it ends with
 * ({@code -sess_out}, which holds the TLS 1.3 tickets that arrive after the handshake).
 */
public final class SClient {

    /** What a connection showed: whether its handshake resumed, the protocol, and the HTTP reply. */
    public record Result(boolean reused, String protocol, String reply, String output) {
    }

    private SClient() {
    }

    /**
     * @param host      the SNI name, which picks the connector's SSLHostConfig
     * @param version   "tls1_2" or "tls1_3"
     * @param sessionIn a session to offer, or null
     * @param sessionOut where to save the session, or null
     */
    public static Result get(int port, String host, String version, String path, Path sessionIn, Path sessionOut)
            throws IOException, InterruptedException {
        Result result = run(port, host, version, path, sessionIn, sessionOut, List.of());
        if (result.protocol() == null) {
            throw new IOException("no handshake in the output of openssl s_client:\n" + result.output());
        }
        return result;
    }

    /**
     * Like {@link #get}, with more {@code s_client} arguments (a client certificate, say), for a
     * handshake that may fail: then nothing was reused, the protocol is null and the reply empty.
     */
    public static Result getLenient(int port, String host, String version, String path, Path sessionIn,
            List<String> arguments) throws IOException, InterruptedException {
        return run(port, host, version, path, sessionIn, null, arguments);
    }

    private static Result run(int port, String host, String version, String path, Path sessionIn, Path sessionOut,
            List<String> arguments) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of("openssl", "s_client", "-connect", "127.0.0.1:" + port,
                "-servername", host, "-" + version, "-ign_eof"));
        if (sessionIn != null) {
            command.addAll(List.of("-sess_in", sessionIn.toString()));
        }
        if (sessionOut != null) {
            command.addAll(List.of("-sess_out", sessionOut.toString()));
        }
        command.addAll(arguments);
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        try (OutputStream in = process.getOutputStream()) {
            in.write(("GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
        } catch (IOException e) {
            // the server ended the connection before the request was written (a failed handshake)
        }
        // -ign_eof: read until the server closes, after its reply
        byte[] bytes = process.getInputStream().readAllBytes();
        if (!process.waitFor(20, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            throw new IOException("openssl s_client did not finish: " + command);
        }
        String output = new String(bytes, StandardCharsets.UTF_8);
        String summary = output.lines().filter(l -> l.startsWith("New, ") || l.startsWith("Reused, ")).findFirst()
                .orElse(null);
        int body = output.indexOf("\r\n\r\n");
        int status = body < 0 ? -1 : output.lastIndexOf("HTTP/1.1 ", body);
        String reply = status < 0 ? "" : output.substring(status);
        if (summary == null || summary.contains("(NONE)")) {
            return new Result(false, null, reply, output);
        }
        return new Result(summary.startsWith("Reused"), summary.split(", ")[1], reply, output);
    }

    /** {@code s_client -reconnect}: one full handshake, then five reconnections offering its session. Counts "Reused". */
    public static int reconnect(int port, String version) throws IOException, InterruptedException {
        Process process = new ProcessBuilder("openssl", "s_client", "-connect", "127.0.0.1:" + port, "-" + version,
                "-reconnect").redirectErrorStream(true).start();
        process.getOutputStream().close();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        process.waitFor(30, TimeUnit.SECONDS);
        return (int) output.lines().filter(l -> l.startsWith("Reused, ")).count();
    }
}
