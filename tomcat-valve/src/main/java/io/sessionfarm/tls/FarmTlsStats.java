package io.sessionfarm.tls;

import java.util.concurrent.atomic.LongAdder;

import io.sessionfarm.store.StoreGate;

/**
 * One connector's farm TLS counters, counted by the callbacks and the cache, and read over JMX as
 * {@code io.sessionfarm:type=FarmTls,connector="…"}. The gauges read the keys, the store gate and
 * the local tier as they are now.
 */
public final class FarmTlsStats implements FarmTlsMXBean {

    private final TlsKeySource keys;
    private final StoreGate gate;
    private final LocalTier local;

    private final LongAdder fullHandshakes = new LongAdder();
    private final LongAdder resumedByTicket = new LongAdder();
    private final LongAdder resumedByCache = new LongAdder();
    private final LongAdder ticketsIssued = new LongAdder();
    private final LongAdder unknownTicketKeys = new LongAdder();
    private final LongAdder localHits = new LongAdder();
    private final LongAdder storeHits = new LongAdder();
    private final LongAdder misses = new LongAdder();
    private final LongAdder errors = new LongAdder();
    private final LongAdder unreadable = new LongAdder();
    private final LongAdder sessionsStored = new LongAdder();
    private final LongAdder writesDropped = new LongAdder();
    private final LongAdder writesLate = new LongAdder();
    private final LongAdder lookupNanos = new LongAdder();
    private final LongAdder storeLookups = new LongAdder();

    FarmTlsStats(TlsKeySource keys, StoreGate gate, LocalTier local) {
        this.keys = keys;
        this.gate = gate;
        this.local = local;
    }

    void fullHandshake() { fullHandshakes.increment(); }
    void resumedByTicket() { resumedByTicket.increment(); }
    void resumedByCache() { resumedByCache.increment(); }
    void ticketIssued() { ticketsIssued.increment(); }
    void unknownTicketKey() { unknownTicketKeys.increment(); }
    void localHit() { localHits.increment(); }
    void storeHit() { storeHits.increment(); }
    void miss() { misses.increment(); }
    void error() { errors.increment(); }
    void sessionsStored(int n) { sessionsStored.add(n); }
    void writesDropped(int n) { writesDropped.add(n); }
    void writeLate() { writesLate.increment(); }

    /** Counts one unreadable stored session; returns how many so far. */
    long unreadable() {
        unreadable.increment();
        return unreadable.sum();
    }

    void storeLookup(long nanos) {
        lookupNanos.add(nanos);
        storeLookups.increment();
    }

    @Override public long getFullHandshakes() { return fullHandshakes.sum(); }
    @Override public long getResumedByTicket() { return resumedByTicket.sum(); }
    @Override public long getResumedByCache() { return resumedByCache.sum(); }
    @Override public long getTicketsIssued() { return ticketsIssued.sum(); }
    @Override public long getTicketsWithUnknownKey() { return unknownTicketKeys.sum(); }
    @Override public long getCacheLocalHits() { return localHits.sum(); }
    @Override public long getCacheStoreHits() { return storeHits.sum(); }
    @Override public long getCacheMisses() { return misses.sum(); }
    @Override public long getCacheErrors() { return errors.sum(); }
    @Override public long getCacheUnreadable() { return unreadable.sum(); }
    @Override public long getSessionsStored() { return sessionsStored.sum(); }
    @Override public long getSessionWritesDropped() { return writesDropped.sum(); }
    @Override public long getSessionWritesLate() { return writesLate.sum(); }
    @Override public int getLocalCacheEntries() { return local.size(); }
    @Override public boolean getStoreAvailable() { return keys.joined() && !gate.isDown(); }
    @Override public long getTicketKeyAgeSeconds() { return keys.ticketKeyAgeSeconds(); }
    @Override public int getTicketKeys() { return keys.ticketKeyCount(); }
    @Override public long getTicketKeyRotations() { return keys.rotations(); }

    @Override
    public double getStoreLookupMillisAverage() {
        long n = storeLookups.sum();
        return n == 0 ? 0 : lookupNanos.sum() / 1e6 / n;
    }
}
