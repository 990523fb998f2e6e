//! Proof of work: the PoW hash, targets and their compact form, and chain work.
//!
//! `pre = blake3(header without nonce)` is computed once per template; each attempt is
//! `pow = blake3(pre ‖ nonce_le64)`, a 40-byte input that blake3 processes with exactly
//! one compression. The PoW hash is read as a **little-endian** 256-bit number, so its
//! most significant 32 bits are output word 7 of that compression: a miner can reject
//! almost every nonce by comparing one word with [`Target::high_word`].

use std::fmt;

use ruint::aliases::{U256, U512};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

use crate::hash::Hash;

/// The PoW hash of a nonce under a pre-hash: `blake3(pre ‖ nonce_le64)`.
pub fn pow_hash(pre: &Hash, nonce: u64) -> Hash {
    let mut input = [0u8; 40];
    input[..32].copy_from_slice(&pre.0);
    input[32..].copy_from_slice(&nonce.to_le_bytes());
    Hash::digest(&input)
}

/// A 256-bit PoW target: a block is valid when its PoW hash, read little-endian, is at
/// most the target.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Target(pub U256);

/// A target in its 32-bit compact form: `exponent << 24 | mantissa`, value
/// `mantissa · 256^(exponent − 3)`. Canonical forms have `3 ≤ exponent ≤ 32` and a
/// mantissa whose top byte is non-zero, so every representable target has one encoding.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CompactTarget(pub u32);

/// Why a compact target is not acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum CompactError {
    /// Exponent outside 3..=32 or mantissa not normalised.
    #[error("non-canonical compact target {0:#010x}")]
    NonCanonical(u32),
}

impl CompactTarget {
    /// The smallest representable target, `2^16`.
    pub const MIN: CompactTarget = CompactTarget(0x0301_0000);
    /// The largest representable target, `0xffffff · 2^232`.
    pub const MAX: CompactTarget = CompactTarget(0x20ff_ffff);

    /// Expands to the full target, refusing non-canonical encodings.
    pub fn to_target(self) -> Result<Target, CompactError> {
        let exponent = self.0 >> 24;
        let mantissa = self.0 & 0x00ff_ffff;
        if !(3..=32).contains(&exponent) || mantissa < 0x01_0000 {
            return Err(CompactError::NonCanonical(self.0));
        }
        Ok(Target(
            U256::from(mantissa) << (8 * (exponent as usize - 3)),
        ))
    }
}

impl Target {
    /// The PoW hash as the number it is compared as.
    pub fn hash_value(hash: &Hash) -> U256 {
        U256::from_le_bytes(hash.0)
    }

    /// Whether `pow` meets this target.
    pub fn is_met_by(&self, pow: &Hash) -> bool {
        Self::hash_value(pow) <= self.0
    }

    /// The most significant 32 bits of the target: a PoW hash whose output word 7 is
    /// above this cannot meet the target; one equal to it needs the full comparison.
    pub fn high_word(&self) -> u32 {
        (self.0 >> 224usize).to::<u32>()
    }

    /// The compact form, rounding down to the 24-bit mantissa. Targets below
    /// [`CompactTarget::MIN`] round up to it (no smaller target is representable).
    pub fn to_compact(&self) -> CompactTarget {
        let bytes = self.0.bit_len().div_ceil(8).max(3);
        let mantissa = (self.0 >> (8 * (bytes - 3))).to::<u32>();
        if mantissa < 0x01_0000 {
            return CompactTarget::MIN;
        }
        let exponent = u32::try_from(bytes).expect("at most 32 bytes");
        CompactTarget((exponent << 24) | mantissa)
    }

    /// The expected number of hashes to meet this target: `2^256 / (target + 1)`.
    pub fn work(&self) -> Work {
        match self.0.checked_add(U256::from(1u8)) {
            Some(t1) => Work((!self.0 / t1) + U256::from(1u8)),
            None => Work(U256::from(1u8)),
        }
    }

    /// `self · factor · 2^shift_left` (a negative `shift_left` shifts right, flooring)
    /// in 512-bit intermediate precision, clamped to `limit`. Used by ASERT.
    pub(crate) fn scale(&self, factor: u64, shift_left: i64, limit: &Target) -> Target {
        let wide = U512::from_limbs_slice(self.0.as_limbs()) * U512::from(factor);
        let shifted = if shift_left >= 0 {
            // Any target is < 2^256 and factor < 2^17, so a shift of 256 or more
            // certainly exceeds every limit.
            match usize::try_from(shift_left) {
                Ok(s) if s < 256 && wide.bit_len() + s <= 512 => wide << s,
                _ => return *limit,
            }
        } else {
            match usize::try_from(shift_left.unsigned_abs()) {
                Ok(s) if s < 512 => wide >> s,
                _ => U512::ZERO,
            }
        };
        if shifted.bit_len() > 256 {
            return *limit;
        }
        let t = Target(U256::from_limbs_slice(&shifted.as_limbs()[..4]));
        if t > *limit { *limit } else { t }
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Target({:#066x})", self.0)
    }
}

impl fmt::Display for CompactTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#010x}", self.0)
    }
}

impl fmt::Debug for CompactTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CompactTarget({self})")
    }
}

impl std::str::FromStr for CompactTarget {
    type Err = CompactError;

    /// Parses `0x` followed by eight hex digits; the value must be canonical.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = s.strip_prefix("0x").filter(|d| {
            d.len() == 8
                && d.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        });
        let v = digits
            .and_then(|d| u32::from_str_radix(d, 16).ok())
            .ok_or(CompactError::NonCanonical(0))?;
        let c = CompactTarget(v);
        c.to_target()?;
        Ok(c)
    }
}

impl Serialize for CompactTarget {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CompactTarget {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(|_| {
            serde::de::Error::custom(format_args!(
                "invalid compact target {s:?}: expected a canonical 0x-prefixed 8-digit hex value"
            ))
        })
    }
}

/// Cumulative proof of work: the sum of [`Target::work`] over a chain.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Work(pub U256);

impl Work {
    /// No work.
    pub const ZERO: Work = Work(U256::ZERO);

    /// `self + rhs`, saturating (2^256 hashes will never be done).
    pub fn saturating_add(self, rhs: Work) -> Work {
        Work(self.0.saturating_add(rhs.0))
    }

    /// The 32 big-endian bytes, for storage keys and encodings that sort by value.
    pub fn to_be_bytes(&self) -> [u8; 32] {
        self.0.to_be_bytes()
    }

    /// From 32 big-endian bytes.
    pub fn from_be_bytes(b: [u8; 32]) -> Work {
        Work(U256::from_be_bytes(b))
    }
}

impl fmt::Debug for Work {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Work({:#x})", self.0)
    }
}

impl fmt::Display for Work {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

impl Serialize for Work {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Work {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let digits = s
            .strip_prefix("0x")
            .ok_or_else(|| serde::de::Error::custom("expected 0x"))?;
        U256::from_str_radix(digits, 16)
            .map(Work)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pow_hash_is_blake3_of_pre_and_le_nonce() {
        let pre = Hash::digest(b"header");
        let mut buf = pre.0.to_vec();
        buf.extend_from_slice(&0x0102_0304_0506_0708u64.to_le_bytes());
        assert_eq!(pow_hash(&pre, 0x0102_0304_0506_0708), Hash::digest(&buf));
    }

    #[test]
    fn compact_vectors() {
        let t = CompactTarget(0x1e01_0000).to_target().unwrap();
        assert_eq!(t.0, U256::from(1u8) << 232);
        assert_eq!(t.to_compact(), CompactTarget(0x1e01_0000));
        let t = CompactTarget(0x2001_0000).to_target().unwrap();
        assert_eq!(t.0, U256::from(1u8) << 248);
        assert_eq!(
            CompactTarget::MIN.to_target().unwrap().0,
            U256::from(0x1_0000u32)
        );
        let max = CompactTarget::MAX.to_target().unwrap();
        assert_eq!(max.0, U256::from(0xff_ffffu32) << 232);
        assert_eq!(max.high_word(), 0xffff_ff00);
    }

    #[test]
    fn non_canonical_compacts_are_rejected() {
        for bad in [
            0x0000_0000,
            0x0200_ffff,
            0x2100_8000 | 0x01_0000,
            0x1e00_ffff,
            0xff01_0000,
        ] {
            assert!(CompactTarget(bad).to_target().is_err(), "{bad:#x}");
        }
        assert!("0x1e010000".parse::<CompactTarget>().is_ok());
        assert!("0x1e00ffff".parse::<CompactTarget>().is_err());
        assert!("1e010000".parse::<CompactTarget>().is_err());
        assert!("0x+e010000".parse::<CompactTarget>().is_err());
        assert!("0x1E010000".parse::<CompactTarget>().is_err());
    }

    #[test]
    fn to_compact_rounds_down() {
        let t = Target((U256::from(0x12_3456u32) << 96) + U256::from(12345u32));
        let c = t.to_compact();
        assert_eq!(c.to_target().unwrap().0, U256::from(0x12_3456u32) << 96);
        assert_eq!(Target(U256::from(5u8)).to_compact(), CompactTarget::MIN);
        assert_eq!(Target(U256::MAX).to_compact(), CompactTarget::MAX);
    }

    #[test]
    fn target_comparison_uses_little_endian() {
        let target = Target(U256::from(1u8) << 248);
        let mut h = [0u8; 32];
        h[31] = 0x01; // value exactly 2^248
        assert!(target.is_met_by(&Hash(h)));
        h[0] = 0x01; // 2^248 + 1
        assert!(!target.is_met_by(&Hash(h)));
        assert_eq!(target.high_word(), 0x0100_0000);
        let word7 = u32::from_le_bytes(h[28..32].try_into().unwrap());
        assert_eq!(word7, 0x0100_0000);
    }

    #[test]
    fn work_values() {
        assert_eq!(Target(U256::MAX).work().0, U256::from(1u8));
        assert_eq!(Target(U256::MAX >> 1).work().0, U256::from(2u8));
        // 2^256 / (2^232 + 1) rounds down to 2^24 - 1.
        assert_eq!(
            Target(U256::from(1u8) << 232).work().0,
            U256::from(0xff_ffffu32)
        );
    }
}
