//! Block and transaction validation, one check per rule.
//!
//! Every rule is a small `…Check` type with a `verify` function that returns the
//! [`RejectReason`] named after it. The orchestrating functions run them cheapest
//! first, in the order a node meets the data:
//!
//! 1. [`validate_header_standalone`]: what a header proves by itself (PoW included),
//!    so headers-first sync can check work before fetching any body;
//! 2. [`validate_header_in_context`]: rules that need the parent chain and the clock;
//! 3. [`validate_body`]: rules that need the transactions but no state;
//! 4. [`crate::state::apply_block`]: rules that need account state (nonces, balances,
//!    the coinbase amount).

mod body;
mod header;

use thiserror::Error;

pub use self::body::{
    AmountCheck, BlockSizeCheck, ChainIdCheck, CoinbaseCheck, DuplicateTxCheck, MerkleRootCheck,
    SignatureCheck, validate_body, validate_body_except, validate_transfer_stateless,
};
pub use self::header::{
    DifficultyCheck, FutureTimeCheck, HeaderContext, HeightCheck, MedianTimeCheck, PowCheck,
    TargetCheck, VersionCheck, median_time_past, validate_header_in_context,
    validate_header_standalone,
};
use crate::address::Address;
use crate::amount::Amount;
use crate::encoding::DecodeError;
use crate::hash::Hash;
use crate::keys::SignatureError;
use crate::pow::CompactTarget;

/// Why a block or transaction is invalid. The `Display` text is for people; [`code`]
/// is a stable machine-readable name.
///
/// [`code`]: RejectReason::code
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RejectReason {
    /// The bytes are not a canonical encoding.
    #[error("malformed: {0}")]
    Malformed(#[from] DecodeError),
    /// Unknown header version.
    #[error("unsupported header version {0}")]
    UnsupportedVersion(u32),
    /// The compact target is not canonical.
    #[error("non-canonical compact target {0}")]
    BadTargetEncoding(CompactTarget),
    /// The target is easier than the network allows.
    #[error("target {0} is above the proof-of-work limit")]
    TargetAboveLimit(CompactTarget),
    /// The PoW hash is above the target.
    #[error("proof of work {pow} does not meet target {target}")]
    InsufficientProofOfWork {
        /// The block's PoW hash.
        pow: Hash,
        /// The target it claims.
        target: CompactTarget,
    },
    /// The parent is not known (an orphan, or a stale template).
    #[error("parent {prev} is unknown")]
    UnknownParent {
        /// The header's `prev`.
        prev: Hash,
    },
    /// The height is not the parent's plus one.
    #[error("height {got}, expected {expected}")]
    BadHeight {
        /// Parent height + 1.
        expected: u64,
        /// The header's height.
        got: u64,
    },
    /// The target is not what ASERT prescribes.
    #[error("target {got}, difficulty rule requires {expected}")]
    BadDifficulty {
        /// What ASERT gives.
        expected: CompactTarget,
        /// What the header says.
        got: CompactTarget,
    },
    /// The timestamp is not after the median of the previous blocks.
    #[error("timestamp {timestamp_ms} is not after the median time past {median_ms}")]
    TimestampTooOld {
        /// The header's timestamp.
        timestamp_ms: u64,
        /// Median of the last 11 ancestors.
        median_ms: u64,
    },
    /// The timestamp is too far ahead of the local clock. Not permanent: the same block
    /// may be valid later.
    #[error(
        "timestamp {timestamp_ms} is more than the allowed drift past local time (max {max_ms})"
    )]
    TimestampTooFarInFuture {
        /// The header's timestamp.
        timestamp_ms: u64,
        /// Local time plus the allowed drift.
        max_ms: u64,
    },
    /// The encoded block exceeds the size limit.
    #[error("block is {size} bytes, limit {max}")]
    BlockTooLarge {
        /// Encoded size.
        size: usize,
        /// The network's limit.
        max: usize,
    },
    /// The first transaction is not a coinbase (or there is none).
    #[error("first transaction is not a coinbase")]
    MissingCoinbase,
    /// A coinbase appears after the first position.
    #[error("transaction {index} is a second coinbase")]
    ExtraCoinbase {
        /// Its position.
        index: usize,
    },
    /// The coinbase's height is not the block's.
    #[error("coinbase height {got}, block height {expected}")]
    CoinbaseHeightMismatch {
        /// The block's height.
        expected: u64,
        /// The coinbase's.
        got: u64,
    },
    /// The coinbase has more outputs than the network allows.
    #[error("coinbase has {count} outputs, the limit is {max}")]
    TooManyCoinbaseOutputs {
        /// Its outputs.
        count: usize,
        /// The network's `max_coinbase_outputs`.
        max: usize,
    },
    /// Two coinbase outputs pay the same recipient.
    #[error("coinbase pays {recipient} twice")]
    DuplicateCoinbaseRecipient {
        /// The recipient.
        recipient: Address,
    },
    /// A coinbase output pays nothing (only a single output may, in a block that has
    /// nothing to pay).
    #[error("coinbase output {output} pays nothing")]
    ZeroCoinbaseOutput {
        /// Its position among the outputs.
        output: usize,
    },
    /// The coinbase's outputs sum past `u64`.
    #[error("coinbase outputs overflow")]
    CoinbaseOverflow,
    /// The coinbase does not pay exactly subsidy plus fees.
    #[error("coinbase pays {got}, must pay subsidy plus fees = {expected}")]
    BadCoinbaseAmount {
        /// Subsidy plus fees.
        expected: Amount,
        /// What it pays.
        got: Amount,
    },
    /// A transaction is for another network.
    #[error("transaction {index} has chain id {got}, this network is {expected}")]
    WrongChainId {
        /// Its position (0 when checked on its own).
        index: usize,
        /// This network's chain id.
        expected: u32,
        /// The transaction's.
        got: u32,
    },
    /// `tx_root` is not the merkle root of the transactions.
    #[error("merkle root {got} does not match the transactions ({expected})")]
    BadMerkleRoot {
        /// The computed root.
        expected: Hash,
        /// The header's.
        got: Hash,
    },
    /// The same transaction appears twice.
    #[error("transaction {txid} appears twice")]
    DuplicateTx {
        /// Its id.
        txid: Hash,
    },
    /// A transfer that moves nothing and pays nothing (it would let unfunded accounts
    /// create state for free).
    #[error("transaction {index}: amount and fee are both zero")]
    EmptyTransfer {
        /// Its position.
        index: usize,
    },
    /// `amount + fee` overflows.
    #[error("transaction {index}: amount plus fee overflows")]
    AmountOverflow {
        /// Its position.
        index: usize,
    },
    /// A signature fails the strict rules.
    #[error("transaction {index}: {reason}")]
    BadSignature {
        /// Its position.
        index: usize,
        /// Which rule failed.
        reason: SignatureError,
    },
    /// The nonce is not the sender's next one.
    #[error("transaction {index}: nonce {got}, account expects {expected}")]
    BadNonce {
        /// Its position.
        index: usize,
        /// The account's nonce.
        expected: u64,
        /// The transaction's.
        got: u64,
    },
    /// The sender cannot pay amount plus fee.
    #[error("transaction {index}: needs {needed}, balance is {balance}")]
    InsufficientFunds {
        /// Its position.
        index: usize,
        /// The sender's balance.
        balance: Amount,
        /// Amount plus fee.
        needed: Amount,
    },
    /// A credit would overflow a balance or a nonce would overflow (impossible with a
    /// sane supply, checked anyway).
    #[error("transaction {index}: balance or nonce overflow")]
    AccountOverflow {
        /// Its position.
        index: usize,
    },
}

impl RejectReason {
    /// A stable, machine-readable name for logs, RPC errors and metrics.
    pub fn code(&self) -> &'static str {
        use RejectReason::*;
        match self {
            Malformed(_) => "malformed",
            UnsupportedVersion(_) => "unsupported-version",
            BadTargetEncoding(_) => "bad-target-encoding",
            TargetAboveLimit(_) => "target-above-limit",
            InsufficientProofOfWork { .. } => "insufficient-pow",
            UnknownParent { .. } => "unknown-parent",
            BadHeight { .. } => "bad-height",
            BadDifficulty { .. } => "bad-difficulty",
            TimestampTooOld { .. } => "timestamp-too-old",
            TimestampTooFarInFuture { .. } => "timestamp-too-far-in-future",
            BlockTooLarge { .. } => "block-too-large",
            MissingCoinbase => "missing-coinbase",
            ExtraCoinbase { .. } => "extra-coinbase",
            CoinbaseHeightMismatch { .. } => "coinbase-height-mismatch",
            TooManyCoinbaseOutputs { .. } => "too-many-coinbase-outputs",
            DuplicateCoinbaseRecipient { .. } => "duplicate-coinbase-recipient",
            ZeroCoinbaseOutput { .. } => "zero-coinbase-output",
            CoinbaseOverflow => "coinbase-overflow",
            BadCoinbaseAmount { .. } => "bad-coinbase-amount",
            WrongChainId { .. } => "wrong-chain-id",
            BadMerkleRoot { .. } => "bad-merkle-root",
            DuplicateTx { .. } => "duplicate-tx",
            EmptyTransfer { .. } => "empty-transfer",
            AmountOverflow { .. } => "amount-overflow",
            BadSignature { .. } => "bad-signature",
            BadNonce { .. } => "bad-nonce",
            InsufficientFunds { .. } => "insufficient-funds",
            AccountOverflow { .. } => "account-overflow",
        }
    }

    /// Whether the block id can never become valid, so a node may remember the id as
    /// invalid. Not so for: a timestamp from the future (the clock moves on); a body
    /// that does not match its header's merkle root, or bytes that do not decode (the
    /// header may be fine with its real body: a peer must not be able to get a good
    /// block id banned by pairing it with garbage); an unknown parent.
    pub fn is_permanent(&self) -> bool {
        !matches!(
            self,
            RejectReason::TimestampTooFarInFuture { .. }
                | RejectReason::BadMerkleRoot { .. }
                | RejectReason::Malformed(_)
                | RejectReason::UnknownParent { .. }
        )
    }
}

#[cfg(test)]
mod tests;
