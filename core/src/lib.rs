//! `cairn-core`: Cairn's consensus types and rules.
//!
//! Everything here is pure: no async runtime, no database, no network. The node,
//! the miner and the wallet all build on these types, and every consensus rule can be
//! tested without a disk or a socket. The byte layouts and rules are specified in
//! `docs/PROTOCOL.md`; the test vectors in this crate match that document.
//!
//! Must not depend on tokio, rocksdb, libp2p or axum.

// Tests build inputs from small loop counters; consensus code itself gets no such pass.
#![cfg_attr(test, allow(clippy::cast_possible_truncation))]

pub mod address;
pub mod amount;
pub mod block;
pub mod compact;
pub mod difficulty;
pub mod encoding;
pub mod genesis;
pub mod hash;
pub mod hd;
pub mod header;
pub mod keys;
pub mod merkle;
pub mod pow;
#[cfg(test)]
mod proptests;
pub mod state;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod tx;
pub mod validation;
#[cfg(test)]
mod vectors;
pub mod wire;

use thiserror::Error;

pub use crate::address::{Address, AddressError};
pub use crate::amount::{Amount, COIN};
pub use crate::block::Block;
pub use crate::encoding::{Decode, DecodeError, Encode};
pub use crate::genesis::{ChainParams, GenesisConfig, GenesisError, NetworkId};
pub use crate::hash::Hash;
pub use crate::hd::HdError;
pub use crate::header::{BlockHeader, BlockId};
pub use crate::keys::{PublicKey, SecretKey, Signature, SignatureError};
pub use crate::pow::{CompactError, CompactTarget, Target, Work};
pub use crate::state::{Account, AccountView, UndoRecord};
pub use crate::tx::{Coinbase, CoinbaseOutput, Transaction, Transfer, TxId};
pub use crate::validation::RejectReason;

/// Every error `cairn-core` can return, for callers that want one type.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Error {
    /// Bytes that are not a canonical encoding.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// Text that is not an address.
    #[error(transparent)]
    Address(#[from] AddressError),
    /// A signature that fails the strict rules.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// An invalid block or transaction.
    #[error(transparent)]
    Reject(#[from] RejectReason),
    /// An unacceptable genesis file.
    #[error(transparent)]
    Genesis(#[from] GenesisError),
    /// A bad mnemonic.
    #[error(transparent)]
    Hd(#[from] HdError),
    /// A non-canonical compact target.
    #[error(transparent)]
    Compact(#[from] CompactError),
}
