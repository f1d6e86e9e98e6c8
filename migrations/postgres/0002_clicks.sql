-- Clicks on /go links (SPEC section 10). Idempotent: every instance runs it at start-up.
-- Integers are BIGINT everywhere (flags 0/1), so one binding type fits both backends.
-- Both tables are keyed by day first. packageCodes compare bytewise
-- (COLLATE "C"), as on SQLite, whatever the database's locale.
CREATE TABLE IF NOT EXISTS clicks (
    -- UUID v7: a batch written twice (a retry after a lost commit) inserts nothing new.
    id           TEXT NOT NULL,
    at           BIGINT NOT NULL,
    -- Days since 1970-01-01 (UTC): what reports group and filter by.
    day          BIGINT NOT NULL,
    partner      TEXT,
    ref_code     TEXT,
    package_code TEXT COLLATE "C" NOT NULL,
    -- The plan's countries, comma-separated (one row each in click_countries).
    countries    TEXT NOT NULL,
    subid        TEXT,
    subid2       TEXT,
    subid3       TEXT,
    subid4       TEXT,
    subid5       TEXT,
    utm_source   TEXT,
    utm_medium   TEXT,
    utm_campaign TEXT,
    -- 16 hex digits of SHA-256(day's salt, address, User-Agent), never the address or agent.
    visitor      TEXT NOT NULL,
    bot          BIGINT NOT NULL,
    prefetch     BIGINT NOT NULL,
    PRIMARY KEY (day, id)
);
CREATE INDEX IF NOT EXISTS clicks_by_partner_day ON clicks (partner, day);
-- One row per country of a click's plan, for group_by=country.
CREATE TABLE IF NOT EXISTS click_countries (
    click_id TEXT NOT NULL,
    day      BIGINT NOT NULL,
    partner  TEXT,
    country  TEXT NOT NULL,
    visitor  TEXT NOT NULL,
    -- Neither a bot nor a prefetch.
    human    BIGINT NOT NULL,
    PRIMARY KEY (day, click_id, country)
);
CREATE INDEX IF NOT EXISTS click_countries_by_partner_day ON click_countries (partner, day);
-- The visitor-hash salt of today and tomorrow, shared by replicas, older ones are deleted.
CREATE TABLE IF NOT EXISTS click_salts (
    day  BIGINT PRIMARY KEY,
    salt TEXT NOT NULL
);
