-- 0020: console sign-outs, shared by every worker (a session cookie is checked by whichever
-- worker the load balancer picks, so a sign-out on one must end the session on all). A row lives
-- until the session would have expired anyway (issued_at + 8 h); each worker reads the live rows
-- every few seconds. Numbered 0020 so files other branches add keep their numbers.
CREATE TABLE console_session_revoked (
    nonce      text        PRIMARY KEY,
    issued_at  bigint      NOT NULL,  -- unix seconds, as in the cookie
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX console_session_revoked_expires_idx ON console_session_revoked (expires_at);
