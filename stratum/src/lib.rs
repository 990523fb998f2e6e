//! Cairn's pool protocol, shared by the node's Stratum endpoint and `cairn-miner`
//! (`docs/STRATUM.md`):
//!
//! - [`pplns`]: the payout rule. A pool splits each block's reward among its miners
//!   by their work in the last N units of share work, in the coinbase itself; a miner
//!   checks its own pay with [`pplns::Split::check`].
//! - [`messages`]: the JSON-lines messages, one type per method.
//! - [`job`]: what a miner checks on every job before it hashes: the coinbase decodes
//!   and pays it what the rule gives, the merkle branch leads to the header's tx root,
//!   and the pre-hash is the header's.
//!
//! No I/O and no clock: a replay of a pool's share log reproduces every coinbase.

pub mod job;
pub mod messages;
pub mod pplns;
