//! 8 lanes of AVX2. No vector rotate: 16- and 8-bit rotations are byte shuffles,
//! 12- and 7-bit ones two shifts and an or.
// Nonces are split into their two 32-bit message words by truncating casts, and the
// batch size (16) is used as an index bound: both truncations are intended.
#![allow(clippy::cast_possible_truncation)]
#![allow(unsafe_code)]

use core::arch::x86_64::*;

use super::{BATCH, BATCH_LEN, Midstate, simd_rounds};

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
fn splat_all<const N: usize>(words: &[u32; N]) -> [V; N] {
    let mut out = [splat(0); N];
    for (o, w) in out.iter_mut().zip(words) {
        *o = splat(*w);
    }
    out
}

#[inline]
#[target_feature(enable = "avx2")]
fn to_array(x: V) -> [u32; LANES] {
    // SAFETY: `__m256i` and `[u32; 8]` have the same size and every bit pattern is a
    // valid value of both.
    unsafe { core::mem::transmute::<V, [u32; LANES]>(x) }
}

#[inline]
#[target_feature(enable = "avx2")]
fn setup(ms: &Midstate, pre: &[V; 8], base: u64) -> ([V; 16], [Option<V>; 16]) {
    let offsets = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
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

/// Lanes whose word is at most the target (no unsigned compare in AVX2: `w ≤ t` iff
/// `max(w, t) == t`).
#[inline]
#[target_feature(enable = "avx2")]
fn le_mask(w: V, t: V) -> u32 {
    let le = _mm256_cmpeq_epi32(_mm256_max_epu32(w, t), t);
    _mm256_movemask_ps(_mm256_castsi256_ps(le)) as u32
}

#[target_feature(enable = "avx2")]
pub(super) fn scan(ms: &Midstate, start: u64, batches: u32, target_hi: u32) -> Option<(u64, u32)> {
    let pre = splat_all(&ms.m);
    let target = splat(target_hi);
    for b in 0..u64::from(batches) {
        let base = start + b * BATCH;
        let mut mask = 0u32;
        for chunk in 0..BATCH_LEN / LANES {
            let (mut v, m) = setup(ms, &pre, base + (chunk * LANES) as u64);
            simd_rounds!(v, m, word7);
            mask |= le_mask(xor(v[7], v[15]), target) << (chunk * LANES);
        }
        if mask != 0 {
            return Some((base, mask));
        }
    }
    None
}

#[target_feature(enable = "avx2")]
pub(super) fn hash_batch(ms: &Midstate, start: u64) -> [[u32; 8]; BATCH_LEN] {
    let pre = splat_all(&ms.m);
    let mut out = [[0u32; 8]; BATCH_LEN];
    for chunk in 0..BATCH_LEN / LANES {
        let (mut v, m) = setup(ms, &pre, start + (chunk * LANES) as u64);
        simd_rounds!(v, m, full);
        for w in 0..8 {
            for (lane, word) in to_array(xor(v[w], v[w + 8])).into_iter().enumerate() {
                out[chunk * LANES + lane][w] = word;
            }
        }
    }
    out
}
