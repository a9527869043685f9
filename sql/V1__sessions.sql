-- sessionfarm: HttpSession checkpoints. Times are epoch milliseconds of the writing node.

CREATE TABLE sessionfarm_session (
    app          text    NOT NULL,  -- host + context path, e.g. 'localhost/shop'
    id           text    NOT NULL,
    version      bigint  NOT NULL,  -- bumped by every checkpoint; compared-and-set by writers
    created_at   bigint  NOT NULL,
    last_access  bigint  NOT NULL,
    max_inactive integer NOT NULL,  -- seconds; <= 0 means never expires
    expires_at   bigint  NOT NULL,  -- last_access + max_inactive, or max bigint
    PRIMARY KEY (app, id)
);

-- The expiry sweep reads one app's oldest rows first; this index serves it without a scan.
CREATE INDEX sessionfarm_session_expiry ON sessionfarm_session (app, expires_at);

-- One row per attribute: a bad attribute cannot poison the others, and a checkpoint
-- rewrites only the attributes that changed.
CREATE TABLE sessionfarm_attribute (
    app        text   NOT NULL,
    session_id text   NOT NULL,
    name       text   NOT NULL,
    version    bigint NOT NULL,     -- the session version that last wrote this attribute
    value      bytea  NOT NULL,     -- Java serialization of the attribute value
    PRIMARY KEY (app, session_id, name),
    FOREIGN KEY (app, session_id) REFERENCES sessionfarm_session (app, id)
        ON DELETE CASCADE ON UPDATE CASCADE
);
