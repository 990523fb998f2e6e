//! Remote mining: two `cairn-miner` processes mine for one node, each in its own
//! nonce space, both get blocks accepted, and both survive a restart of the node.
#![allow(clippy::unwrap_used)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use cairn_tests::{NodeOptions, TestNode, binary, eventually, rpc, test_params};
use serde_json::json;

struct Miner(Child);

impl Drop for Miner {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn miner(url: &str, worker: &str, coinbase: cairn_core::Address) -> Miner {
    Miner(
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

    let mined_by = |node: &TestNode, who: cairn_core::Address| node.balance(&who) > 0;
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
        assert!(w["accepted"].as_u64().unwrap() > 0, "{w}");
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
    let (ba, bb) = (node2.balance(&a), node2.balance(&b));
    assert!(
        eventually(Duration::from_secs(60), || node2.balance(&a) > ba
            && node2.balance(&b) > bb)
        .await,
        "the miners did not come back after the restart"
    );
    assert!(node2.supply_is_conserved());
}
