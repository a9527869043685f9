package io.sessionfarm.session;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

import io.sessionfarm.keys.Sha256;

/**
 * Attributes that cannot travel: one clear warning and a counter, never a broken session. A value
 * that does not serialize stays in this node's memory only; a stored value that cannot be read
 * back is left in the store and the session is served without it.
 */
final class AttributeProblems {

    private final FarmManager manager;
    private final Set<String> warnedUnserializable = ConcurrentHashMap.newKeySet();
    final LongAdder notSerializable = new LongAdder();
    final LongAdder unreadable = new LongAdder();

    AttributeProblems(FarmManager manager) {
        this.manager = manager;
    }

    /** Warned once per attribute name and class: a webapp that stores one on every request would flood the log. */
    void notSerializable(String name, Object value, Exception e) {
        notSerializable.increment();
        if (warnedUnserializable.add(name + '\u0000' + value.getClass().getName())) {
            manager.log().warn(FarmManager.messages.getString("farmManager.notSerializable", manager.appName(), name,
                    value.getClass().getName(), e.getMessage()));
        }
    }

    void unreadable(FarmSession session, String name, Exception e) {
        unreadable.increment();
        manager.log().warn(FarmManager.messages.getString("farmManager.unreadable", manager.appName(), name,
                Sha256.forLog(session.getIdInternal()), e.getClass().getSimpleName() + ": " + e.getMessage()));
    }
}
