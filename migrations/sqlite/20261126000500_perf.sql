-- The ledger by paper: a digest run asks, once per page of subscribers,
-- which of the run's papers any of them already got (almost always none),
-- instead of asking once per subscriber.
CREATE INDEX sent_papers_paper ON sent_papers(paper_id, subscriber_id);

-- Recent sends, for per-recipient-domain budgets that span runs (a run
-- counts what was sent to a domain in the last minute and hour).
CREATE INDEX deliveries_sent_at ON deliveries(sent_at);
