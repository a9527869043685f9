-- sessionfarm: the farm key ring and rotating session tokens. Times are epoch milliseconds of the
-- database's clock (never a node's), so node clock skew does not matter.

-- Data keys, each wrapped (AES-256-GCM) under the farm master key, which never enters the
-- database. A key is added (every node may decrypt with it), later promoted to primary (nodes
-- encrypt with it), then retiring (still decrypts) until retire_after, when it is deleted.
CREATE TABLE sessionfarm_key (
    purpose      text    NOT NULL,  -- 'token'; other users of the ring take their own purpose
    id           integer NOT NULL,  -- random; travels in the clear beside what it encrypted
    state        text    NOT NULL CHECK (state IN ('added', 'primary', 'retiring')),
    wrapped      bytea   NOT NULL,  -- nonce || AES-GCM(master key, data key), AD = purpose and id
    created_at   bigint  NOT NULL,
    promoted_at  bigint,
    retire_after bigint,
    PRIMARY KEY (purpose, id)
);

-- One row per token family: the chain of tokens one browser holds for one session. The token
-- names its family; the session id lives here (and, encrypted, in the token).
CREATE TABLE sessionfarm_token (
    app               text   NOT NULL,
    family            bytea  NOT NULL,  -- 16 random bytes
    session_id        text   NOT NULL,
    token_id          bytea  NOT NULL,  -- the current token; replaced by each rotation
    generation        bigint NOT NULL,
    issued_at         bigint NOT NULL,
    previous_token_id bytea,            -- the immediate predecessor, accepted until previous_until
    previous_until    bigint,
    created_at        bigint NOT NULL,  -- start of the absolute lifetime
    PRIMARY KEY (app, family)
);

-- Revocation and session id changes find a session's families; maintenance finds idle ones.
CREATE INDEX sessionfarm_token_session ON sessionfarm_token (app, session_id);
CREATE INDEX sessionfarm_token_issued ON sessionfarm_token (app, issued_at);

-- Single-use hand-off codes: only the code's SHA-256 is stored, so reading this table does not
-- let anyone redeem a code.
CREATE TABLE sessionfarm_handoff (
    code_hash  bytea  NOT NULL PRIMARY KEY,
    app        text   NOT NULL,
    session_id text   NOT NULL,
    created_at bigint NOT NULL,          -- the family's created_at: the absolute lifetime carries over
    target     text   NOT NULL,          -- path and query on the receiving node
    expires_at bigint NOT NULL
);
