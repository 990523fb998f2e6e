//! Every method: one type implementing [`Method`], with its parameters as a struct.
//!
//! Parameters are given by name (an object with these camelCase keys) or by position
//! (an array in the order of [`Method::PARAMS`]); both decode through the same struct,
//! which refuses unknown keys.

use cairn_core::{Address, Hash};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::Dec;
use crate::schema::{AddressSchema, HashSchema, HexSchema};
use crate::types::{
    Account, Block, ChainInfo, FeeEstimate, Header, HistoryEntry, MempoolInfo, MiningInfo, NetInfo,
    NodeInfo, PeerInfo, PoolInfo, PoolPayouts, PoolWorker, StorageInfo, Submitted, Topic, Tx,
    TxLookup, TxProof, Work,
};

/// One RPC method.
pub trait Method {
    /// Its name on the wire.
    const NAME: &'static str;
    /// What it does, for the reference.
    const SUMMARY: &'static str;
    /// Its parameters' names, in positional order (the fields of [`Method::Params`]).
    const PARAMS: &'static [&'static str];
    /// Whether it needs the RPC token.
    const ADMIN: bool = false;
    /// Served only over the WebSocket.
    const WEBSOCKET_ONLY: bool = false;
    /// Its parameters.
    type Params: Serialize + DeserializeOwned + JsonSchema + Send + 'static;
    /// What it returns.
    type Result: Serialize + DeserializeOwned + JsonSchema + Send + 'static;
}

/// No parameters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

macro_rules! method {
    ($(#[$doc:meta])* $ty:ident, $name:literal, $summary:expr, [$($p:literal),*], $params:ty => $result:ty $(, $flag:ident)*) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $ty;
        impl Method for $ty {
            const NAME: &'static str = $name;
            const SUMMARY: &'static str = $summary;
            const PARAMS: &'static [&'static str] = &[$($p),*];
            $(const $flag: bool = true;)*
            type Params = $params;
            type Result = $result;
        }
    };
}

method!(
    /// `node_getInfo`.
    NodeGetInfo, "node_getInfo",
    "Version, network name, chain id, genesis id, network id (which transfers sign), peer id and data directory.",
    [], NoParams => NodeInfo
);
method!(
    /// `node_getStorageInfo`.
    NodeGetStorageInfo, "node_getStorageInfo",
    "Database size per RocksDB column family, main-chain blocks, stored headers, accounts, and the free space left beside the minimum.",
    [], NoParams => StorageInfo
);
method!(
    /// `chain_getInfo`.
    ChainGetInfo, "chain_getInfo",
    "The tip: height, id, target and difficulty, cumulative work, median time, sync state.",
    [], NoParams => ChainInfo
);

/// Parameters of `chain_getBlockByHeight`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BlockByHeightParams {
    /// The main-chain height.
    pub height: Dec,
    /// Whole transactions instead of their ids (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full: Option<bool>,
    /// Also the canonical bytes, hex: the block's (`rawBlock`), the header's (`raw`)
    /// and with `full` each transaction's (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<bool>,
}

method!(
    /// `chain_getBlockByHeight`.
    ChainGetBlockByHeight, "chain_getBlockByHeight",
    "A main-chain block by height: header fields, transaction ids (or whole transactions), size, confirmations; optionally its canonical bytes.",
    ["height", "full", "raw"], BlockByHeightParams => Block
);

/// Parameters of `chain_getBlockByHash`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BlockByHashParams {
    /// The block id.
    #[schemars(with = "HashSchema")]
    pub id: Hash,
    /// Whole transactions instead of their ids (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full: Option<bool>,
    /// Also the canonical bytes, as for `chain_getBlockByHeight` (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<bool>,
}

method!(
    /// `chain_getBlockByHash`.
    ChainGetBlockByHash, "chain_getBlockByHash",
    "A stored block by id (main or side chain).",
    ["id", "full", "raw"], BlockByHashParams => Block
);

/// Parameters of `chain_getHeaders`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HeadersParams {
    /// The first height.
    pub from: Dec,
    /// How many (at most 2000).
    pub count: Dec,
    /// Also each header's canonical bytes, hex (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<bool>,
}

method!(
    /// `chain_getHeaders`.
    ChainGetHeaders, "chain_getHeaders",
    "Main-chain headers from a height, at most 2000; fewer near the tip.",
    ["from", "count", "raw"], HeadersParams => Vec<Header>
);

/// Parameters of `tx_send`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SendParams {
    /// The transfer's canonical bytes (tag 0x01 first), hex, with or without `0x`.
    #[schemars(with = "HexSchema")]
    pub tx: String,
}

method!(
    /// `tx_send`.
    TxSend, "tx_send",
    "Submits a signed transfer to the mempool and the network and returns its id. Bytes that do not decode are refused with -32000 and reason `malformed`.",
    ["tx"], SendParams => IdResult
);

/// A transaction or block id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct IdResult(#[schemars(with = "HashSchema")] pub Hash);

/// Parameters of `tx_get`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TxParams {
    /// The transaction id.
    #[schemars(with = "HashSchema")]
    pub id: Hash,
    /// Also the transaction's canonical bytes, hex (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<bool>,
}

method!(
    /// `tx_get`.
    TxGet, "tx_get",
    "A transaction and its status: pending (in the mempool), confirmed (block, height, index, confirmations) or unknown.",
    ["id", "raw"], TxParams => TxLookup
);

/// Parameters of `tx_getProof`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProofParams {
    /// The transaction id.
    #[schemars(with = "HashSchema")]
    pub id: Hash,
}

method!(
    /// `tx_getProof`.
    TxGetProof, "tx_getProof",
    "Merkle inclusion proof of a confirmed transaction against its block's transaction root (-32011 if it is not on the main chain).",
    ["id"], ProofParams => TxProof
);

/// Parameters naming an address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AddressParams {
    /// A bech32m address (all lower or all upper case).
    #[schemars(with = "AddressSchema")]
    pub address: Address,
}

method!(
    /// `state_getAccount`.
    StateGetAccount, "state_getAccount",
    "Balance and nonce of an address, confirmed and with pending transfers.",
    ["address"], AddressParams => Account
);

/// Parameters of `state_getHistory`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HistoryParams {
    /// A bech32m address.
    #[schemars(with = "AddressSchema")]
    pub address: Address,
    /// How many blocks back from the tip to scan (default 1000, at most 100000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocks: Option<Dec>,
}

method!(
    /// `state_getHistory`.
    StateGetHistory, "state_getHistory",
    "Confirmed transactions from or to an address, newest first, scanning back at most `blocks` blocks from the tip (at most 1000 entries).",
    ["address", "blocks"], HistoryParams => Vec<HistoryEntry>
);

method!(
    /// `mempool_getInfo`.
    MempoolGetInfo, "mempool_getInfo",
    "Pending transfers: count, bytes, byte limit, minimum fee.",
    [], NoParams => MempoolInfo
);

/// Parameters of `mempool_getContent`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ContentParams {
    /// At most this many (default 100, at most 10000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<Dec>,
}

method!(
    /// `mempool_getContent`.
    MempoolGetContent, "mempool_getContent",
    "Pending transfers, highest fee first.",
    ["limit"], ContentParams => Vec<Tx>
);
method!(
    /// `mempool_estimateFee`.
    MempoolEstimateFee, "mempool_estimateFee",
    "Fee suggestions (base units) for the next block (fast), the next few (normal) and eventually (slow).",
    [], NoParams => FeeEstimate
);

/// Parameters of `mining_getWork`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WorkParams {
    /// The address the block pays.
    #[schemars(with = "AddressSchema")]
    pub coinbase: Address,
    /// The worker's name, at most 64 bytes (default `default`); each name gets its
    /// own extranonce.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
    /// The worker's hashrate, hashes/s, shown in `mining_getInfo`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hashrate: Option<f64>,
}

method!(
    /// `mining_getWork`.
    MiningGetWork, "mining_getWork",
    "Work for a remote miner: work id, pre-hash, compact target, height, and this worker's own nonce range (its extranonce), so no two workers search the same space.",
    ["coinbase", "worker", "hashrate"], WorkParams => Work
);

/// Parameters of `mining_submitWork`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SubmitParams {
    /// The work id.
    pub work_id: Dec,
    /// The nonce found.
    pub nonce: Dec,
    /// The worker's name (default `default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
}

method!(
    /// `mining_submitWork`.
    MiningSubmitWork, "mining_submitWork",
    "Submits a nonce for a work id: accepted (block id, height), or an error whose data.reason says why (stale, duplicate, low-difficulty, out-of-range, invalid).",
    ["workId", "nonce", "worker"], SubmitParams => Submitted
);
method!(
    /// `mining_getInfo`.
    MiningGetInfo, "mining_getInfo",
    "Network hashrate estimate, the built-in miner's hashrate, and per-worker statistics.",
    [], NoParams => MiningInfo
);
method!(
    /// `net_getInfo`.
    NetGetInfo, "net_getInfo",
    "Peer id, listen addresses, peer counts and network counters.",
    [], NoParams => NetInfo
);
method!(
    /// `net_getPeers`.
    NetGetPeers, "net_getPeers",
    "Connected peers: id, address, direction, agent, height, gossip score, penalty.",
    [], NoParams => Vec<PeerInfo>
);

/// Parameters of `net_connect`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConnectParams {
    /// A libp2p multiaddr, e.g. `/ip4/192.0.2.7/tcp/8646`.
    pub address: String,
}

method!(
    /// `net_connect`.
    NetConnect, "net_connect",
    "Dials a peer (a libp2p multiaddr). Needs the RPC token.",
    ["address"], ConnectParams => bool, ADMIN
);

/// Parameters of `node_generate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GenerateParams {
    /// How many blocks (at most 1000).
    pub n: Dec,
    /// Who the blocks pay.
    #[schemars(with = "AddressSchema")]
    pub address: Address,
}

method!(
    /// `node_generate`.
    NodeGenerate, "node_generate",
    "Dev network only: mines `n` blocks on the tip paying `address` and returns their ids. Needs the RPC token.",
    ["n", "address"], GenerateParams => Vec<IdResult>, ADMIN
);

/// Parameters of `subscribe`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SubscribeParams {
    /// What to receive.
    pub topic: Topic,
    /// `newHeads`: replay main-chain headers from this height first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_height: Option<Dec>,
    /// `newWork`: the address the blocks pay (required there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<AddressSchema>")]
    pub coinbase: Option<Address>,
    /// `newWork`: the worker's name (default `default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
    /// `newWork`: the worker's hashrate, hashes/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hashrate: Option<f64>,
}

method!(
    /// `pool_getInfo`.
    PoolGetInfo, "pool_getInfo",
    "The Stratum pool: its endpoint, fee, PPLNS window, sessions, share and block counts, estimated hashrate, refusals by reason, and the current job's payout. `enabled: false` when the node runs no pool.",
    [], NoParams => PoolInfo
);
method!(
    /// `pool_getWorkers`.
    PoolGetWorkers, "pool_getWorkers",
    "Every worker (payout address and worker name) the pool has seen since it started: sessions, share difficulty, accepted and refused shares, their work, blocks found, estimated hashrate.",
    [], NoParams => Vec<PoolWorker>
);
method!(
    /// `pool_getPayouts`.
    PoolGetPayouts, "pool_getPayouts",
    "The pool's blocks on the main chain, newest first, with what each coinbase paid, and every miner's carried credit (paid when it ranks into a coinbase).",
    ["limit"], ContentParams => PoolPayouts
);

method!(
    /// `subscribe` (WebSocket only).
    Subscribe, "subscribe",
    "WebSocket only. Subscribes to a topic and returns the subscription id; events then arrive as {\"jsonrpc\":\"2.0\",\"method\":\"subscription\",\"params\":{\"subscription\":id,\"result\":...}} with a Header (newHeads), a Tx (newPendingTxs) or a Work (newWork). The positional form [topic, {options}] is also accepted.",
    ["topic", "fromHeight", "coinbase", "worker", "hashrate"], SubscribeParams => String, WEBSOCKET_ONLY
);

/// Parameters of `unsubscribe`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UnsubscribeParams {
    /// The id `subscribe` returned.
    pub subscription: String,
}

method!(
    /// `unsubscribe` (WebSocket only).
    Unsubscribe, "unsubscribe",
    "WebSocket only. Ends a subscription; true if it existed.",
    ["subscription"], UnsubscribeParams => bool, WEBSOCKET_ONLY
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::param_fields;

    fn check<M: Method>() {
        let mut fields = param_fields::<M>();
        let mut listed: Vec<String> = M::PARAMS.iter().map(ToString::to_string).collect();
        fields.sort();
        listed.sort();
        assert_eq!(
            fields,
            listed,
            "{}: PARAMS and the struct's fields differ",
            M::NAME
        );
    }

    #[test]
    fn positional_names_are_the_fields() {
        check::<NodeGetInfo>();
        check::<NodeGetStorageInfo>();
        check::<NodeGenerate>();
        check::<ChainGetInfo>();
        check::<ChainGetBlockByHeight>();
        check::<ChainGetBlockByHash>();
        check::<ChainGetHeaders>();
        check::<TxSend>();
        check::<TxGet>();
        check::<TxGetProof>();
        check::<StateGetAccount>();
        check::<StateGetHistory>();
        check::<MempoolGetInfo>();
        check::<MempoolGetContent>();
        check::<MempoolEstimateFee>();
        check::<MiningGetWork>();
        check::<MiningSubmitWork>();
        check::<MiningGetInfo>();
        check::<PoolGetInfo>();
        check::<PoolGetWorkers>();
        check::<PoolGetPayouts>();
        check::<NetGetInfo>();
        check::<NetGetPeers>();
        check::<NetConnect>();
        check::<Subscribe>();
        check::<Unsubscribe>();
    }
}
