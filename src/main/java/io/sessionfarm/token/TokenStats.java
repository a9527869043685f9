package io.sessionfarm.token;

import java.util.concurrent.atomic.LongAdder;

/**
 * The token valve's counters. Each is named after the JMX attribute the valve shows it as; the
 * valve's getters read them, since Tomcat registers the valve's MBean from the valve's own getters.
 */
final class TokenStats {

    final LongAdder tokensIssued = new LongAdder();
    final LongAdder tokensVerified = new LongAdder();
    final LongAdder tokensRotated = new LongAdder();
    /** Predecessors that passed inside the grace period. */
    final LongAdder acceptedInGrace = new LongAdder();
    /** Authentic tokens that passed unchecked while the store was unreachable. */
    final LongAdder acceptedWhileStoreDown = new LongAdder();

    final LongAdder rejectedMalformed = new LongAdder();
    final LongAdder rejectedUnknownKey = new LongAdder();
    final LongAdder rejectedTampered = new LongAdder();
    /** Including a token from before a login, and a family row pointed at another session. */
    final LongAdder rejectedUnknownFamily = new LongAdder();
    final LongAdder rejectedLatePredecessor = new LongAdder();

    final LongAdder closedByIdleTimeout = new LongAdder();
    final LongAdder closedByAbsoluteTimeout = new LongAdder();
    final LongAdder replaysRevoked = new LongAdder();

    final LongAdder handoffsIssued = new LongAdder();
    final LongAdder handoffsRedeemed = new LongAdder();
    final LongAdder handoffsRefused = new LongAdder();

    /** The counter of a cookie value that did not open. */
    LongAdder rejected(TokenCodec.Rejection reason) {
        return switch (reason) {
            case MALFORMED -> rejectedMalformed;
            case UNKNOWN_KEY -> rejectedUnknownKey;
            case TAMPERED -> rejectedTampered;
        };
    }
}
