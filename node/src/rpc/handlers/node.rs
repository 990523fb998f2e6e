//! `node_*`: the node itself, its storage, and dev-network block generation.

use cairn_core::Address;
use serde_json::{Value, json};

use crate::chain::ChainError;
use crate::node::BlockSource;
use crate::rpc::RpcContext;
use crate::rpc::api::RpcResult;
use crate::rpc::handlers::internal;
use crate::rpc::types::{ErrorCode, Params, RpcError};
use crate::store::schema::Accounts;

pub(crate) fn node_get_info(ctx: &RpcContext, p: &Params) -> RpcResult {
    p.at_most(&[])?;
    let params = ctx.node.params();
    Ok(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "network": params.name(),
        "chainId": params.chain_id(),
        "genesis": params.genesis_id().to_string(),
        "networkId": params.network_id().to_string(),
        "peerId": ctx.network.as_ref().map(|c| c.local_peer_id().to_string()),
        "dataDir": ctx.node.datadir().display().to_string(),
    }))
}

pub(crate) fn node_get_storage_info(ctx: &RpcContext, p: &Params) -> RpcResult {
    p.at_most(&[])?;
    let store = ctx.node.reader();
    let height = ctx.node.tip().height;
    let columns = store.column_stats();
    let total: u64 = columns
        .iter()
        .map(|c| c.sst_bytes.saturating_add(c.memtable_bytes))
        .sum();
    let accounts = store.count::<Accounts>().map_err(internal)?;
    let headers = store
        .count::<crate::store::schema::Headers>()
        .map_err(internal)?;
    let datadir = ctx.node.datadir();
    Ok(json!({
        "columns": columns,
        "totalBytes": total,
        "blocks": height + 1,
        "headers": headers,
        "accounts": accounts,
        "dataDir": datadir.display().to_string(),
        "freeBytes": crate::disk::free_bytes(datadir).ok(),
        "minFreeBytes": ctx.node.min_free_disk(),
    }))
}

pub(crate) fn node_generate(ctx: &RpcContext, p: &Params) -> RpcResult {
    p.at_most(&["n", "address"])?;
    if !ctx.generate {
        return Err(RpcError::new(
            ErrorCode::DevOnly,
            "node_generate is served only on the dev network",
        ));
    }
    let n: u64 = p.get(0, "n")?;
    if n > 1_000 {
        return Err(RpcError::params("n must be at most 1000"));
    }
    let address = p.parsed::<Address>(1, "address")?;
    // The same kernel as every other miner, one pool for all calls.
    static MINER: std::sync::OnceLock<Option<cairn_miner::Miner>> = std::sync::OnceLock::new();
    let miner = MINER
        .get_or_init(|| {
            let backend = cairn_miner::Backend::from_env().ok()?;
            cairn_miner::Miner::new(0, backend).ok()
        })
        .as_ref()
        .ok_or_else(|| internal("no mining kernel available"))?;
    let never = std::sync::atomic::AtomicBool::new(false);
    let mut ids = Vec::new();
    for _ in 0..n {
        let mut block = ctx.node.block_template(address);
        if !crate::mining::solve(miner, &mut block, &never) {
            return Err(internal("no nonce meets the target"));
        }
        let id = block.id();
        match ctx.node.submit_block(block, BlockSource::Rpc) {
            Ok(_) => ids.push(Value::String(id.to_string())),
            Err(ChainError::Store(e)) => return Err(internal(e)),
            Err(e) => return Err(RpcError::new(ErrorCode::InvalidBlock, e.to_string())),
        }
    }
    Ok(Value::Array(ids))
}
