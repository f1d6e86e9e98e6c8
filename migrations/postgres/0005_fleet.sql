-- A fleet behaves as one (SPEC section 13): the leader stores each new
-- catalog beside its version (the upstream-shaped feed, gzip), and the state
-- of its last sync. Followers load both. Used with PostgreSQL only.
-- Idempotent: every instance runs it at start-up.
CREATE TABLE IF NOT EXISTS fleet_catalogs (
    version    BIGINT PRIMARY KEY,
    updated_at BIGINT NOT NULL,
    body       BYTEA NOT NULL
);
CREATE TABLE IF NOT EXISTS fleet_state (
    id         BIGINT PRIMARY KEY,
    -- Counts the leader's syncs: a follower's refresh waits for the next one.
    seq        BIGINT NOT NULL,
    -- The version served after that sync (recorded, so stored above).
    version    BIGINT NOT NULL,
    stale      BIGINT NOT NULL,
    outcome    TEXT NOT NULL,
    synced_at  BIGINT NOT NULL,
    plan_count BIGINT NOT NULL
);
-- Refresh requests from followers, counted: a request whose NOTIFY was lost
-- (the leader's listener reconnecting) is still seen at its next look.
CREATE TABLE IF NOT EXISTS fleet_requests (
    id        BIGINT PRIMARY KEY,
    requested BIGINT NOT NULL
);
