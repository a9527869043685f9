package io.sessionfarm.tls;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Arrays;
import java.util.Set;
import java.util.TreeSet;
import java.util.logging.Logger;

import javax.management.MBeanAttributeInfo;
import javax.management.MBeanServer;
import javax.management.MBeanServerFactory;
import javax.management.ObjectName;

import org.junit.jupiter.api.Test;

import io.sessionfarm.keys.MasterKey;
import io.sessionfarm.store.StoreGate;

/** The counters a connector shows over JMX, under the names the documentation and the sample farm read. */
class FarmTlsStatsTest {

    @Test
    void everyDocumentedAttributeIsThereAndANodeOutsideTheRingSaysSo() throws Exception {
        TlsKeySource keys = new TlsKeySource(MasterKey.of(new byte[32]), 60_000);
        StoreGate gate = new StoreGate(Logger.getLogger(FarmTlsStatsTest.class.getName()), error -> error, "back");
        LocalTier local = new LocalTier(10);
        FarmTlsStats stats = new FarmTlsStats(keys, gate, local);
        MBeanServer server = MBeanServerFactory.newMBeanServer();
        ObjectName name = new ObjectName("io.sessionfarm:type=FarmTls,connector=" + ObjectName.quote("https-farm-nio-test"));
        server.registerMBean(stats, name);

        Set<String> attributes = new TreeSet<>();
        Arrays.stream(server.getMBeanInfo(name).getAttributes()).map(MBeanAttributeInfo::getName).forEach(attributes::add);
        assertEquals(new TreeSet<>(Set.of("FullHandshakes", "ResumedByTicket", "ResumedByCache", "TicketsIssued",
                "TicketsWithUnknownKey", "CacheLocalHits", "CacheStoreHits", "CacheMisses", "CacheErrors",
                "CacheUnreadable", "SessionsStored", "SessionWritesDropped", "SessionWritesLate", "LocalCacheEntries",
                "StoreLookupMillisAverage", "StoreAvailable", "TicketKeyAgeSeconds", "TicketKeys",
                "TicketKeyRotations")), attributes);

        stats.fullHandshake();
        stats.storeLookup(3_000_000);
        stats.storeLookup(1_000_000);
        local.put(new byte[] {1}, new byte[] {2}, Long.MAX_VALUE);
        assertEquals(1L, server.getAttribute(name, "FullHandshakes"));
        assertEquals(2.0, server.getAttribute(name, "StoreLookupMillisAverage"));
        assertEquals(1, server.getAttribute(name, "LocalCacheEntries"));
        assertEquals(false, server.getAttribute(name, "StoreAvailable"), "not joined to the farm's ring yet");
        assertEquals(-1L, server.getAttribute(name, "TicketKeyAgeSeconds"));
        assertEquals(1, server.getAttribute(name, "TicketKeys"), "a key of this node's own");
    }
}
