//! Remote work (`mining_getWork` / `mining_submitWork`) stays valid until the tip
//! moves, whoever else asks the node for work in the meantime.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;

use cairn_core::{Address, CompactTarget, Hash, SecretKey};
use cairn_tests::{NodeOptions, RPC_TOKEN, TestNode, http_post, num, rpc, test_params};
use serde_json::{Value, json};

async fn get_work(addr: SocketAddr, coinbase: &str, worker: &str) -> Value {
    rpc(
        addr,
        "mining_getWork",
        json!({"coinbase": coinbase, "worker": worker}),
    )
    .await
    .unwrap()
}

/// A nonce in the work's own range that meets its target, found the way a naive
/// miner would (the test network needs ~256 hashes a block).
fn solve(work: &Value) -> u64 {
    let pre: Hash = work["preHash"].as_str().unwrap().parse().unwrap();
    let bits = u32::from_str_radix(
        work["target"].as_str().unwrap().trim_start_matches("0x"),
        16,
    )
    .unwrap();
    let target = CompactTarget(bits).to_target().unwrap();
    let start: u64 = work["nonceStart"].as_str().unwrap().parse().unwrap();
    (start..start + 1_000_000)
        .find(|n| target.is_met_by(&cairn_core::pow::pow_hash(&pre, *n)))
        .expect("a nonce within a million tries")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_clients_requests_cannot_make_a_miners_work_stale() {
    let node = TestNode::start(&test_params(), NodeOptions::default()).await;
    let addr = node.rpc_addr;
    let a = SecretKey::from_seed(&[81; 32]).address().to_string();
    let b = SecretKey::from_seed(&[82; 32]).address().to_string();

    // Worker A gets work and finds a block for it.
    let work = get_work(addr, &a, "rig-a").await;
    let id = num(&work["workId"]);
    let extranonce = work["extranonce"].clone();
    let nonce = solve(&work);

    // Client B reads A's name from mining_getInfo and asks for work under it, more
    // often than any per-worker window would keep...
    let info = rpc(addr, "mining_getInfo", json!([])).await.unwrap();
    assert_eq!(info["workers"][0]["name"], "rig-a", "{info}");
    for _ in 0..8 {
        get_work(addr, &b, "rig-a").await;
    }
    // ...then under 4 096 new names, each with a coinbase of its own (batches of
    // 100, the RPC's batch limit).
    const FAKES: usize = 4_096;
    for first in (0..FAKES).step_by(100) {
        let batch: Vec<Value> = (first..(first + 100).min(FAKES))
            .map(|i| {
                let mut bytes = [0u8; 20];
                bytes[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
                json!({"jsonrpc": "2.0", "id": i, "method": "mining_getWork",
                    "params": {"coinbase": Address(bytes).to_string(), "worker": format!("fake-{i}")}})
            })
            .collect();
        let (status, reply) = http_post(
            addr,
            serde_json::to_vec(&batch).unwrap().as_slice(),
            Some(RPC_TOKEN),
        )
        .await;
        assert_eq!(status, 200);
        let reply = reply.unwrap();
        for r in reply.as_array().unwrap() {
            assert!(r.get("result").is_some(), "flood request refused: {r}");
        }
    }

    // A's block is still accepted.
    let ok = rpc(
        addr,
        "mining_submitWork",
        json!([id, nonce.to_string(), "rig-a"]),
    )
    .await;
    assert_eq!(
        ok.as_ref().map(|v| v["accepted"].clone()),
        Ok(json!(true)),
        "A's solution for work on the current tip was refused: {ok:?}"
    );
    assert_eq!(node.tip().height, 1);

    // A kept its name's extranonce and its statistics; the table of names stayed
    // bounded.
    let info = rpc(addr, "mining_getInfo", json!([])).await.unwrap();
    let workers = info["workers"].as_array().unwrap();
    assert!(workers.len() <= FAKES, "{} workers listed", workers.len());
    let rig_a = workers
        .iter()
        .find(|w| w["name"] == "rig-a")
        .expect("rig-a still listed");
    assert_eq!(rig_a["extranonce"], extranonce, "{rig_a}");
    assert_eq!(rig_a["accepted"], "1", "{rig_a}");
}
