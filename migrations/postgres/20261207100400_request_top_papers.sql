-- The subscribe form's "also send me the top papers of the day" box travels
-- with the rest of a held request. The PostgreSQL side of
-- migrations/sqlite/20261207100400_request_top_papers.sql.
-- Forward-only: never edit once landed.
ALTER TABLE subscription_requests ADD COLUMN top_papers BIGINT NOT NULL DEFAULT 0
    CHECK (top_papers IN (0, 1));
