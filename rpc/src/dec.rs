//! [`Dec`]: a `u64` that travels as a decimal string.
//!
//! One rule for every `u64` of the RPC (heights, nonces, amounts, timestamps, counts):
//! JSON numbers are doubles in most clients and lose precision above 2^53, so the
//! node always writes a decimal string. On input it also takes a JSON integer, which
//! is exact for what a client can write without loss.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A `u64` written as a decimal string (`"42"`); read from a string or an integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Dec(pub u64);

impl Dec {
    /// The value.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl From<u64> for Dec {
    fn from(v: u64) -> Dec {
        Dec(v)
    }
}

impl From<Dec> for u64 {
    fn from(v: Dec) -> u64 {
        v.0
    }
}

impl fmt::Display for Dec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for Dec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Dec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Dec, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Dec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a u64 as a decimal string (or a non-negative integer)")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Dec, E> {
                Ok(Dec(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Dec, E> {
                u64::try_from(v)
                    .map(Dec)
                    .map_err(|_| E::custom(format!("{v} is negative")))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Dec, E> {
                // Canonical decimal only: no sign, no spaces, no leading zeros.
                let canonical = !v.is_empty()
                    && v.bytes().all(|b| b.is_ascii_digit())
                    && (v == "0" || !v.starts_with('0'));
                if !canonical {
                    return Err(E::custom(format!("{v:?} is not a decimal u64")));
                }
                v.parse()
                    .map(Dec)
                    .map_err(|_| E::custom(format!("{v} does not fit in a u64")))
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl JsonSchema for Dec {
    fn schema_name() -> Cow<'static, str> {
        "U64".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A u64 as a decimal string (an integer is also accepted as input).",
            "type": "string",
            "pattern": "^(0|[1-9][0-9]{0,19})$",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_out_strings_or_integers_in() {
        assert_eq!(
            serde_json::to_string(&Dec(u64::MAX)).ok().as_deref(),
            Some("\"18446744073709551615\"")
        );
        for (text, want) in [
            ("\"0\"", Some(0)),
            ("\"18446744073709551615\"", Some(u64::MAX)),
            ("7", Some(7)),
            ("\"18446744073709551616\"", None),
            ("\"-1\"", None),
            ("-1", None),
            ("\"01\"", None),
            ("\" 1\"", None),
            ("\"\"", None),
            ("1.5", None),
            ("null", None),
        ] {
            assert_eq!(
                serde_json::from_str::<Dec>(text).ok().map(Dec::get),
                want,
                "{text}"
            );
        }
    }
}
