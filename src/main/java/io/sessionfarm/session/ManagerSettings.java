package io.sessionfarm.session;

import static io.sessionfarm.config.Attributes.bool;
import static io.sessionfarm.config.Attributes.integer;

import java.io.ObjectInputFilter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import io.sessionfarm.store.StoreSettings;

/**
 * The Manager's configuration, parsed once at start from the strings {@code context.xml} gave the
 * setters. Any bad value throws {@link IllegalArgumentException} naming the attribute, the value
 * and what is allowed, so that a typo stops the context instead of being ignored.
 */
record ManagerSettings(
        StoreSettings store,
        CheckpointPolicy policy,
        Mode mode,
        ConflictPolicy conflictPolicy,
        ObjectInputFilter deserializationFilter,
        String allowedClasses,
        int expirySweepSeconds) {

    /** Attributes this Manager adds to those of Tomcat's {@code ManagerBase}. */
    static final Set<String> ATTRIBUTES = Stream.concat(StoreSettings.ATTRIBUTES.stream(), Stream.of("dataSourceName",
            "checkpointOnCreate", "checkpointInterval", "checkpointAfterUpdates", "checkpointAfterRequests", "mode",
            "conflictPolicy", "allowedClasses", "expirySweepInterval", "masterKeyFile")).collect(Collectors.toUnmodifiableSet());

    /** The node's pool by default; the JNDI DataSource of the context instead, if named. */
    static final StoreSettings.Defaults STORE_DEFAULTS = new StoreSettings.Defaults(10, 500,
            "a pool size from 4 to 500", 5000, true);

    /** Value types that are always safe to read back; the webapp adds its own through {@code allowedClasses}. */
    static final String BUILT_IN_ALLOWED_CLASSES =
            "java.lang.*;java.util.*;java.util.concurrent.*;java.util.concurrent.atomic.*;java.time.*;java.math.*;java.net.URI";

    /** Limits on one attribute's stream, whatever its classes. */
    static final String STREAM_LIMITS = "maxdepth=64;maxrefs=1000000;maxbytes=16777216;maxarray=16777216";

    /** How far a node trusts its local copy of a session. */
    enum Mode {
        /** Any node may serve any request: one indexed read per request checks the local copy is current. */
        SHARED,
        /** The balancer pins each session to a node: the local copy is trusted; the store is for takeover. */
        STICKY
    }

    /** What happens when two nodes changed the same attribute of one session concurrently. */
    enum ConflictPolicy {
        /** The later checkpoint's value is kept; the conflict is logged and counted. */
        LAST_WRITER_WINS,
        /** The value already stored is kept and the later change is dropped; logged and counted. */
        KEEP_STORED
    }

    static ManagerSettings parse(Map<String, String> raw) {
        StoreSettings store = StoreSettings.parse(raw, STORE_DEFAULTS);
        // With no trigger named at all, every request's changes are written: the default loses nothing.
        boolean noneNamed = !raw.containsKey("checkpointInterval") && !raw.containsKey("checkpointAfterUpdates")
                && !raw.containsKey("checkpointAfterRequests");
        CheckpointPolicy policy = new CheckpointPolicy(
                bool(raw, "checkpointOnCreate", true),
                integer(raw, "checkpointInterval", 0, 1, 300, "whole seconds from 1 to 300 (10 to 300 recommended), or 0 for off") * 1000L,
                integer(raw, "checkpointAfterUpdates", 0, 1, 1_000_000, "a count from 1 to 1000000, or 0 for off"),
                integer(raw, "checkpointAfterRequests", noneNamed ? 1 : 0, 1, 1_000_000, "a count from 1 to 1000000, or 0 for off"));
        if (!policy.hasTrigger()) {
            throw new IllegalArgumentException("no checkpoint policy is on: set at least one of [checkpointInterval],"
                    + " [checkpointAfterUpdates] or [checkpointAfterRequests] above 0");
        }
        Mode mode = choice(raw, "mode", Mode.SHARED, Mode.class);
        if (mode == Mode.SHARED && policy.afterRequests() != 1) {
            throw new IllegalArgumentException("mode=\"shared\" (" + (raw.containsKey("mode") ? "set" : "the default")
                    + ") lets any node serve any request, so every request's changes must be stored before its response;"
                    + " " + deferring(raw) + " defers them, and another node would serve an older copy. Use"
                    + " checkpointAfterRequests=\"1\" (the default when no checkpoint attribute is set), or mode=\"sticky\""
                    + " behind a balancer that keeps each session on one node");
        }
        String allowedClasses = raw.getOrDefault("allowedClasses", "").trim();
        return new ManagerSettings(
                store,
                policy,
                mode,
                choice(raw, "conflictPolicy", ConflictPolicy.LAST_WRITER_WINS, ConflictPolicy.class),
                filter(allowedClasses),
                allowedClasses,
                integer(raw, "expirySweepInterval", 60, 1, 3600, "whole seconds from 1 to 3600"));
    }

    /** The checkpoint attributes as set, e.g. {@code checkpointInterval="10"}. */
    private static String deferring(Map<String, String> raw) {
        List<String> set = new ArrayList<>();
        for (String name : List.of("checkpointInterval", "checkpointAfterUpdates", "checkpointAfterRequests")) {
            if (raw.containsKey(name)) {
                set.add(name + "=\"" + raw.get(name).trim() + "\"");
            }
        }
        return String.join(" with ", set);
    }

    /** The settings as a log line: the password and any password in the URL are masked. */
    @Override
    public String toString() {
        return store + ", " + policy + ", mode=" + mode + ", conflictPolicy=" + conflictPolicy
                + ", allowedClasses=" + allowedClasses + ", expirySweepInterval=" + expirySweepSeconds + "s";
    }

    private static ObjectInputFilter filter(String allowedClasses) {
        String pattern = STREAM_LIMITS + ";" + BUILT_IN_ALLOWED_CLASSES
                + (allowedClasses.isEmpty() ? "" : ";" + allowedClasses) + ";!*";
        try {
            return ObjectInputFilter.Config.createFilter(pattern);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("attribute [allowedClasses] has value [" + allowedClasses
                    + "]: expected ';'-separated class patterns such as com.example.Cart;com.example.model.*;org.acme.** ("
                    + e.getMessage() + ")");
        }
    }

    /** Accepts the documented camelCase spelling (e.g. lastWriterWins) or the constant name. */
    private static <E extends Enum<E>> E choice(Map<String, String> raw, String name, E dflt, Class<E> type) {
        String value = raw.get(name);
        if (value == null) {
            return dflt;
        }
        String wanted = value.trim().replace("_", "").toLowerCase(Locale.ROOT);
        StringBuilder allowed = new StringBuilder();
        for (E constant : type.getEnumConstants()) {
            if (constant.name().replace("_", "").toLowerCase(Locale.ROOT).equals(wanted)) {
                return constant;
            }
            allowed.append(allowed.isEmpty() ? "" : " or ").append(camel(constant));
        }
        throw new IllegalArgumentException("attribute [" + name + "] has value [" + value + "]: expected " + allowed);
    }

    static String camel(Enum<?> constant) {
        StringBuilder out = new StringBuilder();
        for (String part : constant.name().toLowerCase(Locale.ROOT).split("_")) {
            out.append(out.isEmpty() ? part : Character.toUpperCase(part.charAt(0)) + part.substring(1));
        }
        return out.toString();
    }
}
