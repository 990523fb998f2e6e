//! One nonce at a time in plain Rust: the fallback for any CPU and the reference the
//! SIMD backends are tested against.
// Nonces are split into their two 32-bit message words by truncating casts, and the
// batch size (16) is used as an index bound: both truncations are intended.
#![allow(clippy::cast_possible_truncation)]

use super::{BATCH, BATCH_LEN, MSG_SCHEDULE, Midstate, g};

#[inline(always)]
fn round(v: &mut [u32; 16], m: &[u32; 16], r: usize) {
    let s = &MSG_SCHEDULE[r];
    g(v, 0, 4, 8, 12, m[s[0]], m[s[1]]);
    g(v, 1, 5, 9, 13, m[s[2]], m[s[3]]);
    g(v, 2, 6, 10, 14, m[s[4]], m[s[5]]);
    g(v, 3, 7, 11, 15, m[s[6]], m[s[7]]);
    g(v, 0, 5, 10, 15, m[s[8]], m[s[9]]);
    g(v, 1, 6, 11, 12, m[s[10]], m[s[11]]);
    g(v, 2, 7, 8, 13, m[s[12]], m[s[13]]);
    g(v, 3, 4, 9, 14, m[s[14]], m[s[15]]);
}

fn message(ms: &Midstate, nonce: u64) -> [u32; 16] {
    let mut m = [0u32; 16];
    m[..8].copy_from_slice(&ms.m);
    m[8] = nonce as u32;
    m[9] = (nonce >> 32) as u32;
    m
}

/// State after all seven rounds for one nonce.
#[inline(always)]
fn state(ms: &Midstate, nonce: u64) -> [u32; 16] {
    let m = message(ms, nonce);
    let mut v = ms.v;
    g(&mut v, 0, 5, 10, 15, m[8], m[9]);
    for r in 1..7 {
        round(&mut v, &m, r);
    }
    v
}

/// The full output for one nonce.
pub(super) fn hash_one(ms: &Midstate, nonce: u64) -> [u32; 8] {
    let v = state(ms, nonce);
    core::array::from_fn(|i| v[i] ^ v[i + 8])
}

pub(super) fn scan(ms: &Midstate, start: u64, batches: u32, target_hi: u32) -> Option<(u64, u32)> {
    for b in 0..u64::from(batches) {
        let base = start + b * BATCH;
        let mut mask = 0u32;
        for i in 0..BATCH {
            let v = state(ms, base + i);
            if v[7] ^ v[15] <= target_hi {
                mask |= 1 << i;
            }
        }
        if mask != 0 {
            return Some((base, mask));
        }
    }
    None
}

pub(super) fn hash_batch(ms: &Midstate, start: u64) -> [[u32; 8]; BATCH_LEN] {
    core::array::from_fn(|i| hash_one(ms, start + i as u64))
}
