//! Account addresses and their checksummed text form.
//!
//! An address is the first 20 bytes of `blake3::derive_key("cairn address v1", pubkey)`.
//! Its text form is bech32m (BIP-350) with the human-readable part `cairn`, e.g.
//! `cairn1...`: the checksum catches any mistyping of up to four characters.

use std::fmt;
use std::str::FromStr;

use bech32::{Bech32m, Hrp};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

use crate::encoding::{Decode, DecodeError, Encode, Reader};
use crate::keys::PublicKey;

/// The human-readable part of every Cairn address.
pub const ADDRESS_HRP: &str = "cairn";

/// The key-derivation context that turns a public key into an address.
const ADDRESS_CONTEXT: &str = "cairn address v1";

/// Length of an address in bytes.
pub const ADDRESS_LEN: usize = 20;

/// An account's address.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address(pub [u8; ADDRESS_LEN]);

/// Why a string is not a Cairn address.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AddressError {
    /// Not bech32m text, or the checksum does not match (a typo).
    #[error("invalid address {input:?}: {reason}")]
    Invalid {
        /// What was given.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A valid bech32m string of another kind.
    #[error("invalid address {input:?}: human-readable part must be {ADDRESS_HRP:?}")]
    WrongHrp {
        /// What was given.
        input: String,
    },
    /// The payload is not 20 bytes.
    #[error("invalid address {input:?}: payload is {len} bytes, expected {ADDRESS_LEN}")]
    WrongLength {
        /// What was given.
        input: String,
        /// The payload length found.
        len: usize,
    },
}

impl Address {
    /// The address of a public key.
    pub fn from_public_key(key: &PublicKey) -> Address {
        let full = blake3::derive_key(ADDRESS_CONTEXT, key.as_bytes());
        let mut out = [0u8; ADDRESS_LEN];
        out.copy_from_slice(&full[..ADDRESS_LEN]);
        Address(out)
    }
}

fn hrp() -> Hrp {
    Hrp::parse_unchecked(ADDRESS_HRP)
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        bech32::encode_to_fmt::<Bech32m, _>(f, hrp(), &self.0).map_err(|_| fmt::Error)
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({self})")
    }
}

impl FromStr for Address {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let checked =
            bech32::primitives::decode::CheckedHrpstring::new::<Bech32m>(s).map_err(|e| {
                AddressError::Invalid {
                    input: s.to_owned(),
                    reason: e.to_string(),
                }
            })?;
        if checked.hrp() != hrp() {
            return Err(AddressError::WrongHrp {
                input: s.to_owned(),
            });
        }
        let data: Vec<u8> = checked.byte_iter().collect();
        let bytes: [u8; ADDRESS_LEN] =
            data.as_slice()
                .try_into()
                .map_err(|_| AddressError::WrongLength {
                    input: s.to_owned(),
                    len: data.len(),
                })?;
        // The canonical text form is lower case; accept upper case input (bech32 allows
        // it) but nothing that would not round-trip otherwise.
        let addr = Address(bytes);
        if addr.to_string() != s.to_ascii_lowercase() {
            return Err(AddressError::Invalid {
                input: s.to_owned(),
                reason: "non-canonical padding".into(),
            });
        }
        Ok(addr)
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Encode for Address {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
    fn encoded_len(&self) -> usize {
        ADDRESS_LEN
    }
}

impl Decode for Address {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Address(r.array()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Address {
        Address(core::array::from_fn(|i| i as u8 * 7))
    }

    #[test]
    fn text_round_trip() {
        let a = sample();
        let s = a.to_string();
        assert!(s.starts_with("cairn1"), "{s}");
        assert_eq!(s.parse::<Address>().unwrap(), a);
        assert_eq!(s.to_ascii_uppercase().parse::<Address>().unwrap(), a);
    }

    #[test]
    fn every_single_character_typo_is_caught() {
        let s = sample().to_string();
        let charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
        for (i, orig) in s.char_indices().skip(ADDRESS_HRP.len() + 1) {
            for c in charset.chars().filter(|&c| c != orig) {
                let mut typo = s.clone();
                typo.replace_range(i..i + 1, &c.to_string());
                assert!(typo.parse::<Address>().is_err(), "typo {typo} accepted");
            }
        }
    }

    #[test]
    fn swapped_characters_are_caught() {
        let s = sample().to_string();
        let bytes = s.as_bytes();
        for i in ADDRESS_HRP.len() + 1..bytes.len() - 1 {
            if bytes[i] == bytes[i + 1] {
                continue;
            }
            let mut t = bytes.to_vec();
            t.swap(i, i + 1);
            let t = String::from_utf8(t).unwrap();
            assert!(t.parse::<Address>().is_err(), "transposition {t} accepted");
        }
    }

    #[test]
    fn rejects_other_forms() {
        let a = sample();
        // Same payload, bech32 (not bech32m) checksum.
        let b32 = bech32::encode::<bech32::Bech32>(hrp(), &a.0).unwrap();
        assert!(b32.parse::<Address>().is_err());
        // Wrong hrp.
        let other = bech32::encode::<Bech32m>(Hrp::parse("bc").unwrap(), &a.0).unwrap();
        assert!(matches!(
            other.parse::<Address>(),
            Err(AddressError::WrongHrp { .. })
        ));
        // Wrong length.
        let short = bech32::encode::<Bech32m>(hrp(), &a.0[..19]).unwrap();
        assert!(matches!(
            short.parse::<Address>(),
            Err(AddressError::WrongLength { .. })
        ));
        // Mixed case.
        let s = a.to_string();
        let mixed = format!("{}{}", &s[..8].to_ascii_uppercase(), &s[8..]);
        assert!(mixed.parse::<Address>().is_err());
        assert!("".parse::<Address>().is_err());
    }
}
