-- Operator sessions (docs/operations.md, "Sessions"). The console's cookie holds a
-- random session id and single-use log-in links carry a random code: the database
-- keeps the SHA-256 of each, never the secret. Rows are kept once ended: with the
-- audit trail's operator.login/operator.logout they say who was logged in when.

CREATE TABLE operator_sessions (
    id {pk},
    token_sha256 TEXT NOT NULL UNIQUE,
    operator_id BIGINT NOT NULL REFERENCES operators (id),
    source TEXT NOT NULL,  -- the address the log-in came from
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,  -- idle expiry counts from here
    expires_at BIGINT NOT NULL,  -- absolute expiry: the end of a shift at the latest
    ended_at BIGINT,  -- logged out
    CHECK (created_at <= last_seen_at AND created_at < expires_at)
);

CREATE TABLE login_links (
    id {pk},
    code_sha256 TEXT NOT NULL UNIQUE,
    operator_id BIGINT NOT NULL REFERENCES operators (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,  -- a link opens one session, once
    session_id BIGINT REFERENCES operator_sessions (id),
    CHECK (created_at < expires_at)
);
