-- sessionfarm: when the current token of a family was first presented without being rotated
-- (database clock; NULL until then, and again after each rotation). A predecessor inside its
-- grace passes only until a moment after that: a request that raced the rotation arrives by
-- then, a copy held by someone else keeps coming.
ALTER TABLE sessionfarm_token ADD COLUMN current_used_at bigint;
