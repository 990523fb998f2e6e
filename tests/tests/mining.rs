//! Remote mining: two `cairn-miner` processes mine for one node, each in its own
//! nonce space, both get blocks accepted, and both survive a restart of the node.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};
use std::time::Duration;

use cairn_tests::{
    ChildGuard, NodeOptions, TestNode, binary, eventually, eventually_async, num, rpc, test_params,
};
use serde_json::json;

fn miner(url: &str, worker: &str, coinbase: cairn_core::Address) -> ChildGuard {
    ChildGuard(
        Command::new(binary("cairn-miner"))
            .args([
                "--rpc",
                url,
                "--worker",
                worker,
                "--threads",
                "1",
                "--report-every",
                "1",
                "--coinbase",
                &coinbase.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_miners_share_one_node_and_survive_its_restart() {
    let params = test_params();
    let mut node = TestNode::start(&params, NodeOptions::default()).await;
    let addr = node.rpc_addr;
    let url = format!("http://{addr}");
    // Fresh addresses: only mined coins can reach them.
    let a = cairn_core::SecretKey::from_seed(&[71; 32]).address();
    let b = cairn_core::SecretKey::from_seed(&[72; 32]).address();
    let _m1 = miner(&url, "rig-1", a);
    let _m2 = miner(&url, "rig-2", b);

    let mined_by = |node: &TestNode, who: cairn_core::Address| node.earned(&who) > 0;
    assert!(
        eventually(Duration::from_secs(30), || mined_by(&node, a)
            && mined_by(&node, b))
        .await,
        "both miners should have blocks accepted: height {}",
        node.tip().height
    );
    let info = rpc(addr, "mining_getInfo", json!([])).await.unwrap();
    let workers = info["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 2, "{info}");
    assert_ne!(
        workers[0]["extranonce"], workers[1]["extranonce"],
        "same nonce space"
    );
    for w in workers {
        assert!(num(&w["accepted"]) > 0, "{w}");
    }
    assert!(node.supply_is_conserved());

    // Restart the node on the same port: the miners reconnect and go on.
    let datadir = node.datadir().to_path_buf();
    node.stop().await;
    let node2 = TestNode::start(
        &params,
        NodeOptions {
            datadir: Some(datadir),
            rpc_listen: Some(addr),
            ..NodeOptions::default()
        },
    )
    .await;
    let (ba, bb) = (node2.earned(&a), node2.earned(&b));
    assert!(
        eventually(Duration::from_secs(60), || node2.earned(&a) > ba
            && node2.earned(&b) > bb)
        .await,
        "the miners did not come back after the restart"
    );
    assert!(node2.supply_is_conserved());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_submissions_cannot_spoil_a_workers_real_solution() {
    let params = test_params();
    let node = TestNode::start(&params, NodeOptions::default()).await;
    let addr = node.rpc_addr;
    let coinbase = cairn_core::SecretKey::from_seed(&[73; 32])
        .address()
        .to_string();
    let work = rpc(
        addr,
        "mining_getWork",
        json!({"coinbase": coinbase, "worker": "honest"}),
    )
    .await
    .unwrap();
    let id = num(&work["workId"]);
    let pre: cairn_core::Hash = work["preHash"].as_str().unwrap().parse().unwrap();
    let bits = u32::from_str_radix(
        work["target"].as_str().unwrap().trim_start_matches("0x"),
        16,
    )
    .unwrap();
    let target = cairn_core::CompactTarget(bits).to_target().unwrap();
    let start: u64 = work["nonceStart"].as_str().unwrap().parse().unwrap();
    let (good, bad): (Vec<u64>, Vec<u64>) = (start..start + 100_000)
        .partition(|n| target.is_met_by(&cairn_core::pow::pow_hash(&pre, *n)));
    // Someone else spends the work id: refused as stale, and nothing is remembered.
    let e = rpc(
        addr,
        "mining_submitWork",
        json!([id, good[0].to_string(), "thief"]),
    )
    .await
    .unwrap_err();
    assert_eq!(e["data"]["reason"], "stale");
    // Many junk nonces from the worker itself: low difficulty, nothing remembered.
    for n in bad.iter().take(100) {
        let e = rpc(
            addr,
            "mining_submitWork",
            json!([id, n.to_string(), "honest"]),
        )
        .await
        .unwrap_err();
        assert_eq!(e["data"]["reason"], "low-difficulty");
    }
    let ok = rpc(
        addr,
        "mining_submitWork",
        json!([id, good[0].to_string(), "honest"]),
    )
    .await
    .unwrap();
    assert_eq!(ok["accepted"], true);
    assert_eq!(node.tip().height, 1);
    // The same nonce again (the tip has moved on, so stale or duplicate).
    let e = rpc(
        addr,
        "mining_submitWork",
        json!([id, good[0].to_string(), "honest"]),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(e["data"]["reason"].as_str(), Some("duplicate" | "stale")),
        "{e}"
    );
}

/// A mining node says what its miner runs on, and how the kernel compares with
/// blake3's own rate, from a self-test in the background after start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_built_in_miner_reports_its_kernel_and_self_test() {
    let dir = tempfile::tempdir().unwrap();
    let rpc_addr: std::net::SocketAddr = format!("127.0.0.1:{}", cairn_tests::free_port())
        .parse()
        .unwrap();
    let args = [
        "--dev".to_string(),
        "--datadir".into(),
        dir.path().display().to_string(),
        "--offline".into(),
        "--rpc-listen".into(),
        rpc_addr.to_string(),
        "--mine-threads".into(),
        "1".into(),
    ];
    let _node = cairn_tests::NodeProcess::spawn(&args);
    let last = std::sync::Arc::new(std::sync::Mutex::new(serde_json::Value::Null));
    let reported = eventually_async(Duration::from_secs(30), || {
        let last = last.clone();
        async move {
            let Ok(info) = cairn_tests::try_rpc(rpc_addr, "mining_getInfo", json!([])).await else {
                return false;
            };
            let local = info["localMiner"].clone();
            let done = local["selfTest"].is_object();
            *last.lock().unwrap() = local;
            done
        }
    })
    .await;
    let seen = last.lock().unwrap().clone();
    assert!(reported, "no self-test reported: {seen}");
    assert_eq!(seen["threads"], 1, "{seen}");
    assert!(
        ["avx512", "avx2", "sse41", "portable"].contains(&seen["backend"].as_str().unwrap_or("")),
        "{seen}"
    );
    let ratio = seen["selfTest"]["ratio"].as_f64().unwrap();
    assert!(ratio > 0.0 && ratio.is_finite(), "{seen}");
}
