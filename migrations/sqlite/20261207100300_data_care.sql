-- Data care: when a subscriber's personal data was erased (by the daily
-- retention job after they unsubscribed, or by `paperboy subscribers
-- forget` / "Delete everything about me"). The row stays only so counts
-- stay true: its address is replaced by a placeholder that is not an
-- address, its topics, preferences, held requests and ledger are gone,
-- and no query that reads subscribers as people returns it.
-- Forward-only: never edit once landed.
ALTER TABLE subscribers ADD COLUMN erased_at TEXT;
