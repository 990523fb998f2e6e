//! Block import rate next to pure ed25519 verification, measured in one run.
//!
//! `cargo bench -p cairn-node --bench import` (options after `--`: number of blocks,
//! default 20). Blocks are full (1 MB, ~6 900 signed transfers) and move coins between
//! 1 000 accounts. Import = `Chain::submit_block` into a fresh RocksDB store: PoW,
//! header, body (signatures on rayon), state transition, one write batch per block.
//! Then the same blocks again into another fresh store whose verified-transfer cache
//! holds each block's transfers when it arrives (as when each had entered the node's
//! mempool first): their signatures are not verified again. Only the time inside
//! `submit_block` is counted (block clones and cache filling are left out).

use std::sync::Arc;
use std::time::Instant;

use cairn_core::keys::{VerifyItem, verify_batch};
use cairn_core::testkit::{LOAD_ACCOUNTS, easy_params, full_blocks};
use cairn_core::{Block, ChainParams, Transfer};
use cairn_node::chain::Chain;
use cairn_node::store::Store;

fn main() {
    let blocks_wanted: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(20);
    let params = easy_params();
    eprintln!("building {blocks_wanted} full blocks between {LOAD_ACCOUNTS} accounts...");
    let blocks = full_blocks(&params, blocks_wanted);
    let measured = &blocks[1..];
    let txs: usize = measured.iter().map(|b| b.txs.len() - 1).sum();

    // Pure signature verification of the same transfers, on rayon (every core).
    let transfers: Vec<(Transfer, Vec<u8>)> = measured
        .iter()
        .flat_map(|b| b.txs.iter().filter_map(|t| t.as_transfer().cloned()))
        .map(|t| {
            let m = t.signing_message(&params.network_id());
            (t, m)
        })
        .collect();
    let items: Vec<VerifyItem<'_>> = transfers
        .iter()
        .map(|(t, m)| VerifyItem {
            key: &t.sender,
            msg: m,
            sig: &t.signature,
        })
        .collect();
    let start = Instant::now();
    verify_batch(&items).expect("valid signatures");
    let verify_rate = items.len() as f64 / start.elapsed().as_secs_f64();

    // Import into a fresh store, then again with each block's transfers already
    // verified (recorded just before the block arrives, as the mempool would have on
    // admitting them; the cache holds about nine blocks' worth).
    let cold = import(&params, &blocks, |_, _| {});
    let warm = import(&params, &blocks, |chain, block| {
        let verified = chain.verified();
        for t in block.txs.iter().filter_map(|t| t.as_transfer()) {
            verified.insert(t.id());
        }
    });
    let import_rate = txs as f64 / cold;
    println!(
        "{{\"blocks\": {}, \"txs\": {}, \"threads\": {}, \"verify_txs_per_second\": {:.0}, \"import_txs_per_second\": {:.0}, \"import_blocks_per_second\": {:.2}, \"import_over_verify\": {:.3}, \"known_import_txs_per_second\": {:.0}, \"known_import_blocks_per_second\": {:.2}, \"known_over_cold\": {:.2}}}",
        measured.len(),
        txs,
        rayon::current_num_threads(),
        verify_rate,
        import_rate,
        measured.len() as f64 / cold,
        import_rate / verify_rate,
        txs as f64 / warm,
        measured.len() as f64 / warm,
        cold / warm,
    );
}

/// Seconds spent in `Chain::submit_block` importing `blocks[1..]` into a fresh store
/// (after the funding block; `before` runs ahead of each block, untimed).
fn import(params: &ChainParams, blocks: &[Block], before: impl Fn(&Chain, &Block)) -> f64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(Store::open(dir.path(), params).expect("store"));
    let (mut chain, _) = Chain::open(params.clone(), store).expect("chain");
    chain
        .submit_block(blocks[0].clone(), blocks[0].header.timestamp_ms)
        .expect("funding block imports");
    let mut secs = 0.0;
    for blk in &blocks[1..] {
        before(&chain, blk);
        let (blk, now_ms) = (blk.clone(), blk.header.timestamp_ms);
        let start = Instant::now();
        chain.submit_block(blk, now_ms).expect("block imports");
        secs += start.elapsed().as_secs_f64();
    }
    secs
}
