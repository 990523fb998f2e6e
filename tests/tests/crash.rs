//! Crash safety with a real process: `cairn-node --dev` is killed with SIGKILL at
//! random moments while it mines and takes transfers, and restarted. Every time, the
//! store must open, the tip must be the end of a valid chain, and the account state
//! must equal a replay of that chain from genesis.
//!
//! `CAIRN_CRASH_ITERATIONS` sets the number of kills (default 20).

#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};
use std::time::Duration;

use cairn_core::ChainParams;
use cairn_tests::{Rng, env_u64, node_binary, replay_check};

#[test]
fn sigkill_at_random_moments_never_corrupts_the_store() {
    let iterations = env_u64("CAIRN_CRASH_ITERATIONS", 20);
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng::from_time();
    eprintln!("crash test seed {}", rng.0);
    let mut heights = Vec::new();
    for _ in 0..iterations {
        let mut child = Command::new(node_binary())
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
        std::thread::sleep(Duration::from_millis(300 + rng.next_u64() % 1200));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let r = replay_check(dir.path(), &ChainParams::dev());
        heights.push((r.height, r.transfers));
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
