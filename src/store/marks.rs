//! A subscriber's "More like this" / "Less like this" marks and their
//! ranking switches (table `paper_marks`, columns `ranking` and
//! `recommendations` of `subscribers`).
//!
//! One mark per subscriber and paper: marking again replaces it (an upsert
//! on the primary key, never read-then-write). Marks are personal data:
//! nothing here logs them, and they are deleted with the subscriber.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Row, Transaction};

use super::ranking::write_profile;
use super::{
    parse_ts, ts, Backend, Db, DbError, DbResult, MarkVector, MarkedPaper, ProfileBuilder,
    RankingMarks, RankingSwitches, WriteTx,
};
use crate::domain::{PaperId, SubscriberId};
use crate::ranking::Mark;

fn mark_name(mark: Mark) -> &'static str {
    match mark {
        Mark::More => "more",
        Mark::Less => "less",
    }
}

fn mark_from_db(name: &str) -> DbResult<Mark> {
    match name {
        "more" => Ok(Mark::More),
        "less" => Ok(Mark::Less),
        other => Err(DbError::Corrupt(format!("unknown mark {other:?}"))),
    }
}

impl Backend {
    /// Records `mark` on `paper` for subscriber `id` if `link_version` is
    /// still theirs (`NotFound` otherwise, or when the paper is not
    /// stored). Idempotent: the same mark again changes nothing, the other
    /// mark replaces it. A change rebuilds their stored profile with
    /// `profile` in the same transaction.
    pub async fn mark_paper(
        &self,
        id: SubscriberId,
        link_version: i64,
        paper: &PaperId,
        mark: Mark,
        now: DateTime<Utc>,
        profile: &ProfileBuilder,
    ) -> DbResult<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "INSERT INTO paper_marks (subscriber_id, paper_id, mark, marked_at)
             SELECT s.id, p.id, $1, $2 FROM subscribers s, papers p
             WHERE s.id = $3 AND s.link_version = $4 AND p.id = $5
             ON CONFLICT (subscriber_id, paper_id) DO UPDATE
             SET mark = excluded.mark, marked_at = excluded.marked_at
             WHERE paper_marks.mark <> excluded.mark",
        )
        .bind(mark_name(mark))
        .bind(ts(now))
        .bind(id)
        .bind(link_version)
        .bind(paper.as_str())
        .execute(&mut **tx)
        .await?;
        if done.rows_affected() == 0 {
            // Either nothing changed (the same mark again) or nothing
            // matched (revoked link, unknown paper): tell them apart.
            let same: Option<String> = sqlx::query_scalar(
                "SELECT m.mark FROM paper_marks m JOIN subscribers s ON s.id = m.subscriber_id
                 WHERE m.subscriber_id = $1 AND s.link_version = $2 AND m.paper_id = $3",
            )
            .bind(id)
            .bind(link_version)
            .bind(paper.as_str())
            .fetch_optional(&mut **tx)
            .await?;
            tx.rollback().await?;
            if same.as_deref() != Some(mark_name(mark)) {
                return Err(DbError::NotFound);
            }
            return Ok(());
        }
        rebuild_profile(&mut tx, id, now, profile).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes subscriber `id`'s mark on `paper`, if `link_version` is
    /// still theirs (`NotFound` otherwise), and rebuilds their stored
    /// profile with `profile` in the same transaction. Removing a mark
    /// that is not there is not an error.
    pub async fn unmark_paper(
        &self,
        id: SubscriberId,
        link_version: i64,
        paper: &PaperId,
        now: DateTime<Utc>,
        profile: &ProfileBuilder,
    ) -> DbResult<()> {
        let mut tx = self.begin_write().await?;
        let current: Option<i64> =
            sqlx::query_scalar("SELECT link_version FROM subscribers WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut **tx)
                .await?;
        if current != Some(link_version) {
            tx.rollback().await?;
            return Err(DbError::NotFound);
        }
        let removed =
            sqlx::query("DELETE FROM paper_marks WHERE subscriber_id = $1 AND paper_id = $2")
                .bind(id)
                .bind(paper.as_str())
                .execute(&mut **tx)
                .await?
                .rows_affected();
        if removed > 0 {
            rebuild_profile(&mut tx, id, now, profile).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Subscriber `id`'s marks, most recent first.
    pub async fn marks_of(&self, id: SubscriberId) -> DbResult<Vec<MarkedPaper>> {
        Ok(self.marks_and_switches(id).await?.1)
    }

    /// Subscriber `id`'s switches and marks (as [`Store::marks_of`]), in
    /// one statement: the manage page shows both on every view.
    pub async fn marks_and_switches(
        &self,
        id: SubscriberId,
    ) -> DbResult<(RankingSwitches, Vec<MarkedPaper>)> {
        let rows = sqlx::query(
            "SELECT s.ranking, s.recommendations,
                    m.paper_id, p.title, p.url, m.mark, m.marked_at
             FROM subscribers s
             LEFT JOIN paper_marks m ON m.subscriber_id = s.id
             LEFT JOIN papers p ON p.id = m.paper_id
             WHERE s.id = $1
             ORDER BY m.marked_at DESC, m.paper_id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        let first = rows.first().ok_or(DbError::NotFound)?;
        let switches = RankingSwitches {
            ranking: first.get::<i64, _>("ranking") != 0,
            recommendations: first.get::<i64, _>("recommendations") != 0,
        };
        let marks = rows
            .iter()
            // No mark (the subscriber's row alone), or a paper gone.
            .filter(|r| r.get::<Option<String>, _>("title").is_some())
            .map(|r| {
                Ok(MarkedPaper {
                    paper_id: PaperId::from_stored(r.get("paper_id")),
                    title: r.get("title"),
                    url: r.get("url"),
                    mark: mark_from_db(r.get("mark"))?,
                    marked_at: parse_ts(r.get("marked_at"))?,
                })
            })
            .collect::<DbResult<_>>()?;
        Ok((switches, marks))
    }

    /// Subscriber `id`'s switches.
    pub async fn ranking_switches(&self, id: SubscriberId) -> DbResult<RankingSwitches> {
        let row = sqlx::query("SELECT ranking, recommendations FROM subscribers WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(DbError::NotFound)?;
        Ok(RankingSwitches {
            ranking: row.get::<i64, _>("ranking") != 0,
            recommendations: row.get::<i64, _>("recommendations") != 0,
        })
    }

    /// Saves subscriber `id`'s switches if `link_version` is still theirs;
    /// `NotFound` otherwise.
    pub async fn set_ranking_switches(
        &self,
        id: SubscriberId,
        link_version: i64,
        switches: RankingSwitches,
    ) -> DbResult<()> {
        let done = sqlx::query(
            "UPDATE subscribers SET ranking = $1, recommendations = $2
             WHERE id = $3 AND link_version = $4",
        )
        .bind(i64::from(switches.ranking))
        .bind(i64::from(switches.recommendations))
        .bind(id)
        .bind(link_version)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(DbError::NotFound);
        }
        Ok(())
    }

    /// The marks of the subscribers with ids in `first..=last` who have
    /// ranking on, for a digest run's page; subscribers with no marks are
    /// absent. Marks in paper id order.
    pub async fn ranking_marks_in_range(
        &self,
        first: SubscriberId,
        last: SubscriberId,
    ) -> DbResult<HashMap<SubscriberId, RankingMarks>> {
        let rows = sqlx::query(
            "SELECT m.subscriber_id, m.paper_id, m.mark, s.recommendations
             FROM paper_marks m JOIN subscribers s ON s.id = m.subscriber_id
             WHERE m.subscriber_id BETWEEN $1 AND $2 AND s.ranking = 1
             ORDER BY m.subscriber_id, m.paper_id",
        )
        .bind(first)
        .bind(last)
        .fetch_all(&self.pool)
        .await?;
        let mut out: HashMap<SubscriberId, RankingMarks> = HashMap::new();
        for r in rows {
            let entry = out
                .entry(r.get::<SubscriberId, _>("subscriber_id"))
                .or_insert_with(|| RankingMarks {
                    marks: Vec::new(),
                    recommendations: r.get::<i64, _>("recommendations") != 0,
                });
            entry.marks.push((
                PaperId::from_stored(r.get("paper_id")),
                mark_from_db(r.get("mark"))?,
            ));
        }
        Ok(out)
    }

    /// The marks of the subscribers with ids in `first..=last`, whatever
    /// their switches, in paper id order: what `subscribers export` writes
    /// beside their topics. Subscribers with no marks are absent.
    pub async fn marks_in_range(
        &self,
        first: SubscriberId,
        last: SubscriberId,
    ) -> DbResult<HashMap<SubscriberId, Vec<(PaperId, Mark)>>> {
        let rows = sqlx::query(
            "SELECT subscriber_id, paper_id, mark FROM paper_marks
             WHERE subscriber_id BETWEEN $1 AND $2
             ORDER BY subscriber_id, paper_id",
        )
        .bind(first)
        .bind(last)
        .fetch_all(&self.pool)
        .await?;
        let mut out: HashMap<SubscriberId, Vec<(PaperId, Mark)>> = HashMap::new();
        for r in rows {
            out.entry(r.get("subscriber_id")).or_default().push((
                PaperId::from_stored(r.get("paper_id")),
                mark_from_db(r.get("mark"))?,
            ));
        }
        Ok(out)
    }
}

/// Inserts imported marks (`(subscriber, index into papers, mark)`), all
/// marked at `now`, in one statement; each subscriber and paper at most
/// once (PostgreSQL refuses a row updated twice by one statement).
pub(super) async fn insert_marks(
    tx: &mut Transaction<'_, Db>,
    rows: &[(SubscriberId, u32, Mark)],
    papers: &[PaperId],
    now: DateTime<Utc>,
) -> DbResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let at = ts(now);
    let mut q = QueryBuilder::<Db>::new(
        "INSERT INTO paper_marks (subscriber_id, paper_id, mark, marked_at) ",
    );
    q.push_values(rows, |mut b, &(id, paper, mark)| {
        b.push_bind(id)
            .push_bind(papers[paper as usize].as_str().to_string())
            .push_bind(mark_name(mark))
            .push_bind(at.clone());
    });
    q.push(
        " ON CONFLICT (subscriber_id, paper_id) DO UPDATE
         SET mark = excluded.mark, marked_at = excluded.marked_at",
    );
    q.build().execute(&mut **tx).await?;
    Ok(())
}

/// Rebuilds subscriber `id`'s stored profile from all their marks (with
/// their papers' stored vectors), inside the mark's transaction.
async fn rebuild_profile(
    tx: &mut WriteTx,
    id: SubscriberId,
    now: DateTime<Utc>,
    profile: &ProfileBuilder,
) -> DbResult<()> {
    let rows = sqlx::query(
        "SELECT m.paper_id, m.mark, v.vector FROM paper_marks m
         LEFT JOIN paper_vectors v ON v.paper_id = m.paper_id
         WHERE m.subscriber_id = $1 ORDER BY m.paper_id",
    )
    .bind(id)
    .fetch_all(&mut ***tx)
    .await?;
    let marks = rows
        .iter()
        .map(|r| {
            Ok(MarkVector {
                paper: PaperId::from_stored(r.get("paper_id")),
                mark: mark_from_db(r.get("mark"))?,
                vector: r.get("vector"),
            })
        })
        .collect::<DbResult<Vec<_>>>()?;
    let blob = profile(&marks);
    write_profile(tx, id, blob.as_deref(), now).await
}

#[cfg(test)]
mod tests {
    use super::super::test_store;
    use super::*;
    use crate::domain::{FetchedPaper, Paper, SubscriberEmail};
    use crate::store::{ImportBatch, ImportedSubscriber};

    /// A stand-in profile: per mark its kind (1 more, 2 less) and its
    /// vector's first byte.
    fn profile(marks: &[MarkVector]) -> Option<Vec<u8>> {
        (!marks.is_empty()).then(|| {
            marks
                .iter()
                .flat_map(|m| {
                    let kind = if m.mark == Mark::More { 1 } else { 2 };
                    [kind, m.vector.as_ref().map_or(0, |v| v[0])]
                })
                .collect()
        })
    }

    /// An import writes each line's marks in place of the subscriber's
    /// and the profile built from them; a paper not stored fails it whole.
    #[tokio::test]
    async fn an_import_replaces_marks_and_profiles_and_an_unknown_paper_fails_it_whole() {
        let (store, _dir) = test_store().await;
        let now = Utc::now();
        let ids: Vec<PaperId> = ["2406.00001", "2406.00002", "2406.00003"]
            .into_iter()
            .map(|s| PaperId::from_stored(s.into()))
            .collect();
        let fetched: Vec<FetchedPaper> = ids
            .iter()
            .map(|id| FetchedPaper {
                paper: Paper::new(id.clone(), "A paper", "", "https://arxiv.org/abs/x"),
                day: now.date_naive(),
                announce_type: None,
            })
            .collect();
        store.store_fetched("test", &fetched, now).await.unwrap();
        let email = |s: &str| SubscriberEmail::parse(s).unwrap();
        let ada = store
            .upsert_active(&email("ada@example.org"), &[], now)
            .await
            .unwrap()
            .id();
        let v = store.subscriber_by_id(ada).await.unwrap().link_version;
        store
            .mark_paper(ada, v, &ids[2], Mark::More, now, &profile)
            .await
            .unwrap();
        let reader = |e: &str, marks: Option<Vec<(u32, Mark)>>| ImportedSubscriber {
            email: email(e),
            topics: Vec::new(),
            marks,
            choices: None,
        };
        // Stand-in profile: per mark its paper index and kind.
        let build = |marks: &[(u32, Mark)]| -> Option<Vec<u8>> {
            (!marks.is_empty()).then(|| {
                marks
                    .iter()
                    .flat_map(|&(i, m)| [i as u8, (m == Mark::More) as u8])
                    .collect()
            })
        };
        let mut batch = ImportBatch {
            subscribers: vec![
                reader(
                    "ada@example.org",
                    Some(vec![(0, Mark::More), (1, Mark::Less)]),
                ),
                reader("bob@example.org", Some(vec![(1, Mark::More)])),
                reader("cy@example.org", None),
            ],
            papers: ids[..2].to_vec(),
        };
        store.import_active(&batch, now, &build).await.unwrap();
        let marks = |id| {
            let store = &store;
            async move {
                store
                    .marks_of(id)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|m| (m.paper_id.as_str().to_string(), m.mark))
                    .collect::<std::collections::BTreeSet<_>>()
            }
        };
        let bob = store
            .subscriber_id_by_email(&email("bob@example.org"))
            .await
            .unwrap();
        let cy = store
            .subscriber_id_by_email(&email("cy@example.org"))
            .await
            .unwrap();
        assert_eq!(
            marks(ada).await,
            [
                ("2406.00001".into(), Mark::More),
                ("2406.00002".into(), Mark::Less)
            ]
            .into(),
            "the line's marks replaced ada's mark on 2406.00003"
        );
        assert_eq!(marks(bob).await, [("2406.00002".into(), Mark::More)].into());
        assert!(marks(cy).await.is_empty());
        // What `subscribers export` writes: every subscriber's marks in
        // paper id order, those without marks absent.
        assert_eq!(
            store.marks_in_range(ada, cy).await.unwrap(),
            [
                (
                    ada,
                    vec![(ids[0].clone(), Mark::More), (ids[1].clone(), Mark::Less)]
                ),
                (bob, vec![(ids[1].clone(), Mark::More)]),
            ]
            .into()
        );
        assert_eq!(stored(&store, ada).await, Some(vec![0, 1, 1, 0]));
        assert_eq!(stored(&store, bob).await, Some(vec![1, 1]));
        assert_eq!(stored(&store, cy).await, None);

        // A paper gone from the store: nothing of the import is written.
        batch.papers.push(PaperId::from_stored("2406.99999".into()));
        batch.subscribers = vec![
            reader("bob@example.org", Some(vec![(0, Mark::Less)])),
            reader("dee@example.org", Some(vec![(2, Mark::More)])),
        ];
        assert!(store.import_active(&batch, now, &build).await.is_err());
        assert_eq!(marks(bob).await, [("2406.00002".into(), Mark::More)].into());
        assert_eq!(stored(&store, bob).await, Some(vec![1, 1]));
        assert!(matches!(
            store
                .subscriber_id_by_email(&email("dee@example.org"))
                .await,
            Err(DbError::NotFound)
        ));
    }

    async fn stored(store: &crate::store::Store, id: SubscriberId) -> Option<Vec<u8>> {
        store
            .ranking_profiles_in_range(id, id, chrono::DateTime::<Utc>::MIN_UTC)
            .await
            .unwrap()
            .remove(&id)
    }

    #[tokio::test]
    async fn a_mark_is_an_upsert_and_the_other_mark_replaces_it() {
        let (store, _dir) = test_store().await;
        let now = Utc::now();
        let email = SubscriberEmail::parse("ada@example.org").unwrap();
        store.upsert_active(&email, &[], now).await.unwrap();
        let sub = store.subscriber_by_email(&email).await.unwrap();
        let paper = Paper::new(
            PaperId::from_stored("2406.00001".into()),
            "Surface codes",
            "",
            "https://arxiv.org/abs/2406.00001",
        );
        store
            .store_fetched(
                "test",
                &[FetchedPaper {
                    paper: paper.clone(),
                    day: now.date_naive(),
                    announce_type: None,
                }],
                now,
            )
            .await
            .unwrap();
        let v = sub.link_version;
        store
            .put_paper_vectors(&[(paper.id.clone(), vec![7])])
            .await
            .unwrap();
        store
            .mark_paper(sub.id, v, &paper.id, Mark::More, now, &profile)
            .await
            .unwrap();
        store
            .mark_paper(sub.id, v, &paper.id, Mark::More, now, &profile)
            .await
            .unwrap();
        let marks = store.marks_of(sub.id).await.unwrap();
        assert_eq!(marks.len(), 1);
        assert_eq!(marks[0].mark, Mark::More);
        store
            .mark_paper(sub.id, v, &paper.id, Mark::Less, now, &profile)
            .await
            .unwrap();
        let marks = store.marks_of(sub.id).await.unwrap();
        assert_eq!((marks.len(), marks[0].mark), (1, Mark::Less));
        // The profile followed each change, built from every mark with its
        // paper's stored vector.
        assert_eq!(stored(&store, sub.id).await, Some(vec![2, 7]));

        let unknown = PaperId::from_stored("2406.99999".into());
        assert!(matches!(
            store
                .mark_paper(sub.id, v, &unknown, Mark::More, now, &profile)
                .await,
            Err(DbError::NotFound)
        ));
        assert!(matches!(
            store
                .mark_paper(sub.id, v + 1, &paper.id, Mark::More, now, &profile)
                .await,
            Err(DbError::NotFound)
        ));
        assert_eq!(store.marks_of(sub.id).await.unwrap()[0].mark, Mark::Less);

        let page = store.ranking_marks_in_range(sub.id, sub.id).await.unwrap();
        assert_eq!(page[&sub.id].marks, vec![(paper.id.clone(), Mark::Less)]);
        store
            .set_ranking_switches(
                sub.id,
                v,
                RankingSwitches {
                    ranking: false,
                    recommendations: true,
                },
            )
            .await
            .unwrap();
        assert!(store
            .ranking_marks_in_range(sub.id, sub.id)
            .await
            .unwrap()
            .is_empty());

        store
            .unmark_paper(sub.id, v, &paper.id, now, &profile)
            .await
            .unwrap();
        assert!(store.marks_of(sub.id).await.unwrap().is_empty());
        assert!(
            stored(&store, sub.id).await.is_none(),
            "no marks left: the profile is deleted with the last one"
        );
    }
}
