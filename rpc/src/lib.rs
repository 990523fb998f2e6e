//! Cairn's JSON-RPC contract, shared by the node (which serves it), the wallet, the
//! miner and the tests (which call it).
//!
//! - [`envelope`]: JSON-RPC 2.0 requests, responses and error objects, and
//!   [`ErrorCode`], every error the node returns.
//! - [`methods`]: one type per method implementing [`Method`]: its name, summary,
//!   parameters (positional order and a typed struct) and result type.
//! - [`types`]: the result types. Every `u64` is a decimal string on the wire
//!   ([`Dec`]), because JSON numbers lose precision above 2^53; ids and hashes are
//!   lower-case hex; addresses are bech32m.
//! - [`schema`]: a method's OpenRPC description, generated from these types with
//!   `schemars`, so the document cannot drift from what the node sends.
//! - `client` (feature `client`): one blocking HTTP client.

pub mod dec;
pub mod envelope;
pub mod methods;
pub mod schema;
pub mod types;

#[cfg(feature = "client")]
pub mod client;

#[cfg(feature = "client")]
pub use client::{Client, ClientError};
pub use dec::Dec;
pub use envelope::{ErrorCode, ErrorObject, Request, RpcError};
pub use methods::Method;
