//! The repository's network definition as every binary will load it.

#![allow(clippy::unwrap_used)]

use cairn_core::{COIN, ChainParams};

#[test]
fn root_genesis_json_is_valid_and_sane() {
    let json =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../genesis.json")).unwrap();
    let p = ChainParams::from_json(&json).unwrap();
    assert_eq!(p.name(), "main");
    assert_ne!(
        p.chain_id(),
        ChainParams::dev().chain_id(),
        "main and dev must never share a chain id"
    );
    // Total issuance stays below 2^53 so JSON clients that read numbers as doubles
    // see exact amounts.
    let forever = p.supply_at(u64::MAX / 2);
    assert!(forever.0 < (1u64 << 53), "supply {forever}");
    assert!(forever.0 > 40_000_000 * COIN);
    // The genesis block is decodable and its own id.
    let g = p.genesis_block();
    assert_eq!(g.header.height, 0);
    assert_eq!(g.id(), p.genesis_id());
}
