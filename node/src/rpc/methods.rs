//! Every RPC method: its documentation (for `rpc.discover`) and its handler, in one
//! table, so the document and the dispatcher cannot drift apart.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use cairn_core::merkle::MerkleProof;
use cairn_core::{
    Address, Block, BlockHeader, BlockId, Decode, Encode, RejectReason, Transaction, TxId,
};
use serde_json::{Value, json};

use crate::chain::ChainError;
use crate::mempool::MempoolError;
use crate::node::BlockSource;
use crate::rpc::RpcContext;
use crate::rpc::types::{ErrorCode, Params, RpcError};
use crate::store::ReadSnapshot;
use crate::store::schema::{Accounts, Heights};

/// A handler's result.
pub type RpcResult = Result<Value, RpcError>;
/// An async handler's future.
pub type BoxFuture = Pin<Box<dyn Future<Output = RpcResult> + Send>>;

/// How a method runs.
#[derive(Clone, Copy, Debug)]
pub enum Handler {
    /// Reads or writes the node under its lock: run on a blocking thread.
    Blocking(fn(&RpcContext, &Params) -> RpcResult),
    /// Talks to the network task: awaited on the runtime.
    Async(fn(Arc<RpcContext>, Params) -> BoxFuture),
    /// A point read that holds the node's lock for microseconds: run in place,
    /// without a hop to the blocking pool.
    Inline(fn(&RpcContext, &Params) -> RpcResult),
}

/// One parameter, for the OpenRPC document.
#[derive(Debug, Clone, Copy)]
pub struct ParamDef {
    /// Its name (also its key when parameters are given by name).
    pub name: &'static str,
    /// JSON Schema of its value, as JSON text.
    pub schema: &'static str,
    /// Whether it must be given.
    pub required: bool,
    /// What it is.
    pub description: &'static str,
}

/// One method.
#[derive(Clone, Copy, Debug)]
pub struct MethodDef {
    /// Its name.
    pub name: &'static str,
    /// One line on what it does.
    pub summary: &'static str,
    /// Its parameters, in positional order.
    pub params: &'static [ParamDef],
    /// What it returns.
    pub result: &'static str,
    /// Whether it needs the RPC token.
    pub admin: bool,
    /// The code.
    pub handler: Handler,
}

const fn p(
    name: &'static str,
    schema: &'static str,
    required: bool,
    description: &'static str,
) -> ParamDef {
    ParamDef {
        name,
        schema,
        required,
        description,
    }
}

const HASH: &str = r#"{"type":"string","pattern":"^[0-9a-f]{64}$"}"#;
const U64: &str = r#"{"type":"integer","minimum":0}"#;
const BOOL: &str = r#"{"type":"boolean"}"#;
const STRING: &str = r#"{"type":"string"}"#;
const ADDRESS: &str = r#"{"type":"string","pattern":"^cairn1"}"#;

/// The method table.
pub const METHODS: &[MethodDef] = &[
    MethodDef {
        name: "node_getInfo",
        summary: "Version, network name, chain id, genesis id, network id (`networkId`, which transfers sign), peer id and data directory.",
        params: &[],
        result: "object",
        admin: false,
        handler: Handler::Inline(node_get_info),
    },
    MethodDef {
        name: "node_getStorageInfo",
        summary: "Database size per RocksDB column family, main-chain blocks, stored headers, \
                  accounts, and the free space left beside the minimum.",
        params: &[],
        result: "object",
        admin: false,
        handler: Handler::Blocking(node_get_storage_info),
    },
    MethodDef {
        name: "chain_getInfo",
        summary: "The tip: height, id, target and difficulty, cumulative work, median time, sync state.",
        params: &[],
        result: "object",
        admin: false,
        handler: Handler::Inline(chain_get_info),
    },
    MethodDef {
        name: "chain_getBlockByHeight",
        summary: "A main-chain block by height: header fields, transaction ids (or full transactions), size, confirmations.",
        params: &[
            p("height", U64, true, "block height"),
            p(
                "full",
                BOOL,
                false,
                "include full transactions (default false)",
            ),
        ],
        result: "block object",
        admin: false,
        handler: Handler::Blocking(chain_get_block_by_height),
    },
    MethodDef {
        name: "chain_getBlockByHash",
        summary: "A stored block by id (main or side chain).",
        params: &[
            p("id", HASH, true, "block id (hex)"),
            p(
                "full",
                BOOL,
                false,
                "include full transactions (default false)",
            ),
        ],
        result: "block object",
        admin: false,
        handler: Handler::Blocking(chain_get_block_by_hash),
    },
    MethodDef {
        name: "chain_getHeaders",
        summary: "Main-chain headers from a height, at most 2000.",
        params: &[
            p("from", U64, true, "first height"),
            p("count", U64, true, "how many (at most 2000)"),
        ],
        result: "array of header objects",
        admin: false,
        handler: Handler::Blocking(chain_get_headers),
    },
    MethodDef {
        name: "tx_send",
        summary: "Submits a signed transfer (hex of its canonical encoding, tag 0x01 first) to the mempool and the network.",
        params: &[p("tx", STRING, true, "hex-encoded canonical transaction")],
        result: "transaction id (hex)",
        admin: false,
        handler: Handler::Blocking(tx_send),
    },
    MethodDef {
        name: "tx_get",
        summary: "A transaction and its status: pending, confirmed (block, height, confirmations) or unknown.",
        params: &[p("id", HASH, true, "transaction id")],
        result: "object",
        admin: false,
        handler: Handler::Blocking(tx_get),
    },
    MethodDef {
        name: "tx_getProof",
        summary: "Merkle inclusion proof of a confirmed transaction against its block's transaction root.",
        params: &[p("id", HASH, true, "transaction id")],
        result: "object",
        admin: false,
        handler: Handler::Blocking(tx_get_proof),
    },
    MethodDef {
        name: "state_getAccount",
        summary: "Balance and nonce of an address, confirmed and with pending transfers.",
        params: &[p("address", ADDRESS, true, "bech32m address")],
        result: "object",
        admin: false,
        handler: Handler::Inline(state_get_account),
    },
    MethodDef {
        name: "state_getHistory",
        summary: "Confirmed transfers from or to an address, newest first, scanning back at most `blocks` blocks from the tip (at most 1000 entries).",
        params: &[
            p("address", ADDRESS, true, "bech32m address"),
            p(
                "blocks",
                U64,
                false,
                "how many blocks back to scan (default 1000, at most 100000)",
            ),
        ],
        result: "array of transaction objects with height",
        admin: false,
        handler: Handler::Blocking(state_get_history),
    },
    MethodDef {
        name: "mempool_getInfo",
        summary: "Pending transfers: count, bytes, minimum fee.",
        params: &[],
        result: "object",
        admin: false,
        handler: Handler::Inline(mempool_get_info),
    },
    MethodDef {
        name: "mempool_getContent",
        summary: "Pending transfers, highest fee first.",
        params: &[p(
            "limit",
            U64,
            false,
            "at most this many (default 100, at most 10000)",
        )],
        result: "array of transaction objects",
        admin: false,
        handler: Handler::Blocking(mempool_get_content),
    },
    MethodDef {
        name: "mempool_estimateFee",
        summary: "Fee suggestions (base units) for the next block (fast), the next few (normal) and eventually (slow).",
        params: &[],
        result: "object",
        admin: false,
        handler: Handler::Blocking(mempool_estimate_fee),
    },
    MethodDef {
        name: "mining_getWork",
        summary: "Work for a remote miner: work id, pre-hash, compact target, height, and this worker's own nonce range (its extranonce), so no two workers search the same space.",
        params: &[
            p("coinbase", ADDRESS, true, "address the block pays"),
            p(
                "worker",
                STRING,
                false,
                "worker name (default \"default\"); each name gets its own extranonce",
            ),
            p(
                "hashrate",
                r#"{"type":"number","minimum":0}"#,
                false,
                "the worker's hashrate (hashes/s), shown in mining_getInfo",
            ),
        ],
        result: "work object",
        admin: false,
        handler: Handler::Blocking(mining_get_work),
    },
    MethodDef {
        name: "mining_submitWork",
        summary: "Submits a nonce for a work id: accepted (block id, height), or why not (stale, duplicate, low difficulty, out of range, invalid).",
        params: &[
            p("workId", U64, true, "the work id"),
            p(
                "nonce",
                r#"{"type":["string","integer"]}"#,
                true,
                "the nonce (decimal; a string above 2^53)",
            ),
            p("worker", STRING, false, "worker name (default \"default\")"),
        ],
        result: "object",
        admin: false,
        handler: Handler::Blocking(mining_submit_work),
    },
    MethodDef {
        name: "mining_getInfo",
        summary: "Network hashrate estimate, the built-in miner's hashrate, and per-worker statistics.",
        params: &[],
        result: "object",
        admin: false,
        handler: Handler::Blocking(mining_get_info),
    },
    MethodDef {
        name: "net_getInfo",
        summary: "Peer id, listen addresses, peer counts and network counters.",
        params: &[],
        result: "object",
        admin: false,
        handler: Handler::Async(net_get_info),
    },
    MethodDef {
        name: "net_getPeers",
        summary: "Connected peers: id, address, direction, agent, gossip score, penalty.",
        params: &[],
        result: "array",
        admin: false,
        handler: Handler::Async(net_get_peers),
    },
    MethodDef {
        name: "net_connect",
        summary: "Dials a peer (a libp2p multiaddr). Needs the RPC token.",
        params: &[p(
            "address",
            STRING,
            true,
            "multiaddr, e.g. /ip4/192.0.2.7/tcp/8646",
        )],
        result: "true",
        admin: true,
        handler: Handler::Async(net_connect),
    },
    MethodDef {
        name: "node_generate",
        summary: "Dev network only: mines `n` blocks on the tip paying `address`. Needs the RPC token.",
        params: &[
            p("n", U64, true, "how many blocks (at most 1000)"),
            p("address", ADDRESS, true, "coinbase recipient"),
        ],
        result: "array of block ids",
        admin: true,
        handler: Handler::Blocking(node_generate),
    },
];

/// The method called `name`.
pub fn find(name: &str) -> Option<&'static MethodDef> {
    METHODS.iter().find(|m| m.name == name)
}

fn hex_id(s: &str, name: &str) -> Result<cairn_core::Hash, RpcError> {
    s.parse()
        .map_err(|e| RpcError::params(format!("parameter `{name}`: {e}")))
}

/// JSON of a header (the nonce as a decimal string: it can exceed 2^53).
pub fn header_json(h: &BlockHeader) -> Value {
    json!({
        "id": h.id().to_string(),
        "height": h.height,
        "version": h.version,
        "prev": h.prev.to_string(),
        "txRoot": h.tx_root.to_string(),
        "timestamp": h.timestamp_ms,
        "target": h.target.to_string(),
        "nonce": h.nonce.to_string(),
    })
}

/// JSON of a transaction (amounts in base units, as strings: they can exceed 2^53).
pub fn tx_json(tx: &Transaction) -> Value {
    match tx {
        Transaction::Coinbase(c) => json!({
            "type": "coinbase",
            "id": tx.id().to_string(),
            "height": c.height,
            "to": c.recipient.to_string(),
            "amount": c.amount.0.to_string(),
        }),
        Transaction::Transfer(t) => json!({
            "type": "transfer",
            "id": tx.id().to_string(),
            "chainId": t.chain_id,
            "from": t.sender_address().to_string(),
            "sender": t.sender.to_string(),
            "to": t.recipient.to_string(),
            "amount": t.amount.0.to_string(),
            "fee": t.fee.0.to_string(),
            "nonce": t.nonce,
            "signature": hex::encode(t.signature.0),
        }),
    }
}

/// A block's JSON; `snapshot` is the store view the block was read from, so that its
/// confirmations agree with the block.
fn block_json(snapshot: &ReadSnapshot<'_>, block: &Block, full: bool) -> RpcResult {
    let id = block.id();
    let tip = snapshot.tip_header().map_err(internal)?.height;
    let on_main = snapshot
        .on_main_chain(&id, block.header.height)
        .map_err(internal)?;
    let mut v = header_json(&block.header);
    v["size"] = json!(block.encoded_len());
    v["confirmations"] = if on_main {
        json!(tip - block.header.height + 1)
    } else {
        json!(0)
    };
    v["mainChain"] = json!(on_main);
    v["txs"] = if full {
        Value::Array(block.txs.iter().map(tx_json).collect())
    } else {
        Value::Array(
            block
                .txids()
                .iter()
                .map(|t| Value::String(t.to_string()))
                .collect(),
        )
    };
    Ok(v)
}

/// A cumulative work or target work as a float (for display).
pub(crate) fn work_to_f64(w: &cairn_core::Work) -> f64 {
    w.to_be_bytes()
        .iter()
        .fold(0.0, |acc, b| acc * 256.0 + f64::from(*b))
}

fn internal(e: impl std::fmt::Display) -> RpcError {
    RpcError::new(ErrorCode::Internal, e.to_string())
}

fn node_get_info(ctx: &RpcContext, p: &Params) -> RpcResult {
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

fn node_get_storage_info(ctx: &RpcContext, p: &Params) -> RpcResult {
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

fn chain_get_info(ctx: &RpcContext, p: &Params) -> RpcResult {
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

fn chain_get_block_by_height(ctx: &RpcContext, p: &Params) -> RpcResult {
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

fn chain_get_block_by_hash(ctx: &RpcContext, p: &Params) -> RpcResult {
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

fn chain_get_headers(ctx: &RpcContext, p: &Params) -> RpcResult {
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

/// Maps a mempool refusal to its typed error.
pub fn mempool_error(e: MempoolError) -> RpcError {
    let detail = e.to_string();
    let code = match &e {
        MempoolError::Invalid(RejectReason::BadNonce { expected, got, .. }) if got < expected => {
            ErrorCode::NonceTooLow
        }
        MempoolError::Invalid(RejectReason::BadNonce { .. }) => ErrorCode::NonceTooHigh,
        MempoolError::Invalid(RejectReason::InsufficientFunds { .. }) => {
            ErrorCode::InsufficientFunds
        }
        MempoolError::Invalid(r) => {
            return RpcError::with_data(
                ErrorCode::InvalidTransaction,
                json!({ "reason": r.code(), "message": detail }),
            );
        }
        MempoolError::AlreadyKnown(_) => ErrorCode::AlreadyKnown,
        MempoolError::FeeTooLow { .. } | MempoolError::ReplacementFeeTooLow { .. } => {
            ErrorCode::FeeTooLow
        }
        MempoolError::NonceTooLow { .. } => ErrorCode::NonceTooLow,
        MempoolError::NonceGap { .. } => ErrorCode::NonceTooHigh,
        MempoolError::InsufficientFunds { .. } => ErrorCode::InsufficientFunds,
        MempoolError::Full { .. } => ErrorCode::MempoolFull,
        MempoolError::Store(_) => ErrorCode::Internal,
    };
    RpcError::new(code, detail)
}

fn tx_send(ctx: &RpcContext, p: &Params) -> RpcResult {
    p.at_most(&["tx"])?;
    let text: String = p.get(0, "tx")?;
    let bytes = hex::decode(text.trim_start_matches("0x"))
        .map_err(|e| RpcError::params(format!("parameter `tx` is not hex: {e}")))?;
    let tx = match Transaction::from_bytes(&bytes) {
        Ok(Transaction::Transfer(t)) => t,
        Ok(Transaction::Coinbase(_)) => {
            return Err(RpcError::params("a coinbase cannot be sent"));
        }
        Err(e) => {
            return Err(RpcError::params(format!(
                "parameter `tx` does not decode: {e}"
            )));
        }
    };
    ctx.node
        .submit_transfer(tx)
        .map(|id| Value::String(id.to_string()))
        .map_err(mempool_error)
}

fn tx_get(ctx: &RpcContext, p: &Params) -> RpcResult {
    p.at_most(&["id"])?;
    let id: TxId = hex_id(&p.get::<String>(0, "id")?, "id")?;
    if let Some(tx) = ctx.node.with_mempool(|m| m.get(&id).cloned()) {
        let mut v = tx_json(&Transaction::Transfer(tx));
        v["status"] = json!("pending");
        return Ok(v);
    }
    let snapshot = ctx.node.reader().snapshot();
    let Some(loc) = snapshot.tx_location(&id).map_err(internal)? else {
        return Err(RpcError::new(
            ErrorCode::UnknownTransaction,
            format!("no transaction {id}"),
        ));
    };
    let block = snapshot
        .block(&loc.block)
        .map_err(internal)?
        .ok_or_else(|| internal("indexed block missing"))?;
    let tx = block
        .txs
        .get(loc.index as usize)
        .ok_or_else(|| internal("index out of range"))?;
    let tip = snapshot.tip_header().map_err(internal)?.height;
    let mut v = tx_json(tx);
    v["status"] = json!("confirmed");
    v["block"] = json!(loc.block.to_string());
    v["height"] = json!(block.header.height);
    v["index"] = json!(loc.index);
    v["confirmations"] = json!(tip - block.header.height + 1);
    Ok(v)
}

fn tx_get_proof(ctx: &RpcContext, p: &Params) -> RpcResult {
    p.at_most(&["id"])?;
    let id: TxId = hex_id(&p.get::<String>(0, "id")?, "id")?;
    let snapshot = ctx.node.reader().snapshot();
    let Some(loc) = snapshot.tx_location(&id).map_err(internal)? else {
        return Err(RpcError::new(
            ErrorCode::UnknownTransaction,
            format!("no confirmed transaction {id}"),
        ));
    };
    let block = snapshot
        .block(&loc.block)
        .map_err(internal)?
        .ok_or_else(|| internal("indexed block missing"))?;
    let proof = MerkleProof::new(&block.txids(), loc.index as usize)
        .ok_or_else(|| internal("index out of range"))?;
    Ok(json!({
        "txid": id.to_string(),
        "block": loc.block.to_string(),
        "height": block.header.height,
        "txRoot": block.header.tx_root.to_string(),
        "index": proof.index,
        "leafCount": proof.leaf_count,
        "siblings": proof.siblings.iter().map(ToString::to_string).collect::<Vec<_>>(),
    }))
}

fn parse_address(p: &Params, index: usize) -> Result<Address, RpcError> {
    p.parsed::<Address>(index, "address")
}

fn state_get_account(ctx: &RpcContext, p: &Params) -> RpcResult {
    p.at_most(&["address"])?;
    let address = parse_address(p, 0)?;
    // The account first, then the pool: a transfer the pool drops because a block
    // confirmed it meanwhile is then counted in neither, never in both.
    let account = ctx
        .node
        .reader()
        .get::<Accounts>(&address)
        .map_err(internal)?
        .unwrap_or_default();
    ctx.node.with_mempool(|m| {
        let pending = m.pending_for(&address);
        let pending_balance = account
            .balance
            .0
            .saturating_sub(pending.debits)
            .saturating_add(pending.credits);
        Ok(json!({
            "address": address.to_string(),
            "balance": account.balance.0.to_string(),
            "nonce": account.nonce,
            "pendingBalance": pending_balance.to_string(),
            "spendable": account.balance.0.saturating_sub(pending.debits).to_string(),
            "pendingNonce": m.next_nonce(&address, account.nonce),
            "pendingTxs": pending.count,
        }))
    })
}

fn state_get_history(ctx: &RpcContext, p: &Params) -> RpcResult {
    p.at_most(&["address", "blocks"])?;
    let address = parse_address(p, 0)?;
    let blocks: u64 = p.opt(1, "blocks")?.unwrap_or(1_000);
    if blocks > 100_000 {
        return Err(RpcError::params("blocks must be at most 100000"));
    }
    // One snapshot for the whole scan: the blocks and the tip agree, and RocksDB
    // serves it while blocks are imported.
    let snapshot = ctx.node.reader().snapshot();
    let tip = snapshot.tip_header().map_err(internal)?.height;
    let mut out = Vec::new();
    for h in (tip.saturating_sub(blocks.saturating_sub(1))..=tip).rev() {
        let Some(block) = snapshot.block_at(h).map_err(internal)? else {
            continue;
        };
        let id = block.id();
        for tx in &block.txs {
            let hit = match tx {
                Transaction::Coinbase(cb) => cb.recipient == address,
                Transaction::Transfer(t) => t.recipient == address || t.sender_address() == address,
            };
            if hit {
                let mut v = tx_json(tx);
                v["height"] = json!(h);
                v["block"] = json!(id.to_string());
                v["confirmations"] = json!(tip - h + 1);
                out.push(v);
                if out.len() >= MAX_HISTORY {
                    return Ok(Value::Array(out));
                }
            }
        }
    }
    Ok(Value::Array(out))
}

/// Most entries `state_getHistory` returns.
const MAX_HISTORY: usize = 1_000;

fn mempool_get_info(ctx: &RpcContext, p: &Params) -> RpcResult {
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

fn mempool_get_content(ctx: &RpcContext, p: &Params) -> RpcResult {
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

fn mempool_estimate_fee(ctx: &RpcContext, p: &Params) -> RpcResult {
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

fn net_get_info(ctx: Arc<RpcContext>, p: Params) -> BoxFuture {
    Box::pin(async move {
        p.at_most(&[])?;
        let Some(client) = &ctx.network else {
            return Ok(json!({ "enabled": false }));
        };
        let peers = client.peers().await;
        let inbound = peers.iter().filter(|p| p.inbound).count();
        let stats = client.stats().await;
        Ok(json!({
            "enabled": true,
            "peerId": client.local_peer_id().to_string(),
            "listen": client.listen_addrs().await.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "peers": peers.len(),
            "inbound": inbound,
            "outbound": peers.len() - inbound,
            "gossipIn": stats.gossip_in,
            "gossipPublished": stats.gossip_published,
            "gossipRejected": stats.gossip_rejected,
            "requestsServed": stats.requests_served,
            "blocksServed": stats.blocks_served,
            "penalties": stats.penalties,
            "inboundRefused": stats.inbound_refused,
            "bans": stats.bans,
        }))
    })
}

fn net_get_peers(ctx: Arc<RpcContext>, p: Params) -> BoxFuture {
    Box::pin(async move {
        p.at_most(&[])?;
        let Some(client) = &ctx.network else {
            return Ok(json!([]));
        };
        let heights = ctx
            .sync
            .as_ref()
            .map(|s| s.peer_heights())
            .unwrap_or_default();
        let peers = client.peers().await;
        Ok(Value::Array(
            peers
                .into_iter()
                .map(|p| {
                    json!({
                        "id": p.peer.to_string(),
                        "address": p.address.to_string(),
                        "direction": if p.inbound { "inbound" } else { "outbound" },
                        "agent": p.agent,
                        "height": heights.get(&p.peer),
                        "gossipScore": p.gossip_score,
                        "penalty": p.penalty,
                    })
                })
                .collect(),
        ))
    })
}

fn net_connect(ctx: Arc<RpcContext>, p: Params) -> BoxFuture {
    Box::pin(async move {
        p.at_most(&["address"])?;
        let addr: libp2p::Multiaddr = p.parsed(0, "address")?;
        let Some(client) = &ctx.network else {
            return Err(RpcError::new(ErrorCode::Internal, "the node runs offline"));
        };
        client.dial(addr).await;
        Ok(Value::Bool(true))
    })
}

fn node_generate(ctx: &RpcContext, p: &Params) -> RpcResult {
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

fn mining_get_work(ctx: &RpcContext, p: &Params) -> RpcResult {
    p.at_most(&["coinbase", "worker", "hashrate"])?;
    get_work(ctx, p)
}

fn mining_submit_work(ctx: &RpcContext, p: &Params) -> RpcResult {
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

/// Network hashrate: expected hashes per block over the mean block time of the
/// last 60 blocks.
pub(crate) fn network_hashrate(ctx: &RpcContext) -> f64 {
    let tip = ctx.node.tip();
    // The genesis timestamp is set by hand, long before the first block.
    let start = tip.height.saturating_sub(60).max(1);
    let back = tip.height.saturating_sub(start);
    if back == 0 {
        return 0.0;
    }
    let snapshot = ctx.node.reader().snapshot();
    let first = snapshot
        .block_id_at(start)
        .ok()
        .flatten()
        .and_then(|id| snapshot.header(&id).ok().flatten())
        .map_or(tip.header.timestamp_ms, |h| h.timestamp_ms);
    let secs = tip.header.timestamp_ms.saturating_sub(first) as f64 / 1_000.0;
    let per_block = tip
        .header
        .target
        .to_target()
        .map_or(0.0, |t| work_to_f64(&t.work()));
    if secs > 0.0 {
        per_block * back as f64 / secs
    } else {
        0.0
    }
}

/// The built-in miner's hashrate, sampled at most once a second.
pub(crate) fn local_hashrate(ctx: &RpcContext) -> f64 {
    ctx.hashes.as_ref().map_or(0.0, |h| {
        let now = std::time::Instant::now();
        let total = h.load(std::sync::atomic::Ordering::Relaxed);
        let mut s = ctx.hash_sample.lock().unwrap_or_else(|p| p.into_inner());
        let dt = now.duration_since(s.0).as_secs_f64();
        if dt >= 1.0 {
            s.2 = total.saturating_sub(s.1) as f64 / dt;
            *s = (now, total, s.2);
        }
        s.2
    })
}

fn mining_get_info(ctx: &RpcContext, p: &Params) -> RpcResult {
    p.at_most(&[])?;
    let network = network_hashrate(ctx);
    let local = local_hashrate(ctx);
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
