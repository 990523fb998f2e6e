//! `chain_*`: the tip, blocks and headers.

use cairn_core::BlockId;
use serde_json::{Value, json};

use crate::mining::hashrate::work_to_f64;
use crate::rpc::RpcContext;
use crate::rpc::api::RpcResult;
use crate::rpc::handlers::{block_json, header_json, hex_id, internal};
use crate::rpc::types::{ErrorCode, Params, RpcError};
use crate::store::schema::Heights;

pub(crate) fn chain_get_info(ctx: &RpcContext, p: &Params) -> RpcResult {
    p.at_most(&[])?;
    let view = ctx.node.view();
    let (tip, mtp) = (view.tip, view.median_time_ms);
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
    let snapshot = ctx.node.reader().snapshot();
    match snapshot.block_at(height).map_err(internal)? {
        Some(b) => block_json(&snapshot, &b, full),
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
    let snapshot = ctx.node.reader().snapshot();
    match snapshot.block(&id).map_err(internal)? {
        Some(b) => block_json(&snapshot, &b, full),
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
    let snapshot = ctx.node.reader().snapshot();
    let mut headers = Vec::new();
    for item in snapshot
        .iter_from::<Heights>(&from)
        .take(usize::try_from(count).unwrap_or(usize::MAX))
    {
        let (_, id) = item.map_err(internal)?;
        let header = snapshot
            .header(&id)
            .map_err(internal)?
            .ok_or_else(|| internal("main-chain header missing"))?;
        headers.push(header_json(&header));
    }
    Ok(Value::Array(headers))
}
