-- Webhook messages (SPEC section 11): written in the same transaction as the
-- catalog version that caused them, and the sender claims due ones with a lease.
-- Idempotent: every instance runs it at start-up.
CREATE TABLE IF NOT EXISTS webhook_messages (
    -- msg_ + a hash of endpoint, version, event and plan: stable on every replica.
    id              TEXT PRIMARY KEY,
    endpoint        TEXT NOT NULL,
    partner         TEXT NOT NULL,
    event           TEXT NOT NULL,
    body            TEXT NOT NULL,
    version         BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    -- pending, delivered or failed.
    status          TEXT NOT NULL,
    attempts        BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    -- While an attempt is in flight: no other sender takes the message before this.
    lease_until     BIGINT NOT NULL,
    last_status     BIGINT,
    last_error      TEXT
);
CREATE INDEX IF NOT EXISTS webhook_messages_due ON webhook_messages (status, next_attempt_at);
CREATE INDEX IF NOT EXISTS webhook_messages_recent ON webhook_messages (created_at);
-- Every attempt: status code, duration, error class and at most 1 KB of the answer.
CREATE TABLE IF NOT EXISTS webhook_attempts (
    message_id  TEXT NOT NULL,
    at          BIGINT NOT NULL,
    status      BIGINT,
    duration_ms BIGINT NOT NULL,
    error       TEXT,
    response    TEXT,
    PRIMARY KEY (message_id, at)
);
