//! The mempool: signed transfers waiting for a block.
//!
//! Per sender, pending transfers form a gapless queue starting at the account's
//! confirmed nonce, so every prefix of every queue is valid on top of the tip. Across
//! senders, block templates and eviction go by fee (every transfer has the same size,
//! so fee is fee rate). A transfer with the same sender and nonce as a pending one
//! replaces it only if it pays at least [`MempoolConfig::rbf_bump_percent`] more.
//!
//! Everything here runs under the node's lock, so no step may cost in proportion to the
//! number of senders: a full pool refuses a transfer that cannot beat the cheapest queue
//! tail before reading any account (the tails are kept in their own ordered index), and
//! a tip change re-checks only the senders whose accounts its blocks changed, plus
//! what expired (found through an index by arrival time).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};

use cairn_core::tx::TRANSFER_LEN;
use cairn_core::validation::{RejectReason, validate_transfer_stateless};
use cairn_core::{
    Account, AccountView, Address, Amount, Block, ChainParams, Transaction, Transfer, TxId,
};

use crate::chain::TipChange;
use crate::store::StoreError;

/// Mempool policy (not consensus).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MempoolConfig {
    /// Most bytes of transfers held.
    pub max_bytes: usize,
    /// Smallest fee accepted, base units.
    pub min_fee: Amount,
    /// A replacement must pay this many percent more than the transfer it replaces (and
    /// at least `min_fee` more).
    pub rbf_bump_percent: u64,
    /// Transfers older than this are dropped.
    pub expiry_ms: u64,
}

impl Default for MempoolConfig {
    /// The settable parts at `[mempool]`'s defaults (defined once, in
    /// `config/sections.rs`), the rest at the policy's own.
    fn default() -> Self {
        let settings = crate::config::MempoolSettings::default();
        MempoolConfig {
            max_bytes: settings.max_mb.saturating_mul(1024 * 1024),
            min_fee: Amount(settings.min_fee),
            rbf_bump_percent: 10,
            expiry_ms: 24 * 3600 * 1000,
        }
    }
}

/// Why a transfer was not admitted.
#[derive(Debug, thiserror::Error)]
pub enum MempoolError {
    /// It breaks a consensus rule on its own (chain id, amounts, signature).
    #[error("invalid transaction: {0}")]
    Invalid(#[from] RejectReason),
    /// Already pending.
    #[error("transaction {0} is already in the mempool")]
    AlreadyKnown(TxId),
    /// The fee is below the node's minimum.
    #[error("fee {got} is below the minimum {min}")]
    FeeTooLow {
        /// Minimum fee.
        min: Amount,
        /// Offered fee.
        got: Amount,
    },
    /// The nonce was used already.
    #[error("nonce {got} is too low: the account's next nonce is {expected}")]
    NonceTooLow {
        /// Next confirmed nonce.
        expected: u64,
        /// Offered nonce.
        got: u64,
    },
    /// The nonce leaves a gap after the sender's pending transfers.
    #[error("nonce {got} is too high: the next one must be {expected}")]
    NonceGap {
        /// Next nonce after the pending queue.
        expected: u64,
        /// Offered nonce.
        got: u64,
    },
    /// The sender cannot pay this on top of its pending transfers.
    #[error(
        "insufficient funds: balance {balance}, pending plus this transfer need {needed}{}",
        immature_note(*.immature)
    )]
    InsufficientFunds {
        /// Confirmed balance.
        balance: Amount,
        /// Total debits with this transfer.
        needed: Amount,
        /// Mined rewards of the sender that are not spendable yet (filled in by the
        /// node for its own users; zero from the pool itself).
        immature: Amount,
    },
    /// A replacement that does not pay enough more.
    #[error("replacement fee {got} is too low: must be at least {min} to replace {replaced}")]
    ReplacementFeeTooLow {
        /// Transfer it would replace.
        replaced: TxId,
        /// Smallest acceptable fee.
        min: Amount,
        /// Offered fee.
        got: Amount,
    },
    /// Full, and this transfer pays no more than the cheapest one that could go.
    #[error("mempool is full: fee must be above {min}")]
    Full {
        /// Fee to beat.
        min: Amount,
    },
    /// Reading account state failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Pending effect of the mempool on one address ([`Mempool::pending_for`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PendingSummary {
    /// Amounts plus fees it sends.
    pub debits: u64,
    /// Amounts it receives.
    pub credits: u64,
    /// Transfers it sends.
    pub count: u64,
}

#[derive(Debug, Clone)]
struct Entry {
    tx: Transfer,
    sender: Address,
    added_ms: u64,
    seq: u64,
}

/// One sender's pending transfers: gapless, in nonce order, from its confirmed nonce.
#[derive(Debug, Default)]
struct Queue {
    /// The nonce of `ids[0]`.
    first: u64,
    ids: Vec<TxId>,
    /// The sum of their amounts plus fees (kept in step, so admitting a transfer is
    /// O(log n), not O(queue)).
    debit: u128,
}

impl Queue {
    /// The nonce its next transfer must carry.
    fn next(&self) -> u64 {
        self.first + self.ids.len() as u64
    }

    /// The index of `nonce`, if pending.
    fn index(&self, nonce: u64) -> Option<usize> {
        let i = usize::try_from(nonce.checked_sub(self.first)?).ok()?;
        (i < self.ids.len()).then_some(i)
    }
}

/// The mempool.
#[derive(Debug)]
pub struct Mempool {
    config: MempoolConfig,
    params: ChainParams,
    entries: HashMap<TxId, Entry>,
    by_sender: HashMap<Address, Queue>,
    /// Per recipient, the sum of pending amounts it receives.
    credits: HashMap<Address, u128>,
    /// `(fee, newest first, id)` of every pending transfer.
    by_fee: BTreeSet<FeeKey>,
    /// The same keys, with the sender, for each sender's last pending transfer only:
    /// the only ones that may be evicted, the first the first to go.
    tails: BTreeMap<FeeKey, Address>,
    /// `(arrival time, seq, id)`: the first element is the first to expire.
    by_arrival: BTreeSet<(u64, u64, TxId)>,
    seq: u64,
}

type FeeKey = (Amount, Reverse<u64>, TxId);

/// A transfer to admit again after a tip change: it, its id, its arrival time and its
/// first-seen position (none for one taken back from a disconnected block).
type Readmit = (Transfer, TxId, u64, Option<u64>);

fn fee_key(e: &Entry, id: TxId) -> FeeKey {
    (e.tx.fee, Reverse(e.seq), id)
}

fn debit(t: &Transfer) -> u128 {
    t.total_debit()
        .map_or(u128::from(u64::MAX), |a| u128::from(a.0))
}

impl Mempool {
    /// An empty mempool.
    pub fn new(params: ChainParams, config: MempoolConfig) -> Mempool {
        Mempool {
            config,
            params,
            entries: HashMap::new(),
            by_sender: HashMap::new(),
            credits: HashMap::new(),
            by_fee: BTreeSet::new(),
            tails: BTreeMap::new(),
            by_arrival: BTreeSet::new(),
            seq: 0,
        }
    }

    /// Its policy.
    pub fn config(&self) -> &MempoolConfig {
        &self.config
    }

    /// Number of pending transfers.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none are pending.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes of pending transfers.
    pub fn bytes(&self) -> usize {
        self.entries.len() * TRANSFER_LEN
    }

    /// The ids of every pending transfer (in no order).
    pub fn ids(&self) -> impl Iterator<Item = &TxId> {
        self.entries.keys()
    }

    /// Whether transfer `id` is pending.
    pub fn contains(&self, id: &TxId) -> bool {
        self.entries.contains_key(id)
    }

    /// A pending transfer.
    pub fn get(&self, id: &TxId) -> Option<&Transfer> {
        self.entries.get(id).map(|e| &e.tx)
    }

    /// The sender's next nonce counting pending transfers, given its confirmed nonce.
    pub fn next_nonce(&self, sender: &Address, confirmed: u64) -> u64 {
        confirmed + self.by_sender.get(sender).map_or(0, |q| q.ids.len() as u64)
    }

    /// What pending transfers do to `address`: what it sends (amounts plus fees),
    /// what it receives, and how many transfers it sends.
    pub fn pending_for(&self, address: &Address) -> PendingSummary {
        let clamp = |x: u128| u64::try_from(x).unwrap_or(u64::MAX);
        PendingSummary {
            debits: clamp(self.by_sender.get(address).map_or(0, |q| q.debit)),
            credits: clamp(self.credits.get(address).copied().unwrap_or(0)),
            count: self
                .by_sender
                .get(address)
                .map_or(0, |q| q.ids.len() as u64),
        }
    }

    /// Admits a transfer checked against the confirmed state `view`, at time `now_ms`.
    pub fn add<V>(&mut self, tx: Transfer, view: &V, now_ms: u64) -> Result<TxId, MempoolError>
    where
        V: AccountView,
        V::Error: Into<StoreError>,
    {
        validate_transfer_stateless(&tx, &self.params)?;
        self.add_verified(tx, view, now_ms, None)
    }

    /// [`Mempool::add`] for a transfer whose stateless rules (signature included) the
    /// caller has already checked with `validate_transfer_stateless` (so the
    /// signature can be verified without holding the node's lock).
    pub fn add_prevalidated<V>(
        &mut self,
        tx: Transfer,
        view: &V,
        now_ms: u64,
    ) -> Result<TxId, MempoolError>
    where
        V: AccountView,
        V::Error: Into<StoreError>,
    {
        self.add_verified(tx, view, now_ms, None)
    }

    /// [`Mempool::add`] for a transfer whose stateless rules (signature included) were
    /// already checked, e.g. one taken out of a disconnected block.
    /// `seq` keeps a re-admitted transfer's first-seen position.
    fn add_verified<V>(
        &mut self,
        tx: Transfer,
        view: &V,
        added_ms: u64,
        seq: Option<u64>,
    ) -> Result<TxId, MempoolError>
    where
        V: AccountView,
        V::Error: Into<StoreError>,
    {
        let id = tx.id();
        let sender = tx.sender_address();
        self.check_unread(&tx, &id, &sender)?;
        let account = view
            .account(&sender)
            .map_err(Into::into)?
            .unwrap_or_default();
        self.admit(tx, id, sender, account, added_ms, seq)
    }

    /// The checks that need no account read, cheapest first: a flood of transfers that
    /// cannot get in costs no store read and no scan.
    fn check_unread(&self, tx: &Transfer, id: &TxId, sender: &Address) -> Result<(), MempoolError> {
        if self.entries.contains_key(id) {
            return Err(MempoolError::AlreadyKnown(*id));
        }
        if tx.fee < self.config.min_fee {
            return Err(MempoolError::FeeTooLow {
                min: self.config.min_fee,
                got: tx.fee,
            });
        }
        // A replacement takes its predecessor's room; anything else needs a tail to
        // evict once the pool is full.
        let replaces = self
            .by_sender
            .get(sender)
            .is_some_and(|q| q.index(tx.nonce).is_some());
        if !replaces && self.is_full() {
            match self.cheapest_other_tail(sender) {
                Some(((fee, _, _), _)) if fee < tx.fee => {}
                other => {
                    let min = other.map_or(self.config.min_fee, |((f, _, _), _)| f);
                    return Err(MempoolError::Full { min });
                }
            }
        }
        Ok(())
    }

    /// Admits `tx` (already through [`Mempool::check_unread`]) given its sender's
    /// confirmed `account`.
    fn admit(
        &mut self,
        tx: Transfer,
        id: TxId,
        sender: Address,
        account: Account,
        added_ms: u64,
        seq: Option<u64>,
    ) -> Result<TxId, MempoolError> {
        if tx.nonce < account.nonce {
            return Err(MempoolError::NonceTooLow {
                expected: account.nonce,
                got: tx.nonce,
            });
        }
        let queue = self.by_sender.get(&sender);
        let next = queue.map_or(account.nonce, Queue::next);
        let slot = queue.and_then(|q| q.index(tx.nonce));
        if tx.nonce != next && slot.is_none() {
            return Err(MempoolError::NonceGap {
                expected: next,
                got: tx.nonce,
            });
        }
        let replaced = queue.zip(slot).map(|(q, i)| q.ids[i]);
        if let Some(old_id) = replaced {
            let old = &self.entries[&old_id].tx;
            let bump = (old.fee.0 / 100)
                .saturating_mul(self.config.rbf_bump_percent)
                .max(self.config.min_fee.0);
            let min = Amount(old.fee.0.saturating_add(bump));
            if tx.fee < min {
                return Err(MempoolError::ReplacementFeeTooLow {
                    replaced: old_id,
                    min,
                    got: tx.fee,
                });
            }
        }
        // The whole queue, with this transfer in place, must be affordable.
        let mut total = queue.map_or(0, |q| q.debit) + debit(&tx);
        if let Some(old_id) = replaced {
            total -= debit(&self.entries[&old_id].tx);
        }
        let needed = Amount(u64::try_from(total).unwrap_or(u64::MAX));
        if total > u128::from(account.balance.0) {
            return Err(MempoolError::InsufficientFunds {
                balance: account.balance,
                needed,
                immature: Amount::ZERO,
            });
        }
        let freed = match replaced {
            Some(old_id) => self.unlink(&old_id).map_or(0, |e| debit(&e.tx)),
            None => {
                self.make_room(&sender, tx.fee)?;
                0
            }
        };
        let seq = seq.unwrap_or_else(|| {
            self.seq += 1;
            self.seq
        });
        let entry = Entry {
            tx,
            sender,
            added_ms,
            seq,
        };
        let key = fee_key(&entry, id);
        let queue = self.by_sender.entry(sender).or_insert_with(|| Queue {
            first: entry.tx.nonce,
            ..Queue::default()
        });
        queue.debit = queue.debit.saturating_sub(freed) + debit(&entry.tx);
        let old_tail = match slot {
            Some(i) => {
                queue.ids[i] = id;
                (i + 1 == queue.ids.len()).then_some(None)
            }
            None => {
                let old = queue.ids.last().copied();
                queue.ids.push(id);
                Some(old)
            }
        };
        // `Some(_)`: the new transfer is its sender's last (a replaced last one was
        // unindexed with it).
        if let Some(old_tail) = old_tail {
            if let Some(old) = old_tail {
                self.tails.remove(&fee_key(&self.entries[&old], old));
            }
            self.tails.insert(key, sender);
        }
        self.by_fee.insert(key);
        self.by_arrival.insert((added_ms, seq, id));
        *self.credits.entry(entry.tx.recipient).or_default() += u128::from(entry.tx.amount.0);
        self.entries.insert(id, entry);
        Ok(id)
    }

    /// Whether one more transfer would exceed the byte cap.
    fn is_full(&self) -> bool {
        self.bytes() + TRANSFER_LEN > self.config.max_bytes
    }

    /// The cheapest last transfer of a sender other than `sender`, and its sender:
    /// O(log n), as each sender has one tail, so at most one is skipped.
    fn cheapest_other_tail(&self, sender: &Address) -> Option<(FeeKey, Address)> {
        self.tails
            .iter()
            .find(|(_, s)| *s != sender)
            .map(|(k, s)| (*k, *s))
    }

    /// Evicts the cheapest queue tails of other senders until one more transfer fits,
    /// or fails if none pays less than `fee`. Only a sender's last pending transfer can
    /// go (so no queue gets a gap, and a cheap transfer that a better-paying later one
    /// depends on is kept for it).
    fn make_room(&mut self, sender: &Address, fee: Amount) -> Result<(), MempoolError> {
        while self.is_full() {
            match self.cheapest_other_tail(sender) {
                Some((key, victim)) if key.0 < fee => {
                    let last = self.by_sender.get(&victim).map_or(0, |q| q.next() - 1);
                    if self.truncate(&victim, last).is_empty() {
                        self.tails.remove(&key); // not reached: the indexes agree
                    }
                }
                other => {
                    let min = other.map_or(self.config.min_fee, |((f, _, _), _)| f);
                    return Err(MempoolError::Full { min });
                }
            }
        }
        Ok(())
    }

    /// Removes `id` from `entries` and every index but its sender's queue.
    fn unlink(&mut self, id: &TxId) -> Option<Entry> {
        let e = self.entries.remove(id)?;
        if let Some(c) = self.credits.get_mut(&e.tx.recipient) {
            *c = c.saturating_sub(u128::from(e.tx.amount.0));
            if *c == 0 {
                self.credits.remove(&e.tx.recipient);
            }
        }
        let key = fee_key(&e, *id);
        self.by_fee.remove(&key);
        self.tails.remove(&key);
        self.by_arrival.remove(&(e.added_ms, e.seq, *id));
        Some(e)
    }

    /// Removes `sender`'s transfers from nonce `from` on (so its queue stays gapless),
    /// returning them in nonce order.
    fn truncate(&mut self, sender: &Address, from: u64) -> Vec<(TxId, Entry)> {
        let Some(q) = self.by_sender.get_mut(sender) else {
            return Vec::new();
        };
        let start = usize::try_from(from.saturating_sub(q.first))
            .map_or(q.ids.len(), |i| i.min(q.ids.len()));
        let ids = q.ids.split_off(start);
        let new_tail = q.ids.last().copied();
        let mut out = Vec::with_capacity(ids.len());
        let mut freed = 0;
        for id in ids {
            if let Some(e) = self.unlink(&id) {
                freed += debit(&e.tx);
                out.push((id, e));
            }
        }
        match new_tail {
            None => {
                self.by_sender.remove(sender);
            }
            Some(t) => {
                if let Some(q) = self.by_sender.get_mut(sender) {
                    q.debit = q.debit.saturating_sub(freed);
                }
                if !out.is_empty()
                    && let Some(e) = self.entries.get(&t)
                {
                    self.tails.insert(fee_key(e, t), *sender);
                }
            }
        }
        out
    }

    /// Follows a tip change: `connected` and `disconnected` are the blocks the main
    /// chain gained and lost, and `view` the state at the new tip. Drops what the blocks
    /// confirmed or made invalid and what expired, and takes back the transfers of
    /// disconnected blocks that the connected ones do not hold (already verified when
    /// their block was). Returns how many were dropped.
    ///
    /// A queue's validity depends only on its sender's own balance and nonce, so only
    /// the senders whose accounts the blocks changed are re-checked, with one account
    /// read each; the rest of the pool is not looked at.
    pub fn update<V>(
        &mut self,
        view: &V,
        change: &TipChange,
        now_ms: u64,
    ) -> Result<usize, StoreError>
    where
        V: AccountView,
        V::Error: Into<StoreError>,
    {
        let (connected, disconnected) = (&change.connected[..], &change.disconnected[..]);
        let returned = returned_transfers(connected, disconnected);
        let before = self.entries.len() + returned.len();
        self.expire(now_ms);
        // Per touched sender: its queue and what comes back to it, to admit again.
        let mut redo: BTreeMap<Address, Vec<Readmit>> = BTreeMap::new();
        for tx in returned {
            let id = tx.id();
            redo.entry(tx.sender_address())
                .or_default()
                .push((tx, id, now_ms, None));
        }
        let mut touched = touched_addresses(connected.iter().chain(disconnected));
        touched.extend(change.lost_credits.iter().copied());
        for address in touched {
            let queue = self.truncate(&address, 0);
            if !queue.is_empty() {
                let out = redo.entry(address).or_default();
                out.extend(
                    queue
                        .into_iter()
                        .map(|(id, e)| (e.tx, id, e.added_ms, Some(e.seq))),
                );
            }
        }
        let mut failed = None;
        for (sender, mut txs) in redo {
            let account = match view.account(&sender) {
                Ok(a) => a.unwrap_or_default(),
                Err(e) => {
                    // Unverifiable, so not kept; the other senders still are.
                    failed.get_or_insert(e.into());
                    continue;
                }
            };
            // In nonce order, the better-paying of two conflicting ones first.
            txs.sort_by_key(|(t, _, _, _)| (t.nonce, Reverse(t.fee)));
            for (tx, id, added, seq) in txs {
                if self.check_unread(&tx, &id, &sender).is_ok() {
                    let _ = self.admit(tx, id, sender, account, added, seq);
                }
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(before.saturating_sub(self.entries.len())),
        }
    }

    /// Drops the transfers that arrived more than `expiry_ms` before `now_ms`, and the
    /// later transfers of their senders, which depend on them. Costs O(log n) per
    /// transfer dropped.
    fn expire(&mut self, now_ms: u64) {
        while let Some(&(added, _, id)) = self.by_arrival.first() {
            if now_ms.saturating_sub(added) <= self.config.expiry_ms {
                break;
            }
            let Some(e) = self.entries.get(&id) else {
                self.by_arrival.pop_first(); // not reached: the indexes agree
                continue;
            };
            let (sender, nonce) = (e.sender, e.tx.nonce);
            if self.truncate(&sender, nonce).is_empty() {
                self.unlink(&id); // not reached: the indexes agree
            }
        }
    }

    /// The best-paying transfers that fit in `max_bytes`, each sender's in nonce order.
    pub fn select(&self, max_bytes: usize) -> Vec<Transfer> {
        let mut heap = BinaryHeap::new();
        let mut queues: HashMap<&Address, Vec<&Entry>> = HashMap::new();
        for (sender, q) in &self.by_sender {
            let list: Vec<&Entry> = q.ids.iter().map(|id| &self.entries[id]).collect();
            if let Some(first) = list.first() {
                heap.push((first.tx.fee, Reverse(first.seq), sender, 0usize));
            }
            queues.insert(sender, list);
        }
        let mut out = Vec::new();
        let mut bytes = 0;
        while let Some((_, _, sender, i)) = heap.pop() {
            if bytes + TRANSFER_LEN > max_bytes {
                break;
            }
            let q = &queues[sender];
            out.push(q[i].tx.clone());
            bytes += TRANSFER_LEN;
            if let Some(next) = q.get(i + 1) {
                heap.push((next.tx.fee, Reverse(next.seq), sender, i + 1));
            }
        }
        out
    }

    /// The `limit` best-paying transfers, highest fee first.
    pub fn top(&self, limit: usize) -> Vec<Transfer> {
        self.by_fee
            .iter()
            .rev()
            .take(limit)
            .map(|(_, _, id)| self.entries[id].tx.clone())
            .collect()
    }

    /// The ids of the `limit` best-paying transfers, highest fee first.
    pub fn top_ids(&self, limit: usize) -> Vec<TxId> {
        self.by_fee
            .iter()
            .rev()
            .take(limit)
            .map(|(_, _, id)| *id)
            .collect()
    }

    /// The fee of the `rank`-th best-paying transfer (0 is the best), if there are
    /// that many.
    pub fn fee_at_rank(&self, rank: usize) -> Option<Amount> {
        self.by_fee.iter().rev().nth(rank).map(|(f, _, _)| *f)
    }

    /// Every pending transfer, best fee first.
    pub fn transfers(&self) -> Vec<Transfer> {
        self.by_fee
            .iter()
            .rev()
            .map(|(_, _, id)| self.entries[id].tx.clone())
            .collect()
    }
}

/// The end of an insufficient-funds message: why coins the sender has mined do not
/// count yet.
fn immature_note(immature: Amount) -> String {
    if immature == Amount::ZERO {
        String::new()
    } else {
        format!(
            " ({immature} more is mined but immature: coinbase rewards are spendable only after coinbase_maturity blocks)"
        )
    }
}

/// The transfers of `disconnected` blocks that `connected` blocks do not hold.
fn returned_transfers(connected: &[Block], disconnected: &[Block]) -> Vec<Transfer> {
    if disconnected.is_empty() {
        return Vec::new(); // the common case: hash nothing
    }
    let confirmed: std::collections::HashSet<TxId> =
        connected.iter().flat_map(|b| b.txids()).collect();
    disconnected
        .iter()
        .flat_map(|b| b.txs.iter())
        .filter_map(Transaction::as_transfer)
        .filter(|t| !confirmed.contains(&t.id()))
        .cloned()
        .collect()
}

/// Every account the blocks' transactions change: coinbase recipients, and senders and
/// recipients of transfers (matured rewards taken back come in [`TipChange`]). (Only a balance that fell or a nonce that moved can
/// invalidate a queue, but a recipient's balance falls when its block is disconnected.)
fn touched_addresses<'a>(blocks: impl Iterator<Item = &'a Block>) -> BTreeSet<Address> {
    let mut out = BTreeSet::new();
    for tx in blocks.flat_map(|b| b.txs.iter()) {
        match tx {
            Transaction::Coinbase(cb) => {
                out.extend(cb.outputs.iter().map(|o| o.recipient));
            }
            Transaction::Transfer(t) => {
                out.insert(t.sender_address());
                out.insert(t.recipient);
            }
        }
    }
    out
}

mod persist;

pub use self::persist::MempoolLoadError;
#[cfg(test)]
mod tests;
