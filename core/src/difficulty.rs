//! Difficulty: per-block ASERT (absolutely scheduled exponentially rising targets),
//! after BCH's aserti3-2d, in integer-only fixed-point arithmetic.
//!
//! The anchor is block 1: it must carry the network's initial target, and every later
//! block's target follows from how far its parent's timestamp is ahead of or behind
//! the ideal schedule that starts at block 1's timestamp:
//!
//! ```text
//! exponent = floor((t_parent − t_anchor − T · (h_parent − 1)) · 2^16 / half_life)
//! target   = initial_target · 2^(exponent / 2^16)     (clamped to [2^16, pow_limit])
//! ```
//!
//! `2^(x/2^16)` for the fractional part uses aserti3-2d's cubic approximation.
//! Anchoring at block 1 instead of genesis means a chain whose genesis timestamp lies
//! long before its first block (a dev chain started today) does not begin with a long
//! run of minimum-difficulty blocks.

use crate::pow::{CompactTarget, Target};

/// What ASERT needs to know about the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AsertParams {
    /// Target of block 1 (the anchor).
    pub initial_target: Target,
    /// The easiest target allowed.
    pub pow_limit: Target,
    /// Ideal time between blocks.
    pub target_block_time_ms: u64,
    /// Time ahead of (behind) schedule that halves (doubles) the target.
    pub half_life_ms: u64,
}

/// The parent of the block whose target is wanted, plus the anchor's timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AsertInput {
    /// Height of the parent.
    pub parent_height: u64,
    /// Timestamp of the parent.
    pub parent_timestamp_ms: u64,
    /// Timestamp of block 1 on the parent's chain; ignored when the parent is genesis.
    pub anchor_timestamp_ms: u64,
}

/// The exact target (before compaction) of the child of `input.parent_height`.
pub fn next_target(params: &AsertParams, input: &AsertInput) -> Target {
    if input.parent_height == 0 {
        return params.initial_target;
    }
    let time_delta = input.parent_timestamp_ms as i128 - input.anchor_timestamp_ms as i128;
    let height_delta = input.parent_height as i128 - 1;
    let ideal = (params.target_block_time_ms as i128).saturating_mul(height_delta);
    // Floor division. Saturation only matters for absurd inputs, which clamp anyway.
    let exponent = time_delta
        .saturating_sub(ideal)
        .saturating_mul(65536)
        .div_euclid(params.half_life_ms.max(1) as i128);
    let shifts = exponent >> 16; // floor
    let frac = (exponent & 0xffff) as u128;
    // 2^(frac/65536) · 65536, exact to within one unit over the whole range.
    let poly = 195_766_423_245_049u128 * frac
        + 971_821_376u128 * frac * frac
        + 5_127u128 * frac * frac * frac
        + (1u128 << 47);
    let factor =
        65_536 + u64::try_from(poly >> 48).expect("2^(x/65536)·65536 < 2^17 for x < 65536");
    // target · factor · 2^shifts / 2^16
    let shift_left =
        i64::try_from(shifts - 16).unwrap_or(if shifts > 0 { i64::MAX } else { i64::MIN });
    let t = params
        .initial_target
        .scale(factor, shift_left, &params.pow_limit);
    let min = CompactTarget::MIN.to_target().expect("MIN is canonical");
    if t < min { min } else { t }
}

/// The compact target the child of `input.parent_height` must carry.
pub fn next_compact_target(params: &AsertParams, input: &AsertInput) -> CompactTarget {
    next_target(params, input).to_compact()
}

#[cfg(test)]
mod tests {
    use ruint::aliases::U256;

    use super::*;

    fn params() -> AsertParams {
        AsertParams {
            initial_target: Target(U256::from(1u8) << 232),
            pow_limit: Target(U256::from(1u8) << 248),
            target_block_time_ms: 1_000,
            half_life_ms: 60_000,
        }
    }

    fn at(parent_height: u64, late_ms: i64) -> Target {
        let anchor = 1_000_000_000u64;
        let ts = (anchor as i64 + (parent_height as i64 - 1) * 1_000 + late_ms) as u64;
        next_target(
            &params(),
            &AsertInput {
                parent_height,
                parent_timestamp_ms: ts,
                anchor_timestamp_ms: anchor,
            },
        )
    }

    #[test]
    fn on_schedule_keeps_the_initial_target() {
        let p = params();
        assert_eq!(at(0, 0), p.initial_target);
        assert_eq!(at(1, 0), p.initial_target);
        assert_eq!(at(500, 0), p.initial_target);
    }

    #[test]
    fn one_half_life_doubles_or_halves() {
        let p = params();
        assert_eq!(at(10, 60_000).0, p.initial_target.0 << 1);
        assert_eq!(at(10, -60_000).0, p.initial_target.0 >> 1);
        assert_eq!(at(10, 120_000).0, p.initial_target.0 << 2);
    }

    #[test]
    fn fractional_steps_follow_the_exponential() {
        // Half a half-life late: target × √2, to the cubic's documented precision
        // (relative error below 0.013%).
        let t = at(10, 30_000).0;
        let expect = p_sqrt2(params().initial_target.0);
        let diff = if t > expect { t - expect } else { expect - t };
        assert!(
            diff < (params().initial_target.0 >> 12),
            "{t:#x} vs {expect:#x}"
        );
    }

    fn p_sqrt2(t: U256) -> U256 {
        // √2 ≈ 92681.9 / 65536
        t * U256::from(92_682u32) / U256::from(65_536u32)
    }

    #[test]
    fn clamps_to_limits() {
        let p = params();
        assert_eq!(at(10, 100_000_000), p.pow_limit);
        assert_eq!(
            at(10, -100_000_000),
            CompactTarget::MIN.to_target().unwrap()
        );
        // Absurd timestamps do not overflow anything.
        let t = next_target(
            &p,
            &AsertInput {
                parent_height: u64::MAX,
                parent_timestamp_ms: 0,
                anchor_timestamp_ms: u64::MAX,
            },
        );
        assert_eq!(t, CompactTarget::MIN.to_target().unwrap());
        let t = next_target(
            &p,
            &AsertInput {
                parent_height: 2,
                parent_timestamp_ms: u64::MAX,
                anchor_timestamp_ms: 0,
            },
        );
        assert_eq!(t, p.pow_limit);
    }
}
