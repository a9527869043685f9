package io.sessionfarm.store;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.concurrent.atomic.LongAdder;

import javax.sql.DataSource;

/** The store's connections, each use counted and timed (connection checkout included) for JMX. */
final class TimedConnections {

    @FunctionalInterface
    interface Work<T> {
        T run(Connection connection) throws SQLException;
    }

    private final DataSource dataSource;
    private final LongAdder operations = new LongAdder();
    private final LongAdder failures = new LongAdder();
    private final LongAdder nanos = new LongAdder();

    TimedConnections(DataSource dataSource) {
        this.dataSource = dataSource;
    }

    <T> T timed(Work<T> work) throws SQLException {
        long start = System.nanoTime();
        try (Connection connection = dataSource.getConnection()) {
            return work.run(connection);
        } catch (SQLException | RuntimeException e) {
            failures.increment();
            throw e;
        } finally {
            operations.increment();
            nanos.add(System.nanoTime() - start);
        }
    }

    /** One transaction: committed if {@code work} returns, rolled back if it throws. */
    <T> T transaction(Work<T> work) throws SQLException {
        return timed(connection -> Database.inTransaction(connection, work::run));
    }

    long operations() {
        return operations.sum();
    }

    long failures() {
        return failures.sum();
    }

    double averageLatencyMillis() {
        long n = operations.sum();
        return n == 0 ? 0 : nanos.sum() / 1e6 / n;
    }
}
