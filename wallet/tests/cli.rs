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
    let o = wallet(dir.path(), "anything", &["address"]);
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
