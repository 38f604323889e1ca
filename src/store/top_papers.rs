//! Who asked for the day's top papers after their topics ("also send me
//! the top papers of the day"). Kept apart from the schedule preferences:
//! it is about what a digest holds, not when it goes.

use std::collections::HashSet;

use sqlx::QueryBuilder;

use super::{push_list, Backend, Db, DbError, DbResult};
use crate::domain::SubscriberId;

impl Backend {
    /// Whether subscriber `id` asked for the top papers after their topics.
    pub async fn top_papers(&self, id: SubscriberId) -> DbResult<bool> {
        let on: Option<i64> =
            sqlx::query_scalar("SELECT top_papers FROM subscribers WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        on.map(|v| v != 0).ok_or(DbError::NotFound)
    }

    /// The choice from the settings page, if `link_version` is still
    /// current; `NotFound` otherwise.
    pub async fn set_top_papers(
        &self,
        id: SubscriberId,
        link_version: i64,
        on: bool,
    ) -> DbResult<()> {
        let done = sqlx::query(
            "UPDATE subscribers SET top_papers = $1 WHERE id = $2 AND link_version = $3",
        )
        .bind(i64::from(on))
        .bind(id)
        .bind(link_version)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(DbError::NotFound);
        }
        Ok(())
    }

    /// Those of `ids` who asked for the top papers after their topics.
    pub async fn top_papers_among(&self, ids: &[SubscriberId]) -> DbResult<HashSet<SubscriberId>> {
        let mut on = HashSet::new();
        for chunk in ids.chunks(500) {
            let mut q = QueryBuilder::<Db>::new(
                "SELECT id FROM subscribers WHERE top_papers = 1 AND id IN ",
            );
            push_list(&mut q, chunk.iter().copied());
            on.extend(
                q.build_query_scalar::<SubscriberId>()
                    .fetch_all(&self.pool)
                    .await?,
            );
        }
        Ok(on)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_store;
    use super::*;
    use crate::domain::{NewTopic, Preferences, SubscriberEmail};
    use chrono::Utc;

    #[tokio::test]
    async fn the_top_papers_choice_is_kept_per_subscriber() {
        let (store, _dir) = test_store().await;
        let now = Utc::now();
        let topics = [NewTopic {
            name: "x".into(),
            query: "x".into(),
        }];
        let a = store
            .request_subscription(
                &SubscriberEmail::parse("a@example.org").unwrap(),
                &topics,
                &Preferences::default(),
                true,
                now,
            )
            .await
            .unwrap();
        let b = store
            .request_subscription(
                &SubscriberEmail::parse("b@example.org").unwrap(),
                &[],
                &Preferences::default(),
                false,
                now,
            )
            .await
            .unwrap();
        assert!(store.top_papers(a.subscriber_id).await.unwrap());
        assert!(!store.top_papers(b.subscriber_id).await.unwrap());
        let on = store
            .top_papers_among(&[a.subscriber_id, b.subscriber_id])
            .await
            .unwrap();
        assert_eq!(on, HashSet::from([a.subscriber_id]));
        store
            .set_top_papers(b.subscriber_id, 1, true)
            .await
            .unwrap();
        assert!(matches!(
            store.set_top_papers(b.subscriber_id, 7, false).await,
            Err(DbError::NotFound)
        ));
        assert!(store.top_papers(b.subscriber_id).await.unwrap());
        assert!(matches!(
            store.top_papers(SubscriberId::new(99)).await,
            Err(DbError::NotFound)
        ));
    }
}
