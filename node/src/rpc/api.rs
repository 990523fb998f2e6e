//! Every RPC method: its documentation (for `rpc.discover`) and its handler, in one
//! table, so the document and the dispatcher cannot drift apart. The handlers live in
//! [`crate::rpc::handlers`], one file per namespace.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::Value;

use crate::rpc::RpcContext;
use crate::rpc::handlers::{chain, mempool, mining, net, node, state, tx};
use crate::rpc::types::{Params, RpcError};

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
        handler: Handler::Inline(node::node_get_info),
    },
    MethodDef {
        name: "node_getStorageInfo",
        summary: "Database size per RocksDB column family, main-chain blocks, stored headers, \
                  accounts, and the free space left beside the minimum.",
        params: &[],
        result: "object",
        admin: false,
        handler: Handler::Blocking(node::node_get_storage_info),
    },
    MethodDef {
        name: "chain_getInfo",
        summary: "The tip: height, id, target and difficulty, cumulative work, median time, sync state.",
        params: &[],
        result: "object",
        admin: false,
        handler: Handler::Inline(chain::chain_get_info),
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
        handler: Handler::Blocking(chain::chain_get_block_by_height),
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
        handler: Handler::Blocking(chain::chain_get_block_by_hash),
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
        handler: Handler::Blocking(chain::chain_get_headers),
    },
    MethodDef {
        name: "tx_send",
        summary: "Submits a signed transfer (hex of its canonical encoding, tag 0x01 first) to the mempool and the network.",
        params: &[p("tx", STRING, true, "hex-encoded canonical transaction")],
        result: "transaction id (hex)",
        admin: false,
        handler: Handler::Blocking(tx::tx_send),
    },
    MethodDef {
        name: "tx_get",
        summary: "A transaction and its status: pending, confirmed (block, height, confirmations) or unknown.",
        params: &[p("id", HASH, true, "transaction id")],
        result: "object",
        admin: false,
        handler: Handler::Blocking(tx::tx_get),
    },
    MethodDef {
        name: "tx_getProof",
        summary: "Merkle inclusion proof of a confirmed transaction against its block's transaction root.",
        params: &[p("id", HASH, true, "transaction id")],
        result: "object",
        admin: false,
        handler: Handler::Blocking(tx::tx_get_proof),
    },
    MethodDef {
        name: "state_getAccount",
        summary: "Balance and nonce of an address, confirmed and with pending transfers.",
        params: &[p("address", ADDRESS, true, "bech32m address")],
        result: "object",
        admin: false,
        handler: Handler::Inline(state::state_get_account),
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
        handler: Handler::Blocking(state::state_get_history),
    },
    MethodDef {
        name: "mempool_getInfo",
        summary: "Pending transfers: count, bytes, minimum fee.",
        params: &[],
        result: "object",
        admin: false,
        handler: Handler::Inline(mempool::mempool_get_info),
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
        handler: Handler::Blocking(mempool::mempool_get_content),
    },
    MethodDef {
        name: "mempool_estimateFee",
        summary: "Fee suggestions (base units) for the next block (fast), the next few (normal) and eventually (slow).",
        params: &[],
        result: "object",
        admin: false,
        handler: Handler::Blocking(mempool::mempool_estimate_fee),
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
        handler: Handler::Blocking(mining::mining_get_work),
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
        handler: Handler::Blocking(mining::mining_submit_work),
    },
    MethodDef {
        name: "mining_getInfo",
        summary: "Network hashrate estimate, the built-in miner's hashrate, and per-worker statistics.",
        params: &[],
        result: "object",
        admin: false,
        handler: Handler::Blocking(mining::mining_get_info),
    },
    MethodDef {
        name: "net_getInfo",
        summary: "Peer id, listen addresses, peer counts and network counters.",
        params: &[],
        result: "object",
        admin: false,
        handler: Handler::Async(net::net_get_info),
    },
    MethodDef {
        name: "net_getPeers",
        summary: "Connected peers: id, address, direction, agent, gossip score, penalty.",
        params: &[],
        result: "array",
        admin: false,
        handler: Handler::Async(net::net_get_peers),
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
        handler: Handler::Async(net::net_connect),
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
        handler: Handler::Blocking(node::node_generate),
    },
];

/// The method called `name`.
pub fn find(name: &str) -> Option<&'static MethodDef> {
    METHODS.iter().find(|m| m.name == name)
}
