package io.sessionfarm.session;

/**
 * When a session's changes are written to the store: at creation, and when any enabled trigger
 * fires — time since the last write, attribute updates, or requests served — whichever comes first.
 *
 * @param intervalMillis 0 for off
 * @param afterUpdates 0 for off
 * @param afterRequests 0 for off
 */
record CheckpointPolicy(boolean onCreate, long intervalMillis, int afterUpdates, int afterRequests) {

    /** How often the Manager's poller looks for sessions whose interval has run out. */
    static final int POLL_SECONDS = 1;

    /** Why a checkpoint was written; each has its own counter. */
    enum Trigger { CREATE, INTERVAL, UPDATES, REQUESTS, RETRY, STOP }

    /** What the policy reads of a session: what happened to it since its last checkpoint. */
    interface Progress {
        boolean isStored();

        long checkpointedAt();

        int updatesSinceCheckpoint();

        int requestsSinceCheckpoint();

        /** Whether it was used or changed since its last checkpoint. */
        boolean mayHaveChanged();
    }

    boolean hasTrigger() {
        return intervalMillis > 0 || afterUpdates > 0 || afterRequests > 0;
    }

    /** Checked at the end of each request: the write ends the first request after a deadline. */
    Trigger dueAfterRequest(Progress session, long now) {
        if (!session.isStored()) {
            return onCreate ? Trigger.CREATE : dueByCount(session, now);
        }
        return dueByCount(session, now);
    }

    private Trigger dueByCount(Progress session, long now) {
        if (afterRequests > 0 && session.requestsSinceCheckpoint() >= afterRequests) {
            return Trigger.REQUESTS;
        }
        if (afterUpdates > 0 && session.updatesSinceCheckpoint() >= afterUpdates) {
            return Trigger.UPDATES;
        }
        return dueByTime(session, now);
    }

    /**
     * Checked by the poller for sessions between requests: only the interval applies, and only to
     * sessions used or changed since their last checkpoint.
     */
    Trigger dueByTime(Progress session, long now) {
        if (intervalMillis > 0 && session.mayHaveChanged() && now - session.checkpointedAt() >= intervalMillis) {
            return Trigger.INTERVAL;
        }
        return null;
    }

    /** What a node crash can lose under this policy, for the log and JMX. */
    String lossBound() {
        java.util.List<String> bounds = new java.util.ArrayList<>();
        if (afterRequests == 1) {
            return "nothing acknowledged: every request's changes are written before its response is sent";
        }
        if (afterRequests > 1) {
            bounds.add("the changes of its last " + (afterRequests - 1) + " requests");
        }
        if (afterUpdates > 0) {
            bounds.add("its last " + (afterUpdates - 1) + " attribute updates");
        }
        if (intervalMillis > 0) {
            bounds.add("the changes of its last " + (intervalMillis / 1000 + POLL_SECONDS) + " s");
        }
        return "per session, at most " + String.join(" or ", bounds) + ", whichever is less";
    }

    @Override
    public String toString() {
        return "checkpointOnCreate=" + onCreate + ", checkpointInterval=" + intervalMillis / 1000
                + "s, checkpointAfterUpdates=" + afterUpdates + ", checkpointAfterRequests=" + afterRequests;
    }
}
