package io.sessionfarm.it;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A loopback TCP proxy in front of PostgreSQL that a test can break: {@link #refuse()} closes
 * every connection and refuses new ones (a database that is down); {@link #pause()} keeps
 * connections open but forwards nothing (a hung database).
 */
public final class FaultyProxy implements AutoCloseable {

    private final String targetHost;
    private final int targetPort;
    private final int port;
    private final Set<Socket> sockets = ConcurrentHashMap.newKeySet();
    private final ExecutorService threads = Executors.newCachedThreadPool(task -> {
        Thread thread = new Thread(task, "faulty-proxy");
        thread.setDaemon(true);
        return thread;
    });
    private volatile ServerSocket server;
    private volatile boolean paused;

    /** A proxy for the server of {@code jdbcUrl}; {@link #url()} is the same URL through the proxy. */
    private final String jdbcUrl;

    public FaultyProxy(String jdbcUrl) throws IOException {
        Matcher m = Pattern.compile("//([^/:]+)(?::(\\d+))?/").matcher(jdbcUrl);
        if (!m.find()) {
            throw new IllegalArgumentException("not a jdbc:postgresql://host:port/ URL: " + jdbcUrl);
        }
        this.targetHost = m.group(1);
        this.targetPort = m.group(2) == null ? 5432 : Integer.parseInt(m.group(2));
        this.port = Farm.freePort(0);
        this.jdbcUrl = jdbcUrl.substring(0, m.start()) + "//127.0.0.1:" + port + "/" + jdbcUrl.substring(m.end());
        listen();
    }

    public String url() {
        return jdbcUrl;
    }

    /** The database is down: open connections drop, new ones are refused. */
    public synchronized void refuse() throws IOException {
        server.close();
        for (Socket socket : sockets) {
            closeQuietly(socket);
        }
        sockets.clear();
    }

    /** The database hangs: connections stay open and bytes stop moving. */
    public void pause() {
        paused = true;
    }

    /** The database is back. */
    public synchronized void restore() throws IOException {
        paused = false;
        if (server.isClosed()) {
            listen();
        }
    }

    private void listen() throws IOException {
        ServerSocket socket = new ServerSocket();
        socket.setReuseAddress(true);
        socket.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
        server = socket;
        threads.execute(() -> accept(socket));
    }

    private void accept(ServerSocket socket) {
        while (!socket.isClosed()) {
            try {
                Socket client = socket.accept();
                Socket upstream = new Socket(targetHost, targetPort);
                sockets.add(client);
                sockets.add(upstream);
                threads.execute(() -> pump(client, upstream));
                threads.execute(() -> pump(upstream, client));
            } catch (IOException e) {
                // closed by refuse(), or the target refused: the client sees a dropped connection
            }
        }
    }

    private void pump(Socket from, Socket to) {
        byte[] buffer = new byte[16384];
        try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
            int n;
            while ((n = in.read(buffer)) > 0) {
                while (paused && !from.isClosed()) {
                    Thread.sleep(20);
                }
                out.write(buffer, 0, n);
                out.flush();
            }
        } catch (IOException | InterruptedException e) {
            // connection ended
        } finally {
            closeQuietly(from);
            closeQuietly(to);
            sockets.remove(from);
            sockets.remove(to);
        }
    }

    private static void closeQuietly(Socket socket) {
        try {
            socket.close();
        } catch (IOException ignored) {
            // already closed
        }
    }

    @Override
    public void close() throws IOException {
        refuse();
        threads.shutdownNow();
    }
}
