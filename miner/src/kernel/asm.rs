//! The backends whose inner loop is generated assembly (`miner/build.rs`): AVX2 (8
//! lanes) and SSE4.1 (4 lanes).
//!
//! Sixteen vector registers cannot hold blake3's sixteen state words plus the
//! temporaries of 12- and 7-bit rotations (neither instruction set has a vector rotate:
//! two shifts and an `or`), and one group of nonces leaves the CPU waiting on the G
//! functions' dependency chains. Compiled from intrinsics, LLVM spilled ~10 times more
//! than needed; the build script generates the schedule instead: two groups side by
//! side, their 32 state words sharing the registers, a word out of its register read
//! from the frame as a memory operand.

/// `pshufb` control bytes that rotate each 32-bit word of 16 bytes right by 16 bits.
pub(super) const ROT16: [u8; 16] = [2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13];
/// The same, right by 8 bits.
pub(super) const ROT8: [u8; 16] = [1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12];

/// 16 bytes as the low and high 64-bit halves of a vector lane (little-endian, as
/// `_mm_set_epi64x` takes them).
pub(super) fn halves(b: [u8; 16]) -> (i64, i64) {
    let lo = i64::from_le_bytes(b[..8].try_into().expect("8 bytes"));
    let hi = i64::from_le_bytes(b[8..].try_into().expect("8 bytes"));
    (lo, hi)
}

/// The entry points of a generated-assembly backend, written once: a `Frame` (all
/// the memory the assembly touches, its field offsets passed as `const` operands),
/// `scan` and `hash_batch`, compiled with the target features `$feat`. The expanding
/// module provides `V`, `LANES`, `splat`, `add`, `offsets` (the lane indices
/// 0..LANES), `bytes16` (16 bytes repeated over the vector, for the rotation masks
/// [`ROT16`] and [`ROT8`]) and `le_mask` (bit `i` set when lane `i` of the first vector
/// is at most the same lane of the second); `$word7` and `$full` name the generated files,
/// and `$reg` the vector registers they clobber.
macro_rules! asm_backend {
    (
        features: $feat:literal,
        word7: $word7:literal,
        full: $full:literal,
        clobbers: [$($reg:tt),+ $(,)?]
    ) => {
        include!(concat!(env!("OUT_DIR"), "/streams.rs"));

        /// Nonces per call of the assembly.
        const STEP: usize = LANES * STREAMS;

        /// The assembly's working memory, aligned for aligned vector moves.
        #[repr(C, align(32))]
        struct Frame {
            /// The midstate, each word broadcast to every lane.
            state: [V; 16],
            /// Message words 0..10 (the pre-hash broadcast, then the nonce's low word
            /// per lane of stream 0 and the nonce's high word), then the low nonce
            /// words of streams 1.. ; words 10..16 are zero and never read.
            msg: [V; 9 + STREAMS],
            rot16: V,
            rot8: V,
            /// Where state words wait while they are out of registers (word `v` of
            /// stream `s` at `16 s + v`).
            work: [V; 16 * STREAMS],
            /// Output words of stream `s`: `v[w] ^ v[w + 8]` at `8 s + w` for `w` in
            /// 0..8 (`hash_batch`), or word 7 alone at `s` (`scan`).
            out: [V; 8 * STREAMS],
        }

        impl Frame {
            #[target_feature(enable = $feat)]
            fn new(ms: &Midstate) -> Frame {
                let zero = splat(0);
                let mut f = Frame {
                    state: [zero; 16],
                    msg: [zero; 9 + STREAMS],
                    rot16: bytes16($crate::kernel::asm::ROT16),
                    rot8: bytes16($crate::kernel::asm::ROT8),
                    work: [zero; 16 * STREAMS],
                    out: [zero; 8 * STREAMS],
                };
                for (s, &w) in f.state.iter_mut().zip(&ms.v) {
                    *s = splat(w);
                }
                for (m, &w) in f.msg.iter_mut().zip(&ms.m) {
                    *m = splat(w);
                }
                f
            }

            /// The nonce words for the `STEP` nonces from `base` (which does not wrap
            /// its low word: batches start at multiples of `BATCH`).
            #[target_feature(enable = $feat)]
            fn set_nonces(&mut self, base: u64) {
                let low = add(splat(base as u32), offsets());
                self.msg[8] = low;
                for s in 1..STREAMS {
                    self.msg[9 + s] = add(low, splat((s * LANES) as u32));
                }
                self.msg[9] = splat((base >> 32) as u32);
            }
        }

        $crate::kernel::asm::asm_backend!(@run run_word7, $feat, $word7, [$($reg),+]);
        $crate::kernel::asm::asm_backend!(@run run_full, $feat, $full, [$($reg),+]);

        #[target_feature(enable = $feat)]
        pub(super) fn scan(
            ms: &Midstate,
            start: u64,
            batches: u32,
            target_hi: u32,
        ) -> Option<(u64, u32)> {
            let mut frame = Frame::new(ms);
            let target = splat(target_hi);
            for b in 0..u64::from(batches) {
                let base = start + b * BATCH;
                let mut mask = 0u32;
                for chunk in 0..BATCH_LEN / STEP {
                    frame.set_nonces(base + (chunk * STEP) as u64);
                    run_word7(&mut frame);
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

        #[target_feature(enable = $feat)]
        pub(super) fn hash_batch(ms: &Midstate, start: u64) -> [[u32; 8]; BATCH_LEN] {
            let mut frame = Frame::new(ms);
            let mut out = [[0u32; 8]; BATCH_LEN];
            for chunk in 0..BATCH_LEN / STEP {
                frame.set_nonces(start + (chunk * STEP) as u64);
                run_full(&mut frame);
                for (k, word) in frame.out.iter().enumerate() {
                    let (s, w) = (k / 8, k % 8);
                    // SAFETY: the vector and `[u32; LANES]` have the same size and
                    // every bit pattern is a valid value of both.
                    let lanes = unsafe { core::mem::transmute::<V, [u32; LANES]>(*word) };
                    for (lane, x) in lanes.into_iter().enumerate() {
                        out[chunk * STEP + s * LANES + lane][w] = x;
                    }
                }
            }
            out
        }
    };
    (@run $name:ident, $feat:literal, $file:literal, [$($reg:tt),+]) => {
        /// Runs the generated kernel over the frame. Never inlined: one copy of its
        /// ~10 KB of code stays in the CPU's op cache (two copies unrolled into the
        /// SSE4.1 scan loop halved its rate).
        #[inline(never)]
        #[target_feature(enable = $feat)]
        fn $name(frame: &mut Frame) {
            // SAFETY: this function is compiled with the features the assembly uses and
            // only reached after the CPU was checked for them; the assembly reads and
            // writes only the frame (aligned, at the offsets passed below) and the
            // vector registers it declares clobbered, and does not touch the stack or
            // the flags.
            unsafe {
                core::arch::asm!(
                    include_str!(concat!(env!("OUT_DIR"), "/", $file)),
                    f = in(reg) core::ptr::from_mut::<Frame>(frame),
                    state = const core::mem::offset_of!(Frame, state),
                    msg = const core::mem::offset_of!(Frame, msg),
                    rot16 = const core::mem::offset_of!(Frame, rot16),
                    rot8 = const core::mem::offset_of!(Frame, rot8),
                    work = const core::mem::offset_of!(Frame, work),
                    out = const core::mem::offset_of!(Frame, out),
                    $(out($reg) _,)+
                    options(nostack, preserves_flags),
                );
            }
        }
    };
}

pub(crate) use asm_backend;
