//! Sending budgets shared by every daemon: token buckets kept in the
//! database (`send_buckets`), read and written back in one write
//! transaction (rows locked `FOR UPDATE` on PostgreSQL; SQLite's write lock
//! on SQLite), so that daemons on several hosts draw from one budget. A
//! chunk of digests takes the budgets of all its domains in one such
//! transaction of a few statements. A
//! bucket starts full, holds up to its capacity and refills at its capacity
//! per period; counts are in thousandths of a message.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;

use super::{push_list, Backend, BucketSpec, Db, DbResult, WriteTx};

/// A bucket as read and refilled to `now_ms`.
struct Bucket {
    milli: i64,
    /// Capacity, in thousandths; it refills by this much per `period_ms`.
    cap: i64,
    period_ms: i64,
}

impl Bucket {
    /// Milliseconds until the bucket holds `milli` thousandths.
    fn wait_for(&self, milli: i64) -> Duration {
        let missing = (milli - self.milli).max(0);
        if missing == 0 {
            return Duration::ZERO;
        }
        // Refill rate: cap milli-tokens per period_ms.
        let cap = i128::from(self.cap.max(1));
        let ms = (i128::from(missing) * i128::from(self.period_ms) + cap - 1) / cap;
        Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
    }
}

impl Backend {
    /// Loads (creating full) and refills the buckets of `specs` inside
    /// `tx`, by scope, in three statements whatever their number: the
    /// missing rows inserted, then every row read (locked `FOR UPDATE` on
    /// PostgreSQL, in scope order, so that two takers locking several
    /// buckets never wait on each other in a circle).
    async fn load_buckets(
        tx: &mut WriteTx,
        specs: &[&BucketSpec],
        now_ms: i64,
    ) -> DbResult<HashMap<String, Bucket>> {
        let mut out = HashMap::with_capacity(specs.len());
        if specs.is_empty() {
            return Ok(out);
        }
        let shape = |spec: &BucketSpec| {
            let cap = i64::from(spec.capacity.max(1)) * 1000;
            let period_ms = i64::try_from(spec.period.as_millis())
                .unwrap_or(i64::MAX)
                .max(1);
            (cap, period_ms)
        };
        let mut q =
            QueryBuilder::<Db>::new("INSERT INTO send_buckets (scope, milli_tokens, at_ms) ");
        q.push_values(specs, |mut row, spec| {
            row.push_bind(spec.scope.clone())
                .push_bind(shape(spec).0)
                .push_bind(now_ms);
        });
        q.push(" ON CONFLICT (scope) DO NOTHING");
        q.build().execute(&mut ***tx).await?;
        let mut q = QueryBuilder::<Db>::new(
            "SELECT scope, milli_tokens, at_ms FROM send_buckets WHERE scope IN ",
        );
        push_list(&mut q, specs.iter().map(|s| s.scope.clone()));
        q.push(" ORDER BY scope");
        if super::POSTGRES {
            q.push(" FOR UPDATE");
        }
        let rows: Vec<(String, i64, i64)> = q.build_query_as().fetch_all(&mut ***tx).await?;
        let rows: HashMap<String, (i64, i64)> =
            rows.into_iter().map(|(s, m, at)| (s, (m, at))).collect();
        for spec in specs {
            let (cap, period_ms) = shape(spec);
            let (milli, at_ms) = rows.get(&spec.scope).copied().unwrap_or((cap, now_ms));
            let elapsed = (now_ms - at_ms).max(0);
            let refill = i128::from(elapsed) * i128::from(cap) / i128::from(period_ms);
            let milli =
                i64::try_from((i128::from(milli) + refill).min(i128::from(cap))).unwrap_or(cap);
            out.insert(
                spec.scope.clone(),
                Bucket {
                    milli,
                    cap,
                    period_ms,
                },
            );
        }
        Ok(out)
    }

    /// Writes `buckets` back as of `now_ms`, in one statement.
    async fn save_buckets(
        tx: &mut WriteTx,
        buckets: &HashMap<String, Bucket>,
        now_ms: i64,
    ) -> DbResult<()> {
        if buckets.is_empty() {
            return Ok(());
        }
        let mut q =
            QueryBuilder::<Db>::new("UPDATE send_buckets SET milli_tokens = b.column2, at_ms = ");
        q.push_bind(now_ms).push(" FROM (");
        q.push_values(buckets, |mut row, (scope, b)| {
            row.push_bind(scope.clone()).push_bind(b.milli);
        });
        q.push(") AS b WHERE send_buckets.scope = b.column1");
        q.build().execute(&mut ***tx).await?;
        Ok(())
    }

    /// Takes up to `want` messages from every bucket of `specs` at once (a
    /// domain's minute and hour budgets): as many as the emptiest allows,
    /// never going below zero. Answers how many were granted and, when
    /// fewer than `want`, how long until the next one is.
    pub async fn take_budget(
        &self,
        specs: &[BucketSpec],
        want: u32,
        now: DateTime<Utc>,
    ) -> DbResult<(u32, Duration)> {
        let got = self.take_budgets(&[(specs, want)], now).await?;
        Ok(got[0])
    }

    /// [`Store::take_budget`] for several domains at once, in one write
    /// transaction of a few statements: what a chunk of digests to many
    /// domains takes, in order. A bucket named by two wants is drawn by
    /// both, the first first.
    pub async fn take_budgets(
        &self,
        wants: &[(&[BucketSpec], u32)],
        now: DateTime<Utc>,
    ) -> DbResult<Vec<(u32, Duration)>> {
        let now_ms = now.timestamp_millis();
        let mut specs: Vec<&BucketSpec> = wants.iter().flat_map(|(s, _)| s.iter()).collect();
        specs.sort_by(|a, b| a.scope.cmp(&b.scope));
        specs.dedup_by(|a, b| a.scope == b.scope);
        let mut tx = self.begin_write().await?;
        let mut buckets = Self::load_buckets(&mut tx, &specs, now_ms).await?;
        let mut out = Vec::with_capacity(wants.len());
        for (specs, want) in wants {
            let granted = specs
                .iter()
                .map(|s| u32::try_from(buckets[&s.scope].milli / 1000).unwrap_or(u32::MAX))
                .min()
                .unwrap_or(*want)
                .min(*want);
            for s in specs.iter() {
                if let Some(b) = buckets.get_mut(&s.scope) {
                    b.milli -= i64::from(granted) * 1000;
                }
            }
            let retry = if granted < *want {
                specs
                    .iter()
                    .map(|s| buckets[&s.scope].wait_for(1000))
                    .max()
                    .unwrap_or_default()
            } else {
                Duration::ZERO
            };
            out.push((granted, retry));
        }
        Self::save_buckets(&mut tx, &buckets, now_ms).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Reserves `n` messages from the pace bucket `spec`, going into debt:
    /// how long from `now` each of them waits, so that every daemon
    /// together keeps to the bucket's rate.
    pub async fn reserve_pace(
        &self,
        spec: &BucketSpec,
        n: u32,
        now: DateTime<Utc>,
    ) -> DbResult<Vec<Duration>> {
        let now_ms = now.timestamp_millis();
        let mut tx = self.begin_write().await?;
        let mut buckets = Self::load_buckets(&mut tx, &[spec], now_ms).await?;
        let b = buckets.get_mut(&spec.scope).expect("loaded just above");
        let waits = (1..=i64::from(n)).map(|i| b.wait_for(i * 1000)).collect();
        b.milli -= i64::from(n) * 1000;
        Self::save_buckets(&mut tx, &buckets, now_ms).await?;
        tx.commit().await?;
        Ok(waits)
    }
}

impl Backend {
    /// Counts one request under `scope` in the fixed window that began at
    /// `window_start`: whether it is within `max` (a request over the limit
    /// is not counted). One statement, so every daemon counts in the same
    /// row. Windows that began more than a day before are forgotten.
    pub async fn count_request(
        &self,
        scope: &str,
        window_start: DateTime<Utc>,
        max: u32,
    ) -> DbResult<bool> {
        let mut tx = self.begin_write().await?;
        let counted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO request_windows (scope, window_start, requests) VALUES ($1, $2, 1)
             ON CONFLICT (scope, window_start) DO UPDATE
                 SET requests = request_windows.requests + 1
                 WHERE request_windows.requests < $3
             RETURNING requests",
        )
        .bind(scope)
        .bind(super::ts(window_start))
        .bind(i64::from(max))
        .fetch_optional(&mut **tx)
        .await?;
        sqlx::query("DELETE FROM request_windows WHERE window_start < $1")
            .bind(super::ts(window_start - chrono::Duration::days(1)))
            .execute(&mut **tx)
            .await?;
        tx.commit().await?;
        Ok(counted.is_some_and(|n| n <= i64::from(max)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_store;
    use super::*;

    fn spec(scope: &str, capacity: u32, secs: u64) -> BucketSpec {
        BucketSpec {
            scope: scope.into(),
            capacity,
            period: Duration::from_secs(secs),
        }
    }

    #[tokio::test]
    async fn a_budget_is_shared_by_every_taker_and_refills_at_its_rate() {
        let (store, _dir) = test_store().await;
        let (a, b) = (store.clone(), store.clone());
        let t0 = Utc::now();
        let minute = [spec("minute:example.org", 3, 60)];
        // Two daemons (two handles on one database) share three a minute.
        assert_eq!(a.take_budget(&minute, 2, t0).await.unwrap().0, 2);
        let (granted, retry) = b.take_budget(&minute, 2, t0).await.unwrap();
        assert_eq!(granted, 1);
        assert_eq!(retry, Duration::from_secs(20));
        assert_eq!(a.take_budget(&minute, 1, t0).await.unwrap().0, 0);
        // One message every 20 s comes back, never more than the capacity.
        let later = t0 + chrono::Duration::seconds(20);
        assert_eq!(b.take_budget(&minute, 5, later).await.unwrap().0, 1);
        let much_later = t0 + chrono::Duration::hours(2);
        assert_eq!(b.take_budget(&minute, 5, much_later).await.unwrap().0, 3);
        // A minute and an hour budget together give what the emptier has.
        let both = [spec("minute:x.org", 10, 60), spec("hour:x.org", 4, 3600)];
        assert_eq!(a.take_budget(&both, 6, t0).await.unwrap().0, 4);
        let (granted, retry) = b.take_budget(&both, 1, t0).await.unwrap();
        assert_eq!((granted, retry), (0, Duration::from_secs(900)));
    }

    #[tokio::test]
    async fn a_chunk_takes_several_domains_budgets_at_once_as_one_at_a_time_would() {
        let (store, _dir) = test_store().await;
        let t0 = Utc::now();
        let a = [spec("minute:a.org", 2, 60), spec("hour:a.org", 10, 3600)];
        let b = [spec("minute:b.org", 5, 60)];
        let c = [spec("minute:c.org", 1, 60)];
        let got = store
            .take_budgets(&[(&a, 3), (&b, 4), (&c, 1)], t0)
            .await
            .unwrap();
        assert_eq!(
            got,
            [
                (2, Duration::from_secs(30)),
                (4, Duration::ZERO),
                (1, Duration::ZERO)
            ]
        );
        // What is left is what single takes see.
        assert_eq!(store.take_budget(&a, 5, t0).await.unwrap().0, 0);
        assert_eq!(store.take_budget(&b, 5, t0).await.unwrap().0, 1);
        assert_eq!(store.take_budget(&c, 5, t0).await.unwrap().0, 0);
        assert_eq!(store.take_budget(&a[1..], 20, t0).await.unwrap().0, 8);
    }

    #[tokio::test]
    async fn requests_are_counted_per_scope_and_window_in_one_row() {
        let (store, _dir) = test_store().await;
        let w = DateTime::parse_from_rfc3339("2026-06-12T07:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let (a, b) = (store.clone(), store.clone());
        let mut allowed = 0;
        for i in 0..5 {
            let daemon = if i % 2 == 0 { &a } else { &b };
            if daemon
                .count_request("subscribe:192.0.2.1", w, 3)
                .await
                .unwrap()
            {
                allowed += 1;
            }
        }
        assert_eq!(allowed, 3);
        assert!(a.count_request("subscribe:192.0.2.2", w, 3).await.unwrap());
        let next = w + chrono::Duration::minutes(10);
        assert!(b
            .count_request("subscribe:192.0.2.1", next, 3)
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn the_pace_spaces_every_takers_messages_at_its_rate() {
        let (store, _dir) = test_store().await;
        let pace = spec("pace", 2, 1);
        let t0 = Utc::now();
        let ms = Duration::from_millis;
        let first = store.reserve_pace(&pace, 3, t0).await.unwrap();
        assert_eq!(first, [ms(0), ms(0), ms(500)]);
        // Another daemon at the same instant queues behind them.
        let second = store.reserve_pace(&pace, 2, t0).await.unwrap();
        assert_eq!(second, [ms(1000), ms(1500)]);
    }
}
