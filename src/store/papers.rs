//! Papers, their sightings per source and day, and HTTP validators.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::AssertSqlSafe;
use sqlx::{Row, Transaction};

use super::{day, parse_ts, ts, Backend, Db, DbError, DbResult, DbRow, StoreReport};
use crate::domain::{FetchedPaper, Paper, PaperId};

pub(super) const PAPER_COLUMNS: &str = "id, version, title, abstract, authors, categories, url, pdf_url, doi, \
    journal_ref, comment, upvotes, num_comments, ai_keywords, github_repo, project_page, published_at";

impl Backend {
    /// Stores one source's papers in a single transaction: a paper already
    /// known (from any source) is merged with the new view, never duplicated;
    /// each (paper, source, day) sighting is recorded once. Either everything
    /// is stored or nothing is.
    pub async fn store_fetched(
        &self,
        source: &str,
        papers: &[FetchedPaper],
        now: DateTime<Utc>,
    ) -> DbResult<StoreReport> {
        let mut report = StoreReport::default();
        let mut tx = self.begin_write().await?;
        for fetched in papers {
            let existing = load_paper(&mut tx, &fetched.paper.id).await?;
            match existing {
                None => {
                    write_paper(&mut tx, &fetched.paper, now, true).await?;
                    report.new_papers += 1;
                    report.changed.push(fetched.paper.id.clone());
                }
                Some(mut stored) => {
                    let before = stored.clone();
                    stored.merge(fetched.paper.clone());
                    if stored != before {
                        write_paper(&mut tx, &stored, now, false).await?;
                        report.updated_papers += 1;
                        report.changed.push(fetched.paper.id.clone());
                    }
                }
            }
            let inserted = sqlx::query(
                "INSERT INTO paper_sightings (paper_id, source, day, announce_type, seen_at)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind(fetched.paper.id.as_str())
            .bind(source)
            .bind(day(fetched.day))
            .bind(fetched.announce_type.map(|a| a.as_str()))
            .bind(ts(now))
            .execute(&mut **tx)
            .await?
            .rows_affected();
            report.new_sightings += inserted as usize;
        }
        tx.commit().await?;
        Ok(report)
    }

    /// Stores a paper looked up by id (a `like:ID` topic naming a paper not
    /// stored yet) without any sighting: it is never announced on a day,
    /// so no digest carries it; a paper already stored is left as it is.
    /// Returns whether it was new.
    pub async fn store_looked_up(&self, paper: &Paper, now: DateTime<Utc>) -> DbResult<bool> {
        let mut tx = self.begin_write().await?;
        let new = load_paper(&mut tx, &paper.id).await?.is_none();
        if new {
            write_paper(&mut tx, paper, now, true).await?;
        }
        tx.commit().await?;
        Ok(new)
    }

    /// Every paper announced on a day in `from..=to`, oldest sighting first,
    /// then by id, so runs are deterministic.
    pub async fn papers_between(&self, from: NaiveDate, to: NaiveDate) -> DbResult<Vec<Paper>> {
        let sql = format!(
            "SELECT {PAPER_COLUMNS} FROM papers p JOIN (
                 SELECT paper_id, MIN(day) AS first_day FROM paper_sightings
                 WHERE day BETWEEN $1 AND $2 GROUP BY paper_id
             ) s ON s.paper_id = p.id
             ORDER BY s.first_day, p.id"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(day(from))
            .bind(day(to))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(paper_from_row).collect()
    }

    /// Loads papers by id, in the order given; unknown ids are skipped.
    pub async fn papers_by_id(&self, ids: &[PaperId]) -> DbResult<Vec<Paper>> {
        let mut out = Vec::with_capacity(ids.len());
        let mut conn = self.pool.acquire().await?;
        for id in ids {
            let sql = format!("SELECT {PAPER_COLUMNS} FROM papers WHERE id = $1");
            if let Some(row) = sqlx::query(AssertSqlSafe(sql))
                .bind(id.as_str())
                .fetch_optional(&mut *conn)
                .await?
            {
                out.push(paper_from_row(&row)?);
            }
        }
        Ok(out)
    }

    pub async fn paper_count(&self) -> DbResult<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM papers")
            .fetch_one(&self.pool)
            .await?)
    }

    /// The HTTP validators saved for every URL.
    pub async fn validators(&self) -> DbResult<HashMap<String, (Option<String>, Option<String>)>> {
        let rows = sqlx::query("SELECT url, etag, last_modified FROM source_validators")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.get("url"), (r.get("etag"), r.get("last_modified"))))
            .collect())
    }

    pub async fn save_validator(
        &self,
        url: &str,
        etag: Option<&str>,
        last_modified: Option<&str>,
        now: DateTime<Utc>,
    ) -> DbResult<()> {
        sqlx::query(
            "INSERT INTO source_validators (url, etag, last_modified, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (url) DO UPDATE SET etag = excluded.etag,
                 last_modified = excluded.last_modified, updated_at = excluded.updated_at",
        )
        .bind(url)
        .bind(etag)
        .bind(last_modified)
        .bind(ts(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

async fn load_paper(tx: &mut Transaction<'_, Db>, id: &PaperId) -> DbResult<Option<Paper>> {
    let sql = format!("SELECT {PAPER_COLUMNS} FROM papers WHERE id = $1");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(id.as_str())
        .fetch_optional(&mut **tx)
        .await?;
    row.as_ref().map(paper_from_row).transpose()
}

async fn write_paper(
    tx: &mut Transaction<'_, Db>,
    p: &Paper,
    now: DateTime<Utc>,
    insert: bool,
) -> DbResult<()> {
    let json = |v: &Vec<String>| serde_json::to_string(v).expect("strings serialise");
    let sql = if insert {
        "INSERT INTO papers (id, version, title, abstract, authors, categories, url, pdf_url, doi,
             journal_ref, comment, upvotes, num_comments, ai_keywords, github_repo, project_page,
             published_at, first_seen_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $18)"
    } else {
        "UPDATE papers SET version = $2, title = $3, abstract = $4, authors = $5, categories = $6,
             url = $7, pdf_url = $8, doi = $9, journal_ref = $10, comment = $11, upvotes = $12,
             num_comments = $13, ai_keywords = $14, github_repo = $15, project_page = $16,
             published_at = $17, updated_at = $18
         WHERE id = $1"
    };
    sqlx::query(sql)
        .bind(p.id.as_str())
        .bind(p.version.map(i64::from))
        .bind(&p.title)
        .bind(&p.abstract_text)
        .bind(json(&p.authors))
        .bind(json(&p.categories))
        .bind(&p.url)
        .bind(&p.pdf_url)
        .bind(&p.doi)
        .bind(&p.journal_ref)
        .bind(&p.comment)
        .bind(p.upvotes)
        .bind(p.num_comments)
        .bind(json(&p.ai_keywords))
        .bind(&p.github_repo)
        .bind(&p.project_page)
        .bind(p.published_at.map(ts))
        .bind(ts(now))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub(super) fn paper_from_row(row: &DbRow) -> DbResult<Paper> {
    let list = |col: &str| -> DbResult<Vec<String>> {
        let raw: String = row.get(col);
        serde_json::from_str(&raw).map_err(|e| DbError::Corrupt(format!("papers.{col}: {e}")))
    };
    let published: Option<String> = row.get("published_at");
    Ok(Paper {
        id: PaperId::from_stored(row.get("id")),
        version: row.get::<Option<i64>, _>("version").map(|v| v as u32),
        title: row.get("title"),
        abstract_text: row.get("abstract"),
        authors: list("authors")?,
        categories: list("categories")?,
        url: row.get("url"),
        pdf_url: row.get("pdf_url"),
        doi: row.get("doi"),
        journal_ref: row.get("journal_ref"),
        comment: row.get("comment"),
        upvotes: row.get("upvotes"),
        num_comments: row.get("num_comments"),
        ai_keywords: list("ai_keywords")?,
        github_repo: row.get("github_repo"),
        project_page: row.get("project_page"),
        published_at: published.as_deref().map(parse_ts).transpose()?,
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_store;
    use super::*;
    use crate::domain::{AnnounceType, ArxivId};

    fn fetched(id: &str, title: &str, d: &str) -> FetchedPaper {
        let pid = PaperId::arxiv(&ArxivId::parse(id).unwrap());
        FetchedPaper {
            paper: Paper::new(
                pid,
                title,
                "An abstract.",
                &format!("https://arxiv.org/abs/{id}"),
            ),
            day: d.parse().unwrap(),
            announce_type: Some(AnnounceType::New),
        }
    }

    #[tokio::test]
    async fn a_paper_seen_by_two_sources_is_one_row_with_the_fields_of_both() {
        let (store, _dir) = test_store().await;
        let now = Utc::now();
        let mut hf = fetched("2606.00467", "Title", "2026-06-12");
        hf.paper.upvotes = Some(42);
        let mut rss = fetched("2606.00467v2", "Title", "2026-06-12");
        rss.paper.categories = vec!["cs.LG".into()];
        rss.paper.doi = Some("10.1/abc".into());
        let r1 = store.store_fetched("hf", &[hf], now).await.unwrap();
        let r2 = store.store_fetched("rss", &[rss], now).await.unwrap();
        assert_eq!((r1.new_papers, r2.new_papers, r2.updated_papers), (1, 0, 1));
        let day: NaiveDate = "2026-06-12".parse().unwrap();
        let papers = store.papers_between(day, day).await.unwrap();
        assert_eq!(papers.len(), 1);
        assert_eq!(papers[0].upvotes, Some(42));
        assert_eq!(papers[0].categories, vec!["cs.LG"]);
        assert_eq!(papers[0].doi.as_deref(), Some("10.1/abc"));
    }

    #[tokio::test]
    async fn storing_the_same_fetch_twice_changes_nothing() {
        let (store, _dir) = test_store().await;
        let batch = vec![
            fetched("2606.00001", "A", "2026-06-12"),
            fetched("2606.00002", "B", "2026-06-12"),
        ];
        store.store_fetched("s", &batch, Utc::now()).await.unwrap();
        let again = store.store_fetched("s", &batch, Utc::now()).await.unwrap();
        assert_eq!(again, StoreReport::default());
        assert_eq!(store.paper_count().await.unwrap(), 2);
    }

    #[tokio::test]
    async fn a_changed_title_replaces_the_stored_one() {
        let (store, _dir) = test_store().await;
        store
            .store_fetched(
                "s",
                &[fetched("2606.00001", "Old title", "2026-06-12")],
                Utc::now(),
            )
            .await
            .unwrap();
        store
            .store_fetched(
                "s",
                &[fetched("2606.00001", "New title", "2026-06-13")],
                Utc::now(),
            )
            .await
            .unwrap();
        let p = store
            .papers_by_id(&[PaperId::from_stored("2606.00001".into())])
            .await
            .unwrap();
        assert_eq!(p[0].title, "New title");
        let d12: NaiveDate = "2026-06-12".parse().unwrap();
        let d13: NaiveDate = "2026-06-13".parse().unwrap();
        assert_eq!(store.papers_between(d13, d13).await.unwrap().len(), 1);
        assert_eq!(store.papers_between(d12, d13).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn validators_round_trip() {
        let (store, _dir) = test_store().await;
        store
            .save_validator("http://x/feed", Some("\"abc\""), None, Utc::now())
            .await
            .unwrap();
        let v = store.validators().await.unwrap();
        assert_eq!(v["http://x/feed"], (Some("\"abc\"".to_string()), None));
    }
}
