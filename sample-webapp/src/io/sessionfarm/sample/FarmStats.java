package io.sessionfarm.sample;

import java.lang.management.ManagementFactory;
import java.util.LinkedHashMap;
import java.util.Map;

import javax.management.MBeanServer;
import javax.management.ObjectName;

/**
 * Reads this node's session Manager MBean (Tomcat's naming: type=Manager,host=...,context=...)
 * and, if the context has one, its token valve's (type=Valve,...,name=TokenValve).
 */
public final class FarmStats {

    private static final String[] ATTRIBUTES = {"activeSessions", "storeAvailable", "owedCheckpoints", "conflicts", "storeRollbacks",
        "checkpointsOnCreate", "checkpointsByRequests", "checkpointsByInterval", "checkpointsByUpdates",
        "checkpointsRetried", "checkpointsSkippedUnchanged", "loadsFromStore", "refreshesFromStore",
        "droppedStaleCopies", "expiredBySweep", "expiryExtensions", "storeOperations", "storeFailures", "storeLatencyMillis",
        "clockSkewMillis", "hearingMoves", "movesCaught", "moveNoticesSent", "moveNoticesHeard", "sessionsRebound",
        "oldIdsFollowed"};
    private static final String[] TOKEN_ATTRIBUTES = {"storeAvailable", "owedFamilies", "tokensIssued", "tokensVerified",
        "tokensRotated", "acceptedInGrace", "acceptedWhileStoreDown", "rejectedMalformed", "rejectedUnknownKey",
        "rejectedTampered", "rejectedUnknownFamily", "rejectedLatePredecessor", "closedByIdleTimeout", "closedByAbsoluteTimeout", "replaysRevoked",
        "handoffsIssued", "handoffsRedeemed", "handoffsRefused", "keyRotations", "keysInRing", "primaryKeyAgeSeconds"};

    private FarmStats() {
    }

    public static Map<String, Object> of(String host, String contextPath) {
        Map<String, Object> stats = new LinkedHashMap<>();
        try {
            MBeanServer server = ManagementFactory.getPlatformMBeanServer();
            ObjectName name = new ObjectName("Catalina:type=Manager,host=" + host + ",context="
                    + (contextPath.isEmpty() ? "/" : contextPath));
            for (String attribute : ATTRIBUTES) {
                try {
                    stats.put(attribute, server.getAttribute(name, attribute));
                } catch (javax.management.AttributeNotFoundException olderVersion) {
                    // a Manager from before this counter: left out
                }
            }
            for (ObjectName valve : server.queryNames(new ObjectName("Catalina:type=Valve,host=" + host + ",context="
                    + (contextPath.isEmpty() ? "/" : contextPath) + ",name=TokenValve,*"), null)) {
                Map<String, Object> tokens = new LinkedHashMap<>();
                for (String attribute : TOKEN_ATTRIBUTES) {
                    tokens.put(attribute, server.getAttribute(valve, attribute));
                }
                stats.put("tokens", tokens);
            }
            for (ObjectName connector : server.queryNames(new ObjectName("io.sessionfarm:type=FarmTls,*"), null)) {
                Map<String, Object> tls = new LinkedHashMap<>();
                for (var attribute : server.getMBeanInfo(connector).getAttributes()) {
                    tls.put(attribute.getName(), server.getAttribute(connector, attribute.getName()));
                }
                stats.put("tls " + ObjectName.unquote(connector.getKeyProperty("connector")), tls);
            }
        } catch (Exception e) {
            stats.put("error", e.getClass().getSimpleName()); // not a sessionfarm Manager
        }
        return stats;
    }

    /**
     * Reloads the TLS configuration of this node's sessionfarm HTTPS connectors, as an operator
     * would through Tomcat's JMX operation: Tomcat makes new OpenSSL contexts; the farm's
     * ticket keys and session cache carry on. Returns how many connectors were reloaded.
     */
    public static int reloadTls() throws Exception {
        MBeanServer server = ManagementFactory.getPlatformMBeanServer();
        int reloaded = 0;
        for (ObjectName pool : server.queryNames(new ObjectName("Catalina:type=ThreadPool,*"), null)) {
            if (pool.getKeyProperty("name").contains("https-farm")) {
                server.invoke(pool, "reloadSslHostConfigs", null, null);
                reloaded++;
            }
        }
        return reloaded;
    }
}
