-- Which process is sending a delivery ("pid:start-time"), so concurrent
-- runs (the daemon and a hand-run `paperboy digest`) never send the same
-- digest twice: a run claims a delivery with a compare-and-set before SMTP,
-- and takes over one left 'sending' only when its owner process is gone.
ALTER TABLE deliveries ADD COLUMN claimed_by TEXT;
