//! Partitions and bad links on real network stacks: four `cairn-node --dev`
//! processes, each in its own network namespace, joined by veth pairs and a bridge
//! ([`Lab`]). Faults are nftables rules inside the namespaces; latency and jitter come
//! from delaying relays in the test ([`DelayProxy`]).
//!
//! The nodes do not mine by themselves: the test mines through `node_generate` on the
//! node it picks, so it knows which side of a partition has the most work when the
//! partition heals (a real PoW block each time, mined by the node).
//!
//! Needs root, iproute2 and nftables; without them each test prints why and skips
//! (set `CAIRN_REQUIRE_NETNS=1` to make that a failure). Long forms:
//! `CAIRN_PARTITION_CYCLES` (default 1) partition/heal cycles, `CAIRN_LOSSY_BLOCKS`
//! (default 12) blocks mined over lossy, slow links.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use cairn_core::ChainParams;
use cairn_core::genesis::dev_keys;
use cairn_tests::netlab::{DelayProxy, Lab};
use cairn_tests::{
    NodeProcess, RPC_TOKEN, Rng, env_u64, node_binary, replay_check, send_fixed_transfer, try_rpc,
};

const NODES: usize = 4;
const P2P_PORT: u16 = 8646;
const RPC_PORT: u16 = 8645;

/// The lab, or `None` after printing why the test is skipped.
fn lab_or_skip(test: &str) -> Option<Lab> {
    match Lab::new(NODES) {
        Ok(lab) => Some(lab),
        Err(why) => {
            assert!(
                std::env::var_os("CAIRN_REQUIRE_NETNS").is_none(),
                "{test}: {why}"
            );
            eprintln!("SKIPPED {test}: {why}");
            None
        }
    }
}

/// Fields drop in order: the processes first, then the lab they run in.
struct Net {
    nodes: Vec<Option<NodeProcess>>,
    lab: Lab,
    _dir: tempfile::TempDir,
    dirs: Vec<std::path::PathBuf>,
    /// A transfer counter per sender, so every transfer is distinct.
    submitted: Vec<String>,
}

impl Net {
    /// Starts a node in every host; node `i` dials `bootnodes(i)`.
    async fn start(lab: Lab, bootnodes: impl Fn(usize) -> Vec<String>) -> Net {
        let dir = tempfile::tempdir().unwrap();
        let mut net = Net {
            dirs: (0..NODES)
                .map(|i| dir.path().join(format!("n{i}")))
                .collect(),
            _dir: dir,
            nodes: Vec::new(),
            submitted: Vec::new(),
            lab,
        };
        for i in 0..NODES {
            let mut c = net.lab.command(i, &node_binary());
            c.args(["--dev", "--no-mine", "--rpc-token", RPC_TOKEN])
                .arg("--datadir")
                .arg(&net.dirs[i])
                .arg("--listen")
                .arg(format!("/ip4/{}/tcp/{P2P_PORT}", net.lab.ip(i)))
                .arg("--rpc-listen")
                .arg(net.rpc(i).to_string());
            for b in bootnodes(i) {
                c.arg("--bootnode").arg(b);
            }
            net.nodes.push(Some(NodeProcess::spawn_command(c)));
        }
        for i in 0..NODES {
            let up = cairn_tests::eventually_async(Duration::from_secs(20), || async {
                try_rpc(net.rpc(i), "chain_getInfo", serde_json::json!([]))
                    .await
                    .is_ok()
            })
            .await;
            assert!(up, "node {i} did not start");
        }
        net
    }

    fn rpc(&self, i: usize) -> SocketAddr {
        SocketAddr::from((self.lab.ip(i), RPC_PORT))
    }

    async fn call(&self, i: usize, method: &str, params: serde_json::Value) -> serde_json::Value {
        try_rpc(self.rpc(i), method, params)
            .await
            .unwrap_or_else(|e| panic!("node {i}: {method}: {e}"))
    }

    /// Mines one block on node `i`'s tip.
    async fn mine(&self, i: usize) {
        let coinbase = dev_keys()[9].address().to_string();
        self.call(i, "node_generate", serde_json::json!([1, coinbase]))
            .await;
    }

    /// Node `i`'s (tip, work).
    async fn tip(&self, i: usize) -> (String, String) {
        let info = self.call(i, "chain_getInfo", serde_json::json!([])).await;
        (
            info["tip"].as_str().unwrap().to_string(),
            info["work"].as_str().unwrap().to_string(),
        )
    }

    async fn peers(&self) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        for i in 0..NODES {
            out.push(self.call(i, "net_getPeers", serde_json::json!([])).await);
        }
        out
    }

    async fn tips(&self) -> Vec<String> {
        let mut out = Vec::new();
        for i in 0..NODES {
            out.push(self.tip(i).await.0);
        }
        out
    }

    /// Waits until every node has the same tip; returns how long that took.
    async fn converge(&self, bound: Duration) -> Duration {
        let start = Instant::now();
        loop {
            let t = self.tips().await;
            if t.iter().all(|x| *x == t[0]) {
                return start.elapsed();
            }
            if start.elapsed() > bound {
                self.explain();
                for (i, p) in self.peers().await.iter().enumerate() {
                    eprintln!("node {i} peers: {p}");
                }
                panic!("no convergence within {bound:?}: {t:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Prints what each node knows of its peers, and its warnings and bans.
    fn explain(&self) {
        for (i, n) in self.nodes.iter().enumerate() {
            let Some(n) = n else { continue };
            for line in n.drain() {
                if line.contains("WARN") || line.contains("ban") || line.contains("ERROR") {
                    eprintln!("node {i}: {line}");
                }
            }
        }
    }

    /// Sends dev account `s`'s next transfer to node `i`.
    async fn send(&mut self, i: usize, s: usize) -> String {
        let id = send_fixed_transfer(self.rpc(i), &ChainParams::dev(), s)
            .await
            .unwrap_or_else(|e| panic!("node {i}: {e}"));
        self.submitted.push(id.clone());
        id
    }

    /// "pending", "confirmed" or "unknown" (the node has never heard of it, or the
    /// block that held it was reorganised away): `tx_get` answers all three.
    async fn status(&self, i: usize, txid: &str) -> String {
        let v = self.call(i, "tx_get", serde_json::json!([txid])).await;
        v["status"]
            .as_str()
            .unwrap_or_else(|| panic!("node {i}: tx_get without a status: {v}"))
            .to_string()
    }

    /// Mines on every node in turn until every transfer sent is confirmed on every
    /// node; panics if one is lost.
    async fn confirm_everything(&self) {
        for round in 0..2 * NODES {
            self.mine(round % NODES).await;
            self.converge(Duration::from_secs(60)).await;
            let mut missing = Vec::new();
            for id in &self.submitted {
                if self.status(0, id).await != "confirmed" {
                    missing.push(id.clone());
                }
            }
            if missing.is_empty() {
                return;
            }
            if round == 2 * NODES - 1 {
                panic!("transfers lost: {missing:?}");
            }
        }
    }

    /// Stops the nodes (SIGKILL) and checks every store against a replay of its chain;
    /// all must hold the same tip.
    fn stop_and_replay(mut self) -> u64 {
        for n in &mut self.nodes {
            if let Some(p) = n.take() {
                p.kill();
            }
        }
        let params = ChainParams::dev();
        let replayed: Vec<_> = self
            .dirs
            .iter()
            .map(|d| replay_check(Path::new(d), &params))
            .collect();
        assert!(
            replayed.iter().all(|r| r.tip == replayed[0].tip),
            "{replayed:?}"
        );
        replayed[0].height
    }
}

fn direct_bootnodes(lab: &Lab) -> impl Fn(usize) -> Vec<String> + '_ {
    move |i| {
        (0..NODES)
            .filter(|&j| j != i)
            .map(|j| format!("/ip4/{}/tcp/{P2P_PORT}", lab.ip(j)))
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitioned_halves_mine_then_converge_on_the_most_work() {
    let Some(lab) = lab_or_skip("partition test") else {
        return;
    };
    let boots: Vec<Vec<String>> = (0..NODES).map(|i| direct_bootnodes(&lab)(i)).collect();
    let mut net = Net::start(lab, |i| boots[i].clone()).await;
    let cycles = env_u64("CAIRN_PARTITION_CYCLES", 1);
    let (a, b): ([usize; 2], [usize; 2]) = ([0, 1], [2, 3]);
    let mut converge_times = Vec::new();
    net.mine(0).await;
    net.converge(Duration::from_secs(30)).await;
    for cycle in 0..cycles {
        net.lab.partition(&a);
        // Both halves mine and take transfers; the side mining more blocks changes
        // every cycle (the difficulty moves, so the work decides, not the count).
        let (more, fewer) = if cycle % 2 == 0 { (a, b) } else { (b, a) };
        let mut side_txs: [Vec<String>; 2] = [Vec::new(), Vec::new()];
        for k in 0..5 {
            for (s, side) in [more, fewer].iter().enumerate() {
                if s == 1 && k >= 3 {
                    continue;
                }
                let node = side[k % 2];
                // Sender per side: dev account 1 for `a`, 2 for `b`.
                let sender = if side == &a { 1 } else { 2 };
                side_txs[s].push(net.send(node, sender).await);
                net.mine(node).await;
            }
        }
        // Each side agrees within itself, and the two sides differ.
        let t = net.tips().await;
        assert_ne!(t[a[0]], t[b[0]], "the partition did not split the chain");
        let deadline = Instant::now() + Duration::from_secs(20);
        while {
            let t = net.tips().await;
            t[a[0]] != t[a[1]] || t[b[0]] != t[b[1]]
        } {
            assert!(
                Instant::now() < deadline,
                "a half did not agree within itself"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let (tip_a, work_a) = net.tip(a[0]).await;
        let (tip_b, work_b) = net.tip(b[0]).await;
        // Works are fixed-width hex: string order is numeric order.
        let (winner, winner_tip, loser) = if work_a > work_b {
            (a, tip_a, b)
        } else {
            (b, tip_b, a)
        };
        let loser_txs: BTreeSet<String> = if loser == more {
            side_txs[0].iter().cloned().collect()
        } else {
            side_txs[1].iter().cloned().collect()
        };

        net.lab.heal();
        let took = net.converge(Duration::from_secs(60)).await;
        converge_times.push(took);
        assert_eq!(
            net.tip(loser[0]).await.0,
            winner_tip,
            "cycle {cycle}: converged on a chain other than the most-work one"
        );
        assert_eq!(net.tip(winner[0]).await.0, winner_tip);
        // The losing side's transfers are back in its mempools.
        for id in &loser_txs {
            for &n in &loser {
                let back = cairn_tests::eventually_async(Duration::from_secs(10), || async {
                    net.status(n, id).await == "pending"
                })
                .await;
                assert!(
                    back,
                    "cycle {cycle}: {id} is not back in node {n}'s mempool"
                );
            }
        }
        net.confirm_everything().await;
    }
    let height = net.stop_and_replay();
    eprintln!(
        "partition: {cycles} cycles, converged after {converge_times:?}, final height {height}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lossy_slow_links_do_not_split_the_chain() {
    let Some(lab) = lab_or_skip("lossy-link test") else {
        return;
    };
    // Every host reaches the others only through a relay in the test that delays each
    // chunk by 100 ± 50 ms, and loses 10% of the packets it receives.
    let mut proxies = Vec::new();
    for j in 0..NODES {
        proxies.push(
            DelayProxy::start(
                SocketAddr::from((lab.gateway(), 0)),
                SocketAddr::from((lab.ip(j), P2P_PORT)),
                Duration::from_millis(100),
                Duration::from_millis(50),
            )
            .await,
        );
    }
    lab.only_via_gateway();
    lab.lossy(10, RPC_PORT);
    let relays: Vec<SocketAddr> = proxies.iter().map(|p| p.addr).collect();
    let mut net = Net::start(lab, |i| {
        (0..NODES)
            .filter(|&j| j != i)
            .map(|j| format!("/ip4/{}/tcp/{}", relays[j].ip(), relays[j].port()))
            .collect()
    })
    .await;
    let blocks = env_u64("CAIRN_LOSSY_BLOCKS", 12);
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let start = Instant::now();
    for _ in 0..blocks {
        let i = rng.below(NODES);
        net.send(i, 1 + i).await;
        net.mine(i).await;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let mining = start.elapsed();
    // Blocks mined on different nodes within a link delay of each other compete; one
    // more block on top settles every tie.
    net.mine(0).await;
    let took = net.converge(Duration::from_secs(90)).await;
    net.confirm_everything().await;
    let sent = net.submitted.len();
    let height = net.stop_and_replay();
    eprintln!(
        "lossy: {blocks} blocks in {mining:?} over 10% loss and 100±50 ms relays, \
         converged {took:?} after the last, {sent} transfers all confirmed, final height {height}"
    );
}
