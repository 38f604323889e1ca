//! Ranking's stored, derived data (tables `paper_vectors`,
//! `ranking_df_days`, `ranking_profiles`): each paper's vector, each
//! announced day's document frequencies, each subscriber's profile. All
//! three are blobs of `crate::ranking`'s codecs; this file only keeps them.
//!
//! A paper counts in the document frequencies of the first day it was
//! announced (its earliest sighting), once, whichever sources report it.
//! A day's row is replaced whole when more papers arrive for it; its
//! `revision` goes up each time, so a process that summed an older
//! revision in memory knows to rebuild its sum. Profiles are personal data
//! (derived from marks): they are deleted with the subscriber and never
//! logged.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{AssertSqlSafe, QueryBuilder, Row, Transaction};

use super::papers::{paper_from_row, PAPER_COLUMNS};
use super::{day, parse_day, push_list, ts, Backend, Db, DbResult, DfDay};
use crate::domain::{Paper, PaperId, SubscriberId};

/// Ids per `IN (…)` list: far under both engines' limit on parameters.
const IDS_PER_STATEMENT: usize = 500;

impl Backend {
    /// The stored vector blobs of those of `ids` that have one.
    pub async fn paper_vectors(&self, ids: &[PaperId]) -> DbResult<HashMap<PaperId, Vec<u8>>> {
        let mut out = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(IDS_PER_STATEMENT) {
            let mut q = QueryBuilder::<Db>::new(
                "SELECT paper_id, vector FROM paper_vectors WHERE paper_id IN ",
            );
            push_list(&mut q, chunk.iter().map(|id| id.as_str().to_string()));
            for row in q.build().fetch_all(&self.pool).await? {
                out.insert(
                    PaperId::from_stored(row.get("paper_id")),
                    row.get::<Vec<u8>, _>("vector"),
                );
            }
        }
        Ok(out)
    }

    /// Stores (or replaces) papers' vector blobs, in one transaction.
    /// A paper no longer stored is skipped.
    pub async fn put_paper_vectors(&self, vectors: &[(PaperId, Vec<u8>)]) -> DbResult<()> {
        if vectors.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        for (id, blob) in vectors {
            sqlx::query(
                "INSERT INTO paper_vectors (paper_id, vector)
                 SELECT id, $1 FROM papers WHERE id = $2
                 ON CONFLICT (paper_id) DO UPDATE SET vector = excluded.vector",
            )
            .bind(blob.as_slice())
            .bind(id.as_str())
            .execute(&mut **tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Up to `limit` stored papers without a vector, by id after `after`:
    /// what a backfill computes.
    pub async fn papers_without_vector(&self, after: &str, limit: i64) -> DbResult<Vec<Paper>> {
        let sql = format!(
            "SELECT {PAPER_COLUMNS} FROM papers p
             WHERE p.id > $1 AND NOT EXISTS (SELECT 1 FROM paper_vectors v WHERE v.paper_id = p.id)
             ORDER BY p.id LIMIT $2"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(after)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(paper_from_row).collect()
    }

    /// The first day each of `ids` was announced (papers never announced,
    /// or not stored, are absent).
    pub async fn first_days(&self, ids: &[PaperId]) -> DbResult<HashMap<PaperId, NaiveDate>> {
        let mut out = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(IDS_PER_STATEMENT) {
            let mut q = QueryBuilder::<Db>::new(
                "SELECT paper_id, MIN(day) AS first_day FROM paper_sightings WHERE paper_id IN ",
            );
            push_list(&mut q, chunk.iter().map(|id| id.as_str().to_string()));
            q.push(" GROUP BY paper_id");
            for row in q.build().fetch_all(&self.pool).await? {
                out.insert(
                    PaperId::from_stored(row.get("paper_id")),
                    parse_day(row.get("first_day"))?,
                );
            }
        }
        Ok(out)
    }

    /// The papers first announced on `d` (no sighting before it), by id:
    /// the papers `d`'s document frequencies count.
    pub async fn papers_first_announced(&self, d: NaiveDate) -> DbResult<Vec<Paper>> {
        let sql = format!(
            "SELECT {PAPER_COLUMNS} FROM papers p
             WHERE EXISTS (SELECT 1 FROM paper_sightings s WHERE s.paper_id = p.id AND s.day = $1)
               AND NOT EXISTS (SELECT 1 FROM paper_sightings e
                               WHERE e.paper_id = p.id AND e.day < $1)
             ORDER BY p.id"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(day(d))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(paper_from_row).collect()
    }

    /// Announced days (in `from..=to`) that have papers but no stored
    /// document frequencies: what a backfill counts.
    pub async fn days_without_df(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> DbResult<Vec<NaiveDate>> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT s.day FROM paper_sightings s
             WHERE s.day BETWEEN $1 AND $2
               AND NOT EXISTS (SELECT 1 FROM ranking_df_days d WHERE d.day = s.day)
             ORDER BY s.day",
        )
        .bind(day(from))
        .bind(day(to))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|d| parse_day(d)).collect()
    }

    /// Replaces day `d`'s document frequencies with `blob` (of `papers`
    /// papers), in one transaction; returns the row it replaced (if any)
    /// and the new revision.
    pub async fn replace_df_day(
        &self,
        d: NaiveDate,
        papers: u32,
        blob: &[u8],
        now: DateTime<Utc>,
    ) -> DbResult<(Option<DfDay>, i64)> {
        let mut tx = self.begin_write().await?;
        let old = sqlx::query("SELECT day, revision, df FROM ranking_df_days WHERE day = $1")
            .bind(day(d))
            .fetch_optional(&mut **tx)
            .await?
            .map(|r| df_day_from_row(&r))
            .transpose()?;
        let revision: i64 = sqlx::query_scalar(
            "INSERT INTO ranking_df_days (day, papers, df, revision, updated_at)
             VALUES ($1, $2, $3, 1, $4)
             ON CONFLICT (day) DO UPDATE SET papers = excluded.papers, df = excluded.df,
                 revision = ranking_df_days.revision + 1, updated_at = excluded.updated_at
             RETURNING revision",
        )
        .bind(day(d))
        .bind(i64::from(papers))
        .bind(blob)
        .bind(ts(now))
        .fetch_one(&mut **tx)
        .await?;
        tx.commit().await?;
        Ok((old, revision))
    }

    /// Each stored day in `from..=to` with its revision, oldest first.
    pub async fn df_day_revisions(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> DbResult<Vec<(NaiveDate, i64)>> {
        let rows = sqlx::query(
            "SELECT day, revision FROM ranking_df_days WHERE day BETWEEN $1 AND $2 ORDER BY day",
        )
        .bind(day(from))
        .bind(day(to))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((parse_day(r.get("day"))?, r.get("revision"))))
            .collect()
    }

    /// Deletes the document frequencies of days before `before` (no
    /// longer in any window a run sums); returns how many rows went.
    pub async fn prune_df_days(&self, before: NaiveDate) -> DbResult<u64> {
        let mut w = self.write_one().await?;
        Ok(sqlx::query("DELETE FROM ranking_df_days WHERE day < $1")
            .bind(day(before))
            .execute(&mut **w)
            .await?
            .rows_affected())
    }

    /// The stored rows of `days` (those that have one), oldest first.
    pub async fn df_days(&self, days: &[NaiveDate]) -> DbResult<Vec<DfDay>> {
        let mut out = Vec::with_capacity(days.len());
        for chunk in days.chunks(IDS_PER_STATEMENT) {
            let mut q = QueryBuilder::<Db>::new(
                "SELECT day, revision, df FROM ranking_df_days WHERE day IN ",
            );
            push_list(&mut q, chunk.iter().map(|d| day(*d)));
            q.push(" ORDER BY day");
            for row in q.build().fetch_all(&self.pool).await? {
                out.push(df_day_from_row(&row)?);
            }
        }
        out.sort_by_key(|d| d.day);
        Ok(out)
    }

    /// The stored profile blobs of the subscribers with ids in
    /// `first..=last` that have one built at or after `built_since` (an
    /// older one is left out, for the caller to build again).
    pub async fn ranking_profiles_in_range(
        &self,
        first: SubscriberId,
        last: SubscriberId,
        built_since: DateTime<Utc>,
    ) -> DbResult<HashMap<SubscriberId, Vec<u8>>> {
        let rows = sqlx::query(
            "SELECT subscriber_id, profile FROM ranking_profiles
             WHERE subscriber_id BETWEEN $1 AND $2 AND updated_at >= $3",
        )
        .bind(first)
        .bind(last)
        .bind(ts(built_since))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get("subscriber_id"), r.get::<Vec<u8>, _>("profile")))
            .collect())
    }

    /// Stores subscriber `id`'s profile blob (`None`: deletes it). For a
    /// profile built outside a mark's transaction (one missing or
    /// unreadable when a run needed it).
    pub async fn put_ranking_profile(
        &self,
        id: SubscriberId,
        profile: Option<&[u8]>,
        now: DateTime<Utc>,
    ) -> DbResult<()> {
        let mut tx = self.begin_write().await?;
        write_profile(&mut tx, id, profile, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The papers subscriber `id` marked that have no stored vector.
    pub async fn marked_without_vector(&self, id: SubscriberId) -> DbResult<Vec<PaperId>> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT m.paper_id FROM paper_marks m
             WHERE m.subscriber_id = $1
               AND NOT EXISTS (SELECT 1 FROM paper_vectors v WHERE v.paper_id = m.paper_id)
             ORDER BY m.paper_id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(PaperId::from_stored).collect())
    }
}

fn df_day_from_row(r: &super::DbRow) -> DbResult<DfDay> {
    Ok(DfDay {
        day: parse_day(r.get("day"))?,
        revision: r.get("revision"),
        blob: r.get("df"),
    })
}

/// Upserts (or, for `None`, deletes) subscriber `id`'s profile row.
pub(super) async fn write_profile(
    tx: &mut super::WriteTx,
    id: SubscriberId,
    profile: Option<&[u8]>,
    now: DateTime<Utc>,
) -> DbResult<()> {
    match profile {
        Some(blob) => {
            sqlx::query(
                "INSERT INTO ranking_profiles (subscriber_id, profile, updated_at)
                 SELECT id, $1, $2 FROM subscribers WHERE id = $3
                 ON CONFLICT (subscriber_id) DO UPDATE
                 SET profile = excluded.profile, updated_at = excluded.updated_at",
            )
            .bind(blob)
            .bind(ts(now))
            .bind(id)
            .execute(&mut ***tx)
            .await?;
        }
        None => {
            sqlx::query("DELETE FROM ranking_profiles WHERE subscriber_id = $1")
                .bind(id)
                .execute(&mut ***tx)
                .await?;
        }
    }
    Ok(())
}

/// Upserts many subscribers' profile rows in one statement and deletes
/// the rows of those whose profile is `None`.
pub(super) async fn write_profiles(
    tx: &mut Transaction<'_, Db>,
    profiles: &[(SubscriberId, Option<Vec<u8>>)],
    now: DateTime<Utc>,
) -> DbResult<()> {
    let (some, none): (Vec<_>, Vec<_>) = profiles.iter().partition(|(_, p)| p.is_some());
    if !some.is_empty() {
        let at = ts(now);
        let mut q = QueryBuilder::<Db>::new(
            "INSERT INTO ranking_profiles (subscriber_id, profile, updated_at) ",
        );
        q.push_values(some, |mut b, (id, blob)| {
            b.push_bind(*id)
                .push_bind(blob.clone())
                .push_bind(at.clone());
        });
        q.push(
            " ON CONFLICT (subscriber_id) DO UPDATE
             SET profile = excluded.profile, updated_at = excluded.updated_at",
        );
        q.build().execute(&mut **tx).await?;
    }
    for chunk in none.chunks(IDS_PER_STATEMENT) {
        let mut q = QueryBuilder::<Db>::new("DELETE FROM ranking_profiles WHERE subscriber_id IN ");
        push_list(&mut q, chunk.iter().map(|(id, _)| *id));
        q.build().execute(&mut **tx).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::test_store;
    use super::*;
    use crate::domain::{FetchedPaper, SubscriberEmail};

    fn fetched(id: &str, d: NaiveDate) -> FetchedPaper {
        FetchedPaper {
            paper: Paper::new(
                PaperId::from_stored(id.into()),
                "A title",
                "",
                "https://arxiv.org/abs/x",
            ),
            day: d,
            announce_type: None,
        }
    }

    #[tokio::test]
    async fn vectors_days_and_profiles_round_trip_and_go_with_their_owner() {
        let (store, _dir) = test_store().await;
        let now = Utc::now();
        let d1: NaiveDate = "2026-06-11".parse().unwrap();
        let d2: NaiveDate = "2026-06-12".parse().unwrap();
        store
            .store_fetched("a", &[fetched("1", d1), fetched("2", d2)], now)
            .await
            .unwrap();
        // Paper 1 seen again on the next day by another source: still d1's.
        store
            .store_fetched("b", &[fetched("1", d2), fetched("3", d2)], now)
            .await
            .unwrap();
        let ids: Vec<PaperId> = ["1", "2", "3", "4"]
            .iter()
            .map(|i| PaperId::from_stored(i.to_string()))
            .collect();
        let first = store.first_days(&ids).await.unwrap();
        assert_eq!((first[&ids[0]], first[&ids[1]]), (d1, d2));
        assert_eq!(first.len(), 3);
        let on_d2: Vec<PaperId> = store
            .papers_first_announced(d2)
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(on_d2, vec![ids[1].clone(), ids[2].clone()]);

        // Vectors: stored, replaced, skipped for a paper not stored.
        store
            .put_paper_vectors(&[
                (ids[0].clone(), vec![1, 0]),
                (ids[1].clone(), vec![1, 1, 5, 2]),
                (ids[3].clone(), vec![1]),
            ])
            .await
            .unwrap();
        store
            .put_paper_vectors(&[(ids[0].clone(), vec![1, 1, 9, 1])])
            .await
            .unwrap();
        let v = store.paper_vectors(&ids).await.unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[&ids[0]], vec![1, 1, 9, 1]);
        let missing: Vec<PaperId> = store
            .papers_without_vector("", 10)
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(missing, vec![ids[2].clone()]);

        // Days: replaced whole, the revision going up, the old row handed back.
        assert_eq!(store.days_without_df(d1, d2).await.unwrap(), vec![d1, d2]);
        let (old, rev) = store.replace_df_day(d2, 2, &[1, 2], now).await.unwrap();
        assert_eq!((old, rev), (None, 1));
        let (old, rev) = store.replace_df_day(d2, 3, &[1, 3], now).await.unwrap();
        assert_eq!(
            old,
            Some(DfDay {
                day: d2,
                revision: 1,
                blob: vec![1, 2]
            })
        );
        assert_eq!(rev, 2);
        store.replace_df_day(d1, 1, &[1, 1], now).await.unwrap();
        assert_eq!(
            store.df_day_revisions(d1, d2).await.unwrap(),
            vec![(d1, 1), (d2, 2)]
        );
        let days = store.df_days(&[d2, d1]).await.unwrap();
        assert_eq!(days.iter().map(|d| d.day).collect::<Vec<_>>(), vec![d1, d2]);
        assert_eq!(days[1].blob, vec![1, 3]);
        assert!(store.days_without_df(d1, d2).await.unwrap().is_empty());

        // Profiles: stored, replaced, deleted with the subscriber.
        let email = SubscriberEmail::parse("ada@example.org").unwrap();
        let sub = store.upsert_active(&email, &[], now).await.unwrap().id();
        store
            .put_ranking_profile(sub, Some(&[1, 2, 3]), now)
            .await
            .unwrap();
        store
            .put_ranking_profile(sub, Some(&[4]), now)
            .await
            .unwrap();
        assert_eq!(
            store
                .ranking_profiles_in_range(sub, sub, now)
                .await
                .unwrap()[&sub],
            vec![4]
        );
        // One built before `built_since` is not handed out.
        assert!(store
            .ranking_profiles_in_range(sub, sub, now + chrono::Duration::seconds(1))
            .await
            .unwrap()
            .is_empty());
        let erased = store.erase_subscriber(sub, None, now).await.unwrap();
        assert_eq!(erased.deleted["ranking_profiles"], 1);
        assert!(store
            .ranking_profiles_in_range(sub, sub, DateTime::<Utc>::MIN_UTC)
            .await
            .unwrap()
            .is_empty());
    }

    #[tokio::test]
    async fn document_frequencies_before_a_day_are_pruned_and_vectors_go_with_their_paper() {
        let (store, _dir) = test_store().await;
        let now = Utc::now();
        let days: Vec<NaiveDate> = ["2025-06-11", "2025-06-12", "2026-06-12"]
            .iter()
            .map(|d| d.parse().unwrap())
            .collect();
        for d in &days {
            store.replace_df_day(*d, 1, &[1, 1], now).await.unwrap();
        }
        assert_eq!(store.prune_df_days(days[1]).await.unwrap(), 1);
        let left: Vec<NaiveDate> = store
            .df_day_revisions(days[0], days[2])
            .await
            .unwrap()
            .into_iter()
            .map(|(d, _)| d)
            .collect();
        assert_eq!(left, days[1..]);
        assert_eq!(store.prune_df_days(days[1]).await.unwrap(), 0);

        // A paper's vector is deleted with the paper (foreign key cascade).
        store
            .store_fetched("a", &[fetched("1", days[2])], now)
            .await
            .unwrap();
        let id = PaperId::from_stored("1".into());
        store
            .put_paper_vectors(&[(id.clone(), vec![1, 0])])
            .await
            .unwrap();
        sqlx::query("DELETE FROM papers WHERE id = '1'")
            .execute(super::super::test_pool(&store))
            .await
            .unwrap();
        assert!(store.paper_vectors(&[id]).await.unwrap().is_empty());
    }
}
