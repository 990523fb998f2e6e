//! The `cairn-wallet` binary without a node: creating, restoring and opening
//! wallets, and the errors a person sees.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Output};

use cairn_core::genesis::DEV_MNEMONIC;

fn wallet(dir: &std::path::Path, password: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cairn-wallet"))
        .arg("--wallet-dir")
        .arg(dir)
        .args(args)
        .env("CAIRN_WALLET_PASSWORD", password)
        .env_remove("CAIRN_RPC")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn restore_gives_the_dev_address_and_opening_needs_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let phrase = dir.path().join("phrase");
    std::fs::write(&phrase, DEV_MNEMONIC).unwrap();
    let o = wallet(
        dir.path(),
        "correct horse",
        &["restore", "--mnemonic-file", phrase.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", text(&o));
    let want = cairn_core::genesis::dev_keys()[0].address().to_string();
    let o = wallet(dir.path(), "correct horse", &["address"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), want);
    // Another index needs the password.
    let want1 = cairn_core::genesis::dev_keys()[1].address().to_string();
    let o = wallet(dir.path(), "correct horse", &["address", "--index", "1"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        want1,
        "{}",
        text(&o)
    );
    let o = wallet(dir.path(), "wrong horse", &["address", "--index", "1"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("wrong password"), "{}", text(&o));
    // The mnemonic never appears in error output.
    assert!(!text(&o).contains("abandon"));
    // No second wallet over the first.
    let o = wallet(dir.path(), "x", &["new"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("already exists"), "{}", text(&o));
}

#[test]
fn new_wallets_show_the_mnemonic_once_and_tampering_fails_closed() {
    let dir = tempfile::tempdir().unwrap();
    let o = wallet(dir.path(), "pw123456", &["--json", "new"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let words = v["mnemonic"].as_str().unwrap().split_whitespace().count();
    assert_eq!(words, 12);
    let ks = dir.path().join("wallet.json");
    let original = std::fs::read_to_string(&ks).unwrap();
    assert!(
        !original.contains(v["mnemonic"].as_str().unwrap()),
        "stored in clear"
    );
    // Flip one hex digit of the ciphertext: opening fails, without a panic.
    let i = original.find("\"ciphertext\": \"").unwrap() + 20;
    let mut bad = original.clone().into_bytes();
    bad[i] = if bad[i] == b'0' { b'1' } else { b'0' };
    std::fs::write(&ks, &bad).unwrap();
    let o = wallet(dir.path(), "pw123456", &["address", "--index", "1"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("wrong password"));
    // Truncated: a clear error naming the file.
    std::fs::write(&ks, &original[..original.len() / 2]).unwrap();
    let o = wallet(dir.path(), "pw123456", &["address"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("corrupt keystore"), "{}", text(&o));
}

#[test]
fn no_wallet_bad_amounts_and_an_unreachable_node_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    let o = wallet(dir.path(), "x", &["balance"]);
    assert!(text(&o).contains("cairn-wallet new"), "{}", text(&o));
    let phrase = dir.path().join("phrase");
    std::fs::write(&phrase, DEV_MNEMONIC).unwrap();
    assert!(
        wallet(
            dir.path(),
            "password",
            &["restore", "--mnemonic-file", phrase.to_str().unwrap()]
        )
        .status
        .success()
    );
    let o = wallet(
        dir.path(),
        "password",
        &["send", "--to", "cairn1xyz", "--amount", "1"],
    );
    assert!(text(&o).contains("invalid address"), "{}", text(&o));
    let to = cairn_core::genesis::dev_keys()[1].address().to_string();
    let o = wallet(
        dir.path(),
        "password",
        &["send", "--to", &to, "--amount", "1.000000001"],
    );
    assert!(text(&o).contains("invalid amount"), "{}", text(&o));
    let o = wallet(
        dir.path(),
        "password",
        &["--rpc", "http://127.0.0.1:9", "balance"],
    );
    assert!(text(&o).contains("cannot reach the node"), "{}", text(&o));
}

/// `cairn-wallet` with no password at all: none in the environment, stdin not a
/// terminal, so nothing can prompt.
fn wallet_without_password(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cairn-wallet"))
        .arg("--wallet-dir")
        .arg(dir)
        .args(args)
        .env_remove("CAIRN_WALLET_PASSWORD")
        .env_remove("CAIRN_RPC")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

fn json_of(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(o)))
}

/// A wallet restored from the dev mnemonic, with password `pw`.
fn dev_wallet(dir: &std::path::Path, pw: &str) {
    let phrase = dir.join("phrase");
    std::fs::write(&phrase, DEV_MNEMONIC).unwrap();
    let o = wallet(
        &dir.join("w"),
        pw,
        &["restore", "--mnemonic-file", phrase.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", text(&o));
}

/// Whoever can write `wallet.json` puts another address (here dev account 1's) in
/// its `address` field. Without the password the swapped address is shown marked
/// unverified; with it, `address` and `balance` refuse, before reaching any node.
#[test]
fn a_swapped_address_field_is_unverified_without_the_password_and_refused_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("w");
    dev_wallet(dir.path(), "correct horse");
    let mine = cairn_core::genesis::dev_keys()[0].address().to_string();
    let theirs = cairn_core::genesis::dev_keys()[1].address().to_string();
    let ks = w.join("wallet.json");
    let original = std::fs::read_to_string(&ks).unwrap();
    assert!(original.contains(&mine));
    std::fs::write(&ks, original.replace(&mine, &theirs)).unwrap();

    // With the password: refused, and the swapped address is not printed as ours.
    for args in [
        &["address"][..],
        &["--json", "address"],
        &["--rpc", "http://127.0.0.1:9", "balance"],
    ] {
        let o = wallet(&w, "correct horse", args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", text(&o));
        let t = text(&o);
        assert!(
            t.contains("cannot verify the stored address"),
            "{args:?}: {t}"
        );
        assert!(t.contains("keystore file was modified"), "{args:?}: {t}");
        assert!(!t.contains("cannot reach the node"), "{args:?}: {t}");
        assert!(!t.contains("verified\""), "{args:?}: {t}");
    }

    // Without a password: shown, and said plainly to be unverified.
    let o = wallet_without_password(&w, &["--json", "address"]);
    assert!(o.status.success(), "{}", text(&o));
    let v = json_of(&o);
    assert_eq!(v["address"], theirs.as_str());
    assert_eq!(v["verified"], false, "{v}");
    let o = wallet_without_password(&w, &["address"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), theirs);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("unverified"),
        "{}",
        text(&o)
    );
    // Asking to verify without a password to verify with is an error, not a guess.
    let o = wallet_without_password(&w, &["address", "--verify"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("no password"), "{}", text(&o));
}

/// A keystore that opens, but whose address field is not account 0 of its keys
/// (sealed so by a tool holding the mnemonic and the password): refused with the
/// mismatch error, by `address` and by every command that opens the keystore.
#[test]
fn a_keystore_whose_keys_are_not_its_address_is_refused_when_opened() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("w");
    let theirs = cairn_core::genesis::dev_keys()[1].address().to_string();
    let mine = cairn_core::genesis::dev_keys()[0].address().to_string();
    cairn_wallet::Keystore::seal(
        DEV_MNEMONIC,
        &theirs,
        "correct horse",
        cairn_wallet::KdfParams::MIN,
    )
    .unwrap()
    .save(&w.join("wallet.json"))
    .unwrap();
    for args in [
        &["address"][..],
        &["--json", "address"],
        &["address", "--index", "2"],
        &["--rpc", "http://127.0.0.1:9", "balance"],
        &[
            "--rpc",
            "http://127.0.0.1:9",
            "send",
            "--to",
            &mine,
            "--amount",
            "1",
        ],
    ] {
        let o = wallet(&w, "correct horse", args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", text(&o));
        let t = text(&o);
        assert!(
            t.contains("address field") && t.contains("does not match its keys"),
            "{args:?}: {t}"
        );
        assert!(t.contains("tampered"), "{args:?}: {t}");
        assert!(t.contains(&theirs) && t.contains(&mine), "{args:?}: {t}");
    }
    let o = wallet_without_password(&w, &["--json", "address"]);
    assert_eq!(json_of(&o)["verified"], false, "{}", text(&o));
}

/// The untouched keystore: with the password the address is derived from the keys
/// and marked verified; without it, the same address marked unverified.
#[test]
fn an_untampered_keystore_verifies_with_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("w");
    dev_wallet(dir.path(), "correct horse");
    let mine = cairn_core::genesis::dev_keys()[0].address().to_string();
    let pw_file = dir.path().join("pw");
    std::fs::write(&pw_file, "correct horse\n").unwrap();
    for o in [
        wallet(&w, "correct horse", &["--json", "address"]),
        wallet(&w, "correct horse", &["--json", "address", "--verify"]),
        wallet_without_password(
            &w,
            &[
                "--password-file",
                pw_file.to_str().unwrap(),
                "--json",
                "address",
            ],
        ),
    ] {
        assert!(o.status.success(), "{}", text(&o));
        let v = json_of(&o);
        assert_eq!(v["address"], mine.as_str());
        assert_eq!(v["verified"], true, "{v}");
    }
    let o = wallet(&w, "correct horse", &["address"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), mine);
    assert!(!text(&o).contains("unverified"), "{}", text(&o));
    let o = wallet_without_password(&w, &["--json", "address"]);
    let v = json_of(&o);
    assert_eq!(
        (v["address"].as_str(), &v["verified"]),
        (Some(mine.as_str()), &serde_json::json!(false))
    );
    // A wrong password is refused, not taken as "unverified".
    let o = wallet(&w, "wrong horse", &["--json", "address"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("wrong password"), "{}", text(&o));
}
