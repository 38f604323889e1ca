//! Once per slot across daemons: several daemons sharing one database
//! each run the same cron lines, and each scheduled instant (a slot) of a
//! job must still run once. The daemon that takes the slot's lease row
//! runs it and renews the lease while it works; the others wait while it
//! holds the slot and do nothing once it finished. A daemon that dies
//! mid-slot stops renewing; when its lease passes, a waiting daemon takes
//! the slot over and runs it again (the jobs are idempotent: a digest run
//! resumes what was reserved and never plans a digest twice). A daemon
//! that was down causes no skipped slot: the catch-up rules (see
//! [`super::catch_up`]) run what was missed, under the missed slot's own
//! lease row, so daemons starting together catch it up once.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, SubsecRound as _, Utc};
use chrono_tz::Tz;
use tokio_util::sync::CancellationToken;

use crate::digest::owner;
use crate::domain::Cron;
use crate::store::{SlotClaim, Store};

/// What [`once`] did.
#[derive(Debug)]
pub enum Once<T> {
    /// This daemon ran the slot.
    Ran(T),
    /// Another daemon ran it.
    RanElsewhere,
    /// The daemon is stopping; it did not run.
    Cancelled,
}

/// The slot a tick of `cron` at `now` belongs to: the latest instant the
/// cron line names at or before `now` (a tick fires a little after it).
pub fn slot_of(cron: &Cron, tz: Tz, now: DateTime<Utc>) -> DateTime<Utc> {
    let now = now.trunc_subsecs(0);
    cron.last_at_or_before(tz, now)
        .map_or(now, |at| at.trunc_subsecs(0))
}

/// Runs `work` for `job`'s `slot` unless another daemon ran it or runs it
/// (then waits for it to finish, or for its lease to pass and takes over).
pub async fn once<T>(
    store: &Store,
    job: &str,
    slot: DateTime<Utc>,
    lease: Duration,
    token: &CancellationToken,
    work: impl Future<Output = T>,
) -> anyhow::Result<Once<T>> {
    let me = owner::this_process();
    let mut waiting = false;
    loop {
        let now = Utc::now();
        match store
            .take_job_slot(job, slot, me, now + owner::span(lease), now)
            .await?
        {
            SlotClaim::Taken => break,
            SlotClaim::Finished => {
                tracing::debug!(job, slot = %slot, "another daemon ran this slot");
                return Ok(Once::RanElsewhere);
            }
            SlotClaim::Held => {
                if !waiting {
                    tracing::debug!(job, slot = %slot, "another daemon runs this slot; waiting");
                    waiting = true;
                }
                tokio::select! {
                    _ = token.cancelled() => return Ok(Once::Cancelled),
                    _ = tokio::time::sleep(owner::renew_every(lease)) => {}
                }
            }
        }
    }
    if waiting {
        tracing::warn!(job, slot = %slot, "the daemon running this slot stopped renewing it; taking it over");
    }
    let renewing = renew(store.clone(), job.to_string(), slot, lease);
    let out = work.await;
    drop(renewing);
    store.finish_job_slot(job, slot, Utc::now()).await?;
    Ok(Once::Ran(out))
}

/// Renews this daemon's hold on a slot every third of a lease until dropped.
fn renew(store: Store, job: String, slot: DateTime<Utc>, lease: Duration) -> owner::AbortOnDrop {
    owner::keep_renewing(lease, move |until| {
        let (store, job) = (store.clone(), job.clone());
        async move {
            match store
                .renew_job_slot(&job, slot, owner::this_process(), until)
                .await
            {
                Ok(true) => true,
                Ok(false) => {
                    tracing::warn!(job, slot = %slot, "lost this slot's lease to another daemon");
                    false
                }
                Err(e) => {
                    tracing::warn!(job, error = format!("{e:#}"), "renewing a slot's lease");
                    true
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_tick_belongs_to_the_instant_its_cron_line_named() {
        let hourly = Cron::parse("0 0 * * * *").unwrap();
        assert_eq!(
            slot_of(&hourly, Tz::UTC, at("2026-06-12T07:00:00.350Z")),
            at("2026-06-12T07:00:00Z")
        );
        assert_eq!(
            slot_of(&hourly, Tz::UTC, at("2026-06-12T07:59:59Z")),
            at("2026-06-12T07:00:00Z")
        );
    }

    async fn two_daemons_one_slot(store: Store) {
        let slot = at("2026-06-12T07:00:00Z");
        let lease = Duration::from_millis(600);
        let token = CancellationToken::new();
        let runs = std::sync::atomic::AtomicUsize::new(0);
        let work = || async {
            runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            // Longer than a lease: the renewal keeps the slot held.
            tokio::time::sleep(Duration::from_millis(1500)).await;
        };
        let (a, b) = tokio::join!(once(&store, "digest", slot, lease, &token, work()), async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            once(&store, "digest", slot, lease, &token, work()).await
        });
        let outcomes = [a.unwrap(), b.unwrap()];
        assert_eq!(
            runs.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "{outcomes:?}"
        );
        assert!(matches!(outcomes[0], Once::Ran(())), "{outcomes:?}");
        assert!(matches!(outcomes[1], Once::RanElsewhere), "{outcomes:?}");

        // A holder that died (a lease row nobody renews) is taken over once
        // its lease passed.
        let next = slot + chrono::Duration::hours(1);
        let now = Utc::now();
        store
            .take_job_slot(
                "digest",
                next,
                "gone:1:1",
                now + chrono::Duration::milliseconds(300),
                now,
            )
            .await
            .unwrap();
        let took = once(&store, "digest", next, lease, &token, async { 7 })
            .await
            .unwrap();
        assert!(matches!(took, Once::Ran(7)), "{took:?}");
    }

    #[tokio::test]
    async fn a_slot_runs_once_across_two_daemons_on_sqlite() {
        let (store, _dir) = crate::store::test_store().await;
        two_daemons_one_slot(store).await;
    }

    #[tokio::test]
    async fn a_slot_runs_once_across_two_daemons_on_postgres() {
        let (store, _db) = crate::store::test_postgres_store().await;
        two_daemons_one_slot(store).await;
    }
}
