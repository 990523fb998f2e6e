//! Mempool policy: nonce queues, replacement, fees, the byte cap, expiry, templates and
//! persistence.

use std::cell::Cell;
use std::convert::Infallible;

use cairn_core::genesis::dev_keys;
use cairn_core::state::MemoryState;
use cairn_core::testkit::{ChainBuilder, easy_params};
use cairn_core::{Account, Amount, Block, SecretKey};

use super::*;
use cairn_core::encoding::{Decode, Encode};

fn pool(max_txs: usize) -> (Mempool, MemoryState) {
    let params = easy_params();
    let state = MemoryState::genesis(&params);
    let config = MempoolConfig {
        max_bytes: max_txs * TRANSFER_LEN,
        min_fee: Amount(1_000),
        rbf_bump_percent: 10,
        expiry_ms: 60_000,
    };
    (Mempool::new(params, config), state)
}

fn tx(from: usize, nonce: u64, fee: u64) -> Transfer {
    let to = SecretKey::from_seed(&[0xcc; 32]).address();
    let net = easy_params().network_id();
    Transfer::new_signed(
        &dev_keys()[from],
        net,
        1337,
        to,
        Amount(100),
        Amount(fee),
        nonce,
    )
}

#[test]
fn nonces_must_follow_the_queue() {
    let (mut m, s) = pool(100);
    assert!(matches!(
        m.add(tx(0, 1, 2_000), &s, 0),
        Err(MempoolError::NonceGap {
            expected: 0,
            got: 1
        })
    ));
    m.add(tx(0, 0, 2_000), &s, 0).unwrap();
    m.add(tx(0, 1, 2_000), &s, 0).unwrap();
    assert!(matches!(
        m.add(tx(0, 3, 2_000), &s, 0),
        Err(MempoolError::NonceGap {
            expected: 2,
            got: 3
        })
    ));
    assert_eq!(m.next_nonce(&dev_keys()[0].address(), 0), 2);
    let mut s2 = s.clone();
    s2.accounts.get_mut(&dev_keys()[1].address()).unwrap().nonce = 5;
    assert!(matches!(
        m.add(tx(1, 4, 2_000), &s2, 0),
        Err(MempoolError::NonceTooLow {
            expected: 5,
            got: 4
        })
    ));
}

#[test]
fn fee_and_validity_rules() {
    let (mut m, s) = pool(100);
    assert!(matches!(
        m.add(tx(0, 0, 999), &s, 0),
        Err(MempoolError::FeeTooLow { .. })
    ));
    let mut bad = tx(0, 0, 2_000);
    bad.amount = Amount(101);
    assert!(matches!(
        m.add(bad, &s, 0),
        Err(MempoolError::Invalid(RejectReason::BadSignature { .. }))
    ));
    let wrong_chain = Transfer::new_signed(
        &dev_keys()[0],
        easy_params().network_id(),
        1,
        dev_keys()[1].address(),
        Amount(1),
        Amount(2_000),
        0,
    );
    assert!(matches!(
        m.add(wrong_chain, &s, 0),
        Err(MempoolError::Invalid(RejectReason::WrongChainId { .. }))
    ));
    let t = tx(0, 0, 2_000);
    m.add(t.clone(), &s, 0).unwrap();
    assert!(matches!(
        m.add(t, &s, 0),
        Err(MempoolError::AlreadyKnown(_))
    ));
    assert!(!m.is_empty() && m.len() == 1);
}

#[test]
fn pending_debits_must_be_affordable() {
    let (mut m, s) = pool(100);
    let balance = s.accounts[&dev_keys()[0].address()].balance.0;
    let to = dev_keys()[1].address();
    let t0 = Transfer::new_signed(
        &dev_keys()[0],
        easy_params().network_id(),
        1337,
        to,
        Amount(balance / 2),
        Amount(1_000),
        0,
    );
    let t1 = Transfer::new_signed(
        &dev_keys()[0],
        easy_params().network_id(),
        1337,
        to,
        Amount(balance / 2),
        Amount(1_000),
        1,
    );
    m.add(t0, &s, 0).unwrap();
    assert!(matches!(
        m.add(t1, &s, 0),
        Err(MempoolError::InsufficientFunds { .. })
    ));
}

#[test]
fn replacement_needs_a_real_bump() {
    let (mut m, s) = pool(100);
    let first = tx(0, 0, 10_000);
    m.add(first.clone(), &s, 0).unwrap();
    // +10 % is 1 000 here, and the minimum fee is 1 000: 10 999 is not enough.
    match m.add(tx(0, 0, 10_999), &s, 0) {
        Err(MempoolError::ReplacementFeeTooLow { min, .. }) => assert_eq!(min, Amount(11_000)),
        other => panic!("{other:?}"),
    }
    let better = tx(0, 0, 11_000);
    m.add(better.clone(), &s, 0).unwrap();
    assert!(!m.contains(&first.id()));
    assert!(m.contains(&better.id()));
    assert_eq!(m.len(), 1);
    debits_match(&m);
    // Replacing the last of a longer queue keeps the tail index right.
    m.add(tx(0, 1, 10_000), &s, 0).unwrap();
    m.add(tx(0, 1, 12_000), &s, 0).unwrap();
    debits_match(&m);
    queues_are_gapless(&m, &s);
}

#[test]
fn a_full_pool_evicts_the_cheapest_or_refuses() {
    let (mut m, s) = pool(3);
    let cheapest = tx(0, 0, 10_000);
    m.add(cheapest.clone(), &s, 0).unwrap();
    m.add(tx(1, 0, 20_000), &s, 0).unwrap();
    m.add(tx(2, 0, 30_000), &s, 0).unwrap();
    let rich = tx(3, 0, 25_000);
    m.add(rich.clone(), &s, 0).unwrap();
    assert!(!m.contains(&cheapest.id()) && m.contains(&rich.id()));
    m.add(tx(4, 0, 26_000), &s, 0).unwrap();
    assert_eq!(m.len(), 3);
    match m.add(tx(5, 0, 5_000), &s, 0) {
        Err(MempoolError::Full { min }) => assert_eq!(min, Amount(25_000)),
        other => panic!("{other:?}"),
    }
    assert_eq!(m.len(), 3);
}

#[test]
fn eviction_never_leaves_a_gap_or_drops_a_parent_of_a_better_child() {
    let (mut m, s) = pool(3);
    let parent = tx(0, 0, 10_000);
    let child = tx(0, 1, 50_000);
    m.add(parent.clone(), &s, 0).unwrap();
    m.add(child.clone(), &s, 0).unwrap();
    m.add(tx(1, 0, 30_000), &s, 0).unwrap();
    // Only queue tails may go: sender 0's tail pays 50 000, sender 1's 30 000.
    assert!(matches!(
        m.add(tx(2, 0, 25_000), &s, 0),
        Err(MempoolError::Full { .. })
    ));
    m.add(tx(2, 0, 35_000), &s, 0).unwrap(); // evicts sender 1
    assert!(m.contains(&parent.id()) && m.contains(&child.id()));
    debits_match(&m);
    queues_are_gapless(&m, &s);
}

#[test]
fn update_drops_confirmed_expired_and_takes_back_returned() {
    let mut chain = ChainBuilder::new(easy_params());
    let (mut m, _) = pool(100);
    let a0 = tx(0, 0, 2_000);
    let a1 = tx(0, 1, 2_000);
    let b0 = tx(1, 0, 2_000);
    m.add(a0.clone(), &chain.state, 0).unwrap();
    m.add(a1.clone(), &chain.state, 0).unwrap();
    m.add(b0.clone(), &chain.state, 50_000).unwrap();
    // A block confirms a0.
    let block = chain.extend(vec![a0.clone()], 1_000).clone();
    follow(
        &mut m,
        &chain.state,
        std::slice::from_ref(&block),
        &[],
        1_000,
    );
    assert!(!m.contains(&a0.id()) && m.contains(&a1.id()) && m.contains(&b0.id()));
    // Later, a1 expires (added at 0, expiry 60 s); b0 (added at 50 s) does not.
    follow(&mut m, &chain.state, &[], &[], 60_001);
    assert!(!m.contains(&a1.id()) && m.contains(&b0.id()));
    // A reorganisation undoes a0's block: it comes back.
    let back = chain.disconnect();
    follow(&mut m, &chain.state, &[], &[back], 60_002);
    assert!(m.contains(&a0.id()));
    queues_are_gapless(&m, &chain.state);
    debits_match(&m);
}

#[test]
fn a_transfer_in_both_the_disconnected_and_connected_blocks_stays_confirmed() {
    let mut chain = ChainBuilder::new(easy_params());
    let (mut m, _) = pool(100);
    let a0 = tx(0, 0, 2_000);
    let a1 = tx(0, 1, 3_000);
    let old = chain.extend(vec![a0.clone()], 1_000).clone();
    follow(&mut m, &chain.state, std::slice::from_ref(&old), &[], 1_000);
    m.add(a1.clone(), &chain.state, 1_000).unwrap();
    // A competing branch (another miner) holds a0 too: a0 is not taken back, a1 stays.
    chain.disconnect();
    chain.miner = dev_keys()[5].address();
    let new = chain.extend(vec![a0.clone()], 2_000).clone();
    follow(
        &mut m,
        &chain.state,
        std::slice::from_ref(&new),
        &[old],
        2_000,
    );
    assert!(!m.contains(&a0.id()) && m.contains(&a1.id()));
    assert_eq!(m.len(), 1);
    queues_are_gapless(&m, &chain.state);
    debits_match(&m);
}

#[test]
fn a_disconnected_credit_invalidates_the_recipients_queue() {
    // Sender 0 pays most of its balance to a fresh key, which spends it at once.
    let mut chain = ChainBuilder::new(easy_params());
    let (mut m, _) = pool(100);
    let fresh = SecretKey::from_seed(&[0x42; 32]);
    let pay = Transfer::new_signed(
        &dev_keys()[0],
        easy_params().network_id(),
        1337,
        fresh.address(),
        Amount(1_000_000),
        Amount(2_000),
        0,
    );
    let block = chain.extend(vec![pay.clone()], 1_000).clone();
    follow(
        &mut m,
        &chain.state,
        std::slice::from_ref(&block),
        &[],
        1_000,
    );
    let spend = Transfer::new_signed(
        &fresh,
        easy_params().network_id(),
        1337,
        dev_keys()[1].address(),
        Amount(900_000),
        Amount(2_000),
        0,
    );
    m.add(spend.clone(), &chain.state, 1_000).unwrap();
    // The block is disconnected: `pay` comes back, and `spend` is unaffordable again.
    let back = chain.disconnect();
    follow(&mut m, &chain.state, &[], &[back], 2_000);
    assert!(m.contains(&pay.id()));
    assert!(!m.contains(&spend.id()));
    queues_are_gapless(&m, &chain.state);
    debits_match(&m);
}

#[test]
fn templates_take_the_best_fees_in_nonce_order() {
    let (mut m, s) = pool(100);
    m.add(tx(0, 0, 1_000), &s, 0).unwrap();
    m.add(tx(0, 1, 90_000), &s, 0).unwrap();
    m.add(tx(1, 0, 50_000), &s, 0).unwrap();
    m.add(tx(2, 0, 40_000), &s, 0).unwrap();
    let picked = m.select(3 * TRANSFER_LEN);
    let fees: Vec<u64> = picked.iter().map(|t| t.fee.0).collect();
    // Greedy by fee over the queue heads: 50 000 and 40 000, then sender 0's 1 000,
    // whose 90 000 child finds no room left (selection is per transfer, not per
    // package of parent and child).
    assert_eq!(fees, vec![50_000, 40_000, 1_000]);
    let all = m.select(usize::MAX);
    let pos = |fee: u64| all.iter().position(|t| t.fee.0 == fee).unwrap();
    assert!(pos(1_000) < pos(90_000));
}

#[test]
fn save_and_load_round_trip_and_corruption_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mempool.dat");
    let (mut m, s) = pool(100);
    for i in 0..5 {
        m.add(tx(i, 0, 2_000 + i as u64), &s, 10).unwrap();
    }
    m.save(&path).unwrap();
    let (mut m2, _) = pool(100);
    assert_eq!(m2.load(&path, &s, 20).unwrap(), 5);
    assert_eq!(m2.transfers(), m.transfers());
    // Flip a byte in a signature: the file still decodes, the transfer is refused.
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let (mut m3, _) = pool(100);
    assert_eq!(m3.load(&path, &s, 20).unwrap(), 4);
    // Truncation is corruption.
    std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
    let (mut m4, _) = pool(100);
    assert!(matches!(
        m4.load(&path, &s, 20),
        Err(MempoolLoadError::Corrupt(_))
    ));
    assert!(m4.is_empty());
    // A missing file is an empty mempool.
    assert_eq!(m4.load(&dir.path().join("none"), &s, 20).unwrap(), 0);
}

#[test]
fn truncated_or_bit_flipped_transfers_change_nothing() {
    let (mut m, s) = pool(100);
    m.add(tx(1, 0, 2_000), &s, 0).unwrap();
    let before = m.transfers();
    let good = Transaction::Transfer(tx(0, 0, 2_000)).to_bytes();
    for i in 0..good.len() {
        for mutant in [good[..i].to_vec(), {
            let mut b = good.clone();
            b[i] ^= 0x10;
            b
        }] {
            let Ok(Transaction::Transfer(t)) = Transaction::from_bytes(&mutant) else {
                continue;
            };
            // Decodes: then a rule must refuse it (signature, chain id, fee, nonce…).
            assert!(m.add(t, &s, 0).is_err(), "mutant at byte {i} admitted");
            assert_eq!(m.transfers(), before);
        }
    }
}

/// The running per-sender debit equals the queue's sum after every kind of change.
fn debits_match(m: &Mempool) {
    for (sender, q) in &m.by_sender {
        let sum: u128 = q
            .ids
            .iter()
            .map(|id| u128::from(m.entries[id].tx.total_debit().unwrap().0))
            .sum();
        assert_eq!(q.debit, sum, "{sender}");
    }
    let mut credits: HashMap<Address, u128> = HashMap::new();
    for e in m.entries.values() {
        *credits.entry(e.tx.recipient).or_default() += u128::from(e.tx.amount.0);
    }
    assert_eq!(credits, m.credits);
    indexes_match(m);
}

#[test]
fn running_debits_follow_adds_replacements_evictions_and_updates() {
    let (mut m, s) = pool(6);
    for n in 0..3 {
        m.add(tx(0, n, 2_000), &s, 0).unwrap();
        m.add(tx(1, n, 1_500), &s, 0).unwrap();
        debits_match(&m);
    }
    // A replacement swaps one debit for another.
    m.add(tx(0, 1, 5_000), &s, 0).unwrap();
    debits_match(&m);
    // The pool is full: a better fee evicts a tail of sender 1.
    m.add(tx(2, 0, 9_000), &s, 0).unwrap();
    debits_match(&m);
    assert_eq!(m.pending_for(&dev_keys()[1].address()).count, 2);
    // Expiry empties everything.
    m.update(&s, &TipChange::default(), 1_000_000).unwrap();
    debits_match(&m);
    assert!(m.by_sender.is_empty());
}

/// An account view that counts its reads: the store reads the mempool makes.
struct CountingView<'a> {
    state: &'a MemoryState,
    reads: Cell<usize>,
}

impl<'a> CountingView<'a> {
    fn new(state: &'a MemoryState) -> Self {
        CountingView {
            state,
            reads: Cell::new(0),
        }
    }
}

impl AccountView for CountingView<'_> {
    type Error = Infallible;

    fn account(&self, address: &Address) -> Result<Option<Account>, Infallible> {
        self.reads.set(self.reads.get() + 1);
        self.state.account(address)
    }
}

/// The mempool follows a tip change, as `Node::submit_block` makes it.
fn follow<V>(m: &mut Mempool, view: &V, connected: &[Block], disconnected: &[Block], now: u64)
where
    V: AccountView,
    V::Error: Into<StoreError>,
{
    let change = TipChange {
        connected: connected.to_vec(),
        disconnected: disconnected.to_vec(),
        ..TipChange::default()
    };
    m.update(view, &change, now).unwrap();
}

/// `n` keys funded in `state`, none of them a dev key.
fn funded_keys(state: &mut MemoryState, n: u32) -> Vec<SecretKey> {
    (0..n)
        .map(|i| {
            let mut seed = [0x77; 32];
            seed[..4].copy_from_slice(&i.to_le_bytes());
            let key = SecretKey::from_seed(&seed);
            let account = Account {
                balance: Amount(10_000_000),
                nonce: 0,
            };
            state.accounts.insert(key.address(), account);
            key
        })
        .collect()
}

fn signed(key: &SecretKey, nonce: u64, fee: u64) -> Transfer {
    let to = dev_keys()[9].address();
    Transfer::new_signed(
        key,
        easy_params().network_id(),
        1337,
        to,
        Amount(100),
        Amount(fee),
        nonce,
    )
}

/// Invariants beyond `debits_match`: gapless queues starting at the confirmed nonce,
/// each transfer indexed once.
fn queues_are_gapless(m: &Mempool, state: &MemoryState) {
    for (sender, q) in &m.by_sender {
        let first = state.accounts.get(sender).map_or(0, |a| a.nonce);
        assert_eq!(q.first, first, "{sender}");
        assert!(!q.ids.is_empty());
        let nonces: Vec<u64> = q.ids.iter().map(|id| m.entries[id].tx.nonce).collect();
        let want: Vec<u64> = (first..first + q.ids.len() as u64).collect();
        assert_eq!(nonces, want, "{sender}");
        assert!(q.ids.iter().all(|id| m.entries[id].sender == *sender));
    }
    let queued: usize = m.by_sender.values().map(|q| q.ids.len()).sum();
    assert_eq!(queued, m.entries.len());
    indexes_match(m);
}

/// The fee, tail and arrival indexes hold exactly what `entries` and `by_sender` say.
fn indexes_match(m: &Mempool) {
    let by_fee: BTreeSet<FeeKey> = m.entries.iter().map(|(id, e)| fee_key(e, *id)).collect();
    assert_eq!(by_fee, m.by_fee);
    let tails: BTreeMap<FeeKey, Address> = m
        .by_sender
        .iter()
        .map(|(sender, q)| {
            let id = *q.ids.last().unwrap();
            (fee_key(&m.entries[&id], id), *sender)
        })
        .collect();
    assert_eq!(tails, m.tails);
    let arrivals: BTreeSet<(u64, u64, TxId)> = m
        .entries
        .iter()
        .map(|(id, e)| (e.added_ms, e.seq, *id))
        .collect();
    assert_eq!(arrivals, m.by_arrival);
}

#[test]
fn a_tip_change_rechecks_only_the_senders_its_blocks_touched() {
    let mut chain = ChainBuilder::new(easy_params());
    let keys = funded_keys(&mut chain.state, 10_000);
    let (mut m, _) = pool(20_000);
    let sent: Vec<Transfer> = keys.iter().map(|k| signed(k, 0, 2_000)).collect();
    for t in &sent {
        m.add_prevalidated(t.clone(), &chain.state, 0).unwrap();
    }
    m.add_prevalidated(signed(&keys[1], 1, 2_000), &chain.state, 0)
        .unwrap();
    assert_eq!(m.len(), 10_001);

    // A block confirms the first transfers of two of the 10 000 senders (it also
    // credits dev key 9 and the miner, who have nothing pending).
    let block = chain
        .extend(vec![sent[0].clone(), sent[1].clone()], 1_000)
        .clone();
    let view = CountingView::new(&chain.state);
    follow(&mut m, &view, std::slice::from_ref(&block), &[], 1_000);
    assert_eq!(view.reads.get(), 2, "one read per touched sender");
    assert!(!m.contains(&sent[0].id()) && !m.contains(&sent[1].id()));
    assert_eq!(m.len(), 9_999);
    queues_are_gapless(&m, &chain.state);
    debits_match(&m);

    // The block is disconnected: its transfers come back, again for two reads.
    let back = chain.disconnect();
    let view = CountingView::new(&chain.state);
    follow(&mut m, &view, &[], std::slice::from_ref(&back), 2_000);
    assert_eq!(view.reads.get(), 2);
    assert!(m.contains(&sent[0].id()) && m.contains(&sent[1].id()));
    assert_eq!(m.len(), 10_001);
    queues_are_gapless(&m, &chain.state);
    debits_match(&m);
}

#[test]
fn expiry_reads_nothing_and_drops_what_followed_the_expired() {
    let mut state = MemoryState::genesis(&easy_params());
    let keys = funded_keys(&mut state, 1_000);
    let (mut m, _) = pool(10_000);
    for (i, k) in keys.iter().enumerate() {
        // Even senders' first transfers arrive at 0 and expire at 60 001; the second
        // ones arrive later but depend on them.
        let first = if i % 2 == 0 { 0 } else { 30_000 };
        m.add_prevalidated(signed(k, 0, 2_000), &state, first)
            .unwrap();
        m.add_prevalidated(signed(k, 1, 2_000), &state, 40_000)
            .unwrap();
    }
    let view = CountingView::new(&state);
    follow(&mut m, &view, &[], &[], 60_001);
    assert_eq!(view.reads.get(), 0);
    assert_eq!(m.len(), 1_000);
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(m.contains(&signed(k, 1, 2_000).id()), i % 2 == 1);
    }
    queues_are_gapless(&m, &state);
    debits_match(&m);
}

#[test]
fn a_cheap_transfer_into_a_full_pool_is_refused_unread_and_changes_nothing() {
    let mut state = MemoryState::genesis(&easy_params());
    let keys = funded_keys(&mut state, 101);
    let (mut m, _) = pool(100);
    for (i, k) in keys[..100].iter().enumerate() {
        m.add_prevalidated(signed(k, 0, 5_000 + i as u64), &state, 0)
            .unwrap();
    }
    let before = m.transfers();
    let view = CountingView::new(&state);
    match m.add_prevalidated(signed(&keys[100], 0, 5_000), &view, 0) {
        Err(MempoolError::Full { min }) => assert_eq!(min, Amount(5_000)),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        view.reads.get(),
        0,
        "refused before reading the sender's account"
    );
    assert_eq!(m.transfers(), before);
    debits_match(&m);
}

#[test]
fn eviction_takes_the_globally_cheapest_tail() {
    let mut state = MemoryState::genesis(&easy_params());
    let keys = funded_keys(&mut state, 301);
    let (mut m, _) = pool(600);
    // 300 senders with two transfers each; the tails' fees are a permutation, and
    // every head pays less than every tail (a head goes once its tail has gone).
    for (i, k) in keys[..300].iter().enumerate() {
        let tail_fee = 10_000 + ((i as u64 * 7_919) % 300) * 10;
        m.add_prevalidated(signed(k, 0, 1_000 + i as u64), &state, 0)
            .unwrap();
        m.add_prevalidated(signed(k, 1, tail_fee), &state, 0)
            .unwrap();
    }
    let newcomer = &keys[300];
    for round in 0..400u64 {
        // By brute force: the cheapest last transfer of any other sender, the newest
        // first among equal fees.
        let cheapest = m
            .by_sender
            .iter()
            .filter(|(s, _)| **s != newcomer.address())
            .map(|(_, q)| *q.ids.last().unwrap())
            .min_by_key(|id| (m.entries[id].tx.fee, Reverse(m.entries[id].seq)))
            .unwrap();
        // Each round a better transfer from the same newcomer, so its own queue grows.
        let t = signed(newcomer, round, 20_000 + round);
        m.add_prevalidated(t.clone(), &state, 0).unwrap();
        assert!(m.contains(&t.id()));
        assert!(!m.contains(&cheapest), "round {round}");
        assert_eq!(m.len(), 600);
        queues_are_gapless(&m, &state);
        debits_match(&m);
    }
}
