package io.sessionfarm.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

class LibraryLoggingTest {

    private final List<LogRecord> records = new ArrayList<>();

    private Logger capture(String name) {
        Logger logger = Logger.getLogger(name);
        logger.setLevel(Level.ALL);
        logger.addHandler(new Handler() {
            @Override public void publish(LogRecord record) { records.add(record); }
            @Override public void flush() { }
            @Override public void close() { }
        });
        return logger;
    }

    @Test
    void thePoolLogsUnderSessionfarmsNameAndItsRoutineLinesAreFine() {
        Logger pool = capture(LibraryLogging.POOL);
        LoggerFactory.getLogger("com.zaxxer.hikari.HikariDataSource").info("{} - Starting...", "HikariPool-1");
        LoggerFactory.getLogger("com.zaxxer.hikari.pool.HikariPool").warn("Connection is not available");
        assertEquals(2, records.size(), "both reached " + pool.getName());
        assertEquals(Level.FINE, records.get(0).getLevel());
        assertEquals("HikariPool-1 - Starting...", records.get(0).getMessage());
        assertEquals("io.sessionfarm.store", records.get(0).getSourceClassName());
        assertEquals("pool", records.get(0).getSourceMethodName());
        assertEquals(Level.WARNING, records.get(1).getLevel());
    }

    @Test
    void aSchemaChangeIsInfoAndAValidationIsNot() {
        capture(LibraryLogging.MIGRATIONS);
        org.slf4j.Logger flyway = LoggerFactory.getLogger("org.flywaydb.core.internal.command.DbMigrate");
        flyway.info("Successfully validated 5 migrations (execution time 00:00.012s)");
        flyway.info("Migrating schema \"public\" to version \"1 - sessions\"");
        flyway.error("Migration failed", new IllegalStateException("boom"));
        assertEquals(List.of(Level.FINE, Level.INFO, Level.SEVERE), records.stream().map(LogRecord::getLevel).toList());
        assertTrue(records.get(2).getThrown() instanceof IllegalStateException);
    }
}
