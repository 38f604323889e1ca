-- "More like this" / "Less like this": a subscriber's marks on papers, one
-- per subscriber and paper (marking again replaces the mark), and their
-- switches for ranking by those marks and for the "Recommended for you"
-- section. Marks are personal data: they go with the subscriber.
-- The PostgreSQL side of migrations/sqlite/20261207100100_paper_marks.sql.
-- Forward-only: never edit once landed.
CREATE TABLE paper_marks (
    subscriber_id BIGINT NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
    paper_id      TEXT NOT NULL REFERENCES papers(id) ON DELETE CASCADE,
    mark          TEXT NOT NULL CHECK (mark IN ('more', 'less')),
    marked_at     TEXT NOT NULL,
    PRIMARY KEY (subscriber_id, paper_id)
);

ALTER TABLE subscribers ADD COLUMN ranking BIGINT NOT NULL DEFAULT 1
    CHECK (ranking IN (0, 1));
ALTER TABLE subscribers ADD COLUMN recommendations BIGINT NOT NULL DEFAULT 1
    CHECK (recommendations IN (0, 1));
