package io.sessionfarm.sample;

import java.io.Serial;
import java.io.Serializable;

import jakarta.servlet.http.HttpSessionBindingEvent;
import jakarta.servlet.http.HttpSessionBindingListener;

/** A session attribute that says when it leaves its session: once, on one node, whichever expires it. */
public class Tracked implements HttpSessionBindingListener, Serializable {

    @Serial
    private static final long serialVersionUID = 1L;

    private final String label;

    public Tracked(String label) {
        this.label = label;
    }

    @Override
    public void valueUnbound(HttpSessionBindingEvent event) {
        System.out.println("sample: unbound label=" + label + " on " + System.getProperty("sessionfarm.node"));
    }

    @Override
    public String toString() {
        return label;
    }
}
