package io.sessionfarm.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** kill -9 of the node that served a session: what the other node finds is what the policy promises. */
class NodeCrashIT extends FarmTestBase {

    /** Interval of the fixture (2 s) plus the poller's period (1 s): the documented loss bound. */
    private static final long INTERVAL_BOUND_MILLIS = 3_000;

    private static Farm farm;

    @BeforeAll
    static void newFarm() throws Exception {
        farm = farm(NodeCrashIT.class);
    }

    @Test
    void perRequestPolicyLosesNothingAcknowledged() throws Exception {
        List<Farm.Node> nodes = startNodes(farm, fixture("context-manager-only.xml"), "crash-a", "crash-b");
        Client user = new Client();
        int acknowledged = 0;
        for (int i = 0; i < 50; i++) {
            acknowledged = user.get(nodes.get(0), "/api/whoami").intField("counter");
        }
        farm.kill(nodes.get(0));
        assertEquals(acknowledged + 1, user.get(nodes.get(1), "/api/whoami").intField("counter"),
                "every acknowledged increment survives the crash");
    }

    @Test
    void intervalPolicyLosesNoMoreThanItsBound() throws Exception {
        List<Farm.Node> nodes = startNodes(farm, fixture("context-interval.xml"), "interval-a", "interval-b");
        Client user = new Client();
        record Ack(long at, int counter) {
        }
        List<Ack> acks = new ArrayList<>();
        long end = System.currentTimeMillis() + 7_000;
        while (System.currentTimeMillis() < end) {
            int counter = user.get(nodes.get(0), "/api/whoami").intField("counter");
            acks.add(new Ack(System.currentTimeMillis(), counter));
        }
        long killedAt = System.currentTimeMillis();
        farm.kill(nodes.get(0));
        int survived = user.get(nodes.get(1), "/api/whoami").intField("counter") - 1;

        int mustSurvive = acks.stream().filter(a -> a.at() <= killedAt - INTERVAL_BOUND_MILLIS)
                .mapToInt(Ack::counter).max().orElse(0);
        int last = acks.get(acks.size() - 1).counter();
        assertTrue(mustSurvive > 0, "the run was long enough to cross the bound");
        assertTrue(survived >= mustSurvive, "survived " + survived + " but " + mustSurvive
                + " were acknowledged more than " + INTERVAL_BOUND_MILLIS + " ms before the crash");
        assertTrue(survived <= last, "nothing invented");
        System.out.printf("interval policy: %d of %d acknowledged increments survived kill -9 (bound guaranteed %d)%n",
                survived, last, mustSurvive);
    }
}
