-- Bounces, complaints and unsubscribe requests that arrive after the SMTP
-- conversation: mail piped to `paperboy bounces ingest`, a Maildir the
-- daemon polls, a provider's webhook. One row per report, matched or not,
-- with what was done about it.
CREATE TABLE inbound_reports (
    id              INTEGER PRIMARY KEY,
    -- UTC timestamp of arrival.
    received_at     TEXT NOT NULL,
    -- 'mail' (ingest or Maildir), or the webhook provider: 'ses',
    -- 'postmark', 'sendgrid', 'mailgun'.
    source          TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('hard', 'soft', 'complaint', 'auto-reply',
                                                  'unsubscribe', 'delivered', 'unknown')),
    subscriber_id   INTEGER REFERENCES subscribers(id) ON DELETE SET NULL,
    delivery_id     INTEGER REFERENCES deliveries(id) ON DELETE SET NULL,
    -- 'bounce address', 'subscriber token', 'message id', 'recipient
    -- address', or NULL when nothing matched.
    matched_by      TEXT,
    -- 1 when this hard bounce blames the address (counts toward suspension).
    counted         INTEGER NOT NULL DEFAULT 0,
    -- 'suspended', 'unsubscribed', 'counted', 'recorded', 'ignored',
    -- 'unmatched'.
    action          TEXT NOT NULL,
    -- One log-safe line: kind, status, cause; never an address or token.
    summary         TEXT NOT NULL
) STRICT;
CREATE INDEX inbound_reports_received ON inbound_reports(received_at, kind);
CREATE INDEX inbound_reports_delivery ON inbound_reports(delivery_id);

-- Late hard bounces suspend a subscriber when each of their last digests
-- drew one; re-activation starts that window again from here.
ALTER TABLE subscribers ADD COLUMN bounces_counted_from TEXT;

CREATE TRIGGER subscribers_activated_restart_late_bounces
AFTER UPDATE OF status ON subscribers
WHEN NEW.status = 'active' AND OLD.status <> 'active'
BEGIN
    UPDATE subscribers SET bounces_counted_from = NEW.updated_at WHERE id = NEW.id;
END;
