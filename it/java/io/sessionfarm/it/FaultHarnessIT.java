package io.sessionfarm.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.time.Duration;

import org.junit.jupiter.api.Test;

import io.sessionfarm.it.harness.FaultHarness;

/**
 * The short run of the fault harness: three and a half minutes, every kind of fault at least once;
 * in the Tomcat 11 cell, and in the PgBouncer cell through PgBouncer. Its users keep one growing
 * cart each (the workload of every earlier run); the shop workload, with checkouts and logouts,
 * is the long run's ({@code it/run-harness 30}), whose results are in docs/reliability.md.
 */
class FaultHarnessIT {

    @Test
    void underEveryFaultNoAcknowledgedWriteIsLostAndNobodySeesAnotherUsersData() throws Exception {
        FaultHarness.Report report = FaultHarness.run(FarmTestBase.ROOT,
                "short" + System.getProperty("sessionfarm.farmSuffix", ""), Duration.ofSeconds(210),
                Duration.ofSeconds(15), 8, FaultHarness.Workload.GROWING_CART);
        System.out.println(report.markdown());
        // In the PgBouncer cell PgBouncer points at one server, so the primary cannot fail over there.
        int kinds = FaultHarness.Fault.values().length - (Boolean.getBoolean("sessionfarm.pgbouncer") ? 1 : 0);
        assertEquals(kinds, report.faults().size(), "every kind of fault was injected: " + report.faults()
                + " " + report.notInjected());
        assertEquals(0, report.lostWrites(), report.markdown());
        assertEquals(0, report.foreignData(), report.markdown());
        assertEquals(0L, report.outcomes().get(io.sessionfarm.it.harness.ScriptedUser.Outcome.SERVER_ERROR),
                "no HTTP 5xx: " + report.markdown());
        assertTrue(report.requests() > 1000, report.markdown());
        assertTrue(Files.size(report.directory().resolve("plot.png")) > 0);
    }
}
