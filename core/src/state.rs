//! The account state transition: apply a block to a view of the accounts, producing the
//! writes and an undo record that restores the prior state exactly.
//!
//! Order of effects inside a block: transfers in block order (each checks the sender's
//! nonce and balance against the state left by the transfers before it), then the
//! coinbase, which must pay exactly `subsidy(height) + Σ fees`. Coins are never created
//! or destroyed except by the coinbase, so after block `h` the sum of all balances is
//! `params.supply_at(h)`.

use std::collections::BTreeMap;
use std::convert::Infallible;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::address::{ADDRESS_LEN, Address};
use crate::amount::Amount;
use crate::block::Block;
use crate::encoding::{Decode, DecodeError, Encode, Reader, put_count};
use crate::genesis::ChainParams;
use crate::tx::Transaction;
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
pub fn apply_block<V: AccountView>(
    view: &V,
    block: &Block,
    params: &ChainParams,
) -> Result<BlockEffect, ApplyError<V::Error>> {
    let mut o = Overlay {
        view,
        touched: BTreeMap::new(),
    };
    let mut fees = Amount::ZERO;
    let Some(Transaction::Coinbase(coinbase)) = block.txs.first() else {
        return Err(RejectReason::MissingCoinbase.into());
    };
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
        .subsidy(block.header.height)
        .checked_add(fees)
        .ok_or(RejectReason::AccountOverflow { index: 0 })?;
    CoinbaseAmountCheck::verify(expected, coinbase.amount)?;
    o.credit(&coinbase.recipient, coinbase.amount)
        .map_err(ApplyError::View)?
        .ok_or(RejectReason::AccountOverflow { index: 0 })?;

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

/// A simple in-memory account map. A test double and a reference model for the node's
/// store, and handy for tools; not how a node keeps state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemoryState {
    /// All accounts.
    pub accounts: BTreeMap<Address, Account>,
}

impl MemoryState {
    /// State right after genesis.
    pub fn genesis(params: &ChainParams) -> MemoryState {
        MemoryState {
            accounts: genesis_writes(params).into_iter().collect(),
        }
    }

    /// Stores a block's writes.
    pub fn write(&mut self, writes: &[(Address, Account)]) {
        for (a, acc) in writes {
            self.accounts.insert(*a, *acc);
        }
    }

    /// Applies an undo record.
    pub fn undo(&mut self, undo: &UndoRecord) {
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
        let effect = apply_block(self, block, params).map_err(|e| match e {
            ApplyError::Reject(r) => r,
            ApplyError::View(never) => match never {},
        })?;
        self.write(&effect.writes);
        Ok(effect.undo)
    }

    /// The sum of all balances (u128: cannot overflow).
    pub fn total_balance(&self) -> u128 {
        self.accounts.values().map(|a| a.balance.0 as u128).sum()
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
