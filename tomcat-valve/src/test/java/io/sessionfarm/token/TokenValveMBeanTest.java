package io.sessionfarm.token;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Set;
import java.util.stream.Collectors;

import org.apache.tomcat.util.modeler.AttributeInfo;
import org.apache.tomcat.util.modeler.ManagedBean;
import org.apache.tomcat.util.modeler.Registry;
import org.junit.jupiter.api.Test;

/** The valve's MBean, as Tomcat's modeler finds it by introspecting the valve's getters. */
class TokenValveMBeanTest {

    private static final Set<String> ATTRIBUTES = Set.of("tokensIssued", "tokensVerified", "tokensRotated",
            "acceptedInGrace", "acceptedWhileStoreDown", "rejectedMalformed", "rejectedUnknownKey", "rejectedTampered",
            "rejectedUnknownFamily", "rejectedLatePredecessor", "closedByIdleTimeout",
            "closedByAbsoluteTimeout", "replaysRevoked", "handoffsIssued", "handoffsRedeemed", "handoffsRefused",
            "keyRotations", "keysInRing", "primaryKeyAgeSeconds", "storeAvailable", "owedFamilies");

    @Test
    void exposesEveryCounterAndGauge() throws Exception {
        ManagedBean bean = Registry.getRegistry(null).findManagedBean(new TokenValve(), TokenValve.class, null);
        Set<String> readable = Arrays.stream(bean.getAttributes()).filter(AttributeInfo::isReadable)
                .map(AttributeInfo::getName).collect(Collectors.toSet());
        for (String name : ATTRIBUTES) {
            assertTrue(readable.contains(name), name + " missing from " + readable);
        }
    }

    @Test
    void readsZeroBeforeTheValveStarted() {
        TokenValve valve = new TokenValve();
        assertEquals(0, valve.getTokensVerified());
        assertEquals(0, valve.getOwedFamilies());
        assertEquals(0, valve.getKeysInRing());
        assertEquals(0, valve.getPrimaryKeyAgeSeconds());
        assertFalse(valve.getStoreAvailable());
    }
}
