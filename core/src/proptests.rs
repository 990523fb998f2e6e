//! Property tests: codecs round-trip and never panic, accepted bytes are canonical,
//! ASERT moves the right way within bounds, state transitions undo exactly and
//! conserve supply, batch and single verification agree.

use proptest::prelude::*;
use ruint::aliases::U256;

use crate::address::Address;
use crate::amount::Amount;
use crate::block::Block;
use crate::difficulty::{AsertInput, AsertParams, next_target};
use crate::encoding::{Decode, Encode};
use crate::genesis::dev_keys;
use crate::hash::Hash;
use crate::header::BlockHeader;
use crate::keys::{PublicKey, SecretKey, Signature, VerifyItem, verify_batch};
use crate::merkle::{MerkleProof, merkle_root};
use crate::pow::{CompactTarget, Target};
use crate::state::{Account, UndoRecord};
use crate::testkit::{ChainBuilder, easy_params};
use crate::tx::{Coinbase, CoinbaseOutput, Transaction, Transfer};

fn hash() -> impl Strategy<Value = Hash> {
    any::<[u8; 32]>().prop_map(Hash)
}

fn address() -> impl Strategy<Value = Address> {
    any::<[u8; 20]>().prop_map(Address)
}

fn transaction() -> impl Strategy<Value = Transaction> {
    let output = (address(), any::<u64>()).prop_map(|(recipient, amount)| CoinbaseOutput {
        recipient,
        amount: Amount(amount),
    });
    let coinbase = (
        any::<u32>(),
        any::<u64>(),
        prop::collection::vec(output, 1..5),
    )
        .prop_map(|(chain_id, height, outputs)| {
            Transaction::Coinbase(Coinbase {
                chain_id,
                height,
                outputs,
            })
        });
    let transfer = (
        any::<u32>(),
        any::<[u8; 32]>(),
        address(),
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
        prop::collection::vec(any::<u8>(), 64),
    )
        .prop_map(|(chain_id, sender, recipient, amount, fee, nonce, sig)| {
            Transaction::Transfer(Transfer {
                chain_id,
                sender: PublicKey(sender),
                recipient,
                amount: Amount(amount),
                fee: Amount(fee),
                nonce,
                signature: Signature(sig.try_into().unwrap()),
            })
        });
    prop_oneof![coinbase, transfer]
}

fn header() -> impl Strategy<Value = BlockHeader> {
    (
        any::<u32>(),
        any::<u64>(),
        hash(),
        hash(),
        any::<u64>(),
        any::<u32>(),
        any::<u64>(),
    )
        .prop_map(
            |(version, height, prev, tx_root, timestamp_ms, target, nonce)| BlockHeader {
                version,
                height,
                prev,
                tx_root,
                timestamp_ms,
                target: CompactTarget(target),
                nonce,
            },
        )
}

fn undo() -> impl Strategy<Value = UndoRecord> {
    prop::collection::btree_map(
        address(),
        prop::option::of((any::<u64>(), any::<u64>())),
        0..20,
    )
    .prop_map(|m| UndoRecord {
        entries: m
            .into_iter()
            .map(|(a, o)| {
                (
                    a,
                    o.map(|(b, n)| Account {
                        balance: Amount(b),
                        nonce: n,
                    }),
                )
            })
            .collect(),
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn tx_round_trip(tx in transaction()) {
        let bytes = tx.to_bytes();
        prop_assert_eq!(bytes.len(), tx.encoded_len());
        prop_assert_eq!(Transaction::from_bytes(&bytes).unwrap(), tx.clone());
        let json = serde_json::to_string(&tx).unwrap();
        prop_assert_eq!(serde_json::from_str::<Transaction>(&json).unwrap(), tx);
    }

    #[test]
    fn header_round_trip(h in header()) {
        let bytes = h.to_bytes();
        prop_assert_eq!(bytes.len(), 96);
        prop_assert_eq!(BlockHeader::from_bytes(&bytes).unwrap(), h);
        prop_assert_eq!(&bytes[..88], &h.pre_bytes()[..]);
    }

    #[test]
    fn block_round_trip(h in header(), txs in prop::collection::vec(transaction(), 0..20)) {
        let b = Block { header: h, txs };
        let bytes = b.to_bytes();
        prop_assert_eq!(bytes.len(), b.encoded_len());
        prop_assert_eq!(Block::from_bytes(&bytes).unwrap(), b);
    }

    #[test]
    fn undo_and_account_round_trip(u in undo(), b in any::<u64>(), n in any::<u64>()) {
        prop_assert_eq!(UndoRecord::from_bytes(&u.to_bytes()).unwrap(), u);
        let a = Account { balance: Amount(b), nonce: n };
        prop_assert_eq!(Account::from_bytes(&a.to_bytes()).unwrap(), a);
    }

    #[test]
    fn address_text_round_trip(a in address()) {
        prop_assert_eq!(a.to_string().parse::<Address>().unwrap(), a);
    }

    /// Arbitrary bytes never panic a decoder, and whatever a decoder accepts re-encodes
    /// to exactly the same bytes (there is one encoding per value).
    #[test]
    fn decoders_are_total_and_canonical(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(v) = Transaction::from_bytes(&bytes) { prop_assert_eq!(v.to_bytes(), bytes.clone()); }
        if let Ok(v) = BlockHeader::from_bytes(&bytes) { prop_assert_eq!(v.to_bytes(), bytes.clone()); }
        if let Ok(v) = Block::from_bytes(&bytes) { prop_assert_eq!(v.to_bytes(), bytes.clone()); }
        if let Ok(v) = UndoRecord::from_bytes(&bytes) { prop_assert_eq!(v.to_bytes(), bytes.clone()); }
        if let Ok(v) = Account::from_bytes(&bytes) { prop_assert_eq!(v.to_bytes(), bytes.clone()); }
    }

    /// Mutating a valid block's bytes never panics the decoder; accepted mutants are canonical.
    #[test]
    fn mutated_blocks_decode_safely(
        h in header(),
        txs in prop::collection::vec(transaction(), 1..6),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = Block { header: h, txs }.to_bytes();
        for (i, v) in flips { let i = i.index(bytes.len()); bytes[i] = v; }
        bytes.truncate(cut.index(bytes.len() + 1));
        if let Ok(b) = Block::from_bytes(&bytes) { prop_assert_eq!(b.to_bytes(), bytes); }
    }

    #[test]
    fn compact_round_trip(v in any::<[u8; 32]>()) {
        let t = Target(U256::from_le_bytes(v));
        let c = t.to_compact();
        let back = c.to_target().unwrap();
        prop_assert_eq!(back.to_compact(), c);
        // Rounds down, except below the smallest representable target.
        prop_assert!(back <= t || c == CompactTarget::MIN);
        // Loses less than one part in 2^15 of the value.
        if c != CompactTarget::MIN { prop_assert!(t.0 - back.0 <= t.0 >> 15); }
    }

    #[test]
    fn merkle_proofs(n in 1usize..70, pick in any::<prop::sample::Index>()) {
        let leaves: Vec<Hash> = (0..n).map(|i| Hash::digest(&(i as u32).to_le_bytes())).collect();
        let root = merkle_root(&leaves);
        let i = pick.index(n);
        let p = MerkleProof::new(&leaves, i).unwrap();
        prop_assert!(p.verify(&leaves[i], &root));
        prop_assert!(!p.verify(&leaves[(i + 1) % n], &root) || n == 1);
    }
}

fn asert() -> AsertParams {
    AsertParams {
        initial_target: Target(U256::from(1u8) << 232),
        pow_limit: Target(U256::from(1u8) << 250),
        target_block_time_ms: 10_000,
        half_life_ms: 3_600_000,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// After a block that came faster than the target time, the next target is lower
    /// (difficulty rises); after a slower one it is higher; exactly on time it stays.
    /// Each step changes the target by the factor 2^((dt − T)/half_life), to within the
    /// approximation's precision.
    #[test]
    fn asert_moves_the_right_way_within_bounds(
        h in 2u64..1_000_000,
        offset in -3_600_000i64..3_600_000,
        dt in 0u64..60_000,
    ) {
        let p = asert();
        let anchor = 1_700_000_000_000u64;
        let parent_ts = (anchor as i64 + (h as i64 - 1) * 10_000 + offset) as u64;
        let t0 = next_target(&p, &AsertInput { parent_height: h, parent_timestamp_ms: parent_ts, anchor_timestamp_ms: anchor });
        let t1 = next_target(&p, &AsertInput { parent_height: h + 1, parent_timestamp_ms: parent_ts + dt, anchor_timestamp_ms: anchor });
        // The exponent's resolution is half_life / 2^16 (~55 ms here): within one step
        // of the target time the target may stay put, beyond it it must move.
        let step = 2 * 3_600_000 / 65_536 + 1;
        if dt <= 10_000 { prop_assert!(t1 <= t0); }
        if dt >= 10_000 { prop_assert!(t1 >= t0); }
        if dt + step < 10_000 { prop_assert!(t1 < t0); }
        if dt > 10_000 + step { prop_assert!(t1 > t0); }
        // Bound: the ratio is 2^((dt-T)/H); check against a float model with 0.1% slack.
        let ratio = f64::from(t1.0.approx_log2() as f32) - f64::from(t0.0.approx_log2() as f32);
        let expect = (dt as f64 - 10_000.0) / 3_600_000.0;
        prop_assert!((ratio - expect).abs() < 0.001, "log2 ratio {} vs {}", ratio, expect);
    }

    /// Batch verification gives the same verdict, and the same first failure, as
    /// checking one by one.
    #[test]
    fn batch_agrees_with_single(n in 1usize..40, corrupt in prop::collection::vec((any::<prop::sample::Index>(), 0usize..96, any::<u8>()), 0..4)) {
        let keys: Vec<SecretKey> = (0..n).map(|i| SecretKey::from_seed(&[i as u8; 32])).collect();
        let msgs: Vec<Vec<u8>> = (0..n).map(|i| vec![i as u8; 7]).collect();
        let mut pks: Vec<PublicKey> = keys.iter().map(SecretKey::public_key).collect();
        let mut sigs: Vec<Signature> = keys.iter().zip(&msgs).map(|(k, m)| k.sign(m)).collect();
        for (i, pos, v) in corrupt {
            let i = i.index(n);
            if pos < 64 { sigs[i].0[pos] = v } else { pks[i].0[pos - 64] = v }
        }
        let items: Vec<VerifyItem<'_>> = (0..n).map(|i| VerifyItem { key: &pks[i], msg: &msgs[i], sig: &sigs[i] }).collect();
        let single = (0..n).find_map(|i| pks[i].verify_strict(&msgs[i], &sigs[i]).err().map(|e| (i, e)));
        prop_assert_eq!(verify_batch(&items).err(), single);
    }
}

/// One random block's worth of transfers between the dev accounts and two outsiders,
/// some of them invalid on purpose, and who its coinbase pays.
#[derive(Debug, Clone)]
struct Step {
    transfers: Vec<(usize, usize, u64, u64, bool)>, // from, to, amount, fee, break the nonce
    payees: Vec<usize>,                             // indices into the same six accounts, distinct
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let transfer = (
        0usize..4,
        0usize..6,
        0u64..200_000_000_000_000,
        0u64..1_000,
        prop::bool::weighted(0.1),
    );
    let payees = prop::sample::subsequence((0..6).collect::<Vec<usize>>(), 1..=4);
    // Up to 14 blocks: well past the easy network's maturity, so rewards mature (and
    // are spent, the miners being senders too) and undoing takes credits back.
    prop::collection::vec(
        (prop::collection::vec(transfer, 0..6), payees)
            .prop_map(|(transfers, payees)| Step { transfers, payees }),
        1..14,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Random blocks: every valid one conserves supply; every invalid one is rejected
    /// without touching state; undoing all of them restores the genesis state exactly.
    #[test]
    fn state_transitions_conserve_supply_and_undo_exactly(steps in steps()) {
        let mut c = ChainBuilder::new(easy_params());
        let genesis_state = c.state.clone();
        let outsiders = [SecretKey::from_seed(&[1; 32]).address(), SecretKey::from_seed(&[2; 32]).address()];
        let mut snapshots = vec![c.state.clone()];
        for step in steps {
            let mut nonces = std::collections::HashMap::new();
            let mut txs = Vec::new();
            for (from, to, amount, fee, bad_nonce) in step.transfers {
                let key = &dev_keys()[from];
                let to = if to < 4 { dev_keys()[to].address() } else { outsiders[to - 4] };
                let base = c.state.accounts.get(&key.address()).map_or(0, |a| a.nonce);
                let n = nonces.entry(from).or_insert(base);
                let nonce = if bad_nonce { *n + 5 } else { *n };
                *n += 1;
                txs.push(Transfer::new_signed(key, c.params.network_id(), c.params.chain_id(), to, Amount(amount), Amount(fee), nonce));
            }
            let before = c.state.clone();
            let account = |i: usize| if i < 4 { dev_keys()[i].address() } else { outsiders[i - 4] };
            let payees: Vec<Address> = step.payees.iter().map(|&i| account(i)).collect();
            let block = c.build_paying(txs, 1_000, &payees);
            match c.connect(block) {
                Ok(()) => {
                    prop_assert!(c.supply_is_conserved());
                    snapshots.push(c.state.clone());
                }
                Err(_) => prop_assert_eq!(&c.state, &before),
            }
        }
        while c.blocks.len() > 1 {
            snapshots.pop();
            c.disconnect();
            prop_assert_eq!(&c.state, snapshots.last().unwrap());
        }
        prop_assert_eq!(c.state, genesis_state);
    }
}
