//! `chain_*`: the tip, blocks and headers.

use cairn_rpc::envelope::RpcError;
use cairn_rpc::methods::{
    BlockByHashParams, BlockByHeightParams, ChainGetBlockByHash, ChainGetBlockByHeight,
    ChainGetHeaders, ChainGetInfo, HeadersParams, NoParams,
};
use cairn_rpc::types::{Block, ChainInfo, Header, SyncInfo};
use cairn_rpc::{Dec, ErrorCode};

use crate::mining::hashrate::work_to_f64;
use crate::rpc::RpcContext;
use crate::rpc::api::Handle;
use crate::rpc::handlers::{block_view, header_view, internal};
use crate::store::ReadSnapshot;
use crate::store::schema::Heights;

/// Most headers one `chain_getHeaders` returns.
const MAX_HEADERS: u64 = 2_000;

impl Handle for ChainGetInfo {
    fn handle(ctx: &RpcContext, _: NoParams) -> Result<ChainInfo, RpcError> {
        let view = ctx.node.view();
        let tip = &view.tip;
        let difficulty = tip
            .header
            .target
            .to_target()
            .map_or(0.0, |t| work_to_f64(&t.work()));
        let sync = ctx.sync.as_ref().map(|s| s.status());
        Ok(ChainInfo {
            height: tip.height.into(),
            tip: tip.id,
            target: tip.header.target,
            difficulty,
            work: format!("{:064x}", tip.work.0),
            timestamp: tip.header.timestamp_ms.into(),
            median_time: view.median_time_ms.into(),
            syncing: sync.is_some_and(|s| s.syncing),
            sync: sync.map(|s| SyncInfo {
                height: s.height.into(),
                best_peer_height: s.target.into(),
                syncing: s.syncing,
            }),
        })
    }
}

impl Handle for ChainGetBlockByHeight {
    fn handle(ctx: &RpcContext, p: BlockByHeightParams) -> Result<Block, RpcError> {
        let snapshot = ctx.node.reader().snapshot();
        let found = snapshot.block_at(p.height.0).map_err(internal)?;
        answer(
            &snapshot,
            found,
            p.full,
            p.raw,
            ctx.node.params().coinbase_maturity(),
            || format!("no main-chain block at height {}", p.height),
        )
    }
}

impl Handle for ChainGetBlockByHash {
    fn handle(ctx: &RpcContext, p: BlockByHashParams) -> Result<Block, RpcError> {
        let snapshot = ctx.node.reader().snapshot();
        let found = snapshot.block(&p.id).map_err(internal)?;
        answer(
            &snapshot,
            found,
            p.full,
            p.raw,
            ctx.node.params().coinbase_maturity(),
            || format!("no block {}", p.id),
        )
    }
}

/// The block found, as the RPC shows it, or -32010 with `missing`'s sentence.
fn answer(
    snapshot: &ReadSnapshot<'_>,
    found: Option<cairn_core::Block>,
    full: Option<bool>,
    raw: Option<bool>,
    maturity: u64,
    missing: impl FnOnce() -> String,
) -> Result<Block, RpcError> {
    match found {
        Some(b) => block_view(
            snapshot,
            &b,
            full.unwrap_or(false),
            raw.unwrap_or(false),
            maturity,
        ),
        None => Err(RpcError::new(ErrorCode::UnknownBlock, missing())),
    }
}

impl Handle for ChainGetHeaders {
    fn handle(ctx: &RpcContext, p: HeadersParams) -> Result<Vec<Header>, RpcError> {
        let Dec(count) = p.count;
        if count > MAX_HEADERS {
            return Err(RpcError::params(format!(
                "count must be at most {MAX_HEADERS}"
            )));
        }
        let raw = p.raw.unwrap_or(false);
        let snapshot = ctx.node.reader().snapshot();
        let mut headers = Vec::new();
        for item in snapshot
            .iter_from::<Heights>(&p.from.0)
            .take(usize::try_from(count).unwrap_or(usize::MAX))
        {
            let (_, id) = item.map_err(internal)?;
            let header = snapshot
                .header(&id)
                .map_err(internal)?
                .ok_or_else(|| internal("main-chain header missing"))?;
            headers.push(header_view(&header, raw));
        }
        Ok(headers)
    }
}
