-- Self-service: what subscribers choose on their manage page, and when a
-- link mail (confirmation or fresh manage link) last went to them.
-- Forward-only: never edit once landed.

-- 'daily', or 'weekly' on `weekday` (0 = Monday .. 6 = Sunday).
ALTER TABLE subscribers ADD COLUMN frequency TEXT NOT NULL DEFAULT 'daily'
    CHECK (frequency IN ('daily', 'weekly'));
ALTER TABLE subscribers ADD COLUMN weekday INTEGER
    CHECK (weekday IS NULL OR weekday BETWEEN 0 AND 6);
-- Local delivery hour (0..23) in `timezone` (an IANA name); NULL means the
-- daemon's [schedule] digest time.
ALTER TABLE subscribers ADD COLUMN delivery_hour INTEGER
    CHECK (delivery_hour IS NULL OR delivery_hour BETWEEN 0 AND 23);
ALTER TABLE subscribers ADD COLUMN timezone TEXT;
-- No digest on days before this one (YYYY-MM-DD); NULL: not paused.
ALTER TABLE subscribers ADD COLUMN paused_until TEXT;
-- Per-address rate limit on link mails, kept in the database so it survives
-- restarts: a mail is sent only if this is NULL or old enough, and the
-- check-and-set is one UPDATE.
ALTER TABLE subscribers ADD COLUMN last_link_mail_at TEXT;
