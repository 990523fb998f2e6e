//! 16 lanes of AVX-512F, with its native 32-bit rotate.
// Nonces are split into their two 32-bit message words by truncating casts, and the
// batch size (16) is used as an index bound: both truncations are intended.
#![allow(clippy::cast_possible_truncation)]
#![allow(unsafe_code)]

use core::arch::x86_64::*;

use super::{BATCH, BATCH_LEN, Midstate};

type V = __m512i;
const LANES: usize = 16;

#[inline]
#[target_feature(enable = "avx512f")]
fn add(a: V, b: V) -> V {
    _mm512_add_epi32(a, b)
}

#[inline]
#[target_feature(enable = "avx512f")]
fn xor(a: V, b: V) -> V {
    _mm512_xor_si512(a, b)
}

#[inline]
#[target_feature(enable = "avx512f")]
fn rot16(a: V) -> V {
    _mm512_ror_epi32::<16>(a)
}

#[inline]
#[target_feature(enable = "avx512f")]
fn rot12(a: V) -> V {
    _mm512_ror_epi32::<12>(a)
}

#[inline]
#[target_feature(enable = "avx512f")]
fn rot8(a: V) -> V {
    _mm512_ror_epi32::<8>(a)
}

#[inline]
#[target_feature(enable = "avx512f")]
fn rot7(a: V) -> V {
    _mm512_ror_epi32::<7>(a)
}

#[inline]
#[target_feature(enable = "avx512f")]
fn splat(x: u32) -> V {
    _mm512_set1_epi32(x as i32)
}

#[inline]
#[target_feature(enable = "avx512f")]
fn offsets() -> V {
    _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
}

#[inline]
#[target_feature(enable = "avx512f")]
fn le_mask(w: V, t: V) -> u32 {
    u32::from(_mm512_cmple_epu32_mask(w, t))
}

super::simd_backend!("avx512f");
