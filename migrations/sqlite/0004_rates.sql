-- Exchange rates for display currencies (SPEC section 12): the last good
-- reference rates, so a restart has them before the first fetch.
-- Idempotent: every instance runs it at start-up.
CREATE TABLE IF NOT EXISTS exchange_rates (
    id         BIGINT PRIMARY KEY,
    rate_date  TEXT NOT NULL,
    -- The parsed rates as JSON (date and units per euro).
    rates      TEXT NOT NULL,
    fetched_at BIGINT NOT NULL
);
