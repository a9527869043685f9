-- sessionfarm: a request's checkpoint rewrites its session row in place. An update is HOT (the new
-- row version goes into the same page, no index gets a new entry, and the old version is pruned
-- without a vacuum) only if no indexed column changes, and every checkpoint moved expires_at,
-- which the expiry index held. Under churn the table and its indexes grew by an entry a request.
--
-- The index now holds the minute the session expires in, which a checkpoint changes at most once
-- a minute. PostgreSQL computes the column, so nodes of earlier versions, which write only
-- expires_at, keep it right during a rolling upgrade. Adding it rewrites the table once, under a
-- lock that holds session statements until it is done: this migration took 9 s for a million
-- sessions and a million token families on a 2-core test machine. Nodes of earlier versions
-- sweep by expires_at, which no index holds now: their sweeps read the whole table until they
-- are upgraded too.
--
-- The sweep lists the sessions that expired in an earlier minute, from the index alone, and takes
-- each only if it is still expired: a session ends on time when it is used again, and is swept at
-- the first sweep after the minute it expired in (Tomcat's own expiry runs once a minute too).
ALTER TABLE sessionfarm_session ADD COLUMN expires_minute bigint GENERATED ALWAYS AS (expires_at / 60000) STORED;
CREATE INDEX sessionfarm_session_expiry_minute ON sessionfarm_session (app, expires_minute);
DROP INDEX sessionfarm_session_expiry;

-- A token family's rotation (once a minute for an active browser) moved issued_at, which an index
-- held that no statement used: the sweep of expired families, an OR over idle and absolute
-- lifetimes, read the whole table. The sweep now finds idle families by the hour they were last
-- issued in, which a rotation changes once an hour, and long-lived ones by their creation, which
-- never changes: both from an index, and a rotation, like a first use, is an update in place.
-- An idle family's row is deleted up to an hour after its timeout; its tokens stop passing at the
-- timeout (and a family idle while its session lives on through another is closed alone).
ALTER TABLE sessionfarm_token ADD COLUMN issued_hour bigint GENERATED ALWAYS AS (issued_at / 3600000) STORED;
CREATE INDEX sessionfarm_token_issued_hour ON sessionfarm_token (app, issued_hour);
CREATE INDEX sessionfarm_token_created ON sessionfarm_token (app, created_at);
DROP INDEX sessionfarm_token_issued;
