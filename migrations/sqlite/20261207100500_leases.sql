-- Claims that expire. A delivery claimed for sending ('sending') names its
-- claimant in claimed_by (host, pid and a nonce drawn at start) and holds
-- until lease_until (RFC 3339); the claimant renews it while it works. A
-- claim whose lease has passed is taken over by another process, on this
-- host or another one sharing the database. Rows left 'sending' before this
-- migration have no lease and may be taken over at once.
-- Forward-only: never edit once landed.
ALTER TABLE deliveries ADD COLUMN lease_until TEXT;

-- One row per scheduled job and slot (the instant its cron line named): the
-- daemon that inserts it runs that slot, holding it until lease_until and
-- renewing while it works; finished_at is set when it is done. A daemon that
-- finds the slot held waits; one that finds it finished does nothing; one
-- that finds the lease passed (its holder died) takes the slot over. So each
-- slot runs once across every daemon sharing the database.
CREATE TABLE job_slots (
    job         TEXT NOT NULL,
    slot        TEXT NOT NULL,
    owner       TEXT NOT NULL,
    lease_until TEXT NOT NULL,
    finished_at TEXT,
    PRIMARY KEY (job, slot)
);

-- Sending budgets every daemon draws from: one token bucket per scope
-- ('pace:N' for [digest] max_per_second = N; 'minute:DOMAIN:N' and 'hour:DOMAIN:N'
-- for [[digest.domain_limits]]). milli_tokens is what the bucket held (in
-- thousandths of a message) at at_ms (milliseconds since the epoch); it
-- refills at its capacity per period, up to the capacity. Taken in a write
-- transaction, so N daemons share one budget instead of spending N.
CREATE TABLE send_buckets (
    scope        TEXT PRIMARY KEY,
    milli_tokens INTEGER NOT NULL,
    at_ms        INTEGER NOT NULL
);

-- Requests counted per client and fixed window, for limits that must hold
-- across daemons (the subscribe form's per-client limit): scope names the
-- limit and the client ('subscribe:203.0.113.7', an IPv6 client cut to its
-- prefix), window_start the window's first instant (RFC 3339). Windows are
-- forgotten a day after they began.
CREATE TABLE request_windows (
    scope        TEXT NOT NULL,
    window_start TEXT NOT NULL,
    requests     INTEGER NOT NULL,
    PRIMARY KEY (scope, window_start)
);
