//! `tx_*`: submitting transfers, looking them up, inclusion proofs.

use cairn_core::merkle::MerkleProof;
use cairn_core::{Decode, RejectReason, Transaction, TxId};
use serde_json::{Value, json};

use crate::mempool::MempoolError;
use crate::rpc::RpcContext;
use crate::rpc::api::RpcResult;
use crate::rpc::handlers::{hex_id, internal, tx_json};
use crate::rpc::types::{ErrorCode, Params, RpcError};

/// Maps a mempool refusal to its typed error.
pub fn mempool_error(e: MempoolError) -> RpcError {
    let detail = e.to_string();
    let code = match &e {
        MempoolError::Invalid(RejectReason::BadNonce { expected, got, .. }) if got < expected => {
            ErrorCode::NonceTooLow
        }
        MempoolError::Invalid(RejectReason::BadNonce { .. }) => ErrorCode::NonceTooHigh,
        MempoolError::Invalid(RejectReason::InsufficientFunds { .. }) => {
            ErrorCode::InsufficientFunds
        }
        MempoolError::Invalid(r) => {
            return RpcError::with_data(
                ErrorCode::InvalidTransaction,
                json!({ "reason": r.code(), "message": detail }),
            );
        }
        MempoolError::AlreadyKnown(_) => ErrorCode::AlreadyKnown,
        MempoolError::FeeTooLow { .. } | MempoolError::ReplacementFeeTooLow { .. } => {
            ErrorCode::FeeTooLow
        }
        MempoolError::NonceTooLow { .. } => ErrorCode::NonceTooLow,
        MempoolError::NonceGap { .. } => ErrorCode::NonceTooHigh,
        MempoolError::InsufficientFunds { .. } => ErrorCode::InsufficientFunds,
        MempoolError::Full { .. } => ErrorCode::MempoolFull,
        MempoolError::Store(_) => ErrorCode::Internal,
    };
    RpcError::new(code, detail)
}

pub(crate) fn tx_send(ctx: &RpcContext, p: &Params) -> RpcResult {
    p.at_most(&["tx"])?;
    let text: String = p.get(0, "tx")?;
    let bytes = hex::decode(text.trim_start_matches("0x"))
        .map_err(|e| RpcError::params(format!("parameter `tx` is not hex: {e}")))?;
    let tx = match Transaction::from_bytes(&bytes) {
        Ok(Transaction::Transfer(t)) => t,
        Ok(Transaction::Coinbase(_)) => {
            return Err(RpcError::params("a coinbase cannot be sent"));
        }
        Err(e) => {
            return Err(RpcError::params(format!(
                "parameter `tx` does not decode: {e}"
            )));
        }
    };
    ctx.node
        .submit_transfer(tx)
        .map(|id| Value::String(id.to_string()))
        .map_err(mempool_error)
}

pub(crate) fn tx_get(ctx: &RpcContext, p: &Params) -> RpcResult {
    p.at_most(&["id"])?;
    let id: TxId = hex_id(&p.get::<String>(0, "id")?, "id")?;
    if let Some(tx) = ctx.node.with_mempool(|m| m.get(&id).cloned()) {
        let mut v = tx_json(&Transaction::Transfer(tx));
        v["status"] = json!("pending");
        return Ok(v);
    }
    let snapshot = ctx.node.reader().snapshot();
    let Some(loc) = snapshot.tx_location(&id).map_err(internal)? else {
        return Err(RpcError::new(
            ErrorCode::UnknownTransaction,
            format!("no transaction {id}"),
        ));
    };
    let block = snapshot
        .block(&loc.block)
        .map_err(internal)?
        .ok_or_else(|| internal("indexed block missing"))?;
    let tx = block
        .txs
        .get(loc.index as usize)
        .ok_or_else(|| internal("index out of range"))?;
    let tip = snapshot.tip_header().map_err(internal)?.height;
    let mut v = tx_json(tx);
    v["status"] = json!("confirmed");
    v["block"] = json!(loc.block.to_string());
    v["height"] = json!(block.header.height);
    v["index"] = json!(loc.index);
    v["confirmations"] = json!(tip - block.header.height + 1);
    Ok(v)
}

pub(crate) fn tx_get_proof(ctx: &RpcContext, p: &Params) -> RpcResult {
    p.at_most(&["id"])?;
    let id: TxId = hex_id(&p.get::<String>(0, "id")?, "id")?;
    let snapshot = ctx.node.reader().snapshot();
    let Some(loc) = snapshot.tx_location(&id).map_err(internal)? else {
        return Err(RpcError::new(
            ErrorCode::UnknownTransaction,
            format!("no confirmed transaction {id}"),
        ));
    };
    let block = snapshot
        .block(&loc.block)
        .map_err(internal)?
        .ok_or_else(|| internal("indexed block missing"))?;
    let proof = MerkleProof::new(&block.txids(), loc.index as usize)
        .ok_or_else(|| internal("index out of range"))?;
    Ok(json!({
        "txid": id.to_string(),
        "block": loc.block.to_string(),
        "height": block.header.height,
        "txRoot": block.header.tx_root.to_string(),
        "index": proof.index,
        "leafCount": proof.leaf_count,
        "siblings": proof.siblings.iter().map(ToString::to_string).collect::<Vec<_>>(),
    }))
}
