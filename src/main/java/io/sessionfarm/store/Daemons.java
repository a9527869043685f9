package io.sessionfarm.store;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The threads of the plugin's background work (the Manager's poller, the token valve's and the TLS
 * connector's maintenance, TLS cache lookups and writes), which all talk to the store.
 */
public final class Daemons {

    /** How long a stopping component lets its running tasks finish (a checkpoint, a batch of writes). */
    public static final long STOP_WAIT_MILLIS = 10_000;

    private Daemons() {
    }

    /**
     * Daemon threads named {@code name-1}, {@code name-2}… Their context class loader is the
     * plugin's, never a webapp's: a thread must never pin a stopped webapp in memory.
     */
    public static ThreadFactory named(String name) {
        AtomicInteger count = new AtomicInteger();
        String prefix = name.replaceAll("[^A-Za-z0-9.-]+", "-") + "-";
        return task -> {
            Thread thread = new Thread(task, prefix + count.incrementAndGet());
            thread.setDaemon(true);
            thread.setContextClassLoader(Daemons.class.getClassLoader());
            return thread;
        };
    }

    /** Stops taking tasks, lets running ones finish for up to {@link #STOP_WAIT_MILLIS}, then interrupts them. */
    public static void stop(ExecutorService executor) {
        if (executor == null) {
            return;
        }
        executor.shutdown();
        try {
            if (!executor.awaitTermination(STOP_WAIT_MILLIS, TimeUnit.MILLISECONDS)) {
                executor.shutdownNow();
            }
        } catch (InterruptedException e) {
            executor.shutdownNow();
            Thread.currentThread().interrupt();
        }
    }
}
