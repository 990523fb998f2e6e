//! Pooled mining inside the node (issue 15).
//!
//! [`pplns`] splits each block's reward among the pool's miners by their work in the
//! last N units of share work (PPLNS), into a multi-output coinbase that every miner
//! can check; [`vardiff`] sets each connection's share difficulty towards one share
//! every few seconds. The Stratum endpoint that feeds them (`docs/STRATUM.md`) is
//! built on these.
//!
//! [`pplns`] and [`vardiff`] do no I/O (no tokio, no RocksDB, no clock: time is passed
//! in), so a replay of the share log reproduces every coinbase exactly. [`ledger`]
//! keeps the credits in the node's store, moving with the main chain.

mod engine;
pub mod jobs;
pub mod ledger;
pub mod server;
pub mod vardiff;

pub use self::engine::{Accepted, Pool, PoolConfig, PoolError, PoolStats, SessionKey, WorkerStats};

pub use cairn_stratum::pplns;
