//! 4 lanes of SSE4.1 (with SSSE3 byte shuffles). No vector rotate: 16- and 8-bit rotations are byte shuffles,
//! 12- and 7-bit ones two shifts and an or.
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
fn add(a: V, b: V) -> V {
    _mm_add_epi32(a, b)
}

#[inline]
#[target_feature(enable = "sse4.1,ssse3")]
fn xor(a: V, b: V) -> V {
    _mm_xor_si128(a, b)
}

#[inline]
#[target_feature(enable = "sse4.1,ssse3")]
fn rot16(a: V) -> V {
    let mask = _mm_set_epi8(13, 12, 15, 14, 9, 8, 11, 10, 5, 4, 7, 6, 1, 0, 3, 2);
    _mm_shuffle_epi8(a, mask)
}

#[inline]
#[target_feature(enable = "sse4.1,ssse3")]
fn rot12(a: V) -> V {
    _mm_or_si128(_mm_srli_epi32::<12>(a), _mm_slli_epi32::<20>(a))
}

#[inline]
#[target_feature(enable = "sse4.1,ssse3")]
fn rot8(a: V) -> V {
    let mask = _mm_set_epi8(12, 15, 14, 13, 8, 11, 10, 9, 4, 7, 6, 5, 0, 3, 2, 1);
    _mm_shuffle_epi8(a, mask)
}

#[inline]
#[target_feature(enable = "sse4.1,ssse3")]
fn rot7(a: V) -> V {
    _mm_or_si128(_mm_srli_epi32::<7>(a), _mm_slli_epi32::<25>(a))
}

#[inline]
#[target_feature(enable = "sse4.1,ssse3")]
fn splat(x: u32) -> V {
    _mm_set1_epi32(x as i32)
}

#[inline]
#[target_feature(enable = "sse4.1,ssse3")]
fn offsets() -> V {
    _mm_setr_epi32(0, 1, 2, 3)
}

/// Lanes whose word is at most the target (no unsigned compare in SSE4.1: `w ≤ t` iff
/// `max(w, t) == t`).
#[inline]
#[target_feature(enable = "sse4.1,ssse3")]
fn le_mask(w: V, t: V) -> u32 {
    let le = _mm_cmpeq_epi32(_mm_max_epu32(w, t), t);
    _mm_movemask_ps(_mm_castsi128_ps(le)) as u32
}

super::simd_backend!("sse4.1,ssse3");
