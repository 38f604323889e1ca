-- paperboy's initial schema. Forward-only: never edit once landed; add a new
-- timestamped migration instead. Times are RFC 3339 UTC text, days are
-- YYYY-MM-DD text, so rows read well in the sqlite3 shell.

-- One row per paper, keyed by the canonical id (versionless arXiv id, or
-- "feed:<guid-or-link>"), holding the merged fields of every source.
CREATE TABLE papers (
    id              TEXT PRIMARY KEY NOT NULL,
    version         INTEGER,
    title           TEXT NOT NULL,
    abstract        TEXT NOT NULL,
    authors         TEXT NOT NULL DEFAULT '[]',   -- JSON array of names
    categories      TEXT NOT NULL DEFAULT '[]',   -- JSON array, primary first
    url             TEXT NOT NULL,
    pdf_url         TEXT,
    doi             TEXT,
    journal_ref     TEXT,
    comment         TEXT,
    upvotes         INTEGER,
    num_comments    INTEGER,
    ai_keywords     TEXT NOT NULL DEFAULT '[]',
    github_repo     TEXT,
    project_page    TEXT,
    published_at    TEXT,
    first_seen_at   TEXT NOT NULL,
    updated_at      TEXT NOT NULL
) STRICT;

-- Which source listed which paper for which digest day. A paper belongs to
-- every day it was announced on; the per-subscriber ledger below keeps it
-- from being mailed twice.
CREATE TABLE paper_sightings (
    paper_id        TEXT NOT NULL REFERENCES papers(id) ON DELETE CASCADE,
    source          TEXT NOT NULL,
    day             TEXT NOT NULL,
    announce_type   TEXT,
    seen_at         TEXT NOT NULL,
    PRIMARY KEY (paper_id, source, day)
) STRICT;
CREATE INDEX paper_sightings_day ON paper_sightings(day);

-- HTTP validators for conditional GET, saved only after the papers behind
-- them are stored.
CREATE TABLE source_validators (
    url             TEXT PRIMARY KEY NOT NULL,
    etag            TEXT,
    last_modified   TEXT,
    updated_at      TEXT NOT NULL
) STRICT;

CREATE TABLE subscribers (
    id              INTEGER PRIMARY KEY,
    email           TEXT NOT NULL UNIQUE COLLATE NOCASE,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'active', 'unsubscribed', 'suspended')),
    -- Bumping this revokes every signed link issued before.
    link_version    INTEGER NOT NULL DEFAULT 1,
    created_at      TEXT NOT NULL,
    confirmed_at    TEXT,
    unsubscribed_at TEXT,
    updated_at      TEXT NOT NULL
) STRICT;
CREATE INDEX subscribers_status ON subscribers(status, id);

-- A subscriber's named topic queries, in the filter language.
CREATE TABLE topics (
    id              INTEGER PRIMARY KEY,
    subscriber_id   INTEGER NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
    position        INTEGER NOT NULL,
    name            TEXT NOT NULL,
    query           TEXT NOT NULL,
    UNIQUE (subscriber_id, position)
) STRICT;

-- One digest per subscriber per date: the unique key makes sending
-- idempotent across re-runs, crashes and concurrent runs.
CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY,
    subscriber_id   INTEGER NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
    digest_date     TEXT NOT NULL,
    -- pending: planned, not yet handed to SMTP; sending: handed to SMTP,
    -- outcome unknown until recorded; deferred: transient failure, retried
    -- from next_attempt_at; sent; failed: permanent failure.
    status          TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'deferred', 'sent', 'failed')),
    message_id      TEXT NOT NULL,
    paper_count     INTEGER NOT NULL,
    more_count      INTEGER NOT NULL DEFAULT 0,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    smtp_code       INTEGER,
    next_attempt_at TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    sent_at         TEXT,
    UNIQUE (subscriber_id, digest_date)
) STRICT;
CREATE INDEX deliveries_date_status ON deliveries(digest_date, status);

-- The ledger: every paper ever put in a subscriber's digest. The primary key
-- is what guarantees nobody gets the same paper twice, across days, sources
-- and versions.
CREATE TABLE sent_papers (
    subscriber_id   INTEGER NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
    paper_id        TEXT NOT NULL,
    delivery_id     INTEGER NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
    position        INTEGER NOT NULL,
    topic_position  INTEGER NOT NULL,
    PRIMARY KEY (subscriber_id, paper_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX sent_papers_delivery ON sent_papers(delivery_id, position);

-- One row per fetch or digest run, for health checks and `paperboy status`.
CREATE TABLE runs (
    id              INTEGER PRIMARY KEY,
    kind            TEXT NOT NULL,
    target_date     TEXT NOT NULL,
    started_at      TEXT NOT NULL,
    finished_at     TEXT,
    outcome         TEXT,
    summary         TEXT
) STRICT;
CREATE INDEX runs_kind ON runs(kind, id);
