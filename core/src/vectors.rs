//! Fixed test vectors. The same values are printed in `docs/PROTOCOL.md` (checked
//! below) and were cross-checked with independent blake3, ed25519 and bech32m
//! implementations.

use crate::amount::Amount;
use crate::encoding::{Decode, Encode};
use crate::genesis::{ChainParams, dev_keys};
use crate::testkit::render_test_vectors;
use crate::tx::{Transaction, Transfer};

/// Id of the block defined by the repository's `genesis.json`.
const MAIN_GENESIS_ID: &str = "9aba57aac9df0b39d77941466977a8c9d03a4a834451886a78db4e4b1ea98764";
/// Id of the built-in dev network's genesis block.
const DEV_GENESIS_ID: &str = "2dc0858cb3b277eab2013d4e73c06a618f7107a4df636692d29014a7b3cafcea";
/// Network id of the repository's `genesis.json`.
const MAIN_NETWORK_ID: &str = "a34a3fd1b5defb955fede1d4a86fca351a1e4c4449db367a84d64a5eb3808f03";
/// Network id of the built-in dev network.
const DEV_NETWORK_ID: &str = "fdadad29f12a068172bcc23d562811d4248c9636838e966fbfd7195dd6898b98";

const TRANSFER_HEX: &str = "013905000070cffe3fb508e1a7b632964b053c7f7a602abc8df98624ef5bb90b7335bdd41a360343c52a80f220f18ce5450851fcea0a66162d00e1f50500000000e8030000000000000000000000000000f329b27c21eab345f866fef384d8e5bf8ffa7790487784a6ca7abc3dca84d2afaeedcabcfbb5b0423e79dcbfadf9c1ec59be3b6e89b22ef50bfac00a109fee0a";

fn protocol_md() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/PROTOCOL.md");
    std::fs::read_to_string(path).expect("docs/PROTOCOL.md exists")
}

#[test]
fn genesis_ids() {
    let main = ChainParams::from_json(include_str!("../../genesis.json")).unwrap();
    assert_eq!(main.genesis_id().to_string(), MAIN_GENESIS_ID);
    assert_eq!(main.name(), "main");
    assert_eq!(ChainParams::dev().genesis_id().to_string(), DEV_GENESIS_ID);
    assert_eq!(main.network_id().to_string(), MAIN_NETWORK_ID);
    assert_eq!(ChainParams::dev().network_id().to_string(), DEV_NETWORK_ID);
}

#[test]
fn dev_accounts() {
    assert_eq!(
        dev_keys()[0].address().to_string(),
        "cairn1t92yjm92v7jg0r9zkamt73ggzxknfh83svckq8"
    );
    assert_eq!(
        dev_keys()[1].address().to_string(),
        "cairn1xcp583f2srezpuvvu4zss50uag9xv93dsrgf68"
    );
}

#[test]
fn transfer_vector() {
    let t = Transfer::new_signed(
        &dev_keys()[0],
        ChainParams::dev().network_id(),
        1337,
        dev_keys()[1].address(),
        Amount(100_000_000),
        Amount(1_000),
        0,
    );
    assert_eq!(hex::encode(t.to_bytes()), TRANSFER_HEX);
    let decoded = Transaction::from_bytes(&hex::decode(TRANSFER_HEX).unwrap()).unwrap();
    assert_eq!(decoded, Transaction::Transfer(t.clone()));
    assert_eq!(
        t.id().to_string(),
        "0767ee4bac8464214bdf3de1bd97ea17b26f105c83bf6faaa38897428ca57508"
    );
}

#[test]
fn protocol_md_carries_the_current_vectors() {
    let doc = protocol_md();
    assert!(
        doc.contains(&format!("MAIN_GENESIS_ID: {MAIN_GENESIS_ID}")),
        "main genesis id missing from PROTOCOL.md"
    );
    assert!(
        doc.contains(&format!("DEV_GENESIS_ID: {DEV_GENESIS_ID}")),
        "dev genesis id missing from PROTOCOL.md"
    );
    assert!(
        doc.contains(&format!("MAIN_NETWORK_ID: {MAIN_NETWORK_ID}")),
        "main network id missing from PROTOCOL.md"
    );
    assert!(
        doc.contains(&format!("DEV_NETWORK_ID: {DEV_NETWORK_ID}")),
        "dev network id missing from PROTOCOL.md"
    );
    let vectors = render_test_vectors();
    assert!(
        doc.contains(&vectors),
        "docs/PROTOCOL.md's test vectors are stale: regenerate them with\n  cargo run -p cairn-core --features testkit --example vectors\n\n{vectors}"
    );
}
