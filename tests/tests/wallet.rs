//! `cairn-wallet` end to end against a real node: a new wallet receives coins from a
//! pre-funded dev account (itself a restored wallet), sends some on, and balances and
//! nonces agree on both sides after confirmation.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Output};
use std::time::Duration;

use cairn_core::genesis::{DEV_MNEMONIC, dev_keys};
use cairn_core::{Amount, COIN};
use cairn_tests::{NodeOptions, TestNode, binary, keep_mining, num, rpc, test_params};
use serde_json::{Value, json};

fn wallet(dir: &std::path::Path, url: &str, args: &[&str]) -> Output {
    Command::new(binary("cairn-wallet"))
        .args([
            "--wallet-dir",
            dir.to_str().unwrap(),
            "--rpc",
            url,
            "--json",
        ])
        .args(args)
        .env("CAIRN_WALLET_PASSWORD", "a long password")
        .output()
        .unwrap()
}

fn ok_json(o: &Output) -> Value {
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

async fn account(node: &TestNode, address: &str) -> (u64, u64) {
    let a = rpc(node.rpc_addr, "state_getAccount", json!([address]))
        .await
        .unwrap();
    (
        a["balance"].as_str().unwrap().parse().unwrap(),
        num(&a["nonce"]),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_wallet_receives_and_sends_coins() {
    let params = test_params();
    let node = TestNode::start(&params, NodeOptions::default()).await;
    let url = format!("http://{}", node.rpc_addr);
    let miner = keep_mining(node.node().clone(), Duration::from_millis(300));
    let dirs = tempfile::tempdir().unwrap();
    let (dev_dir, new_dir) = (dirs.path().join("dev"), dirs.path().join("new"));

    let phrase = dirs.path().join("phrase");
    std::fs::write(&phrase, DEV_MNEMONIC).unwrap();
    let dev = ok_json(&tokio::task::block_in_place(|| {
        wallet(
            &dev_dir,
            &url,
            &["restore", "--mnemonic-file", phrase.to_str().unwrap()],
        )
    }));
    let dev_addr = dev["address"].as_str().unwrap().to_string();
    assert_eq!(dev_addr, dev_keys()[0].address().to_string());
    let fresh = ok_json(&tokio::task::block_in_place(|| {
        wallet(&new_dir, &url, &["new"])
    }));
    let fresh_addr = fresh["address"].as_str().unwrap().to_string();

    let (dev_before, _) = account(&node, &dev_addr).await;
    // Dev account → new wallet: 100 coins, fee 0.0001, wait for one confirmation.
    let sent = ok_json(&tokio::task::block_in_place(|| {
        wallet(
            &dev_dir,
            &url,
            &[
                "send",
                "--to",
                &fresh_addr,
                "--amount",
                "100",
                "--fee",
                "0.0001",
                "--wait",
                "1",
            ],
        )
    }));
    assert!(num(&sent["confirmations"]) >= 1);
    let (fresh_bal, fresh_nonce) = account(&node, &fresh_addr).await;
    assert_eq!((fresh_bal, fresh_nonce), (100 * COIN, 0));
    let (dev_after, dev_nonce) = account(&node, &dev_addr).await;
    assert_eq!(dev_after, dev_before - 100 * COIN - 10_000);
    assert_eq!(dev_nonce, 1);

    // New wallet → dev account 5: 10 coins with the estimated fee.
    let target = dev_keys()[5].address().to_string();
    let (target_before, _) = account(&node, &target).await;
    let sent = ok_json(&tokio::task::block_in_place(|| {
        wallet(
            &new_dir,
            &url,
            &["send", "--to", &target, "--amount", "10", "--wait", "2"],
        )
    }));
    let fee: u64 = sent["fee"].as_str().unwrap().parse().unwrap();
    assert!(num(&sent["confirmations"]) >= 2);
    assert_eq!(sent["nonce"], "0", "{sent}");
    assert_eq!(account(&node, &fresh_addr).await, (90 * COIN - fee, 1));
    assert_eq!(account(&node, &target).await.0, target_before + 10 * COIN);

    // What the wallet reports agrees.
    let bal = ok_json(&tokio::task::block_in_place(|| {
        wallet(&new_dir, &url, &["balance"])
    }));
    assert_eq!(bal["balance"], (90 * COIN - fee).to_string());
    assert_eq!(bal["nonce"], "1", "{bal}");
    // With the password (from the environment) the address was checked against the
    // keys; without one it is shown, marked unverified.
    assert_eq!(bal["verified"], true);
    let unverified = ok_json(&tokio::task::block_in_place(|| {
        Command::new(binary("cairn-wallet"))
            .args(["--wallet-dir", new_dir.to_str().unwrap(), "--rpc", &url])
            .args(["--json", "balance"])
            .env_remove("CAIRN_WALLET_PASSWORD")
            .output()
            .unwrap()
    }));
    assert_eq!(unverified["verified"], false);
    assert_eq!(unverified["balance"], bal["balance"]);
    let history = ok_json(&tokio::task::block_in_place(|| {
        wallet(&new_dir, &url, &["history"])
    }));
    // Newest first, each transaction nested under `tx`.
    let entries = history.as_array().unwrap();
    assert_eq!(entries.len(), 2, "{history}");
    assert_eq!(entries[0]["tx"]["id"], sent["txid"], "{history}");
    assert_eq!(entries[0]["tx"]["nonce"], "0", "{history}");
    assert!(num(&entries[0]["confirmations"]) >= 2, "{history}");
    assert_eq!(entries[1]["tx"]["to"], fresh_addr.as_str(), "{history}");
    let txid = sent["txid"].as_str().unwrap();
    let tx = ok_json(&tokio::task::block_in_place(|| {
        wallet(&new_dir, &url, &["tx", txid])
    }));
    assert_eq!(tx["status"], "confirmed", "{tx}");
    assert_eq!(tx["tx"]["id"], txid, "{tx}");
    assert_eq!(tx["tx"]["fee"], sent["fee"], "{tx}");
    assert!(num(&tx["confirmations"]) >= 2, "{tx}");

    // Spending more than there is fails before anything is sent.
    let o = tokio::task::block_in_place(|| {
        wallet(
            &new_dir,
            &url,
            &["send", "--to", &target, "--amount", "1000"],
        )
    });
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("insufficient funds"));
    assert_eq!(account(&node, &fresh_addr).await.1, 1);
    assert!(Amount(fee) >= Amount(1_000));
    miner.abort();
    assert!(node.supply_is_conserved());
}
