//! The byte layout shared by every ranking blob (paper vectors, a day's
//! document frequencies, profiles): a format byte, then LEB128 varints,
//! term ids delta-coded in ascending order. This module owns the varint
//! reader and writer and the one error a blob can raise; it knows nothing
//! of what the numbers mean.

use thiserror::Error;

/// Why a stored ranking blob could not be read back. The store maps it to
/// "recompute from the paper" (vectors) or "rebuild from the marks"
/// (profiles); it never means data was lost, since every blob is derived.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("{what}: empty blob")]
    Empty { what: &'static str },
    #[error("{what}: unknown format byte {found} (expected {expected})")]
    Format {
        what: &'static str,
        found: u8,
        expected: u8,
    },
    #[error("{what}: truncated at byte {at}")]
    Truncated { what: &'static str, at: usize },
    #[error("{what}: value out of range at byte {at}")]
    OutOfRange { what: &'static str, at: usize },
    #[error("{what}: term ids not strictly ascending at byte {at}")]
    Unordered { what: &'static str, at: usize },
    #[error("{what}: {extra} bytes after the last entry")]
    Trailing { what: &'static str, extra: usize },
}

/// Appends `v` as an unsigned LEB128 varint.
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads a blob written with [`put_varint`] and friends, with positions in
/// its errors.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// Checks the format byte and positions after it.
    pub(crate) fn new(
        bytes: &'a [u8],
        what: &'static str,
        format: u8,
    ) -> Result<Self, DecodeError> {
        let Some(&first) = bytes.first() else {
            return Err(DecodeError::Empty { what });
        };
        if first != format {
            return Err(DecodeError::Format {
                what,
                found: first,
                expected: format,
            });
        }
        Ok(Reader { bytes, at: 1, what })
    }

    pub(crate) fn varint(&mut self) -> Result<u64, DecodeError> {
        let start = self.at;
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let Some(&b) = self.bytes.get(self.at) else {
                return Err(DecodeError::Truncated {
                    what: self.what,
                    at: self.at,
                });
            };
            self.at += 1;
            let low = u64::from(b & 0x7f);
            if shift == 63 && low > 1 {
                return Err(self.out_of_range(start));
            }
            v |= low << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.out_of_range(start))
    }

    /// A varint that must fit in `u32`.
    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        let start = self.at;
        let v = self.varint()?;
        u32::try_from(v).map_err(|_| self.out_of_range(start))
    }

    /// Four little-endian bytes.
    pub(crate) fn f32(&mut self) -> Result<f32, DecodeError> {
        let end = self.at + 4;
        let Some(b) = self.bytes.get(self.at..end) else {
            return Err(DecodeError::Truncated {
                what: self.what,
                at: self.bytes.len(),
            });
        };
        self.at = end;
        let v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        if v.is_finite() {
            Ok(v)
        } else {
            Err(self.out_of_range(end - 4))
        }
    }

    /// Reads `n` ascending term ids (delta-coded, the first from 0) each
    /// followed by what `value` reads, rejecting ids past `max_id`.
    pub(crate) fn terms<T>(
        &mut self,
        n: usize,
        max_id: u32,
        mut value: impl FnMut(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Vec<(u32, T)>, DecodeError> {
        // A corrupt count must not allocate gigabytes: every entry takes at
        // least two bytes.
        let mut out = Vec::with_capacity(n.min(self.remaining() / 2));
        let mut prev: Option<u32> = None;
        for _ in 0..n {
            let at = self.at;
            let delta = self.u32()?;
            let id = match prev {
                None => delta,
                Some(p) => {
                    if delta == 0 {
                        return Err(DecodeError::Unordered {
                            what: self.what,
                            at,
                        });
                    }
                    p.checked_add(delta).ok_or(self.out_of_range(at))?
                }
            };
            if id > max_id {
                return Err(self.out_of_range(at));
            }
            prev = Some(id);
            out.push((id, value(self)?));
        }
        Ok(out)
    }

    /// The offset of the next byte to read.
    pub(crate) fn position(&self) -> usize {
        self.at
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }

    pub(crate) fn out_of_range(&self, at: usize) -> DecodeError {
        DecodeError::OutOfRange {
            what: self.what,
            at,
        }
    }

    /// Fails unless every byte was read.
    pub(crate) fn finish(self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            extra => Err(DecodeError::Trailing {
                what: self.what,
                extra,
            }),
        }
    }
}

/// Writes ascending `(id, value)` pairs delta-coded, each value by `value`.
pub(crate) fn put_terms<T: Copy>(
    out: &mut Vec<u8>,
    terms: &[(u32, T)],
    mut value: impl FnMut(&mut Vec<u8>, T),
) {
    let mut prev: Option<u32> = None;
    for &(id, v) in terms {
        let delta = match prev {
            None => id,
            Some(p) => id - p,
        };
        put_varint(out, u64::from(delta));
        value(out, v);
        prev = Some(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn varints_round_trip(v in any::<u64>()) {
            let mut out = vec![7];
            put_varint(&mut out, v);
            let mut r = Reader::new(&out, "test", 7).unwrap();
            prop_assert_eq!(r.varint().unwrap(), v);
            prop_assert!(r.finish().is_ok());
        }
    }

    #[test]
    fn a_varint_longer_than_64_bits_is_out_of_range_not_a_panic() {
        let mut bytes = vec![1];
        bytes.extend([0xff; 10]);
        bytes.push(0x01);
        let mut r = Reader::new(&bytes, "test", 1).unwrap();
        assert!(matches!(r.varint(), Err(DecodeError::OutOfRange { .. })));
    }

    #[test]
    fn a_wrong_format_byte_names_both_bytes() {
        let err = Reader::new(&[9, 0], "paper vector", 1).err().unwrap();
        assert_eq!(
            err.to_string(),
            "paper vector: unknown format byte 9 (expected 1)"
        );
    }
}
