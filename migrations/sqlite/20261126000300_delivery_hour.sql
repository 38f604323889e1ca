-- Per-subscriber delivery hours: the daemon ticks (hourly by default) and
-- each tick sends the digests whose local delivery instant fell since the
-- previous tick. This row remembers up to which instant digests have been
-- planned, so a tick after downtime covers the whole gap (late, not
-- skipped) and never a window twice. Forward-only: never edit once landed.
CREATE TABLE schedule_ticks (
    job TEXT PRIMARY KEY CHECK (job IN ('digest')),
    -- RFC 3339 instant: digests due at or before it have been planned.
    covered_until TEXT NOT NULL
);
