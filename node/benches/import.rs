//! Block import rate next to pure ed25519 verification, measured in one run.
//!
//! `cargo bench -p cairn-node --bench import` (options after `--`: number of blocks,
//! default 20). Blocks are full (1 MB, ~6 900 signed transfers) and move coins between
//! 1 000 accounts. Import = `Chain::submit_block` into a fresh RocksDB store: PoW,
//! header, body (signatures on rayon), state transition, one write batch per block.

use std::sync::Arc;
use std::time::Instant;

use cairn_core::Transfer;
use cairn_core::keys::{VerifyItem, verify_batch};
use cairn_core::testkit::{LOAD_ACCOUNTS, easy_params, full_blocks};
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

    // Import into a fresh store.
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(Store::open(dir.path(), &params).expect("store"));
    let (mut chain, _) = Chain::open(params, store).expect("chain");
    chain
        .submit_block(blocks[0].clone(), blocks[0].header.timestamp_ms)
        .expect("funding block imports");
    let start = Instant::now();
    for blk in measured {
        chain
            .submit_block(blk.clone(), blk.header.timestamp_ms)
            .expect("block imports");
    }
    let secs = start.elapsed().as_secs_f64();
    let import_rate = txs as f64 / secs;
    println!(
        "{{\"blocks\": {}, \"txs\": {}, \"threads\": {}, \"verify_txs_per_second\": {:.0}, \"import_txs_per_second\": {:.0}, \"import_blocks_per_second\": {:.2}, \"import_over_verify\": {:.3}}}",
        measured.len(),
        txs,
        rayon::current_num_threads(),
        verify_rate,
        import_rate,
        measured.len() as f64 / secs,
        import_rate / verify_rate
    );
}
