//! The `cairn-node` binary's command line.

#![allow(clippy::unwrap_used)]

use std::process::Command;

fn node() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cairn-node"))
}

#[test]
fn help_explains_the_dev_network() {
    let out = node().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("--dev"), "{text}");
    assert!(text.contains("--datadir"), "{text}");
}

#[test]
fn dev_genesis_prints_and_round_trips() {
    let out = node().args(["--dev", "--print-genesis"]).output().unwrap();
    assert!(out.status.success());
    let json = String::from_utf8(out.stdout).unwrap();
    let params = cairn_core::ChainParams::from_json(&json).unwrap();
    assert_eq!(
        params.genesis_id(),
        cairn_core::ChainParams::dev().genesis_id()
    );
}

#[test]
fn bad_genesis_file_is_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("cairn-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("genesis.json");
    std::fs::write(&file, "{\"name\": \"x\", \"bogus\": 1}").unwrap();
    let out = node().arg("--genesis").arg(&file).output().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("genesis.json") && err.contains("bogus"),
        "{err}"
    );

    let out = node()
        .args(["--genesis", "/nonexistent/genesis.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("cannot read genesis file")
    );
}

#[test]
fn dev_and_genesis_conflict() {
    let out = node()
        .args(["--dev", "--genesis", "x.json"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn bad_flags_are_clear_errors_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str); 8] = [
        (
            &["--dev", "--coinbase", "cairn1notanaddress"],
            "invalid address",
        ),
        (&["--dev", "--mine-backend", "gpu"], "unknown backend"),
        (
            &["--mine"],
            "mining needs a coinbase address (mining.coinbase or --coinbase)",
        ),
        (&["--dev-tx-rate", "5"], "--dev"),
        (&["--dev", "--bootnode", "not-a-multiaddr"], "--bootnode"),
        (&["--dev", "--listen", "/ip4/1.2.3.4/tcpx/1"], "--listen"),
        (&["--dev", "--rpc-listen", "localhost"], "--rpc-listen"),
        (
            &["--dev", "--offline", "--bootnode", "/ip4/127.0.0.1/tcp/1"],
            "cannot be used with",
        ),
    ];
    for (args, expect) in cases {
        let out = node()
            .args(args)
            .arg("--datadir")
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains(expect), "{args:?}: {err}");
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing written"
    );
}
