//! The wallet at rest: a wrong password, a truncated file and absurd KDF parameters
//! are each refused with a typed error, quickly, and the `cairn-wallet` binary
//! never prints key material, the mnemonic or a password while refusing.
//! (Every single-bit change of the file is covered beside the code, in
//! `keystore.rs`, where keys can be reused across files sharing a salt.)
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use cairn_wallet::keystore::{KeystoreFormatError, MAX_FILE_LEN};
use cairn_wallet::{KdfParams, Keystore, WalletError, account_key};
use serde_json::{Value, json};

const PHRASE: &str = cairn_core::genesis::DEV_MNEMONIC;
const PASSWORD: &str = "at-rest: Tr0ub4dor&3";

/// Opening a refused keystore must take well under this, even on a loaded CI box.
const QUICK: Duration = Duration::from_secs(2);

fn sealed() -> Keystore {
    let address = account_key(PHRASE, 0).unwrap().address().to_string();
    Keystore::seal(PHRASE, &address, PASSWORD, KdfParams::MIN).unwrap()
}

#[test]
fn a_wrong_password_is_a_typed_error() {
    let ks = sealed();
    let wrong = [
        String::new(),
        PASSWORD[..PASSWORD.len() - 1].to_string(),
        format!("{PASSWORD} "),
        PASSWORD.to_uppercase(),
        "x".repeat(10_000),
    ];
    for w in &wrong {
        assert!(
            matches!(ks.open(w), Err(WalletError::WrongPassword)),
            "password of {} bytes",
            w.len()
        );
    }
    assert!(
        WalletError::WrongPassword
            .to_string()
            .contains("wrong password")
    );
    // The same through a file, and the right password still opens it.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wallet.json");
    ks.save(&path).unwrap();
    let loaded = Keystore::load(&path).unwrap();
    assert!(matches!(
        loaded.open("hunter2"),
        Err(WalletError::WrongPassword)
    ));
    assert_eq!(loaded.open(PASSWORD).unwrap().as_str(), PHRASE);
}

#[test]
fn a_file_truncated_at_any_length_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wallet.json");
    sealed().save(&path).unwrap();
    let file = std::fs::read(&path).unwrap();
    let cut = dir.path().join("cut.json");
    let mut tried = 0;
    for len in 0..file.len() {
        if file[len..].iter().all(u8::is_ascii_whitespace) {
            continue; // only trailing whitespace removed: the same document
        }
        assert!(Keystore::from_file_bytes(&file[..len]).is_err(), "{len}");
        std::fs::write(&cut, &file[..len]).unwrap();
        match Keystore::load(&cut) {
            Err(WalletError::CorruptKeystore(msg)) => {
                assert!(msg.contains("cut.json"), "{len}: {msg}");
            }
            Err(e) => panic!("truncated to {len} bytes: {e}"),
            Ok(_) => panic!("truncated to {len} bytes: loads"),
        }
        tried += 1;
    }
    assert!(tried > 300, "only {tried} lengths tried");
}

#[test]
fn an_oversized_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wallet.json");
    let mut big = sealed().to_file_bytes();
    big.resize(MAX_FILE_LEN + 1, b' ');
    assert_eq!(
        Keystore::from_file_bytes(&big),
        Err(KeystoreFormatError::TooLarge)
    );
    std::fs::write(&path, &big).unwrap();
    assert!(matches!(
        Keystore::load(&path),
        Err(WalletError::CorruptKeystore(m)) if m.contains("too large")
    ));
}

/// Checks that `ks` fails [`Keystore::check`] as `want` says, and that opening it
/// is refused quickly with a message naming `field`.
fn assert_refused(ks: &Keystore, field: &str, want: impl Fn(&KeystoreFormatError) -> bool) {
    let typed = ks.check().unwrap_err();
    assert!(want(&typed), "{field}: refused as {typed:?}");
    let start = Instant::now();
    let opened = ks.open(PASSWORD);
    let took = start.elapsed();
    match opened {
        Err(WalletError::CorruptKeystore(msg)) => {
            assert!(msg.contains(field), "{field}: {msg}");
        }
        Err(e) => panic!("{field}: {e}"),
        Ok(_) => panic!("{field}: opens"),
    }
    assert!(took < QUICK, "{field}: refusing took {took:?}");
}

fn is_kdf_param(e: &KeystoreFormatError, param: &str) -> bool {
    matches!(e, KeystoreFormatError::KdfParam { name, .. } if *name == param)
}

fn is_length(e: &KeystoreFormatError, field: &str) -> bool {
    matches!(e, KeystoreFormatError::Length { field: f, .. } if *f == field)
}

fn is_not_hex(e: &KeystoreFormatError, field: &str) -> bool {
    matches!(e, KeystoreFormatError::NotHex { field: f } if *f == field)
}

#[test]
fn absurd_kdf_parameters_are_refused_by_name_before_argon2_runs() {
    let (min, max) = (KdfParams::MIN, KdfParams::MAX);
    let m = min.m_kib;
    // (parameter at fault, m_kib, t, p). Those that would run for seconds come
    // before those that would run for days or abort on a 4 TiB allocation, so a
    // lost check fails here rather than hangs.
    let cases: [(&str, u32, u32, u32); 12] = [
        ("t", m, 1_000, 1),
        ("t", m, 0, 1),
        ("p", m, 1, 0),
        ("p", m, 1, max.p + 1),
        ("p", m, 1, 0x00FF_FFFF),
        ("p", m, 1, u32::MAX),
        ("m_kib", 0, 1, 1),
        ("m_kib", m - 1, 1, 1),
        ("m_kib", max.m_kib + 1, 1, 1),
        ("m_kib * t", max.m_kib, max.t, 1),
        ("m_kib", u32::MAX, 1, 1), // 4 TiB
        ("t", m, u32::MAX, 1),
    ];
    let start = Instant::now();
    for (name, m_kib, t, p) in cases {
        let params = KdfParams { m_kib, t, p };
        assert!(params.check().is_err(), "{params:?}");
        let mut ks = sealed();
        ks.kdf_params = params;
        assert_refused(&ks, &format!("kdf_params.{name} ="), |e| {
            is_kdf_param(e, name)
        });
    }
    assert!(start.elapsed() < QUICK * 4, "{:?}", start.elapsed());
}

#[test]
fn absurd_salts_nonces_and_ciphertexts_are_refused_by_name() {
    // Changes a field; the `&str` is 1 MiB of hex.
    type Change = fn(&mut Keystore, &str);
    type Want = fn(&KeystoreFormatError, &str) -> bool;
    let huge = "00".repeat(1 << 20);
    let cases: [(&str, Change, Want); 13] = [
        ("salt", |k, _| k.salt.clear(), is_length),
        ("salt", |k, _| k.salt = "00".into(), is_length),
        ("salt", |k, h| k.salt = h.into(), is_length),
        ("salt", |k, _| k.salt.push('0'), is_not_hex),
        ("salt", |k, _| k.salt = "zz".repeat(16), is_not_hex),
        ("nonce", |k, _| k.nonce.clear(), is_length),
        ("nonce", |k, _| k.nonce.truncate(46), is_length),
        ("nonce", |k, _| k.nonce.push_str("00"), is_length),
        ("nonce", |k, h| k.nonce = h.into(), is_length),
        ("ciphertext", |k, _| k.ciphertext.clear(), is_length),
        ("ciphertext", |k, _| k.ciphertext.truncate(30), is_length),
        ("ciphertext", |k, h| k.ciphertext = h.into(), is_length),
        ("ciphertext", |k, _| k.ciphertext.push('g'), is_not_hex),
    ];
    for (field, change, want) in cases {
        let mut ks = sealed();
        change(&mut ks, &huge);
        assert_refused(&ks, field, |e| want(e, field));
    }
}

#[test]
fn unknown_versions_algorithms_and_addresses_are_refused_by_name() {
    let mut ks = sealed();
    ks.version = 2;
    assert_refused(&ks, "version", |e| *e == KeystoreFormatError::Version(2));
    let mut ks = sealed();
    ks.kdf = "argon2i".into();
    assert_refused(&ks, "kdf", |e| matches!(e, KeystoreFormatError::Kdf(_)));
    let mut ks = sealed();
    ks.cipher = "aes-256-gcm".into();
    assert_refused(&ks, "cipher", |e| {
        matches!(e, KeystoreFormatError::Cipher(_))
    });
    for address in ["cairn1x".to_string(), sealed().address.to_uppercase()] {
        let mut ks = sealed();
        ks.address = address;
        assert_refused(&ks, "address", |e| *e == KeystoreFormatError::Address);
    }
}

/// The file as JSON, with `field` of `kdf_params` replaced.
fn with_kdf_field(file: &[u8], field: &str, value: Value) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(file).unwrap();
    v["kdf_params"][field] = value;
    serde_json::to_vec_pretty(&v).unwrap()
}

#[test]
fn files_with_absurd_kdf_parameters_are_refused_when_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wallet.json");
    let file = sealed().to_file_bytes();
    // Beyond u32 or not integers: refused by the parser.
    for (field, value) in [
        ("m_kib", json!(4_u64 << 40)),
        ("t", json!(-1)),
        ("p", json!(1.5)),
        ("t", json!("3")),
    ] {
        let bad = with_kdf_field(&file, field, value);
        assert!(matches!(
            Keystore::from_file_bytes(&bad),
            Err(KeystoreFormatError::Json(_))
        ));
    }
    // Within u32 but absurd: refused by name on load, before any password is asked
    // (`cairn-wallet address` shows account 0 from a loaded file).
    for field in ["m_kib", "t", "p"] {
        let bad = with_kdf_field(&file, field, json!(u32::MAX));
        std::fs::write(&path, &bad).unwrap();
        let start = Instant::now();
        match Keystore::load(&path) {
            Err(WalletError::CorruptKeystore(msg)) => {
                assert!(msg.contains(&format!("kdf_params.{field} =")), "{msg}");
            }
            Err(e) => panic!("{field}: {e}"),
            Ok(_) => panic!("{field}: loads"),
        }
        assert!(start.elapsed() < QUICK);
    }
}

#[test]
fn debug_output_of_secret_holding_types_shows_no_secret() {
    let seed = cairn_core::hd::mnemonic_to_seed(PHRASE, "").unwrap();
    let key = account_key(PHRASE, 0).unwrap();
    let xkey = cairn_core::hd::ExtendedKey::master(&seed[..]);
    let secrets = [
        key.seed().to_vec(),
        xkey.secret_key().seed().to_vec(),
        xkey.chain_code().to_vec(),
    ];
    for shown in [format!("{key:?}"), format!("{key:#?}"), format!("{xkey:?}")] {
        for s in &secrets {
            assert!(!shown.contains(&hex::encode(s)), "{shown}");
            assert!(!shown.contains(&hex::encode_upper(s)), "{shown}");
            assert!(!shown.contains(&format!("{s:?}")[1..20]), "{shown}");
        }
    }
    let ks = format!("{:?}", sealed());
    assert!(!ks.contains("abandon") && !ks.contains(PASSWORD), "{ks}");
}

// ---- The binary --------------------------------------------------------------

const WRONG: &str = "at-rest: Tr0ub4dor&4";

fn wallet(dir: &Path, env_password: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cairn-wallet"));
    cmd.arg("--wallet-dir")
        .arg(dir)
        .args(args)
        .env_remove("CAIRN_WALLET_PASSWORD")
        .env_remove("CAIRN_WALLET_DIR")
        .env_remove("CAIRN_RPC")
        .stdin(Stdio::null());
    if let Some(p) = env_password {
        cmd.env("CAIRN_WALLET_PASSWORD", p);
    }
    cmd.output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// What must never be printed: the phrase and any two consecutive words of it, the
/// BIP-39 seed, the keys of the first accounts, and both passwords.
fn secrets(phrase: &str) -> Vec<String> {
    let mut out = vec![phrase.to_string(), PASSWORD.to_string(), WRONG.to_string()];
    let words: Vec<&str> = phrase.split_whitespace().collect();
    out.extend(words.windows(2).map(|w| w.join(" ")));
    let seed = cairn_core::hd::mnemonic_to_seed(phrase, "").unwrap();
    let mut bytes = vec![seed[..].to_vec()];
    for i in 0..3 {
        bytes.push(account_key(phrase, i).unwrap().seed().to_vec());
    }
    for b in bytes {
        out.push(hex::encode(&b));
        out.push(hex::encode_upper(&b));
    }
    out
}

fn assert_quiet(o: &Output, secrets: &[String], case: &str) {
    let all = text(o);
    for s in secrets {
        assert!(!all.contains(s.as_str()), "{case}: printed a secret");
    }
    assert!(!all.contains("panicked"), "{case}: {all}");
}

/// Byte `offset` into the value of `"field": "…"` in the pretty file.
fn value_at(file: &[u8], field: &str, offset: usize) -> usize {
    let key = format!("\"{field}\": \"");
    let text = std::str::from_utf8(file).unwrap();
    text.find(&key).unwrap() + key.len() + offset
}

#[test]
fn the_binary_never_prints_key_material_when_refusing() {
    let dir = tempfile::tempdir().unwrap();
    let wdir = dir.path().join("w");
    let ks_path = wdir.join("wallet.json");
    // A fixed mnemonic of our own (not the public dev one), valid by construction.
    let phrase = bip39::Mnemonic::from_entropy(b"cairn wallet at-rest test entrop")
        .unwrap()
        .to_string();
    let phrase_file = dir.path().join("m");
    std::fs::write(&phrase_file, &phrase).unwrap();
    let good_pw = dir.path().join("pw");
    std::fs::write(&good_pw, format!("{PASSWORD}\n")).unwrap();
    let wrong_pw = dir.path().join("pw2");
    std::fs::write(&wrong_pw, format!("{WRONG}\n")).unwrap();
    let (good_pw, wrong_pw) = (good_pw.to_str().unwrap(), wrong_pw.to_str().unwrap());
    let secrets = secrets(&phrase);

    let o = wallet(
        &wdir,
        None,
        &[
            "--password-file",
            good_pw,
            "restore",
            "--mnemonic-file",
            phrase_file.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_quiet(&o, &secrets, "restore");
    let original = std::fs::read(&ks_path).unwrap();

    // Both password mechanisms open it, so the refusals below are not for want of a
    // password.
    let addr1 = account_key(&phrase, 1).unwrap().address().to_string();
    for o in [
        wallet(&wdir, Some(PASSWORD), &["address", "--index", "1"]),
        wallet(
            &wdir,
            None,
            &["--password-file", good_pw, "address", "--index", "1"],
        ),
    ] {
        assert_eq!(
            String::from_utf8_lossy(&o.stdout).trim(),
            addr1,
            "{}",
            text(&o)
        );
        assert_quiet(&o, &secrets, "opening");
    }

    // Commands that decrypt: one in text, one in JSON (send stops at the keystore,
    // before the unreachable node).
    let send: [&str; 8] = [
        "--json",
        "send",
        "--to",
        addr1.as_str(),
        "--amount",
        "1",
        "--rpc",
        "http://127.0.0.1:9",
    ];
    let decrypting: [&[&str]; 2] = [&["address", "--index", "1"], &send];

    // Wrong passwords, from the environment and from a file.
    for args in decrypting {
        for (case, o) in [
            ("wrong password (env)", wallet(&wdir, Some(WRONG), args)),
            (
                "wrong password (file)",
                wallet(
                    &wdir,
                    None,
                    &[&["--password-file", wrong_pw][..], args].concat(),
                ),
            ),
        ] {
            assert_eq!(o.status.code(), Some(1), "{case}: {}", text(&o));
            assert!(text(&o).contains("wrong password"), "{case}: {}", text(&o));
            assert_quiet(&o, &secrets, case);
        }
    }

    // Damaged files, opened with the right password.
    let flip = |at: usize, to: fn(u8) -> u8| {
        let mut f = original.clone();
        f[at] = to(f[at]);
        f
    };
    fn other_hex(c: u8) -> u8 {
        if c == b'0' { b'1' } else { b'0' }
    }
    fn other_bech32(c: u8) -> u8 {
        if c == b'q' { b'p' } else { b'q' }
    }
    let kdf = |field: &str| with_kdf_field(&original, field, json!(u32::MAX));
    let damaged: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "ciphertext",
            flip(value_at(&original, "ciphertext", 7), other_hex),
            "wrong password",
        ),
        (
            "salt",
            flip(value_at(&original, "salt", 3), other_hex),
            "wrong password",
        ),
        (
            "nonce",
            flip(value_at(&original, "nonce", 5), other_hex),
            "wrong password",
        ),
        (
            "address",
            flip(value_at(&original, "address", 12), other_bech32),
            "corrupt keystore",
        ),
        ("m_kib", kdf("m_kib"), "corrupt keystore"),
        ("t", kdf("t"), "corrupt keystore"),
        ("empty", Vec::new(), "corrupt keystore"),
        ("1 byte", original[..1].to_vec(), "corrupt keystore"),
        (
            "half",
            original[..original.len() / 2].to_vec(),
            "corrupt keystore",
        ),
        (
            "all but 1",
            original[..original.len() - 1].to_vec(),
            "corrupt keystore",
        ),
    ];
    for (case, bytes, want) in &damaged {
        std::fs::write(&ks_path, bytes).unwrap();
        for args in decrypting {
            let o = wallet(&wdir, Some(PASSWORD), args);
            assert_eq!(o.status.code(), Some(1), "{case}: {}", text(&o));
            assert!(text(&o).contains(*want), "{case}: {}", text(&o));
            assert_quiet(&o, &secrets, case);
        }
    }
    std::fs::write(&ks_path, &original).unwrap();
}
