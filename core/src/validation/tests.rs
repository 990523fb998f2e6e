//! Every reject reason, produced by a block that breaks exactly its rule.

use super::*;
use crate::amount::Amount;
use crate::block::Block;
use crate::genesis::dev_keys;
use crate::keys::{SecretKey, Signature, SignatureError};
use crate::pow::CompactTarget;
use crate::testkit::{ChainBuilder, easy_params};
use crate::tx::{Coinbase, Transaction, Transfer};

fn chain() -> ChainBuilder {
    let mut c = ChainBuilder::new(easy_params());
    c.extend(vec![], 1_000);
    c
}

fn bob() -> crate::address::Address {
    SecretKey::from_seed(&[0xb0; 32]).address()
}

/// Rebuilds the merkle root and re-mines, so only the rule under test is broken.
fn reseal(mut b: Block) -> Block {
    b.header.tx_root = b.compute_tx_root();
    ChainBuilder::mine(&mut b);
    b
}

fn reject(c: &mut ChainBuilder, b: Block) -> RejectReason {
    let tip = c.tip().id();
    let err = c.connect(b).expect_err("block must be rejected");
    assert_eq!(c.tip().id(), tip, "a rejected block must not move the tip");
    err
}

#[test]
fn valid_chain_with_transfers_connects_and_conserves_supply() {
    let mut c = chain();
    for i in 0..5 {
        let t1 = c.transfer(0, bob(), 1_000 + i, 10);
        let t2 = c.transfer(1, bob(), 2_000, 20);
        c.extend(vec![t1, t2], 1_000);
        assert!(c.supply_is_conserved());
    }
    assert_eq!(c.state.accounts[&bob()].balance, Amount(5 * 3_000 + 10));
}

#[test]
fn unsupported_version() {
    let mut c = chain();
    let mut b = c.build(vec![], 1_000);
    b.header.version = 2;
    let b = reseal(b);
    assert_eq!(reject(&mut c, b), RejectReason::UnsupportedVersion(2));
}

#[test]
fn bad_target_encoding_and_limit() {
    let mut c = chain();
    let mut b = c.build(vec![], 1_000);
    b.header.target = CompactTarget(0x2000_ffff);
    assert_eq!(reject(&mut c, b).code(), "bad-target-encoding");
    let mut p = crate::genesis::ChainParams::dev().config().clone();
    p.initial_target = CompactTarget(0x2001_0000);
    let mut c = ChainBuilder::new(crate::genesis::ChainParams::from_config(p).unwrap());
    let mut b = c.build(vec![], 1_000);
    b.header.target = CompactTarget::MAX;
    let b = reseal(b);
    assert_eq!(
        reject(&mut c, b),
        RejectReason::TargetAboveLimit(CompactTarget::MAX)
    );
}

#[test]
fn insufficient_pow() {
    let mut c = chain();
    let mut b = c.build(vec![], 1_000);
    b.header.target = CompactTarget::MIN; // ~2^240 hashes: this nonce certainly fails
    assert_eq!(reject(&mut c, b).code(), "insufficient-pow");
}

#[test]
fn bad_height() {
    let mut c = chain();
    let mut b = c.build(vec![], 1_000);
    b.header.height += 1;
    if let Some(Transaction::Coinbase(cb)) = b.txs.first_mut() {
        cb.height += 1;
    }
    let b = reseal(b);
    assert_eq!(
        reject(&mut c, b),
        RejectReason::BadHeight {
            expected: 2,
            got: 3
        }
    );
}

#[test]
fn bad_difficulty() {
    let mut p = crate::genesis::ChainParams::dev().config().clone();
    p.initial_target = CompactTarget(0x20ff_0000);
    p.pow_limit = CompactTarget::MAX;
    let mut c = ChainBuilder::new(crate::genesis::ChainParams::from_config(p).unwrap());
    let mut b = c.build(vec![], 1_000);
    b.header.target = CompactTarget::MAX; // easier than the schedule allows
    let b = reseal(b);
    assert_eq!(
        reject(&mut c, b),
        RejectReason::BadDifficulty {
            expected: CompactTarget(0x20ff_0000),
            got: CompactTarget::MAX
        }
    );
}

#[test]
fn timestamp_not_after_median() {
    let mut c = chain();
    for _ in 0..12 {
        c.extend(vec![], 1_000);
    }
    let mtp = median_time_past(&c.context(0).recent_timestamps_ms);
    let mut b = c.build(vec![], 1_000);
    b.header.timestamp_ms = mtp;
    let b = reseal(b);
    assert_eq!(
        reject(&mut c, b),
        RejectReason::TimestampTooOld {
            timestamp_ms: mtp,
            median_ms: mtp
        }
    );
    // One millisecond later is fine even though it is before the parent.
    let mut b = c.build(vec![], 1_000);
    b.header.timestamp_ms = mtp + 1;
    let b = reseal(b);
    assert!(b.header.timestamp_ms < c.tip().header.timestamp_ms);
    c.connect(b).unwrap();
}

#[test]
fn timestamp_too_far_in_future_is_not_permanent() {
    let c = chain();
    let b = c.build(vec![], 1_000);
    let drift = c.params.max_future_drift_ms();
    let now = b.header.timestamp_ms - drift - 1;
    let err = validate_header_in_context(&b.header, &c.params, &c.context(now)).unwrap_err();
    assert_eq!(err.code(), "timestamp-too-far-in-future");
    assert!(!err.is_permanent());
    validate_header_in_context(&b.header, &c.params, &c.context(now + 1)).unwrap();
}

#[test]
fn block_too_large() {
    let mut cfg = easy_params().config().clone();
    cfg.max_block_bytes = 96 + 4 + 41 + 145; // room for one transfer only
    cfg.allocations.truncate(1); // and a genesis block that fits
    let mut c = ChainBuilder::new(crate::genesis::ChainParams::from_config(cfg).unwrap());
    let t0 = c.transfer(0, bob(), 1, 1);
    let t1 = c.transfer(0, bob(), 2, 1);
    let b = c.build(vec![t0.clone(), t1], 1_000);
    assert_eq!(
        reject(&mut c, b),
        RejectReason::BlockTooLarge {
            size: 96 + 4 + 41 + 290,
            max: 286
        }
    );
    let b = c.build(vec![t0], 1_000);
    c.connect(b).unwrap();
}

#[test]
fn coinbase_rules() {
    let mut c = chain();
    // None at all.
    let mut b = c.build(vec![], 1_000);
    b.txs.clear();
    assert_eq!(reject(&mut c, reseal(b)), RejectReason::MissingCoinbase);
    // Not first.
    let t = c.transfer(0, bob(), 5, 1);
    let mut b = c.build(vec![t], 1_000);
    b.txs.swap(0, 1);
    assert_eq!(reject(&mut c, reseal(b)), RejectReason::MissingCoinbase);
    // Two of them.
    let mut b = c.build(vec![], 1_000);
    let mut extra = b.txs[0].clone();
    if let Transaction::Coinbase(cb) = &mut extra {
        cb.amount = Amount(1);
    }
    b.txs.push(extra);
    assert_eq!(
        reject(&mut c, reseal(b)),
        RejectReason::ExtraCoinbase { index: 1 }
    );
    // Wrong height.
    let mut b = c.build(vec![], 1_000);
    if let Transaction::Coinbase(cb) = &mut b.txs[0] {
        cb.height = 99;
    }
    assert_eq!(
        reject(&mut c, reseal(b)),
        RejectReason::CoinbaseHeightMismatch {
            expected: 2,
            got: 99
        }
    );
}

#[test]
fn coinbase_must_pay_exactly_subsidy_plus_fees() {
    let mut c = chain();
    let t = c.transfer(0, bob(), 5, 7);
    let subsidy = c.params.subsidy(2);
    for delta in [-1i64, 1] {
        let mut b = c.build(vec![t.clone()], 1_000);
        let got = Amount((subsidy.0 as i64 + 7 + delta) as u64);
        if let Transaction::Coinbase(cb) = &mut b.txs[0] {
            cb.amount = got;
        }
        assert_eq!(
            reject(&mut c, reseal(b)),
            RejectReason::BadCoinbaseAmount {
                expected: Amount(subsidy.0 + 7),
                got
            }
        );
    }
}

#[test]
fn wrong_chain_id() {
    let mut c = chain();
    let key = &dev_keys()[0];
    let t = Transfer::new_signed(
        key,
        c.params.network_id(),
        1,
        bob(),
        Amount(5),
        Amount(1),
        0,
    );
    let b = c.build(vec![t.clone()], 1_000);
    assert_eq!(
        reject(&mut c, b),
        RejectReason::WrongChainId {
            index: 1,
            expected: 1337,
            got: 1
        }
    );
    assert_eq!(
        validate_transfer_stateless(&t, &c.params),
        Err(RejectReason::WrongChainId {
            index: 0,
            expected: 1337,
            got: 1
        })
    );
    // A coinbase for another network too.
    let mut b = c.build(vec![], 1_000);
    if let Transaction::Coinbase(Coinbase { chain_id, .. }) = &mut b.txs[0] {
        *chain_id = 7;
    }
    assert_eq!(reject(&mut c, reseal(b)).code(), "wrong-chain-id");
}

#[test]
fn bad_merkle_root() {
    let mut c = chain();
    let t = c.transfer(0, bob(), 5, 1);
    let mut b = c.build(vec![t], 1_000);
    b.txs.pop(); // header still commits to the transfer
    ChainBuilder::mine(&mut b);
    assert_eq!(reject(&mut c, b).code(), "bad-merkle-root");
}

#[test]
fn duplicate_tx() {
    let mut c = chain();
    let t = c.transfer(0, bob(), 5, 1);
    let b = c.build(vec![t.clone(), t.clone()], 1_000);
    assert_eq!(
        reject(&mut c, b),
        RejectReason::DuplicateTx { txid: t.id() }
    );
}

#[test]
fn amount_overflow() {
    let mut c = chain();
    let key = &dev_keys()[0];
    let t = Transfer::new_signed(
        key,
        c.params.network_id(),
        1337,
        bob(),
        Amount(u64::MAX),
        Amount(1),
        0,
    );
    let mut b = c.build(vec![], 1_000);
    b.txs.push(Transaction::Transfer(t));
    assert_eq!(
        reject(&mut c, reseal(b)),
        RejectReason::AmountOverflow { index: 1 }
    );
}

#[test]
fn signature_failures_name_the_transaction_and_rule() {
    let mut c = chain();
    let t0 = c.transfer(0, bob(), 5, 1);
    let mut t1 = c.transfer(1, bob(), 5, 1);
    t1.signature = Signature([0; 64]); // R encodes y = 0: a point of order 4
    let b = c.build(vec![t0.clone(), t1], 1_000);
    assert_eq!(
        reject(&mut c, b),
        RejectReason::BadSignature {
            index: 2,
            reason: SignatureError::SmallOrderR
        }
    );
    let mut t1 = c.transfer(1, bob(), 5, 1);
    t1.amount = Amount(6); // signed over 5
    let b = c.build(vec![t0, t1], 1_000);
    assert_eq!(
        reject(&mut c, b),
        RejectReason::BadSignature {
            index: 2,
            reason: SignatureError::Mismatch
        }
    );
}

#[test]
fn replayed_and_skipped_nonces() {
    let mut c = chain();
    let t = c.transfer(0, bob(), 5, 1);
    c.extend(vec![t.clone()], 1_000);
    // The same transfer again: its nonce is used up (and it would be a replay).
    let b = c.build(vec![t], 1_000);
    assert_eq!(
        reject(&mut c, b),
        RejectReason::BadNonce {
            index: 1,
            expected: 1,
            got: 0
        }
    );
    // A gap is refused as well.
    let key = &dev_keys()[0];
    let t = Transfer::new_signed(
        key,
        c.params.network_id(),
        1337,
        bob(),
        Amount(5),
        Amount(1),
        2,
    );
    let b = c.build(vec![t], 1_000);
    assert_eq!(
        reject(&mut c, b),
        RejectReason::BadNonce {
            index: 1,
            expected: 1,
            got: 2
        }
    );
    // Two in sequence in one block are fine.
    let t1 = c.transfer(0, bob(), 5, 1);
    let t2 = Transfer::new_signed(
        key,
        c.params.network_id(),
        1337,
        bob(),
        Amount(5),
        Amount(1),
        t1.nonce + 1,
    );
    c.extend(vec![t1, t2], 1_000);
}

#[test]
fn insufficient_funds() {
    let mut c = chain();
    let poor = SecretKey::from_seed(&[0x99; 32]);
    let t = Transfer::new_signed(
        &poor,
        c.params.network_id(),
        1337,
        bob(),
        Amount(1),
        Amount(0),
        0,
    );
    let b = c.build(vec![t], 1_000);
    assert_eq!(
        reject(&mut c, b),
        RejectReason::InsufficientFunds {
            index: 1,
            balance: Amount(0),
            needed: Amount(1)
        }
    );
    // Spending exactly the balance works; the fee counts.
    let balance = c.state.accounts[&dev_keys()[2].address()].balance.0;
    let t = c.transfer(2, bob(), balance - 10, 11);
    let b = c.build(vec![t], 1_000);
    assert_eq!(reject(&mut c, b).code(), "insufficient-funds");
    let t = c.transfer(2, bob(), balance - 10, 10);
    c.extend(vec![t], 1_000);
    assert_eq!(
        c.state.accounts[&dev_keys()[2].address()].balance,
        Amount(0)
    );
}

#[test]
fn every_code_is_distinct() {
    use std::collections::HashSet;
    let samples = [
        RejectReason::MissingCoinbase,
        RejectReason::UnsupportedVersion(0),
        RejectReason::ExtraCoinbase { index: 0 },
        RejectReason::AmountOverflow { index: 0 },
        RejectReason::AccountOverflow { index: 0 },
        RejectReason::Malformed(crate::encoding::DecodeError::TrailingBytes(1)),
    ];
    let codes: HashSet<_> = samples.iter().map(RejectReason::code).collect();
    assert_eq!(codes.len(), samples.len());
}

#[test]
fn empty_transfer() {
    let mut c = chain();
    let poor = SecretKey::from_seed(&[0x98; 32]);
    let t = Transfer::new_signed(
        &poor,
        c.params.network_id(),
        1337,
        bob(),
        Amount(0),
        Amount(0),
        0,
    );
    assert_eq!(
        validate_transfer_stateless(&t, &c.params),
        Err(RejectReason::EmptyTransfer { index: 0 })
    );
    let b = c.build(vec![t], 1_000);
    assert_eq!(reject(&mut c, b), RejectReason::EmptyTransfer { index: 1 });
}

#[test]
fn a_body_that_does_not_match_its_header_does_not_condemn_the_id() {
    let c = chain();
    let t = c.transfer(0, bob(), 5, 1);
    let good = c.build(vec![t], 1_000);
    let mut bad = good.clone();
    bad.txs.pop();
    let err = validate_body(&bad, &c.params).unwrap_err();
    assert_eq!(err.code(), "bad-merkle-root");
    assert!(!err.is_permanent());
    assert_eq!(bad.id(), good.id());
    validate_body(&good, &c.params).unwrap();
}

#[test]
fn unknown_parent() {
    let mut c = chain();
    let mut b = c.build(vec![], 1_000);
    b.header.prev = crate::hash::Hash::digest(b"nowhere");
    let b = reseal(b);
    let err = reject(&mut c, b);
    assert_eq!(err.code(), "unknown-parent");
    assert!(!err.is_permanent());
}

/// A copy of a network's genesis.json with the same chain id and one rule changed
/// keeps the genesis id (the rule is not in the genesis block), so only the network
/// id tells the two apart: a transfer signed for one must fail the signature check
/// on the other, alone (mempool) and in a block (batch verification).
#[test]
fn a_transfer_signed_for_another_network_with_the_same_chain_id_is_refused() {
    let a = chain();
    let mut cfg = a.params.config().clone();
    cfg.max_future_drift_ms += 1;
    let b = crate::genesis::ChainParams::from_config(cfg).unwrap();
    assert_eq!(b.chain_id(), a.params.chain_id());
    assert_eq!(b.genesis_id(), a.params.genesis_id());

    let t = a.transfer(0, bob(), 5, 1);
    validate_transfer_stateless(&t, &a.params).unwrap();
    assert_eq!(
        validate_transfer_stateless(&t, &b),
        Err(RejectReason::BadSignature {
            index: 0,
            reason: SignatureError::Mismatch
        })
    );
    let block = a.build(vec![t], 1_000);
    validate_body(&block, &a.params).unwrap();
    assert_eq!(
        validate_body(&block, &b),
        Err(RejectReason::BadSignature {
            index: 1,
            reason: SignatureError::Mismatch
        })
    );
}
