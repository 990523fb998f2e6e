//! `mempool_*`: pending transfers and fee estimates.

use cairn_rpc::envelope::RpcError;
use cairn_rpc::methods::{
    ContentParams, MempoolEstimateFee, MempoolGetContent, MempoolGetInfo, NoParams,
};
use cairn_rpc::types::{FeeEstimate, MempoolInfo, Tx};

use crate::rpc::RpcContext;
use crate::rpc::api::Handle;
use crate::rpc::handlers::transfer_view;

/// Most transfers one `mempool_getContent` returns.
const MAX_CONTENT: u64 = 10_000;

impl Handle for MempoolGetInfo {
    fn handle(ctx: &RpcContext, _: NoParams) -> Result<MempoolInfo, RpcError> {
        Ok(ctx.node.with_mempool(|m| MempoolInfo {
            size: (m.len() as u64).into(),
            bytes: (m.bytes() as u64).into(),
            max_bytes: (m.config().max_bytes as u64).into(),
            min_fee: m.config().min_fee.0.into(),
        }))
    }
}

impl Handle for MempoolGetContent {
    fn handle(ctx: &RpcContext, p: ContentParams) -> Result<Vec<Tx>, RpcError> {
        let limit = p.limit.map_or(100, |l| l.0);
        if limit > MAX_CONTENT {
            return Err(RpcError::params(format!(
                "limit must be at most {MAX_CONTENT}"
            )));
        }
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let txs = ctx.node.with_mempool(|m| m.top(limit));
        Ok(txs.into_iter().map(|t| transfer_view(&t, false)).collect())
    }
}

impl Handle for MempoolEstimateFee {
    fn handle(ctx: &RpcContext, _: NoParams) -> Result<FeeEstimate, RpcError> {
        let max_block = ctx.node.params().max_block_bytes();
        Ok(ctx.node.with_mempool(|m| {
            let min = m.config().min_fee.0;
            // One more than the fee of the first transfer that would not fit in
            // `blocks` blocks (fees high to low); the minimum if everything fits.
            let per_block = max_block / 145;
            let at = |blocks: usize| {
                m.fee_at_rank(per_block.saturating_mul(blocks))
                    .map_or(min, |f| f.0.saturating_add(1).max(min))
            };
            FeeEstimate {
                fast: at(1).into(),
                normal: at(3).into(),
                slow: min.into(),
                min_fee: min.into(),
            }
        }))
    }
}
