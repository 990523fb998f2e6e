//! `cairn-miner`: Cairn's proof-of-work search.
//!
//! * [`kernel`]: blake3's compression specialised for the 40-byte PoW input, on 16, 8, 4
//!   or 1 lanes (AVX-512, AVX2, SSE4.1, portable), picked at run time;
//! * [`search`]: a rayon-parallel, cancellable search over disjoint nonce ranges, with
//!   extranonce ranges so several machines never search the same space;
//! * [`bench`]: the measurements behind `cairn-miner bench`.
//!
//! Depends on `cairn-core` only (plus rayon); used by the node's built-in miner and by
//! the `cairn-miner` binary.

pub mod bench;
pub mod kernel;
pub mod search;

pub use crate::kernel::{Backend, BackendError, Kernel};
pub use crate::search::{Miner, NonceRange, SearchResult, Solution, Template};

/// Everything that can go wrong in the miner library.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MinerError {
    /// The requested backend is unknown or unsupported here.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// The rayon pool could not be built.
    #[error("cannot start mining threads: {0}")]
    ThreadPool(String),
    /// A header's compact target is not canonical.
    #[error("non-canonical compact target {0:#010x}")]
    BadTarget(u32),
}
