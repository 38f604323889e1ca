//! Ranking by what a reader liked: paper vectors, document frequencies,
//! subscriber profiles learned from "more like this" / "less like this"
//! marks, and the scores and orderings a digest needs.
//!
//! Pure: no I/O, no SQL, no async, no clock, no logging (marks are
//! personal data). It depends only on [`crate::domain`] (the paper) and
//! the matcher's tokenizer and stemmer, so a word means the same thing to
//! a topic and to a profile. Everything it stores is a derived blob the
//! caller keeps and hands back. The digest run (`digest::ranked`) uses it
//! to rank a subscriber's papers by their marks; `docs/RANKING.md` says how
//! it is wired and what is still planned.
//!
//! - [`terms`]: a paper's features (stemmed words, word pairs, authors),
//!   hashed to stable term ids.
//! - [`df`]: document frequencies over a sliding window of days, added and
//!   expired a day at a time.
//! - [`vector`]: the stored paper vector (term counts) and its weighted,
//!   unit-length form.
//! - [`profile`]: a subscriber's profile from their marks (Rocchio, or a
//!   linear SVM), stored as a blob.
//! - [`day`]: a day's papers indexed by term; a subscriber's scores,
//!   section order, recommendations with reasons, and `like:ID`.
//!
//! The flow (wired by `digest::frequencies` and `digest::ranked`): at
//! fetch time `Features::counts` → `DayDf::new` (stored per day) →
//! `DocumentFrequencies::remove_day`/`add_day` (the daemon's sum of the
//! last 365 days) → `PaperVector::new` (stored per paper); when a
//! subscriber marks, `Profile::build` (stored in the mark's transaction);
//! in the digest run `Day::new` once over the stored vectors, then per
//! subscriber `Day::rank` with their stored profile →
//! `Ranking::order` / `Ranking::recommend` / [`reason`].
//!
//! ```
//! use paperboy::domain::{Paper, PaperId};
//! use paperboy::ranking::{
//!     Day, DayDf, DocumentFrequencies, Features, Mark, Marked, PaperVector, Profile, Weighting,
//! };
//!
//! let papers = [
//!     ("1", "Surface codes for quantum error correction"),
//!     ("2", "A fast decoder for quantum surface codes"),
//!     ("3", "Diffusion models for image generation"),
//! ];
//! let papers: Vec<Paper> = papers
//!     .iter()
//!     .map(|(id, t)| Paper::new(PaperId::from_stored(id.to_string()), t, "", "https://x"))
//!     .collect();
//! let features = Features::new();
//! let counts: Vec<_> = papers.iter().map(|p| features.counts(p)).collect();
//! let mut df = DocumentFrequencies::new(365);
//! let today = chrono::NaiveDate::from_ymd_opt(2026, 6, 12).unwrap();
//! df.add_day(today, &DayDf::new(counts.iter())).unwrap();
//! let vectors: Vec<PaperVector> = counts.iter().map(|c| PaperVector::new(c, &df)).collect();
//!
//! let marked = [Marked { paper: &papers[0].id, mark: Mark::More, vector: &vectors[0] }];
//! let profile = Profile::build(&marked, &df).unwrap();
//!
//! let day = Day::new(papers.iter().map(|p| p.id.clone()).zip(&vectors), &df, Weighting::DEFAULT);
//! let ranking = day.rank(&profile, &[]);
//! let mut section = vec![2, 1];
//! ranking.order(&mut section, |i| papers[i].upvotes);
//! assert_eq!(section, vec![1, 2]);
//! ```

pub mod day;
pub mod df;
mod encoding;
pub mod profile;
pub mod terms;
pub mod vector;

pub use day::{
    reason, Day, Less, Ranking, Recommendation, Standing, LIKE_THRESHOLD, RECOMMEND_THRESHOLD,
    SINK_SIMILARITY,
};
pub use df::{DayDf, DocumentFrequencies, WindowError};
pub use encoding::DecodeError;
pub use profile::{Background, Mark, Marked, Method, Profile, MAX_PROFILE_TERMS};
pub use terms::{Features, TermCounts, TERM_BITS, TERM_SPACE};
pub use vector::{PaperVector, Weighted, Weighting, MAX_PAPER_TERMS};
