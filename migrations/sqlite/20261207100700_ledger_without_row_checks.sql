-- The ledger (`sent_papers`) without foreign keys: every row is written by
-- the reservation in the same transaction as the delivery it names (with
-- that delivery's subscriber), so the keys' check on each inserted row
-- guarded nothing the code does not already guarantee, and it was the
-- largest server cost of a digest run on PostgreSQL (about 10 us a row a
-- key: copying 314,214 ledger rows took 9.3 s with both keys, 6.2 s with
-- one, 3.05 s with none; BENCHMARKS.md). Both engines drop them alike.
--
-- What the keys also did, ON DELETE CASCADE, is kept by a trigger:
-- deleting a delivery deletes its ledger rows, and deleting a subscriber
-- deletes their deliveries (deliveries.subscriber_id still cascades), whose
-- deletion fires the trigger in turn, so no ledger row outlives its
-- delivery or its subscriber.
--
-- SQLite cannot drop a constraint: the table is rebuilt with the same
-- columns, primary key and indexes, and its rows copied.
-- Forward-only: never edit once landed.
CREATE TABLE sent_papers_new (
    subscriber_id   INTEGER NOT NULL,
    paper_id        TEXT NOT NULL,
    delivery_id     INTEGER NOT NULL,
    position        INTEGER NOT NULL,
    topic_position  INTEGER NOT NULL,
    reason          TEXT,
    PRIMARY KEY (subscriber_id, paper_id)
) STRICT, WITHOUT ROWID;

INSERT INTO sent_papers_new (subscriber_id, paper_id, delivery_id, position, topic_position, reason)
SELECT subscriber_id, paper_id, delivery_id, position, topic_position, reason FROM sent_papers;

DROP TABLE sent_papers;
ALTER TABLE sent_papers_new RENAME TO sent_papers;
CREATE INDEX sent_papers_delivery ON sent_papers(delivery_id, position);
CREATE INDEX sent_papers_paper ON sent_papers(paper_id, subscriber_id);

-- Also fires for the deliveries a subscriber's deletion cascades to.
CREATE TRIGGER deliveries_delete_ledger
AFTER DELETE ON deliveries
FOR EACH ROW
BEGIN
    DELETE FROM sent_papers WHERE delivery_id = OLD.id;
END;
