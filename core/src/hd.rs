//! Hierarchical deterministic ed25519 keys: BIP-39 mnemonics and SLIP-0010 derivation.
//!
//! Ed25519 under SLIP-0010 has hardened derivation only. Cairn accounts live at
//! `m/44'/7777'/i'` (7777 is an unregistered SLIP-44 coin type).

use hmac::{Hmac, Mac};
use sha2::Sha512;
use thiserror::Error;
use zeroize::Zeroizing;

use crate::keys::SecretKey;

/// SLIP-44 coin type used in Cairn's derivation path.
pub const COIN_TYPE: u32 = 7777;

/// Marks a hardened child index.
pub const HARDENED: u32 = 0x8000_0000;

/// Why a mnemonic or path was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HdError {
    /// Not a valid English BIP-39 mnemonic (unknown word, bad length or checksum).
    #[error("invalid mnemonic: {0}")]
    Mnemonic(String),
    /// An account index of 2^31 or more (it would alias a smaller one).
    #[error("account index {0} is out of range (must be below 2^31)")]
    IndexOutOfRange(u32),
}

/// A SLIP-0010 ed25519 node: a private key and its chain code.
#[derive(Clone)]
pub struct ExtendedKey {
    key: Zeroizing<[u8; 32]>,
    chain_code: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for ExtendedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ExtendedKey({{ public: {} }})",
            self.secret_key().public_key()
        )
    }
}

fn hmac512(key: &[u8], parts: &[&[u8]]) -> Zeroizing<[u8; 64]> {
    let mut mac = Hmac::<Sha512>::new_from_slice(key).expect("HMAC accepts keys of any length");
    for p in parts {
        mac.update(p);
    }
    let mut out = Zeroizing::new([0u8; 64]);
    out.copy_from_slice(&mac.finalize().into_bytes());
    out
}

impl ExtendedKey {
    /// The master node of `seed` (a BIP-39 seed, or any 16..64 bytes).
    pub fn master(seed: &[u8]) -> ExtendedKey {
        Self::from_i(&hmac512(b"ed25519 seed", &[seed]))
    }

    fn from_i(i: &[u8; 64]) -> ExtendedKey {
        let mut key = Zeroizing::new([0u8; 32]);
        let mut chain_code = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&i[..32]);
        chain_code.copy_from_slice(&i[32..]);
        ExtendedKey { key, chain_code }
    }

    /// The hardened child `index`. The hardened bit is set whatever `index` holds, so
    /// `i` and `i | 2^31` name the same child (SLIP-0010 has no other kind for ed25519).
    pub fn child(&self, index: u32) -> ExtendedKey {
        let index = (index | HARDENED).to_be_bytes();
        Self::from_i(&hmac512(
            &self.chain_code[..],
            &[&[0u8], &self.key[..], &index],
        ))
    }

    /// Follows a path of (hardened) indices.
    pub fn derive(&self, path: &[u32]) -> ExtendedKey {
        path.iter().fold(self.clone(), |k, &i| k.child(i))
    }

    /// The ed25519 key of this node.
    pub fn secret_key(&self) -> SecretKey {
        SecretKey::from_seed(&self.key)
    }

    /// The chain code.
    pub fn chain_code(&self) -> &[u8; 32] {
        &self.chain_code
    }
}

/// The 64-byte BIP-39 seed of an English mnemonic and optional passphrase.
pub fn mnemonic_to_seed(phrase: &str, passphrase: &str) -> Result<Zeroizing<[u8; 64]>, HdError> {
    let m = bip39::Mnemonic::parse_in(bip39::Language::English, phrase)
        .map_err(|e| HdError::Mnemonic(e.to_string()))?;
    Ok(Zeroizing::new(m.to_seed(passphrase)))
}

/// The key of Cairn account `index` (`m/44'/7777'/index'`) under `seed`.
pub fn account_key(seed: &[u8], index: u32) -> Result<SecretKey, HdError> {
    if index >= HARDENED {
        return Err(HdError::IndexOutOfRange(index));
    }
    Ok(ExtendedKey::master(seed)
        .derive(&[44, COIN_TYPE, index])
        .secret_key())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED1: &str = "000102030405060708090a0b0c0d0e0f";

    #[test]
    fn slip10_ed25519_test_vector_1() {
        let seed = hex::decode(SEED1).unwrap();
        let m = ExtendedKey::master(&seed);
        assert_eq!(
            hex::encode(*m.secret_key().seed()),
            "2b4be7f19ee27bbf30c667b642d5f4aa69fd169872f8fc3059c08ebae2eb19e7"
        );
        assert_eq!(
            hex::encode(m.chain_code()),
            "90046a93de5380a72b5e45010748567d5ea02bbf6522f979e05c0d8d8ca9fffb"
        );
        assert_eq!(
            m.secret_key().public_key().to_string(),
            "a4b2856bfec510abab89753fac1ac0e1112364e7d250545963f135f2a33188ed"
        );
        let c = m.child(0);
        assert_eq!(
            hex::encode(*c.secret_key().seed()),
            "68e0fe46dfb67e368c75379acec591dad19df3cde26e63b93a8e704f1dade7a3"
        );
        assert_eq!(
            hex::encode(c.chain_code()),
            "8b59aa11380b624e81507a27fedda59fea6d0b779a778918a2fd3590e16e9c69"
        );
        assert_eq!(
            c.secret_key().public_key().to_string(),
            "8c8a13df77a28f3445213a0f432fde644acaa215fc72dcdf300d5efaa85d350c"
        );
        let deep = m.derive(&[0, 1, 2, 2, 1_000_000_000]);
        assert_eq!(
            hex::encode(*deep.secret_key().seed()),
            "8f94d394a8e8fd6b1bc2f3f49f5c47e385281d5c17e65324b0f62483e37e8793"
        );
    }

    #[test]
    fn bip39_seed_of_the_test_mnemonic() {
        let seed = mnemonic_to_seed(crate::genesis::DEV_MNEMONIC, "").unwrap();
        assert_eq!(
            hex::encode(*seed),
            "5eb00bbddcf069084889a8ab9155568165f5c453ccb85e70811aaed6f6da5fc19a5ac40b389cd370d086206dec8aa6c43daea6690f20ad3d8d48b2d2ce9e38e4"
        );
    }

    #[test]
    fn account_indices_must_not_alias() {
        let seed = [7u8; 64];
        assert!(account_key(&seed, HARDENED - 1).is_ok());
        assert_eq!(
            account_key(&seed, HARDENED).unwrap_err(),
            HdError::IndexOutOfRange(HARDENED)
        );
    }

    #[test]
    fn bad_mnemonics_are_refused() {
        // Last word changed: checksum fails.
        let bad = crate::genesis::DEV_MNEMONIC.replace("about", "abandon");
        assert!(mnemonic_to_seed(&bad, "").is_err());
        assert!(mnemonic_to_seed("not a mnemonic", "").is_err());
    }
}
