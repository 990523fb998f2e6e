//! 4 lanes of SSE4.1 (with SSSE3 byte shuffles), in generated assembly (see
//! [`super::asm`]).
// Nonces are split into their two 32-bit message words by truncating casts, and the
// batch size (16) is used as an index bound: both truncations are intended.
#![allow(clippy::cast_possible_truncation)]
#![allow(unsafe_code)]

use core::arch::x86_64::*;

use super::{BATCH, BATCH_LEN, Midstate};

type V = __m128i;
const LANES: usize = 4;

#[inline]
#[target_feature(enable = "sse4.1,ssse3")]
fn splat(x: u32) -> V {
    _mm_set1_epi32(x as i32)
}

#[inline]
#[target_feature(enable = "sse4.1,ssse3")]
fn add(a: V, b: V) -> V {
    _mm_add_epi32(a, b)
}

#[inline]
#[target_feature(enable = "sse4.1,ssse3")]
fn offsets() -> V {
    _mm_setr_epi32(0, 1, 2, 3)
}

#[inline]
#[target_feature(enable = "sse4.1,ssse3")]
fn bytes16(b: [u8; 16]) -> V {
    let (lo, hi) = super::asm::halves(b);
    _mm_set_epi64x(hi, lo)
}

/// Lanes whose word is at most the target (no unsigned compare in SSE4.1: `w ≤ t` iff
/// `max(w, t) == t`).
#[inline]
#[target_feature(enable = "sse4.1,ssse3")]
fn le_mask(w: V, t: V) -> u32 {
    let le = _mm_cmpeq_epi32(_mm_max_epu32(w, t), t);
    _mm_movemask_ps(_mm_castsi128_ps(le)) as u32
}

super::asm::asm_backend!(
    features: "sse4.1,ssse3",
    word7: "sse41_word7.s",
    full: "sse41_full.s",
    clobbers: [
        "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
        "xmm11", "xmm12", "xmm13", "xmm14", "xmm15",
    ]
);
