package io.sessionfarm.config;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Reading the string attributes Tomcat's digester gave a component (the Manager, the TLS
 * connector), with one wording for every error: the attribute, its value and what is allowed.
 */
public final class Attributes {

    private Attributes() {
    }

    /**
     * A setter's value, stored as given: null (from code, such as an unset property of an
     * application that installs a component in code) leaves the attribute unset.
     */
    public static void set(Map<String, String> raw, String name, String value) {
        if (value == null) {
            raw.remove(name);
        } else {
            raw.put(name, value);
        }
    }

    /**
     * The attributes a component was given and has no setter for, as Tomcat's digester reports
     * them through {@code setProperty}. Such an attribute is almost always a typo: the component
     * refuses to start, naming them all, instead of ignoring them.
     */
    public static final class Unknown {
        private final Set<String> names = new LinkedHashSet<>();

        /** For {@code setProperty}: remembers the name and tells the digester it was taken. */
        public synchronized boolean add(String name) {
            names.add(name);
            return true;
        }

        /** The unknown names given, in order; empty if none. */
        public synchronized List<String> names() {
            return new ArrayList<>(names);
        }
    }

    /**
     * The integer {@code raw} gives {@code name}, or {@code dflt}. It must lie in [min, max]; if
     * {@code allowed} ends with "0 for off", 0 is allowed too.
     */
    public static int integer(Map<String, String> raw, String name, int dflt, int min, int max, String allowed) {
        String value = raw.get(name);
        if (value == null) {
            return dflt;
        }
        try {
            int n = Integer.parseInt(value.trim());
            if (n == 0 && allowed.endsWith("0 for off") || n >= min && n <= max) {
                return n;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw invalid(name, value, allowed);
    }

    public static boolean bool(Map<String, String> raw, String name, boolean dflt) {
        String value = raw.get(name);
        if (value == null) {
            return dflt;
        }
        return switch (value.trim().toLowerCase(Locale.ROOT)) {
            case "true" -> true;
            case "false" -> false;
            default -> throw invalid(name, value, "true or false");
        };
    }

    public static IllegalArgumentException invalid(String name, String value, String allowed) {
        return new IllegalArgumentException("attribute [" + name + "] has value [" + value + "]: expected " + allowed);
    }

    /** A JDBC URL fit for a log line: any password in it is masked. */
    public static String maskUrl(String url) {
        return url.replaceAll("(?i)(password=)[^&;]*", "$1<masked>").replaceAll("//[^/@]*:[^/@]*@", "//<masked>@");
    }
}
