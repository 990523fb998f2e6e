//! The PoW hash kernel: many nonces through blake3's compression function at once.
//!
//! Cairn's PoW input is `pre ‖ nonce_le64`: 40 bytes, a single blake3 block that is the
//! first and last block of the only chunk and the root. So one attempt is exactly one
//! compression with message words `m[0..8] = pre`, `m[8..10] = nonce`, `m[10..16] = 0`,
//! counter 0, block length 40 and flags `CHUNK_START | CHUNK_END | ROOT`.
//!
//! Only `m[8]` and `m[9]` differ between attempts, which the kernels exploit:
//!
//! * the whole first column step reads only `m[0..8]` and is computed once per
//!   template, as are three of the four first diagonal G functions (they read the zero
//!   words `m[10..16]`); see [`Midstate`];
//! * the zero words are never added;
//! * in the last round only the two G functions that produce `v[7]` and `v[15]` run:
//!   the PoW number is the hash read little-endian, so its most significant 32 bits are
//!   output word 7 = `v[7] ^ v[15]`, and a nonce whose word 7 is above the target's
//!   high word cannot win. Candidates are re-checked in full by the caller.
//!
//! Backends: AVX-512 (16 lanes, intrinsics), AVX2 (8) and SSE4.1 (4), both generated
//! assembly hashing two groups of lanes per call (see `asm`), and portable (1), chosen
//! at run time ([`Backend::detect`]). All compute the same function; a differential
//! test checks every lane of every backend against the `blake3` crate.

use std::fmt;
use std::str::FromStr;

use cairn_core::Hash;

#[cfg(target_arch = "x86_64")]
mod asm;
#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod portable;
#[cfg(target_arch = "x86_64")]
mod sse41;

/// blake3's initialisation vector.
pub(crate) const IV: [u32; 8] = [
    0x6A09_E667,
    0xBB67_AE85,
    0x3C6E_F372,
    0xA54F_F53A,
    0x510E_527F,
    0x9B05_688C,
    0x1F83_D9AB,
    0x5BE0_CD19,
];

/// Which message word each G input takes in each round.
pub(crate) const MSG_SCHEDULE: [[usize; 16]; 7] = include!("schedule.rs");

/// Length of the PoW input in bytes.
const BLOCK_LEN: u32 = 40;
/// `CHUNK_START | CHUNK_END | ROOT`.
const FLAGS: u32 = 1 | 2 | 8;

/// Nonces a kernel call handles per step; every backend's lane count divides it, and
/// batches start at multiples of it so the low nonce word never wraps inside a batch.
pub const BATCH: u64 = BATCH_LEN as u64;
/// [`BATCH`] as a `usize`.
pub const BATCH_LEN: usize = 16;

#[inline(always)]
pub(crate) fn g(v: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize, x: u32, y: u32) {
    v[a] = v[a].wrapping_add(v[b]).wrapping_add(x);
    v[d] = (v[d] ^ v[a]).rotate_right(16);
    v[c] = v[c].wrapping_add(v[d]);
    v[b] = (v[b] ^ v[c]).rotate_right(12);
    v[a] = v[a].wrapping_add(v[b]).wrapping_add(y);
    v[d] = (v[d] ^ v[a]).rotate_right(8);
    v[c] = v[c].wrapping_add(v[d]);
    v[b] = (v[b] ^ v[c]).rotate_right(7);
}

/// Everything about a template that does not depend on the nonce.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Midstate {
    /// State after round 1's column step and its three nonce-free diagonal G functions.
    /// `v[0], v[5], v[10], v[15]` still wait for the nonce-dependent diagonal G.
    pub(crate) v: [u32; 16],
    /// `pre` as message words 0..8.
    pub(crate) m: [u32; 8],
}

impl fmt::Debug for Midstate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Midstate")
            .field("m", &self.m)
            .finish_non_exhaustive()
    }
}

impl Midstate {
    /// Precomputes the nonce-independent part of every attempt under `pre`.
    pub fn new(pre: &Hash) -> Midstate {
        let mut m = [0u32; 8];
        for (w, chunk) in m.iter_mut().zip(pre.0.chunks_exact(4)) {
            *w = u32::from_le_bytes(chunk.try_into().expect("chunks of 4"));
        }
        let mut v = [
            IV[0], IV[1], IV[2], IV[3], IV[4], IV[5], IV[6], IV[7], IV[0], IV[1], IV[2], IV[3], 0,
            0, BLOCK_LEN, FLAGS,
        ];
        g(&mut v, 0, 4, 8, 12, m[0], m[1]);
        g(&mut v, 1, 5, 9, 13, m[2], m[3]);
        g(&mut v, 2, 6, 10, 14, m[4], m[5]);
        g(&mut v, 3, 7, 11, 15, m[6], m[7]);
        // The diagonal G functions touch disjoint words, so their order is free: run the
        // three that read only zero message words (m[10..16]) now.
        g(&mut v, 1, 6, 11, 12, 0, 0);
        g(&mut v, 2, 7, 8, 13, 0, 0);
        g(&mut v, 3, 4, 9, 14, 0, 0);
        Midstate { v, m }
    }
}

/// A SIMD (or scalar) implementation of the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// 16 lanes of AVX-512F.
    Avx512,
    /// 8 lanes of AVX2.
    Avx2,
    /// 4 lanes of SSE4.1.
    Sse41,
    /// One nonce at a time, any target.
    Portable,
}

/// Why a backend cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// Not a backend name.
    #[error("unknown backend {0:?}: expected avx512, avx2, sse41 or portable")]
    Unknown(String),
    /// This CPU lacks the instructions.
    #[error("backend {0} is not supported by this CPU")]
    Unsupported(Backend),
}

impl Backend {
    /// Every backend, fastest first.
    pub const ALL: [Backend; 4] = [
        Backend::Avx512,
        Backend::Avx2,
        Backend::Sse41,
        Backend::Portable,
    ];

    /// The fastest backend this CPU supports.
    pub fn detect() -> Backend {
        Self::ALL
            .into_iter()
            .find(|b| b.is_supported())
            .unwrap_or(Backend::Portable)
    }

    /// The backend named by `CAIRN_MINER_BACKEND` if set (an error if unknown or
    /// unsupported), else [`Backend::detect`].
    pub fn from_env() -> Result<Backend, BackendError> {
        match std::env::var("CAIRN_MINER_BACKEND") {
            Ok(name) if !name.is_empty() => name.parse::<Backend>()?.checked(),
            _ => Ok(Self::detect()),
        }
    }

    /// `self` if this CPU supports it.
    pub fn checked(self) -> Result<Backend, BackendError> {
        if self.is_supported() {
            Ok(self)
        } else {
            Err(BackendError::Unsupported(self))
        }
    }

    /// Whether this CPU can run it.
    pub fn is_supported(self) -> bool {
        match self {
            Backend::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Backend::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
            #[cfg(target_arch = "x86_64")]
            Backend::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            Backend::Sse41 => {
                std::arch::is_x86_feature_detected!("sse4.1")
                    && std::arch::is_x86_feature_detected!("ssse3")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// Nonces per SIMD step.
    pub fn lanes(self) -> usize {
        match self {
            Backend::Avx512 => 16,
            Backend::Avx2 => 8,
            Backend::Sse41 => 4,
            Backend::Portable => 1,
        }
    }

    /// The name used on the command line and in `CAIRN_MINER_BACKEND`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Avx512 => "avx512",
            Backend::Avx2 => "avx2",
            Backend::Sse41 => "sse41",
            Backend::Portable => "portable",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Backend {
    type Err = BackendError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| BackendError::Unknown(s.to_owned()))
    }
}

/// A backend checked to run on this CPU, bound to its entry points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kernel {
    backend: Backend,
}

// The only unsafe code outside the backends: calling a function compiled for CPU
// features after checking that the CPU has them.
#[allow(unsafe_code)]
impl Kernel {
    /// The kernel for `backend`, if this CPU supports it.
    pub fn new(backend: Backend) -> Result<Kernel, BackendError> {
        Ok(Kernel {
            backend: backend.checked()?,
        })
    }

    /// The fastest kernel for this CPU.
    pub fn detect() -> Kernel {
        Kernel {
            backend: Backend::detect(),
        }
    }

    /// Its backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Scans `batches · BATCH` nonces from `start` (a multiple of [`BATCH`]) and returns
    /// the first batch with a candidate: its first nonce and a bit mask of the
    /// candidates in it (bit `i` = nonce `start + i`), where a candidate is a nonce whose
    /// hash's word 7 is at most `target_hi`.
    pub fn scan(
        &self,
        ms: &Midstate,
        start: u64,
        batches: u32,
        target_hi: u32,
    ) -> Option<(u64, u32)> {
        debug_assert_eq!(start % BATCH, 0);
        debug_assert!(start.checked_add(u64::from(batches) * BATCH).is_some());
        match self.backend {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Kernel::new` only builds an AVX-512 kernel after
            // `is_x86_feature_detected!("avx512f")` returned true.
            Backend::Avx512 => unsafe { avx512::scan(ms, start, batches, target_hi) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: only built after `is_x86_feature_detected!("avx2")`.
            Backend::Avx2 => unsafe { avx2::scan(ms, start, batches, target_hi) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: only built after SSE4.1 and SSSE3 were detected.
            Backend::Sse41 => unsafe { sse41::scan(ms, start, batches, target_hi) },
            _ => portable::scan(ms, start, batches, target_hi),
        }
    }

    /// The full 8-word output of `BATCH` consecutive nonces from `start` (a multiple of
    /// [`BATCH`]): what a differential test compares with the `blake3` crate.
    pub fn hash_batch(&self, ms: &Midstate, start: u64) -> [[u32; 8]; BATCH_LEN] {
        match self.backend {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as in `scan`.
            Backend::Avx512 => unsafe { avx512::hash_batch(ms, start) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as in `scan`.
            Backend::Avx2 => unsafe { avx2::hash_batch(ms, start) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as in `scan`.
            Backend::Sse41 => unsafe { sse41::hash_batch(ms, start) },
            _ => portable::hash_batch(ms, start),
        }
    }
}

/// Output words to bytes.
pub fn words_to_hash(words: &[u32; 8]) -> Hash {
    let mut out = [0u8; 32];
    for (chunk, w) in out.chunks_exact_mut(4).zip(words) {
        chunk.copy_from_slice(&w.to_le_bytes());
    }
    Hash(out)
}

/// The G function over SIMD vectors, for the backends: expands in place inside a
/// function compiled with the backend's target features, using that module's `add`,
/// `xor`, `rot16`, `rot12`, `rot8` and `rot7`. A message word of `None` is zero and is
/// not added.
macro_rules! simd_g {
    ($v:ident, $a:expr, $b:expr, $c:expr, $d:expr, $x:expr, $y:expr) => {{
        $v[$a] = add($v[$a], $v[$b]);
        if let Some(x) = $x {
            $v[$a] = add($v[$a], x);
        }
        $v[$d] = rot16(xor($v[$d], $v[$a]));
        $v[$c] = add($v[$c], $v[$d]);
        $v[$b] = rot12(xor($v[$b], $v[$c]));
        $v[$a] = add($v[$a], $v[$b]);
        if let Some(y) = $y {
            $v[$a] = add($v[$a], y);
        }
        $v[$d] = rot8(xor($v[$d], $v[$a]));
        $v[$c] = add($v[$c], $v[$d]);
        $v[$b] = rot7(xor($v[$b], $v[$c]));
    }};
}

/// Four independent G functions over SIMD vectors, interleaved step by step (as
/// blake3's own SIMD code does) so the CPU always has four independent operations in
/// flight and the register allocator sees short live ranges. Each `[a, b, c, d, x, y]`
/// names state indices and message words (`None` = zero, not added).
macro_rules! simd_g4 {
    ($v:ident, $([$a:expr, $b:expr, $c:expr, $d:expr, $x:expr, $y:expr]),+) => {{
        $( if let Some(x) = $x { $v[$a] = add($v[$a], x); } )+
        $( $v[$a] = add($v[$a], $v[$b]); )+
        $( $v[$d] = rot16(xor($v[$d], $v[$a])); )+
        $( $v[$c] = add($v[$c], $v[$d]); )+
        $( $v[$b] = rot12(xor($v[$b], $v[$c])); )+
        $( if let Some(y) = $y { $v[$a] = add($v[$a], y); } )+
        $( $v[$a] = add($v[$a], $v[$b]); )+
        $( $v[$d] = rot8(xor($v[$d], $v[$a])); )+
        $( $v[$c] = add($v[$c], $v[$d]); )+
        $( $v[$b] = rot7(xor($v[$b], $v[$c])); )+
    }};
}

/// One full round `$r` (0-based) over SIMD vectors.
macro_rules! simd_round {
    ($v:ident, $m:ident, $r:expr) => {{
        let s = &$crate::kernel::MSG_SCHEDULE[$r];
        $crate::kernel::simd_g4!(
            $v,
            [0, 4, 8, 12, $m[s[0]], $m[s[1]]],
            [1, 5, 9, 13, $m[s[2]], $m[s[3]]],
            [2, 6, 10, 14, $m[s[4]], $m[s[5]]],
            [3, 7, 11, 15, $m[s[6]], $m[s[7]]]
        );
        $crate::kernel::simd_g4!(
            $v,
            [0, 5, 10, 15, $m[s[8]], $m[s[9]]],
            [1, 6, 11, 12, $m[s[10]], $m[s[11]]],
            [2, 7, 8, 13, $m[s[12]], $m[s[13]]],
            [3, 4, 9, 14, $m[s[14]], $m[s[15]]]
        );
    }};
}

/// From the midstate (`$v`) through round 7. With `full` every word is final; with
/// `word7` the last round runs only the two G functions that produce `v[7]` and
/// `v[15]`, the words of output word 7.
macro_rules! simd_rounds {
    (@first_six $v:ident, $m:ident) => {{
        $crate::kernel::simd_g!($v, 0, 5, 10, 15, $m[8], $m[9]);
        $crate::kernel::simd_round!($v, $m, 1);
        $crate::kernel::simd_round!($v, $m, 2);
        $crate::kernel::simd_round!($v, $m, 3);
        $crate::kernel::simd_round!($v, $m, 4);
        $crate::kernel::simd_round!($v, $m, 5);
    }};
    ($v:ident, $m:ident, full) => {{
        $crate::kernel::simd_rounds!(@first_six $v, $m);
        $crate::kernel::simd_round!($v, $m, 6);
    }};
    ($v:ident, $m:ident, word7) => {{
        $crate::kernel::simd_rounds!(@first_six $v, $m);
        let s = &$crate::kernel::MSG_SCHEDULE[6];
        $crate::kernel::simd_g4!(
            $v,
            [0, 4, 8, 12, $m[s[0]], $m[s[1]]],
            [1, 5, 9, 13, $m[s[2]], $m[s[3]]],
            [2, 6, 10, 14, $m[s[4]], $m[s[5]]],
            [3, 7, 11, 15, $m[s[6]], $m[s[7]]]
        );
        $crate::kernel::simd_g4!(
            $v,
            [0, 5, 10, 15, $m[s[8]], $m[s[9]]],
            [2, 7, 8, 13, $m[s[12]], $m[s[13]]]
        );
    }};
}

/// The per-backend entry points, written once: `splat_all`, `to_array`, `setup`,
/// `scan` and `hash_batch`, compiled with the backend's target features `$feat`. The
/// expanding module provides `V`, `LANES`, `add`, `xor`, `rot16`, `rot12`, `rot8`,
/// `rot7`, `splat`, `offsets` (the lane indices 0..LANES) and `le_mask` (bit `i` set
/// when lane `i` of the first vector is at most the same lane of the second).
macro_rules! simd_backend {
    ($feat:literal) => {
        #[inline]
        #[target_feature(enable = $feat)]
        fn splat_all<const N: usize>(words: &[u32; N]) -> [V; N] {
            let mut out = [splat(0); N];
            for (o, w) in out.iter_mut().zip(words) {
                *o = splat(*w);
            }
            out
        }

        #[inline]
        #[target_feature(enable = $feat)]
        fn to_array(x: V) -> [u32; LANES] {
            // SAFETY: the vector and `[u32; LANES]` have the same size and every bit
            // pattern is a valid value of both.
            unsafe { core::mem::transmute::<V, [u32; LANES]>(x) }
        }

        /// The per-lane state and message for the `LANES` nonces from `base`.
        #[inline]
        #[target_feature(enable = $feat)]
        fn setup(ms: &Midstate, pre: &[V; 8], base: u64) -> ([V; 16], [Option<V>; 16]) {
            let lo = add(splat(base as u32), offsets());
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

        #[target_feature(enable = $feat)]
        pub(super) fn scan(
            ms: &Midstate,
            start: u64,
            batches: u32,
            target_hi: u32,
        ) -> Option<(u64, u32)> {
            let pre = splat_all(&ms.m);
            let target = splat(target_hi);
            for b in 0..u64::from(batches) {
                let base = start + b * BATCH;
                let mut mask = 0u32;
                for chunk in 0..BATCH_LEN / LANES {
                    let (mut v, m) = setup(ms, &pre, base + (chunk * LANES) as u64);
                    $crate::kernel::simd_rounds!(v, m, word7);
                    mask |= le_mask(xor(v[7], v[15]), target) << (chunk * LANES);
                }
                if mask != 0 {
                    return Some((base, mask));
                }
            }
            None
        }

        #[target_feature(enable = $feat)]
        pub(super) fn hash_batch(ms: &Midstate, start: u64) -> [[u32; 8]; BATCH_LEN] {
            let pre = splat_all(&ms.m);
            let mut out = [[0u32; 8]; BATCH_LEN];
            for chunk in 0..BATCH_LEN / LANES {
                let (mut v, m) = setup(ms, &pre, start + (chunk * LANES) as u64);
                $crate::kernel::simd_rounds!(v, m, full);
                for w in 0..8 {
                    for (lane, word) in to_array(xor(v[w], v[w + 8])).into_iter().enumerate() {
                        out[chunk * LANES + lane][w] = word;
                    }
                }
            }
            out
        }
    };
}

#[cfg(target_arch = "x86_64")]
pub(crate) use {simd_backend, simd_g, simd_g4, simd_round, simd_rounds};

#[cfg(test)]
mod tests;
