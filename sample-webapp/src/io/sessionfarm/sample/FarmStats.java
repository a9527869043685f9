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

    private static final String[] ATTRIBUTES = {"activeSessions", "storeAvailable", "owedCheckpoints", "conflicts",
        "checkpointsOnCreate", "checkpointsByRequests", "checkpointsByInterval", "checkpointsByUpdates",
        "checkpointsRetried", "checkpointsSkippedUnchanged", "loadsFromStore", "refreshesFromStore",
        "droppedStaleCopies", "expiredBySweep", "expiryExtensions", "storeFailures", "storeLatencyMillis"};
    private static final String[] TOKEN_ATTRIBUTES = {"storeAvailable", "owedFamilies", "tokensIssued", "tokensVerified",
        "tokensRotated", "acceptedInGrace", "acceptedWhileStoreDown", "rejectedMalformed", "rejectedUnknownKey",
        "rejectedTampered", "rejectedUnknownFamily", "closedByIdleTimeout", "closedByAbsoluteTimeout", "replaysRevoked",
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
                stats.put(attribute, server.getAttribute(name, attribute));
            }
            for (ObjectName valve : server.queryNames(new ObjectName("Catalina:type=Valve,host=" + host + ",context="
                    + (contextPath.isEmpty() ? "/" : contextPath) + ",name=TokenValve,*"), null)) {
                Map<String, Object> tokens = new LinkedHashMap<>();
                for (String attribute : TOKEN_ATTRIBUTES) {
                    tokens.put(attribute, server.getAttribute(valve, attribute));
                }
                stats.put("tokens", tokens);
            }
        } catch (Exception e) {
            stats.put("error", e.getClass().getSimpleName()); // not a sessionfarm Manager
        }
        return stats;
    }
}
