//! Crash churn: four `cairn-node --dev` processes mine and exchange transfers while a
//! random one is killed with SIGKILL every few seconds and restarted at once.
//!
//! Invariants checked at the end:
//! - every node reopens after every kill (it answers RPC within a bound);
//! - all four converge on one tip once the churn stops;
//! - no transfer that any node ever reported confirmed is lost: every one is on the
//!   final chain;
//! - each node's stored state equals a replay of its chain from genesis, and the
//!   supply equals the subsidy schedule ([`replay_check`]).
//!
//! Transfers are deterministic per (sender, nonce) (same recipient, amount and fee,
//! and ed25519 signatures are deterministic), so resubmitting after a crash can never
//! create a conflicting transfer: a "lost" transfer is a real loss, not a double spend.
//!
//! `CAIRN_CHURN_KILLS` sets the number of kills (default 6; the long form is 100) and
//! `CAIRN_CHURN_INTERVAL_MS` the time between kills (default 1500).

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use cairn_core::ChainParams;
use cairn_core::genesis::dev_keys;
use cairn_tests::{
    NodeProcess, RPC_TOKEN, Rng, env_u64, free_port, replay_check, rpc, send_fixed_transfer,
    try_rpc,
};

const NODES: usize = 4;
/// Dev account `SENDER0 + i` sends node `i`'s transfers.
const SENDER0: usize = 1;

struct Member {
    dir: PathBuf,
    p2p: u16,
    rpc: SocketAddr,
    process: Option<NodeProcess>,
    starts: u32,
}

impl Member {
    fn args(&self, all: &[(u16, SocketAddr)], mine: bool) -> Vec<String> {
        let mut args: Vec<String> = [
            "--dev",
            "--log-level",
            "info,net=warn",
            "--rpc-token",
            RPC_TOKEN,
            "--mine-threads",
            "1",
        ]
        .map(String::from)
        .to_vec();
        args.push("--datadir".into());
        args.push(self.dir.display().to_string());
        args.push("--listen".into());
        args.push(format!("/ip4/127.0.0.1/tcp/{}", self.p2p));
        args.push("--rpc-listen".into());
        args.push(self.rpc.to_string());
        for (port, _) in all.iter().filter(|(p, _)| *p != self.p2p) {
            args.push("--bootnode".into());
            args.push(format!("/ip4/127.0.0.1/tcp/{port}"));
        }
        args.push(if mine { "--mine" } else { "--no-mine" }.into());
        args
    }
}

/// Waits until the node at `addr` answers `chain_getInfo`.
async fn wait_rpc(addr: SocketAddr, timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if try_rpc(addr, "chain_getInfo", serde_json::json!([]))
            .await
            .is_ok()
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Whether node `m` reports `txid` confirmed.
async fn confirmed_on(m: &Member, txid: &str) -> bool {
    try_rpc(m.rpc, "tx_get", serde_json::json!([txid]))
        .await
        .is_ok_and(|v| v["status"] == "confirmed")
}

async fn tips(members: &[Member]) -> Vec<Option<(u64, String)>> {
    let mut out = Vec::new();
    for m in members {
        let info = try_rpc(m.rpc, "chain_getInfo", serde_json::json!([]))
            .await
            .ok();
        // Heights are decimal strings.
        out.push(info.and_then(|v| {
            Some((
                v["height"].as_str()?.parse().ok()?,
                v["tip"].as_str()?.to_string(),
            ))
        }));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_mining_nodes_survive_random_sigkills() {
    let kills = env_u64("CAIRN_CHURN_KILLS", 6);
    let interval = Duration::from_millis(env_u64("CAIRN_CHURN_INTERVAL_MS", 1_500));
    let params = ChainParams::dev();
    let mut rng = Rng::from_time();
    eprintln!("churn seed {}: {kills} kills every {interval:?}", rng.0);

    let root = tempfile::tempdir().unwrap();
    let mut members: Vec<Member> = (0..NODES)
        .map(|i| Member {
            dir: root.path().join(format!("node{i}")),
            p2p: free_port(),
            rpc: SocketAddr::from(([127, 0, 0, 1], free_port())),
            process: None,
            starts: 0,
        })
        .collect();
    let addrs: Vec<(u16, SocketAddr)> = members.iter().map(|m| (m.p2p, m.rpc)).collect();
    for m in &mut members {
        m.process = Some(NodeProcess::spawn(&m.args(&addrs, true)));
        m.starts += 1;
    }
    for m in &members {
        assert!(
            wait_rpc(m.rpc, Duration::from_secs(20)).await,
            "a node did not start"
        );
    }

    // Churn: every round, each live node gets its sender's next transfer, and every
    // `interval` a random node is killed and restarted at once.
    let mut submitted: BTreeMap<String, usize> = BTreeMap::new();
    let mut seen_confirmed: BTreeSet<String> = BTreeSet::new();
    let mut reopen_worst = Duration::ZERO;
    let started = Instant::now();
    for k in 0..kills {
        let round_end = Instant::now() + interval;
        while Instant::now() < round_end {
            for (i, m) in members.iter().enumerate() {
                if let Ok(id) = send_fixed_transfer(m.rpc, &params, SENDER0 + i).await {
                    submitted.insert(id, i);
                }
            }
            // Record what some node reports confirmed.
            let pending: Vec<String> = submitted
                .keys()
                .filter(|id| !seen_confirmed.contains(*id))
                .cloned()
                .collect();
            let m = &members[rng.below(NODES)];
            for id in pending {
                if confirmed_on(m, &id).await {
                    seen_confirmed.insert(id);
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let victim = rng.below(NODES);
        let m = &mut members[victim];
        if let Some(p) = m.process.take() {
            p.kill(); // SIGKILL
        }
        let t = Instant::now();
        m.process = Some(NodeProcess::spawn(&m.args(&addrs, true)));
        m.starts += 1;
        assert!(
            wait_rpc(m.rpc, Duration::from_secs(30)).await,
            "node {victim} did not reopen after kill {k}"
        );
        reopen_worst = reopen_worst.max(t.elapsed());
    }
    let churn_time = started.elapsed();

    // Stop the churn: kill all four once more (a fault at a random moment for each),
    // restart them without mining, and let one node mine on top of whatever tips they
    // hold so that exactly one chain has the most work.
    for m in &mut members {
        if let Some(p) = m.process.take() {
            p.kill();
        }
        m.process = Some(NodeProcess::spawn(&m.args(&addrs, false)));
        m.starts += 1;
    }
    for (i, m) in members.iter().enumerate() {
        assert!(
            wait_rpc(m.rpc, Duration::from_secs(30)).await,
            "node {i} did not reopen"
        );
    }
    let converge_start = Instant::now();
    let coinbase = dev_keys()[9].address().to_string();
    // Each node in turn mines a block (including its mempool) until every transfer seen
    // confirmed is on the chain everyone agrees on.
    let mut converged_after = None;
    'rounds: for round in 0..12 {
        let miner = &members[round % NODES];
        rpc(miner.rpc, "node_generate", serde_json::json!([1, coinbase]))
            .await
            .expect("node_generate");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let t = tips(&members).await;
            if t.iter().all(|x| x.is_some() && *x == t[0]) {
                converged_after.get_or_insert(converge_start.elapsed());
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the nodes did not converge within 30 s: {t:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut missing = 0;
        for id in &seen_confirmed {
            if !confirmed_on(&members[0], id).await {
                missing += 1;
            }
        }
        if missing == 0 {
            break 'rounds;
        }
        eprintln!(
            "round {round}: {missing} transfers seen confirmed are not on the final chain yet"
        );
    }
    let mut lost = Vec::new();
    for id in &seen_confirmed {
        if !confirmed_on(&members[0], id).await {
            lost.push(id.clone());
        }
    }
    let final_tips = tips(&members).await;

    // Stop every node (SIGKILL once more) and check each store from scratch.
    for m in &mut members {
        if let Some(p) = m.process.take() {
            p.kill();
        }
    }
    let replayed: Vec<_> = members
        .iter()
        .map(|m| replay_check(&m.dir, &params))
        .collect();
    let starts: Vec<u32> = members.iter().map(|m| m.starts).collect();
    eprintln!(
        "churn: {kills} kills in {churn_time:?} (+{NODES} at the end), starts per node {starts:?}, \
         worst reopen {reopen_worst:?}, transfers submitted {} / seen confirmed {}, lost {}, \
         converged {converged_after:?} after the churn stopped, final height {}, transfers on chain {}",
        submitted.len(),
        seen_confirmed.len(),
        lost.len(),
        replayed[0].height,
        replayed[0].transfers,
    );
    assert!(lost.is_empty(), "confirmed transfers lost: {lost:?}");
    assert!(
        replayed.iter().all(|r| r.tip == replayed[0].tip),
        "the stores disagree on the tip: {replayed:?} (RPC said {final_tips:?})"
    );
    assert!(!seen_confirmed.is_empty(), "no transfer was ever confirmed");
    assert!(replayed[0].height >= 3, "the nodes hardly mined");
}
