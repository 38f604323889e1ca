//! A set of paper indices as a bitset: one bit per paper of the day, so
//! boolean query evaluation is word-wide AND/OR/AND-NOT.

/// The papers (by index into the slice given to
/// [`crate::matching::Matcher::new`]) that a query matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaperSet {
    bits: Vec<u64>,
    universe: usize,
}

impl PaperSet {
    pub(crate) fn empty(universe: usize) -> Self {
        PaperSet {
            bits: vec![0; universe.div_ceil(64)],
            universe,
        }
    }

    /// A set from its words (bits beyond `universe` are cleared).
    pub(crate) fn from_words(bits: Vec<u64>, universe: usize) -> Self {
        let mut s = PaperSet { bits, universe };
        s.clear_tail();
        s
    }

    /// The set's words: bit `i % 64` of word `i / 64` is paper `i`.
    pub(crate) fn words(&self) -> &[u64] {
        &self.bits
    }

    /// How many papers the set ranges over.
    pub(crate) fn universe(&self) -> usize {
        self.universe
    }

    pub(crate) fn insert(&mut self, i: usize) {
        self.bits[i / 64] |= 1 << (i % 64);
    }

    pub(crate) fn remove(&mut self, i: usize) {
        self.bits[i / 64] &= !(1 << (i % 64));
    }

    /// Whether paper `i` is in the set (false for indices out of range).
    pub fn contains(&self, i: usize) -> bool {
        i < self.universe && self.bits[i / 64] & (1 << (i % 64)) != 0
    }

    /// How many papers are in the set.
    pub fn len(&self) -> usize {
        self.bits.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.bits.iter().all(|&w| w == 0)
    }

    /// Paper indices in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.bits.iter().enumerate().flat_map(|(wi, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let bit = w.trailing_zeros() as usize;
                w &= w - 1;
                Some(wi * 64 + bit)
            })
        })
    }

    pub(crate) fn and_with(&mut self, other: &PaperSet) {
        for (a, b) in self.bits.iter_mut().zip(&other.bits) {
            *a &= b;
        }
    }

    pub(crate) fn or_with(&mut self, other: &PaperSet) {
        for (a, b) in self.bits.iter_mut().zip(&other.bits) {
            *a |= b;
        }
    }

    /// Removes every paper of `other` from this set.
    pub(crate) fn and_not_with(&mut self, other: &PaperSet) {
        for (a, b) in self.bits.iter_mut().zip(&other.bits) {
            *a &= !b;
        }
    }

    /// Complement relative to all papers of the day.
    pub(crate) fn invert(&mut self) {
        for w in &mut self.bits {
            *w = !*w;
        }
        self.clear_tail();
    }

    fn clear_tail(&mut self) {
        let rem = self.universe % 64;
        if rem != 0 {
            if let Some(last) = self.bits.last_mut() {
                *last &= (1u64 << rem) - 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn set_operations_agree_with_a_vec_of_bools(
            a in proptest::collection::vec(any::<bool>(), 0..200),
            seed in proptest::collection::vec(any::<bool>(), 200),
        ) {
            let n = a.len();
            let b: Vec<bool> = seed[..n].to_vec();
            let mk = |v: &[bool]| {
                let mut s = PaperSet::empty(n);
                for (i, &x) in v.iter().enumerate() { if x { s.insert(i) } }
                s
            };
            let (sa, sb) = (mk(&a), mk(&b));
            let mut and = sa.clone(); and.and_with(&sb);
            let mut or = sa.clone(); or.or_with(&sb);
            let mut minus = sa.clone(); minus.and_not_with(&sb);
            let mut not = sa.clone(); not.invert();
            for i in 0..n {
                prop_assert_eq!(and.contains(i), a[i] && b[i]);
                prop_assert_eq!(or.contains(i), a[i] || b[i]);
                prop_assert_eq!(minus.contains(i), a[i] && !b[i]);
                prop_assert_eq!(not.contains(i), !a[i]);
            }
            prop_assert_eq!(not.len(), n - sa.len());
            let mut full = PaperSet::empty(n); full.invert();
            prop_assert_eq!(full.len(), n);
            prop_assert_eq!(sa.iter().collect::<Vec<_>>(), (0..n).filter(|&i| a[i]).collect::<Vec<_>>());
            prop_assert!(!sa.contains(n));
            let mut r = sa.clone();
            for i in 0..n { r.remove(i) }
            prop_assert!(r.is_empty());
        }
    }
}
