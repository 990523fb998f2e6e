//! `chain_*`: the tip, blocks and headers.

use cairn_core::BlockId;
use serde_json::{Value, json};

use crate::mining::hashrate::work_to_f64;
use crate::node::now_ms;
use crate::rpc::RpcContext;
use crate::rpc::api::RpcResult;
use crate::rpc::handlers::{block_json, header_json, hex_id, internal};
use crate::rpc::types::{ErrorCode, Params, RpcError};

pub(crate) fn chain_get_info(ctx: &RpcContext, p: &Params) -> RpcResult {
    p.at_most(&[])?;
    let (tip, mtp) = ctx.node.with_state(|c, _| {
        let tip = c.tip();
        let mtp = c.child_context(&tip.id, now_ms()).map_or(0, |x| {
            cairn_core::validation::median_time_past(&x.recent_timestamps_ms)
        });
        (tip, mtp)
    });
    let difficulty = tip
        .header
        .target
        .to_target()
        .map_or(0.0, |t| work_to_f64(&t.work()));
    let sync = ctx.sync.as_ref().map(|s| s.status());
    Ok(json!({
        "height": tip.height,
        "tip": tip.id.to_string(),
        "target": tip.header.target.to_string(),
        "difficulty": difficulty,
        "work": format!("{:064x}", tip.work.0),
        "timestamp": tip.header.timestamp_ms,
        "medianTime": mtp,
        "syncing": sync.is_some_and(|s| s.syncing),
        "sync": sync.map(|s| json!({ "height": s.height, "target": s.target, "syncing": s.syncing })),
    }))
}

pub(crate) fn chain_get_block_by_height(ctx: &RpcContext, p: &Params) -> RpcResult {
    p.at_most(&["height", "full"])?;
    let height: u64 = p.get(0, "height")?;
    let full = p.opt(1, "full")?.unwrap_or(false);
    match ctx.node.block_at(height).map_err(internal)? {
        Some(b) => Ok(block_json(ctx, &b, full)),
        None => Err(RpcError::new(
            ErrorCode::UnknownBlock,
            format!("no main-chain block at height {height}"),
        )),
    }
}

pub(crate) fn chain_get_block_by_hash(ctx: &RpcContext, p: &Params) -> RpcResult {
    p.at_most(&["id", "full"])?;
    let id: BlockId = hex_id(&p.get::<String>(0, "id")?, "id")?;
    let full = p.opt(1, "full")?.unwrap_or(false);
    match ctx.node.with_state(|c, _| c.block(&id)).map_err(internal)? {
        Some(b) => Ok(block_json(ctx, &b, full)),
        None => Err(RpcError::new(
            ErrorCode::UnknownBlock,
            format!("no block {id}"),
        )),
    }
}

pub(crate) fn chain_get_headers(ctx: &RpcContext, p: &Params) -> RpcResult {
    p.at_most(&["from", "count"])?;
    let from: u64 = p.get(0, "from")?;
    let count: u64 = p.get(1, "count")?;
    if count > 2_000 {
        return Err(RpcError::params("count must be at most 2000"));
    }
    let headers = ctx.node.with_state(|c, _| {
        (from..from.saturating_add(count))
            .map_while(|h| c.block_id_at(h))
            .filter_map(|id| c.header(&id))
            .map(|h| header_json(&h))
            .collect::<Vec<_>>()
    });
    Ok(Value::Array(headers))
}
