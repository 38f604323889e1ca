-- Claims that expire: the PostgreSQL side of
-- migrations/sqlite/20261207100500_leases.sql.
-- Forward-only: never edit once landed.
ALTER TABLE deliveries ADD COLUMN lease_until TEXT;

CREATE TABLE job_slots (
    job         TEXT NOT NULL,
    slot        TEXT NOT NULL,
    owner       TEXT NOT NULL,
    lease_until TEXT NOT NULL,
    finished_at TEXT,
    PRIMARY KEY (job, slot)
);

CREATE TABLE send_buckets (
    scope        TEXT PRIMARY KEY,
    milli_tokens BIGINT NOT NULL,
    at_ms        BIGINT NOT NULL
);

CREATE TABLE request_windows (
    scope        TEXT NOT NULL,
    window_start TEXT NOT NULL,
    requests     BIGINT NOT NULL,
    PRIMARY KEY (scope, window_start)
);
