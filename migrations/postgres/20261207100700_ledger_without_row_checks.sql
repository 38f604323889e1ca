-- The ledger (`sent_papers`) without foreign keys: the PostgreSQL side of
-- migrations/sqlite/20261207100700_ledger_without_row_checks.sql.
--
-- Every row is written by the reservation in the same transaction as the
-- delivery it names (with that delivery's subscriber), so the keys' check
-- on each inserted row guarded nothing the code does not already
-- guarantee, and it was the largest server cost of a digest run (about
-- 10 us a row a key: `INSERT INTO t SELECT * FROM sent_papers` of 314,214
-- rows took 9.3 s into a copy with both keys, 6.2 s with the delivery_id
-- one only, 3.05 s with none; one daemon went from about 780 to 1,070
-- digests/s end to end; BENCHMARKS.md).
--
-- What the keys also did, ON DELETE CASCADE, is kept by a trigger:
-- deleting deliveries deletes their ledger rows, and deleting a subscriber
-- deletes their deliveries (deliveries.subscriber_id still cascades), whose
-- deletion fires the trigger in turn, so no ledger row outlives its
-- delivery or its subscriber. One statement per deleting statement (a
-- transition table), so retention's bulk delete stays one statement.
-- Forward-only: never edit once landed.
ALTER TABLE sent_papers DROP CONSTRAINT sent_papers_subscriber_id_fkey;
ALTER TABLE sent_papers DROP CONSTRAINT sent_papers_delivery_id_fkey;

CREATE FUNCTION deliveries_delete_ledger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM sent_papers WHERE delivery_id IN (SELECT id FROM gone);
    RETURN NULL;
END;
$$;
CREATE TRIGGER deliveries_delete_ledger
AFTER DELETE ON deliveries
REFERENCING OLD TABLE AS gone
FOR EACH STATEMENT
EXECUTE FUNCTION deliveries_delete_ledger();
