-- Ranking's derived data, kept so a digest run reads it instead of
-- recomputing it: each paper's vector (term counts, computed when it is
-- fetched), each announced day's document frequencies (the daemon sums the
-- last 365 days in memory), and each subscriber's profile (rebuilt in the
-- transaction that records or removes a mark). Blobs are the codecs of
-- src/ranking/ (first byte: their format). A recommended paper's reason is
-- kept in the never-twice ledger, so a digest resumed after a crash still
-- says why it is there.
-- Forward-only: never edit once landed.
CREATE TABLE paper_vectors (
    paper_id TEXT PRIMARY KEY NOT NULL REFERENCES papers(id) ON DELETE CASCADE,
    vector   BLOB NOT NULL
);

CREATE TABLE ranking_df_days (
    day        TEXT PRIMARY KEY NOT NULL,
    papers     INTEGER NOT NULL,
    df         BLOB NOT NULL,
    -- Bumped on every rewrite of the day: a daemon whose in-memory sum
    -- counted an older revision rebuilds it.
    revision   INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);

-- Personal data (derived from the subscriber's marks): goes with them.
CREATE TABLE ranking_profiles (
    subscriber_id INTEGER PRIMARY KEY NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
    profile       BLOB NOT NULL,
    updated_at    TEXT NOT NULL
);

ALTER TABLE sent_papers ADD COLUMN reason TEXT;
