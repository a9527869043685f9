-- sessionfarm: session tables are the highest-churn tables a farm has. Every request may update a
-- session row and an attribute row, and PostgreSQL keeps each old row version until a vacuum.
--
-- fillfactor leaves room in every page, so that an update which changes no indexed column is
-- written to the same page (a HOT update: no new index entries, and the old version is pruned
-- without a vacuum). Attribute updates (value, version) and a token's first use are such
-- updates; a session row's are not (expires_at is in the expiry index).
--
-- The default autovacuum waits until 20% of a table is dead: on a small table rewritten many
-- times a second that is soon a table many times its live size, and its TOAST table (large
-- attribute values) the same. These tables are vacuumed after a fixed number of dead rows
-- instead, and without the cost-based pause, which only makes a vacuum of a hot table lose the race.
ALTER TABLE sessionfarm_session SET (
    fillfactor = 90,
    autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 2000,
    autovacuum_analyze_scale_factor = 0.05, autovacuum_vacuum_cost_delay = 0);
ALTER TABLE sessionfarm_attribute SET (
    fillfactor = 70,
    autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 2000,
    autovacuum_analyze_scale_factor = 0.05, autovacuum_vacuum_cost_delay = 0,
    toast.autovacuum_vacuum_scale_factor = 0, toast.autovacuum_vacuum_threshold = 2000,
    toast.autovacuum_vacuum_cost_delay = 0);
ALTER TABLE sessionfarm_token SET (
    fillfactor = 80,
    autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 2000,
    autovacuum_vacuum_cost_delay = 0);
ALTER TABLE sessionfarm_tls_session SET (
    autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 2000,
    autovacuum_vacuum_cost_delay = 0);
