//! Document frequencies over a sliding window of days: how many of the
//! window's papers have each term, kept up to date by adding a day and
//! expiring an old one, never by recounting.
//!
//! The store keeps one [`DayDf`] blob per day (the day's paper count and,
//! per term, how many of that day's papers have it) and rebuilds a
//! [`DocumentFrequencies`] at start-up by adding the window's days; after
//! that each fetch adds its day and removes the days that fell out of the
//! window, handing back the very blobs it added. The totals are one flat
//! array over the hashed term space (8 MiB), so a lookup is an index. Pure:
//! no I/O, and the clock is an argument.

use std::collections::BTreeMap;

use chrono::{Days, NaiveDate};
use thiserror::Error;

use super::encoding::{put_terms, put_varint, DecodeError, Reader};
use super::terms::{TermCounts, MAX_TERM, TERM_SPACE};

const FORMAT: u8 = 1;

/// One day's document frequencies: its paper count and, ascending by term
/// id, how many of its papers have each term.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DayDf {
    papers: u32,
    terms: Vec<(u32, u32)>,
}

impl DayDf {
    /// Counts each paper's distinct terms once. Count a paper on the first
    /// day it is stored, not again when another source reports it.
    pub fn new<'a>(papers: impl IntoIterator<Item = &'a TermCounts>) -> Self {
        let mut all: Vec<u32> = Vec::new();
        let mut n = 0u32;
        for p in papers {
            n += 1;
            all.extend(p.ids());
        }
        all.sort_unstable();
        let mut terms: Vec<(u32, u32)> = Vec::new();
        for id in all {
            match terms.last_mut() {
                Some((last, c)) if *last == id => *c += 1,
                _ => terms.push((id, 1)),
            }
        }
        DayDf { papers: n, terms }
    }

    pub fn papers(&self) -> u32 {
        self.papers
    }

    /// `(term id, papers with it)`, ascending by id.
    pub fn terms(&self) -> &[(u32, u32)] {
        &self.terms
    }

    /// The blob the store keeps per day: format byte, paper count, term
    /// count, then delta-coded ids and counts, all varints.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + self.terms.len() * 4);
        out.push(FORMAT);
        put_varint(&mut out, u64::from(self.papers));
        put_varint(&mut out, self.terms.len() as u64);
        put_terms(&mut out, &self.terms, |o, n| put_varint(o, u64::from(n)));
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes, "day of document frequencies", FORMAT)?;
        let papers = r.u32()?;
        let n = r.u32()? as usize;
        let terms = r.terms(n, MAX_TERM, |r| {
            let at = r.position();
            match r.u32()? {
                c if c >= 1 && c <= papers => Ok(c),
                _ => Err(r.out_of_range(at)),
            }
        })?;
        r.finish()?;
        Ok(DayDf { papers, terms })
    }
}

/// A day could not be added to or removed from the window.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WindowError {
    #[error("document frequencies of {0} are already counted")]
    AlreadyCounted(NaiveDate),
    #[error("document frequencies of {0} are not counted")]
    NotCounted(NaiveDate),
    #[error("the day removed for {0} is not the day that was added (paper or term counts differ)")]
    Mismatch(NaiveDate),
}

/// The window's totals: papers, and per term id the papers that have it.
#[derive(Debug, Clone)]
pub struct DocumentFrequencies {
    window_days: u32,
    /// Empty until the first day is added (then [`TERM_SPACE`] long), so
    /// an empty table costs nothing.
    counts: Vec<u32>,
    papers: u64,
    /// The days counted, with their paper counts.
    days: BTreeMap<NaiveDate, u32>,
}

impl PartialEq for DocumentFrequencies {
    fn eq(&self, other: &Self) -> bool {
        let zeros = |c: &Vec<u32>| c.iter().all(|&n| n == 0);
        let counts_equal = match (self.counts.is_empty(), other.counts.is_empty()) {
            (true, true) => true,
            (true, false) => zeros(&other.counts),
            (false, true) => zeros(&self.counts),
            (false, false) => self.counts == other.counts,
        };
        self.window_days == other.window_days
            && self.papers == other.papers
            && self.days == other.days
            && counts_equal
    }
}

impl DocumentFrequencies {
    /// An empty table for a window of `window_days` days (at least 1).
    pub fn new(window_days: u32) -> Self {
        DocumentFrequencies {
            window_days: window_days.max(1),
            counts: Vec::new(),
            papers: 0,
            days: BTreeMap::new(),
        }
    }

    /// Counts a whole window from scratch: what the incremental table must
    /// always equal, and how the store rebuilds it at start-up.
    pub fn recount<'a>(
        window_days: u32,
        days: impl IntoIterator<Item = (NaiveDate, &'a DayDf)>,
    ) -> Result<Self, WindowError> {
        let mut t = Self::new(window_days);
        for (day, df) in days {
            t.add_day(day, df)?;
        }
        Ok(t)
    }

    pub fn window_days(&self) -> u32 {
        self.window_days
    }

    /// Papers in the window.
    pub fn papers(&self) -> u64 {
        self.papers
    }

    /// The days counted, oldest first.
    pub fn days(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        self.days.keys().copied()
    }

    /// Papers in the window that have term `id`.
    pub fn df(&self, id: u32) -> u32 {
        self.counts.get(id as usize).copied().unwrap_or(0)
    }

    /// Smoothed inverse document frequency, `ln((1 + N) / (1 + df)) + 1`:
    /// 1 for a term every paper has, larger for rarer ones, never zero, and
    /// 1 for everything while the window is empty.
    pub fn idf(&self, id: u32) -> f32 {
        let n = self.papers as f64;
        let df = f64::from(self.df(id));
        (((1.0 + n) / (1.0 + df)).ln() + 1.0) as f32
    }

    /// Adds a day's counts. A day already counted is an error: to correct
    /// a day, remove the old counts first.
    pub fn add_day(&mut self, day: NaiveDate, df: &DayDf) -> Result<(), WindowError> {
        if self.days.contains_key(&day) {
            return Err(WindowError::AlreadyCounted(day));
        }
        if self.counts.is_empty() {
            self.counts = vec![0; TERM_SPACE];
        }
        for &(id, n) in &df.terms {
            let c = &mut self.counts[id as usize];
            *c = c.saturating_add(n);
        }
        self.papers += u64::from(df.papers);
        self.days.insert(day, df.papers);
        Ok(())
    }

    /// Subtracts a day's counts; `df` must be what was added for `day`.
    /// Checked before anything changes, so a mismatch leaves the table as
    /// it was.
    pub fn remove_day(&mut self, day: NaiveDate, df: &DayDf) -> Result<(), WindowError> {
        match self.days.get(&day) {
            None => return Err(WindowError::NotCounted(day)),
            Some(&papers) if papers != df.papers => return Err(WindowError::Mismatch(day)),
            Some(_) => {}
        }
        if df.terms.iter().any(|&(id, n)| self.df(id) < n) {
            return Err(WindowError::Mismatch(day));
        }
        for &(id, n) in &df.terms {
            self.counts[id as usize] -= n;
        }
        self.papers -= u64::from(df.papers);
        self.days.remove(&day);
        Ok(())
    }

    /// The counted days that fall out of a window ending on `today`
    /// (inclusive): the caller removes each with [`Self::remove_day`].
    pub fn expired(&self, today: NaiveDate) -> Vec<NaiveDate> {
        let Some(first_kept) = today.checked_sub_days(Days::new(u64::from(self.window_days) - 1))
        else {
            return Vec::new();
        };
        self.days.range(..first_kept).map(|(&d, _)| d).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn day(n: u64) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + Days::new(n)
    }

    fn paper(ids: &[u32]) -> TermCounts {
        let mut v: Vec<(u32, u32)> = ids.iter().map(|&i| (i, 1)).collect();
        v.sort_unstable();
        v.dedup();
        TermCounts(v)
    }

    #[test]
    fn a_day_counts_each_paper_once_per_term() {
        let d = DayDf::new([&paper(&[1, 2]), &paper(&[2, 3]), &paper(&[2])]);
        assert_eq!(d.papers(), 3);
        assert_eq!(d.terms(), &[(1, 1), (2, 3), (3, 1)]);
    }

    #[test]
    fn idf_is_higher_for_rarer_terms_and_one_when_empty() {
        let empty = DocumentFrequencies::new(365);
        assert_eq!(empty.idf(5), 1.0);
        let mut t = DocumentFrequencies::new(365);
        t.add_day(day(0), &DayDf::new([&paper(&[1, 2]), &paper(&[1])]))
            .unwrap();
        assert!(t.idf(2) > t.idf(1));
        assert!(t.idf(3) > t.idf(2));
        assert!((t.idf(1) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn a_day_is_counted_once_and_only_its_own_counts_are_removed() {
        let mut t = DocumentFrequencies::new(365);
        let a = DayDf::new([&paper(&[1, 2])]);
        let b = DayDf::new([&paper(&[1]), &paper(&[1])]);
        t.add_day(day(0), &a).unwrap();
        assert_eq!(
            t.add_day(day(0), &a),
            Err(WindowError::AlreadyCounted(day(0)))
        );
        assert_eq!(t.remove_day(day(0), &b), Err(WindowError::Mismatch(day(0))));
        assert_eq!(
            t.remove_day(day(1), &a),
            Err(WindowError::NotCounted(day(1)))
        );
        assert_eq!(t.df(1), 1);
        t.remove_day(day(0), &a).unwrap();
        assert_eq!(t, DocumentFrequencies::new(365));
    }

    #[test]
    fn days_older_than_the_window_expire() {
        let mut t = DocumentFrequencies::new(3);
        for n in 0..5 {
            t.add_day(day(n), &DayDf::new([&paper(&[7])])).unwrap();
        }
        // A window of 3 days ending on day 4 keeps days 2, 3 and 4.
        assert_eq!(t.expired(day(4)), vec![day(0), day(1)]);
        assert_eq!(t.expired(day(1)), Vec::<NaiveDate>::new());
    }

    #[test]
    fn damaged_day_blobs_are_errors() {
        let d = DayDf::new([&paper(&[1, 2]), &paper(&[2])]);
        assert_eq!(DayDf::decode(&d.encode()).unwrap(), d);
        // A term in more papers than the day has.
        assert!(matches!(
            DayDf::decode(&[FORMAT, 1, 1, 4, 2]),
            Err(DecodeError::OutOfRange { .. })
        ));
        assert!(DayDf::decode(&[2]).is_err());
    }

    fn arb_day() -> impl Strategy<Value = Vec<Vec<u32>>> {
        // Papers with terms from a small space, so terms collide across days.
        proptest::collection::vec(proptest::collection::vec(0u32..60, 0..12), 0..8)
    }

    proptest! {
        /// Adding each new day and expiring the old ones, step by step,
        /// leaves exactly the table a recount of the window gives.
        #[test]
        fn the_sliding_window_equals_a_recount_of_its_days(
            days in proptest::collection::vec(arb_day(), 1..20),
            window in 1u32..8,
        ) {
            let dfs: Vec<DayDf> = days
                .iter()
                .map(|papers| {
                    let counts: Vec<TermCounts> = papers.iter().map(|p| paper(p)).collect();
                    DayDf::new(counts.iter())
                })
                .collect();
            let mut t = DocumentFrequencies::new(window);
            for (i, df) in dfs.iter().enumerate() {
                let today = day(i as u64);
                t.add_day(today, df).unwrap();
                for old in t.expired(today) {
                    let idx = (old - day(0)).num_days() as usize;
                    t.remove_day(old, &dfs[idx]).unwrap();
                }
                let first = i.saturating_sub(window as usize - 1);
                let recount = DocumentFrequencies::recount(
                    window,
                    (first..=i).map(|j| (day(j as u64), &dfs[j])),
                ).unwrap();
                prop_assert_eq!(&t, &recount);
            }
        }

        #[test]
        fn day_blobs_round_trip(papers in arb_day()) {
            let counts: Vec<TermCounts> = papers.iter().map(|p| paper(p)).collect();
            let d = DayDf::new(counts.iter());
            prop_assert_eq!(DayDf::decode(&d.encode()).unwrap(), d);
        }
    }
}
