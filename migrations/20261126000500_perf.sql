-- The ledger by paper: a digest run asks, once per page of subscribers,
-- which of the run's papers any of them already got (almost always none),
-- instead of asking once per subscriber.
CREATE INDEX sent_papers_paper ON sent_papers(paper_id, subscriber_id);
