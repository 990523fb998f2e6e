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
    cfg.max_block_bytes = 96 + 4 + 45 + 145; // room for one transfer only
    cfg.max_coinbase_outputs = 1;
    cfg.allocations.truncate(1); // and a genesis block that fits
    let mut c = ChainBuilder::new(crate::genesis::ChainParams::from_config(cfg).unwrap());
    let t0 = c.transfer(0, bob(), 1, 1);
    let t1 = c.transfer(0, bob(), 2, 1);
    let b = c.build(vec![t0.clone(), t1], 1_000);
    assert_eq!(
        reject(&mut c, b),
        RejectReason::BlockTooLarge {
            size: 96 + 4 + 45 + 290,
            max: 290
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
        cb.outputs[0].amount = Amount(1);
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
            cb.outputs[0].amount = got;
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

/// Outputs of a coinbase: at most the network's number, distinct recipients, none
/// zero unless it is the only one, a sum that fits `u64`; and the sum (not any one
/// output) must be subsidy plus fees.
#[test]
fn coinbase_output_rules() {
    let mut c = chain();
    let payees: Vec<_> = (0..3u8)
        .map(|i| SecretKey::from_seed(&[i + 1; 32]).address())
        .collect();
    // A split between three recipients is fine.
    let b = c.build_paying(vec![], 1_000, &payees);
    let mut fine = c.clone();
    fine.connect(b).unwrap();
    assert!(fine.supply_is_conserved());
    // More outputs than the network allows.
    let mut p = easy_params().config().clone();
    p.max_coinbase_outputs = 2;
    let mut small = ChainBuilder::new(crate::genesis::ChainParams::from_config(p).unwrap());
    let b = small.build_paying(vec![], 1_000, &payees);
    assert_eq!(
        reject(&mut small, b),
        RejectReason::TooManyCoinbaseOutputs { count: 3, max: 2 }
    );
    // The same recipient twice.
    let mut b = c.build_paying(vec![], 1_000, &payees);
    if let Transaction::Coinbase(cb) = &mut b.txs[0] {
        cb.outputs[2].recipient = payees[0];
    }
    assert_eq!(
        reject(&mut c, reseal(b)),
        RejectReason::DuplicateCoinbaseRecipient {
            recipient: payees[0]
        }
    );
    // A zero output beside others (moved to the first, so the sum is right).
    let mut b = c.build_paying(vec![], 1_000, &payees);
    if let Transaction::Coinbase(cb) = &mut b.txs[0] {
        let moved = cb.outputs[1].amount;
        cb.outputs[0].amount = Amount(cb.outputs[0].amount.0 + moved.0);
        cb.outputs[1].amount = Amount::ZERO;
    }
    assert_eq!(
        reject(&mut c, reseal(b)),
        RejectReason::ZeroCoinbaseOutput { output: 1 }
    );
    // A sum past u64.
    let mut b = c.build_paying(vec![], 1_000, &payees);
    if let Transaction::Coinbase(cb) = &mut b.txs[0] {
        cb.outputs[0].amount = Amount(u64::MAX);
    }
    assert_eq!(reject(&mut c, reseal(b)), RejectReason::CoinbaseOverflow);
    // A sum one short.
    let mut b = c.build_paying(vec![], 1_000, &payees);
    if let Transaction::Coinbase(cb) = &mut b.txs[0] {
        cb.outputs[2].amount = Amount(cb.outputs[2].amount.0 - 1);
    }
    let subsidy = c.params.subsidy(2);
    assert_eq!(
        reject(&mut c, reseal(b)),
        RejectReason::BadCoinbaseAmount {
            expected: subsidy,
            got: Amount(subsidy.0 - 1)
        }
    );
}

/// The single zero output is valid only where there is nothing to pay: once the
/// subsidy has halved away and no transfer pays a fee.
#[test]
fn a_single_zero_output_pays_an_empty_reward() {
    let mut p = easy_params().config().clone();
    p.initial_subsidy = Amount(1);
    p.halving_interval = 1; // subsidy 0 from height 1 on
    let mut c = ChainBuilder::new(crate::genesis::ChainParams::from_config(p).unwrap());
    c.extend(vec![], 1_000);
    let block = c.tip();
    let Transaction::Coinbase(cb) = &block.txs[0] else {
        panic!("coinbase first");
    };
    assert_eq!(cb.outputs.len(), 1);
    assert_eq!(cb.outputs[0].amount, Amount::ZERO);
    assert!(c.supply_is_conserved());
}

/// A reward is spendable `coinbase_maturity` blocks after its own: one block earlier
/// the spend is refused for want of funds; disconnecting the maturing block takes the
/// credit (and the spend built on it) back exactly.
#[test]
fn rewards_mature_after_coinbase_maturity_blocks() {
    let m = easy_params().coinbase_maturity();
    assert!(m >= 2, "the test needs a maturity of a few blocks");
    let mut c = chain();
    let miner = SecretKey::from_seed(&[0x5e; 32]);
    c.miner = miner.address();
    c.extend(vec![], 1_000); // height 2 pays the miner
    let reward = c.params.subsidy(2);
    c.miner = bob();
    let spend = |c: &ChainBuilder| {
        let nonce = c
            .state
            .accounts
            .get(&miner.address())
            .map_or(0, |a| a.nonce);
        Transfer::new_signed(
            &miner,
            c.params.network_id(),
            c.params.chain_id(),
            bob(),
            Amount(reward.0 - 10),
            Amount(10),
            nonce,
        )
    };
    // Up to block 2 + m - 2: the next block, 2 + m - 1, is the last before maturity.
    while c.tip().header.height < 2 + m - 2 {
        assert_eq!(
            c.state
                .immature(&c.params, c.tip().header.height, &miner.address()),
            reward
        );
        c.extend(vec![], 1_000);
    }
    // Block 2 + m - 1: still immature, so the spend is refused.
    let early = c.build(vec![spend(&c)], 1_000);
    assert_eq!(
        reject(&mut c, early),
        RejectReason::InsufficientFunds {
            index: 1,
            balance: Amount::ZERO,
            needed: reward
        }
    );
    assert!(!c.state.accounts.contains_key(&miner.address()));
    c.extend(vec![], 1_000); // block 2 + m - 1, without the spend
    // Block 2 + m matures it: the same spend now connects in it.
    let before = c.state.clone();
    let on_time = c.build(vec![spend(&c)], 1_000);
    c.connect(on_time).unwrap();
    assert_eq!(
        c.state
            .immature(&c.params, c.tip().header.height, &miner.address()),
        Amount::ZERO
    );
    assert_eq!(c.state.accounts[&miner.address()].nonce, 1);
    assert!(c.supply_is_conserved());
    // A reorganisation past the maturing block leaves no spend of a vanished credit.
    c.disconnect();
    assert_eq!(c.state, before);
    assert!(!c.state.accounts.contains_key(&miner.address()));
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
