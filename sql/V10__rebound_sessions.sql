-- A session taken over by another node gets that node's jvmRoute suffix (RouteBinderValve): the
-- row moves to the new id, and the old id leads to the new one for a short grace, so that a
-- browser's requests already under way with the old id (sent in parallel, or before the new
-- cookie arrived) find the session on any node. After the grace the old id is dead.
-- Times are the database's clock (epoch milliseconds), as everywhere.
CREATE TABLE sessionfarm_session_moved (
    app         text   NOT NULL,
    session_id  text   NOT NULL,   -- the old id
    moved_to    text   NOT NULL,   -- the new one
    until       bigint NOT NULL,
    PRIMARY KEY (app, session_id)
);
