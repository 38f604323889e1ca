-- Data care: when a subscriber's personal data was erased. The PostgreSQL
-- side of migrations/sqlite/20261207100300_data_care.sql.
-- Forward-only: never edit once landed.
ALTER TABLE subscribers ADD COLUMN erased_at TEXT;
