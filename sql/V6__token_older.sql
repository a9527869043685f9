-- sessionfarm: the token before the predecessor, kept only when a hand-off code rotated the
-- token while its predecessor's grace was open (the one rotation allowed inside a grace). A
-- request that left with that token before the browser had the newer ones then finds it two
-- generations back; it passes under the predecessor's rules until older_until, the end of its
-- own grace, instead of counting as a reuse.
ALTER TABLE sessionfarm_token ADD COLUMN older_token_id bytea, ADD COLUMN older_until bigint;
