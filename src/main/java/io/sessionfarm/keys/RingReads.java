package io.sessionfarm.keys;

import java.security.GeneralSecurityException;
import java.sql.SQLException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.IntFunction;

import javax.crypto.SecretKey;

/**
 * When a {@link KeyRing} is read from the database: one read at a time, and a lookup of an id this
 * node does not know waits for a read (at most {@value #READ_WAIT_MILLIS} ms), so that a key
 * another node promoted before this node read it is found by every request that brings it. One
 * read answers every request waiting by then. Unknown ids cost an attacker nothing to send, so
 * reads for them start at most once every {@value #READ_WAIT_MILLIS} ms (the periodic reads do not
 * count): a request that comes sooner waits, without holding anything, for the next; at most
 * {@value #MAX_WAITING_FOR_SLOT} requests wait so, and beyond them an unknown id is refused at once.
 */
final class RingReads {

    /** One read of the ring; false if it found nothing usable, and what the node had is kept. */
    @FunctionalInterface
    interface Read {
        boolean run() throws SQLException, GeneralSecurityException;
    }

    /**
     * How long a request waits for a read of the ring for a key this node does not know, and how
     * often at most such reads start: short, so that cookies with forged key ids cost little even
     * while the store hangs, and equal, so that a request always finds a read it may wait for.
     */
    static final long READ_WAIT_MILLIS = 500;
    /** How many requests may wait at once for the next read the rate allows (not for one under way). */
    static final int MAX_WAITING_FOR_SLOT = 16;
    private static final long READ_WAIT_NANOS = TimeUnit.MILLISECONDS.toNanos(READ_WAIT_MILLIS);

    /** The keys as the last good read left them; never asks the database. */
    private final IntFunction<SecretKey> known;
    /** Held while the ring is read: one read at a time, and requests wait for the one under way. */
    private final ReentrantLock reading = new ReentrantLock();
    /** When the last read that succeeded began ({@link System#nanoTime()}); guarded by reading. */
    private long lastGoodRead = System.nanoTime() - READ_WAIT_NANOS;
    /** When the last read for an unknown id began; guarded by reading. */
    private long lastReadForUnknownId = System.nanoTime() - READ_WAIT_NANOS;
    private final AtomicInteger waitingForSlot = new AtomicInteger();
    private final LongAdder reads = new LongAdder();

    RingReads(IntFunction<SecretKey> known) {
        this.known = known;
    }

    /** Runs {@code read}, after the read under way if there is one. */
    void read(Read read) throws SQLException, GeneralSecurityException {
        reading.lock();
        try {
            long started = System.nanoTime();
            reads.increment();
            if (read.run()) {
                lastGoodRead = started;
            }
        } finally {
            reading.unlock();
        }
    }

    /**
     * The key with this id; if this node does not know it, after a read by {@code read} (see the
     * class comment for when and how long).
     *
     * @return null if the key is not in the ring
     * @throws SQLException if the ring could not be read
     */
    SecretKey find(int id, Read read) throws SQLException {
        SecretKey key = known.apply(id);
        if (key != null) {
            return key;
        }
        long asked = System.nanoTime();
        long deadline = asked + READ_WAIT_NANOS;
        try {
            while (true) {
                long nextSlot;
                if (!reading.tryLock(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)) {
                    return null; // a read stalls: refused, as while the store is down
                }
                try {
                    key = known.apply(id);
                    if (key != null || lastGoodRead - asked > 0) {
                        return key; // answered by a read that began after this request asked
                    }
                    nextSlot = lastReadForUnknownId + READ_WAIT_NANOS;
                    if (System.nanoTime() - nextSlot >= 0) {
                        lastReadForUnknownId = System.nanoTime();
                        read(read);
                        return known.apply(id);
                    }
                } finally {
                    reading.unlock();
                }
                if (nextSlot - deadline > 0) {
                    return null;
                }
                if (waitingForSlot.incrementAndGet() > MAX_WAITING_FOR_SLOT) {
                    waitingForSlot.decrementAndGet();
                    return null;
                }
                try {
                    TimeUnit.NANOSECONDS.sleep(Math.max(0, nextSlot - System.nanoTime()));
                } finally {
                    waitingForSlot.decrementAndGet();
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        } catch (GeneralSecurityException e) {
            return null; // only thrown when strict
        }
    }

    /** How often the ring has been read. */
    long count() {
        return reads.sum();
    }
}
