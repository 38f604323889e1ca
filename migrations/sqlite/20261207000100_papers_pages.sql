-- The papers pages cache what they read from a range of days and check it
-- is current with the newest sighting and the newest change to a paper;
-- this index makes the second a lookup instead of a scan.
-- Forward-only: never edit once landed.
CREATE INDEX papers_updated_at ON papers(updated_at);
