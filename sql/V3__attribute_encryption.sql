-- sessionfarm: attribute values encrypted at rest under the farm key ring (purpose 'attribute').
-- key_id names the data key a value is sealed with; NULL means the value is plain (no master key
-- was configured when it was written). Old keys stay readable while any value still uses them.
ALTER TABLE sessionfarm_attribute ADD COLUMN key_id integer;
