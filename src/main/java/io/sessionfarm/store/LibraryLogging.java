package io.sessionfarm.store;

import java.util.Locale;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.logging.Level;
import java.util.logging.Logger;

import org.slf4j.ILoggerFactory;
import org.slf4j.IMarkerFactory;
import org.slf4j.Marker;
import org.slf4j.helpers.BasicMarkerFactory;
import org.slf4j.helpers.LegacyAbstractLogger;
import org.slf4j.helpers.MessageFormatter;
import org.slf4j.helpers.NOPMDCAdapter;
import org.slf4j.spi.MDCAdapter;
import org.slf4j.spi.SLF4JServiceProvider;

/**
 * Where the libraries inside the drop-in JAR log (HikariCP and Flyway speak SLF4J): to
 * java.util.logging, which Tomcat's JULI writes, under sessionfarm's own names —
 * {@code io.sessionfarm.store.pool} and {@code io.sessionfarm.store.migrations} — instead of
 * their relocated class names. Their routine INFO lines ("Starting...", "Successfully validated
 * 5 migrations") are FINE: an operator sees a schema change, a warning or an error, not a start.
 */
public final class LibraryLogging implements SLF4JServiceProvider {

    static final String POOL = "io.sessionfarm.store.pool";
    static final String MIGRATIONS = "io.sessionfarm.store.migrations";
    static final String LIBRARIES = "io.sessionfarm.store.libraries";

    private final ConcurrentMap<String, org.slf4j.Logger> loggers = new ConcurrentHashMap<>();
    private final ILoggerFactory factory = name -> loggers.computeIfAbsent(name, LibraryLogger::new);
    private final IMarkerFactory markers = new BasicMarkerFactory();
    private final MDCAdapter mdc = new NOPMDCAdapter();

    @Override
    public ILoggerFactory getLoggerFactory() {
        return factory;
    }

    @Override
    public IMarkerFactory getMarkerFactory() {
        return markers;
    }

    @Override
    public MDCAdapter getMDCAdapter() {
        return mdc;
    }

    @Override
    public String getRequestedApiVersion() {
        return "2.0.99";
    }

    @Override
    public void initialize() {
    }

    /** The sessionfarm logger a library's logger writes to. */
    static String target(String libraryLogger) {
        String name = libraryLogger.toLowerCase(Locale.ROOT);
        if (name.contains("hikari")) {
            return POOL;
        }
        if (name.contains("flyway")) {
            return MIGRATIONS;
        }
        return LIBRARIES;
    }

    /** A library's INFO line that an operator wants to see: the schema changed. */
    static boolean schemaChange(String message) {
        return message.startsWith("Migrating schema") || message.startsWith("Successfully applied")
                || message.startsWith("Creating schema");
    }

    private static final class LibraryLogger extends LegacyAbstractLogger {
        private static final long serialVersionUID = 1L;
        private final transient Logger target;

        LibraryLogger(String name) {
            this.name = name;
            this.target = Logger.getLogger(target(name));
        }

        @Override public boolean isTraceEnabled() { return target.isLoggable(Level.FINEST); }
        @Override public boolean isDebugEnabled() { return target.isLoggable(Level.FINER); }
        @Override public boolean isInfoEnabled() { return target.isLoggable(Level.INFO) || target.isLoggable(Level.FINE); }
        @Override public boolean isWarnEnabled() { return target.isLoggable(Level.WARNING); }
        @Override public boolean isErrorEnabled() { return target.isLoggable(Level.SEVERE); }

        @Override
        protected String getFullyQualifiedCallerName() {
            return null;
        }

        @Override
        protected void handleNormalizedLoggingCall(org.slf4j.event.Level level, Marker marker, String pattern,
                Object[] arguments, Throwable thrown) {
            String message = MessageFormatter.basicArrayFormat(pattern, arguments);
            Level julLevel = switch (level) {
                case ERROR -> Level.SEVERE;
                case WARN -> Level.WARNING;
                case INFO -> schemaChange(message) ? Level.INFO : Level.FINE;
                case DEBUG -> Level.FINER;
                case TRACE -> Level.FINEST;
            };
            if (target.isLoggable(julLevel)) {
                // The source shown in catalina.out is sessionfarm's logger name, not the bridge's method.
                String logger = target.getName();
                int dot = logger.lastIndexOf('.');
                target.logp(julLevel, logger.substring(0, dot), logger.substring(dot + 1), message, thrown);
            }
        }
    }
}
