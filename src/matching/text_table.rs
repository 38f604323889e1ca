//! The per-run tables of topic texts (each distinct text → its id in the
//! matcher's cache and how many papers it matched) and of terms (each
//! distinct term, by its byte encoding → its id and its atom).
//!
//! A digest run looks up every topic of every subscriber here (three
//! million lookups at a million subscribers), and most texts are rare, so
//! a lookup is a cache miss on its slot and, in a map of boxed strings, a
//! second one on the key. This table keeps every key in one arena, stores
//! each key's full hash in its slot (so comparing a slot costs no arena
//! access unless the hashes agree), and answers a whole page of lookups
//! at once: it first touches the page's slots, then the page's keys, so
//! the misses of independent lookups overlap instead of queueing.

/// Keys are byte strings, compared exactly: a slot matches only when its
/// full hash and its bytes both equal the key's.
pub(crate) struct TextTable {
    /// Open addressing with linear probing; a power-of-two length, at most
    /// half full. A slot whose `hash` is 0 is empty.
    slots: Vec<Slot>,
    /// Every key's bytes, back to back.
    arena: Vec<u8>,
    len: usize,
}

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    hash: u64,
    start: u32,
    len: u32,
    value: u32,
    count: u32,
}

/// What [`TextTable`] holds per text: the caller's value and a count.
pub(crate) type Entry = (u32, u32);

const MIN_SLOTS: usize = 1024;

impl Default for TextTable {
    fn default() -> Self {
        TextTable {
            slots: vec![Slot::default(); MIN_SLOTS],
            arena: Vec::new(),
            len: 0,
        }
    }
}

impl TextTable {
    #[cfg(test)]
    fn len(&self) -> usize {
        self.len
    }

    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    fn key(&self, s: &Slot) -> &[u8] {
        &self.arena[s.start as usize..s.start as usize + s.len as usize]
    }

    /// The entry of `key`, if present.
    pub(crate) fn get(&self, key: &[u8]) -> Option<Entry> {
        self.find(hash_key(key), key, None)
    }

    /// Probes from `hash`'s home slot (or from `from`, a slot no earlier
    /// than where a match could be) for `text`.
    fn find(&self, hash: u64, text: &[u8], from: Option<usize>) -> Option<Entry> {
        let mask = self.mask();
        let mut i = from.unwrap_or(hash as usize & mask);
        loop {
            let s = &self.slots[i];
            if s.hash == 0 {
                return None;
            }
            if s.hash == hash && self.key(s) == text {
                return Some((s.value, s.count));
            }
            i = (i + 1) & mask;
        }
    }

    /// Adds `key`, which must not be present yet. Past 4 GiB of keys in
    /// one table (more than a million distinct texts of the longest kind)
    /// a key is not added: callers treat it as unseen, which costs time,
    /// never a wrong answer.
    pub(crate) fn insert(&mut self, key: &[u8], (value, count): Entry) {
        debug_assert!(self.get(key).is_none(), "{key:?} is already present");
        let (Ok(start), Ok(_)) = (
            u32::try_from(self.arena.len()),
            u32::try_from(self.arena.len() + key.len()),
        ) else {
            return;
        };
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow();
        }
        self.arena.extend_from_slice(key);
        let slot = Slot {
            hash: hash_key(key),
            start,
            len: key.len() as u32,
            value,
            count,
        };
        self.place(slot);
        self.len += 1;
    }

    fn place(&mut self, slot: Slot) {
        let mask = self.mask();
        let mut i = slot.hash as usize & mask;
        while self.slots[i].hash != 0 {
            i = (i + 1) & mask;
        }
        self.slots[i] = slot;
    }

    fn grow(&mut self) {
        let doubled = vec![Slot::default(); self.slots.len() * 2];
        let old = std::mem::replace(&mut self.slots, doubled);
        for s in old.into_iter().filter(|s| s.hash != 0) {
            self.place(s);
        }
    }

    /// [`TextTable::get`] of every key in `keys`, in order, into `out`
    /// (cleared first). The answer is the same as looking each up in turn;
    /// only the order of memory accesses differs.
    pub(crate) fn get_many<K: AsRef<[u8]>>(&self, keys: &[K], out: &mut Vec<Option<Entry>>) {
        out.clear();
        let mask = self.mask();
        let hashes: Vec<u64> = keys.iter().map(|k| hash_key(k.as_ref())).collect();
        // Touch each home slot: independent loads, so their misses overlap.
        let mut sink = 0u64;
        for &h in &hashes {
            sink ^= self.slots[h as usize & mask].hash;
        }
        // The first slot whose hash agrees (the key's, but for a 64-bit
        // collision); touch its key.
        let mut first: Vec<Option<usize>> = Vec::with_capacity(keys.len());
        for &h in &hashes {
            let mut i = h as usize & mask;
            let hit = loop {
                let s = &self.slots[i];
                if s.hash == 0 {
                    break None;
                }
                if s.hash == h {
                    sink ^= u64::from(self.arena.get(s.start as usize).copied().unwrap_or(0));
                    break Some(i);
                }
                i = (i + 1) & mask;
            };
            first.push(hit);
        }
        std::hint::black_box(sink);
        out.extend(
            keys.iter()
                .zip(&hashes)
                .zip(&first)
                .map(|((key, &h), &from)| from.and_then(|i| self.find(h, key.as_ref(), Some(i)))),
        );
    }
}

/// The table's hash of a key: never 0 (an empty slot's mark).
fn hash_key(key: &[u8]) -> u64 {
    use std::hash::Hasher;
    let mut h = super::hasher::TermHasher::default();
    h.write(key);
    h.write_usize(key.len());
    h.finish().max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn entries_survive_growth_and_absent_texts_are_absent() {
        let mut t = TextTable::default();
        for i in 0..10_000u32 {
            t.insert(format!("ti:word{i}").as_bytes(), (i, i % 7));
        }
        assert_eq!(t.len(), 10_000);
        for i in 0..10_000u32 {
            assert_eq!(t.get(format!("ti:word{i}").as_bytes()), Some((i, i % 7)));
        }
        assert_eq!(t.get(b"ti:word10000"), None);
        assert_eq!(t.get(b""), None);
        t.insert(b"", (99, 0));
        assert_eq!(t.get(b""), Some((99, 0)));
    }

    #[test]
    fn a_page_of_lookups_answers_as_lookups_one_by_one() {
        let mut t = TextTable::default();
        for i in 0..3000u32 {
            t.insert(format!("abs:\"phrase {i}\"").as_bytes(), (i, 1));
        }
        let texts: Vec<String> = (2500..3500)
            .map(|i| format!("abs:\"phrase {i}\""))
            .collect();
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        let mut out = Vec::new();
        t.get_many(&texts, &mut out);
        let one_by_one: Vec<_> = texts.iter().map(|x| t.get(x.as_bytes())).collect();
        assert_eq!(out, one_by_one);
        assert_eq!(out.iter().filter(|e| e.is_some()).count(), 500);
    }

    /// Texts whose full hashes collide are still told apart by their bytes.
    #[test]
    fn a_full_hash_collision_compares_the_texts() {
        let mut t = TextTable::default();
        // Same hash forced: place two slots with one hash by hand.
        t.insert(b"a", (1, 0));
        let h = hash_key(b"a");
        let start = t.arena.len() as u32;
        t.arena.push(b'b');
        t.place(Slot {
            hash: h,
            start,
            len: 1,
            value: 2,
            count: 0,
        });
        t.len += 1;
        assert_eq!(t.find(h, b"a", None), Some((1, 0)));
        assert_eq!(t.find(h, b"b", None), Some((2, 0)));
        let mut out = Vec::new();
        t.get_many(&["b", "a", "c"], &mut out);
        assert_eq!(out[1], Some((1, 0)));
        assert_eq!(out[2], None);
        // "b" is reached through the slot of "a" by probing on.
        assert_eq!(t.find(h, b"b", Some(h as usize & t.mask())), Some((2, 0)));
    }

    proptest! {
        #[test]
        fn behaves_as_a_map(ops in proptest::collection::vec(("[a-c ]{0,4}", any::<u32>()), 0..300)) {
            let mut t = TextTable::default();
            let mut m = std::collections::HashMap::new();
            for (k, v) in &ops {
                if !m.contains_key(k) {
                    t.insert(k.as_bytes(), (*v, v % 3));
                    m.insert(k.clone(), (*v, v % 3));
                }
            }
            prop_assert_eq!(t.len(), m.len());
            let keys: Vec<&str> = ops.iter().map(|(k, _)| k.as_str()).chain(["zz", "a b c d e"]).collect();
            let mut out = Vec::new();
            t.get_many(&keys, &mut out);
            for (k, got) in keys.iter().zip(out) {
                prop_assert_eq!(got, m.get(*k).copied());
                prop_assert_eq!(t.get(k.as_bytes()), m.get(*k).copied());
            }
        }
    }
}
