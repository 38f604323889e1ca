//! A digest run for one date: [`DigestRun`] plans every due subscriber's
//! digest a page at a time (`plan`), reserves it in the store (`reserve`:
//! the idempotency point), then renders and sends it (`send`).
//!
//! Subscribers are streamed in pages, never all loaded. A run interrupted at
//! any point and started again resends the unfinished digests with the same
//! papers and Message-ID and never plans a second digest for a subscriber
//! and date; a run started twice sends nothing the second time. It must not
//! decide *when* runs happen: the CLI and the daemon's jobs do.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Instant;

use anyhow::Context as _;
use chrono::{DateTime, NaiveDate, Utc};
use indicatif::ProgressBar;

use super::config::DigestConfig;
use super::due::{self, When};
use super::frequencies::Frequencies;
use super::job::Job;
use super::likes::{self, LikeLookup};
use super::plan::{self, Plan, PlanLimits, Ranked};
use super::report::{DigestReport, DryRunPaper, PlannedDigest};
use super::reserve::{self, Planned};
use super::send::Sender;
use super::window::{Window, WEEK_DAYS};
use crate::domain::{Frequency, Subscriber, SubscriberId, SubscriberStatus};
use crate::email::DigestRenderer;
use crate::inbound::verp::ReturnPath;
use crate::links::LinkSigner;
use crate::mail::Mailer;
use crate::store::{DbResult, Delivery, Hold, Store};

/// Subscribers read, planned and reserved at a time.
const PAGE: i64 = 500;

/// How a run selects and what it does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DigestOptions {
    /// Plan and print, reserve and send nothing.
    pub dry_run: bool,
    /// Everyone due on the date (by hand), or those whose delivery hour
    /// came in a scheduler tick's window.
    pub when: When,
}

/// What planning, sending and retrying digests uses: the store, the mailer,
/// the link signer and the digest settings. Cheap to clone.
#[derive(Debug, Clone)]
pub struct DigestRun {
    pub store: Store,
    pub mailer: Mailer,
    pub signer: LinkSigner,
    pub config: DigestConfig,
    /// Finds the papers `like:` topics name (the store only, unless
    /// [`DigestRun::with_likes`] says otherwise).
    pub likes: LikeLookup,
    /// The document frequencies ranking weighs by (read from the store on
    /// first use unless [`DigestRun::with_frequencies`] shares a process's).
    pub frequencies: Frequencies,
}

/// A page of the walk: the active subscribers after `from`, by id.
struct Page {
    from: SubscriberId,
    ids: Vec<SubscriberId>,
}

/// The windows of papers a run plans against: the day's (its date and
/// `lookback_days` before), and the week's, loaded when a weekly
/// subscriber is first due.
struct Windows {
    day: Window,
    week: Option<Window>,
}

/// Which subscribers of one page get the digest in this run.
struct Selected {
    due: HashSet<SubscriberId>,
    /// Weekly subscribers among the due ones.
    weekly: HashSet<SubscriberId>,
}

/// What is fixed for the whole run.
struct RunOf<'a> {
    date: NaiveDate,
    options: DigestOptions,
    now: DateTime<Utc>,
    /// The right-hand side of Message-IDs.
    domain: &'a str,
    progress: &'a ProgressBar,
}

impl DigestRun {
    pub fn new(store: Store, mailer: Mailer, signer: LinkSigner, config: DigestConfig) -> Self {
        DigestRun {
            likes: LikeLookup::new(store.clone(), None),
            frequencies: Frequencies::new(),
            store,
            mailer,
            signer,
            config,
        }
    }

    /// The same run, finding `like:` papers with `likes` (which may ask
    /// arXiv for a paper not stored).
    pub fn with_likes(mut self, likes: LikeLookup) -> Self {
        self.likes = likes;
        self
    }

    /// The same run, weighing by the process's shared document
    /// frequencies.
    pub fn with_frequencies(mut self, frequencies: Frequencies) -> Self {
        self.frequencies = frequencies;
        self
    }

    /// Resolves the `like:` terms of `page`'s topics that `window`'s
    /// matcher does not know yet, before any of them is compiled.
    pub(super) async fn prepare_likes(
        &self,
        window: &mut Window,
        page: &[Subscriber],
        date: NaiveDate,
    ) -> DbResult<()> {
        let ids = likes::unknown_likes(
            page.iter()
                .flat_map(|s| s.topics.iter().map(|t| t.query.as_str())),
            &window.matcher,
        );
        if ids.is_empty() {
            return Ok(());
        }
        window.ranked(&self.store, &self.frequencies, date).await?;
        let ranked = window.ranked.as_ref().expect("read just above");
        likes::register(&self.likes, ids, &mut window.matcher, ranked, Utc::now()).await;
        Ok(())
    }

    /// What rebuilding an unfinished digest reads.
    pub(super) fn resumer(&self) -> reserve::Resumer<'_> {
        reserve::Resumer {
            store: &self.store,
            likes: &self.likes,
            frequencies: &self.frequencies,
        }
    }

    /// "Today" in the operator's timezone.
    pub fn today(&self, now: DateTime<Utc>) -> NaiveDate {
        now.with_timezone(&self.config.defaults.timezone)
            .date_naive()
    }

    /// A renderer for this run's digests.
    pub(super) fn renderer(&self) -> DigestRenderer {
        DigestRenderer::new(
            self.config.base_url.clone(),
            self.config.site_name.clone(),
            self.signer.clone(),
            self.config.max_html_bytes,
        )
    }

    /// A sender for this run's digests, under the sending limits.
    async fn sender(&self) -> anyhow::Result<Sender<'_>> {
        let return_path = self
            .config
            .return_path
            .clone()
            .map(|t| ReturnPath::new(t, self.signer.clone()));
        Sender::new(
            &self.store,
            &self.mailer,
            &self.config,
            self.renderer(),
            return_path,
        )
        .await
    }

    pub(super) fn limits(&self) -> PlanLimits {
        PlanLimits {
            max_papers: self.config.max_papers,
            send_empty: self.config.send_empty,
            trending_count: self.config.trending_count,
            recommendations: self.config.recommendations,
        }
    }

    /// Runs the digest for `date`: plans, reserves and sends the digests of
    /// every subscriber `options` selects.
    pub async fn run(
        &self,
        date: NaiveDate,
        options: DigestOptions,
        now: DateTime<Utc>,
        progress: &ProgressBar,
    ) -> anyhow::Result<DigestReport> {
        let started = Instant::now();
        let lookback = i64::from(self.config.lookback_days);
        let mut windows = Windows {
            day: Window::load(&self.store, date, lookback).await?,
            week: None,
        };
        let mut report = DigestReport {
            papers: windows.day.papers.len(),
            ..Default::default()
        };
        if let Ok(counts) = self.store.subscriber_counts().await {
            let active = counts
                .iter()
                .find(|(s, _)| *s == SubscriberStatus::Active)
                .map(|c| c.1)
                .unwrap_or(0);
            progress.set_length(active as u64);
        }
        let domain = self.mailer.sender_domain();
        let run = RunOf {
            date,
            options,
            now,
            domain: &domain,
            progress,
        };
        let sender = self.sender().await?;
        // The next page is planned and reserved while this one is sent
        // when the store takes both sides' writes at once (PostgreSQL):
        // one daemon otherwise waits on each in turn. Where writers take
        // turns on one lock (SQLite) they would wait on each other, so
        // pages go in turn.
        let overlap = !self.store.writers_take_turns();
        let mut planned: Option<Vec<Job>> = None;
        let mut after = SubscriberId::default();
        // Pages another daemon was planning when this one came to them,
        // by where they start: looked at again once the walk is done (by
        // then the other has reserved them, unless it stopped).
        let mut passed: VecDeque<SubscriberId> = VecDeque::new();
        let mut walked = false;
        loop {
            let from = if walked {
                match passed.pop_front() {
                    Some(from) => from,
                    None => break,
                }
            } else {
                after
            };
            // Where the page starts and ends; it is read in full only if
            // something in it is left to plan or resume (see `page`).
            let ids = self
                .store
                .active_subscriber_ids_page(from, PAGE)
                .await
                .context("reading subscribers")?;
            let (Some(&first), Some(&last)) = (ids.first(), ids.last()) else {
                walked = true;
                continue;
            };
            let page = Page { from, ids };
            let mut stake = None;
            if !walked {
                after = last;
                if !options.dry_run {
                    stake = self.store.stake_page(date, first).await?;
                    if stake.is_none() {
                        passed.push_back(from);
                        continue;
                    }
                }
            }
            if !overlap {
                let jobs = self.page(&run, page, &mut windows, &mut report).await?;
                drop(stake);
                sender.send_jobs(jobs, &mut report).await;
                continue;
            }
            let mut sends = DigestReport::default();
            let (next, ()) =
                tokio::join!(self.page(&run, page, &mut windows, &mut report), async {
                    if let Some(jobs) = planned.take() {
                        sender.send_jobs(jobs, &mut sends).await;
                    }
                });
            drop(stake);
            report.add_sends(&sends);
            let next = next?;
            sender.hold(next.iter().map(|j| j.delivery.id));
            planned = Some(next);
        }
        if let Some(jobs) = planned.take() {
            sender.send_jobs(jobs, &mut report).await;
        }
        if !options.dry_run {
            self.take_over_lapsed(date, &sender, &mut report).await?;
        }
        // The run's connections are done: QUIT rather than leaving them open
        // until the server times them out.
        self.mailer.close_idle().await;
        progress.finish_and_clear();
        tracing::info!(
            digest.date = %date,
            papers.count = report.papers,
            subscribers.count = report.subscribers,
            digests.matched = report.matched,
            digests.sent = report.sent,
            digests.deferred = report.deferred,
            digests.throttled = report.throttled,
            digests.failed = report.failed,
            digests.already_done = report.already_done,
            dry_run = options.dry_run,
            duration_ms = started.elapsed().as_millis() as u64,
            "digest run finished"
        );
        Ok(report)
    }

    /// Plans one page of subscribers and reserves their digests; returns
    /// the jobs to send, unfinished digests of earlier runs included.
    async fn page(
        &self,
        run: &RunOf<'_>,
        page: Page,
        windows: &mut Windows,
        report: &mut DigestReport,
    ) -> anyhow::Result<Vec<Job>> {
        let (first, last) = match (page.ids.first(), page.ids.last()) {
            (Some(&f), Some(&l)) => (f, l),
            _ => return Ok(Vec::new()),
        };
        let selected = self.select(run.date, run.options.when, first, last).await?;
        let mut existing = self
            .store
            .deliveries_in_range(run.date, first, last)
            .await?;
        let me = super::owner::this_process();
        let now = Utc::now();
        // A tick looks only at the subscribers whose hour came (an
        // unfinished digest of anyone else is the retry job's).
        let looked_at =
            |id: &SubscriberId| selected.due.contains(id) || run.options.when == When::Manual;
        let resumable = |d: &Delivery| {
            !run.options.dry_run && d.status.is_unfinished() && !d.held_elsewhere(me, now)
        };
        // Every digest of the page reserved, in this run or by another
        // daemon sharing it (how most pages look to all but one of them):
        // counted from the ids, without reading the subscribers.
        let settled = page.ids.iter().all(|id| {
            !looked_at(id)
                || match existing.get(id) {
                    Some(delivery) => !resumable(delivery),
                    None => !selected.due.contains(id),
                }
        });
        if settled {
            for id in &page.ids {
                report.subscribers += 1;
                run.progress.inc(1);
                if looked_at(id) && existing.contains_key(id) {
                    report.already_done += 1;
                }
            }
            return Ok(Vec::new());
        }
        let mut page = self
            .store
            .subscribers_page(Some(SubscriberStatus::Active), page.from, PAGE)
            .await
            .context("reading subscribers")?;
        // The rest is looked at with the next page.
        page.retain(|sub| sub.id <= last);
        // Weekly subscribers get the week's papers, daily ones the lookback's.
        let lookback = i64::from(self.config.lookback_days);
        let weekly_window =
            |sub: &Subscriber| lookback < WEEK_DAYS && selected.weekly.contains(&sub.id);
        let fresh =
            |sub: &Subscriber| selected.due.contains(&sub.id) && !existing.contains_key(&sub.id);
        let no_history = HashSet::new();
        let day_sent = self
            .store
            .already_sent_in_range(first, last, &windows.day.ids)
            .await?;
        // Subscribers with marks and ranking on: their papers ranked.
        let marks = self.store.ranking_marks_in_range(first, last).await?;
        let day_rankings = if marks.is_empty() {
            HashMap::new()
        } else {
            windows
                .day
                .ranked(&self.store, &self.frequencies, run.date)
                .await?
                .rank_page(&self.store, marks.clone())
                .await?
        };
        self.prepare_likes(&mut windows.day, &page, run.date)
            .await?;
        let day = &mut windows.day;
        let mut day_plans = plan::plan_digests(
            &mut day.matcher,
            &day.papers,
            &page,
            |sub| fresh(sub) && !weekly_window(sub),
            |sub| day_sent.get(&sub.id).unwrap_or(&no_history),
            self.limits(),
            day.ranked.as_ref().map(|window| Ranked {
                window,
                subscribers: &day_rankings,
            }),
        )
        .into_iter();
        let week_plans = if page.iter().any(|s| fresh(s) && weekly_window(s)) {
            if windows.week.is_none() {
                windows.week = Some(Window::load(&self.store, run.date, WEEK_DAYS).await?);
            }
            let week = windows.week.as_mut().expect("loaded just above");
            self.prepare_likes(week, &page, run.date).await?;
            let week_sent = self
                .store
                .already_sent_in_range(first, last, &week.ids)
                .await?;
            let week_rankings = if marks.is_empty() {
                HashMap::new()
            } else {
                week.ranked(&self.store, &self.frequencies, run.date)
                    .await?
                    .rank_page(&self.store, marks.clone())
                    .await?
            };
            plan::plan_digests(
                &mut week.matcher,
                &week.papers,
                &page,
                |sub| fresh(sub) && weekly_window(sub),
                |sub| week_sent.get(&sub.id).unwrap_or(&no_history),
                self.limits(),
                week.ranked.as_ref().map(|window| Ranked {
                    window,
                    subscribers: &week_rankings,
                }),
            )
        } else {
            Vec::new()
        };
        let mut week_plans = week_plans.into_iter();
        // The page's new digests are this process's until claimed: a lease
        // from now, as a claim's (renewed while they are sent).
        let hold = Hold {
            owner: me.to_string(),
            until: Utc::now() + super::owner::span(self.config.lease),
        };
        let mut jobs = Vec::new();
        let mut day_planned = Vec::new();
        let mut week_planned = Vec::new();
        for sub in page {
            let day_plan = day_plans.next().flatten();
            let week_plan = week_plans.next().flatten();
            report.subscribers += 1;
            run.progress.inc(1);
            let is_due = selected.due.contains(&sub.id);
            if !looked_at(&sub.id) {
                continue;
            }
            let weekly_subscriber = selected.weekly.contains(&sub.id);
            if let Some(delivery) = existing.remove(&sub.id) {
                // Unfinished here, or reserved or claimed by another daemon
                // that is sending it, or done.
                if resumable(&delivery) {
                    jobs.push(
                        self.resumer()
                            .resume(delivery, sub, Some(&windows.day), weekly_subscriber)
                            .await?,
                    );
                } else {
                    report.already_done += 1;
                }
                continue;
            }
            // Paused, or weekly on another day: no digest planned today.
            if !is_due {
                continue;
            }
            let weekly = weekly_window(&sub);
            let Some(plan) = (if weekly { week_plan } else { day_plan }) else {
                continue;
            };
            report.matched += 1;
            if run.options.dry_run {
                let window = match (&windows.week, weekly) {
                    (Some(w), true) => w,
                    _ => &windows.day,
                };
                report.plans.push(dry_run_line(&sub, &plan, window));
                continue;
            }
            let entry = Planned {
                sub,
                plan,
                weekly: weekly_subscriber,
            };
            if weekly {
                week_planned.push(entry);
            } else {
                day_planned.push(entry);
            }
        }
        let reserved = reserve::reserve_page(
            &self.resumer(),
            run.domain,
            run.date,
            &windows.day,
            day_planned,
            &hold,
            run.now,
            report,
        )
        .await?;
        jobs.extend(reserved);
        if let (Some(week), false) = (&windows.week, week_planned.is_empty()) {
            let reserved = reserve::reserve_page(
                &self.resumer(),
                run.domain,
                run.date,
                week,
                week_planned,
                &hold,
                run.now,
                report,
            )
            .await?;
            jobs.extend(reserved);
        }
        Ok(jobs)
    }

    /// Selects, among the active subscribers with ids in `first..=last`,
    /// those due the digest for `date` (see [`due`]).
    async fn select(
        &self,
        date: NaiveDate,
        when: When,
        first: SubscriberId,
        last: SubscriberId,
    ) -> anyhow::Result<Selected> {
        let mut selected = Selected {
            due: HashSet::new(),
            weekly: HashSet::new(),
        };
        for (id, prefs) in self.store.schedules_between(first, last).await? {
            if due::is_due(&prefs, self.config.defaults, date, when) {
                selected.due.insert(id);
                if matches!(prefs.frequency, Frequency::Weekly(_)) {
                    selected.weekly.insert(id);
                }
            }
        }
        Ok(selected)
    }

    /// Sends every unfinished digest (of any date since `since`) whose retry
    /// time has come: the retry job, and the catch-up after a crash.
    pub async fn resume_unfinished(
        &self,
        since: NaiveDate,
        now: DateTime<Utc>,
    ) -> anyhow::Result<DigestReport> {
        let mut report = DigestReport::default();
        // A digest another process holds under a lease that has not passed
        // is being sent (or was just reserved) there: its claim would be
        // refused, after it was rendered and its domain's budget taken.
        let me = super::owner::this_process();
        let at = Utc::now();
        let unfinished: Vec<_> = self
            .store
            .unfinished_deliveries(since, now)
            .await?
            .into_iter()
            .filter(|delivery| !delivery.held_elsewhere(me, at))
            .collect();
        let sender = self.sender().await?;
        self.resume_deliveries(&unfinished, &sender, &mut report)
            .await?;
        self.mailer.close_idle().await;
        if report.sent + report.deferred + report.failed > 0 {
            tracing::info!(
                digests.sent = report.sent,
                digests.deferred = report.deferred,
                digests.throttled = report.throttled,
                digests.failed = report.failed,
                "retried unfinished digests"
            );
        }
        Ok(report)
    }
}

impl DigestRun {
    /// Sends `deliveries` (reserved earlier, unfinished) with their papers
    /// and Message-IDs, a page at a time.
    async fn resume_deliveries(
        &self,
        deliveries: &[crate::store::Delivery],
        sender: &Sender<'_>,
        report: &mut DigestReport,
    ) -> anyhow::Result<()> {
        for chunk in deliveries.chunks(PAGE as usize) {
            let mut jobs = Vec::with_capacity(chunk.len());
            for delivery in chunk {
                let sub = self.store.subscriber_by_id(delivery.subscriber_id).await?;
                if sub.status != SubscriberStatus::Active {
                    continue;
                }
                let weekly = matches!(
                    self.store.preferences(sub.id).await?.frequency,
                    Frequency::Weekly(_)
                );
                jobs.push(
                    self.resumer()
                        .resume(delivery.clone(), sub, None, weekly)
                        .await?,
                );
            }
            sender.send_jobs(jobs, report).await;
        }
        Ok(())
    }

    /// Finishes the digests for `date` that other processes claimed: waits
    /// while their leases hold (they are being sent), and takes over those
    /// whose lease passed (their sender died: the one allowed resend of the
    /// same Message-ID). So a run shared by several daemons ends with every
    /// digest settled even when one of them is killed. Bounded by three
    /// leases, after which what is still held is the retry job's.
    async fn take_over_lapsed(
        &self,
        date: NaiveDate,
        sender: &Sender<'_>,
        report: &mut DigestReport,
    ) -> anyhow::Result<()> {
        let lease = self.config.lease;
        let deadline = Instant::now() + lease * 3;
        loop {
            let lapsed = self.store.lapsed_claims(date, Utc::now()).await?;
            if !lapsed.is_empty() {
                tracing::warn!(
                    digests = lapsed.len(),
                    "taking over digests whose sender stopped renewing its claim"
                );
                self.resume_deliveries(&lapsed, sender, report).await?;
            }
            let Some(end) = self
                .store
                .next_lease_end(date, super::owner::this_process(), Utc::now())
                .await?
            else {
                return Ok(());
            };
            if Instant::now() >= deadline {
                return Ok(());
            }
            // Looked at again every quarter second: a lease usually ends
            // early, by its holder settling the digest, and the run is done
            // then (two small reads a look).
            let until_end = (end - Utc::now()).to_std().unwrap_or_default();
            let wait = (until_end + std::time::Duration::from_millis(50))
                .min(super::owner::renew_every(lease))
                .min(std::time::Duration::from_millis(250));
            tokio::time::sleep(wait).await;
        }
    }
}

/// What `--dry-run` prints for one subscriber.
fn dry_run_line(sub: &Subscriber, plan: &Plan, window: &Window) -> PlannedDigest {
    PlannedDigest {
        email: sub.email.to_string(),
        papers: plan
            .papers
            .iter()
            .map(|p| DryRunPaper {
                id: window.papers[p.paper].id.to_string(),
                title: window.papers[p.paper].title.clone(),
            })
            .collect(),
        more: plan.more,
    }
}

/// A digest run on a fresh SQLite file and the file mailer, for the unit
/// tests of the pipeline and of the jobs that drive it: no SMTP server is
/// needed for the logic.
#[cfg(test)]
pub(crate) mod testing {
    use chrono::{NaiveDate, Utc};

    use super::DigestRun;
    use crate::digest::DigestConfig;
    use crate::domain::{FetchedPaper, NewTopic, Paper, PaperId, SubscriberEmail, SubscriberId};
    use crate::links::{LinkSigner, SigningKeys};
    use crate::mail::{MailSettings, Mailer, TransportKind};
    use crate::settings::Settings;
    use crate::store::test_store;

    /// The day the test papers are announced on.
    pub(crate) fn day() -> NaiveDate {
        "2026-06-12".parse().unwrap()
    }

    /// A run over a fresh store, writing mails to `outbox/` in the
    /// returned directory (kept alive as long as it is).
    pub(crate) async fn digest_run() -> (DigestRun, tempfile::TempDir) {
        let (store, dir) = test_store().await;
        let mailer = Mailer::from_settings(&MailSettings {
            from: "Paperboy <paperboy@example.org>".into(),
            transport: TransportKind::File,
            outbox_dir: dir.path().join("outbox"),
            ..MailSettings::default()
        })
        .unwrap();
        let signer = LinkSigner::new(SigningKeys::from_secrets([vec![7u8; 32]]).unwrap());
        let config = DigestConfig::from_settings(&Settings::default());
        (DigestRun::new(store, mailer, signer, config), dir)
    }

    /// Stores papers announced on [`day`], one per title.
    pub(crate) async fn papers(run: &DigestRun, titles: &[&str]) {
        let papers: Vec<FetchedPaper> = titles
            .iter()
            .enumerate()
            .map(|(i, title)| FetchedPaper {
                paper: Paper::new(
                    PaperId::from_stored(format!("2606.{:05}", i + 1)),
                    title,
                    "An abstract.",
                    "https://arxiv.org/abs/x",
                ),
                day: day(),
                announce_type: None,
            })
            .collect();
        run.store
            .store_fetched("test", &papers, Utc::now())
            .await
            .unwrap();
    }

    /// An active subscriber with one topic of `query`.
    pub(crate) async fn subscriber(run: &DigestRun, email: &str, query: &str) -> SubscriberId {
        let topic = NewTopic {
            name: query.into(),
            query: query.into(),
        };
        run.store
            .upsert_active(
                &SubscriberEmail::parse(email).unwrap(),
                &[topic],
                Utc::now(),
            )
            .await
            .unwrap()
            .id()
    }

    /// The mails in the outbox, as text.
    pub(crate) fn outbox(dir: &tempfile::TempDir) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(dir.path().join("outbox")) else {
            return Vec::new();
        };
        let mut mails: Vec<String> = entries
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect();
        mails.sort();
        mails
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, Utc};
    use indicatif::ProgressBar;

    use super::testing::{day, digest_run, outbox, papers, subscriber};
    use super::*;

    async fn run_once(run: &DigestRun, options: DigestOptions) -> DigestReport {
        run.run(day(), options, Utc::now(), &ProgressBar::hidden())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_run_sends_each_matching_subscriber_one_digest_and_a_second_run_sends_nothing() {
        let (run, dir) = digest_run().await;
        papers(&run, &["Diffusion models for proteins", "Sparse attention"]).await;
        subscriber(&run, "ada@example.org", "diffusion").await;
        subscriber(&run, "bob@example.org", "\"speech recognition\"").await;

        let report = run_once(&run, DigestOptions::default()).await;
        assert_eq!(
            (
                report.papers,
                report.subscribers,
                report.matched,
                report.sent
            ),
            (2, 2, 1, 1)
        );
        let mails = outbox(&dir);
        assert_eq!(mails.len(), 1);
        assert!(mails[0].contains("To: ada@example.org"), "{}", mails[0]);
        assert!(mails[0].contains("Diffusion models for proteins"));
        assert!(!mails[0].contains("Sparse attention"));

        let again = run_once(&run, DigestOptions::default()).await;
        assert_eq!((again.sent, again.already_done), (0, 1));
        assert_eq!(outbox(&dir).len(), 1);
    }

    #[tokio::test]
    async fn a_digest_another_process_reserved_is_left_to_it_until_its_lease_passes() {
        let (mut run, dir) = digest_run().await;
        run.config.lease = std::time::Duration::from_secs(1);
        papers(&run, &["Diffusion models for proteins"]).await;
        let ada = subscriber(&run, "ada@example.org", "diffusion").await;
        // Another daemon reserved Ada's digest and holds it for a moment.
        let other = Hold {
            owner: "elsewhere:1:0".into(),
            until: Utc::now() + Duration::milliseconds(1500),
        };
        let reserved = run
            .store
            .reserve_deliveries(
                day(),
                &[crate::store::NewReservation {
                    subscriber_id: ada,
                    message_id: "<d@example.org>".into(),
                    papers: vec![(crate::domain::PaperId::from_stored("2606.00001".into()), 0)],
                    reasons: Vec::new(),
                    more_count: 0,
                }],
                &other,
                Utc::now(),
            )
            .await
            .unwrap();
        assert!(matches!(
            reserved[0],
            crate::store::BatchReservation::New { .. }
        ));

        // The walk over the subscribers leaves it (counted as done
        // elsewhere); once the other daemon's lease has passed without a
        // claim, the run takes it over and sends it, once.
        let report = run_once(&run, DigestOptions::default()).await;
        assert_eq!((report.already_done, report.sent), (1, 1), "{report:?}");
        let mails = outbox(&dir);
        assert_eq!(mails.len(), 1);
        assert!(mails[0].contains("<d@example.org>"), "{}", mails[0]);
        let delivery = run.store.delivery_for(ada, day()).await.unwrap().unwrap();
        assert_eq!(delivery.status, crate::store::DeliveryStatus::Sent);
        assert_eq!(
            delivery.held.map(|h| h.owner).as_deref(),
            Some(super::super::owner::this_process())
        );
    }

    #[tokio::test]
    async fn the_retry_job_leaves_a_digest_another_process_holds_to_it() {
        let (run, dir) = digest_run().await;
        papers(&run, &["Diffusion models for proteins"]).await;
        let ada = subscriber(&run, "ada@example.org", "diffusion").await;
        let other = Hold {
            owner: "elsewhere:1:0".into(),
            until: Utc::now() + Duration::minutes(10),
        };
        run.store
            .reserve_deliveries(
                day(),
                &[crate::store::NewReservation {
                    subscriber_id: ada,
                    message_id: "<held@example.org>".into(),
                    papers: vec![(crate::domain::PaperId::from_stored("2606.00001".into()), 0)],
                    reasons: Vec::new(),
                    more_count: 0,
                }],
                &other,
                Utc::now(),
            )
            .await
            .unwrap();

        // Not rendered, not counted, not claimed: its holder sends it.
        let report = run.resume_unfinished(day(), Utc::now()).await.unwrap();
        assert_eq!(
            (report.sent, report.already_done, report.throttled),
            (0, 0, 0),
            "{report:?}"
        );
        assert!(outbox(&dir).is_empty());
        let delivery = run.store.delivery_for(ada, day()).await.unwrap().unwrap();
        assert_eq!(delivery.status, crate::store::DeliveryStatus::Pending);
        assert_eq!(
            delivery.held.map(|h| h.owner).as_deref(),
            Some("elsewhere:1:0")
        );
    }

    #[tokio::test]
    async fn a_dry_run_lists_the_plans_and_reserves_and_sends_nothing() {
        let (run, dir) = digest_run().await;
        papers(&run, &["Diffusion models for proteins", "Sparse attention"]).await;
        let ada = subscriber(&run, "ada@example.org", "diffusion OR attention").await;

        let dry = DigestOptions {
            dry_run: true,
            ..Default::default()
        };
        let report = run_once(&run, dry).await;
        assert_eq!(report.sent, 0);
        assert_eq!(report.plans.len(), 1);
        let plan = &report.plans[0];
        assert_eq!(plan.email, "ada@example.org");
        let mut titles: Vec<&str> = plan.papers.iter().map(|p| p.title.as_str()).collect();
        titles.sort();
        assert_eq!(
            titles,
            ["Diffusion models for proteins", "Sparse attention"]
        );
        assert!(outbox(&dir).is_empty());
        assert!(run.store.delivery_for(ada, day()).await.unwrap().is_none());

        // The real run afterwards sends what the dry run showed.
        assert_eq!(run_once(&run, DigestOptions::default()).await.sent, 1);
    }

    #[tokio::test]
    async fn a_digest_the_mailer_cannot_take_is_deferred_then_resent_with_the_same_message_id() {
        let (run, dir) = digest_run().await;
        papers(&run, &["Diffusion models for proteins"]).await;
        let ada = subscriber(&run, "ada@example.org", "diffusion").await;
        // A file where the outbox directory should be: every write fails,
        // which the file transport reports as a temporary failure.
        let outbox_dir = dir.path().join("outbox");
        std::fs::write(&outbox_dir, "not a directory").unwrap();

        let report = run_once(&run, DigestOptions::default()).await;
        assert_eq!((report.sent, report.deferred, report.failed), (0, 1, 0));
        let deferred = run.store.delivery_for(ada, day()).await.unwrap().unwrap();
        assert!(deferred.status.is_unfinished());

        // Not yet due for its retry: nothing is tried.
        std::fs::remove_file(&outbox_dir).unwrap();
        let early = run.resume_unfinished(day(), Utc::now()).await.unwrap();
        assert_eq!(early.sent, 0);
        // Once its time came, it goes out, with the Message-ID it was
        // reserved with.
        let later = Utc::now() + Duration::hours(2);
        let retried = run.resume_unfinished(day(), later).await.unwrap();
        assert_eq!(retried.sent, 1);
        let mails = outbox(&dir);
        assert_eq!(mails.len(), 1);
        assert!(mails[0].contains(&deferred.message_id), "{}", mails[0]);
        let again = run.resume_unfinished(day(), later).await.unwrap();
        assert_eq!(again.sent, 0);
    }

    #[tokio::test]
    async fn a_preview_renders_the_digest_and_changes_nothing() {
        let (run, dir) = digest_run().await;
        papers(&run, &["Diffusion models for proteins"]).await;
        let ada = subscriber(&run, "ada@example.org", "diffusion").await;
        let sub = run.store.subscriber_by_id(ada).await.unwrap();

        let rendered = run.preview(sub, day(), Utc::now()).await.unwrap().unwrap();
        assert!(rendered.text.contains("Diffusion models for proteins"));
        assert!(run.store.delivery_for(ada, day()).await.unwrap().is_none());
        assert!(outbox(&dir).is_empty());

        let nobody = subscriber(&run, "bob@example.org", "\"speech recognition\"").await;
        let sub = run.store.subscriber_by_id(nobody).await.unwrap();
        assert!(run.preview(sub, day(), Utc::now()).await.unwrap().is_none());
    }

    /// The `Matched:` lines of a rendered digest's text part.
    fn matched_lines(text: &str) -> Vec<String> {
        text.lines()
            .map(str::trim)
            .filter(|l| l.starts_with("Matched:"))
            .map(str::to_string)
            .collect()
    }

    #[tokio::test]
    async fn a_resumed_digest_explains_a_like_match_as_the_first_attempt_did() {
        let (run, dir) = digest_run().await;
        papers(
            &run,
            &[
                "Diffusion models for protein structure design",
                "Protein structure design with diffusion models",
                "Sparse attention for long documents",
            ],
        )
        .await;
        run.frequencies
            .recount_days(&run.store, &[day()].into(), Utc::now())
            .await
            .unwrap();
        let ada = subscriber(&run, "ada@example.org", "like:2606.00001").await;
        let sub = run.store.subscriber_by_id(ada).await.unwrap();
        let planned = run.preview(sub.clone(), day(), Utc::now()).await.unwrap();
        let planned = matched_lines(&planned.unwrap().text);
        assert!(
            planned
                .iter()
                .any(|l| l.starts_with("Matched: like:2606.00001 (similar: ‘Diffusion")),
            "{planned:?}"
        );

        // The first attempt is deferred; the digest is rebuilt from its
        // ledger rows (the preview of a reserved digest, and the retry).
        let outbox_dir = dir.path().join("outbox");
        std::fs::write(&outbox_dir, "not a directory").unwrap();
        let report = run_once(&run, DigestOptions::default()).await;
        assert_eq!(report.deferred, 1);
        let resumed = run.preview(sub, day(), Utc::now()).await.unwrap();
        assert_eq!(matched_lines(&resumed.unwrap().text), planned);
        std::fs::remove_file(&outbox_dir).unwrap();
        let later = Utc::now() + Duration::hours(2);
        assert_eq!(run.resume_unfinished(day(), later).await.unwrap().sent, 1);
        let mail = outbox(&dir).remove(0);
        assert!(mail.contains("like:2606.00001 (similar:"), "{mail}");
    }
}
