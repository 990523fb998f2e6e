//! The mempool: signed transfers waiting for a block.
//!
//! Per sender, pending transfers form a gapless queue starting at the account's
//! confirmed nonce, so every prefix of every queue is valid on top of the tip. Across
//! senders, block templates and eviction go by fee (every transfer has the same size,
//! so fee is fee rate). A transfer with the same sender and nonce as a pending one
//! replaces it only if it pays at least [`MempoolConfig::rbf_bump_percent`] more.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};
use std::io::Write;
use std::path::Path;

use cairn_core::encoding::{Decode, Encode, Reader};
use cairn_core::tx::TRANSFER_LEN;
use cairn_core::validation::{RejectReason, validate_transfer_stateless};
use cairn_core::{AccountView, Address, Amount, ChainParams, Transaction, Transfer, TxId};

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
    fn default() -> Self {
        MempoolConfig {
            max_bytes: 64 * 1024 * 1024,
            min_fee: Amount(1_000),
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
    #[error("insufficient funds: balance {balance}, pending plus this transfer need {needed}")]
    InsufficientFunds {
        /// Confirmed balance.
        balance: Amount,
        /// Total debits with this transfer.
        needed: Amount,
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

/// The mempool.
#[derive(Debug)]
pub struct Mempool {
    config: MempoolConfig,
    params: ChainParams,
    entries: HashMap<TxId, Entry>,
    by_sender: HashMap<Address, BTreeMap<u64, TxId>>,
    /// Per sender, the sum of its pending transfers' amounts plus fees (kept in step
    /// with `by_sender`, so admitting a transfer is O(log n), not O(queue)).
    debits: HashMap<Address, u128>,
    /// Per recipient, the sum of pending amounts it receives.
    credits: HashMap<Address, u128>,
    /// `(fee, newest first, id)`: the first element is the first to evict.
    by_fee: BTreeSet<(Amount, Reverse<u64>, TxId)>,
    seq: u64,
}

impl Mempool {
    /// An empty mempool.
    pub fn new(params: ChainParams, config: MempoolConfig) -> Mempool {
        Mempool {
            config,
            params,
            entries: HashMap::new(),
            by_sender: HashMap::new(),
            debits: HashMap::new(),
            credits: HashMap::new(),
            by_fee: BTreeSet::new(),
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

    /// Whether `id` is pending.
    pub fn contains(&self, id: &TxId) -> bool {
        self.entries.contains_key(id)
    }

    /// A pending transfer.
    pub fn get(&self, id: &TxId) -> Option<&Transfer> {
        self.entries.get(id).map(|e| &e.tx)
    }

    /// The sender's next nonce counting pending transfers, given its confirmed nonce.
    pub fn next_nonce(&self, sender: &Address, confirmed: u64) -> u64 {
        confirmed + self.by_sender.get(sender).map_or(0, |q| q.len() as u64)
    }

    /// What pending transfers do to `address`: what it sends (amounts plus fees),
    /// what it receives, and how many transfers it sends.
    pub fn pending_for(&self, address: &Address) -> PendingSummary {
        let clamp = |x: u128| u64::try_from(x).unwrap_or(u64::MAX);
        PendingSummary {
            debits: clamp(self.debits.get(address).copied().unwrap_or(0)),
            credits: clamp(self.credits.get(address).copied().unwrap_or(0)),
            count: self.by_sender.get(address).map_or(0, |q| q.len() as u64),
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
        if self.entries.contains_key(&id) {
            return Err(MempoolError::AlreadyKnown(id));
        }
        if tx.fee < self.config.min_fee {
            return Err(MempoolError::FeeTooLow {
                min: self.config.min_fee,
                got: tx.fee,
            });
        }
        let sender = tx.sender_address();
        let account = view
            .account(&sender)
            .map_err(Into::into)?
            .unwrap_or_default();
        if tx.nonce < account.nonce {
            return Err(MempoolError::NonceTooLow {
                expected: account.nonce,
                got: tx.nonce,
            });
        }
        let queue = self.by_sender.get(&sender);
        let next = account.nonce + queue.map_or(0, |q| q.len() as u64);
        if tx.nonce > next {
            return Err(MempoolError::NonceGap {
                expected: next,
                got: tx.nonce,
            });
        }
        let replaced = queue.and_then(|q| q.get(&tx.nonce)).copied();
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
        let debit = |t: &Transfer| {
            t.total_debit()
                .map_or(u128::from(u64::MAX), |a| u128::from(a.0))
        };
        let mut total = self.debits.get(&sender).copied().unwrap_or(0) + debit(&tx);
        if let Some(old_id) = replaced {
            total -= debit(&self.entries[&old_id].tx);
        }
        let needed = Amount(u64::try_from(total).unwrap_or(u64::MAX));
        if total > u128::from(account.balance.0) {
            return Err(MempoolError::InsufficientFunds {
                balance: account.balance,
                needed,
            });
        }
        if replaced.is_none() {
            self.make_room(&sender, tx.fee)?;
        }
        if let Some(old_id) = replaced {
            self.remove_one(&old_id);
        }
        let seq = seq.unwrap_or_else(|| {
            self.seq += 1;
            self.seq
        });
        self.by_fee.insert((tx.fee, Reverse(seq), id));
        self.by_sender
            .entry(sender)
            .or_default()
            .insert(tx.nonce, id);
        *self.debits.entry(sender).or_default() += debit(&tx);
        *self.credits.entry(tx.recipient).or_default() += u128::from(tx.amount.0);
        self.entries.insert(
            id,
            Entry {
                tx,
                sender,
                added_ms,
                seq,
            },
        );
        Ok(id)
    }

    /// Evicts the cheapest queue tails of other senders until one more transfer fits,
    /// or fails if none pays less than `fee`. Only a sender's last pending transfer can
    /// go (so no queue gets a gap, and a cheap transfer that a better-paying later one
    /// depends on is kept for it).
    fn make_room(&mut self, sender: &Address, fee: Amount) -> Result<(), MempoolError> {
        while self.bytes() + TRANSFER_LEN > self.config.max_bytes {
            let victim = self
                .by_sender
                .iter()
                .filter(|(s, _)| *s != sender)
                .filter_map(|(_, q)| q.values().next_back())
                .map(|id| (self.entries[id].tx.fee, Reverse(self.entries[id].seq), *id))
                .min();
            match victim {
                Some((victim_fee, _, id)) if victim_fee < fee => {
                    self.remove_one(&id);
                }
                other => {
                    let min = other.map_or(self.config.min_fee, |(f, _, _)| f);
                    return Err(MempoolError::Full { min });
                }
            }
        }
        Ok(())
    }

    fn remove_one(&mut self, id: &TxId) -> Option<Entry> {
        let e = self.entries.remove(id)?;
        if let Some(c) = self.credits.get_mut(&e.tx.recipient) {
            *c = c.saturating_sub(u128::from(e.tx.amount.0));
            if *c == 0 {
                self.credits.remove(&e.tx.recipient);
            }
        }
        self.by_fee.remove(&(e.tx.fee, Reverse(e.seq), *id));
        if let Some(q) = self.by_sender.get_mut(&e.sender) {
            q.remove(&e.tx.nonce);
            if q.is_empty() {
                self.by_sender.remove(&e.sender);
                self.debits.remove(&e.sender);
            } else if let Some(d) = self.debits.get_mut(&e.sender) {
                let x =
                    e.tx.total_debit()
                        .map_or(u128::from(u64::MAX), |a| u128::from(a.0));
                *d = d.saturating_sub(x);
            }
        }
        Some(e)
    }

    /// Re-checks everything against a new tip's state: drops what blocks confirmed or
    /// made invalid and what expired; `returned` are transfers of disconnected blocks
    /// to take back (already verified when their block was). Returns how many were
    /// dropped.
    pub fn update<V>(
        &mut self,
        view: &V,
        returned: Vec<Transfer>,
        now_ms: u64,
    ) -> Result<usize, StoreError>
    where
        V: AccountView,
        V::Error: Into<StoreError>,
    {
        let before = self.entries.len() + returned.len();
        let mut all: Vec<(Transfer, u64, Option<u64>)> = self
            .entries
            .drain()
            .map(|(_, e)| (e.tx, e.added_ms, Some(e.seq)))
            .collect();
        all.extend(returned.into_iter().map(|t| (t, now_ms, None)));
        self.by_sender.clear();
        self.debits.clear();
        self.credits.clear();
        self.by_fee.clear();
        // Per sender in nonce order, the better-paying of two conflicting ones first.
        all.sort_by(|(a, _, _), (b, _, _)| {
            (a.sender.0, a.nonce, Reverse(a.fee)).cmp(&(b.sender.0, b.nonce, Reverse(b.fee)))
        });
        let expiry = self.config.expiry_ms;
        for (tx, added, seq) in all {
            if now_ms.saturating_sub(added) > expiry {
                continue;
            }
            match self.add_verified(tx, view, added, seq) {
                Ok(_) | Err(MempoolError::AlreadyKnown(_)) => {}
                Err(MempoolError::Store(e)) => return Err(e),
                Err(_) => {}
            }
        }
        Ok(before - self.entries.len())
    }

    /// The best-paying transfers that fit in `max_bytes`, each sender's in nonce order.
    pub fn select(&self, max_bytes: usize) -> Vec<Transfer> {
        let mut heap = BinaryHeap::new();
        let mut queues: HashMap<&Address, Vec<&Entry>> = HashMap::new();
        for (sender, q) in &self.by_sender {
            let list: Vec<&Entry> = q.values().map(|id| &self.entries[id]).collect();
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

    /// Every pending transfer, best fee first.
    /// The `limit` best-paying transfers, highest fee first.
    pub fn top(&self, limit: usize) -> Vec<Transfer> {
        self.by_fee
            .iter()
            .rev()
            .take(limit)
            .map(|(_, _, id)| self.entries[id].tx.clone())
            .collect()
    }

    /// The fee of the `rank`-th best-paying transfer (0 is the best), if there are
    /// that many.
    pub fn fee_at_rank(&self, rank: usize) -> Option<Amount> {
        self.by_fee.iter().rev().nth(rank).map(|(f, _, _)| *f)
    }

    pub fn transfers(&self) -> Vec<Transfer> {
        self.by_fee
            .iter()
            .rev()
            .map(|(_, _, id)| self.entries[id].tx.clone())
            .collect()
    }

    /// Writes the pending transfers to `path` (atomically: a temporary file renamed).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let tmp = path.with_extension("tmp");
        let mut out = Vec::with_capacity(12 + self.entries.len() * (8 + TRANSFER_LEN));
        out.extend_from_slice(MEMPOOL_MAGIC);
        let count = u32::try_from(self.entries.len()).map_err(std::io::Error::other)?;
        out.extend_from_slice(&count.to_le_bytes());
        let mut entries: Vec<&Entry> = self.entries.values().collect();
        entries.sort_by_key(|e| e.seq);
        for e in entries {
            out.extend_from_slice(&e.added_ms.to_le_bytes());
            Transaction::Transfer(e.tx.clone()).encode_to(&mut out);
        }
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&out)?;
        f.sync_all()?;
        std::fs::rename(tmp, path)
    }

    /// Reads transfers saved by [`Mempool::save`] and admits them through the full checks
    /// (signatures included). A damaged file is an error; nothing is admitted from it.
    pub fn load<V>(&mut self, path: &Path, view: &V, now_ms: u64) -> Result<usize, MempoolLoadError>
    where
        V: AccountView,
        V::Error: Into<StoreError>,
    {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(MempoolLoadError::Io(e)),
        };
        let saved = decode_saved(&bytes)?;
        let mut admitted = 0;
        for (added, tx) in saved {
            if now_ms.saturating_sub(added) > self.config.expiry_ms {
                continue;
            }
            match validate_transfer_stateless(&tx, &self.params) {
                Ok(()) => {
                    if self.add_verified(tx, view, added, None).is_ok() {
                        admitted += 1;
                    }
                }
                Err(_) => continue,
            }
        }
        Ok(admitted)
    }
}

const MEMPOOL_MAGIC: &[u8; 8] = b"CAIRNMP1";

/// Why a saved mempool could not be read.
#[derive(Debug, thiserror::Error)]
pub enum MempoolLoadError {
    /// Reading the file failed.
    #[error("cannot read saved mempool: {0}")]
    Io(#[from] std::io::Error),
    /// The file is not a saved mempool, or is damaged.
    #[error("saved mempool is damaged: {0}")]
    Corrupt(String),
}

fn decode_saved(bytes: &[u8]) -> Result<Vec<(u64, Transfer)>, MempoolLoadError> {
    let corrupt = |e: cairn_core::DecodeError| MempoolLoadError::Corrupt(e.to_string());
    let mut r = Reader::new(bytes);
    if r.take(8).map_err(corrupt)? != MEMPOOL_MAGIC {
        return Err(MempoolLoadError::Corrupt("bad magic".into()));
    }
    let n = r.count(usize::MAX, 8 + TRANSFER_LEN).map_err(corrupt)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let added = r.u64().map_err(corrupt)?;
        match Transaction::decode_from(&mut r).map_err(corrupt)? {
            Transaction::Transfer(t) => out.push((added, t)),
            Transaction::Coinbase(_) => {
                return Err(MempoolLoadError::Corrupt("coinbase in mempool".into()));
            }
        }
    }
    r.finish().map_err(corrupt)?;
    Ok(out)
}

#[cfg(test)]
mod tests;
