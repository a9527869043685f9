package io.sessionfarm.sample;

import jakarta.servlet.annotation.WebListener;
import jakarta.servlet.http.HttpSessionEvent;
import jakarta.servlet.http.HttpSessionListener;

/**
 * Prints one line per session created or destroyed, on the node where it happens. The tests count
 * these lines across the farm: each session must be created once and destroyed once.
 */
@WebListener
public class SessionEvents implements HttpSessionListener {

    @Override
    public void sessionCreated(HttpSessionEvent event) {
        System.out.println("sample: session created on " + System.getProperty("sessionfarm.node"));
    }

    @Override
    public void sessionDestroyed(HttpSessionEvent event) {
        // The attributes are still there while the listener runs.
        System.out.println("sample: session destroyed label=" + event.getSession().getAttribute("label")
                + " on " + System.getProperty("sessionfarm.node"));
    }
}
