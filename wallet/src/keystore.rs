//! The keystore: a BIP-39 mnemonic encrypted at rest with a key from Argon2id and
//! XChaCha20-Poly1305.
//!
//! The file is JSON. Everything but the ciphertext is authenticated as associated
//! data, so changing the KDF parameters, the salt, the nonce or the stored address
//! makes decryption fail, exactly like a wrong password. The stored address is
//! readable without the password, and so unverified until the file is opened:
//! opening also derives account 0 from the mnemonic and refuses a file whose
//! address field differs ([`WalletError::AddressMismatch`]).
//!
//! Before any key is derived, every field is checked against fixed bounds
//! ([`Keystore::check`], [`KdfParams::check`]): a damaged or hostile file is refused
//! in microseconds with a [`KeystoreFormatError`] naming the field, and opening any
//! file costs at most [`KdfParams::MAX_WORK`] of Argon2 work and 1 GiB of memory.
//! The encoding is canonical (lowercase hex, the address as Cairn prints it), so a
//! changed byte anywhere in the file is refused when parsing, refused by a check,
//! or fails authentication: no changed file opens.

use std::path::Path;

use argon2::{Algorithm, Argon2, Params, Version};
use cairn_core::Address;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::WalletError;

/// The format version this code writes and reads.
pub const VERSION: u32 = 1;

/// Largest keystore file accepted, bytes (a real one is under 1 KiB).
pub const MAX_FILE_LEN: usize = 64 * 1024;

/// Shortest salt accepted, bytes: what [`Keystore::seal`] writes.
pub const SALT_LEN_MIN: usize = 16;

/// Longest salt accepted, bytes.
pub const SALT_LEN_MAX: usize = 64;

/// The XChaCha20 nonce, bytes.
pub const NONCE_LEN: usize = 24;

/// The Poly1305 tag, bytes: the shortest possible ciphertext.
pub const TAG_LEN: usize = 16;

/// Longest ciphertext accepted, bytes (a 24-word mnemonic and its tag are under 250).
pub const MAX_CIPHERTEXT_LEN: usize = 4_096;

/// A key derived from a password.
type Key = Zeroizing<[u8; 32]>;

/// Why a keystore is refused before any key is derived from the password: each
/// names the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeystoreFormatError {
    /// Not a keystore document: bad JSON, a missing or unknown field, a wrong type.
    #[error("not a keystore document: {0}")]
    Json(String),
    /// Larger than [`MAX_FILE_LEN`].
    #[error("larger than {MAX_FILE_LEN} bytes, too large to be a keystore")]
    TooLarge,
    /// A format version this code does not read.
    #[error("unsupported version {0} (this wallet reads version {VERSION})")]
    Version(u32),
    /// A KDF other than Argon2id (the start of its name).
    #[error("unsupported kdf {0:?} (expected \"argon2id\")")]
    Kdf(String),
    /// A cipher other than XChaCha20-Poly1305 (the start of its name).
    #[error("unsupported cipher {0:?} (expected \"xchacha20poly1305\")")]
    Cipher(String),
    /// The stored address of account 0 is not a Cairn address as Cairn writes it.
    #[error("the address field is not a canonical cairn1… address")]
    Address,
    /// A KDF parameter (or the total work `m_kib * t`) outside its accepted range.
    #[error("kdf_params.{name} = {value} is out of bounds (accepted {min}..={max})")]
    KdfParam {
        /// The parameter: `m_kib`, `t`, `p` or `m_kib * t`.
        name: &'static str,
        /// Its value.
        value: u64,
        /// The smallest accepted.
        min: u64,
        /// The largest accepted.
        max: u64,
    },
    /// A binary field that is not lowercase hex (an odd number of digits, a
    /// non-digit, or upper case, which would decode to the same bytes).
    #[error("{field} is not lowercase hex")]
    NotHex {
        /// `salt`, `nonce` or `ciphertext`.
        field: &'static str,
    },
    /// A binary field of a length outside its accepted range.
    #[error("{field} is {len} bytes (accepted {min}..={max})")]
    Length {
        /// `salt`, `nonce` or `ciphertext`.
        field: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The shortest accepted.
        min: usize,
        /// The longest accepted.
        max: usize,
    },
}

impl From<KeystoreFormatError> for WalletError {
    fn from(e: KeystoreFormatError) -> Self {
        WalletError::CorruptKeystore(e.to_string())
    }
}

/// Argon2id cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
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
    /// The cheapest accepted on read (and used by tests): 8 MiB, 1 pass, 1 lane. The
    /// wallet never writes less than [`Self::DEFAULT`], so a cheaper file is not one
    /// of ours.
    pub const MIN: KdfParams = KdfParams {
        m_kib: 8 * 1024,
        t: 1,
        p: 1,
    };
    /// The largest value accepted on read for each field on its own: 1 GiB, 10
    /// passes, 8 lanes, that is 16×, 3× and 8× [`Self::DEFAULT`], so a file written
    /// with stronger settings (by hand, or by a later version) still opens. 1 GiB is
    /// what a desktop can be asked to allocate; the crate's Argon2 aborts the process
    /// when an allocation fails, so memory is bounded here, not by the allocator.
    /// Together the three exceed [`Self::MAX_WORK`], which bounds time.
    pub const MAX: KdfParams = KdfParams {
        m_kib: 1024 * 1024,
        t: 10,
        p: 8,
    };
    /// The most Argon2 work accepted on read, memory × passes in KiB: 4 GiB of block
    /// fills (1 GiB × 4 passes, or 400 MiB × 10), 21× [`Self::DEFAULT`]'s 192 MiB.
    /// The `argon2` 0.5 crate fills lanes one after another on one thread (lanes
    /// split the memory, they do not shorten the run), so this is a few seconds of
    /// one core at most, never minutes.
    pub const MAX_WORK: u64 = 4 * 1024 * 1024;

    /// Refuses parameters outside [`Self::MIN`]..=[`Self::MAX`] or above
    /// [`Self::MAX_WORK`], naming the first one at fault.
    pub fn check(&self) -> Result<(), KeystoreFormatError> {
        in_bounds("m_kib", self.m_kib, Self::MIN.m_kib, Self::MAX.m_kib)?;
        in_bounds("t", self.t, Self::MIN.t, Self::MAX.t)?;
        in_bounds("p", self.p, Self::MIN.p, Self::MAX.p)?;
        let work = u64::from(self.m_kib) * u64::from(self.t);
        if work > Self::MAX_WORK {
            return Err(KeystoreFormatError::KdfParam {
                name: "m_kib * t",
                value: work,
                min: u64::from(Self::MIN.m_kib) * u64::from(Self::MIN.t),
                max: Self::MAX_WORK,
            });
        }
        Ok(())
    }
}

fn in_bounds(
    name: &'static str,
    value: u32,
    min: u32,
    max: u32,
) -> Result<(), KeystoreFormatError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(KeystoreFormatError::KdfParam {
            name,
            value: value.into(),
            min: min.into(),
            max: max.into(),
        })
    }
}

/// The keystore file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Keystore {
    /// Format version.
    pub version: u32,
    /// Address of account 0 (shown without the password, unverified until opened).
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

/// The binary fields of a keystore whose every field passed its check.
struct Decoded {
    salt: Vec<u8>,
    nonce: [u8; NONCE_LEN],
    ciphertext: Vec<u8>,
}

fn corrupt(why: impl Into<String>) -> WalletError {
    WalletError::CorruptKeystore(why.into())
}

/// The first characters of a field echoed in an error, so a 64 KiB value is not.
fn excerpt(text: &str) -> String {
    text.chars().take(32).collect()
}

/// Decodes `field`, which must be lowercase hex (what [`Keystore::seal`] writes)
/// of `min..=max` bytes. The length is checked before anything is decoded.
fn lower_hex(
    field: &'static str,
    text: &str,
    min: usize,
    max: usize,
) -> Result<Vec<u8>, KeystoreFormatError> {
    if !text.len().is_multiple_of(2) {
        return Err(KeystoreFormatError::NotHex { field });
    }
    let len = text.len() / 2;
    if !(min..=max).contains(&len) {
        return Err(KeystoreFormatError::Length {
            field,
            len,
            min,
            max,
        });
    }
    // Upper case decodes to the same bytes: accepting it would let a changed file
    // open.
    if !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(KeystoreFormatError::NotHex { field });
    }
    hex::decode(text).map_err(|_| KeystoreFormatError::NotHex { field })
}

/// Refuses an address that does not parse, or that Cairn would print otherwise
/// (upper case): `address` shows it without the password, so it is checked here.
fn check_address(address: &str) -> Result<(), KeystoreFormatError> {
    match address.parse::<Address>() {
        Ok(a) if a.to_string() == address => Ok(()),
        _ => Err(KeystoreFormatError::Address),
    }
}

fn random<const N: usize>() -> Result<[u8; N], WalletError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| WalletError::Random(e.to_string()))?;
    Ok(b)
}

/// Argon2id of `password`. Callers check `p` first: the crate's own limits allow 4
/// TiB and `u32::MAX` passes.
fn derive_key(password: &str, salt: &[u8], p: KdfParams) -> Result<Key, WalletError> {
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

    /// Encrypts `mnemonic` (whose account 0 must be `address`, or [`Keystore::open`]
    /// refuses the file) under `password`.
    pub fn seal(
        mnemonic: &str,
        address: &str,
        password: &str,
        kdf_params: KdfParams,
    ) -> Result<Keystore, WalletError> {
        // Never write a file that `check` would refuse.
        kdf_params.check()?;
        check_address(address)?;
        let salt = random::<SALT_LEN_MIN>()?;
        let nonce = random::<NONCE_LEN>()?;
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

    /// Checks every field that can be checked without the password: version,
    /// algorithms, KDF bounds, address, and the encoding and length of the salt,
    /// nonce and ciphertext.
    pub fn check(&self) -> Result<(), KeystoreFormatError> {
        self.decode().map(|_| ())
    }

    fn decode(&self) -> Result<Decoded, KeystoreFormatError> {
        if self.version != VERSION {
            return Err(KeystoreFormatError::Version(self.version));
        }
        if self.kdf != "argon2id" {
            return Err(KeystoreFormatError::Kdf(excerpt(&self.kdf)));
        }
        if self.cipher != "xchacha20poly1305" {
            return Err(KeystoreFormatError::Cipher(excerpt(&self.cipher)));
        }
        self.kdf_params.check()?;
        check_address(&self.address)?;
        let salt = lower_hex("salt", &self.salt, SALT_LEN_MIN, SALT_LEN_MAX)?;
        let nonce = lower_hex("nonce", &self.nonce, NONCE_LEN, NONCE_LEN)?
            .try_into()
            .map_err(|_| KeystoreFormatError::NotHex { field: "nonce" })?;
        let ciphertext = lower_hex("ciphertext", &self.ciphertext, TAG_LEN, MAX_CIPHERTEXT_LEN)?;
        Ok(Decoded {
            salt,
            nonce,
            ciphertext,
        })
    }

    /// Decrypts the mnemonic. A wrong password and any change to an authenticated
    /// field give [`WalletError::WrongPassword`] (they cannot be told apart, by
    /// design); a field that fails [`Keystore::check`] gives
    /// [`WalletError::CorruptKeystore`] before any key is derived; a mnemonic whose
    /// account 0 is not the address field gives [`WalletError::AddressMismatch`].
    pub fn open(&self, password: &str) -> Result<Zeroizing<String>, WalletError> {
        self.open_with(password, derive_key)
    }

    /// [`Keystore::open`] with the key derivation passed in, so tests can remember
    /// keys across thousands of files that share a salt.
    fn open_with(
        &self,
        password: &str,
        kdf: impl FnOnce(&str, &[u8], KdfParams) -> Result<Key, WalletError>,
    ) -> Result<Zeroizing<String>, WalletError> {
        let d = self.decode()?;
        let key = kdf(password, &d.salt, self.kdf_params)?;
        let cipher = XChaCha20Poly1305::new(key.as_ref().into());
        let plain = cipher
            .decrypt(
                XNonce::from_slice(&d.nonce),
                Payload {
                    msg: &d.ciphertext,
                    aad: &self.aad(),
                },
            )
            .map_err(|_| WalletError::WrongPassword)?;
        let plain = Zeroizing::new(plain);
        let text = std::str::from_utf8(&plain).map_err(|_| corrupt("mnemonic is not text"))?;
        let mnemonic = Zeroizing::new(text.to_string());
        let derived = crate::account_key(&mnemonic, 0)?.address().to_string();
        if derived != self.address {
            return Err(WalletError::AddressMismatch {
                stored: self.address.clone(),
                derived,
            });
        }
        Ok(mnemonic)
    }

    /// Parses a keystore file's bytes and checks every field ([`Keystore::check`]).
    pub fn from_file_bytes(bytes: &[u8]) -> Result<Keystore, KeystoreFormatError> {
        if bytes.len() > MAX_FILE_LEN {
            return Err(KeystoreFormatError::TooLarge);
        }
        let ks: Keystore =
            serde_json::from_slice(bytes).map_err(|e| KeystoreFormatError::Json(e.to_string()))?;
        ks.check()?;
        Ok(ks)
    }

    /// The file's bytes: pretty JSON, as [`Keystore::save`] writes it.
    pub fn to_file_bytes(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("strings and integers always serialise")
    }

    /// Reads a keystore file, refusing one larger than [`MAX_FILE_LEN`] (reading
    /// no further, even from a device) or failing [`Keystore::check`].
    pub fn load(path: &Path) -> Result<Keystore, WalletError> {
        use std::io::Read;
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_FILE_LEN as u64 + 1).read_to_end(&mut bytes))
            .map_err(|e| WalletError::Io(path.to_path_buf(), e))?;
        Keystore::from_file_bytes(&bytes).map_err(|e| corrupt(format!("{}: {e}", path.display())))
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
        f.write_all(&self.to_file_bytes())
            .and_then(|()| f.sync_all())
            .map_err(|e| WalletError::Io(path.to_path_buf(), e))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::{Duration, Instant};

    use super::*;

    const PHRASE: &str = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
    const PASSWORD: &str = "hunter2";

    fn sealed() -> Keystore {
        let address = crate::account_key(PHRASE, 0)
            .expect("valid")
            .address()
            .to_string();
        Keystore::seal(PHRASE, &address, PASSWORD, KdfParams::MIN).expect("seals")
    }

    #[test]
    fn round_trip() {
        let ks = sealed();
        assert_eq!(ks.open(PASSWORD).expect("opens").as_str(), PHRASE);
        assert!(matches!(
            ks.open("hunter3"),
            Err(WalletError::WrongPassword)
        ));
        let again = Keystore::from_file_bytes(&ks.to_file_bytes()).expect("parses");
        assert_eq!(again, ks);
    }

    /// Sealed with dev account 1's address: the file is authentic (the address is
    /// in the associated data it was sealed with), so only deriving the keys shows
    /// the address is not theirs.
    #[test]
    fn keys_that_are_not_the_address_field_are_refused() {
        let theirs = cairn_core::genesis::dev_keys()[1].address().to_string();
        let ks = Keystore::seal(PHRASE, &theirs, PASSWORD, KdfParams::MIN).expect("seals");
        let mine = sealed().address;
        match ks.open(PASSWORD) {
            Err(WalletError::AddressMismatch { stored, derived }) => {
                assert_eq!((stored, derived), (theirs, mine));
            }
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("opens"),
        }
    }

    #[test]
    fn bounds_hold_the_defaults_with_margin() {
        KdfParams::DEFAULT.check().expect("default");
        KdfParams::MIN.check().expect("min");
        let d = KdfParams::DEFAULT;
        // Four times the default memory and three times its passes at once.
        KdfParams {
            m_kib: 4 * d.m_kib,
            t: 3 * d.t,
            p: 4,
        }
        .check()
        .expect("stronger");
        // Each field's maximum on its own.
        let max = KdfParams::MAX;
        KdfParams {
            m_kib: max.m_kib,
            t: 4,
            p: 1,
        }
        .check()
        .expect("1 GiB");
        KdfParams {
            t: max.t,
            p: max.p,
            ..KdfParams::MIN
        }
        .check()
        .expect("passes and lanes");
        // All three at once is more work than accepted.
        assert!(matches!(
            max.check(),
            Err(KeystoreFormatError::KdfParam {
                name: "m_kib * t",
                ..
            })
        ));
    }

    /// Every bit of the file as `save` writes it, flipped one at a time: each file is
    /// refused when parsed, or fails authentication; none opens and none takes long.
    /// Keys are remembered per (salt, parameters), since most changes keep both:
    /// `open_with` is `open` with that one difference.
    #[test]
    fn every_bit_of_the_file_flipped_fails_closed() {
        let ks = sealed();
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("wallet.json");
        ks.save(&path).expect("saves");
        let file = std::fs::read(&path).expect("reads");
        assert_eq!(file, ks.to_file_bytes());
        let mut keys: HashMap<(Vec<u8>, u32, u32, u32), Key> = HashMap::new();
        let (mut refused, mut unauthentic) = (0, 0);
        for i in 0..file.len() {
            for bit in 0..8 {
                let mut bad = file.clone();
                bad[i] ^= 1 << bit;
                let start = Instant::now();
                match Keystore::from_file_bytes(&bad) {
                    Err(e) => {
                        assert!(!e.to_string().is_empty());
                        refused += 1;
                    }
                    Ok(changed) => {
                        assert_ne!(changed, ks, "byte {i} bit {bit}: the same keystore");
                        let opened = changed.open_with(PASSWORD, |password, salt, p| {
                            let id = (salt.to_vec(), p.m_kib, p.t, p.p);
                            if let Some(key) = keys.get(&id) {
                                return Ok(key.clone());
                            }
                            let key = derive_key(password, salt, p)?;
                            keys.insert(id, key.clone());
                            Ok(key)
                        });
                        match opened {
                            Err(WalletError::WrongPassword) => unauthentic += 1,
                            Ok(_) => panic!("byte {i} bit {bit}: the changed file opens"),
                            Err(e) => panic!("byte {i} bit {bit}: {e}"),
                        }
                    }
                }
                let took = start.elapsed();
                assert!(
                    took < Duration::from_secs(2),
                    "byte {i} bit {bit}: {took:?}"
                );
            }
        }
        assert_eq!(refused + unauthentic, 8 * file.len());
        // Changed hex digits of the salt, nonce and ciphertext reach authentication;
        // changed salts and KDF digits each derive a key of their own.
        assert!(
            unauthentic > 300,
            "only {unauthentic} files reached decryption"
        );
        assert!(keys.len() > 30, "only {} keys derived", keys.len());
    }

    #[test]
    fn upper_case_hex_is_refused_though_it_decodes_to_the_same_bytes() {
        for field in ["salt", "nonce", "ciphertext"] {
            let mut ks = sealed();
            let text = match field {
                "salt" => &mut ks.salt,
                "nonce" => &mut ks.nonce,
                _ => &mut ks.ciphertext,
            };
            if !text.bytes().any(|b| b.is_ascii_lowercase()) {
                continue; // all digits (a one-in-millions salt): nothing to change
            }
            *text = text.to_ascii_uppercase();
            assert_eq!(ks.check(), Err(KeystoreFormatError::NotHex { field }));
            assert!(matches!(
                ks.open(PASSWORD),
                Err(WalletError::CorruptKeystore(_))
            ));
        }
    }

    #[test]
    fn absurd_kdf_parameters_are_refused_before_any_work() {
        let mut ks = sealed();
        ks.kdf_params.m_kib = u32::MAX;
        let start = Instant::now();
        assert!(matches!(
            ks.open(PASSWORD),
            Err(WalletError::CorruptKeystore(_))
        ));
        assert!(start.elapsed() < Duration::from_secs(1));
        let mut ks = sealed();
        ks.kdf_params.t = 1_000;
        assert!(matches!(
            ks.open(PASSWORD),
            Err(WalletError::CorruptKeystore(_))
        ));
    }
}
