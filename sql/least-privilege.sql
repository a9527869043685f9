-- sessionfarm: the least a node needs. Run as the owner of the sessionfarm tables, in the farm's
-- database, after the migrations (java -cp sessionfarm.jar io.sessionfarm.store.Database migrate
-- JDBC_URL OWNER). Not a migration: Flyway skips this file.
--
-- Then give each node a login of its own in the group, and set migrate="false" on its Manager:
--   CREATE ROLE sessionfarm_node1 LOGIN PASSWORD '...' IN ROLE sessionfarm_node;
--
-- The group may read and write rows, and nothing else: no DROP, ALTER, TRUNCATE, CREATE or
-- REFERENCES; only the owner changes the schema. (Connecting relies on PostgreSQL's default
-- CONNECT for PUBLIC; where that was revoked, also GRANT CONNECT ON DATABASE.)

DO $$
BEGIN
    CREATE ROLE sessionfarm_node NOLOGIN;
EXCEPTION WHEN duplicate_object THEN
    NULL;
END
$$;

-- Nobody but the owner creates objects in the schema (PostgreSQL 14 and older let PUBLIC do so):
-- otherwise any login could plant a function or table that shadows one the nodes use.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

GRANT USAGE ON SCHEMA public TO sessionfarm_node;
GRANT SELECT, INSERT, UPDATE, DELETE
    ON sessionfarm_session, sessionfarm_attribute, sessionfarm_token, sessionfarm_handoff, sessionfarm_key,
       sessionfarm_session_moved
    TO sessionfarm_node;
-- The sessions' role has no use for the TLS session cache (earlier versions of this script granted it).
REVOKE ALL ON sessionfarm_tls_session FROM sessionfarm_node;
-- Reading the history lets a node check at start that the schema is current.
GRANT SELECT ON sessionfarm_schema_history TO sessionfarm_node;

-- The TLS connector's role: its session cache and the key ring, and none of the HttpSession,
-- attribute, token or hand-off tables. Give each node's connector a login of its own in it:
--   CREATE ROLE sessionfarm_node1_tls LOGIN PASSWORD '...' IN ROLE sessionfarm_tls;
DO $$
BEGIN
    CREATE ROLE sessionfarm_tls NOLOGIN;
EXCEPTION WHEN duplicate_object THEN
    NULL;
END
$$;

GRANT USAGE ON SCHEMA public TO sessionfarm_tls;
GRANT SELECT, INSERT, UPDATE, DELETE ON sessionfarm_tls_session, sessionfarm_key TO sessionfarm_tls;
GRANT SELECT ON sessionfarm_schema_history TO sessionfarm_tls;
