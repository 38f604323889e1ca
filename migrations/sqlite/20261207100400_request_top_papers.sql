-- The subscribe form's "also send me the top papers of the day" box travels
-- with the rest of a held request: for an existing pending or unsubscribed
-- address it waits here and is applied only when the owner confirms.
-- Forward-only: never edit once landed.
ALTER TABLE subscription_requests ADD COLUMN top_papers INTEGER NOT NULL DEFAULT 0
    CHECK (top_papers IN (0, 1));
