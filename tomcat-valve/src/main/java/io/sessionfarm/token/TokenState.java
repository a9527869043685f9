package io.sessionfarm.token;

import java.util.Locale;

/** What the request's token was, as the request attribute {@link TokenValve#STATE_ATTRIBUTE} tells the application. */
enum TokenState {
    /** The family's current token (or its successor, if it was rotated on this request). */
    CURRENT,
    /** The immediate predecessor, inside the grace period: the response carries the current token. */
    PREDECESSOR,
    /** A new session's first token. */
    ISSUED,
    /** A new family, made by redeeming a hand-off code. */
    HANDOFF,
    /** Authentic, accepted while the store was unreachable and nothing could be checked. */
    UNVERIFIED;

    /** The request attribute's value. */
    String attributeValue() {
        return name().toLowerCase(Locale.ROOT);
    }
}
