-- "Also send me the top papers of the day": a section of the most upvoted
-- papers after a subscriber's topics. A subscriber with no topics gets
-- that section alone (the trending digest) whatever this says.
-- Forward-only: never edit once landed.
ALTER TABLE subscribers ADD COLUMN top_papers INTEGER NOT NULL DEFAULT 0
    CHECK (top_papers IN (0, 1));
