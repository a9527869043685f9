-- sessionfarm: every statement a request makes addresses one session id, so that the session
-- tables can be distributed by it (docs/scale.md). A token family is found by its session id and
-- its family id (both sealed in the token), not by the family alone: the key says so, and the
-- index on the session id alone, a prefix of it now, goes. The new key is built under a lock
-- that holds token statements while it is built.
ALTER TABLE sessionfarm_token DROP CONSTRAINT sessionfarm_token_pkey;
ALTER TABLE sessionfarm_token ADD PRIMARY KEY (app, session_id, family);
DROP INDEX sessionfarm_token_session;

-- Nodes of earlier versions find a family by its id alone. They run beside this version during
-- a rolling upgrade; without this index each of their lookups would read every family of the
-- app. A later version drops it.
CREATE INDEX sessionfarm_token_family ON sessionfarm_token (app, family);

-- A login or a logout ends the session's hand-off codes by its session id: an index, not a scan.
CREATE INDEX sessionfarm_handoff_session ON sessionfarm_handoff (app, session_id);
