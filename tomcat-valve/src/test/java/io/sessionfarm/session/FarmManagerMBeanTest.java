package io.sessionfarm.session;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Set;
import java.util.stream.Collectors;

import org.apache.tomcat.util.modeler.AttributeInfo;
import org.apache.tomcat.util.modeler.ManagedBean;
import org.apache.tomcat.util.modeler.Registry;
import org.junit.jupiter.api.Test;

/** The Manager's MBean, as Tomcat's modeler registers it under type=Manager. */
class FarmManagerMBeanTest {

    @Test
    void exposesTheFarmMetricsAndNeverThePassword() throws Exception {
        ManagedBean bean = Registry.getRegistry(null).findManagedBean(new FarmManager(), FarmManager.class, null);
        Set<String> readable = Arrays.stream(bean.getAttributes()).filter(AttributeInfo::isReadable)
                .map(AttributeInfo::getName).collect(Collectors.toSet());
        for (String name : Set.of("activeSessions", "checkpointsOnCreate", "checkpointsByInterval",
                "checkpointsByUpdates", "checkpointsByRequests", "checkpointsSkippedUnchanged", "loadsFromStore",
                "storeLatencyMillis", "storeFailures", "conflicts", "storeRollbacks", "owedCheckpoints", "storeAvailable", "lossBound",
                "expiredBySweep", "clockSkewMillis")) {
            assertTrue(readable.contains(name), name + " missing from " + readable);
        }
        assertFalse(readable.contains("password"), "the password must not be readable over JMX");
    }
}
