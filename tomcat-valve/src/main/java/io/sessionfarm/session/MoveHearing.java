package io.sessionfarm.session;

import org.apache.juli.logging.Log;

import io.sessionfarm.store.SessionMoves;

/** What a sticky node's move listener tells the operator. */
final class MoveHearing implements SessionMoves.Hearing {

    private final Log log;
    private final String app;
    private volatile boolean lostOnce;

    MoveHearing(Log log, String app) {
        this.log = log;
        this.app = app;
    }

    @Override
    public void listening() {
        if (lostOnce) {
            log.info(FarmManager.messages.getString("farmManager.movesHeardAgain", app));
        }
    }

    @Override
    public void lost(String error) {
        lostOnce = true;
        log.warn(FarmManager.messages.getString("farmManager.movesNotHeard", app, error));
    }

    @Override
    public void unsupported(String connectionClass) {
        log.warn(FarmManager.messages.getString("farmManager.movesUnsupported", app, connectionClass));
    }
}
