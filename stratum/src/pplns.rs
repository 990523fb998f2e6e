//! PPLNS ("pay per last N shares") payouts carried in a multi-output coinbase.
//!
//! Everything here is integer arithmetic on values a replay can reproduce: the same
//! share log, cut at the same window positions, with the same rewards and parameters,
//! gives every coinbase and every credit bit for bit. The rule is specified in
//! `docs/STRATUM.md` §6; in short, for a block reward `R`:
//!
//! ```text
//! F = floor(R · fee_ppm / 10^6)                 fee_ppm clamped to 10^6
//! D = R − F
//! e_a = floor(D · w_a / W)                      W = window work, w_a = a's part (0 if W = 0)
//! remainder = D − Σ e_a                          (over every address, the pool's too)
//! owed_a = credit_a + e_a                        every a ≠ pool with owed_a > 0 is ranked
//! rank by owed desc, then address bytes asc; the first S = max_outputs − 1 are "in"
//! dust = remainder if W > 0 and someone is in, else 0: the first miner in gets it
//! budget = F + e_pool + Σ_{a out} e_a + (remainder − dust)
//! in rank order, each a in: repay_a = min(credit_a, budget), budget −= repay_a,
//!                           paid_a = e_a + repay_a (+ dust for the first)
//! pool output = what is left of the budget
//! credit'_a = credit_a − repay_a (in), credit_a + e_a (out)
//! ```
//!
//! The outputs are the pool output (when non-zero) followed by the non-zero payments in
//! rank order; when nothing is non-zero the coinbase is one zero output to the pool.
//! They sum to `R` exactly: `Σ paid + pool = F + Σ e + remainder = R`.
//!
//! A miner checks its own payment with [`Split::check`], from what the pool publishes
//! with each job ([`PayoutView`]) and its own figures ([`MinerStanding`]).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use cairn_core::{Address, Amount, CoinbaseOutput, Target};
use ruint::aliases::U256;
use thiserror::Error;

/// One million: `fee_ppm` is in millionths of the reward and is clamped to this.
pub const PPM: u32 = 1_000_000;

/// The work a share at `target` proves, `floor(2^256 / (target + 1))` (the expected
/// number of hashes, as [`Target::work`] computes a block's), saturated to `u128`.
pub fn share_work(target: &Target) -> u128 {
    // `Target::work` of 0 would be 2^256, which wraps in 256 bits.
    if target.0.is_zero() {
        return u128::MAX;
    }
    u128::try_from(target.work().0).unwrap_or(u128::MAX)
}

/// One accepted share, as the log holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    /// Its position in the log: 0 for the first share ever pushed, one more each share.
    pub seq: u64,
    /// The payout address it was mined for.
    pub address: Address,
    /// Its work: the difficulty it was credited at ([`share_work`] of its target).
    pub work: u128,
}

/// A share with the cumulative work at its end: it covers `(end − work, end]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Logged {
    share: Share,
    end: u128,
}

/// Why the share log refused a share or a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ShareLogError {
    /// The cumulative work would pass `2^128 − 1`.
    #[error("share {seq} would take the log's cumulative work past u128")]
    WorkOverflow {
        /// The share's would-be sequence number.
        seq: u64,
    },
    /// Every sequence number has been used.
    #[error("share log sequence numbers exhausted")]
    SeqOverflow,
    /// A window reaching further back than the log has kept.
    #[error("window of {asked} work asked, the log keeps the last {kept}")]
    WindowTooLarge {
        /// The window asked for.
        asked: u128,
        /// The work the log still covers.
        kept: u128,
    },
}

/// The pool's share log in memory: every accepted share in order, with the running
/// total of their work, pruned of shares that no window will reach again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareLog {
    /// Oldest first; every share ending after `pruned_to`.
    shares: VecDeque<Logged>,
    /// Cumulative work of every share ever pushed.
    total: u128,
    /// The next share's sequence number.
    next_seq: u64,
    /// The largest window the log must be able to serve.
    keep: u128,
    /// Shares ending at or before this position have been dropped.
    pruned_to: u128,
}

impl ShareLog {
    /// An empty log that keeps enough shares for any window of up to `keep` work.
    pub fn new(keep: u128) -> ShareLog {
        ShareLog {
            shares: VecDeque::new(),
            total: 0,
            next_seq: 0,
            keep,
            pruned_to: 0,
        }
    }

    /// A log whose first `next_seq` shares, of `total` work in all, were pruned: the
    /// next share pushed gets `next_seq` and starts at `total`. For restoring a stored
    /// log whose beginning was deleted.
    pub fn resume(next_seq: u64, total: u128, keep: u128) -> ShareLog {
        ShareLog {
            shares: VecDeque::new(),
            total,
            next_seq,
            keep,
            pruned_to: total,
        }
    }

    /// The oldest share held: its sequence number and where it starts in cumulative
    /// work (everything before it is pruned).
    pub fn oldest(&self) -> Option<(u64, u128)> {
        self.shares
            .front()
            .map(|l| (l.share.seq, l.end - l.share.work))
    }

    /// Appends a share of `work` for `address` and returns its sequence number.
    pub fn push(&mut self, address: Address, work: u128) -> Result<u64, ShareLogError> {
        let seq = self.next_seq;
        let end = self
            .total
            .checked_add(work)
            .ok_or(ShareLogError::WorkOverflow { seq })?;
        let next_seq = seq.checked_add(1).ok_or(ShareLogError::SeqOverflow)?;
        self.shares.push_back(Logged {
            share: Share { seq, address, work },
            end,
        });
        self.total = end;
        self.next_seq = next_seq;
        self.prune();
        Ok(seq)
    }

    /// Cumulative work of every share pushed so far (the end of the newest window).
    pub fn total(&self) -> u128 {
        self.total
    }

    /// The largest window the log keeps shares for.
    pub fn keep(&self) -> u128 {
        self.keep
    }

    /// Changes the largest window to keep for. Raising it does not bring back shares
    /// already pruned: a window reaching them is refused until enough new work arrives.
    pub fn set_keep(&mut self, keep: u128) {
        self.keep = keep;
        self.prune();
    }

    /// Shares held (the ones some window of up to [`keep`](Self::keep) can reach).
    pub fn len(&self) -> usize {
        self.shares.len()
    }

    /// Whether no share is held.
    pub fn is_empty(&self) -> bool {
        self.shares.is_empty()
    }

    /// The shares held, oldest first.
    pub fn shares(&self) -> impl Iterator<Item = &Share> + '_ {
        self.shares.iter().map(|l| &l.share)
    }

    /// The last `n` units of work, per address: the window `(total − min(n, total),
    /// total]`. The oldest share inside is counted only for its part inside.
    pub fn window(&self, n: u128) -> Result<Window, ShareLogError> {
        let start = self.total - n.min(self.total);
        if start < self.pruned_to {
            return Err(ShareLogError::WindowTooLarge {
                asked: n,
                kept: self.total - self.pruned_to,
            });
        }
        let mut work: BTreeMap<Address, u128> = BTreeMap::new();
        for logged in self.shares.iter().rev() {
            if logged.end <= start {
                break;
            }
            // `end ≥ work` always (end = the total before it + work).
            let share_start = logged.end.saturating_sub(logged.share.work);
            let inside = logged.end - share_start.max(start);
            if inside > 0 {
                // The parts tile (start, total], so no sum passes total.
                *work.entry(logged.share.address).or_insert(0) += inside;
            }
        }
        Ok(Window {
            start,
            end: self.total,
            work,
        })
    }

    fn prune(&mut self) {
        let horizon = self.total.saturating_sub(self.keep);
        self.pruned_to = self.pruned_to.max(horizon);
        while self.shares.front().is_some_and(|l| l.end <= self.pruned_to) {
            self.shares.pop_front();
        }
    }
}

/// The work of each address in one window of the share log: `(start, end]` in
/// cumulative work, `W = end − start`, and per address the work inside (summing to
/// `W` exactly).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Window {
    start: u128,
    end: u128,
    work: BTreeMap<Address, u128>,
}

impl Window {
    /// A window starting at `start` holding `work` (repeated addresses add up, zero
    /// parts are dropped), or `None` if the work overflows `u128`. For replays and
    /// tests; the pool takes its windows from [`ShareLog::window`].
    pub fn from_work<I>(start: u128, work: I) -> Option<Window>
    where
        I: IntoIterator<Item = (Address, u128)>,
    {
        let mut map: BTreeMap<Address, u128> = BTreeMap::new();
        let mut total: u128 = 0;
        for (address, w) in work {
            if w == 0 {
                continue;
            }
            total = total.checked_add(w)?;
            // At most `total`, which did not overflow.
            *map.entry(address).or_insert(0) += w;
        }
        Some(Window {
            start,
            end: start.checked_add(total)?,
            work: map,
        })
    }

    /// Cumulative work where the window starts (excluded).
    pub fn start(&self) -> u128 {
        self.start
    }

    /// Cumulative work where the window ends (included).
    pub fn end(&self) -> u128 {
        self.end
    }

    /// `W`: the work in the window.
    pub fn total_work(&self) -> u128 {
        self.end - self.start
    }

    /// `w_a`: the work of `address` in the window.
    pub fn work_of(&self, address: &Address) -> u128 {
        self.work.get(address).copied().unwrap_or(0)
    }

    /// Each address with work in the window, by address.
    pub fn by_address(&self) -> impl Iterator<Item = (Address, u128)> + '_ {
        self.work.iter().map(|(a, w)| (*a, *w))
    }

    /// Whether the window holds no work.
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// A miner paid in this coinbase, in rank order (published with each job).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RankedMiner {
    /// Its payout address.
    pub address: Address,
    /// `owed = credit + entitlement`, the ranking key.
    pub owed: Amount,
}

/// The figures of one address in a split: what its miner checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MinerFigures {
    /// `W`, the window's work.
    pub window_work: u128,
    /// `w_a`, this address's work in the window.
    pub address_work: u128,
    /// Its credit before this block.
    pub credit_before: Amount,
    /// `e_a = floor(D · w_a / W)`.
    pub entitlement: Amount,
    /// `credit_before + entitlement` (zero for the pool address, which is never owed).
    pub owed: Amount,
    /// Its place in the ranking (0 first), if it is owed anything; it is paid in this
    /// coinbase when this is below `max_outputs − 1`.
    pub rank: Option<usize>,
    /// What the coinbase pays it (for the pool address: the pool output).
    pub paid: Amount,
    /// Its credit after this block.
    pub credit_after: Amount,
}

/// What the pool publishes with a job so that each miner can check its payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayoutView<'a> {
    /// `R`, subsidy plus fees: what the outputs must sum to.
    pub reward: Amount,
    /// The pool's fee in millionths (clamped to [`PPM`]).
    pub fee_ppm: u32,
    /// The pool's address.
    pub pool_address: Address,
    /// The network's `max_coinbase_outputs`.
    pub max_outputs: usize,
    /// `W`, the window's work.
    pub window_work: u128,
    /// The rounding remainder paid on top to the first ranked miner (0 if none).
    pub dust: Amount,
    /// The miners paid in this coinbase (at most `max_outputs − 1`), in rank order,
    /// including any whose payment is zero and so has no output.
    pub ranked: &'a [RankedMiner],
    /// The coinbase outputs.
    pub outputs: &'a [CoinbaseOutput],
}

/// One miner's own figures, which the pool sends it (and the miner can track).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinerStanding {
    /// The miner's payout address.
    pub address: Address,
    /// `w_a`, its work in the window.
    pub address_work: u128,
    /// Its credit before this block.
    pub credit_before: Amount,
}

/// What a miner learns from a successful [`Split::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinerCheck {
    /// `e_a`.
    pub entitlement: Amount,
    /// `credit_before + e_a` (zero for the pool address).
    pub owed: Amount,
    /// What the coinbase pays it.
    pub paid: Amount,
    /// The credit it should see with the pool's next block if this one is accepted.
    pub credit_after: Amount,
}

/// Why a miner's check of a coinbase failed. The first failing rule is reported,
/// structural rules first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum CheckError {
    /// The coinbase has no output.
    #[error("coinbase has no outputs")]
    NoOutputs,
    /// More outputs than the network allows.
    #[error("coinbase has {count} outputs, the limit is {max}")]
    TooManyOutputs {
        /// Outputs found.
        count: usize,
        /// The network's limit.
        max: usize,
    },
    /// Two outputs pay the same address.
    #[error("coinbase pays {recipient} twice")]
    DuplicateRecipient {
        /// The address paid twice.
        recipient: Address,
    },
    /// A zero output beside others, or a lone zero output not to the pool.
    #[error("coinbase output to {recipient} pays nothing")]
    ZeroOutput {
        /// Its recipient.
        recipient: Address,
    },
    /// The outputs do not sum to the reward.
    #[error("coinbase outputs sum to {actual}, the reward is {expected}")]
    SumMismatch {
        /// The reward.
        expected: Amount,
        /// The outputs' sum.
        actual: u128,
    },
    /// The pool's output is not the first.
    #[error("the pool output is not the first output")]
    PoolOutputNotFirst,
    /// More ranked miners than miner outputs allowed.
    #[error("{len} ranked miners published, at most {max} can be paid")]
    RankedListTooLong {
        /// Rows published.
        len: usize,
        /// `max_outputs − 1`.
        max: usize,
    },
    /// The pool address is among the ranked miners.
    #[error("the pool address is among the ranked miners")]
    PoolRanked,
    /// A ranked miner with nothing owed.
    #[error("ranked miner {index} is owed nothing")]
    RankedZeroOwed {
        /// Its row.
        index: usize,
    },
    /// The ranked list is not in (owed desc, address asc) order.
    #[error("ranked miner {index} is out of order")]
    RankedOutOfOrder {
        /// The first row out of order.
        index: usize,
    },
    /// An output to an address neither the pool nor ranked.
    #[error("coinbase pays {recipient}, which is not ranked")]
    UnrankedOutput {
        /// The address paid.
        recipient: Address,
    },
    /// The miner outputs are not in rank order.
    #[error("coinbase output to {recipient} is out of rank order")]
    OutputOutOfOrder {
        /// The first output out of order.
        recipient: Address,
    },
    /// The published dust exceeds what rounding can leave, or has no recipient.
    #[error("dust {dust} is impossible (distributable {distributable})")]
    BadDust {
        /// The dust published.
        dust: Amount,
        /// `D`.
        distributable: Amount,
    },
    /// The miner's work exceeds the window's.
    #[error("address work {address_work} exceeds window work {window_work}")]
    BadWork {
        /// `w_a`.
        address_work: u128,
        /// `W`.
        window_work: u128,
    },
    /// The miner's ranked row does not say what it is owed.
    #[error("ranked as owed {listed}, but credit plus entitlement is {expected}")]
    OwedMismatch {
        /// `credit_before + e_a`.
        expected: Amount,
        /// The row's owed.
        listed: Amount,
    },
    /// Paid less than its entitlement (plus the dust, for the first ranked miner).
    #[error("paid {paid}, at least {minimum} is due")]
    Underpaid {
        /// `e_a` (+ dust).
        minimum: Amount,
        /// What the coinbase pays.
        paid: Amount,
    },
    /// Paid more than it is owed (plus the dust, for the first ranked miner).
    #[error("paid {paid}, at most {maximum} is owed")]
    Overpaid {
        /// `owed` (+ dust).
        maximum: Amount,
        /// What the coinbase pays.
        paid: Amount,
    },
    /// The miner's credit was not repaid in full, yet the pool kept an output.
    #[error("credit only partly repaid while the pool output keeps {pool_amount}")]
    PoolKeptRepayment {
        /// The pool output.
        pool_amount: Amount,
    },
    /// Owed something but not ranked in, though it ranks above the last miner in (or
    /// a miner slot is free).
    #[error("owed {owed} but left out of a coinbase it ranks into")]
    LeftOut {
        /// `credit_before + e_a`.
        owed: Amount,
    },
}

impl CheckError {
    /// The stable kebab-case code of the failed rule (`docs/STRATUM.md` §6.3).
    pub fn code(&self) -> &'static str {
        match self {
            CheckError::NoOutputs => "no-outputs",
            CheckError::TooManyOutputs { .. } => "too-many-outputs",
            CheckError::DuplicateRecipient { .. } => "duplicate-recipient",
            CheckError::ZeroOutput { .. } => "zero-output",
            CheckError::SumMismatch { .. } => "sum-mismatch",
            CheckError::PoolOutputNotFirst => "pool-output-not-first",
            CheckError::RankedListTooLong { .. } => "ranked-list-too-long",
            CheckError::PoolRanked => "pool-ranked",
            CheckError::RankedZeroOwed { .. } => "ranked-zero-owed",
            CheckError::RankedOutOfOrder { .. } => "ranked-out-of-order",
            CheckError::UnrankedOutput { .. } => "unranked-output",
            CheckError::OutputOutOfOrder { .. } => "output-out-of-order",
            CheckError::BadDust { .. } => "bad-dust",
            CheckError::BadWork { .. } => "bad-work",
            CheckError::OwedMismatch { .. } => "owed-mismatch",
            CheckError::Underpaid { .. } => "underpaid",
            CheckError::Overpaid { .. } => "overpaid",
            CheckError::PoolKeptRepayment { .. } => "pool-kept-repayment",
            CheckError::LeftOut { .. } => "left-out",
        }
    }
}

/// The coinbase of one pool block and the credits it leaves: the result of the PPLNS
/// rule for one reward and one window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// `R`.
    pub reward: Amount,
    /// The fee in millionths, clamped to [`PPM`].
    pub fee_ppm: u32,
    /// `F = floor(R · fee_ppm / 10^6)`.
    pub fee: Amount,
    /// `D = R − F`.
    pub distributable: Amount,
    /// The pool's address.
    pub pool_address: Address,
    /// The network's `max_coinbase_outputs`, as given.
    pub max_outputs: usize,
    /// `W`.
    pub window_work: u128,
    /// The pool address's own entitlement (if it mined).
    pub pool_entitlement: Amount,
    /// `D − Σ e_a` over every address.
    pub remainder: Amount,
    /// The part of the remainder paid to the first ranked miner: all of it, or 0 if
    /// the window is empty or nobody is ranked in (then it stays with the pool).
    pub dust: Amount,
    /// The pool output's amount (0 when there is none).
    pub pool_amount: Amount,
    /// The miners paid in this coinbase, in rank order.
    pub ranked: Vec<RankedMiner>,
    /// The coinbase outputs: the pool output if non-zero, then the non-zero payments
    /// in rank order; or one zero output to the pool if nothing is paid.
    pub outputs: Vec<CoinbaseOutput>,
    /// Every non-zero credit after this block.
    pub credits: BTreeMap<Address, Amount>,
    /// The figures of every address in the window or holding credit.
    pub figures: BTreeMap<Address, MinerFigures>,
}

/// One address owed something, before ranking.
#[derive(Debug, Clone, Copy)]
struct Claim {
    address: Address,
    credit: u64,
    entitlement: u64,
    owed: u64,
}

impl Split {
    /// Applies the PPLNS rule (module docs, `docs/STRATUM.md` §6) to a block paying
    /// `reward`.
    ///
    /// `credits` are the credits after the pool's previous block on this chain; an entry
    /// for `pool_address` is ignored (the pool owes itself nothing). `max_outputs`
    /// below 2 leaves no room for a miner: everything goes to the pool output and
    /// becomes credit.
    ///
    /// Exact as long as the credits and the reward together fit a `u64` (they are
    /// coins that exist, so they do); beyond that sums saturate.
    pub fn compute(
        reward: Amount,
        fee_ppm: u32,
        pool_address: Address,
        window: &Window,
        credits: &BTreeMap<Address, Amount>,
        max_outputs: usize,
    ) -> Split {
        let fee_ppm = fee_ppm.min(PPM);
        let fee = fee_of(reward.0, fee_ppm);
        let distributable = reward.0 - fee;
        let window_work = window.total_work();

        // Σ e_a ≤ D because the parts sum to W: no sum below can saturate.
        let mut pool_entitlement = 0u64;
        let mut entitled_total = 0u64;
        let mut claims: BTreeMap<Address, (u64, u64)> = BTreeMap::new();
        for (address, work) in window.by_address() {
            let e = entitlement(distributable, work, window_work);
            entitled_total = entitled_total.saturating_add(e);
            if address == pool_address {
                pool_entitlement = e;
            } else if e > 0 {
                claims.entry(address).or_default().1 = e;
            }
        }
        for (address, credit) in credits {
            if *address != pool_address && credit.0 > 0 {
                claims.entry(*address).or_default().0 = credit.0;
            }
        }
        let remainder = distributable.saturating_sub(entitled_total);

        let mut ranking: Vec<Claim> = claims
            .into_iter()
            .map(|(address, (credit, entitlement))| Claim {
                address,
                credit,
                entitlement,
                owed: credit.saturating_add(entitlement),
            })
            .collect();
        ranking.sort_by(|a, b| b.owed.cmp(&a.owed).then_with(|| a.address.cmp(&b.address)));

        let slots = max_outputs.saturating_sub(1).min(ranking.len());
        let (inside, outside) = ranking.split_at(slots);
        let dust = if window_work > 0 && !inside.is_empty() {
            remainder
        } else {
            0
        };
        let parked = outside
            .iter()
            .fold(0u64, |sum, c| sum.saturating_add(c.entitlement));
        // Everything the coinbase does not pay to a miner as entitlement; credits are
        // repaid out of it. At most R.
        let mut budget = fee
            .saturating_add(pool_entitlement)
            .saturating_add(parked)
            .saturating_add(remainder - dust);

        let mut ranked = Vec::with_capacity(inside.len());
        let mut payments = Vec::with_capacity(inside.len());
        let mut credits_after = BTreeMap::new();
        let mut figures = BTreeMap::new();
        for (rank, c) in inside.iter().enumerate() {
            let repay = c.credit.min(budget);
            budget -= repay;
            let bonus = if rank == 0 { dust } else { 0 };
            let paid = c.entitlement.saturating_add(repay).saturating_add(bonus);
            let credit_after = c.credit - repay;
            if paid > 0 {
                payments.push(CoinbaseOutput {
                    recipient: c.address,
                    amount: Amount(paid),
                });
            }
            if credit_after > 0 {
                credits_after.insert(c.address, Amount(credit_after));
            }
            ranked.push(RankedMiner {
                address: c.address,
                owed: Amount(c.owed),
            });
            figures.insert(
                c.address,
                figures_of(window, c, Some(rank), paid, credit_after),
            );
        }
        for (i, c) in outside.iter().enumerate() {
            // owed > 0 for every claim.
            credits_after.insert(c.address, Amount(c.owed));
            figures.insert(c.address, figures_of(window, c, Some(slots + i), 0, c.owed));
        }
        let pool_amount = budget;

        let mut outputs = Vec::with_capacity(payments.len() + 1);
        if pool_amount > 0 {
            outputs.push(CoinbaseOutput {
                recipient: pool_address,
                amount: Amount(pool_amount),
            });
        }
        outputs.extend(payments);
        if outputs.is_empty() {
            outputs.push(CoinbaseOutput {
                recipient: pool_address,
                amount: Amount::ZERO,
            });
        }

        // Addresses in the window owed nothing (their share rounds to zero), and the
        // pool address if it mined.
        for (address, work) in window.by_address() {
            if address == pool_address {
                figures.insert(
                    address,
                    MinerFigures {
                        window_work,
                        address_work: work,
                        entitlement: Amount(pool_entitlement),
                        paid: Amount(pool_amount),
                        ..MinerFigures::default()
                    },
                );
            } else {
                figures.entry(address).or_insert(MinerFigures {
                    window_work,
                    address_work: work,
                    ..MinerFigures::default()
                });
            }
        }

        Split {
            reward,
            fee_ppm,
            fee: Amount(fee),
            distributable: Amount(distributable),
            pool_address,
            max_outputs,
            window_work,
            pool_entitlement: Amount(pool_entitlement),
            remainder: Amount(remainder),
            dust: Amount(dust),
            pool_amount: Amount(pool_amount),
            ranked,
            outputs,
            credits: credits_after,
            figures,
        }
    }

    /// What the pool publishes with the job built on this split.
    pub fn view(&self) -> PayoutView<'_> {
        PayoutView {
            reward: self.reward,
            fee_ppm: self.fee_ppm,
            pool_address: self.pool_address,
            max_outputs: self.max_outputs,
            window_work: self.window_work,
            dust: self.dust,
            ranked: &self.ranked,
            outputs: &self.outputs,
        }
    }

    /// The figures the pool sends the miner of `address` with the job.
    pub fn standing(&self, address: Address) -> MinerStanding {
        let figures = self.figures.get(&address).copied().unwrap_or_default();
        MinerStanding {
            address,
            address_work: figures.address_work,
            credit_before: figures.credit_before,
        }
    }

    /// The miner-side check: whether `view` pays the miner of `me` what the rule
    /// gives it, from what that miner alone knows. What it establishes
    /// (`docs/STRATUM.md` §6.3):
    ///
    /// - the outputs are a valid coinbase for the reward (non-empty, within the
    ///   limit, distinct, no zero output but a lone one to the pool, summing to `R`);
    /// - the ranked list is well formed (at most `max_outputs − 1` rows, in (owed
    ///   desc, address asc) order, all owed something, the pool not among them) and
    ///   the outputs follow it (pool first, then ranked miners in order, nobody else);
    /// - if the miner is ranked in: its row says `owed = credit + e`, and it is paid
    ///   between `e` and `owed` (plus the dust if it is first); if its credit was
    ///   not repaid in full, the budget ran out, so there is no pool output;
    /// - if it is owed something but not ranked in: every slot is taken by a miner
    ///   ranking above it.
    ///
    /// What no single miner can check: the other miners' work and credits (hence
    /// their rows and the dust); a full replay of the share log checks those.
    pub fn check(view: &PayoutView<'_>, me: &MinerStanding) -> Result<MinerCheck, CheckError> {
        check_outputs(view)?;
        check_ranked(view)?;

        let fee = fee_of(view.reward.0, view.fee_ppm.min(PPM));
        let distributable = view.reward.0 - fee;
        if view.dust.0 > distributable || (view.ranked.is_empty() && view.dust.0 > 0) {
            return Err(CheckError::BadDust {
                dust: view.dust,
                distributable: Amount(distributable),
            });
        }
        if me.address_work > view.window_work {
            return Err(CheckError::BadWork {
                address_work: me.address_work,
                window_work: view.window_work,
            });
        }
        let e = entitlement(distributable, me.address_work, view.window_work);
        let paid = paid_to(view.outputs, &me.address);
        if me.address == view.pool_address {
            return Ok(MinerCheck {
                entitlement: Amount(e),
                owed: Amount::ZERO,
                paid: Amount(paid),
                credit_after: Amount::ZERO,
            });
        }
        let credit = me.credit_before.0;
        let owed = credit.saturating_add(e);
        let row = view
            .ranked
            .iter()
            .enumerate()
            .find(|(_, r)| r.address == me.address);
        let credit_after = match row {
            Some((index, row)) => {
                if row.owed.0 != owed {
                    return Err(CheckError::OwedMismatch {
                        expected: Amount(owed),
                        listed: row.owed,
                    });
                }
                let bonus = if index == 0 { view.dust.0 } else { 0 };
                let minimum = e.saturating_add(bonus);
                let maximum = owed.saturating_add(bonus);
                if paid < minimum {
                    return Err(CheckError::Underpaid {
                        minimum: Amount(minimum),
                        paid: Amount(paid),
                    });
                }
                if paid > maximum {
                    return Err(CheckError::Overpaid {
                        maximum: Amount(maximum),
                        paid: Amount(paid),
                    });
                }
                let repaid = paid - minimum;
                let pool_amount = paid_to(view.outputs, &view.pool_address);
                if repaid < credit && pool_amount > 0 {
                    return Err(CheckError::PoolKeptRepayment {
                        pool_amount: Amount(pool_amount),
                    });
                }
                maximum - paid
            }
            None => {
                let slots = view.max_outputs.saturating_sub(1);
                let outranked = view.ranked.len() >= slots
                    && view.ranked.last().is_none_or(|last| {
                        ranks_before(last.owed.0, &last.address, owed, &me.address)
                    });
                if owed > 0 && !outranked {
                    return Err(CheckError::LeftOut { owed: Amount(owed) });
                }
                owed
            }
        };
        Ok(MinerCheck {
            entitlement: Amount(e),
            owed: Amount(owed),
            paid: Amount(paid),
            credit_after: Amount(credit_after),
        })
    }
}

/// `floor(reward · fee_ppm / 10^6)`; `fee_ppm ≤ 10^6`, so at most `reward`.
fn fee_of(reward: u64, fee_ppm: u32) -> u64 {
    let fee = u128::from(reward) * u128::from(fee_ppm.min(PPM)) / u128::from(PPM);
    u64::try_from(fee).unwrap_or(reward).min(reward)
}

/// `floor(d · work / total)` exactly (the product needs up to 192 bits); 0 for an
/// empty window. At most `d` when `work ≤ total`.
fn entitlement(d: u64, work: u128, total: u128) -> u64 {
    if total == 0 || work == 0 {
        return 0;
    }
    let q = U256::from(d) * U256::from(work) / U256::from(total);
    u64::try_from(q).map_or(d, |q| q.min(d))
}

/// Whether `(owed_a, a)` ranks before `(owed_b, b)`: more owed first, then the
/// smaller address.
fn ranks_before(owed_a: u64, a: &Address, owed_b: u64, b: &Address) -> bool {
    owed_a > owed_b || (owed_a == owed_b && a < b)
}

/// What `outputs` pay `address` (0 if none).
fn paid_to(outputs: &[CoinbaseOutput], address: &Address) -> u64 {
    outputs
        .iter()
        .find(|o| o.recipient == *address)
        .map_or(0, |o| o.amount.0)
}

fn figures_of(
    window: &Window,
    c: &Claim,
    rank: Option<usize>,
    paid: u64,
    credit_after: u64,
) -> MinerFigures {
    MinerFigures {
        window_work: window.total_work(),
        address_work: window.work_of(&c.address),
        credit_before: Amount(c.credit),
        entitlement: Amount(c.entitlement),
        owed: Amount(c.owed),
        rank,
        paid: Amount(paid),
        credit_after: Amount(credit_after),
    }
}

/// The coinbase rules a miner can check alone, and the sum.
fn check_outputs(view: &PayoutView<'_>) -> Result<(), CheckError> {
    let outputs = view.outputs;
    if outputs.is_empty() {
        return Err(CheckError::NoOutputs);
    }
    let max = view.max_outputs.max(1);
    if outputs.len() > max {
        return Err(CheckError::TooManyOutputs {
            count: outputs.len(),
            max,
        });
    }
    let mut seen = BTreeSet::new();
    for o in outputs {
        if !seen.insert(o.recipient) {
            return Err(CheckError::DuplicateRecipient {
                recipient: o.recipient,
            });
        }
        let lone_to_pool = outputs.len() == 1 && o.recipient == view.pool_address;
        if o.amount == Amount::ZERO && !lone_to_pool {
            return Err(CheckError::ZeroOutput {
                recipient: o.recipient,
            });
        }
    }
    let sum: u128 = outputs.iter().map(|o| u128::from(o.amount.0)).sum();
    if sum != u128::from(view.reward.0) {
        return Err(CheckError::SumMismatch {
            expected: view.reward,
            actual: sum,
        });
    }
    Ok(())
}

/// The ranked list's shape, and the outputs following it.
fn check_ranked(view: &PayoutView<'_>) -> Result<(), CheckError> {
    let max = view.max_outputs.saturating_sub(1);
    if view.ranked.len() > max {
        return Err(CheckError::RankedListTooLong {
            len: view.ranked.len(),
            max,
        });
    }
    for (index, row) in view.ranked.iter().enumerate() {
        if row.address == view.pool_address {
            return Err(CheckError::PoolRanked);
        }
        if row.owed == Amount::ZERO {
            return Err(CheckError::RankedZeroOwed { index });
        }
        if let Some(prev) = index.checked_sub(1).and_then(|p| view.ranked.get(p))
            && !ranks_before(prev.owed.0, &prev.address, row.owed.0, &row.address)
        {
            return Err(CheckError::RankedOutOfOrder { index });
        }
    }
    let mut rows = view.ranked.iter();
    for (i, o) in view.outputs.iter().enumerate() {
        if o.recipient == view.pool_address {
            if i != 0 {
                return Err(CheckError::PoolOutputNotFirst);
            }
            continue;
        }
        if !rows.by_ref().any(|r| r.address == o.recipient) {
            let ranked = view.ranked.iter().any(|r| r.address == o.recipient);
            return Err(if ranked {
                CheckError::OutputOutOfOrder {
                    recipient: o.recipient,
                }
            } else {
                CheckError::UnrankedOutput {
                    recipient: o.recipient,
                }
            });
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::cast_possible_truncation)]
mod tests {
    use proptest::collection::vec;
    use proptest::prelude::*;

    use super::*;

    const A: Address = Address([1; 20]);
    const B: Address = Address([2; 20]);
    const C: Address = Address([3; 20]);
    const POOL: Address = Address([9; 20]);

    fn out(recipient: Address, amount: u64) -> CoinbaseOutput {
        CoinbaseOutput {
            recipient,
            amount: Amount(amount),
        }
    }

    fn window(parts: &[(Address, u128)]) -> Window {
        Window::from_work(0, parts.iter().copied()).unwrap()
    }

    fn credits(parts: &[(Address, u64)]) -> BTreeMap<Address, Amount> {
        parts.iter().map(|&(a, c)| (a, Amount(c))).collect()
    }

    /// The consensus rules of a coinbase (issue 15) hold.
    fn assert_valid_coinbase(split: &Split) {
        let outputs = &split.outputs;
        assert!(!outputs.is_empty());
        assert!(outputs.len() <= split.max_outputs.max(1), "{outputs:?}");
        let total: u128 = outputs.iter().map(|o| u128::from(o.amount.0)).sum();
        assert_eq!(total, u128::from(split.reward.0), "{outputs:?}");
        let distinct: BTreeSet<Address> = outputs.iter().map(|o| o.recipient).collect();
        assert_eq!(distinct.len(), outputs.len(), "{outputs:?}");
        if outputs.len() > 1 {
            assert!(
                outputs.iter().all(|o| o.amount > Amount::ZERO),
                "{outputs:?}"
            );
        } else if outputs[0].amount == Amount::ZERO {
            assert_eq!(outputs[0].recipient, split.pool_address);
        }
    }

    /// Every address the split has figures for passes its own check, which finds the
    /// same figures.
    fn assert_all_check(split: &Split) {
        let view = split.view();
        for (address, figures) in &split.figures {
            let got = Split::check(&view, &split.standing(*address))
                .unwrap_or_else(|e| panic!("{address}: {e} in {split:?}"));
            assert_eq!(got.entitlement, figures.entitlement, "{address}");
            assert_eq!(got.owed, figures.owed, "{address}");
            assert_eq!(got.paid, figures.paid, "{address}");
            assert_eq!(got.credit_after, figures.credit_after, "{address}");
        }
    }

    fn amounts(outputs: &[CoinbaseOutput]) -> Vec<(Address, u64)> {
        outputs.iter().map(|o| (o.recipient, o.amount.0)).collect()
    }

    #[test]
    fn share_work_is_block_work_saturated() {
        assert_eq!(share_work(&Target(U256::MAX)), 1);
        assert_eq!(share_work(&Target(U256::MAX >> 1)), 2);
        // 2^256 / (2^232 + 1) rounds down to 2^24 - 1.
        assert_eq!(share_work(&Target(U256::from(1u8) << 232)), 0xff_ffff);
        assert_eq!(share_work(&Target(U256::from(1u8) << 128)), u128::MAX);
        assert_eq!(share_work(&Target(U256::ZERO)), u128::MAX);
    }

    #[test]
    fn window_counts_the_straddling_share_in_part() {
        let mut log = ShareLog::new(100);
        assert_eq!(log.push(A, 10), Ok(0));
        assert_eq!(log.push(B, 10), Ok(1));
        assert_eq!(log.push(C, 10), Ok(2));
        let w = log.window(15).unwrap();
        assert_eq!((w.start(), w.end(), w.total_work()), (15, 30, 15));
        assert_eq!(w.by_address().collect::<Vec<_>>(), vec![(B, 5), (C, 10)]);
        assert_eq!(w.work_of(&A), 0);
        // A window larger than the log is the whole log: W = min(n, total).
        let w = log.window(1_000).unwrap();
        assert_eq!((w.start(), w.total_work()), (0, 30));
        assert_eq!(w.work_of(&A), 10);
        let w = log.window(0).unwrap();
        assert!(w.is_empty());
        assert_eq!(w.by_address().count(), 0);
    }

    #[test]
    fn pruning_keeps_what_the_largest_window_needs() {
        let mut log = ShareLog::new(15);
        log.push(A, 10).unwrap();
        log.push(B, 10).unwrap();
        assert_eq!(log.len(), 2);
        log.push(C, 10).unwrap();
        // A's share ends at 10, before every window of up to 15 (which start at 15).
        assert_eq!(log.shares().map(|s| s.seq).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(
            log.window(15).unwrap(),
            window(&[(B, 5), (C, 10)]).shifted(15)
        );
        assert_eq!(
            log.window(16),
            Err(ShareLogError::WindowTooLarge {
                asked: 16,
                kept: 15
            })
        );
        // Raising the bound does not bring A back.
        log.set_keep(100);
        assert!(log.window(16).is_err());
        log.push(A, 10).unwrap();
        assert_eq!(
            log.window(16).unwrap(),
            window(&[(A, 10), (C, 6)]).shifted(24)
        );
        log.set_keep(0);
        assert!(log.is_empty());
        assert!(log.window(0).unwrap().is_empty());
    }

    impl Window {
        /// The same work, starting at `start`.
        fn shifted(self, start: u128) -> Window {
            Window::from_work(start, self.by_address().collect::<Vec<_>>()).unwrap()
        }
    }

    #[test]
    fn share_log_refuses_to_overflow() {
        let mut log = ShareLog::new(u128::MAX);
        log.push(A, u128::MAX).unwrap();
        assert_eq!(log.push(B, 1), Err(ShareLogError::WorkOverflow { seq: 1 }));
        assert_eq!(log.total(), u128::MAX);
        assert!(Window::from_work(0, [(A, u128::MAX), (B, 1)]).is_none());
    }

    #[test]
    fn entitlement_is_exact_beyond_128_bits() {
        assert_eq!(entitlement(10, 1, 3), 3);
        assert_eq!(entitlement(7, 0, 0), 0);
        assert_eq!(entitlement(u64::MAX, u128::MAX, u128::MAX), u64::MAX);
        // (2^64 − 1)(2^128 − 2) / (2^128 − 1) = 2^64 − 1 − (2^64 − 1)/(2^128 − 1).
        assert_eq!(
            entitlement(u64::MAX, u128::MAX - 1, u128::MAX),
            u64::MAX - 1
        );
        assert_eq!(fee_of(1_000, 10_000), 10);
        assert_eq!(fee_of(999, 10_000), 9);
        assert_eq!(fee_of(u64::MAX, PPM), u64::MAX);
        assert_eq!(fee_of(u64::MAX, u32::MAX), u64::MAX);
    }

    #[test]
    fn fee_then_work_fractions() {
        let s = Split::compute(
            Amount(1_000),
            10_000,
            POOL,
            &window(&[(A, 1), (B, 2), (C, 7)]),
            &BTreeMap::new(),
            4,
        );
        assert_eq!((s.fee, s.distributable), (Amount(10), Amount(990)));
        assert_eq!(
            amounts(&s.outputs),
            vec![(POOL, 10), (C, 693), (B, 198), (A, 99)]
        );
        assert_eq!(
            s.ranked,
            vec![
                RankedMiner {
                    address: C,
                    owed: Amount(693)
                },
                RankedMiner {
                    address: B,
                    owed: Amount(198)
                },
                RankedMiner {
                    address: A,
                    owed: Amount(99)
                },
            ]
        );
        assert!(s.credits.is_empty());
        let c = s.figures[&C];
        assert_eq!(
            (c.window_work, c.address_work, c.entitlement, c.paid, c.rank),
            (10, 7, Amount(693), Amount(693), Some(0))
        );
        assert_valid_coinbase(&s);
        assert_all_check(&s);
    }

    #[test]
    fn dust_goes_to_the_first_ranked_and_ties_rank_by_address() {
        let s = Split::compute(
            Amount(1_000),
            0,
            POOL,
            &window(&[(C, 1), (B, 1), (A, 1)]),
            &BTreeMap::new(),
            4,
        );
        assert_eq!((s.remainder, s.dust), (Amount(1), Amount(1)));
        // A 0% fee with nothing parked leaves no pool output.
        assert_eq!(amounts(&s.outputs), vec![(A, 334), (B, 333), (C, 333)]);
        assert_eq!(s.pool_amount, Amount::ZERO);
        assert_valid_coinbase(&s);
        assert_all_check(&s);
    }

    #[test]
    fn credits_are_carried_and_repaid_in_rank_order() {
        // One miner slot: the rest is parked with the pool and owed.
        let w = window(&[(A, 1), (B, 2), (C, 7)]);
        // Per block: (the outputs, the credits after it).
        type Payouts<'a> = &'a [(Address, u64)];
        let expected: [(Payouts<'_>, Payouts<'_>); 5] = [
            (&[(POOL, 300), (C, 700)], &[(A, 100), (B, 200)]),
            (&[(POOL, 300), (C, 700)], &[(A, 200), (B, 400)]),
            (&[(POOL, 300), (C, 700)], &[(A, 300), (B, 600)]),
            // B is owed 800 > C's 700: paid 200 and its 600 credit out of what is
            // parked (C's 700 and A's 100).
            (&[(POOL, 200), (B, 800)], &[(A, 400), (C, 700)]),
            // C is owed 1400: paid 700 and 300 of credit, all the budget; no pool output.
            (&[(C, 1_000)], &[(A, 500), (B, 200), (C, 400)]),
        ];
        let mut carried = BTreeMap::new();
        for (block, (outputs, after)) in expected.iter().enumerate() {
            let s = Split::compute(Amount(1_000), 0, POOL, &w, &carried, 2);
            assert_eq!(amounts(&s.outputs), outputs.to_vec(), "block {block}");
            assert_eq!(s.credits, credits(after), "block {block}");
            assert_eq!(s.ranked.len(), 1);
            assert_valid_coinbase(&s);
            assert_all_check(&s);
            carried = s.credits;
        }
    }

    #[test]
    fn the_pool_address_mining_is_paid_in_the_pool_output() {
        let s = Split::compute(
            Amount(1_000),
            10_000,
            POOL,
            &window(&[(A, 1), (POOL, 2), (C, 7)]),
            &credits(&[(POOL, 77)]),
            4,
        );
        assert_eq!(s.pool_entitlement, Amount(198));
        assert_eq!(amounts(&s.outputs), vec![(POOL, 208), (C, 693), (A, 99)]);
        assert!(s.ranked.iter().all(|r| r.address != POOL));
        // The pool owes itself nothing: its credit entry is dropped.
        assert!(s.credits.is_empty());
        let p = s.figures[&POOL];
        assert_eq!((p.entitlement, p.paid), (Amount(198), Amount(208)));
        assert_valid_coinbase(&s);
        assert_all_check(&s);
    }

    #[test]
    fn an_empty_window_pays_the_pool_after_credits() {
        let empty = Window::default();
        let s = Split::compute(Amount(1_000), 10_000, POOL, &empty, &BTreeMap::new(), 4);
        assert_eq!(amounts(&s.outputs), vec![(POOL, 1_000)]);
        assert_eq!(s.dust, Amount::ZERO);
        assert_all_check(&s);
        let s = Split::compute(Amount(1_000), 10_000, POOL, &empty, &credits(&[(A, 50)]), 4);
        assert_eq!(amounts(&s.outputs), vec![(POOL, 950), (A, 50)]);
        assert!(s.credits.is_empty());
        assert_valid_coinbase(&s);
        assert_all_check(&s);
    }

    #[test]
    fn a_zero_reward_is_one_zero_output_to_the_pool() {
        let w = window(&[(A, 1), (B, 2)]);
        let s = Split::compute(Amount::ZERO, 10_000, POOL, &w, &BTreeMap::new(), 4);
        assert_eq!(amounts(&s.outputs), vec![(POOL, 0)]);
        assert!(s.credits.is_empty());
        assert_all_check(&s);
        let s = Split::compute(Amount::ZERO, 10_000, POOL, &w, &credits(&[(A, 5)]), 4);
        assert_eq!(amounts(&s.outputs), vec![(POOL, 0)]);
        assert_eq!(s.credits, credits(&[(A, 5)]));
        assert_eq!(
            s.ranked,
            vec![RankedMiner {
                address: A,
                owed: Amount(5)
            }]
        );
        assert_valid_coinbase(&s);
        assert_all_check(&s);
    }

    #[test]
    fn one_output_leaves_no_room_for_miners() {
        let w = window(&[(A, 1), (B, 2), (C, 7)]);
        for max_outputs in [0, 1] {
            let s = Split::compute(
                Amount(1_000),
                20_000,
                POOL,
                &w,
                &BTreeMap::new(),
                max_outputs,
            );
            assert_eq!(amounts(&s.outputs), vec![(POOL, 1_000)]);
            assert_eq!(s.credits, credits(&[(A, 98), (B, 196), (C, 686)]));
            assert_valid_coinbase(&s);
            assert_all_check(&s);
        }
    }

    #[test]
    fn a_fee_above_everything_takes_everything() {
        let s = Split::compute(
            Amount(1_000),
            2_000_000,
            POOL,
            &window(&[(A, 1)]),
            &BTreeMap::new(),
            4,
        );
        assert_eq!((s.fee_ppm, s.fee), (PPM, Amount(1_000)));
        assert_eq!(amounts(&s.outputs), vec![(POOL, 1_000)]);
        assert_all_check(&s);
    }

    /// The split of `fee_then_work_fractions`, for tampering with.
    fn sample() -> Split {
        Split::compute(
            Amount(1_000),
            10_000,
            POOL,
            &window(&[(A, 1), (B, 2), (C, 7)]),
            &BTreeMap::new(),
            4,
        )
    }

    fn check_with(
        split: &Split,
        outputs: &[CoinbaseOutput],
        ranked: &[RankedMiner],
        who: Address,
    ) -> Result<MinerCheck, CheckError> {
        let view = PayoutView {
            outputs,
            ranked,
            ..split.view()
        };
        Split::check(&view, &split.standing(who))
    }

    #[test]
    fn check_refuses_a_malformed_coinbase() {
        let s = sample();
        let r = &s.ranked;
        assert_eq!(check_with(&s, &[], r, A), Err(CheckError::NoOutputs));
        let dup = [out(POOL, 10), out(C, 693), out(C, 198), out(A, 99)];
        assert_eq!(
            check_with(&s, &dup, r, A),
            Err(CheckError::DuplicateRecipient { recipient: C })
        );
        let zero = [out(POOL, 0), out(C, 693), out(B, 198), out(A, 109)];
        assert_eq!(
            check_with(&s, &zero, r, A),
            Err(CheckError::ZeroOutput { recipient: POOL })
        );
        assert_eq!(
            check_with(&s, &[out(A, 0)], &[], A),
            Err(CheckError::ZeroOutput { recipient: A })
        );
        let view = PayoutView {
            reward: Amount(1_001),
            ..s.view()
        };
        assert_eq!(
            Split::check(&view, &s.standing(A)),
            Err(CheckError::SumMismatch {
                expected: Amount(1_001),
                actual: 1_000
            })
        );
        let view = PayoutView {
            max_outputs: 3,
            ..s.view()
        };
        assert_eq!(
            Split::check(&view, &s.standing(A)),
            Err(CheckError::TooManyOutputs { count: 4, max: 3 })
        );
    }

    #[test]
    fn check_refuses_a_malformed_ranking() {
        let s = sample();
        let (c, b, a) = (s.ranked[0], s.ranked[1], s.ranked[2]);
        assert_eq!(
            check_with(&s, &s.outputs, &[b, c, a], A),
            Err(CheckError::RankedOutOfOrder { index: 1 })
        );
        let pool_row = RankedMiner {
            address: POOL,
            owed: Amount(10),
        };
        assert_eq!(
            check_with(&s, &s.outputs, &[c, b, pool_row], A),
            Err(CheckError::PoolRanked)
        );
        let zero_row = RankedMiner {
            address: A,
            owed: Amount::ZERO,
        };
        assert_eq!(
            check_with(&s, &s.outputs, &[c, b, zero_row], A),
            Err(CheckError::RankedZeroOwed { index: 2 })
        );
        let view = PayoutView {
            max_outputs: 3,
            outputs: &[out(POOL, 10), out(C, 990)],
            ..s.view()
        };
        assert_eq!(
            Split::check(&view, &s.standing(C)),
            Err(CheckError::RankedListTooLong { len: 3, max: 2 })
        );
        let pool_second = [out(C, 693), out(POOL, 10), out(B, 198), out(A, 99)];
        assert_eq!(
            check_with(&s, &pool_second, &s.ranked, A),
            Err(CheckError::PoolOutputNotFirst)
        );
        let swapped = [out(POOL, 10), out(B, 198), out(C, 693), out(A, 99)];
        assert_eq!(
            check_with(&s, &swapped, &s.ranked, A),
            Err(CheckError::OutputOutOfOrder { recipient: C })
        );
        let stranger = Address([4; 20]);
        let unranked = [out(POOL, 10), out(C, 693), out(B, 198), out(stranger, 99)];
        assert_eq!(
            check_with(&s, &unranked, &s.ranked, A),
            Err(CheckError::UnrankedOutput {
                recipient: stranger
            })
        );
        let view = PayoutView {
            dust: Amount(991),
            ..s.view()
        };
        assert_eq!(
            Split::check(&view, &s.standing(A)),
            Err(CheckError::BadDust {
                dust: Amount(991),
                distributable: Amount(990)
            })
        );
    }

    #[test]
    fn check_finds_a_wrong_payment() {
        let s = sample();
        let short = [out(POOL, 11), out(C, 692), out(B, 198), out(A, 99)];
        assert_eq!(
            check_with(&s, &short, &s.ranked, C),
            Err(CheckError::Underpaid {
                minimum: Amount(693),
                paid: Amount(692)
            })
        );
        let long = [out(POOL, 9), out(C, 694), out(B, 198), out(A, 99)];
        assert_eq!(
            check_with(&s, &long, &s.ranked, C),
            Err(CheckError::Overpaid {
                maximum: Amount(693),
                paid: Amount(694)
            })
        );
        let claimed_credit = MinerStanding {
            credit_before: Amount(5),
            ..s.standing(C)
        };
        assert_eq!(
            Split::check(&s.view(), &claimed_credit),
            Err(CheckError::OwedMismatch {
                expected: Amount(698),
                listed: Amount(693)
            })
        );
        let too_much_work = MinerStanding {
            address_work: 11,
            ..s.standing(C)
        };
        assert_eq!(
            Split::check(&s.view(), &too_much_work),
            Err(CheckError::BadWork {
                address_work: 11,
                window_work: 10
            })
        );
    }

    #[test]
    fn check_finds_a_miner_left_out_that_ranks_in() {
        let s = sample();
        let (c, b, a) = (s.ranked[0], s.ranked[1], s.ranked[2]);
        // A slot is free, yet A is not paid.
        let outputs = [out(POOL, 109), out(C, 693), out(B, 198)];
        assert_eq!(
            check_with(&s, &outputs, &[c, b], A),
            Err(CheckError::LeftOut { owed: Amount(99) })
        );
        // With two miner slots, A is rightly left out and keeps what it is owed...
        let view = PayoutView {
            max_outputs: 3,
            outputs: &outputs,
            ranked: &[c, b],
            ..s.view()
        };
        let left_out = Split::check(&view, &s.standing(A)).unwrap();
        assert_eq!(
            (left_out.paid, left_out.credit_after),
            (Amount(0), Amount(99))
        );
        // ...but B, owed more than A, may not be left out in A's favour.
        let view = PayoutView {
            max_outputs: 3,
            outputs: &[out(POOL, 208), out(C, 693), out(A, 99)],
            ranked: &[c, a],
            ..s.view()
        };
        assert_eq!(
            Split::check(&view, &s.standing(B)),
            Err(CheckError::LeftOut { owed: Amount(198) })
        );
    }

    #[test]
    fn check_error_codes_are_distinct() {
        let a = Amount::ZERO;
        let all = [
            CheckError::NoOutputs,
            CheckError::TooManyOutputs { count: 0, max: 0 },
            CheckError::DuplicateRecipient { recipient: A },
            CheckError::ZeroOutput { recipient: A },
            CheckError::SumMismatch {
                expected: a,
                actual: 0,
            },
            CheckError::PoolOutputNotFirst,
            CheckError::RankedListTooLong { len: 0, max: 0 },
            CheckError::PoolRanked,
            CheckError::RankedZeroOwed { index: 0 },
            CheckError::RankedOutOfOrder { index: 0 },
            CheckError::UnrankedOutput { recipient: A },
            CheckError::OutputOutOfOrder { recipient: A },
            CheckError::BadDust {
                dust: a,
                distributable: a,
            },
            CheckError::BadWork {
                address_work: 0,
                window_work: 0,
            },
            CheckError::OwedMismatch {
                expected: a,
                listed: a,
            },
            CheckError::Underpaid {
                minimum: a,
                paid: a,
            },
            CheckError::Overpaid {
                maximum: a,
                paid: a,
            },
            CheckError::PoolKeptRepayment { pool_amount: a },
            CheckError::LeftOut { owed: a },
        ];
        let codes: BTreeSet<&str> = all.iter().map(CheckError::code).collect();
        assert_eq!(codes.len(), all.len());
    }

    #[test]
    fn check_finds_a_pool_keeping_a_repayment() {
        // A is owed 1500 of credit; B's 1000 is the whole budget.
        let s = Split::compute(
            Amount(1_000),
            0,
            POOL,
            &window(&[(B, 1)]),
            &credits(&[(A, 1_500)]),
            2,
        );
        assert_eq!(amounts(&s.outputs), vec![(A, 1_000)]);
        assert_eq!(s.credits, credits(&[(A, 500), (B, 1_000)]));
        assert_all_check(&s);
        let kept = [out(POOL, 1), out(A, 999)];
        assert_eq!(
            check_with(&s, &kept, &s.ranked, A),
            Err(CheckError::PoolKeptRepayment {
                pool_amount: Amount(1)
            })
        );
    }

    /// The window over `shares` recounted from scratch.
    fn naive_window(shares: &[(Address, u128)], n: u128) -> Window {
        let total: u128 = shares.iter().map(|s| s.1).sum();
        let start = total - n.min(total);
        let mut position = 0;
        let mut parts = Vec::new();
        for &(address, work) in shares {
            let (from, to) = (position, position + work);
            position = to;
            let from = from.max(start);
            if to > from {
                parts.push((address, to - from));
            }
        }
        Window::from_work(start, parts).unwrap()
    }

    /// Runs the pool over `shares`, finding a block after each share listed in
    /// `blocks`: the splits, in order.
    fn run(
        shares: &[(Address, u128)],
        blocks: &[usize],
        keep: u128,
        n: u128,
        reward: u64,
        fee_ppm: u32,
        max_outputs: usize,
    ) -> Vec<Split> {
        let mut log = ShareLog::new(keep);
        let mut carried = BTreeMap::new();
        let mut splits = Vec::new();
        for (i, &(address, work)) in shares.iter().enumerate() {
            log.push(address, work).unwrap();
            if blocks.contains(&i) {
                let w = log.window(n).unwrap();
                assert_eq!(w, naive_window(&shares[..=i], n));
                let s = Split::compute(Amount(reward), fee_ppm, POOL, &w, &carried, max_outputs);
                carried = s.credits.clone();
                splits.push(s);
            }
        }
        splits
    }

    fn arb_address() -> impl Strategy<Value = Address> {
        (0u8..6).prop_map(|b| Address([b; 20]))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// The coinbase is valid and sums to the reward, every miner's check passes,
        /// and the pool's books balance: its output plus what it owed before is its fee,
        /// its own entitlement, the remainder it kept and what it owes after.
        #[test]
        fn splits_are_exact_and_check(
            reward in prop_oneof![0u64..2_000, 0u64..=u64::MAX / 2],
            fee_ppm in prop_oneof![Just(0u32), 0u32..=1_100_000],
            pool in arb_address(),
            max_outputs in 0usize..7,
            work in vec((arb_address(), prop_oneof![1u128..100, 1u128..=u128::MAX >> 4]), 0..12),
            credit in vec((arb_address(), 0u64..1_000_000), 0..6),
        ) {
            let w = Window::from_work(0, work).unwrap();
            let credits: BTreeMap<Address, Amount> =
                credit.into_iter().map(|(a, c)| (a, Amount(c))).collect();
            let s = Split::compute(Amount(reward), fee_ppm, pool, &w, &credits, max_outputs);
            assert_valid_coinbase(&s);
            assert_all_check(&s);
            let before: u128 = credits
                .iter()
                .filter(|(a, _)| **a != pool)
                .map(|(_, c)| u128::from(c.0))
                .sum();
            let after: u128 = s.credits.values().map(|c| u128::from(c.0)).sum();
            prop_assert_eq!(
                u128::from(s.pool_amount.0) + before,
                u128::from(s.fee.0)
                    + u128::from(s.pool_entitlement.0)
                    + u128::from(s.remainder.0 - s.dust.0)
                    + after
            );
        }

        /// Moving one unit from any miner's output to the pool is caught by that miner.
        #[test]
        fn a_unit_taken_from_a_miner_is_caught(
            reward in 0u64..1_000_000,
            fee_ppm in 0u32..100_000,
            max_outputs in 2usize..6,
            work in vec((arb_address(), 1u128..1_000), 1..12),
            credit in vec((arb_address(), 0u64..100_000), 0..6),
        ) {
            let pool = Address([9; 20]);
            let w = Window::from_work(0, work).unwrap();
            let credits: BTreeMap<Address, Amount> =
                credit.into_iter().map(|(a, c)| (a, Amount(c))).collect();
            let s = Split::compute(Amount(reward), fee_ppm, pool, &w, &credits, max_outputs);
            for (i, o) in s.outputs.iter().enumerate() {
                if o.recipient == pool {
                    continue;
                }
                let mut outputs = s.outputs.clone();
                outputs[i].amount = Amount(o.amount.0 - 1);
                match outputs.iter().position(|p| p.recipient == pool) {
                    Some(j) => outputs[j].amount = Amount(outputs[j].amount.0 + 1),
                    None => outputs.insert(0, out(pool, 1)),
                }
                let view = PayoutView { outputs: &outputs, ..s.view() };
                prop_assert!(Split::check(&view, &s.standing(o.recipient)).is_err());
            }
        }

        /// Windows equal a recount from scratch, and replaying the same shares with
        /// another pruning bound reproduces every coinbase and credit.
        #[test]
        fn replays_reproduce_every_coinbase(
            shares in vec((arb_address(), 1u128..1_000), 1..200),
            blocks in vec(0usize..200, 1..10),
            n in 1u128..5_000,
            reward in 0u64..1_000_000,
            fee_ppm in 0u32..50_000,
            max_outputs in 1usize..5,
        ) {
            let first = run(&shares, &blocks, n, n, reward, fee_ppm, max_outputs);
            let again = run(&shares, &blocks, n, n, reward, fee_ppm, max_outputs);
            let wider = run(&shares, &blocks, 2 * n + 7, n, reward, fee_ppm, max_outputs);
            prop_assert_eq!(&first, &again);
            prop_assert_eq!(&first, &wider);
        }

        /// Three miners doing work 1 : 2 : 7 in windows of whole rounds are each paid,
        /// with what they are still owed, their fraction of Σ D within rounding: less
        /// than 1 base unit a block below, and at most the 2 units of dust a block
        /// above.
        #[test]
        fn miners_are_paid_their_work_fraction(
            plan in vec((1u64..10_000_000_000, 1usize..4, 0usize..10), 50..80),
            share in 1u128..1 << 40,
            rounds_per_window in 1u128..4,
            fee_ppm in 0u32..100_000,
            max_outputs in 2usize..6,
        ) {
            const ROUND: [Address; 10] = [A, B, B, C, C, C, C, C, C, C];
            let ratio = [(A, 1i128), (B, 2), (C, 7)];
            let n = 10 * rounds_per_window * share;
            let mut log = ShareLog::new(n);
            let mut carried = BTreeMap::new();
            let mut paid: BTreeMap<Address, u64> = BTreeMap::new();
            let (mut total_d, mut pool_total, mut pool_kept) = (0u64, 0u64, 0u64);
            for &(reward, rounds, rotation) in &plan {
                for _ in 0..rounds {
                    for k in 0..10 {
                        log.push(ROUND[(k + rotation) % 10], share).unwrap();
                    }
                }
                let w = log.window(n).unwrap();
                let s = Split::compute(Amount(reward), fee_ppm, POOL, &w, &carried, max_outputs);
                assert_valid_coinbase(&s);
                total_d += s.distributable.0;
                pool_total += s.pool_amount.0;
                pool_kept += s.fee.0 + (s.remainder.0 - s.dust.0);
                for o in &s.outputs {
                    if o.recipient != POOL {
                        *paid.entry(o.recipient).or_insert(0) += o.amount.0;
                    }
                }
                carried = s.credits;
            }
            let blocks = plan.len() as i128;
            for (address, r) in ratio {
                let credit = carried.get(&address).map_or(0, |c| c.0);
                let got = i128::from(paid.get(&address).copied().unwrap_or(0) + credit);
                let diff = 10 * got - r * i128::from(total_d);
                prop_assert!(
                    -10 * blocks < diff && diff <= 20 * blocks,
                    "{address}: got {got} of {total_d} (ratio {r}/10), diff {diff}"
                );
            }
            let owed: u64 = carried.values().map(|c| c.0).sum();
            prop_assert_eq!(pool_total, pool_kept + owed);
        }
    }
}
