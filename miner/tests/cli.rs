//! `cairn-miner`'s command line: mining needs a valid coinbase, and says so.
#![allow(clippy::unwrap_used)]

use std::process::Command;

fn miner(args: &[&str]) -> (bool, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_cairn-miner"))
        .args(args)
        .env_remove("CAIRN_RPC")
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn mining_without_or_with_a_bad_coinbase_is_a_clear_error() {
    let (ok, err) = miner(&["--rpc", "http://127.0.0.1:9"]);
    assert!(!ok);
    assert!(err.contains("--coinbase"), "{err}");
    let (ok, err) = miner(&["--coinbase", "cairn1nope"]);
    assert!(!ok);
    assert!(err.contains("--coinbase"), "{err}");
    let (ok, err) = miner(&["--coinbase", &"x".repeat(10), "--threads", "lots"]);
    assert!(!ok);
    assert!(err.contains("invalid value"), "{err}");
}

#[test]
fn help_shows_how_to_mine_for_a_node() {
    let (ok, _) = miner(&["--help"]);
    assert!(ok);
    let o = Command::new(env!("CARGO_BIN_EXE_cairn-miner"))
        .arg("--help")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("--rpc") && text.contains("--worker"),
        "{text}"
    );
}
