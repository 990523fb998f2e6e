//! 8 lanes of AVX2. No vector rotate: 16- and 8-bit rotations are byte shuffles,
//! 12- and 7-bit ones two shifts and an or.
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
fn add(a: V, b: V) -> V {
    _mm256_add_epi32(a, b)
}

#[inline]
#[target_feature(enable = "avx2")]
fn xor(a: V, b: V) -> V {
    _mm256_xor_si256(a, b)
}

#[inline]
#[target_feature(enable = "avx2")]
fn rot16(a: V) -> V {
    let mask = _mm256_set_epi8(
        13, 12, 15, 14, 9, 8, 11, 10, 5, 4, 7, 6, 1, 0, 3, 2, 13, 12, 15, 14, 9, 8, 11, 10, 5, 4,
        7, 6, 1, 0, 3, 2,
    );
    _mm256_shuffle_epi8(a, mask)
}

#[inline]
#[target_feature(enable = "avx2")]
fn rot12(a: V) -> V {
    _mm256_or_si256(_mm256_srli_epi32::<12>(a), _mm256_slli_epi32::<20>(a))
}

#[inline]
#[target_feature(enable = "avx2")]
fn rot8(a: V) -> V {
    let mask = _mm256_set_epi8(
        12, 15, 14, 13, 8, 11, 10, 9, 4, 7, 6, 5, 0, 3, 2, 1, 12, 15, 14, 13, 8, 11, 10, 9, 4, 7,
        6, 5, 0, 3, 2, 1,
    );
    _mm256_shuffle_epi8(a, mask)
}

#[inline]
#[target_feature(enable = "avx2")]
fn rot7(a: V) -> V {
    _mm256_or_si256(_mm256_srli_epi32::<7>(a), _mm256_slli_epi32::<25>(a))
}

#[inline]
#[target_feature(enable = "avx2")]
fn splat(x: u32) -> V {
    _mm256_set1_epi32(x as i32)
}

#[inline]
#[target_feature(enable = "avx2")]
fn offsets() -> V {
    _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)
}

/// Lanes whose word is at most the target (no unsigned compare in AVX2: `w ≤ t` iff
/// `max(w, t) == t`).
#[inline]
#[target_feature(enable = "avx2")]
fn le_mask(w: V, t: V) -> u32 {
    let le = _mm256_cmpeq_epi32(_mm256_max_epu32(w, t), t);
    _mm256_movemask_ps(_mm256_castsi256_ps(le)) as u32
}

super::simd_backend!("avx2");
