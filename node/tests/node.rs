//! The node's wiring: blocks through the single entry point, the mempool following
//! the tip (including after a reorganisation), persistence across restarts.

#![allow(clippy::unwrap_used)]

use cairn_core::genesis::dev_keys;
use cairn_core::testkit::{ChainBuilder, easy_params, solve_naive};
use cairn_core::{Amount, ChainParams, RejectReason, SecretKey, SignatureError, Transfer};
use cairn_node::chain::SubmitOutcome;
use cairn_node::mempool::{MempoolConfig, MempoolError};
use cairn_node::network::Names;
use cairn_node::store::schema::Accounts;
use cairn_node::{BlockSource, Node, NodeConfig};

fn open(dir: &std::path::Path) -> std::sync::Arc<Node> {
    open_with(dir, easy_params())
}

fn open_with(dir: &std::path::Path, params: ChainParams) -> std::sync::Arc<Node> {
    Node::open(NodeConfig {
        params,
        datadir: dir.to_path_buf(),
        mempool: MempoolConfig::default(),
        min_free_disk: NodeConfig::DEFAULT_MIN_FREE_DISK,
        store: cairn_node::store::StoreConfig::default(),
    })
    .unwrap()
}

/// Every coin the node holds at its tip: balances plus immature rewards.
fn total_balance(node: &Node) -> u128 {
    let balances: u128 = node
        .reader()
        .iter::<Accounts>()
        .map(|r| r.unwrap().1.balance.0 as u128)
        .sum();
    let snapshot = node.reader().snapshot();
    let tip = snapshot.tip_header().unwrap().height;
    let immature: u128 = cairn_core::state::immature_heights(node.params(), tip)
        .map(|h| {
            let block = snapshot.block_at(h).unwrap().unwrap();
            let cb = block.txs[0].as_coinbase().unwrap();
            cb.total().unwrap().0 as u128
        })
        .sum();
    balances + immature
}

/// Dev account 0 pays bob 500 units (fee 5 000) with `nonce`, signed for `net`.
fn to_bob(net: cairn_core::NetworkId, nonce: u64) -> Transfer {
    let bob = SecretKey::from_seed(&[0xb0; 32]).address();
    Transfer::new_signed(
        &dev_keys()[0],
        net,
        1337,
        bob,
        Amount(500),
        Amount(5_000),
        nonce,
    )
}

fn mine_one(node: &Node) -> SubmitOutcome {
    let miner = SecretKey::from_seed(&[0x11; 32]).address();
    let mut block = node.block_template(miner);
    assert!(solve_naive(&mut block.header, 1 << 20));
    node.submit_block(block, BlockSource::Rpc).unwrap()
}

#[test]
fn transfers_of_a_losing_branch_return_to_the_mempool() {
    let dir = tempfile::tempdir().unwrap();
    let node = open(dir.path());
    let bob = SecretKey::from_seed(&[0xb0; 32]).address();
    let net = easy_params().network_id();
    let t1 = Transfer::new_signed(
        &dev_keys()[0],
        net,
        1337,
        bob,
        Amount(500),
        Amount(5_000),
        0,
    );
    let t2 = Transfer::new_signed(
        &dev_keys()[1],
        net,
        1337,
        bob,
        Amount(700),
        Amount(6_000),
        0,
    );
    node.submit_transfer(t1.clone()).unwrap();
    node.submit_transfer(t2.clone()).unwrap();
    assert!(matches!(mine_one(&node), SubmitOutcome::NewTip(_)));
    assert!(
        node.with_mempool(|m| m.is_empty()),
        "confirmed transfers leave the mempool"
    );
    assert_eq!(total_balance(&node), easy_params().supply_at(1).0 as u128);

    // A competing branch with more work and without those transfers.
    let mut other = ChainBuilder::new(easy_params());
    other.miner = SecretKey::from_seed(&[0x22; 32]).address();
    let b1 = other.extend(vec![], 1_000).clone();
    let b2 = other.extend(vec![], 1_000).clone();
    assert_eq!(
        node.submit_block(b1, BlockSource::Peer("test".into()))
            .unwrap(),
        SubmitOutcome::SideChain
    );
    let out = node
        .submit_block(b2.clone(), BlockSource::Peer("test".into()))
        .unwrap();
    assert!(
        matches!(out, SubmitOutcome::NewTip(ref c) if c.disconnected.len() == 1),
        "{out:?}"
    );
    assert_eq!(node.tip().id, b2.id());
    node.with_mempool(|m| {
        assert!(
            m.contains(&t1.id()) && m.contains(&t2.id()),
            "transfers came back"
        );
    });
    assert_eq!(total_balance(&node), easy_params().supply_at(2).0 as u128);
    // Mining again confirms them on the new branch.
    assert!(matches!(mine_one(&node), SubmitOutcome::NewTip(_)));
    assert!(node.with_mempool(|m| m.is_empty()));
}

#[test]
fn mempool_and_tip_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let bob = SecretKey::from_seed(&[0xb0; 32]).address();
    let net = easy_params().network_id();
    let t = Transfer::new_signed(&dev_keys()[3], net, 1337, bob, Amount(1), Amount(9_000), 0);
    let tip = {
        let node = open(dir.path());
        mine_one(&node);
        mine_one(&node);
        node.submit_transfer(t.clone()).unwrap();
        node.shutdown();
        node.tip()
    };
    let node = open(dir.path());
    assert_eq!(node.tip().id, tip.id);
    assert!(node.with_mempool(|m| m.contains(&t.id())));
}

/// Network B copies the test network's genesis.json, chain id included, and changes
/// one rule that is not in the genesis block: same chain id, same genesis id. A
/// transfer signed for the test network must not enter B's mempool, and the two
/// networks' peers must not speak to each other.
#[test]
fn a_transfer_signed_for_another_network_with_the_same_chain_id_is_refused() {
    let a = easy_params();
    let mut cfg = a.config().clone();
    cfg.max_future_drift_ms *= 2;
    let b = ChainParams::from_config(cfg).unwrap();
    assert_eq!(
        (b.chain_id(), b.genesis_id()),
        (a.chain_id(), a.genesis_id())
    );
    assert_ne!(a.network_id(), b.network_id());
    assert_ne!(Names::new(&a).sync, Names::new(&b).sync);
    assert_ne!(Names::new(&a).txs_topic, Names::new(&b).txs_topic);

    let dir = tempfile::tempdir().unwrap();
    let node = open_with(dir.path(), b.clone());
    let sign = |net| to_bob(net, 0);
    match node.submit_transfer(sign(a.network_id())) {
        Err(MempoolError::Invalid(RejectReason::BadSignature {
            index: 0,
            reason: SignatureError::Mismatch,
        })) => {}
        other => panic!("a transfer signed for another network: {other:?}"),
    }
    assert!(node.with_mempool(|m| m.is_empty()));
    // The same transfer signed for B is welcome.
    node.submit_transfer(sign(b.network_id())).unwrap();
}

#[test]
fn admitted_transfers_are_not_verified_again_in_their_block() {
    let dir = tempfile::tempdir().unwrap();
    let node = open(dir.path());
    let transfer = |nonce| to_bob(easy_params().network_id(), nonce);
    let id = node.submit_transfer(transfer(0)).unwrap();
    // Admission recorded the verified signature...
    assert_eq!(node.verified().len(), 1);
    // ...and the block that confirms it used the record up.
    assert!(matches!(mine_one(&node), SubmitOutcome::NewTip(_)));
    assert!(node.verified().is_empty());
    assert!(node.with_mempool(|m| !m.contains(&id)));
    // A restart records what the saved mempool holds.
    node.submit_transfer(transfer(1)).unwrap();
    node.shutdown();
    drop(node);
    let node = open(dir.path());
    assert_eq!(node.verified().len(), 1);
}
