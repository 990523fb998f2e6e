//! `mining_*`: work for remote miners and mining statistics.

use cairn_core::Address;
use cairn_rpc::envelope::RpcError;
use cairn_rpc::methods::{
    MiningGetInfo, MiningGetWork, MiningSubmitWork, NoParams, SubmitParams, WorkParams,
};
use cairn_rpc::types::{
    LocalMinerInfo, MiningInfo, SelfTestInfo, Submitted, UntrackedWork, Work, WorkerInfo,
};
use cairn_rpc::{Dec, ErrorCode};

use crate::mining::hashrate::{local_hashrate, network_hashrate};
use crate::mining::work::{SubmitError, WorkerStats};
use crate::rpc::RpcContext;
use crate::rpc::api::Handle;

/// Longest worker name.
const MAX_WORKER_NAME: usize = 64;

/// Builds work for `worker` paying `coinbase` (`mining_getWork` and the `newWork`
/// subscription).
pub fn work_for(
    ctx: &RpcContext,
    coinbase: Address,
    worker: Option<&str>,
    hashrate: Option<f64>,
) -> Result<Work, RpcError> {
    let worker = worker.unwrap_or("default");
    if worker.len() > MAX_WORKER_NAME {
        return Err(RpcError::params(format!(
            "worker names are at most {MAX_WORKER_NAME} bytes"
        )));
    }
    let w = ctx
        .work
        .get_work(&ctx.node, worker, coinbase, hashrate.unwrap_or(0.0))
        .map_err(|e| RpcError::new(ErrorCode::Busy, e.to_string()))?;
    Ok(Work {
        work_id: w.id.into(),
        pre_hash: w.header.pre_hash(),
        target: w.header.target,
        height: w.header.height.into(),
        prev: w.header.prev,
        extranonce: w.extranonce,
        nonce_start: w.range.start.into(),
        nonce_end: w.range.end.into(),
        txs: u32::try_from(w.txs).unwrap_or(u32::MAX),
    })
}

impl Handle for MiningGetWork {
    fn handle(ctx: &RpcContext, p: WorkParams) -> Result<Work, RpcError> {
        work_for(ctx, p.coinbase, p.worker.as_deref(), p.hashrate)
    }
}

impl Handle for MiningSubmitWork {
    fn handle(ctx: &RpcContext, p: SubmitParams) -> Result<Submitted, RpcError> {
        let worker = p.worker.as_deref().unwrap_or("default");
        match ctx.work.submit(&ctx.node, worker, p.work_id.0, p.nonce.0) {
            Ok((block, height)) => Ok(Submitted {
                accepted: true,
                block,
                height: height.into(),
            }),
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
                Err(RpcError::with_reason(code, e.name(), detail))
            }
        }
    }
}

fn rejected(w: &WorkerStats) -> std::collections::BTreeMap<String, Dec> {
    w.rejected
        .iter()
        .map(|(reason, n)| ((*reason).to_string(), Dec(*n)))
        .collect()
}

impl Handle for MiningGetInfo {
    fn handle(ctx: &RpcContext, _: NoParams) -> Result<MiningInfo, RpcError> {
        let workers = ctx
            .work
            .workers()
            .into_iter()
            .map(|(name, w)| WorkerInfo {
                name,
                extranonce: w.extranonce,
                accepted: w.accepted.into(),
                rejected: rejected(&w),
                last_seen: w.last_seen_ms.into(),
                hashrate: w.hashrate,
            })
            .collect();
        let untracked = ctx.work.untracked();
        Ok(MiningInfo {
            network_hashrate: network_hashrate(&ctx.node),
            local_hashrate: local_hashrate(ctx.hashes.as_deref(), &ctx.hash_sample),
            workers,
            untracked: UntrackedWork {
                accepted: untracked.accepted.into(),
                rejected: rejected(&untracked),
            },
            local_miner: ctx.node.local_miner().map(|m| LocalMinerInfo {
                backend: m.backend.to_string(),
                threads: u32::try_from(m.threads).unwrap_or(u32::MAX),
                self_test: m.self_test.map(|t| SelfTestInfo {
                    kernel_hashes_per_second: t.kernel_hashes_per_second,
                    limit_compressions_per_second: t.limit_compressions_per_second,
                    ratio: t.ratio(),
                }),
            }),
        })
    }
}
