//! How far the daemon's digest ticks have planned: the instant up to which
//! every due digest was planned (see [`crate::digest::due`]).

use chrono::{DateTime, Utc};

use super::{parse_ts, ts, Backend, DbResult};

impl Backend {
    /// The instant the last completed digest tick covered; `None` before the
    /// first one.
    pub async fn digest_covered_until(&self) -> DbResult<Option<DateTime<Utc>>> {
        let at: Option<String> =
            sqlx::query_scalar("SELECT covered_until FROM schedule_ticks WHERE job = 'digest'")
                .fetch_optional(&self.pool)
                .await?;
        at.as_deref().map(parse_ts).transpose()
    }

    /// Records that every digest due at or before `until` was planned. Never
    /// moves backwards (a slow tick finishing after a later one).
    pub async fn set_digest_covered_until(&self, until: DateTime<Utc>) -> DbResult<()> {
        sqlx::query(
            "INSERT INTO schedule_ticks (job, covered_until) VALUES ('digest', $1)
             ON CONFLICT (job) DO UPDATE SET covered_until = $1
             WHERE excluded.covered_until > schedule_ticks.covered_until",
        )
        .bind(ts(until))
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_store;
    use super::*;

    #[tokio::test]
    async fn the_covered_instant_only_moves_forward() {
        let (store, _dir) = test_store().await;
        assert_eq!(store.digest_covered_until().await.unwrap(), None);
        let t = DateTime::parse_from_rfc3339("2026-06-12T07:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        store.set_digest_covered_until(t).await.unwrap();
        store
            .set_digest_covered_until(t - chrono::Duration::hours(1))
            .await
            .unwrap();
        assert_eq!(store.digest_covered_until().await.unwrap(), Some(t));
        let later = t + chrono::Duration::hours(1);
        store.set_digest_covered_until(later).await.unwrap();
        assert_eq!(store.digest_covered_until().await.unwrap(), Some(later));
    }
}
