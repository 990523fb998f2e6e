//! `node_*`: the node itself, its storage, and dev-network block generation.

use cairn_rpc::envelope::RpcError;
use cairn_rpc::methods::{
    GenerateParams, IdResult, NoParams, NodeGenerate, NodeGetInfo, NodeGetStorageInfo,
};
use cairn_rpc::types::{ColumnInfo, NodeInfo, StorageInfo};
use cairn_rpc::{Dec, ErrorCode};

use crate::chain::ChainError;
use crate::node::BlockSource;
use crate::rpc::RpcContext;
use crate::rpc::api::Handle;
use crate::rpc::handlers::internal;
use crate::store::schema::{Accounts, Headers};

/// Most blocks one `node_generate` mines.
const MAX_GENERATE: u64 = 1_000;

impl Handle for NodeGetInfo {
    fn handle(ctx: &RpcContext, _: NoParams) -> Result<NodeInfo, RpcError> {
        let params = ctx.node.params();
        Ok(NodeInfo {
            version: env!("CARGO_PKG_VERSION").to_string(),
            network: params.name().to_string(),
            chain_id: params.chain_id(),
            genesis: params.genesis_id(),
            network_id: params.network_id(),
            peer_id: ctx.network.as_ref().map(|c| c.local_peer_id().to_string()),
            data_dir: ctx.node.datadir().display().to_string(),
        })
    }
}

impl Handle for NodeGetStorageInfo {
    fn handle(ctx: &RpcContext, _: NoParams) -> Result<StorageInfo, RpcError> {
        let store = ctx.node.reader();
        let height = ctx.node.tip().height;
        let columns: Vec<ColumnInfo> = store
            .column_stats()
            .into_iter()
            .map(|c| ColumnInfo {
                name: c.name.to_string(),
                sst_bytes: c.sst_bytes.into(),
                memtable_bytes: c.memtable_bytes.into(),
                estimated_keys: c.estimated_keys.into(),
            })
            .collect();
        let total: u64 = columns
            .iter()
            .map(|c| c.sst_bytes.0.saturating_add(c.memtable_bytes.0))
            .sum();
        let datadir = ctx.node.datadir();
        Ok(StorageInfo {
            columns,
            total_bytes: total.into(),
            blocks: (height + 1).into(),
            headers: store.count::<Headers>().map_err(internal)?.into(),
            accounts: store.count::<Accounts>().map_err(internal)?.into(),
            data_dir: datadir.display().to_string(),
            free_bytes: crate::disk::free_bytes(datadir).ok().map(Dec),
            min_free_bytes: ctx.node.min_free_disk().into(),
        })
    }
}

impl Handle for NodeGenerate {
    fn handle(ctx: &RpcContext, p: GenerateParams) -> Result<Vec<IdResult>, RpcError> {
        if !ctx.generate {
            return Err(RpcError::new(
                ErrorCode::DevOnly,
                "node_generate is served only on the dev network",
            ));
        }
        if p.n.0 > MAX_GENERATE {
            return Err(RpcError::params(format!(
                "n must be at most {MAX_GENERATE}"
            )));
        }
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
        for _ in 0..p.n.0 {
            let mut block = ctx.node.block_template(p.address);
            if !crate::mining::solve(miner, &mut block, &never) {
                return Err(internal("no nonce meets the target"));
            }
            let id = block.id();
            match ctx.node.submit_block(block, BlockSource::Rpc) {
                Ok(_) => ids.push(IdResult(id)),
                Err(ChainError::Store(e)) => return Err(internal(e)),
                Err(e) => return Err(RpcError::new(ErrorCode::InvalidBlock, e.to_string())),
            }
        }
        Ok(ids)
    }
}
