//! `mempool_*`: pending transfers and fee estimates.

use cairn_core::Transaction;
use serde_json::{Value, json};

use crate::rpc::RpcContext;
use crate::rpc::api::RpcResult;
use crate::rpc::handlers::tx_json;
use crate::rpc::types::{Params, RpcError};

pub(crate) fn mempool_get_info(ctx: &RpcContext, p: &Params) -> RpcResult {
    p.at_most(&[])?;
    Ok(ctx.node.with_mempool(|m| {
        json!({
            "size": m.len(),
            "bytes": m.bytes(),
            "maxBytes": m.config().max_bytes,
            "minFee": m.config().min_fee.0.to_string(),
        })
    }))
}

pub(crate) fn mempool_get_content(ctx: &RpcContext, p: &Params) -> RpcResult {
    p.at_most(&["limit"])?;
    let limit: u64 = p.opt(0, "limit")?.unwrap_or(100);
    if limit > 10_000 {
        return Err(RpcError::params("limit must be at most 10000"));
    }
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let txs = ctx.node.with_mempool(|m| m.top(limit));
    Ok(Value::Array(
        txs.into_iter()
            .map(|t| tx_json(&Transaction::Transfer(t)))
            .collect(),
    ))
}

pub(crate) fn mempool_estimate_fee(ctx: &RpcContext, p: &Params) -> RpcResult {
    p.at_most(&[])?;
    let max_block = ctx.node.params().max_block_bytes();
    Ok(ctx.node.with_mempool(|m| {
        let min = m.config().min_fee.0;

        // One more than the fee of the first transfer that would not fit in `blocks`
        // blocks (fees high to low); the minimum if everything fits.
        let per_block = max_block / 145;
        let at = |blocks: usize| {
            m.fee_at_rank(per_block.saturating_mul(blocks))
                .map_or(min, |f| f.0.saturating_add(1).max(min))
        };
        json!({
            "slow": min.to_string(),
            "normal": at(3).to_string(),
            "fast": at(1).to_string(),
            "minFee": min.to_string(),
        })
    }))
}
