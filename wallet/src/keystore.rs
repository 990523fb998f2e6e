//! The keystore: a BIP-39 mnemonic encrypted at rest with a key from Argon2id and
//! XChaCha20-Poly1305.
//!
//! The file is JSON. Everything but the ciphertext is authenticated as associated
//! data, so changing the KDF parameters, the salt, the nonce or the stored address
//! makes decryption fail, exactly like a wrong password. KDF parameters are bounded
//! when read, so a hostile file cannot make opening it take minutes or gigabytes.

use std::path::Path;

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::WalletError;

/// The format version this code writes and reads.
pub const VERSION: u32 = 1;

/// Argon2id cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory, KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl KdfParams {
    /// What new keystores use: 64 MiB, 3 passes (OWASP's recommendation for Argon2id).
    pub const DEFAULT: KdfParams = KdfParams {
        m_kib: 64 * 1024,
        t: 3,
        p: 1,
    };
    /// The cheapest accepted on read (and used by tests).
    pub const MIN: KdfParams = KdfParams {
        m_kib: 8 * 1024,
        t: 1,
        p: 1,
    };
    /// The most expensive accepted on read: 1 GiB, 10 passes, 8 lanes.
    pub const MAX: KdfParams = KdfParams {
        m_kib: 1024 * 1024,
        t: 10,
        p: 8,
    };

    fn check(&self) -> Result<(), WalletError> {
        let ok = (Self::MIN.m_kib..=Self::MAX.m_kib).contains(&self.m_kib)
            && (Self::MIN.t..=Self::MAX.t).contains(&self.t)
            && (Self::MIN.p..=Self::MAX.p).contains(&self.p);
        if ok {
            Ok(())
        } else {
            Err(WalletError::CorruptKeystore(format!(
                "KDF parameters out of bounds (memory {} KiB, {} passes, {} lanes; allowed {}..={} KiB, {}..={} passes, {}..={} lanes)",
                self.m_kib,
                self.t,
                self.p,
                Self::MIN.m_kib,
                Self::MAX.m_kib,
                Self::MIN.t,
                Self::MAX.t,
                Self::MIN.p,
                Self::MAX.p
            )))
        }
    }
}

/// The keystore file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Keystore {
    /// Format version.
    pub version: u32,
    /// Address of account 0 (shown without the password).
    pub address: String,
    /// Always "argon2id".
    pub kdf: String,
    /// Its cost.
    pub kdf_params: KdfParams,
    /// Salt, hex (16 bytes).
    pub salt: String,
    /// Always "xchacha20poly1305".
    pub cipher: String,
    /// Nonce, hex (24 bytes).
    pub nonce: String,
    /// The encrypted mnemonic, hex.
    pub ciphertext: String,
}

fn corrupt(why: impl Into<String>) -> WalletError {
    WalletError::CorruptKeystore(why.into())
}

fn random<const N: usize>() -> Result<[u8; N], WalletError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| WalletError::Random(e.to_string()))?;
    Ok(b)
}

fn derive_key(
    password: &str,
    salt: &[u8],
    p: KdfParams,
) -> Result<Zeroizing<[u8; 32]>, WalletError> {
    let params = Params::new(p.m_kib, p.t, p.p, Some(32)).map_err(|e| corrupt(e.to_string()))?;
    let mut key = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(password.as_bytes(), salt, &mut key[..])
        .map_err(|e| corrupt(e.to_string()))?;
    Ok(key)
}

impl Keystore {
    /// The associated data: every field but the ciphertext.
    fn aad(&self) -> Vec<u8> {
        format!(
            "cairn keystore v{}\0{}\0{}\0{}\0{}\0{}\0{}\0{}\0{}",
            self.version,
            self.address,
            self.kdf,
            self.kdf_params.m_kib,
            self.kdf_params.t,
            self.kdf_params.p,
            self.salt,
            self.cipher,
            self.nonce
        )
        .into_bytes()
    }

    /// Encrypts `mnemonic` (whose account 0 is `address`) under `password`.
    pub fn seal(
        mnemonic: &str,
        address: &str,
        password: &str,
        kdf_params: KdfParams,
    ) -> Result<Keystore, WalletError> {
        let salt = random::<16>()?;
        let nonce = random::<24>()?;
        let mut ks = Keystore {
            version: VERSION,
            address: address.to_string(),
            kdf: "argon2id".into(),
            kdf_params,
            salt: hex::encode(salt),
            cipher: "xchacha20poly1305".into(),
            nonce: hex::encode(nonce),
            ciphertext: String::new(),
        };
        let key = derive_key(password, &salt, kdf_params)?;
        let cipher = XChaCha20Poly1305::new(key.as_ref().into());
        let ct = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: mnemonic.as_bytes(),
                    aad: &ks.aad(),
                },
            )
            .map_err(|_| corrupt("encryption failed"))?;
        ks.ciphertext = hex::encode(ct);
        Ok(ks)
    }

    /// Decrypts the mnemonic. A wrong password and any change to the file give
    /// [`WalletError::WrongPassword`] (they cannot be told apart, by design).
    pub fn open(&self, password: &str) -> Result<Zeroizing<String>, WalletError> {
        if self.version != VERSION {
            return Err(corrupt(format!("unsupported version {}", self.version)));
        }
        if self.kdf != "argon2id" || self.cipher != "xchacha20poly1305" {
            return Err(corrupt(format!(
                "unsupported algorithms {}/{}",
                self.kdf, self.cipher
            )));
        }
        self.kdf_params.check()?;
        let salt = hex::decode(&self.salt).map_err(|_| corrupt("salt is not hex"))?;
        if !(16..=64).contains(&salt.len()) {
            return Err(corrupt("salt must be 16 to 64 bytes"));
        }
        let nonce: [u8; 24] = hex::decode(&self.nonce)
            .ok()
            .and_then(|n| n.try_into().ok())
            .ok_or_else(|| corrupt("nonce must be 24 bytes of hex"))?;
        let ct = hex::decode(&self.ciphertext).map_err(|_| corrupt("ciphertext is not hex"))?;
        if ct.len() > 4_096 {
            return Err(corrupt("ciphertext too long"));
        }
        let key = derive_key(password, &salt, self.kdf_params)?;
        let cipher = XChaCha20Poly1305::new(key.as_ref().into());
        let plain = cipher
            .decrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &ct,
                    aad: &self.aad(),
                },
            )
            .map_err(|_| WalletError::WrongPassword)?;
        let plain = Zeroizing::new(plain);
        let text = std::str::from_utf8(&plain).map_err(|_| corrupt("mnemonic is not text"))?;
        Ok(Zeroizing::new(text.to_string()))
    }

    /// Reads and parses a keystore file (at most 64 KiB).
    pub fn load(path: &Path) -> Result<Keystore, WalletError> {
        let meta = std::fs::metadata(path).map_err(|e| WalletError::Io(path.to_path_buf(), e))?;
        if meta.len() > 64 * 1024 {
            return Err(corrupt(format!(
                "{} is too large to be a keystore",
                path.display()
            )));
        }
        let text =
            std::fs::read_to_string(path).map_err(|e| WalletError::Io(path.to_path_buf(), e))?;
        serde_json::from_str(&text).map_err(|e| corrupt(format!("{}: {e}", path.display())))
    }

    /// Writes the file (mode 0600), refusing to replace an existing one.
    pub fn save(&self, path: &Path) -> Result<(), WalletError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| WalletError::Io(dir.to_path_buf(), e))?;
        }
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => WalletError::Exists(path.to_path_buf()),
                _ => WalletError::Io(path.to_path_buf(), e),
            })?;
        let text = serde_json::to_string_pretty(self).map_err(|e| corrupt(e.to_string()))?;
        f.write_all(text.as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(|e| WalletError::Io(path.to_path_buf(), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PHRASE: &str = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

    fn sealed() -> Keystore {
        Keystore::seal(PHRASE, "cairn1x", "hunter2", KdfParams::MIN).expect("seals")
    }

    #[test]
    fn round_trip() {
        let ks = sealed();
        assert_eq!(ks.open("hunter2").expect("opens").as_str(), PHRASE);
        assert!(matches!(
            ks.open("hunter3"),
            Err(WalletError::WrongPassword)
        ));
    }

    #[test]
    fn any_changed_field_fails_closed() {
        let ks = sealed();
        let json = serde_json::to_string(&ks).expect("json");
        // Flip one character of every field's value, one at a time.
        let mut tried = 0;
        for (i, c) in json.char_indices() {
            if !c.is_ascii_hexdigit() && !c.is_ascii_alphanumeric() {
                continue;
            }
            let flipped = if c == '0' { '1' } else { '0' };
            let mut bad = json.clone();
            bad.replace_range(i..i + 1, &flipped.to_string());
            let Ok(ks2) = serde_json::from_str::<Keystore>(&bad) else {
                continue; // the change broke the JSON itself: refused at parse
            };
            if ks2 == ks {
                continue;
            }
            tried += 1;
            assert!(ks2.open("hunter2").is_err(), "changed byte {i} still opens");
        }
        assert!(tried > 100, "only {tried} mutations tried");
    }

    #[test]
    fn absurd_kdf_parameters_are_refused_before_any_work() {
        let mut ks = sealed();
        ks.kdf_params.m_kib = u32::MAX;
        let start = std::time::Instant::now();
        assert!(matches!(
            ks.open("hunter2"),
            Err(WalletError::CorruptKeystore(_))
        ));
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
        let mut ks = sealed();
        ks.kdf_params.t = 1_000;
        assert!(matches!(
            ks.open("hunter2"),
            Err(WalletError::CorruptKeystore(_))
        ));
    }
}
