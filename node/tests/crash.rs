//! Crash safety with a real process: `cairn-node --dev` is killed with SIGKILL at
//! random moments while it mines and takes transfers, and restarted. Every time, the
//! store must open, the tip must be the end of a valid chain, and the account state
//! must equal a replay of that chain from genesis.
//!
//! `CAIRN_CRASH_ITERATIONS` sets the number of kills (default 20).

#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cairn_core::ChainParams;
use cairn_core::state::MemoryState;
use cairn_core::validation::validate_body;
use cairn_node::chain::Chain;
use cairn_node::store::Store;
use cairn_node::store::schema::Accounts;

/// Replays the main chain from genesis and compares with the stored accounts.
fn check_store(dir: &std::path::Path) -> (u64, usize) {
    let params = ChainParams::dev();
    let store =
        Arc::new(Store::open(&dir.join("db"), &params).expect("the store reopens after SIGKILL"));
    let (chain, _) = Chain::open(params.clone(), store.clone()).expect("the chain loads");
    let tip = chain.tip();
    let mut state = MemoryState::genesis(&params);
    let mut prev = params.genesis_id();
    let mut transfers = 0;
    for h in 1..=tip.height {
        let id = chain.block_id_at(h).unwrap();
        let block = chain.block(&id).unwrap().unwrap();
        assert_eq!(
            block.header.prev, prev,
            "height {h} does not link to its parent"
        );
        assert_eq!(block.header.height, h);
        validate_body(&block, &params).unwrap();
        state.apply(&block, &params).unwrap();
        transfers += block.txs.len() - 1;
        prev = id;
    }
    let stored: MemoryState = MemoryState {
        accounts: store.iter::<Accounts>().map(|r| r.unwrap()).collect(),
    };
    assert_eq!(
        stored, state,
        "stored state differs from a replay of the chain at height {}",
        tip.height
    );
    assert_eq!(
        state.total_balance(),
        params.supply_at(tip.height).0 as u128
    );
    (tip.height, transfers)
}

#[test]
fn sigkill_at_random_moments_never_corrupts_the_store() {
    let iterations: u32 = std::env::var("CAIRN_CRASH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let dir = tempfile::tempdir().unwrap();
    let mut seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("crash test seed {seed}");
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut heights = Vec::new();
    for _ in 0..iterations {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cairn-node"))
            .args([
                "--dev",
                "--mine-threads",
                "1",
                "--dev-tx-rate",
                "300",
                "--log-level",
                "warn",
            ])
            .arg("--datadir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(300 + next() % 1200));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        heights.push(check_store(dir.path()));
    }
    eprintln!("(tip height, confirmed transfers) after each kill: {heights:?}");
    assert!(
        heights.windows(2).all(|w| w[0].0 <= w[1].0),
        "a single miner's chain never shrinks"
    );
    let (height, transfers) = *heights.last().unwrap();
    assert!(height > 0, "the node mined");
    assert!(transfers > 0, "blocks carried transfers");
}
