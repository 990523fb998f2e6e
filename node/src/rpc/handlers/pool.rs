//! `pool_*`: the Stratum pool's state, workers and payouts.

use cairn_rpc::Dec;
use cairn_rpc::envelope::RpcError;
use cairn_rpc::methods::{ContentParams, NoParams, PoolGetInfo, PoolGetPayouts, PoolGetWorkers};
use cairn_rpc::types::{
    CoinbaseOutput, PoolCredit, PoolInfo, PoolJob, PoolPayout, PoolPayouts, PoolWorker,
};

use crate::rpc::RpcContext;
use crate::rpc::api::Handle;
use crate::rpc::handlers::internal;

/// Most payouts `pool_getPayouts` returns.
const MAX_PAYOUTS: u64 = 1_000;

fn outputs(cb: &cairn_core::Coinbase) -> Vec<CoinbaseOutput> {
    cb.outputs
        .iter()
        .map(|o| CoinbaseOutput {
            to: o.recipient,
            amount: o.amount.0.into(),
        })
        .collect()
}

impl Handle for PoolGetInfo {
    fn handle(ctx: &RpcContext, _: NoParams) -> Result<PoolInfo, RpcError> {
        let Some(pool) = &ctx.pool else {
            return Ok(PoolInfo {
                enabled: false,
                listen: None,
                address: None,
                fee_ppm: 0,
                window_blocks: Dec(0),
                window_work: "0".into(),
                connections: Dec(0),
                sessions: Dec(0),
                workers: Dec(0),
                shares: Dec(0),
                share_rate: 0.0,
                hashrate: 0.0,
                blocks: Dec(0),
                refusals: Default::default(),
                job: None,
            });
        };
        let stats = pool.stats();
        let config = pool.config();
        Ok(PoolInfo {
            enabled: true,
            listen: Some(config.listen.to_string()),
            address: Some(config.address),
            fee_ppm: config.fee_ppm,
            window_blocks: Dec(config.window_blocks),
            window_work: stats
                .job
                .as_ref()
                .map_or(0, |j| j.split.window_work)
                .to_string(),
            connections: Dec(stats.connections as u64),
            sessions: Dec(stats.sessions as u64),
            workers: Dec(stats.workers.len() as u64),
            shares: Dec(stats.workers.values().map(|w| w.accepted).sum()),
            share_rate: stats.share_rate,
            hashrate: stats.hashrate,
            blocks: Dec(stats.blocks),
            refusals: stats
                .refusals
                .iter()
                .map(|(r, n)| ((*r).to_owned(), Dec(*n)))
                .collect(),
            job: stats.job.as_ref().map(|j| PoolJob {
                id: Dec(j.id),
                height: Dec(j.header.height),
                reward: Dec(j.split.reward.0),
                outputs: outputs(&j.coinbase),
            }),
        })
    }
}

impl Handle for PoolGetWorkers {
    fn handle(ctx: &RpcContext, _: NoParams) -> Result<Vec<PoolWorker>, RpcError> {
        let Some(pool) = &ctx.pool else {
            return Ok(Vec::new());
        };
        let stats = pool.stats();
        Ok(stats
            .workers
            .iter()
            .map(|((address, worker), w)| PoolWorker {
                address: *address,
                worker: worker.clone(),
                sessions: Dec(u64::from(w.sessions)),
                difficulty: Dec(w.difficulty),
                accepted: Dec(w.accepted),
                refused: Dec(w.refused),
                work: w.work.to_string(),
                blocks: Dec(w.blocks),
                last_share: Dec(w.last_share_ms),
                hashrate: stats
                    .hashrates
                    .get(&(*address, worker.clone()))
                    .copied()
                    .unwrap_or(0.0),
            })
            .collect())
    }
}

impl Handle for PoolGetPayouts {
    fn handle(ctx: &RpcContext, p: ContentParams) -> Result<PoolPayouts, RpcError> {
        let limit = p.limit.map_or(100, |l| l.0);
        if limit > MAX_PAYOUTS {
            return Err(RpcError::params(format!(
                "limit must be at most {MAX_PAYOUTS}"
            )));
        }
        let store = ctx.node.pool_store();
        let snapshot = ctx.node.reader().snapshot();
        let mut blocks = Vec::new();
        for (id, payout) in store
            .payouts(usize::try_from(limit).unwrap_or(usize::MAX))
            .map_err(internal)?
        {
            let Some(block) = snapshot.block(&id).map_err(internal)? else {
                continue;
            };
            let Some(cb) = block.txs.first().and_then(|t| t.as_coinbase()) else {
                continue;
            };
            blocks.push(PoolPayout {
                block: id,
                height: Dec(payout.height),
                outputs: outputs(cb),
            });
        }
        let credits = store
            .credits()
            .map_err(internal)?
            .into_iter()
            .map(|(address, amount)| PoolCredit {
                address,
                amount: Dec(amount.0),
            })
            .collect();
        Ok(PoolPayouts { blocks, credits })
    }
}
