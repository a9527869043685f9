-- sessionfarm: when a family was last seen in use without a rotation (database clock; NULL until
-- then). A rotation's issued_at says the same, so the two together order a session's families by
-- their last use: the cap on families per session evicts the one used longest ago, never the
-- family of a browser that keeps using its token inside a grace, when it is not rotated.
ALTER TABLE sessionfarm_token ADD COLUMN last_used_at bigint;
