-- The farm's TLS session cache (stateful resumption: TLS 1.2 session ids, TLS 1.3 stateful tickets).
-- A row is one OpenSSL session, i2d_SSL_SESSION'd and sealed with AES-GCM under the farm's 'tls'
-- ring key (key_id); it holds the session's master or resumption secret, so it is never stored
-- in the clear. The id is a SHA-256 of host, certificate and TLS session id: one SSLHostConfig
-- cannot find another's sessions. Rows expire by their own TTL (database clock, milliseconds).
CREATE TABLE sessionfarm_tls_session (
    id         bytea   PRIMARY KEY,
    key_id     integer NOT NULL,
    blob       bytea   NOT NULL,
    expires_at bigint  NOT NULL
);

CREATE INDEX sessionfarm_tls_session_expires ON sessionfarm_tls_session (expires_at);
