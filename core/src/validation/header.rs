//! Header rules.

use super::RejectReason;
use crate::difficulty::{AsertInput, next_compact_target};
use crate::genesis::{ChainParams, MEDIAN_TIME_SPAN};
use crate::header::{BlockHeader, HEADER_VERSION};
use crate::pow::Target;

/// The header version is one this code knows.
#[derive(Debug)]
pub struct VersionCheck;

impl VersionCheck {
    /// Rejects with [`RejectReason::UnsupportedVersion`].
    pub fn verify(header: &BlockHeader) -> Result<(), RejectReason> {
        if header.version == HEADER_VERSION {
            Ok(())
        } else {
            Err(RejectReason::UnsupportedVersion(header.version))
        }
    }
}

/// The compact target is canonical and within the network's PoW limit.
#[derive(Debug)]
pub struct TargetCheck;

impl TargetCheck {
    /// Returns the expanded target, or rejects with [`RejectReason::BadTargetEncoding`]
    /// or [`RejectReason::TargetAboveLimit`].
    pub fn verify(header: &BlockHeader, params: &ChainParams) -> Result<Target, RejectReason> {
        let target = header
            .target
            .to_target()
            .map_err(|_| RejectReason::BadTargetEncoding(header.target))?;
        if target > params.pow_limit() {
            return Err(RejectReason::TargetAboveLimit(header.target));
        }
        Ok(target)
    }
}

/// The PoW hash meets the header's own target.
#[derive(Debug)]
pub struct PowCheck;

impl PowCheck {
    /// Rejects with [`RejectReason::InsufficientProofOfWork`].
    pub fn verify(header: &BlockHeader, target: &Target) -> Result<(), RejectReason> {
        let pow = header.pow_hash();
        if target.is_met_by(&pow) {
            Ok(())
        } else {
            Err(RejectReason::InsufficientProofOfWork {
                pow,
                target: header.target,
            })
        }
    }
}

/// What the contextual header rules need to know about the chain below a header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderContext {
    /// The parent's height.
    pub parent_height: u64,
    /// Timestamps of the last blocks up to and including the parent, oldest first
    /// (fewer than [`MEDIAN_TIME_SPAN`] near genesis; only the last that many count).
    pub recent_timestamps_ms: Vec<u64>,
    /// The parent's timestamp.
    pub parent_timestamp_ms: u64,
    /// Timestamp of block 1 on this chain (the difficulty anchor); ignored when the
    /// parent is genesis.
    pub anchor_timestamp_ms: u64,
    /// The local clock, milliseconds since the Unix epoch.
    pub now_ms: u64,
}

/// The height is the parent's plus one.
#[derive(Debug)]
pub struct HeightCheck;

impl HeightCheck {
    /// Rejects with [`RejectReason::BadHeight`].
    pub fn verify(header: &BlockHeader, ctx: &HeaderContext) -> Result<(), RejectReason> {
        let expected = ctx.parent_height.saturating_add(1);
        if header.height == expected {
            Ok(())
        } else {
            Err(RejectReason::BadHeight {
                expected,
                got: header.height,
            })
        }
    }
}

/// The target is exactly what ASERT prescribes.
#[derive(Debug)]
pub struct DifficultyCheck;

impl DifficultyCheck {
    /// Rejects with [`RejectReason::BadDifficulty`].
    pub fn verify(
        header: &BlockHeader,
        params: &ChainParams,
        ctx: &HeaderContext,
    ) -> Result<(), RejectReason> {
        let expected = next_compact_target(
            &params.asert(),
            &AsertInput {
                parent_height: ctx.parent_height,
                parent_timestamp_ms: ctx.parent_timestamp_ms,
                anchor_timestamp_ms: ctx.anchor_timestamp_ms,
            },
        );
        if header.target == expected {
            Ok(())
        } else {
            Err(RejectReason::BadDifficulty {
                expected,
                got: header.target,
            })
        }
    }
}

/// The median of up to [`MEDIAN_TIME_SPAN`] timestamps (the lower one of the two middle
/// values for an even count); 0 for none.
pub fn median_time_past(timestamps: &[u64]) -> u64 {
    let n = timestamps.len().min(MEDIAN_TIME_SPAN);
    let mut ts: Vec<u64> = timestamps[timestamps.len() - n..].to_vec();
    ts.sort_unstable();
    ts.get(n.saturating_sub(1) / 2).copied().unwrap_or(0)
}

/// The timestamp is strictly after the median time past.
#[derive(Debug)]
pub struct MedianTimeCheck;

impl MedianTimeCheck {
    /// Rejects with [`RejectReason::TimestampTooOld`].
    pub fn verify(header: &BlockHeader, ctx: &HeaderContext) -> Result<(), RejectReason> {
        let median_ms = median_time_past(&ctx.recent_timestamps_ms);
        if header.timestamp_ms > median_ms {
            Ok(())
        } else {
            Err(RejectReason::TimestampTooOld {
                timestamp_ms: header.timestamp_ms,
                median_ms,
            })
        }
    }
}

/// The timestamp is not further than the allowed drift past the local clock.
#[derive(Debug)]
pub struct FutureTimeCheck;

impl FutureTimeCheck {
    /// Rejects with [`RejectReason::TimestampTooFarInFuture`].
    pub fn verify(
        header: &BlockHeader,
        params: &ChainParams,
        now_ms: u64,
    ) -> Result<(), RejectReason> {
        let max_ms = now_ms.saturating_add(params.max_future_drift_ms());
        if header.timestamp_ms <= max_ms {
            Ok(())
        } else {
            Err(RejectReason::TimestampTooFarInFuture {
                timestamp_ms: header.timestamp_ms,
                max_ms,
            })
        }
    }
}

/// Rules a header satisfies on its own: version, target encoding and limit, PoW.
pub fn validate_header_standalone(
    header: &BlockHeader,
    params: &ChainParams,
) -> Result<(), RejectReason> {
    VersionCheck::verify(header)?;
    let target = TargetCheck::verify(header, params)?;
    PowCheck::verify(header, &target)
}

/// Rules that need the parent chain and the clock: height, difficulty, median time
/// past, future drift.
pub fn validate_header_in_context(
    header: &BlockHeader,
    params: &ChainParams,
    ctx: &HeaderContext,
) -> Result<(), RejectReason> {
    HeightCheck::verify(header, ctx)?;
    DifficultyCheck::verify(header, params, ctx)?;
    MedianTimeCheck::verify(header, ctx)?;
    FutureTimeCheck::verify(header, params, ctx.now_ms)
}
