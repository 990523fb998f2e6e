//! Chain manager: connect/disconnect round trips, reorganisations, invalid branches,
//! orphans, restarts and store identity checks, on a real RocksDB in a temp dir.

use std::sync::Arc;

use cairn_core::encoding::Encode;
use cairn_core::testkit::{ChainBuilder, easy_params};
use cairn_core::{Amount, ChainParams, SecretKey};

use super::*;
use crate::store::schema::Accounts;

fn open(dir: &std::path::Path, params: &ChainParams) -> Chain {
    let store = Arc::new(Store::open(dir, params).unwrap());
    Chain::open(params.clone(), store).unwrap().0
}

fn accounts_bytes(chain: &Chain) -> Vec<(Vec<u8>, Vec<u8>)> {
    chain
        .reader()
        .iter::<Accounts>()
        .map(|r| r.map(|(a, acc)| (a.0.to_vec(), acc.to_bytes())).unwrap())
        .collect()
}

/// The accounts of an independent in-memory replay, in the store's byte form.
fn replay_bytes(b: &ChainBuilder) -> Vec<(Vec<u8>, Vec<u8>)> {
    b.state
        .accounts
        .iter()
        .map(|(a, acc)| (a.0.to_vec(), acc.to_bytes()))
        .collect()
}

/// Every coin the store holds at the tip: balances plus immature rewards.
fn total_balance(chain: &Chain) -> u128 {
    let balances: u128 = chain
        .reader()
        .iter::<Accounts>()
        .map(|r| r.unwrap().1.balance.0 as u128)
        .sum();
    let reader = chain.reader();
    let snapshot = reader.snapshot();
    let tip = chain.tip().height;
    let immature: u128 = cairn_core::state::immature_heights(&chain.params, tip)
        .map(|h| {
            let id = snapshot.block_id_at(h).unwrap().unwrap();
            let cb = snapshot
                .get::<crate::store::schema::Rewards>(&id)
                .unwrap()
                .unwrap();
            cb.total().unwrap().0 as u128
        })
        .sum();
    balances + immature
}

fn bob() -> cairn_core::Address {
    SecretKey::from_seed(&[0xb0; 32]).address()
}

/// A builder's chain with a few transfers in every block.
fn extend(b: &mut ChainBuilder, n: usize, dt: u64) -> Vec<Block> {
    (0..n)
        .map(|i| {
            let txs = vec![
                b.transfer(i % 3, bob(), 1_000 + i as u64, 10),
                b.transfer(3, bob(), 7, 11),
            ];
            b.extend(txs, dt).clone()
        })
        .collect()
}

/// Two branches on `common` shared blocks: A (`a_len` blocks, the builder's miner)
/// and B (`b_len` blocks, mined by `seed`'s key); the builders and the blocks.
#[allow(clippy::type_complexity)]
fn fork(
    params: &ChainParams,
    common: usize,
    (a_len, b_len): (usize, usize),
    seed: u8,
) -> (ChainBuilder, ChainBuilder, [Vec<Block>; 3]) {
    let mut a = ChainBuilder::new(params.clone());
    let common = extend(&mut a, common, 1_000);
    let mut b = a.clone();
    b.miner = SecretKey::from_seed(&[seed; 32]).address();
    let branch_a = extend(&mut a, a_len, 1_000);
    let branch_b = extend(&mut b, b_len, 1_000);
    (a, b, [common, branch_a, branch_b])
}

/// The heights of a locator's entries, each a stored block, checked to fall from
/// the first to the last.
pub(super) fn locator_heights(chain: &Chain, loc: &[BlockId]) -> Vec<u64> {
    let heights: Vec<u64> = loc
        .iter()
        .map(|id| match chain.known(id) {
            Known::Stored { height, .. } => height,
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(heights.windows(2).all(|w| w[0] > w[1]), "{heights:?}");
    heights
}

fn submit_all(chain: &mut Chain, blocks: &[Block]) -> Vec<SubmitOutcome> {
    blocks
        .iter()
        .map(|b| {
            chain
                .submit_block(b.clone(), b.header.timestamp_ms)
                .unwrap()
        })
        .collect()
}

#[test]
fn connect_then_disconnect_restores_state_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let params = easy_params();
    let mut chain = open(dir.path(), &params);
    let genesis_state = accounts_bytes(&chain);
    let mut b = ChainBuilder::new(params.clone());
    let blocks = extend(&mut b, 25, 1_000);
    submit_all(&mut chain, &blocks);
    assert_eq!(chain.tip().id, b.tip().id());
    assert_eq!(total_balance(&chain), params.supply_at(25).0 as u128);
    assert_ne!(accounts_bytes(&chain), genesis_state);
    for _ in 0..25 {
        chain.disconnect_tip().unwrap();
    }
    assert_eq!(chain.tip().id, params.genesis_id());
    assert_eq!(accounts_bytes(&chain), genesis_state);
    assert_eq!(
        chain.reader().iter::<crate::store::schema::Undo>().count(),
        0
    );
    assert_eq!(
        chain
            .reader()
            .iter::<crate::store::schema::Rewards>()
            .count(),
        0
    );
    assert_eq!(
        chain
            .reader()
            .iter::<crate::store::schema::Heights>()
            .count(),
        1
    );
}

fn reorg(depth: usize) {
    let dir = tempfile::tempdir().unwrap();
    let params = easy_params();
    let mut chain = open(dir.path(), &params);
    let mut a = ChainBuilder::new(params.clone());
    let common = extend(&mut a, 3, 1_000);
    submit_all(&mut chain, &common);
    let mut b = a.clone();
    b.miner = SecretKey::from_seed(&[0x42; 32]).address(); // different blocks
    let branch_a = extend(&mut a, depth, 1_000);
    submit_all(&mut chain, &branch_a);
    assert_eq!(chain.tip().id, a.tip().id());
    let state_a = accounts_bytes(&chain);

    let branch_b = extend(&mut b, depth + 1, 1_000);
    let outcomes = submit_all(&mut chain, &branch_b);
    for o in &outcomes[..depth] {
        assert!(matches!(o, SubmitOutcome::SideChain), "{o:?}");
    }
    let SubmitOutcome::NewTip(change) = outcomes.last().unwrap() else {
        panic!("{outcomes:?}")
    };
    assert_eq!(change.disconnected.len(), depth);
    assert_eq!(change.connected.len(), depth + 1);
    assert_eq!(change.disconnected[0].id(), branch_a.last().unwrap().id());
    assert_eq!(chain.tip().id, b.tip().id());
    assert_eq!(
        total_balance(&chain),
        params.supply_at(chain.tip().height).0 as u128
    );
    // The store agrees with an independent replay of branch B.
    assert_eq!(accounts_bytes(&chain), replay_bytes(&b));
    assert_ne!(accounts_bytes(&chain), state_a);
    for h in 0..=chain.tip().height {
        assert_eq!(
            chain.block_id_at(h).unwrap(),
            Some(b.blocks[usize::try_from(h).unwrap()].id())
        );
    }
}

#[test]
fn reorg_depth_1() {
    reorg(1);
}

#[test]
fn reorg_depth_10() {
    reorg(10);
}

#[test]
fn reorg_depth_100() {
    reorg(100);
}

#[test]
fn an_invalid_heavier_branch_is_rejected_and_the_tip_stays() {
    let dir = tempfile::tempdir().unwrap();
    let params = easy_params();
    let mut chain = open(dir.path(), &params);
    let mut a = ChainBuilder::new(params.clone());
    submit_all(&mut chain, &extend(&mut a, 2, 1_000));
    let mut b = a.clone();
    b.miner = SecretKey::from_seed(&[0x43; 32]).address();
    submit_all(&mut chain, &extend(&mut a, 3, 1_000));
    let tip = chain.tip().id;
    let state = accounts_bytes(&chain);

    // Branch B: one good block, one that overspends (valid without state, invalid
    // with it), then more work on top.
    let good = extend(&mut b, 1, 1_000);
    let poor = SecretKey::from_seed(&[0x77; 32]);
    let overspend = cairn_core::Transfer::new_signed(
        &poor,
        params.network_id(),
        params.chain_id(),
        bob(),
        Amount(5),
        Amount(1),
        0,
    );
    let bad = b.build(vec![overspend], 1_000);
    b.blocks.push(bad.clone()); // build on top of it regardless
    let mut rest = Vec::new();
    for _ in 0..4 {
        let blk = b.build(vec![], 1_000);
        b.blocks.push(blk.clone());
        rest.push(blk);
    }
    submit_all(&mut chain, &good);
    // Stored on a side chain: valid without state, and not heavier yet.
    assert_eq!(
        chain
            .submit_block(bad.clone(), bad.header.timestamp_ms)
            .unwrap(),
        SubmitOutcome::SideChain
    );
    for (i, blk) in rest.iter().enumerate() {
        let r = chain.submit_block(blk.clone(), blk.header.timestamp_ms);
        if i == 0 {
            // Not heavier than the tip yet.
            assert_eq!(r.unwrap(), SubmitOutcome::SideChain);
        } else {
            // The first heavier block triggers the reorganisation, which fails at the
            // overspending block; the tip goes back, and the net change is nothing.
            match r {
                // The first one names the failing block; later ones, their invalid parent.
                Err(ChainError::InvalidAncestor { ancestor, .. }) => {
                    assert_eq!(ancestor, if i == 1 { bad.id() } else { rest[i - 1].id() })
                }
                other => panic!("block {i}: {other:?}"),
            }
            let change = chain.take_change();
            assert!(
                change.connected.is_empty() && change.disconnected.is_empty(),
                "{change:?}"
            );
        }
    }
    assert_eq!(chain.tip().id, tip);
    assert_eq!(accounts_bytes(&chain), state);
    assert!(matches!(
        chain.submit_block(bad, 0),
        Err(ChainError::KnownInvalid(_))
    ));

    // A state-invalid block right on top of the tip is refused, not "accepted".
    let mut c = a.clone();
    let overspend2 = cairn_core::Transfer::new_signed(
        &poor,
        params.network_id(),
        params.chain_id(),
        bob(),
        Amount(5),
        Amount(1),
        0,
    );
    let bad_tip = c.build(vec![overspend2], 1_000);
    match chain.submit_block(bad_tip.clone(), bad_tip.header.timestamp_ms) {
        Err(ChainError::Rejected { reason, .. }) => assert_eq!(reason.code(), "insufficient-funds"),
        other => panic!("{other:?}"),
    }
    assert_eq!(chain.tip().id, tip);
    c.blocks.clear();
    // Restarting remembers it.
    let store = chain.store.clone();
    drop(chain);
    let (chain, change) = Chain::open(params, store).unwrap();
    assert_eq!(chain.tip().id, tip);
    assert!(change.connected.is_empty());
}

#[test]
fn orphans_connect_when_their_parent_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let params = easy_params();
    let mut chain = open(dir.path(), &params);
    let mut b = ChainBuilder::new(params);
    let blocks = extend(&mut b, 6, 1_000);
    for blk in blocks[1..].iter().rev() {
        assert_eq!(
            chain
                .submit_block(blk.clone(), blk.header.timestamp_ms)
                .unwrap(),
            SubmitOutcome::Orphan
        );
    }
    assert_eq!(chain.orphan_count(), 5);
    let out = chain
        .submit_block(blocks[0].clone(), blocks[0].header.timestamp_ms)
        .unwrap();
    let SubmitOutcome::NewTip(change) = out else {
        panic!("{out:?}")
    };
    assert_eq!(change.connected.len(), 6);
    assert_eq!(chain.tip().id, b.tip().id());
    assert_eq!(chain.orphan_count(), 0);
}

#[test]
fn restart_resumes_at_the_same_tip() {
    let dir = tempfile::tempdir().unwrap();
    let params = easy_params();
    let mut b = ChainBuilder::new(params.clone());
    let blocks = extend(&mut b, 10, 1_000);
    {
        let mut chain = open(dir.path(), &params);
        submit_all(&mut chain, &blocks);
    }
    let chain = open(dir.path(), &params);
    assert_eq!(chain.tip().id, b.tip().id());
    assert_eq!(chain.tip().height, 10);
}

#[test]
fn bad_input_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let params = easy_params();
    let mut chain = open(dir.path(), &params);
    let mut b = ChainBuilder::new(params.clone());
    submit_all(&mut chain, &extend(&mut b, 2, 1_000));
    let tip = chain.tip().id;
    let state = accounts_bytes(&chain);
    let next = b.build(vec![b.transfer(0, bob(), 5, 10)], 1_000);
    let bytes = next.to_bytes();
    let mut rejected = 0;
    // Header bytes 76..84 (timestamp) and 88..96 (nonce) are left alone: with the
    // test network's trivial PoW a block with another timestamp or nonce is simply
    // another valid block.
    for i in (0..bytes.len())
        .step_by(7)
        .filter(|i| !(76..84).contains(i) && !(88..96).contains(i))
    {
        for cut in [false, true] {
            let mut m = bytes.clone();
            if cut {
                m.truncate(i);
            } else {
                m[i] ^= 0x5a;
            }
            match <Block as cairn_core::Decode>::from_bytes(&m) {
                Err(_) => rejected += 1,
                Ok(blk) => {
                    if blk == next {
                        continue;
                    }
                    match chain.submit_block(blk, next.header.timestamp_ms) {
                        Err(_) | Ok(SubmitOutcome::Orphan) => rejected += 1,
                        Ok(o) => panic!("mutant accepted at byte {i}: {o:?}"),
                    }
                }
            }
            assert_eq!(chain.tip().id, tip);
            assert_eq!(accounts_bytes(&chain), state);
        }
    }
    assert!(rejected > 0);
    // The genuine block still connects: no mutant poisoned its id.
    let out = chain
        .submit_block(next.clone(), next.header.timestamp_ms)
        .unwrap();
    assert!(matches!(out, SubmitOutcome::NewTip(_)), "{out:?}");
}

#[test]
fn stores_of_other_networks_or_newer_schemas_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(dir.path(), &easy_params()).unwrap());
    match Store::open(dir.path(), &ChainParams::dev()) {
        Err(StoreError::GenesisMismatch {
            stored_network,
            expected_network,
            ..
        }) => {
            assert_eq!(stored_network, "test");
            assert_eq!(expected_network, "dev");
        }
        other => panic!("{other:?}"),
    }
    {
        let store = Store::open(dir.path(), &easy_params()).unwrap();
        let mut b = store.batch();
        b.put::<crate::store::schema::SchemaVersion>(
            &crate::store::schema::SchemaVersion::KEY,
            &99,
        );

        store.write(b).unwrap();
    }
    assert!(matches!(
        Store::open(dir.path(), &easy_params()),
        Err(StoreError::NewerSchema { found: 99, .. })
    ));
}

#[test]
fn a_reorganisation_cut_short_by_a_crash_is_finished_on_restart() {
    let dir = tempfile::tempdir().unwrap();
    let params = easy_params();
    let (_, b, [common, branch_a, branch_b]) = fork(&params, 3, (5, 7), 0x44);
    for k in [1usize, 4, 7] {
        let dir = dir.path().join(format!("k{k}"));
        let mut chain = open(&dir, &params);
        submit_all(&mut chain, &common);
        submit_all(&mut chain, &branch_a);
        submit_all(&mut chain, &branch_b);
        assert_eq!(chain.tip().id, b.tip().id());
        // Roll back as a crash between the batches of a reorganisation would leave
        // it: the tip part-way down, every block of both branches stored.
        for _ in 0..k {
            chain.disconnect_tip().unwrap();
        }
        drop(chain);
        let chain = open(&dir, &params);
        assert_eq!(chain.tip().id, b.tip().id(), "k = {k}");
        assert_eq!(accounts_bytes(&chain), replay_bytes(&b));
    }
}

/// A hook that keeps, in the account of a fixed address, the number of main-chain
/// blocks mined by `miner` (as its nonce), and can be told to fail.
#[derive(Debug)]
struct CountBlocksOf {
    miner: cairn_core::Address,
    fail: std::sync::atomic::AtomicBool,
}

fn tally_address() -> cairn_core::Address {
    cairn_core::Address([0x7a; cairn_core::address::ADDRESS_LEN])
}

impl CountBlocksOf {
    fn tally(reader: &StoreReader) -> u64 {
        reader
            .get::<Accounts>(&tally_address())
            .unwrap()
            .map_or(0, |a| a.nonce)
    }

    fn step(
        &self,
        block: &Block,
        reader: &StoreReader,
        batch: &mut crate::store::StoreBatch<'_>,
        up: bool,
    ) -> Result<(), StoreError> {
        if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(StoreError::Corrupt("hook told to fail".into()));
        }
        let mined = matches!(&block.txs[0], cairn_core::Transaction::Coinbase(c) if c.paid_to(&self.miner).0 > 0);
        if mined {
            let n = Self::tally(reader);
            let n = if up { n + 1 } else { n - 1 };
            batch.put::<Accounts>(
                &tally_address(),
                &cairn_core::Account {
                    nonce: n,
                    ..Default::default()
                },
            );
        }
        Ok(())
    }
}

impl BlockHook for CountBlocksOf {
    fn connect(
        &self,
        block: &Block,
        reader: &StoreReader,
        batch: &mut crate::store::StoreBatch<'_>,
    ) -> Result<(), StoreError> {
        self.step(block, reader, batch, true)
    }

    fn disconnect(
        &self,
        block: &Block,
        reader: &StoreReader,
        batch: &mut crate::store::StoreBatch<'_>,
    ) -> Result<(), StoreError> {
        self.step(block, reader, batch, false)
    }
}

#[test]
fn a_hook_writes_in_the_batch_of_every_connect_and_disconnect() {
    let dir = tempfile::tempdir().unwrap();
    let params = easy_params();
    let a = ChainBuilder::new(params.clone());
    let hook = Arc::new(CountBlocksOf {
        miner: a.miner,
        fail: std::sync::atomic::AtomicBool::new(false),
    });
    let store = Arc::new(Store::open(dir.path(), &params).unwrap());
    let (mut chain, _) = Chain::open_with(params.clone(), store, vec![hook.clone()]).unwrap();
    let mut a = a;
    let common = extend(&mut a, 3, 1_000);
    submit_all(&mut chain, &common);
    let mut b = a.clone();
    b.miner = SecretKey::from_seed(&[0x42; 32]).address();
    submit_all(&mut chain, &extend(&mut a, 2, 1_000));
    assert_eq!(CountBlocksOf::tally(&chain.reader()), 5);
    // A heavier branch by another miner: two disconnects, three connects.
    let branch_b = extend(&mut b, 3, 1_000);
    submit_all(&mut chain, &branch_b);
    assert_eq!(chain.tip().id, b.tip().id());
    assert_eq!(CountBlocksOf::tally(&chain.reader()), 3);
    // A hook that fails stops the connect: neither the block's state nor the tip moves.
    hook.fail.store(true, std::sync::atomic::Ordering::SeqCst);
    let before = accounts_bytes(&chain);
    let next = extend(&mut b, 1, 1_000);
    assert!(matches!(
        chain.submit_block(next[0].clone(), next[0].header.timestamp_ms),
        Err(ChainError::Store(_))
    ));
    assert_eq!(chain.tip().id, branch_b.last().unwrap().id());
    assert_eq!(chain.reader().snapshot().tip().unwrap(), chain.tip().id);
    assert_eq!(accounts_bytes(&chain), before);
}

#[test]
fn the_published_view_follows_every_connect_and_disconnect() {
    let dir = tempfile::tempdir().unwrap();
    let params = easy_params();
    let mut chain = open(dir.path(), &params);
    let view = chain.view_reader();
    let mut watch = view.watch();
    assert_eq!(view.get().tip.id, params.genesis_id());
    let mut a = ChainBuilder::new(params.clone());
    let blocks = extend(&mut a, 4, 1_000);
    submit_all(&mut chain, &blocks);
    assert!(watch.has_changed().unwrap());
    let v = view.get();
    assert_eq!(v.tip, chain.tip());
    // The view's template fields agree with the chain's own context for a child.
    let ctx = chain.child_context(&v.tip.id, 0).unwrap();
    assert_eq!(v.child, ctx);
    assert_eq!(
        v.median_time_ms,
        cairn_core::validation::median_time_past(&ctx.recent_timestamps_ms)
    );
    assert_eq!(v.locator, chain.locator());
    // Whatever tip a reader sees is readable in a snapshot taken after it.
    let reader = chain.reader();
    let snapshot = reader.snapshot();
    assert_eq!(snapshot.tip().unwrap(), v.tip.id);
    assert_eq!(snapshot.block(&v.tip.id).unwrap().unwrap().id(), v.tip.id);
    watch.mark_unchanged();
    chain.disconnect_tip().unwrap();
    assert!(watch.has_changed().unwrap());
    assert_eq!(view.get().tip.id, blocks[2].id());
    assert_eq!(view.get().tip.height, 3);
}

#[test]
fn served_headers_come_from_the_store_as_the_chain_sees_them() {
    let dir = tempfile::tempdir().unwrap();
    let params = easy_params();
    let mut chain = open(dir.path(), &params);
    let mut a = ChainBuilder::new(params.clone());
    let blocks = extend(&mut a, 30, 1_000);
    submit_all(&mut chain, &blocks);
    let reader = chain.reader();
    let snapshot = reader.snapshot();
    for locator in [
        vec![params.genesis_id()],
        vec![blocks[9].id(), blocks[3].id()],
        vec![cairn_core::Hash([9; 32]), blocks[20].id()],
        vec![cairn_core::Hash([9; 32])],
        chain.locator(),
    ] {
        for max in [0, 1, 5, 2_000] {
            assert_eq!(
                snapshot.headers_after(&locator, max).unwrap(),
                chain.headers_after(&locator, max),
                "locator {locator:?}, max {max}"
            );
        }
    }
}

#[test]
fn known_transfers_skip_verification_and_others_are_still_checked() {
    let dir = tempfile::tempdir().unwrap();
    let params = easy_params();
    let mut chain = open(dir.path(), &params);
    let mut b = ChainBuilder::new(params.clone());
    submit_all(&mut chain, &extend(&mut b, 1, 1_000));
    let verified = chain.verified();
    let known = b.transfer(0, bob(), 500, 10);
    let mut forged = b.transfer(1, bob(), 600, 10);
    forged.signature.0[7] ^= 1;
    verified.insert(known.id());

    // A bad signature beside a known transfer is still found (a different
    // signature is a different id, never a cache hit), and the block is refused.
    let bad = b.build(vec![known.clone(), forged], 1_000);
    let err = chain
        .submit_block(bad.clone(), bad.header.timestamp_ms)
        .unwrap_err();
    assert!(
        matches!(
            err,
            ChainError::Rejected {
                reason: RejectReason::BadSignature { index: 2, .. },
                ..
            }
        ),
        "{err:?}"
    );
    // The known id was consulted, and used up.
    assert!(verified.is_empty());

    // The good block connects, its known transfer taken from the cache.
    verified.insert(known.id());
    let good = b.extend(vec![known], 1_000).clone();
    let outcome = chain
        .submit_block(good.clone(), good.header.timestamp_ms)
        .unwrap();
    assert!(matches!(outcome, SubmitOutcome::NewTip(_)), "{outcome:?}");
    assert_eq!(chain.tip().id, good.id());
    assert!(verified.is_empty());
}

fn open_windowed(dir: &std::path::Path, params: &ChainParams, window: usize) -> Chain {
    let store = Arc::new(Store::open(dir, params).unwrap());
    Chain::open_windowed(params.clone(), store, BlockHooks::new(), window)
        .unwrap()
        .0
}

#[test]
fn memory_holds_the_window_and_the_rest_is_read_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let params = easy_params();
    let mut chain = open_windowed(&dir.path().join("small"), &params, 8);
    let mut reference = open_windowed(&dir.path().join("whole"), &params, 1_000);
    let mut b = ChainBuilder::new(params.clone());
    let blocks = extend(&mut b, 40, 1_000);
    submit_all(&mut chain, &blocks);
    submit_all(&mut reference, &blocks);
    assert_eq!(chain.index.len(), 9, "the tip and the 8 blocks below it");
    assert_eq!(reference.index.len(), 41);

    let now = crate::node::now_ms();
    for (h, block) in b.blocks.iter().enumerate() {
        let id = block.id();
        assert_eq!(chain.block_id_at(h as u64).unwrap(), Some(id));
        assert_eq!(chain.known(&id), reference.known(&id), "height {h}");
        assert_eq!(chain.header(&id), Some(block.header));
        assert_eq!(
            chain.child_context(&id, now),
            reference.child_context(&id, now),
            "height {h}"
        );
        assert_eq!(chain.block(&id).unwrap(), Some(block.clone()));
    }

    // The locator: from the tip down to genesis, every entry on the main chain.
    let loc = chain.locator();
    assert_eq!(loc[0], b.tip().id());
    assert_eq!(loc.last(), Some(&params.genesis_id()));
    let heights = locator_heights(&chain, &loc);
    for (id, h) in loc.iter().zip(&heights) {
        assert_eq!(chain.block_id_at(*h).unwrap(), Some(*id));
    }
    assert_eq!(chain.locator(), loc, "the same locator from remembered ids");

    // Reopening reads the window only.
    let store = chain.store.clone();
    drop(chain);
    let (chain, change) =
        Chain::open_windowed(params.clone(), store, BlockHooks::new(), 8).unwrap();
    assert!(change.connected.is_empty());
    assert_eq!(chain.tip().id, b.tip().id());
    assert_eq!(chain.index.len(), 9);
    assert_eq!(chain.next_seq, 41);
}

#[test]
fn a_reorganisation_deeper_than_the_window_and_one_cut_short_by_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let params = easy_params();
    let (a, b, [common, branch_a, branch_b]) = fork(&params, 3, (12, 15), 0x45);
    for k in [0usize, 10, 15] {
        let path = dir.path().join(format!("k{k}"));
        let mut chain = open_windowed(&path, &params, 4);
        submit_all(&mut chain, &common);
        submit_all(&mut chain, &branch_a);
        // Most of branch B is stored while it has no more work than A: not held once
        // the chain reopens, and connected from the store by the block that makes
        // it heavier.
        submit_all(&mut chain, &branch_b[..12]);
        assert_eq!(chain.tip().id, a.tip().id());
        let store = chain.store.clone();
        drop(chain);
        let mut chain = Chain::open_windowed(params.clone(), store, BlockHooks::new(), 4)
            .unwrap()
            .0;
        assert!(chain.index.len() <= 5, "branch B is not held");
        submit_all(&mut chain, &branch_b[12..]);
        assert_eq!(chain.tip().id, b.tip().id(), "k = {k}");
        assert_eq!(accounts_bytes(&chain), replay_bytes(&b));
        // A crash k batches into the way back.
        for _ in 0..k {
            chain.disconnect_tip().unwrap();
        }
        drop(chain);
        let chain = open_windowed(&path, &params, 4);
        assert_eq!(chain.tip().id, b.tip().id(), "k = {k}");
        assert_eq!(accounts_bytes(&chain), replay_bytes(&b));
        for (h, block) in b.blocks.iter().enumerate() {
            assert_eq!(chain.block_id_at(h as u64).unwrap(), Some(block.id()));
        }
        // Branch A's blocks are still known, from the store.
        assert!(matches!(
            chain.known(&a.tip().id()),
            Known::Stored { height: 15, .. }
        ));
    }
}

#[test]
fn a_branch_failing_below_blocks_not_held_is_marked_through_its_ancestors() {
    let dir = tempfile::tempdir().unwrap();
    let params = easy_params();
    let mut chain = open_windowed(dir.path(), &params, 4);
    let mut a = ChainBuilder::new(params.clone());
    submit_all(&mut chain, &extend(&mut a, 2, 1_000));
    let mut b = a.clone();
    b.miner = SecretKey::from_seed(&[0x46; 32]).address();
    submit_all(&mut chain, &extend(&mut a, 8, 1_000));
    let tip = chain.tip().id;
    let state = accounts_bytes(&chain);

    // Branch B: a block valid without state but overspending, then blocks on it,
    // all lighter than the tip: stored, then forgotten by a restart.
    let poor = SecretKey::from_seed(&[0x78; 32]);
    let overspend = cairn_core::Transfer::new_signed(
        &poor,
        params.network_id(),
        params.chain_id(),
        bob(),
        Amount(5),
        Amount(1),
        0,
    );
    let bad = b.build(vec![overspend], 1_000);
    b.blocks.push(bad.clone());
    let mut side = vec![bad.clone()];
    for _ in 0..7 {
        let blk = b.build(vec![], 1_000);
        b.blocks.push(blk.clone());
        side.push(blk);
    }
    assert!(
        submit_all(&mut chain, &side)
            .iter()
            .all(|o| *o == SubmitOutcome::SideChain)
    );
    let store = chain.store.clone();
    drop(chain);
    let mut chain = Chain::open_windowed(params.clone(), store, BlockHooks::new(), 4)
        .unwrap()
        .0;
    assert!(chain.index.len() <= 5, "branch B is not held");

    // One more block makes B heavier: the reorganisation fails at `bad`, whose
    // descendants are not held; the new tip candidate is found invalid through its
    // ancestors, and the tip stays. The next block on B is refused at once.
    for _ in 0..2 {
        let blk = b.build(vec![], 1_000);
        b.blocks.push(blk.clone());
        let r = chain.submit_block(blk.clone(), blk.header.timestamp_ms);
        assert!(
            matches!(r, Err(ChainError::InvalidAncestor { .. })),
            "{r:?}"
        );
        assert_eq!(chain.tip().id, tip);
    }
    let change = chain.take_change();
    assert!(change.connected.is_empty() && change.disconnected.is_empty());
    assert_eq!(accounts_bytes(&chain), state);
    assert_eq!(chain.known(&bad.id()), Known::Invalid);
    assert_eq!(chain.known(&b.tip().id()), Known::Invalid);

    // After a restart, a block on the invalid branch is refused at once.
    let store = chain.store.clone();
    drop(chain);
    let mut chain = Chain::open_windowed(params.clone(), store, BlockHooks::new(), 4)
        .unwrap()
        .0;
    assert_eq!(chain.tip().id, tip);
    // (The last block was never stored: its parent was known invalid.)
    b.blocks.pop();
    assert_eq!(chain.known(&b.tip().id()), Known::Invalid);
    let blk = b.build(vec![], 1_000);
    assert!(matches!(
        chain.submit_block(blk.clone(), blk.header.timestamp_ms),
        Err(ChainError::InvalidAncestor { .. })
    ));
    assert_eq!(chain.tip().id, tip);
}

#[test]
fn a_store_of_schema_2_is_upgraded_by_one_walk() {
    let dir = tempfile::tempdir().unwrap();
    let params = easy_params();
    let (_, b, [common, branch_a, branch_b]) = fork(&params, 3, (4, 6), 0x47);
    let mut chain = open(dir.path(), &params);
    submit_all(&mut chain, &common);
    submit_all(&mut chain, &branch_a);
    submit_all(&mut chain, &branch_b);
    // A crash part-way into the reorganisation, in a store as version 2 wrote it.
    for _ in 0..3 {
        chain.disconnect_tip().unwrap();
    }
    let store = chain.store.clone();
    drop(chain);
    let mut batch = store.batch();
    for item in store.iter::<Candidates>() {
        batch.delete::<Candidates>(&item.unwrap().0);
    }
    batch.delete::<NextSeq>(&NextSeq::KEY);
    batch.put::<SchemaVersion>(&SchemaVersion::KEY, &2);
    store.write(batch).unwrap();

    let (chain, _) = Chain::open(params.clone(), store.clone()).unwrap();
    assert_eq!(chain.tip().id, b.tip().id());
    assert_eq!(accounts_bytes(&chain), replay_bytes(&b));
    assert_eq!(chain.next_seq, 14, "genesis and 13 blocks");
    assert_eq!(
        store.get::<SchemaVersion>(&SchemaVersion::KEY).unwrap(),
        Some(SCHEMA_VERSION)
    );
}
