package io.sessionfarm.store;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * What PostgreSQL's planner makes of a statement: whether every scan of a session table is an
 * index scan whose conditions fix one session id. A statement that passes can be routed to one
 * shard when the tables are distributed by session id (docs/scale.md).
 */
public final class QueryPlans {

    /** Any kind of scan (forward or backward, of a table or an index) of a sessionfarm table or index. */
    private static final Pattern SCAN_OF_A_SESSION_TABLE = Pattern.compile("Scan( Backward)?( using \\S+)? on sessionfarm_");
    /** {@code (id = $2)}, {@code (session_id = s.id)}: an equality on the session id column, not {@code = ANY (...)}. */
    private static final Pattern ON_ONE_SESSION_ID = Pattern.compile("\\((session_)?id = (?!ANY)");

    private QueryPlans() {
    }

    /**
     * The scans of session tables in the generic plan of {@code sql} (JDBC {@code ?} parameters)
     * that do not fix one session id, in their index condition or their filter; empty if there
     * are none. Sequential scans are switched off, so the planner takes any index that can serve,
     * and a statement that no index serves is reported too.
     */
    public static List<String> scansNotByOneSession(Connection con, String sql) throws SQLException {
        int parameters = 0;
        StringBuilder numbered = new StringBuilder();
        for (char c : sql.toCharArray()) {
            if (c == '?') {
                numbered.append('$').append(++parameters);
            } else {
                numbered.append(c);
            }
        }
        List<String> plan = new ArrayList<>();
        try (Statement st = con.createStatement()) {
            st.execute("SET plan_cache_mode = force_generic_plan");
            st.execute("SET enable_seqscan = off");
            st.execute("DEALLOCATE ALL");
            st.execute("PREPARE hot AS " + numbered);
            String nulls = String.join(", ", java.util.Collections.nCopies(parameters, "NULL"));
            try (ResultSet rs = st.executeQuery("EXPLAIN EXECUTE hot" + (parameters == 0 ? "" : "(" + nulls + ")"))) {
                while (rs.next()) {
                    plan.add(rs.getString(1));
                }
            } finally {
                st.execute("DEALLOCATE hot");
            }
        }
        List<String> bad = new ArrayList<>();
        for (int i = 0; i < plan.size(); i++) {
            String line = plan.get(i);
            if (!SCAN_OF_A_SESSION_TABLE.matcher(line).find() || line.contains("Bitmap Heap Scan")) {
                continue; // a bitmap heap scan's condition is on its bitmap index scan, below it
            }
            String conditions = conditions(plan, i);
            if (line.contains("Seq Scan") || !ON_ONE_SESSION_ID.matcher(conditions).find()) {
                bad.add(line.strip() + " [" + conditions + "]");
            }
        }
        return bad;
    }

    /** The Index Cond and Filter lines of the plan node at {@code node}. */
    private static String conditions(List<String> plan, int node) {
        List<String> found = new ArrayList<>();
        for (int i = node + 1; i < plan.size() && !plan.get(i).contains("->"); i++) {
            String line = plan.get(i).strip();
            if (line.startsWith("Index Cond:") || line.startsWith("Filter:")) {
                found.add(line);
            }
        }
        return String.join(" ", found);
    }
}
