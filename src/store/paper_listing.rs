//! The papers pages' reads: which days have announcements, and the papers
//! of a range of days in page order. Read-only; a digest run writing at the
//! same time never blocks these (WAL readers see the last commit).

use chrono::NaiveDate;
use sqlx::AssertSqlSafe;
use sqlx::Row;

use super::papers::{paper_from_row, PAPER_COLUMNS};
use super::{
    day, parse_day, parse_ts, Backend, DayStamp, DbResult, ListedPaper, ListingGeneration,
    PaperListing, POSTGRES,
};

impl Backend {
    /// The store's [`ListingGeneration`]: two index lookups.
    pub async fn listing_generation(&self) -> DbResult<ListingGeneration> {
        let row = sqlx::query(if POSTGRES {
            "SELECT (SELECT MAX(seq) FROM paper_sightings) AS s,
                        (SELECT MAX(updated_at) FROM papers) AS u"
        } else {
            "SELECT (SELECT MAX(rowid) FROM paper_sightings) AS s,
                        (SELECT MAX(updated_at) FROM papers) AS u"
        })
        .fetch_one(&self.pool)
        .await?;
        Ok(ListingGeneration {
            last_sighting: row.get("s"),
            last_update: row.get("u"),
        })
    }

    /// Each day in `from..=to` with announcements and its [`DayStamp`],
    /// in date order: one pass over the range's sightings, so a cache of
    /// days learns which days a fetch touched without reading their papers.
    pub async fn listing_days(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> DbResult<Vec<(NaiveDate, DayStamp)>> {
        let seq = if POSTGRES { "seq" } else { "rowid" };
        let sql = format!(
            "SELECT s.day AS day, COUNT(*) AS n, MAX(s.{seq}) AS s, MAX(p.updated_at) AS u
             FROM paper_sightings s JOIN papers p ON p.id = s.paper_id
             WHERE s.day BETWEEN $1 AND $2 GROUP BY s.day ORDER BY s.day"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(day(from))
            .bind(day(to))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    parse_day(row.get("day"))?,
                    DayStamp {
                        sightings: row.get("n"),
                        last_sighting: row.get("s"),
                        last_update: row.get("u"),
                    },
                ))
            })
            .collect()
    }

    /// The most recent day any source announced papers on, if any.
    pub async fn latest_announced_day(&self) -> DbResult<Option<NaiveDate>> {
        let d: Option<String> = sqlx::query_scalar("SELECT MAX(day) FROM paper_sightings")
            .fetch_one(&self.pool)
            .await?;
        d.as_deref().map(parse_day).transpose()
    }

    /// The closest day before `d` with announcements.
    pub async fn announced_day_before(&self, d: NaiveDate) -> DbResult<Option<NaiveDate>> {
        let d: Option<String> =
            sqlx::query_scalar("SELECT MAX(day) FROM paper_sightings WHERE day < $1")
                .bind(day(d))
                .fetch_one(&self.pool)
                .await?;
        d.as_deref().map(parse_day).transpose()
    }

    /// The closest day after `d` with announcements.
    pub async fn announced_day_after(&self, d: NaiveDate) -> DbResult<Option<NaiveDate>> {
        let d: Option<String> =
            sqlx::query_scalar("SELECT MIN(day) FROM paper_sightings WHERE day > $1")
                .bind(day(d))
                .fetch_one(&self.pool)
                .await?;
        d.as_deref().map(parse_day).transpose()
    }

    /// Every paper announced on a day in `from..=to`, in page order: most
    /// upvoted first, equal counts in announcement order (the order the
    /// sources listed them); papers without an upvote count (arXiv-only)
    /// after, by id.
    pub async fn listed_papers(&self, from: NaiveDate, to: NaiveDate) -> DbResult<PaperListing> {
        // The order sightings were stored in, and the sources as one text.
        let (seq, sources) = if POSTGRES {
            ("seq", "string_agg(DISTINCT source, ',')")
        } else {
            ("rowid", "GROUP_CONCAT(DISTINCT source)")
        };
        let sql = format!(
            "SELECT {PAPER_COLUMNS}, updated_at, s.first_day, s.sources, s.seq AS sighting_seq
             FROM papers p JOIN (
                 SELECT paper_id, MIN(day) AS first_day, MIN({seq}) AS seq,
                        {sources} AS sources
                 FROM paper_sightings WHERE day BETWEEN $1 AND $2 GROUP BY paper_id
             ) s ON s.paper_id = p.id
             ORDER BY p.upvotes IS NULL, p.upvotes DESC,
                      CASE WHEN p.upvotes IS NULL THEN 0 ELSE s.seq END, p.id"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(day(from))
            .bind(day(to))
            .fetch_all(&self.pool)
            .await?;
        let mut listing = PaperListing {
            papers: Vec::with_capacity(rows.len()),
            about: Vec::with_capacity(rows.len()),
        };
        for row in &rows {
            let sources: Option<String> = row.get("sources");
            let mut sources: Vec<String> = sources
                .unwrap_or_default()
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            sources.sort();
            listing.about.push(ListedPaper {
                day: parse_day(row.get("first_day"))?,
                sources,
                updated_at: parse_ts(row.get("updated_at"))?,
                seq: row.get("sighting_seq"),
            });
            listing.papers.push(paper_from_row(row)?);
        }
        Ok(listing)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_store;
    use super::*;
    use crate::domain::Paper;
    use crate::domain::{AnnounceType, ArxivId, FetchedPaper, PaperId};
    use chrono::Utc;

    fn fetched(id: &str, upvotes: Option<i64>, d: &str) -> FetchedPaper {
        let pid = PaperId::arxiv(&ArxivId::parse(id).unwrap());
        let mut paper = Paper::new(pid, id, "An abstract.", "https://arxiv.org/abs/x");
        paper.upvotes = upvotes;
        FetchedPaper {
            paper,
            day: d.parse().unwrap(),
            announce_type: Some(AnnounceType::New),
        }
    }

    fn ids(list: &PaperListing) -> Vec<&str> {
        list.papers.iter().map(|p| p.id.as_str()).collect()
    }

    #[tokio::test]
    async fn papers_are_listed_by_upvotes_then_announcement_order_then_unvoted_by_id() {
        let (store, _dir) = test_store().await;
        let now = Utc::now();
        let d = "2026-06-12";
        store
            .store_fetched(
                "hf",
                &[
                    fetched("2606.00009", Some(5), d),
                    fetched("2606.00003", Some(40), d),
                    fetched("2606.00001", Some(5), d),
                ],
                now,
            )
            .await
            .unwrap();
        store
            .store_fetched(
                "rss",
                &[
                    fetched("2606.00007", None, d),
                    fetched("2606.00002", None, d),
                    fetched("2606.00009", None, d),
                    fetched("2606.00004", None, "2026-06-11"),
                ],
                now,
            )
            .await
            .unwrap();
        let day: NaiveDate = d.parse().unwrap();
        let list = store.listed_papers(day, day).await.unwrap();
        assert_eq!(
            ids(&list),
            [
                "2606.00003",
                "2606.00009",
                "2606.00001",
                "2606.00002",
                "2606.00007"
            ]
        );
        assert_eq!(list.about[1].sources, ["hf", "rss"]);
        assert_eq!(list.about[1].day, day);
        let both = store
            .listed_papers(day.pred_opt().unwrap(), day)
            .await
            .unwrap();
        assert_eq!(both.papers.len(), 6);
        assert_eq!(store.latest_announced_day().await.unwrap(), Some(day));
        assert_eq!(
            store.announced_day_before(day).await.unwrap(),
            day.pred_opt()
        );
        assert_eq!(store.announced_day_after(day).await.unwrap(), None);
        assert_eq!(
            store
                .announced_day_after(day.pred_opt().unwrap())
                .await
                .unwrap(),
            Some(day)
        );
        let generation = store.listing_generation().await.unwrap();
        store
            .store_fetched("rss", &[fetched("2606.00002", None, "2026-06-13")], now)
            .await
            .unwrap();
        assert_ne!(store.listing_generation().await.unwrap(), generation);
    }

    #[tokio::test]
    async fn an_empty_store_has_no_announced_day() {
        let (store, _dir) = test_store().await;
        assert_eq!(store.latest_announced_day().await.unwrap(), None);
        let day: NaiveDate = "2026-06-12".parse().unwrap();
        assert!(store
            .listed_papers(day, day)
            .await
            .unwrap()
            .papers
            .is_empty());
    }
}
