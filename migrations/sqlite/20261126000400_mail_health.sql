-- Mail health: bounces per day for /metrics and `paperboy status`, and the
-- hard-bounce count that suspends a subscriber whose address keeps failing.

-- Hard bounces (5xx to RCPT or DATA) in a row; a delivered digest resets it.
ALTER TABLE subscribers ADD COLUMN hard_bounces INTEGER NOT NULL DEFAULT 0;

-- One row per bounce: 'hard' = a permanent 5xx reply, 'soft' = a 4xx reply
-- that deferred the digest. Connection failures and timeouts are not bounces.
CREATE TABLE bounces (
    id              INTEGER PRIMARY KEY,
    subscriber_id   INTEGER NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
    delivery_id     INTEGER NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
    kind            TEXT NOT NULL CHECK (kind IN ('hard', 'soft')),
    smtp_code       INTEGER NOT NULL,
    -- UTC timestamp; its first ten characters are the day it is counted on.
    occurred_at     TEXT NOT NULL
) STRICT;
CREATE INDEX bounces_day ON bounces(substr(occurred_at, 1, 10), kind);

-- In the same transaction as the status change, so no path that marks a
-- digest sent (or re-activates a subscriber) can forget the reset.
CREATE TRIGGER deliveries_sent_resets_hard_bounces
AFTER UPDATE OF status ON deliveries
WHEN NEW.status = 'sent' AND OLD.status <> 'sent'
BEGIN
    UPDATE subscribers SET hard_bounces = 0
    WHERE id = NEW.subscriber_id AND hard_bounces <> 0;
END;

CREATE TRIGGER subscribers_reactivated_resets_hard_bounces
AFTER UPDATE OF status ON subscribers
WHEN NEW.status = 'active' AND OLD.status = 'suspended'
BEGIN
    UPDATE subscribers SET hard_bounces = 0 WHERE id = NEW.id;
END;
