-- Catalog versions, per-version changes and price intervals (SPEC section 8).
-- Idempotent: every instance runs it at start-up. packageCodes compare
-- bytewise (COLLATE "C"), as on SQLite, whatever the database's locale.
CREATE TABLE IF NOT EXISTS catalog_versions (
    version      BIGINT PRIMARY KEY,
    -- xxh3 of the plan set: storing the same content twice adopts its version.
    content_hash TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS plan_changes (
    version      BIGINT NOT NULL,
    package_code TEXT COLLATE "C" NOT NULL,
    kind         TEXT NOT NULL,
    fields       TEXT NOT NULL,
    before_plan  TEXT,
    after_plan   TEXT,
    PRIMARY KEY (version, package_code)
);
-- The plans of the latest version, to diff the next one against.
CREATE TABLE IF NOT EXISTS current_plans (
    package_code TEXT COLLATE "C" PRIMARY KEY,
    plan         TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS plan_prices (
    package_code TEXT COLLATE "C" NOT NULL,
    price        DOUBLE PRECISION NOT NULL,
    valid_from   BIGINT NOT NULL,
    valid_to     BIGINT,
    PRIMARY KEY (package_code, valid_from)
);
