package io.sessionfarm.session;

/**
 * When a session's changes are written to the store (seed 003): at creation, and when any enabled
 * trigger fires — time since the last write, attribute updates, or requests served — whichever
 * comes first.
 *
 * @param intervalMillis 0 for off
 * @param afterUpdates 0 for off
 * @param afterRequests 0 for off
 */
record CheckpointPolicy(boolean onCreate, long intervalMillis, int afterUpdates, int afterRequests) {

    /** Why a checkpoint was written; each has its own counter. */
    enum Trigger { CREATE, INTERVAL, UPDATES, REQUESTS, RETRY, STOP }

    boolean hasTrigger() {
        return intervalMillis > 0 || afterUpdates > 0 || afterRequests > 0;
    }

    /** Checked at the end of each request (seed claim 24: the write ends the first request after the deadline). */
    Trigger dueAfterRequest(FarmSession session, long now) {
        if (!session.isStored()) {
            return onCreate ? Trigger.CREATE : dueByCount(session, now);
        }
        return dueByCount(session, now);
    }

    private Trigger dueByCount(FarmSession session, long now) {
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
    Trigger dueByTime(FarmSession session, long now) {
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
            bounds.add("the changes of its last " + (intervalMillis / 1000 + FarmManager.POLL_SECONDS) + " s");
        }
        return "per session, at most " + String.join(" or ", bounds) + ", whichever is less";
    }

    @Override
    public String toString() {
        return "checkpointOnCreate=" + onCreate + ", checkpointInterval=" + intervalMillis / 1000
                + "s, checkpointAfterUpdates=" + afterUpdates + ", checkpointAfterRequests=" + afterRequests;
    }
}
