//! 8 lanes of AVX2, in generated assembly.
//!
//! Sixteen `ymm` registers cannot hold blake3's sixteen state words plus the
//! temporaries of 12- and 7-bit rotations (AVX2 has no vector rotate: two shifts and an
//! `or`), and one group of 8 nonces leaves the CPU waiting on dependency chains.
//! Compiled from intrinsics, LLVM spilled ~10 times more than needed; `build.rs`
//! generates the schedule instead: two groups of 8 nonces side by side, their 32 state
//! words sharing the registers, a word out of its register read from the frame as a
//! memory operand. Everything the assembly reads or writes is in a [`Frame`], whose
//! field offsets it gets as `const` operands.
// Nonces are split into their two 32-bit message words by truncating casts, and the
// batch size (16) is used as an index bound: both truncations are intended.
#![allow(clippy::cast_possible_truncation)]
#![allow(unsafe_code)]

use core::arch::asm;
use core::arch::x86_64::*;
use core::mem::offset_of;

use super::{BATCH, BATCH_LEN, Midstate};

type V = __m256i;
const LANES: usize = 8;
include!(concat!(env!("OUT_DIR"), "/avx2_streams.rs"));
/// Nonces per call of the assembly.
const STEP: usize = LANES * STREAMS;

/// The assembly's working memory, 32-byte aligned for `vmovdqa`.
#[repr(C, align(32))]
struct Frame {
    /// The midstate, each word broadcast to every lane.
    state: [V; 16],
    /// Message words 0..10 (the pre-hash broadcast, then the nonce's low word per lane
    /// of stream 0 and the nonce's high word), then the low nonce words of streams
    /// 1.. ; words 10..16 are zero and never read.
    msg: [V; 9 + STREAMS],
    /// `vpshufb` masks rotating every 32-bit lane right by 16 and by 8 bits.
    rot16: V,
    rot8: V,
    /// Where state words wait while they are out of registers (word `v` of stream `s`
    /// at `16 s + v`).
    work: [V; 16 * STREAMS],
    /// Output words of stream `s`: `v[w] ^ v[w + 8]` at `8 s + w` for `w` in 0..8
    /// (`hash_batch`), or word 7 alone at `s` (`scan`).
    out: [V; 8 * STREAMS],
}

impl Frame {
    #[target_feature(enable = "avx2")]
    fn new(ms: &Midstate) -> Frame {
        let zero = _mm256_setzero_si256();
        let mut f = Frame {
            state: [zero; 16],
            msg: [zero; 9 + STREAMS],
            rot16: _mm256_set_epi8(
                13, 12, 15, 14, 9, 8, 11, 10, 5, 4, 7, 6, 1, 0, 3, 2, 13, 12, 15, 14, 9, 8, 11, 10,
                5, 4, 7, 6, 1, 0, 3, 2,
            ),
            rot8: _mm256_set_epi8(
                12, 15, 14, 13, 8, 11, 10, 9, 4, 7, 6, 5, 0, 3, 2, 1, 12, 15, 14, 13, 8, 11, 10, 9,
                4, 7, 6, 5, 0, 3, 2, 1,
            ),
            work: [zero; 16 * STREAMS],
            out: [zero; 8 * STREAMS],
        };
        for (s, w) in f.state.iter_mut().zip(ms.v) {
            *s = _mm256_set1_epi32(w as i32);
        }
        for (m, w) in f.msg.iter_mut().zip(ms.m) {
            *m = _mm256_set1_epi32(w as i32);
        }
        f
    }

    /// The nonce words for the `STEP` nonces from `base` (which does not wrap its low
    /// word: batches start at multiples of `BATCH`).
    #[target_feature(enable = "avx2")]
    fn set_nonces(&mut self, base: u64) {
        let low = _mm256_add_epi32(
            _mm256_set1_epi32(base as u32 as i32),
            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
        );
        self.msg[8] = low;
        for s in 1..STREAMS {
            self.msg[9 + s] = _mm256_add_epi32(low, _mm256_set1_epi32((s * LANES) as i32));
        }
        self.msg[9] = _mm256_set1_epi32((base >> 32) as u32 as i32);
    }
}

/// Runs one generated kernel over the frame.
macro_rules! run {
    ($frame:expr, $file:literal) => {
        // SAFETY: the caller was compiled with AVX2 enabled and is only reached after
        // the CPU was checked for it; the assembly reads and writes only the frame
        // (32-byte aligned, at the offsets passed below) and the ymm registers it
        // declares clobbered, and does not touch the stack or the flags.
        unsafe {
            asm!(
                include_str!(concat!(env!("OUT_DIR"), "/", $file)),
                f = in(reg) core::ptr::from_mut::<Frame>($frame),
                state = const offset_of!(Frame, state),
                msg = const offset_of!(Frame, msg),
                rot16 = const offset_of!(Frame, rot16),
                rot8 = const offset_of!(Frame, rot8),
                work = const offset_of!(Frame, work),
                out = const offset_of!(Frame, out),
                out("ymm0") _, out("ymm1") _, out("ymm2") _, out("ymm3") _,
                out("ymm4") _, out("ymm5") _, out("ymm6") _, out("ymm7") _,
                out("ymm8") _, out("ymm9") _, out("ymm10") _, out("ymm11") _,
                out("ymm12") _, out("ymm13") _, out("ymm14") _, out("ymm15") _,
                options(nostack, preserves_flags),
            );
        }
    };
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
    let mut frame = Frame::new(ms);
    let target = _mm256_set1_epi32(target_hi as i32);
    for b in 0..u64::from(batches) {
        let base = start + b * BATCH;
        let mut mask = 0u32;
        for chunk in 0..BATCH_LEN / STEP {
            frame.set_nonces(base + (chunk * STEP) as u64);
            run!(&mut frame, "avx2_word7.s");
            for s in 0..STREAMS {
                mask |= le_mask(frame.out[s], target) << (chunk * STEP + s * LANES);
            }
        }
        if mask != 0 {
            return Some((base, mask));
        }
    }
    None
}

#[target_feature(enable = "avx2")]
pub(super) fn hash_batch(ms: &Midstate, start: u64) -> [[u32; 8]; BATCH_LEN] {
    let mut frame = Frame::new(ms);
    let mut out = [[0u32; 8]; BATCH_LEN];
    for chunk in 0..BATCH_LEN / STEP {
        frame.set_nonces(start + (chunk * STEP) as u64);
        run!(&mut frame, "avx2_full.s");
        for (k, word) in frame.out.iter().enumerate() {
            let (s, w) = (k / 8, k % 8);
            // SAFETY: the vector and `[u32; LANES]` have the same size and every bit
            // pattern is a valid value of both.
            let lanes = unsafe { core::mem::transmute::<V, [u32; LANES]>(*word) };
            for (lane, x) in lanes.into_iter().enumerate() {
                out[chunk * STEP + s * LANES + lane][w] = x;
            }
        }
    }
    out
}
