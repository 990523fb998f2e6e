//! The RPC handlers, one file per namespace; [`crate::rpc::api`] lists them. What
//! several namespaces share (JSON of headers and transactions, parameter parsing) is
//! here.

pub mod chain;
pub mod mempool;
pub mod mining;
pub mod net;
pub mod node;
pub mod state;
pub mod tx;

use cairn_core::{Address, Block, BlockHeader, Encode, Transaction};
use serde_json::{Value, json};

use crate::rpc::api::RpcResult;
use crate::rpc::types::{ErrorCode, Params, RpcError};
use crate::store::ReadSnapshot;

pub(crate) fn hex_id(s: &str, name: &str) -> Result<cairn_core::Hash, RpcError> {
    s.parse()
        .map_err(|e| RpcError::params(format!("parameter `{name}`: {e}")))
}

/// JSON of a header (the nonce as a decimal string: it can exceed 2^53).
pub fn header_json(h: &BlockHeader) -> Value {
    json!({
        "id": h.id().to_string(),
        "height": h.height,
        "version": h.version,
        "prev": h.prev.to_string(),
        "txRoot": h.tx_root.to_string(),
        "timestamp": h.timestamp_ms,
        "target": h.target.to_string(),
        "nonce": h.nonce.to_string(),
    })
}

/// JSON of a transaction (amounts in base units, as strings: they can exceed 2^53).
pub fn tx_json(tx: &Transaction) -> Value {
    match tx {
        Transaction::Coinbase(c) => json!({
            "type": "coinbase",
            "id": tx.id().to_string(),
            "height": c.height,
            "to": c.recipient.to_string(),
            "amount": c.amount.0.to_string(),
        }),
        Transaction::Transfer(t) => json!({
            "type": "transfer",
            "id": tx.id().to_string(),
            "chainId": t.chain_id,
            "from": t.sender_address().to_string(),
            "sender": t.sender.to_string(),
            "to": t.recipient.to_string(),
            "amount": t.amount.0.to_string(),
            "fee": t.fee.0.to_string(),
            "nonce": t.nonce,
            "signature": hex::encode(t.signature.0),
        }),
    }
}

pub(crate) fn block_json(snapshot: &ReadSnapshot<'_>, block: &Block, full: bool) -> RpcResult {
    let id = block.id();
    let tip = snapshot.tip_header().map_err(internal)?.height;
    let on_main = snapshot
        .on_main_chain(&id, block.header.height)
        .map_err(internal)?;
    let mut v = header_json(&block.header);
    v["size"] = json!(block.encoded_len());
    v["confirmations"] = if on_main {
        json!(tip - block.header.height + 1)
    } else {
        json!(0)
    };
    v["mainChain"] = json!(on_main);
    v["txs"] = if full {
        Value::Array(block.txs.iter().map(tx_json).collect())
    } else {
        Value::Array(
            block
                .txids()
                .iter()
                .map(|t| Value::String(t.to_string()))
                .collect(),
        )
    };
    Ok(v)
}

pub(crate) fn internal(e: impl std::fmt::Display) -> RpcError {
    RpcError::new(ErrorCode::Internal, e.to_string())
}

pub(crate) fn parse_address(p: &Params, index: usize) -> Result<Address, RpcError> {
    p.parsed::<Address>(index, "address")
}
