//! The account state transition: apply a block to a view of the accounts, producing the
//! writes and an undo record that restores the prior state exactly.
//!
//! Order of effects inside a block at height `h`: first the coinbase of block
//! `h - coinbase_maturity` matures (its outputs are credited), then the transfers in
//! block order (each checks the sender's nonce and balance against the state left by
//! the transfers before it), then the block's own coinbase, which must pay exactly
//! `subsidy(h) + Σ fees` and is credited only when it matures (at once with a maturity
//! of 0). Coins are never created or destroyed except by the coinbase, so after block
//! `h` the sum of all balances plus what the immature coinbases pay is
//! `params.supply_at(h)`.
//!
//! Maturity in an account model: a reward is not a balance until it matures, so no
//! transfer can spend it early, and a reorganisation that removes a block removes a
//! reward nobody has spent. The credit of a maturing coinbase is part of the maturing
//! block's own writes and undo record, so disconnecting that block takes it back
//! exactly.

use std::collections::BTreeMap;
use std::convert::Infallible;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::address::{ADDRESS_LEN, Address};
use crate::amount::Amount;
use crate::block::Block;
use crate::encoding::{Decode, DecodeError, Encode, Reader, put_count};
use crate::genesis::ChainParams;
use crate::tx::{Coinbase, Transaction};
use crate::validation::RejectReason;

/// An account: its balance and how many transfers it has sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    /// Spendable coins.
    pub balance: Amount,
    /// The nonce its next transfer must carry.
    pub nonce: u64,
}

/// Read access to account state (the node's RocksDB store, or [`MemoryState`]).
pub trait AccountView {
    /// Why a read failed (I/O, corruption).
    type Error;

    /// The account at `address`, or `None` if it has never been touched.
    fn account(&self, address: &Address) -> Result<Option<Account>, Self::Error>;
}

/// Why a block could not be applied.
#[derive(Debug, Error)]
pub enum ApplyError<E> {
    /// The block breaks a state rule.
    #[error(transparent)]
    Reject(#[from] RejectReason),
    /// The caller did not pass the coinbase that matures at this block (a fault of the
    /// caller's store, not of the block).
    #[error("the coinbase of block {height}, which matures now, was not given")]
    MaturedMissing {
        /// The height whose coinbase matures.
        height: u64,
    },
    /// The state could not be read.
    #[error("state read failed: {0}")]
    View(E),
}

/// Restores the accounts a block touched: each with its value before the block (`None`:
/// it did not exist and must be deleted). Sorted by address.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UndoRecord {
    /// `(address, account before the block)`.
    pub entries: Vec<(Address, Option<Account>)>,
}

/// The outcome of applying a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockEffect {
    /// New values of every touched account, sorted by address.
    pub writes: Vec<(Address, Account)>,
    /// How to undo them.
    pub undo: UndoRecord,
    /// The fees the block's transfers paid.
    pub fees: Amount,
}

/// Tracks accounts touched by a block over a read-only view.
struct Overlay<'v, V: AccountView> {
    view: &'v V,
    touched: BTreeMap<Address, (Option<Account>, Account)>,
}

impl<'v, V: AccountView> Overlay<'v, V> {
    fn get(&mut self, a: &Address) -> Result<Account, V::Error> {
        if let Some((_, cur)) = self.touched.get(a) {
            return Ok(*cur);
        }
        let before = self.view.account(a)?;
        self.touched
            .insert(*a, (before, before.unwrap_or_default()));
        Ok(before.unwrap_or_default())
    }

    fn set(&mut self, a: &Address, acc: Account) {
        if let Some(entry) = self.touched.get_mut(a) {
            entry.1 = acc;
        }
    }

    fn credit(&mut self, a: &Address, amount: Amount) -> Result<Option<()>, V::Error> {
        let mut acc = self.get(a)?;
        let Some(balance) = acc.balance.checked_add(amount) else {
            return Ok(None);
        };
        acc.balance = balance;
        self.set(a, acc);
        Ok(Some(()))
    }
}

/// The sender's nonce is the one the account expects.
#[derive(Debug)]
pub struct NonceCheck;

impl NonceCheck {
    /// Rejects with [`RejectReason::BadNonce`].
    pub fn verify(index: usize, account: &Account, nonce: u64) -> Result<(), RejectReason> {
        if nonce == account.nonce {
            Ok(())
        } else {
            Err(RejectReason::BadNonce {
                index,
                expected: account.nonce,
                got: nonce,
            })
        }
    }
}

/// The sender can pay amount plus fee.
#[derive(Debug)]
pub struct BalanceCheck;

impl BalanceCheck {
    /// Returns the balance left, or rejects with [`RejectReason::InsufficientFunds`].
    pub fn verify(index: usize, account: &Account, needed: Amount) -> Result<Amount, RejectReason> {
        account
            .balance
            .checked_sub(needed)
            .ok_or(RejectReason::InsufficientFunds {
                index,
                balance: account.balance,
                needed,
            })
    }
}

/// The coinbase pays exactly subsidy plus fees.
#[derive(Debug)]
pub struct CoinbaseAmountCheck;

impl CoinbaseAmountCheck {
    /// Rejects with [`RejectReason::BadCoinbaseAmount`].
    pub fn verify(expected: Amount, got: Amount) -> Result<(), RejectReason> {
        if expected == got {
            Ok(())
        } else {
            Err(RejectReason::BadCoinbaseAmount { expected, got })
        }
    }
}

/// Applies a block (height ≥ 1) that already passed the header and body rules. Nothing
/// is written: the caller stores `writes` and `undo` together, atomically.
///
/// `matured` is the coinbase of the block at [`ChainParams::maturing_height`] on this
/// block's chain, when that is an earlier block (with a maturity of 0 the block's own
/// coinbase matures, and `matured` is ignored).
pub fn apply_block<V: AccountView>(
    view: &V,
    block: &Block,
    params: &ChainParams,
    matured: Option<&Coinbase>,
) -> Result<BlockEffect, ApplyError<V::Error>> {
    let mut o = Overlay {
        view,
        touched: BTreeMap::new(),
    };
    let mut fees = Amount::ZERO;
    let Some(Transaction::Coinbase(coinbase)) = block.txs.first() else {
        return Err(RejectReason::MissingCoinbase.into());
    };
    let height = block.header.height;
    let immediate = params.coinbase_maturity() == 0;
    if let Some(h) = params.maturing_height(height).filter(|_| !immediate) {
        let cb = matured
            .filter(|cb| cb.height == h)
            .ok_or(ApplyError::MaturedMissing { height: h })?;
        for out in &cb.outputs {
            o.credit(&out.recipient, out.amount)
                .map_err(ApplyError::View)?
                .ok_or(RejectReason::AccountOverflow { index: 0 })?;
        }
    }
    for (index, tx) in block.txs.iter().enumerate().skip(1) {
        let Transaction::Transfer(t) = tx else {
            return Err(RejectReason::ExtraCoinbase { index }.into());
        };
        let sender = t.sender_address();
        let mut acc = o.get(&sender).map_err(ApplyError::View)?;
        NonceCheck::verify(index, &acc, t.nonce)?;
        let needed = t
            .total_debit()
            .ok_or(RejectReason::AmountOverflow { index })?;
        acc.balance = BalanceCheck::verify(index, &acc, needed)?;
        acc.nonce = acc
            .nonce
            .checked_add(1)
            .ok_or(RejectReason::AccountOverflow { index })?;
        o.set(&sender, acc);
        o.credit(&t.recipient, t.amount)
            .map_err(ApplyError::View)?
            .ok_or(RejectReason::AccountOverflow { index })?;
        fees = fees
            .checked_add(t.fee)
            .ok_or(RejectReason::AccountOverflow { index })?;
    }
    let expected = params
        .subsidy(height)
        .checked_add(fees)
        .ok_or(RejectReason::AccountOverflow { index: 0 })?;
    let total = coinbase.total().ok_or(RejectReason::CoinbaseOverflow)?;
    CoinbaseAmountCheck::verify(expected, total)?;
    if immediate {
        for out in &coinbase.outputs {
            o.credit(&out.recipient, out.amount)
                .map_err(ApplyError::View)?
                .ok_or(RejectReason::AccountOverflow { index: 0 })?;
        }
    }

    let mut writes = Vec::with_capacity(o.touched.len());
    let mut entries = Vec::with_capacity(o.touched.len());
    for (addr, (before, after)) in o.touched {
        writes.push((addr, after));
        entries.push((addr, before));
    }
    Ok(BlockEffect {
        writes,
        undo: UndoRecord { entries },
        fees,
    })
}

/// The accounts the genesis block creates (its allocations), sorted by address.
pub fn genesis_writes(params: &ChainParams) -> Vec<(Address, Account)> {
    let mut map = BTreeMap::new();
    for a in &params.config().allocations {
        map.insert(
            a.address,
            Account {
                balance: a.amount,
                nonce: 0,
            },
        );
    }
    map.into_iter().collect()
}

/// The heights whose coinbases are still immature once the block at `tip` is
/// connected: their payments are not spendable yet.
pub fn immature_heights(params: &ChainParams, tip: u64) -> std::ops::RangeInclusive<u64> {
    match params.coinbase_maturity() {
        // Nothing is ever immature: an empty range.
        0 => std::ops::RangeInclusive::new(1, 0),
        m => tip.saturating_sub(m - 1).max(1)..=tip,
    }
}

/// A simple in-memory account map. A test double and a reference model for the node's
/// store, and handy for tools; not how a node keeps state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemoryState {
    /// All accounts.
    pub accounts: BTreeMap<Address, Account>,
    /// The coinbase of every applied block, by height (what matures later).
    pub coinbases: BTreeMap<u64, Coinbase>,
}

impl MemoryState {
    /// State right after genesis.
    pub fn genesis(params: &ChainParams) -> MemoryState {
        MemoryState {
            accounts: genesis_writes(params).into_iter().collect(),
            coinbases: BTreeMap::new(),
        }
    }

    /// Stores a block's writes.
    pub fn write(&mut self, writes: &[(Address, Account)]) {
        for (a, acc) in writes {
            self.accounts.insert(*a, *acc);
        }
    }

    /// Applies the undo record of the block at `height`, the last one applied.
    pub fn undo(&mut self, height: u64, undo: &UndoRecord) {
        self.coinbases.remove(&height);
        for (a, before) in &undo.entries {
            match before {
                Some(acc) => self.accounts.insert(*a, *acc),
                None => self.accounts.remove(a),
            };
        }
    }

    /// Validates (state rules only) and applies a block, returning its undo record.
    pub fn apply(
        &mut self,
        block: &Block,
        params: &ChainParams,
    ) -> Result<UndoRecord, RejectReason> {
        let height = block.header.height;
        let matured = params
            .maturing_height(height)
            .and_then(|h| self.coinbases.get(&h));
        let effect = match apply_block(self, block, params, matured) {
            Ok(effect) => effect,
            Err(ApplyError::Reject(r)) => return Err(r),
            Err(ApplyError::View(never)) => match never {},
            // A model that applied every block since genesis holds every coinbase; a
            // state built by hand without them cannot apply this block.
            Err(ApplyError::MaturedMissing { height }) => {
                panic!("MemoryState has no coinbase at height {height} to mature")
            }
        };
        self.write(&effect.writes);
        if let Some(Transaction::Coinbase(cb)) = block.txs.first() {
            self.coinbases.insert(height, cb.clone());
        }
        Ok(effect.undo)
    }

    /// The sum of all balances (u128: cannot overflow).
    pub fn total_balance(&self) -> u128 {
        self.accounts.values().map(|a| a.balance.0 as u128).sum()
    }

    /// What the immature coinbases pay in all, once the block at `tip` is applied.
    pub fn total_immature(&self, params: &ChainParams, tip: u64) -> u128 {
        immature_heights(params, tip)
            .filter_map(|h| self.coinbases.get(&h))
            .flat_map(|cb| &cb.outputs)
            .map(|o| o.amount.0 as u128)
            .sum()
    }

    /// What the immature coinbases pay `address`, once the block at `tip` is applied.
    pub fn immature(&self, params: &ChainParams, tip: u64, address: &Address) -> Amount {
        Amount(
            immature_heights(params, tip)
                .filter_map(|h| self.coinbases.get(&h))
                .map(|cb| cb.paid_to(address).0)
                .sum(),
        )
    }
}

impl AccountView for MemoryState {
    type Error = Infallible;

    fn account(&self, address: &Address) -> Result<Option<Account>, Infallible> {
        Ok(self.accounts.get(address).copied())
    }
}

/// Encoded length of an [`Account`].
pub const ACCOUNT_LEN: usize = 16;

impl Encode for Account {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.balance.encode_to(out);
        out.extend_from_slice(&self.nonce.to_le_bytes());
    }
    fn encoded_len(&self) -> usize {
        ACCOUNT_LEN
    }
}

impl Decode for Account {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Account {
            balance: Amount::decode_from(r)?,
            nonce: r.u64()?,
        })
    }
}

/// Undo record layout: `count u32 | (address [20] | 0x00 | …or… 0x01 account [16])*`.
impl Encode for UndoRecord {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_count(out, self.entries.len());
        for (a, before) in &self.entries {
            a.encode_to(out);
            match before {
                None => out.push(0),
                Some(acc) => {
                    out.push(1);
                    acc.encode_to(out);
                }
            }
        }
    }
    fn encoded_len(&self) -> usize {
        4 + self
            .entries
            .iter()
            .map(|(_, b)| ADDRESS_LEN + 1 + if b.is_some() { ACCOUNT_LEN } else { 0 })
            .sum::<usize>()
    }
}

impl Decode for UndoRecord {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let n = r.count(usize::MAX, ADDRESS_LEN + 1)?;
        let mut entries = Vec::with_capacity(n);
        for _ in 0..n {
            let a = Address::decode_from(r)?;
            let before = match r.u8()? {
                0 => None,
                1 => Some(Account::decode_from(r)?),
                tag => {
                    return Err(DecodeError::UnknownTag {
                        what: "undo entry",
                        tag,
                    });
                }
            };
            if entries
                .last()
                .is_some_and(|(prev, _): &(Address, _)| *prev >= a)
            {
                return Err(DecodeError::NonCanonical("undo record order"));
            }
            entries.push((a, before));
        }
        Ok(UndoRecord { entries })
    }
}
