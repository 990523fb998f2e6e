//! What a miner checks on every job before it hashes (`docs/STRATUM.md` §3.4, §6.3):
//! [`check_job`] refuses a job unless
//!
//! 0. it follows [`RULE`] and its targets agree: the share target is
//!    `floor(2^256 / d) − 1` with `d ≥ 1`, the block target is canonical and every
//!    block is also a share;
//! 1. its coinbase decodes, for this network's chain id, at the header's height, with
//!    the published outputs;
//! 2. the merkle branch folds the coinbase's txid up to the header's tx root;
//! 3. the header's 88 bytes hash to the published pre-hash;
//! 4. the payout figures are the miner's own (its address, at least the work of its
//!    own shares accepted inside the window, the credit its last block left it) and
//!    the coinbase pays it what the PPLNS rule gives ([`Split::check`]).
//!
//! The miner's own side is a [`MinerRecord`]: its address, its nonces and the shares
//! the pool accepted from it, each with its place in the share log, so that its work
//! in any window is known exactly.

use std::collections::VecDeque;

use cairn_core::merkle::MerkleProof;
use cairn_core::{
    Address, Amount, CoinbaseOutput, CompactError, Decode, DecodeError, Hash, Target, Transaction,
};
use thiserror::Error;

use crate::messages::{NonceSpan, Notify, RULE, share_target};
use crate::pplns::{CheckError, MinerCheck, PayoutView, Split};

/// The longest merkle branch: a block has fewer than 2^32 transactions.
pub const MAX_BRANCH_LEN: usize = 32;
/// Accepted shares a [`MinerRecord`] keeps at most (the oldest are dropped first,
/// which only makes the work check weaker, never wrong).
pub const MAX_RECORDED_SHARES: usize = 1 << 20;

/// A share the pool accepted: it covers `(position − work, position]` in the share
/// log's cumulative work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcceptedShare {
    /// `P_i`, from the submit result.
    pub position: u128,
    /// The work credited (the job's difficulty).
    pub work: u64,
}

impl AcceptedShare {
    /// Where it starts (excluded).
    fn start(&self) -> u128 {
        self.position - u128::from(self.work)
    }

    /// Its work inside the window `(start, end]`.
    fn work_in(&self, start: u128, end: u128) -> u128 {
        let from = self.start().max(start);
        let to = self.position.min(end);
        to.saturating_sub(from)
    }
}

/// Why an accepted share was not recorded: its position contradicts the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RecordError {
    /// The position is below the share's own work.
    #[error("share position {position} is below its work {work}")]
    PositionBelowWork {
        /// The position given.
        position: u128,
        /// The share's work.
        work: u64,
    },
    /// The share overlaps one recorded before it (shares tile the log in order).
    #[error("share at {position} (work {work}) overlaps the previous share, ending at {previous}")]
    Overlap {
        /// The position given.
        position: u128,
        /// The share's work.
        work: u64,
        /// Where the previous share ends.
        previous: u128,
    },
}

/// The shares the pool accepted from this miner, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AcceptedShares {
    shares: VecDeque<AcceptedShare>,
}

impl AcceptedShares {
    /// No shares.
    pub fn new() -> AcceptedShares {
        AcceptedShares::default()
    }

    /// Records an accepted share of `work` ending at `position`. Refused if it cannot
    /// be where the pool says (before its own start, or overlapping the last one):
    /// the miner then does not count it, which keeps its checks free of false alarms.
    pub fn record(&mut self, position: u128, work: u64) -> Result<(), RecordError> {
        let share = AcceptedShare { position, work };
        if position < u128::from(work) {
            return Err(RecordError::PositionBelowWork { position, work });
        }
        if let Some(last) = self.shares.back()
            && share.start() < last.position
        {
            return Err(RecordError::Overlap {
                position,
                work,
                previous: last.position,
            });
        }
        if self.shares.len() >= MAX_RECORDED_SHARES {
            self.shares.pop_front();
        }
        self.shares.push_back(share);
        Ok(())
    }

    /// The work of these shares inside the window `(start, end]`: a share straddling
    /// `start` counts only for its part inside, as the pool counts it (§6.1).
    pub fn work_in(&self, start: u128, end: u128) -> u128 {
        self.shares
            .iter()
            .rev()
            .take_while(|s| s.position > start)
            .map(|s| s.work_in(start, end))
            .fold(0u128, u128::saturating_add)
    }

    /// Drops the shares ending at or before `position` (no later window reaches them
    /// if windows start after it; dropping too many only weakens the check).
    pub fn forget_until(&mut self, position: u128) {
        while self.shares.front().is_some_and(|s| s.position <= position) {
            self.shares.pop_front();
        }
    }

    /// Shares held.
    pub fn len(&self) -> usize {
        self.shares.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.shares.is_empty()
    }
}

/// The credit a miner's own block left it: the first job built on that block must
/// show it as `you.credit` (§6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpectedCredit {
    /// The block the miner found (the pool's latest block on that chain).
    pub block: Hash,
    /// The miner's credit after it ([`MinerCheck::credit_after`] of its job).
    pub credit: Amount,
}

/// What a miner knows of itself, to check a job against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinerRecord {
    /// The payout address it authorised with.
    pub address: Address,
    /// Its session's nonces (from the subscribe result).
    pub nonces: NonceSpan,
    /// The shares the pool accepted for this address on this pool.
    pub accepted: AcceptedShares,
    /// The credit its latest block left it, until a job built on that block is seen.
    pub expected_credit: Option<ExpectedCredit>,
}

impl MinerRecord {
    /// A miner paying `address`, searching `nonces`, with no share yet.
    pub fn new(address: Address, nonces: NonceSpan) -> MinerRecord {
        MinerRecord {
            address,
            nonces,
            accepted: AcceptedShares::new(),
            expected_credit: None,
        }
    }
}

/// A job that passed [`check_job`]: what to search, and what the miner learnt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedJob {
    /// The job's id.
    pub job_id: u64,
    /// Whether it drops every earlier job.
    pub clean: bool,
    /// The block's height.
    pub height: u64,
    /// The parent's id.
    pub prev: Hash,
    /// `blake3(header bytes 0..88)`.
    pub pre_hash: Hash,
    /// The block target, expanded.
    pub block_target: Target,
    /// The share difficulty `d`: the work each share is credited.
    pub difficulty: u64,
    /// The share target, `floor(2^256 / d) − 1`.
    pub share_target: Target,
    /// The nonces to search.
    pub nonces: NonceSpan,
    /// Where the window starts, in cumulative share work.
    pub window_start: u128,
    /// Where it ends.
    pub window_end: u128,
    /// What this coinbase pays the miner, and the credit it leaves.
    pub payout: MinerCheck,
}

impl CheckedJob {
    /// Whether `pow` is a share of this job.
    pub fn is_share(&self, pow: &Hash) -> bool {
        self.share_target.is_met_by(pow)
    }

    /// Whether `pow` is a block.
    pub fn is_block(&self, pow: &Hash) -> bool {
        self.block_target.is_met_by(pow)
    }
}

/// Why a miner refuses a job. One variant per check, cheapest first.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum JobError {
    /// A payout rule this miner does not know.
    #[error("unknown payout rule {rule:?}, this miner checks {RULE:?}")]
    UnknownRule {
        /// The rule published.
        rule: String,
    },
    /// A share difficulty of 0.
    #[error("share difficulty 0")]
    ZeroDifficulty,
    /// The share target is not the one of the difficulty.
    #[error("share target is not floor(2^256 / {difficulty}) - 1")]
    ShareTargetMismatch {
        /// The job's difficulty.
        difficulty: u64,
    },
    /// The header's compact target is not canonical.
    #[error("header target: {0}")]
    BadBlockTarget(CompactError),
    /// The share target is below the block target: a block would not be a share.
    #[error("share difficulty {difficulty} is above the block's work: blocks would not be shares")]
    BlockNotShare {
        /// The job's difficulty.
        difficulty: u64,
    },
    /// `coinbase.raw` is not hex.
    #[error("coinbase raw bytes are not hex")]
    CoinbaseNotHex,
    /// `coinbase.raw` is not a canonical transaction.
    #[error("coinbase does not decode: {0}")]
    CoinbaseUndecodable(DecodeError),
    /// `coinbase.raw` is a transfer.
    #[error("coinbase raw bytes are a transfer")]
    NotACoinbase,
    /// The coinbase is for another network.
    #[error("coinbase chain id {found}, this network's is {expected}")]
    WrongChainId {
        /// The network's chain id.
        expected: u32,
        /// The coinbase's.
        found: u32,
    },
    /// The coinbase is for another height.
    #[error("coinbase height {coinbase}, the header's is {header}")]
    WrongHeight {
        /// The header's height.
        header: u64,
        /// The coinbase's.
        coinbase: u64,
    },
    /// The published outputs are not the ones `raw` holds.
    #[error("published coinbase outputs differ from the raw coinbase's")]
    OutputsMismatch,
    /// More siblings than any block can have.
    #[error("merkle branch of {len} hashes, at most {MAX_BRANCH_LEN}")]
    BranchTooLong {
        /// Siblings given.
        len: usize,
    },
    /// The branch does not lead from the coinbase to the tx root.
    #[error("merkle branch from coinbase {txid} does not reach tx root {tx_root}")]
    MerkleMismatch {
        /// The coinbase's txid.
        txid: Hash,
        /// The header's tx root.
        tx_root: Hash,
    },
    /// The published pre-hash is not the header's.
    #[error("pre-hash {published} is not the header's {computed}")]
    PreHashMismatch {
        /// What the job says.
        published: Hash,
        /// What the header hashes to.
        computed: Hash,
    },
    /// `windowWork` is not `windowEnd − windowStart`.
    #[error("window ({start}, {end}] does not hold {work} work")]
    WindowMismatch {
        /// `windowStart`.
        start: u128,
        /// `windowEnd`.
        end: u128,
        /// `windowWork`.
        work: u128,
    },
    /// `you` is another address's figures.
    #[error("payout figures are for {published}, this miner pays {mine}")]
    NotMyAddress {
        /// `you.address`.
        published: Address,
        /// The miner's address.
        mine: Address,
    },
    /// The pool counts less work for the address than its own accepted shares hold.
    #[error("pool counts {reported} work in the window, this miner's accepted shares hold {own}")]
    WorkUndercounted {
        /// `you.addressWork`.
        reported: u128,
        /// The work of the miner's own shares inside the window.
        own: u128,
    },
    /// The first job on the miner's own block does not show the credit it left.
    #[error("credit {reported} after block {block}, the block left {expected}")]
    CreditMismatch {
        /// The miner's block.
        block: Hash,
        /// The credit its job promised.
        expected: Amount,
        /// `you.credit`.
        reported: Amount,
    },
    /// The coinbase does not pay the miner what the rule gives.
    #[error("payout check failed: {0}")]
    Payout(CheckError),
}

impl JobError {
    /// A stable kebab-case code for logs (the payout check's own code for
    /// [`JobError::Payout`]).
    pub fn code(&self) -> &'static str {
        match self {
            JobError::UnknownRule { .. } => "unknown-rule",
            JobError::ZeroDifficulty => "zero-difficulty",
            JobError::ShareTargetMismatch { .. } => "share-target-mismatch",
            JobError::BadBlockTarget(_) => "bad-block-target",
            JobError::BlockNotShare { .. } => "block-not-share",
            JobError::CoinbaseNotHex => "coinbase-not-hex",
            JobError::CoinbaseUndecodable(_) => "coinbase-undecodable",
            JobError::NotACoinbase => "not-a-coinbase",
            JobError::WrongChainId { .. } => "wrong-chain-id",
            JobError::WrongHeight { .. } => "wrong-height",
            JobError::OutputsMismatch => "outputs-mismatch",
            JobError::BranchTooLong { .. } => "branch-too-long",
            JobError::MerkleMismatch { .. } => "merkle-mismatch",
            JobError::PreHashMismatch { .. } => "pre-hash-mismatch",
            JobError::WindowMismatch { .. } => "window-mismatch",
            JobError::NotMyAddress { .. } => "not-my-address",
            JobError::WorkUndercounted { .. } => "work-undercounted",
            JobError::CreditMismatch { .. } => "credit-mismatch",
            JobError::Payout(e) => e.code(),
        }
    }
}

/// Checks `notify` for a miner on the network `chain_id` (§3.4 steps 1–4, and the
/// module's step 0), refusing it at the first failed check.
pub fn check_job(notify: &Notify, chain_id: u32, me: &MinerRecord) -> Result<CheckedJob, JobError> {
    let (block_target, share_target) = check_targets(notify)?;
    let (txid, outputs) = check_coinbase(notify, chain_id)?;
    check_branch(&txid, &notify.merkle_branch, &notify.header.tx_root)?;
    let pre_hash = notify.header.pre_hash();
    if pre_hash != notify.pre_hash {
        return Err(JobError::PreHashMismatch {
            published: notify.pre_hash,
            computed: pre_hash,
        });
    }
    check_own_figures(notify, me)?;
    let payout = check_payout(notify, &outputs)?;
    Ok(CheckedJob {
        job_id: notify.job_id,
        clean: notify.clean,
        height: notify.header.height,
        prev: notify.header.prev,
        pre_hash,
        block_target,
        difficulty: notify.difficulty,
        share_target,
        nonces: me.nonces,
        window_start: notify.payout.window_start,
        window_end: notify.payout.window_end,
        payout,
    })
}

/// Step 0: the rule, and the block and share targets.
fn check_targets(notify: &Notify) -> Result<(Target, Target), JobError> {
    if notify.payout.rule != RULE {
        return Err(JobError::UnknownRule {
            rule: notify.payout.rule.chars().take(64).collect(),
        });
    }
    let difficulty = notify.difficulty;
    if difficulty == 0 {
        return Err(JobError::ZeroDifficulty);
    }
    let share = share_target(difficulty);
    if notify.share_target.target() != share {
        return Err(JobError::ShareTargetMismatch { difficulty });
    }
    let block = notify
        .header
        .target
        .to_target()
        .map_err(JobError::BadBlockTarget)?;
    if share < block {
        return Err(JobError::BlockNotShare { difficulty });
    }
    Ok((block, share))
}

/// Step 1: the coinbase's bytes, network, height and outputs. Gives its txid and
/// outputs.
fn check_coinbase(notify: &Notify, chain_id: u32) -> Result<(Hash, Vec<CoinbaseOutput>), JobError> {
    let raw = hex::decode(&notify.coinbase.raw).map_err(|_| JobError::CoinbaseNotHex)?;
    let coinbase = match Transaction::from_bytes(&raw).map_err(JobError::CoinbaseUndecodable)? {
        Transaction::Coinbase(c) => c,
        Transaction::Transfer(_) => return Err(JobError::NotACoinbase),
    };
    if coinbase.chain_id != chain_id {
        return Err(JobError::WrongChainId {
            expected: chain_id,
            found: coinbase.chain_id,
        });
    }
    if coinbase.height != notify.header.height {
        return Err(JobError::WrongHeight {
            header: notify.header.height,
            coinbase: coinbase.height,
        });
    }
    let published = notify.coinbase.outputs.iter().map(CoinbaseOutput::from);
    if !coinbase.outputs.iter().copied().eq(published) {
        return Err(JobError::OutputsMismatch);
    }
    // `from_bytes` accepts canonical bytes only, so these are the bytes the block
    // will hold and this is their txid.
    Ok((Hash::digest(&raw), coinbase.outputs))
}

/// Step 2: the branch folds `txid` up to `tx_root`, with core's own merkle rule.
fn check_branch(txid: &Hash, branch: &[Hash], tx_root: &Hash) -> Result<(), JobError> {
    let leaf_count =
        leaf_count_for_depth(branch.len()).ok_or(JobError::BranchTooLong { len: branch.len() })?;
    let proof = MerkleProof {
        index: 0,
        leaf_count,
        siblings: branch.to_vec(),
    };
    if proof.verify(txid, tx_root) {
        Ok(())
    } else {
        Err(JobError::MerkleMismatch {
            txid: *txid,
            tx_root: *tx_root,
        })
    }
}

/// A leaf count whose tree has `depth` levels above its leaves: `2^(depth − 1) + 1`
/// (1 for depth 0). Leaf 0 is never the carried-up odd node of a level, so it takes
/// one sibling per level and folds the same way in every tree of that depth: the
/// branch alone decides, as §3.4 step 2 says.
fn leaf_count_for_depth(depth: usize) -> Option<u32> {
    match depth {
        0 => Some(1),
        1..=MAX_BRANCH_LEN => {
            let shift = u32::try_from(depth - 1).ok()?;
            1u32.checked_shl(shift)?.checked_add(1)
        }
        _ => None,
    }
}

/// Step 4, the miner's own part: the figures are its own, the window adds up, its
/// own accepted shares are counted, and its last block's credit is carried.
fn check_own_figures(notify: &Notify, me: &MinerRecord) -> Result<(), JobError> {
    let payout = &notify.payout;
    let you = &payout.you;
    if you.address != me.address {
        return Err(JobError::NotMyAddress {
            published: you.address,
            mine: me.address,
        });
    }
    if payout.window_end.checked_sub(payout.window_start) != Some(payout.window_work) {
        return Err(JobError::WindowMismatch {
            start: payout.window_start,
            end: payout.window_end,
            work: payout.window_work,
        });
    }
    // Other connections paying the same address add to the pool's figure, so it may
    // be more than the miner's own count, never less.
    let own = me.accepted.work_in(payout.window_start, payout.window_end);
    if you.address_work < own {
        return Err(JobError::WorkUndercounted {
            reported: you.address_work,
            own,
        });
    }
    if let Some(expected) = me.expected_credit
        && expected.block == notify.header.prev
        && expected.credit != you.credit
    {
        return Err(JobError::CreditMismatch {
            block: expected.block,
            expected: expected.credit,
            reported: you.credit,
        });
    }
    Ok(())
}

/// Step 4, the rule: [`Split::check`] on the published figures and `outputs`.
fn check_payout(notify: &Notify, outputs: &[CoinbaseOutput]) -> Result<MinerCheck, JobError> {
    let payout = &notify.payout;
    let ranked = payout.ranked_miners();
    let view = PayoutView {
        reward: payout.reward,
        fee_ppm: payout.fee_ppm,
        pool_address: payout.pool_address,
        max_outputs: usize::try_from(payout.max_outputs).unwrap_or(usize::MAX),
        window_work: payout.window_work,
        dust: payout.dust,
        ranked: &ranked,
        outputs,
    };
    Split::check(&view, &payout.standing()).map_err(JobError::Payout)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use cairn_core::merkle::merkle_root;
    use cairn_core::{Coinbase, CompactTarget, Encode};

    use super::*;
    use crate::messages::{
        JobCoinbase, JobHeader, JobOutput, PayoutFigures, ServerMessage, ShareTarget, example,
        parse_server_message,
    };
    use crate::pplns::Window;

    const CHAIN: u32 = 7;
    const HEIGHT: u64 = 123_457;
    const POOL: Address = Address([0x50; 20]);
    const A: Address = Address([0x0a; 20]);
    const B: Address = Address([0x0b; 20]);
    const C: Address = Address([0x0c; 20]);
    const WINDOW_START: u128 = 987_652_173_516_360;
    const WINDOW_END: u128 = 987_654_321_000_000;

    /// A job built the way the pool builds it: the worked example of §7, from the
    /// split to the header.
    struct Fixture {
        notify: Notify,
        coinbase: Coinbase,
        transfers: Vec<Hash>,
        record: MinerRecord,
    }

    fn fixture() -> Fixture {
        let window = Window::from_work(
            WINDOW_START,
            [(A, 805_306_365), (B, 1_073_741_820), (C, 268_435_455)],
        )
        .unwrap();
        let credits: BTreeMap<Address, Amount> =
            [(A, Amount(3_000_000)), (C, Amount(5_000_000))].into();
        let split = Split::compute(Amount(200_030_000), 10_000, POOL, &window, &credits, 3);
        let coinbase = Coinbase {
            chain_id: CHAIN,
            height: HEIGHT,
            outputs: split.outputs.clone(),
        };
        let header = JobHeader {
            version: 1,
            height: HEIGHT,
            prev: Hash::digest(b"parent"),
            tx_root: Hash::ZERO,
            timestamp: 1_793_500_000_000,
            target: CompactTarget(0x1d10_0000),
        };
        let mut notify = Notify {
            job_id: 907,
            clean: true,
            difficulty: 65_536,
            share_target: ShareTarget::from_difficulty(65_536),
            header,
            pre_hash: Hash::ZERO,
            coinbase: JobCoinbase::from_coinbase(&coinbase),
            merkle_branch: Vec::new(),
            payout: PayoutFigures::new(&split, &window, A),
        };
        let transfers: Vec<Hash> = (0u8..3).map(|i| Hash::digest(&[i])).collect();
        seal(&mut notify, &coinbase, &transfers);
        Fixture {
            notify,
            coinbase,
            transfers,
            record: MinerRecord::new(A, NonceSpan::for_extranonce(42)),
        }
    }

    /// Makes the coinbase, branch, tx root and pre-hash of `notify` agree with
    /// `coinbase` (so that a test tampers with one thing only).
    fn seal(notify: &mut Notify, coinbase: &Coinbase, transfers: &[Hash]) {
        notify.coinbase = JobCoinbase::from_coinbase(coinbase);
        let mut leaves = vec![Hash::digest(&coinbase.to_bytes())];
        leaves.extend_from_slice(transfers);
        notify.header.tx_root = merkle_root(&leaves);
        notify.merkle_branch = MerkleProof::new(&leaves, 0).unwrap().siblings;
        notify.pre_hash = notify.header.pre_hash();
    }

    fn refused(f: &Fixture) -> JobError {
        check_job(&f.notify, CHAIN, &f.record).unwrap_err()
    }

    fn output_mut(coinbase: &mut Coinbase, address: Address) -> &mut CoinbaseOutput {
        coinbase
            .outputs
            .iter_mut()
            .find(|o| o.recipient == address)
            .unwrap()
    }

    #[test]
    fn the_worked_example_passes() {
        let ServerMessage::Notify(notify) =
            parse_server_message(example::NOTIFY.as_bytes()).unwrap()
        else {
            panic!("not a notify")
        };
        let record = MinerRecord::new(A, NonceSpan::for_extranonce(42));
        let job = check_job(&notify, CHAIN, &record).unwrap();
        assert_eq!(job.payout.entitlement, Amount(74_261_137));
        assert_eq!(job.payout.paid, Amount(77_261_137));
        assert_eq!(job.payout.credit_after, Amount::ZERO);
        assert_eq!(job.nonces.start, 11_821_949_021_847_552);
        // The example's share meets the share target, not the block's.
        let pow = cairn_core::pow::pow_hash(&job.pre_hash, 11_821_949_021_920_628);
        assert!(job.is_share(&pow) && !job.is_block(&pow));
        // C, left out with its 29753712, checks its own copy too.
        let mut c = notify.clone();
        c.payout.you = crate::messages::You {
            address: C,
            address_work: 268_435_455,
            credit: Amount(5_000_000),
        };
        let job = check_job(&c, CHAIN, &MinerRecord::new(C, record.nonces)).unwrap();
        assert_eq!(job.payout.credit_after, Amount(29_753_712));
    }

    #[test]
    fn a_built_job_passes_and_is_the_worked_example() {
        let f = fixture();
        let outputs: Vec<(Address, u64)> = f
            .coinbase
            .outputs
            .iter()
            .map(|o| (o.recipient, o.amount.0))
            .collect();
        assert_eq!(
            outputs,
            [(POOL, 23_754_012), (B, 99_014_851), (A, 77_261_137)]
        );
        assert_eq!(f.notify.merkle_branch.len(), 2);
        let job = check_job(&f.notify, CHAIN, &f.record).unwrap();
        assert_eq!(job.pre_hash, f.notify.pre_hash);
        assert_eq!(job.difficulty, 65_536);
        assert_eq!(
            job.share_target,
            ShareTarget::from_difficulty(65_536).target()
        );
        assert_eq!(
            job.block_target,
            CompactTarget(0x1d10_0000).to_target().unwrap()
        );
        assert_eq!(job.payout.paid, Amount(77_261_137));
    }

    #[test]
    fn branches_of_every_depth_fold_to_the_root() {
        for n in 1..40usize {
            let mut f = fixture();
            let transfers: Vec<Hash> = (0..n - 1).map(|i| Hash::digest(&i.to_le_bytes())).collect();
            let coinbase = f.coinbase.clone();
            seal(&mut f.notify, &coinbase, &transfers);
            check_job(&f.notify, CHAIN, &f.record).unwrap_or_else(|e| panic!("{n} leaves: {e}"));
        }
        assert_eq!(leaf_count_for_depth(32), Some((1 << 31) + 1));
        assert_eq!(leaf_count_for_depth(33), None);
    }

    #[test]
    fn a_coinbase_leaving_the_miner_out_is_refused() {
        let mut f = fixture();
        let a = output_mut(&mut f.coinbase, A).amount;
        output_mut(&mut f.coinbase, POOL).amount.0 += a.0;
        f.coinbase.outputs.retain(|o| o.recipient != A);
        f.notify.payout.ranked.retain(|r| r.address != A);
        let (coinbase, transfers) = (f.coinbase.clone(), f.transfers.clone());
        seal(&mut f.notify, &coinbase, &transfers);
        assert_eq!(
            refused(&f),
            JobError::Payout(CheckError::LeftOut {
                owed: Amount(77_261_137)
            })
        );
    }

    #[test]
    fn underpaying_the_miner_is_refused() {
        let mut f = fixture();
        output_mut(&mut f.coinbase, A).amount.0 -= 3_000_001;
        output_mut(&mut f.coinbase, POOL).amount.0 += 3_000_001;
        let (coinbase, transfers) = (f.coinbase.clone(), f.transfers.clone());
        seal(&mut f.notify, &coinbase, &transfers);
        let e = refused(&f);
        assert_eq!(e.code(), "underpaid", "{e}");
        // Paid its entitlement but its credit kept by the pool's output.
        let mut f = fixture();
        output_mut(&mut f.coinbase, A).amount.0 -= 1;
        output_mut(&mut f.coinbase, POOL).amount.0 += 1;
        let (coinbase, transfers) = (f.coinbase.clone(), f.transfers.clone());
        seal(&mut f.notify, &coinbase, &transfers);
        assert_eq!(refused(&f).code(), "pool-kept-repayment");
    }

    #[test]
    fn a_wrong_branch_is_refused() {
        let mut f = fixture();
        f.notify.merkle_branch[1] = Hash::digest(b"another transfer");
        assert!(matches!(refused(&f), JobError::MerkleMismatch { .. }));
        let mut f = fixture();
        f.notify.merkle_branch.pop();
        assert!(matches!(refused(&f), JobError::MerkleMismatch { .. }));
        let mut f = fixture();
        f.notify.merkle_branch.push(Hash::ZERO);
        assert!(matches!(refused(&f), JobError::MerkleMismatch { .. }));
        let mut f = fixture();
        f.notify.merkle_branch = vec![Hash::ZERO; MAX_BRANCH_LEN + 1];
        assert_eq!(refused(&f), JobError::BranchTooLong { len: 33 });
    }

    #[test]
    fn a_wrong_pre_hash_is_refused() {
        let mut f = fixture();
        f.notify.pre_hash.0[0] ^= 1;
        assert!(matches!(refused(&f), JobError::PreHashMismatch { .. }));
        // A header changed after the pre-hash was taken.
        let mut f = fixture();
        f.notify.header.timestamp += 1;
        assert!(matches!(refused(&f), JobError::PreHashMismatch { .. }));
    }

    #[test]
    fn a_wrong_height_is_refused() {
        let mut f = fixture();
        f.notify.header.height += 1;
        f.notify.pre_hash = f.notify.header.pre_hash();
        assert_eq!(
            refused(&f),
            JobError::WrongHeight {
                header: HEIGHT + 1,
                coinbase: HEIGHT
            }
        );
    }

    #[test]
    fn a_wrong_chain_id_is_refused() {
        let f = fixture();
        assert_eq!(
            check_job(&f.notify, CHAIN + 1, &f.record),
            Err(JobError::WrongChainId {
                expected: CHAIN + 1,
                found: CHAIN
            })
        );
    }

    #[test]
    fn a_bad_coinbase_is_refused() {
        let mut f = fixture();
        f.notify.coinbase.outputs[0].amount.0 += 1;
        assert_eq!(refused(&f), JobError::OutputsMismatch);
        let mut f = fixture();
        f.notify.coinbase.outputs.push(JobOutput {
            recipient: C,
            amount: Amount(1),
        });
        assert_eq!(refused(&f), JobError::OutputsMismatch);
        let mut f = fixture();
        f.notify.coinbase.raw.push('0');
        assert_eq!(refused(&f), JobError::CoinbaseNotHex);
        let mut f = fixture();
        f.notify.coinbase.raw.push_str("00");
        assert!(matches!(refused(&f), JobError::CoinbaseUndecodable(_)));
        let mut f = fixture();
        f.notify.coinbase.raw.replace_range(0..2, "01");
        assert!(matches!(refused(&f), JobError::CoinbaseUndecodable(_)));
        let mut f = fixture();
        f.notify.coinbase.raw = "zz".into();
        assert_eq!(refused(&f), JobError::CoinbaseNotHex);
    }

    #[test]
    fn bad_targets_and_rules_are_refused() {
        let mut f = fixture();
        f.notify.payout.rule = "cairn-pplns-2".into();
        assert_eq!(refused(&f).code(), "unknown-rule");
        let mut f = fixture();
        f.notify.difficulty = 65_537;
        assert_eq!(
            refused(&f),
            JobError::ShareTargetMismatch { difficulty: 65_537 }
        );
        let mut f = fixture();
        f.notify.difficulty = 0;
        f.notify.share_target = ShareTarget::from_difficulty(0);
        assert_eq!(refused(&f), JobError::ZeroDifficulty);
        // The block's work is 268435455: a difficulty above it would lose blocks.
        let mut f = fixture();
        f.notify.difficulty = 268_435_456;
        f.notify.share_target = ShareTarget::from_difficulty(268_435_456);
        assert_eq!(
            refused(&f),
            JobError::BlockNotShare {
                difficulty: 268_435_456
            }
        );
        let mut f = fixture();
        f.notify.difficulty = 268_435_455;
        f.notify.share_target = ShareTarget::from_difficulty(268_435_455);
        assert!(check_job(&f.notify, CHAIN, &f.record).is_ok());
        let mut f = fixture();
        f.notify.header.target = CompactTarget(0x1d00_8000);
        assert_eq!(refused(&f).code(), "bad-block-target");
    }

    #[test]
    fn figures_for_someone_else_are_refused() {
        let mut f = fixture();
        f.record.address = B;
        assert_eq!(
            refused(&f),
            JobError::NotMyAddress {
                published: A,
                mine: B
            }
        );
        let mut f = fixture();
        f.notify.payout.window_work += 1;
        assert!(matches!(refused(&f), JobError::WindowMismatch { .. }));
        let mut f = fixture();
        f.notify.payout.you.credit = Amount(2_999_999);
        assert_eq!(refused(&f).code(), "owed-mismatch");
    }

    #[test]
    fn the_miners_own_work_must_be_counted() {
        let mut f = fixture();
        // Shares ending inside the window, one straddling its start.
        f.record.accepted.record(WINDOW_START + 5, 10).unwrap();
        f.record
            .accepted
            .record(WINDOW_END - 1_000, 805_306_355)
            .unwrap();
        assert_eq!(
            f.record.accepted.work_in(WINDOW_START, WINDOW_END),
            805_306_360
        );
        assert!(check_job(&f.notify, CHAIN, &f.record).is_ok());
        // A share accepted after the job was built is not in its window.
        f.record
            .accepted
            .record(WINDOW_END + 65_536, 65_536)
            .unwrap();
        assert!(check_job(&f.notify, CHAIN, &f.record).is_ok());
        // The pool counting one unit less than the miner's own shares hold.
        let mut g = fixture();
        g.record.accepted = f.record.accepted.clone();
        g.notify.payout.you.address_work = 805_306_359;
        let e = check_job(&g.notify, CHAIN, &g.record).unwrap_err();
        assert_eq!(
            e,
            JobError::WorkUndercounted {
                reported: 805_306_359,
                own: 805_306_360
            }
        );
    }

    #[test]
    fn the_credit_of_the_miners_block_must_be_carried() {
        let mut f = fixture();
        f.record.expected_credit = Some(ExpectedCredit {
            block: f.notify.header.prev,
            credit: Amount(3_000_000),
        });
        assert!(check_job(&f.notify, CHAIN, &f.record).is_ok());
        f.record.expected_credit = Some(ExpectedCredit {
            block: f.notify.header.prev,
            credit: Amount(0),
        });
        assert_eq!(refused(&f).code(), "credit-mismatch");
        // Jobs on other parents are not concerned.
        f.record.expected_credit = Some(ExpectedCredit {
            block: Hash::digest(b"elsewhere"),
            credit: Amount(0),
        });
        assert!(check_job(&f.notify, CHAIN, &f.record).is_ok());
    }

    #[test]
    fn accepted_shares_tile_the_log() {
        let mut s = AcceptedShares::new();
        assert_eq!(
            s.record(5, 6),
            Err(RecordError::PositionBelowWork {
                position: 5,
                work: 6
            })
        );
        s.record(10, 10).unwrap();
        assert!(matches!(s.record(15, 6), Err(RecordError::Overlap { .. })));
        s.record(16, 6).unwrap();
        s.record(100, 10).unwrap();
        assert_eq!(s.work_in(0, 100), 26);
        assert_eq!(s.work_in(5, 95), 5 + 6 + 5);
        assert_eq!(s.work_in(16, 90), 0);
        assert_eq!(s.work_in(100, 200), 0);
        s.forget_until(16);
        assert_eq!((s.len(), s.work_in(0, 100)), (1, 10));
        s.forget_until(100);
        assert!(s.is_empty());
    }

    #[test]
    fn every_error_has_its_own_code() {
        let errors = [
            JobError::UnknownRule {
                rule: String::new(),
            },
            JobError::ZeroDifficulty,
            JobError::ShareTargetMismatch { difficulty: 1 },
            JobError::BadBlockTarget(CompactError::NonCanonical(0)),
            JobError::BlockNotShare { difficulty: 1 },
            JobError::CoinbaseNotHex,
            JobError::CoinbaseUndecodable(DecodeError::TrailingBytes(1)),
            JobError::NotACoinbase,
            JobError::WrongChainId {
                expected: 1,
                found: 2,
            },
            JobError::WrongHeight {
                header: 1,
                coinbase: 2,
            },
            JobError::OutputsMismatch,
            JobError::BranchTooLong { len: 33 },
            JobError::MerkleMismatch {
                txid: Hash::ZERO,
                tx_root: Hash::ZERO,
            },
            JobError::PreHashMismatch {
                published: Hash::ZERO,
                computed: Hash::ZERO,
            },
            JobError::WindowMismatch {
                start: 0,
                end: 0,
                work: 1,
            },
            JobError::NotMyAddress {
                published: A,
                mine: B,
            },
            JobError::WorkUndercounted {
                reported: 0,
                own: 1,
            },
            JobError::CreditMismatch {
                block: Hash::ZERO,
                expected: Amount(1),
                reported: Amount(0),
            },
            JobError::Payout(CheckError::NoOutputs),
        ];
        let codes: std::collections::BTreeSet<&str> = errors.iter().map(JobError::code).collect();
        assert_eq!(codes.len(), errors.len());
        for e in &errors {
            assert!(!e.to_string().is_empty());
        }
    }
}
