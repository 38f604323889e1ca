-- What the public subscribe form asked for an address that already exists
-- (pending or unsubscribed). The form is not authenticated, so a request
-- never changes the subscriber's own row: it waits here, one per address
-- (the latest wins, its revision counting up), and is applied only when
-- the owner confirms it from the link mailed to the address.
CREATE TABLE subscription_requests (
    subscriber_id   INTEGER PRIMARY KEY NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
    revision        INTEGER NOT NULL DEFAULT 1,
    -- JSON array of [name, query] pairs.
    topics          TEXT NOT NULL,
    frequency       TEXT NOT NULL CHECK (frequency IN ('daily', 'weekly')),
    weekday         INTEGER,
    delivery_hour   INTEGER,
    timezone        TEXT,
    created_at      TEXT NOT NULL
) STRICT;
