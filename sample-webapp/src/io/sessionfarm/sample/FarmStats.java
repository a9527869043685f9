package io.sessionfarm.sample;

import java.lang.management.ManagementFactory;
import java.util.LinkedHashMap;
import java.util.Map;

import javax.management.MBeanServer;
import javax.management.ObjectName;

/** Reads this node's session Manager MBean (Tomcat's naming: type=Manager,host=...,context=...). */
public final class FarmStats {

    private static final String[] ATTRIBUTES = {"activeSessions", "storeAvailable", "owedCheckpoints", "conflicts",
        "checkpointsOnCreate", "checkpointsByRequests", "checkpointsByInterval", "checkpointsByUpdates",
        "checkpointsRetried", "checkpointsSkippedUnchanged", "loadsFromStore", "refreshesFromStore",
        "droppedStaleCopies", "expiredBySweep", "expiryExtensions", "storeFailures", "storeLatencyMillis"};

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
        } catch (Exception e) {
            stats.put("error", e.getClass().getSimpleName()); // not a sessionfarm Manager
        }
        return stats;
    }
}
