//! Canonical binary encoding.
//!
//! Every consensus object has exactly one byte form. Integers are little-endian and
//! fixed-width; sequences carry a `u32` little-endian element count. Decoding is strict:
//! a short input, a count larger than the remaining bytes could hold, an unknown tag or
//! trailing bytes are all errors, and no input makes a decoder panic; counts are
//! bounded by the bytes left, so what a decoder allocates is a small multiple of the
//! input's own size.

use thiserror::Error;

/// Why a byte string is not the canonical encoding of the expected type.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The input ended before the value did.
    #[error("unexpected end of input: needed {needed} more bytes, {remaining} left")]
    UnexpectedEnd {
        /// Bytes the next field needed.
        needed: usize,
        /// Bytes that were left.
        remaining: usize,
    },
    /// The value ended before the input did.
    #[error("{0} trailing bytes after the value")]
    TrailingBytes(usize),
    /// A sequence length is larger than the remaining input or a hard limit allows.
    #[error("length {len} exceeds the limit of {max}")]
    LengthTooLarge {
        /// The announced length.
        len: u64,
        /// The largest acceptable length here.
        max: u64,
    },
    /// A tag byte names no known variant.
    #[error("unknown {what} tag {tag:#04x}")]
    UnknownTag {
        /// What kind of value the tag selects.
        what: &'static str,
        /// The tag that was read.
        tag: u8,
    },
    /// A field holds a value that has another, canonical, encoding or no meaning.
    #[error("non-canonical {0}")]
    NonCanonical(&'static str),
}

/// A cursor over untrusted input.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Starts reading `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// Takes the next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.buf.len() {
            return Err(DecodeError::UnexpectedEnd {
                needed: n,
                remaining: self.buf.len(),
            });
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    /// Takes the next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// Reads one byte.
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    /// Reads a little-endian `u32`.
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    /// Reads a little-endian `u64`.
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// Reads a sequence count and checks it against `max` and against the input left,
    /// given that every element takes at least `min_element_len` bytes. This is what
    /// keeps a forged count from turning into a huge allocation.
    pub fn count(&mut self, max: usize, min_element_len: usize) -> Result<usize, DecodeError> {
        let len = self.u32()? as usize;
        let by_input = self.remaining() / min_element_len.max(1);
        let limit = max.min(by_input);
        if len > limit {
            return Err(DecodeError::LengthTooLarge {
                len: len as u64,
                max: limit as u64,
            });
        }
        Ok(len)
    }

    /// Fails unless the whole input was consumed.
    pub fn finish(self) -> Result<(), DecodeError> {
        match self.buf.len() {
            0 => Ok(()),
            n => Err(DecodeError::TrailingBytes(n)),
        }
    }
}

/// A value with a canonical byte encoding.
pub trait Encode {
    /// Appends the canonical encoding to `out`.
    fn encode_to(&self, out: &mut Vec<u8>);

    /// The exact length of the encoding.
    fn encoded_len(&self) -> usize;

    /// The canonical encoding as a new vector.
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode_to(&mut out);
        out
    }
}

/// A value that can be strictly decoded from its canonical encoding.
pub trait Decode: Sized {
    /// Reads one value from the cursor, leaving the rest.
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError>;

    /// Decodes a whole byte string: trailing bytes are an error.
    fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let value = Self::decode_from(&mut r)?;
        r.finish()?;
        Ok(value)
    }
}

/// Decodes a whole byte string of at most `max` bytes, refusing longer inputs before
/// reading anything (for the decoders of inputs that may be megabytes).
pub(crate) fn decode_capped<T: Decode>(bytes: &[u8], max: usize) -> Result<T, DecodeError> {
    if bytes.len() > max {
        return Err(DecodeError::LengthTooLarge {
            len: bytes.len() as u64,
            max: max as u64,
        });
    }
    let mut r = Reader::new(bytes);
    let value = T::decode_from(&mut r)?;
    r.finish()?;
    Ok(value)
}

/// Appends a sequence count. Counts are bounded by the decoders' limits, which are far
/// below `u32::MAX`, so the conversion cannot fail for any value a decoder accepts.
pub(crate) fn put_count(out: &mut Vec<u8>, n: usize) {
    let n = u32::try_from(n).expect("sequence lengths are bounded far below u32::MAX");
    out.extend_from_slice(&n.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_reports_short_input() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(
            r.u32(),
            Err(DecodeError::UnexpectedEnd {
                needed: 4,
                remaining: 3
            })
        );
    }

    #[test]
    fn count_is_bounded_by_input_and_limit() {
        // 1000 elements of 10 bytes announced, 20 bytes present.
        let mut bytes = 1000u32.to_le_bytes().to_vec();
        bytes.extend_from_slice(&[0; 20]);
        let mut r = Reader::new(&bytes);
        assert_eq!(
            r.count(5000, 10),
            Err(DecodeError::LengthTooLarge { len: 1000, max: 2 })
        );
        let mut r = Reader::new(&bytes);
        assert!(matches!(
            r.count(1, 0),
            Err(DecodeError::LengthTooLarge { .. })
        ));
    }

    #[test]
    fn finish_rejects_trailing_bytes() {
        let mut r = Reader::new(&[0, 0, 0, 0, 9]);
        r.u32().unwrap();
        assert_eq!(r.finish(), Err(DecodeError::TrailingBytes(1)));
    }
}
