//! `mining_*`: work for remote miners and mining statistics.

use cairn_core::Address;
use serde_json::{Value, json};

use crate::mining::hashrate::{local_hashrate, network_hashrate};
use crate::rpc::RpcContext;
use crate::rpc::api::RpcResult;
use crate::rpc::types::{ErrorCode, Params, RpcError};

/// JSON of a work item.
pub fn work_json(w: &crate::mining::work::Work) -> Value {
    json!({
        "workId": w.id,
        "preHash": w.header.pre_hash().to_string(),
        "target": w.header.target.to_string(),
        "height": w.header.height,
        "prev": w.header.prev.to_string(),
        "extranonce": w.extranonce,
        "nonceStart": w.range.start.to_string(),
        "nonceEnd": w.range.end.to_string(),
        "txs": w.txs,
    })
}

/// Builds work for the worker named in `p` (shared by `mining_getWork` and the
/// `newWork` subscription).
pub fn get_work(ctx: &RpcContext, p: &Params) -> RpcResult {
    let coinbase = p.parsed::<Address>(0, "coinbase")?;
    let worker: String = p.opt(1, "worker")?.unwrap_or_else(|| "default".into());
    if worker.len() > 64 {
        return Err(RpcError::params("worker names are at most 64 bytes"));
    }
    let hashrate: f64 = p.opt(2, "hashrate")?.unwrap_or(0.0);
    let work = ctx
        .work
        .get_work(&ctx.node, &worker, coinbase, hashrate)
        .map_err(|e| RpcError::new(ErrorCode::Busy, e.to_string()))?;
    Ok(work_json(&work))
}

pub(crate) fn mining_get_work(ctx: &RpcContext, p: &Params) -> RpcResult {
    p.at_most(&["coinbase", "worker", "hashrate"])?;
    get_work(ctx, p)
}

pub(crate) fn mining_submit_work(ctx: &RpcContext, p: &Params) -> RpcResult {
    use crate::mining::work::SubmitError;
    p.at_most(&["workId", "nonce", "worker"])?;
    let id: u64 = p.get(0, "workId")?;
    let nonce: Value = p.get(1, "nonce")?;
    let nonce = match &nonce {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .ok_or_else(|| RpcError::params("nonce must be a u64 (number or decimal string)"))?;
    let worker: String = p.opt(2, "worker")?.unwrap_or_else(|| "default".into());
    match ctx.work.submit(&ctx.node, &worker, id, nonce) {
        Ok((bid, height)) => {
            Ok(json!({ "accepted": true, "block": bid.to_string(), "height": height }))
        }
        Err(e) => {
            let code = match &e {
                SubmitError::Stale => ErrorCode::StaleWork,
                SubmitError::Duplicate => ErrorCode::DuplicateWork,
                SubmitError::LowDifficulty => ErrorCode::LowDifficulty,
                SubmitError::OutOfRange => ErrorCode::InvalidParams,
                SubmitError::Invalid(_) => ErrorCode::InvalidBlock,
            };
            let detail = match &e {
                SubmitError::Invalid(why) => why.clone(),
                other => other.name().to_string(),
            };
            Err(RpcError::with_data(
                code,
                json!({ "reason": e.name(), "message": detail }),
            ))
        }
    }
}

pub(crate) fn mining_get_info(ctx: &RpcContext, p: &Params) -> RpcResult {
    p.at_most(&[])?;
    let network = network_hashrate(&ctx.node);
    let local = local_hashrate(ctx.hashes.as_deref(), &ctx.hash_sample);
    let workers: Vec<Value> = ctx
        .work
        .workers()
        .into_iter()
        .map(|(name, w)| {
            json!({
                "name": name,
                "extranonce": w.extranonce,
                "accepted": w.accepted,
                "rejected": w.rejected,
                "lastSeen": w.last_seen_ms,
                "hashrate": w.hashrate,
            })
        })
        .collect();
    // Names beyond the table of tracked workers, counted together.
    let untracked = ctx.work.untracked();
    Ok(json!({
        "networkHashrate": network,
        "localHashrate": local,
        "workers": workers,
        "untracked": { "accepted": untracked.accepted, "rejected": untracked.rejected },
    }))
}
