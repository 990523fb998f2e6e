//! 8 lanes of AVX2, in generated assembly (see [`super::asm`]).
// Nonces are split into their two 32-bit message words by truncating casts, and the
// batch size (16) is used as an index bound: both truncations are intended.
#![allow(clippy::cast_possible_truncation)]
#![allow(unsafe_code)]

use core::arch::x86_64::*;

use super::{BATCH, BATCH_LEN, Midstate};

type V = __m256i;
const LANES: usize = 8;

#[inline]
#[target_feature(enable = "avx2")]
fn splat(x: u32) -> V {
    _mm256_set1_epi32(x as i32)
}

#[inline]
#[target_feature(enable = "avx2")]
fn add(a: V, b: V) -> V {
    _mm256_add_epi32(a, b)
}

#[inline]
#[target_feature(enable = "avx2")]
fn offsets() -> V {
    _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)
}

/// `b` in each 128-bit half.
#[inline]
#[target_feature(enable = "avx2")]
fn bytes16(b: [u8; 16]) -> V {
    let (lo, hi) = super::asm::halves(b);
    _mm256_set_epi64x(hi, lo, hi, lo)
}

/// Lanes whose word is at most the target (no unsigned compare in AVX2: `w ≤ t` iff
/// `max(w, t) == t`).
#[inline]
#[target_feature(enable = "avx2")]
fn le_mask(w: V, t: V) -> u32 {
    let le = _mm256_cmpeq_epi32(_mm256_max_epu32(w, t), t);
    _mm256_movemask_ps(_mm256_castsi256_ps(le)) as u32
}

super::asm::asm_backend!(
    features: "avx2",
    word7: "avx2_word7.s",
    full: "avx2_full.s",
    clobbers: [
        "ymm0", "ymm1", "ymm2", "ymm3", "ymm4", "ymm5", "ymm6", "ymm7", "ymm8", "ymm9", "ymm10",
        "ymm11", "ymm12", "ymm13", "ymm14", "ymm15",
    ]
);
