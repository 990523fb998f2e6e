//! Ed25519 keys, signing, and strict verification (single and parallel batch).
//!
//! Cairn follows one rule set everywhere, the "strict" one:
//!
//! * the public key must be the canonical encoding of a curve point that is not of
//!   small order;
//! * the signature's `R` must be canonically encoded and not of small order;
//! * `S` must be canonical (`S < ℓ`);
//! * the cofactorless equation `[S]B = R + [k]A` must hold.
//!
//! [`verify_batch`] runs the very same check on each item in parallel with rayon, so a
//! batch and one-by-one verification can never disagree (a true "batched" multi-scalar
//! equation would be cofactored and could).

use std::fmt;

use curve25519_dalek::edwards::CompressedEdwardsY;
use curve25519_dalek::scalar::Scalar;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::address::Address;
use crate::encoding::{Decode, DecodeError, Encode, Reader};

/// Batches smaller than this are verified on the calling thread: the rayon hand-off
/// costs more than it saves.
const PARALLEL_THRESHOLD: usize = 16;

/// An ed25519 public key as its 32 encoded bytes. Whether it is a valid point is checked
/// when a signature is verified, not when it is decoded.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PublicKey(#[serde(with = "crate::hash::hex_array")] pub [u8; 32]);

/// An ed25519 signature (`R ‖ S`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Signature(#[serde(with = "crate::hash::hex_array")] pub [u8; 64]);

/// Why a signature does not verify. Each strict rule has its own reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SignatureError {
    /// The public key bytes are not the canonical encoding of a curve point.
    #[error("public key is not a canonical curve point")]
    InvalidPublicKey,
    /// The public key is a point of small order (it would verify forged signatures).
    #[error("public key has small order")]
    SmallOrderPublicKey,
    /// `R` is not the canonical encoding of a curve point.
    #[error("signature R is not a canonical curve point")]
    InvalidR,
    /// `R` is a point of small order.
    #[error("signature R has small order")]
    SmallOrderR,
    /// `S` is not reduced modulo the group order (a malleated signature).
    #[error("signature S is not canonical")]
    NonCanonicalS,
    /// Everything is well formed but the equation does not hold.
    #[error("signature does not match the message and key")]
    Mismatch,
}

impl PublicKey {
    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The address this key controls.
    pub fn address(&self) -> Address {
        Address::from_public_key(self)
    }

    /// Verifies `sig` over `msg` under the strict rules in the module docs.
    ///
    /// The common case (a valid signature) costs one dalek `verify_strict` plus a byte
    /// comparison; only a failure pays for working out which rule failed.
    pub fn verify_strict(&self, msg: &[u8], sig: &Signature) -> Result<(), SignatureError> {
        // dalek's verify_strict rejects small-order A and R, non-canonical S, and (by
        // comparing the recomputed R with the given bytes) non-canonical R. It accepts a
        // non-canonical A encoding (y ≥ p), so that is checked here first.
        let ok = is_canonical_y(&self.0)
            && VerifyingKey::from_bytes(&self.0).is_ok_and(|vk| {
                vk.verify_strict(msg, &ed25519_dalek::Signature::from_bytes(&sig.0))
                    .is_ok()
            });
        if ok {
            return Ok(());
        }
        Err(self.diagnose(sig))
    }

    /// Which strict rule a failing signature breaks.
    fn diagnose(&self, sig: &Signature) -> SignatureError {
        let Some(key) = decode_point(&self.0) else {
            return SignatureError::InvalidPublicKey;
        };
        if key.is_small_order() {
            return SignatureError::SmallOrderPublicKey;
        }
        let r_bytes: [u8; 32] = sig.0[..32].try_into().expect("64-byte signature");
        let s_bytes: [u8; 32] = sig.0[32..].try_into().expect("64-byte signature");
        let Some(r) = decode_point(&r_bytes) else {
            return SignatureError::InvalidR;
        };
        if r.is_small_order() {
            return SignatureError::SmallOrderR;
        }
        if Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes)).is_none() {
            return SignatureError::NonCanonicalS;
        }
        SignatureError::Mismatch
    }
}

/// Whether the y coordinate of an encoded point (the low 255 bits) is below
/// p = 2^255 − 19. (The one other non-canonical form, a set sign bit with x = 0, only
/// encodes points of small order, which are rejected anyway.)
fn is_canonical_y(bytes: &[u8; 32]) -> bool {
    // Little-endian compare of y with p = 0x7fff…ffed.
    let mut y = *bytes;
    y[31] &= 0x7f;
    for i in (1..32).rev() {
        let p_byte = if i == 31 { 0x7f } else { 0xff };
        if y[i] != p_byte {
            return y[i] < p_byte;
        }
    }
    y[0] < 0xed
}

/// Decodes a point, insisting on the canonical encoding (re-encoding gives the input).
fn decode_point(bytes: &[u8; 32]) -> Option<curve25519_dalek::EdwardsPoint> {
    let point = CompressedEdwardsY(*bytes).decompress()?;
    (point.compress().as_bytes() == bytes).then_some(point)
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", hex::encode(self.0))
    }
}

/// One item of a verification batch.
#[derive(Debug, Clone, Copy)]
pub struct VerifyItem<'a> {
    /// The signer.
    pub key: &'a PublicKey,
    /// The signed message.
    pub msg: &'a [u8],
    /// The signature.
    pub sig: &'a Signature,
}

/// Verifies every item with [`PublicKey::verify_strict`], in parallel on rayon's pool for
/// larger batches. Returns the index and reason of the first (lowest-index) failure.
pub fn verify_batch(items: &[VerifyItem<'_>]) -> Result<(), (usize, SignatureError)> {
    let check = |(i, it): (usize, &VerifyItem<'_>)| {
        it.key.verify_strict(it.msg, it.sig).map_err(|e| (i, e))
    };
    if items.len() < PARALLEL_THRESHOLD {
        return items.iter().enumerate().try_for_each(check);
    }
    // `min_by_key` over all failures keeps the verdict deterministic: the same index is
    // reported whichever thread finds its failure first.
    let first_failure = items
        .par_iter()
        .enumerate()
        .filter_map(|x| check(x).err())
        .min_by_key(|(i, _)| *i);
    first_failure.map_or(Ok(()), Err)
}

/// An ed25519 signing key. Its secret bytes are wiped when it is dropped.
pub struct SecretKey(SigningKey);

impl SecretKey {
    /// The key whose 32-byte seed is `seed` (RFC 8032's private key).
    pub fn from_seed(seed: &[u8; 32]) -> SecretKey {
        SecretKey(SigningKey::from_bytes(seed))
    }

    /// The 32-byte seed. Handle with care: it is the whole secret.
    pub fn seed(&self) -> zeroize::Zeroizing<[u8; 32]> {
        zeroize::Zeroizing::new(self.0.to_bytes())
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key().to_bytes())
    }

    /// The address this key controls.
    pub fn address(&self) -> Address {
        self.public_key().address()
    }

    /// Signs `msg` (deterministic RFC 8032 signature).
    pub fn sign(&self, msg: &[u8]) -> Signature {
        Signature(self.0.sign(msg).to_bytes())
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({{ public: {} }})", self.public_key())
    }
}

impl Clone for SecretKey {
    fn clone(&self) -> Self {
        SecretKey(self.0.clone())
    }
}

impl Encode for PublicKey {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
    fn encoded_len(&self) -> usize {
        32
    }
}

impl Decode for PublicKey {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(PublicKey(r.array()?))
    }
}

impl Encode for Signature {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
    fn encoded_len(&self) -> usize {
        64
    }
}

impl Decode for Signature {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Signature(r.array()?))
    }
}

#[cfg(test)]
mod tests {
    use curve25519_dalek::constants::EIGHT_TORSION;

    use super::*;

    fn key(n: u8) -> SecretKey {
        SecretKey::from_seed(&[n; 32])
    }

    #[test]
    fn rfc8032_test_vector_1() {
        // RFC 8032 section 7.1, TEST 1 (empty message).
        let seed: [u8; 32] =
            hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
                .unwrap()
                .try_into()
                .unwrap();
        let sk = SecretKey::from_seed(&seed);
        assert_eq!(
            sk.public_key().to_string(),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        let sig = sk.sign(b"");
        assert_eq!(
            hex::encode(sig.0),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
        sk.public_key().verify_strict(b"", &sig).unwrap();
    }

    #[test]
    fn rejects_tampered_message_and_key() {
        let sk = key(1);
        let sig = sk.sign(b"hello");
        assert_eq!(
            sk.public_key().verify_strict(b"hellO", &sig),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            key(2).public_key().verify_strict(b"hello", &sig),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn rejects_every_small_order_public_key() {
        let sig = key(1).sign(b"m");
        for p in EIGHT_TORSION.iter() {
            let pk = PublicKey(p.compress().to_bytes());
            assert_eq!(
                pk.verify_strict(b"m", &sig),
                Err(SignatureError::SmallOrderPublicKey)
            );
        }
    }

    #[test]
    fn rejects_small_order_r() {
        // With A of small order and R of small order, S = 0 satisfies the cofactored
        // equation for many messages: the classic forgery strict rules exist to stop.
        let sk = key(3);
        let mut sig = sk.sign(b"m");
        for p in EIGHT_TORSION.iter() {
            sig.0[..32].copy_from_slice(p.compress().as_bytes());
            assert_eq!(
                sk.public_key().verify_strict(b"m", &sig),
                Err(SignatureError::SmallOrderR)
            );
        }
    }

    #[test]
    fn rejects_non_canonical_s() {
        let sk = key(4);
        let mut sig = sk.sign(b"m");
        // S + ℓ: the same scalar mod ℓ, a different (malleated) encoding.
        // ℓ = 2^252 + 27742317777372353535851937790883648493, little-endian.
        let ell = hex::decode("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")
            .unwrap();
        let mut carry = 0u16;
        for (s, l) in sig.0[32..].iter_mut().zip(&ell) {
            let v = u16::from(*s) + u16::from(*l) + carry;
            *s = v.to_le_bytes()[0];
            carry = v >> 8;
        }
        assert_eq!(carry, 0, "S + l still fits in 256 bits for this key");
        assert_eq!(
            sk.public_key().verify_strict(b"m", &sig),
            Err(SignatureError::NonCanonicalS)
        );
    }

    #[test]
    fn rejects_non_canonical_point_encodings() {
        // y = p + 1 encodes the same point as y = 1 (the identity) non-canonically.
        let mut y = [0xff; 32];
        y[0] = 0xee; // p = 2^255 - 19 → p + 1 = ...ffee with the top bit clear
        y[31] = 0x7f;
        let pk = PublicKey(y);
        let sig = key(1).sign(b"m");
        assert_eq!(
            pk.verify_strict(b"m", &sig),
            Err(SignatureError::InvalidPublicKey)
        );
        let sk = key(5);
        let mut sig = sk.sign(b"m");
        sig.0[..32].copy_from_slice(&y);
        assert_eq!(
            sk.public_key().verify_strict(b"m", &sig),
            Err(SignatureError::InvalidR)
        );
    }

    #[test]
    fn canonical_y_boundary() {
        let mut p = [0xff; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        assert!(!is_canonical_y(&p));
        let mut below = p;
        below[0] = 0xec;
        assert!(is_canonical_y(&below));
        // The sign bit does not count.
        below[31] |= 0x80;
        assert!(is_canonical_y(&below));
        assert!(is_canonical_y(&[0; 32]));
        // Fast path and diagnosis agree on every rule for mutated signatures.
        let sk = key(9);
        let sig = sk.sign(b"m");
        for i in 0..64 {
            let mut s2 = sig;
            s2.0[i] ^= 0x40;
            let r = sk.public_key().verify_strict(b"m", &s2);
            assert!(r.is_err());
            assert_eq!(r.unwrap_err(), sk.public_key().diagnose(&s2));
        }
    }

    #[test]
    fn batch_agrees_with_single_and_reports_lowest_failure() {
        let keys: Vec<SecretKey> = (0..40).map(key).collect();
        let msgs: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i; 10]).collect();
        let pks: Vec<PublicKey> = keys.iter().map(SecretKey::public_key).collect();
        let mut sigs: Vec<Signature> = keys.iter().zip(&msgs).map(|(k, m)| k.sign(m)).collect();
        let items = |sigs: &[Signature]| -> Vec<(PublicKey, Vec<u8>, Signature)> {
            pks.iter()
                .cloned()
                .zip(msgs.iter().cloned())
                .zip(sigs.iter().cloned())
                .map(|((a, b), c)| (a, b, c))
                .collect()
        };
        let run = |v: &[(PublicKey, Vec<u8>, Signature)]| {
            let items: Vec<VerifyItem<'_>> = v
                .iter()
                .map(|(key, msg, sig)| VerifyItem { key, msg, sig })
                .collect();
            verify_batch(&items)
        };
        assert_eq!(run(&items(&sigs)), Ok(()));
        sigs[33].0[5] ^= 1;
        sigs[17].0[63] |= 0xf0;
        assert_eq!(run(&items(&sigs)), Err((17, SignatureError::NonCanonicalS)));
    }
}
