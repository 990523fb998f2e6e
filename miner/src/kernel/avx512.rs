//! 16 lanes of AVX-512F, with its native 32-bit rotate.
// Nonces are split into their two 32-bit message words by truncating casts, and the
// batch size (16) is used as an index bound: both truncations are intended.
#![allow(clippy::cast_possible_truncation)]
#![allow(unsafe_code)]

use core::arch::x86_64::*;

use super::{BATCH, BATCH_LEN, Midstate, simd_rounds};

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
fn splat_all<const N: usize>(words: &[u32; N]) -> [V; N] {
    let mut out = [splat(0); N];
    for (o, w) in out.iter_mut().zip(words) {
        *o = splat(*w);
    }
    out
}

#[inline]
#[target_feature(enable = "avx512f")]
fn to_array(x: V) -> [u32; LANES] {
    // SAFETY: `__m512i` and `[u32; 16]` have the same size and every bit pattern is a
    // valid value of both.
    unsafe { core::mem::transmute::<V, [u32; LANES]>(x) }
}

/// The per-lane state and message for the `LANES` nonces from `base`.
#[inline]
#[target_feature(enable = "avx512f")]
fn setup(ms: &Midstate, pre: &[V; 8], base: u64) -> ([V; 16], [Option<V>; 16]) {
    let offsets = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    let lo = add(splat(base as u32), offsets);
    let hi = splat((base >> 32) as u32);
    let m = [
        Some(pre[0]),
        Some(pre[1]),
        Some(pre[2]),
        Some(pre[3]),
        Some(pre[4]),
        Some(pre[5]),
        Some(pre[6]),
        Some(pre[7]),
        Some(lo),
        Some(hi),
        None,
        None,
        None,
        None,
        None,
        None,
    ];
    (splat_all(&ms.v), m)
}

#[target_feature(enable = "avx512f")]
pub(super) fn scan(ms: &Midstate, start: u64, batches: u32, target_hi: u32) -> Option<(u64, u32)> {
    let pre = splat_all(&ms.m);
    let target = splat(target_hi);
    for b in 0..u64::from(batches) {
        let base = start + b * BATCH;
        let (mut v, m) = setup(ms, &pre, base);
        simd_rounds!(v, m, word7);
        let word7 = xor(v[7], v[15]);
        let mask = _mm512_cmple_epu32_mask(word7, target);
        if mask != 0 {
            return Some((base, u32::from(mask)));
        }
    }
    None
}

#[target_feature(enable = "avx512f")]
pub(super) fn hash_batch(ms: &Midstate, start: u64) -> [[u32; 8]; BATCH_LEN] {
    let pre = splat_all(&ms.m);
    let mut out = [[0u32; 8]; BATCH_LEN];
    for chunk in 0..BATCH_LEN / LANES {
        let base = start + (chunk * LANES) as u64;
        let (mut v, m) = setup(ms, &pre, base);
        simd_rounds!(v, m, full);
        for w in 0..8 {
            for (lane, word) in to_array(xor(v[w], v[w + 8])).into_iter().enumerate() {
                out[chunk * LANES + lane][w] = word;
            }
        }
    }
    out
}
