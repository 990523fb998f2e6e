//! What the methods return. Field names are camelCase on the wire; every `u64` is a
//! [`Dec`] (a decimal string); ids and hashes are 64 lower-case hex digits; amounts
//! are base units (1 CAIRN = 100 000 000). Result types accept fields they do not
//! know, so a client keeps working when a later node adds one.

use cairn_core::{Address, CompactTarget, Hash};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Dec;
use crate::schema::{AddressSchema, HashSchema, HexSchema, TargetSchema};

/// `node_getInfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeInfo {
    /// The node's version.
    pub version: String,
    /// The network's name (`main`, `dev`, …).
    pub network: String,
    /// The chain id every transaction carries.
    pub chain_id: u32,
    /// The genesis block's id.
    #[schemars(with = "HashSchema")]
    pub genesis: Hash,
    /// The network id transfers sign (`docs/PROTOCOL.md` §3.1).
    #[schemars(with = "HashSchema")]
    pub network_id: Hash,
    /// The libp2p peer id, when the node is on the network.
    pub peer_id: Option<String>,
    /// The data directory.
    pub data_dir: String,
}

/// One RocksDB column family in `node_getStorageInfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ColumnInfo {
    /// The column family.
    pub name: String,
    /// Bytes in SST files on disk.
    pub sst_bytes: Dec,
    /// Bytes in memtables not yet flushed.
    pub memtable_bytes: Dec,
    /// RocksDB's estimate of the number of keys.
    pub estimated_keys: Dec,
}

/// `node_getStorageInfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorageInfo {
    /// Per column family.
    pub columns: Vec<ColumnInfo>,
    /// SST and memtable bytes of all column families.
    pub total_bytes: Dec,
    /// Main-chain blocks, genesis included.
    pub blocks: Dec,
    /// Stored headers (main and side chains).
    pub headers: Dec,
    /// Accounts in the state.
    pub accounts: Dec,
    /// The data directory.
    pub data_dir: String,
    /// Free bytes on its file system, when known.
    pub free_bytes: Option<Dec>,
    /// The node stops importing below this many free bytes.
    pub min_free_bytes: Dec,
}

/// Sync progress in `chain_getInfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncInfo {
    /// Our tip's height.
    pub height: Dec,
    /// The highest tip a peer claims (our own height if none is higher).
    pub best_peer_height: Dec,
    /// Blocks are being downloaded.
    pub syncing: bool,
}

/// `chain_getInfo`: the tip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChainInfo {
    /// The tip's height.
    pub height: Dec,
    /// The tip's id.
    #[schemars(with = "HashSchema")]
    pub tip: Hash,
    /// The tip's compact target.
    #[schemars(with = "TargetSchema")]
    pub target: CompactTarget,
    /// Expected hashes per block at the tip's target.
    pub difficulty: f64,
    /// Cumulative work of the chain, 64 hex digits (a 256-bit number).
    pub work: String,
    /// The tip's timestamp, ms since the Unix epoch.
    pub timestamp: Dec,
    /// Median time of the last 11 blocks, ms since the Unix epoch.
    pub median_time: Dec,
    /// Whether the node is downloading blocks.
    pub syncing: bool,
    /// Sync progress, when the node is on the network.
    pub sync: Option<SyncInfo>,
}

/// A block header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Header {
    /// The block id: `blake3(blake3(header[0..88]) ‖ nonce as u64 LE)`, the PoW hash
    /// (`docs/PROTOCOL.md` §5.3).
    #[schemars(with = "HashSchema")]
    pub id: Hash,
    /// Its height.
    pub height: Dec,
    /// The header version.
    pub version: u32,
    /// The parent's id.
    #[schemars(with = "HashSchema")]
    pub prev: Hash,
    /// Merkle root of the block's transaction ids.
    #[schemars(with = "HashSchema")]
    pub tx_root: Hash,
    /// ms since the Unix epoch.
    pub timestamp: Dec,
    /// The compact target the id must meet.
    #[schemars(with = "TargetSchema")]
    pub target: CompactTarget,
    /// The proof-of-work nonce.
    pub nonce: Dec,
    /// The header's canonical bytes in hex, when asked for with `raw`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<HexSchema>")]
    pub raw: Option<String>,
}

/// A coinbase: pays the block's subsidy and fees to one or more recipients,
/// spendable `coinbaseMaturity` blocks later.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CoinbaseTx {
    /// The transaction id.
    #[schemars(with = "HashSchema")]
    pub id: Hash,
    /// The chain id.
    pub chain_id: u32,
    /// The block's height.
    pub height: Dec,
    /// Who is paid what, in coinbase order.
    pub outputs: Vec<CoinbaseOutput>,
    /// Subsidy plus fees (the sum of the outputs), base units.
    pub amount: Dec,
    /// The height at which its payments become spendable.
    pub matures_at: Dec,
    /// Canonical bytes in hex (tag first), when asked for with `raw`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<HexSchema>")]
    pub raw: Option<String>,
}

/// One payment of a coinbase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CoinbaseOutput {
    /// Who is paid.
    #[schemars(with = "AddressSchema")]
    pub to: Address,
    /// How much, base units.
    pub amount: Dec,
}

impl CoinbaseTx {
    /// What it pays `address` (zero if nothing).
    pub fn paid_to(&self, address: &Address) -> u64 {
        self.outputs
            .iter()
            .find(|o| o.to == *address)
            .map_or(0, |o| o.amount.0)
    }
}

/// A signed transfer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TransferTx {
    /// The transaction id.
    #[schemars(with = "HashSchema")]
    pub id: Hash,
    /// The chain id.
    pub chain_id: u32,
    /// The sender's address.
    #[schemars(with = "AddressSchema")]
    pub from: Address,
    /// The sender's ed25519 public key, hex.
    #[schemars(with = "HashSchema")]
    pub sender: String,
    /// Who is paid.
    #[schemars(with = "AddressSchema")]
    pub to: Address,
    /// What the recipient receives, base units.
    pub amount: Dec,
    /// What the miner receives, base units.
    pub fee: Dec,
    /// The sender's transaction count before this one.
    pub nonce: Dec,
    /// The ed25519 signature, 128 hex digits.
    pub signature: String,
    /// Canonical bytes in hex (tag first), when asked for with `raw`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<HexSchema>")]
    pub raw: Option<String>,
}

/// A transaction, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Tx {
    /// A coinbase.
    Coinbase(CoinbaseTx),
    /// A transfer.
    Transfer(TransferTx),
}

impl Tx {
    /// The transaction id.
    pub fn id(&self) -> Hash {
        match self {
            Tx::Coinbase(c) => c.id,
            Tx::Transfer(t) => t.id,
        }
    }

    /// The amount paid.
    pub fn amount(&self) -> u64 {
        match self {
            Tx::Coinbase(c) => c.amount.0,
            Tx::Transfer(t) => t.amount.0,
        }
    }
}

/// A block's transactions: ids, or whole transactions with `full`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum BlockTxs {
    /// Whole transactions (`full`).
    Full(Vec<Tx>),
    /// Transaction ids, in block order.
    Ids(#[schemars(with = "Vec<HashSchema>")] Vec<Hash>),
}

/// A block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Block {
    /// Its header.
    #[serde(flatten)]
    pub header: Header,
    /// Its encoded size, bytes.
    pub size: Dec,
    /// Blocks on top of it, itself included (0 off the main chain).
    pub confirmations: Dec,
    /// Whether it is on the main chain.
    pub main_chain: bool,
    /// Its transactions, coinbase first.
    pub txs: BlockTxs,
    /// The whole block's canonical bytes in hex, when asked for with `raw`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<HexSchema>")]
    pub raw_block: Option<String>,
}

/// Where a transaction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum TxStatus {
    /// In the mempool.
    Pending,
    /// In a main-chain block.
    Confirmed,
    /// Neither (never seen, dropped, or in a block that was reorganised away).
    Unknown,
}

/// `tx_get`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TxLookup {
    /// The id asked for.
    #[schemars(with = "HashSchema")]
    pub txid: Hash,
    /// Where it is.
    pub status: TxStatus,
    /// The transaction (null when `unknown`).
    pub tx: Option<Tx>,
    /// The block that holds it (`confirmed`).
    #[schemars(with = "Option<HashSchema>")]
    pub block: Option<Hash>,
    /// That block's height (`confirmed`).
    pub height: Option<Dec>,
    /// Its position in the block (`confirmed`).
    pub index: Option<u32>,
    /// Blocks on top of it, its own included (`confirmed`).
    pub confirmations: Option<Dec>,
}

/// `tx_getProof`: a Merkle inclusion proof (`docs/PROTOCOL.md` §5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TxProof {
    /// The transaction id (the leaf).
    #[schemars(with = "HashSchema")]
    pub txid: Hash,
    /// The block that holds it.
    #[schemars(with = "HashSchema")]
    pub block: Hash,
    /// Its height.
    pub height: Dec,
    /// The block's transaction root (the proof's root).
    #[schemars(with = "HashSchema")]
    pub tx_root: Hash,
    /// The leaf's position.
    pub index: u32,
    /// Leaves in the tree.
    pub leaf_count: u32,
    /// Sibling hashes from the leaf up.
    #[schemars(with = "Vec<HashSchema>")]
    pub siblings: Vec<Hash>,
}

/// `state_getAccount`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    /// The address.
    #[schemars(with = "AddressSchema")]
    pub address: Address,
    /// Confirmed balance, base units.
    pub balance: Dec,
    /// Mined rewards not spendable yet (their coinbases have not matured), base units;
    /// not part of any other figure here.
    pub immature: Dec,
    /// Confirmed nonce: transfers sent and confirmed.
    pub nonce: Dec,
    /// Balance once the pending transfers from and to it confirm.
    pub pending_balance: Dec,
    /// Confirmed balance less pending debits: what a new transfer may spend.
    pub spendable: Dec,
    /// The nonce its next transfer must carry.
    pub pending_nonce: Dec,
    /// Its transfers in the mempool.
    pub pending_txs: Dec,
}

/// One entry of `state_getHistory`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    /// The transaction.
    pub tx: Tx,
    /// The block that holds it.
    #[schemars(with = "HashSchema")]
    pub block: Hash,
    /// Its height.
    pub height: Dec,
    /// Blocks on top of it, its own included.
    pub confirmations: Dec,
}

/// `mempool_getInfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MempoolInfo {
    /// Pending transfers.
    pub size: Dec,
    /// Their encoded bytes.
    pub bytes: Dec,
    /// The pool's byte limit.
    pub max_bytes: Dec,
    /// The lowest fee admitted, base units.
    pub min_fee: Dec,
}

/// `mempool_estimateFee`, base units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FeeEstimate {
    /// Likely in the next block.
    pub fast: Dec,
    /// Likely within three blocks.
    pub normal: Dec,
    /// Eventually (the minimum).
    pub slow: Dec,
    /// The mempool's minimum.
    pub min_fee: Dec,
}

/// Work for a remote miner (`mining_getWork`, the `newWork` subscription).
///
/// Search nonces in `[nonceStart, nonceEnd)` for one whose
/// `blake3(preHash ‖ nonce as u64 little-endian)` meets `target`
/// (`docs/PROTOCOL.md` §5.3–5.5), then send it with `mining_submitWork`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Work {
    /// Names this template in `mining_submitWork`.
    pub work_id: Dec,
    /// blake3 of the header without its nonce.
    #[schemars(with = "HashSchema")]
    pub pre_hash: Hash,
    /// The compact target.
    #[schemars(with = "TargetSchema")]
    pub target: CompactTarget,
    /// The block's height.
    pub height: Dec,
    /// The parent's id.
    #[schemars(with = "HashSchema")]
    pub prev: Hash,
    /// This worker's extranonce (the high 32 bits of its nonce range).
    pub extranonce: u32,
    /// First nonce of this worker's range.
    pub nonce_start: Dec,
    /// One past its last nonce.
    pub nonce_end: Dec,
    /// Transactions in the template, the coinbase included.
    pub txs: u32,
}

/// `mining_submitWork` when the block was accepted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Submitted {
    /// Always true: a refusal is an error (-32030 stale, -32031 duplicate, -32032 low
    /// difficulty, -32602 out of range, -32012 invalid), with `data.reason`.
    pub accepted: bool,
    /// The new block's id.
    #[schemars(with = "HashSchema")]
    pub block: Hash,
    /// Its height.
    pub height: Dec,
}

/// One remote worker in `mining_getInfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkerInfo {
    /// Its name.
    pub name: String,
    /// Its extranonce.
    pub extranonce: u32,
    /// Blocks accepted.
    pub accepted: Dec,
    /// Submissions refused, by reason.
    pub rejected: std::collections::BTreeMap<String, Dec>,
    /// Its last request, ms since the Unix epoch.
    pub last_seen: Dec,
    /// The hashrate it last reported, hashes/s.
    pub hashrate: f64,
}

/// Submissions of names beyond the tracked workers, counted together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UntrackedWork {
    /// Blocks accepted.
    pub accepted: Dec,
    /// Submissions refused, by reason.
    pub rejected: std::collections::BTreeMap<String, Dec>,
}

/// `mining_getInfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MiningInfo {
    /// Estimated network hashrate from recent blocks, hashes/s.
    pub network_hashrate: f64,
    /// The built-in miner's hashrate, hashes/s (0 when it is off).
    pub local_hashrate: f64,
    /// Remote workers.
    pub workers: Vec<WorkerInfo>,
    /// Workers beyond the table, together.
    pub untracked: UntrackedWork,
    /// The built-in miner, when it runs.
    pub local_miner: Option<LocalMinerInfo>,
}

/// What the built-in miner runs on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalMinerInfo {
    /// The kernel backend (`avx512`, `avx2`, `sse41`, `portable`).
    pub backend: String,
    /// Search threads.
    pub threads: u32,
    /// The kernel against blake3 on one thread, once the self-test after start has
    /// run (absent before, or when turned off with `--no-miner-self-test`).
    pub self_test: Option<SelfTestInfo>,
}

/// A short measurement of the mining kernel against its limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SelfTestInfo {
    /// The kernel's nonces a second, one thread.
    pub kernel_hashes_per_second: f64,
    /// blake3's own compressions a second, one thread (a nonce costs one).
    pub limit_compressions_per_second: f64,
    /// The first over the second: about 1 or more on a good path; well below 1 means
    /// a slow path (an old CPU, or a backend forced lower).
    pub ratio: f64,
}

/// `net_getInfo` (only `enabled` when the node runs offline).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetInfo {
    /// Whether the node is on the network.
    pub enabled: bool,
    /// Its libp2p peer id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_id: Option<String>,
    /// Addresses it listens on (multiaddrs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<Vec<String>>,
    /// Counters, when on the network.
    #[serde(default, flatten, skip_serializing_if = "Option::is_none")]
    pub counters: Option<NetCounters>,
}

/// Peer counts and network counters since start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetCounters {
    /// Connected peers.
    pub peers: Dec,
    /// Of which dialled us.
    pub inbound: Dec,
    /// Of which we dialled.
    pub outbound: Dec,
    /// Gossip messages received, before validation.
    pub gossip_in: Dec,
    /// Gossip messages this node published.
    pub gossip_published: Dec,
    /// Gossip messages rejected as invalid.
    pub gossip_rejected: Dec,
    /// Sync requests answered.
    pub requests_served: Dec,
    /// Sync requests dropped because this node was already serving that peer, or every
    /// peer, as many as it serves at once.
    pub requests_dropped: Dec,
    /// Blocks sent in those answers.
    pub blocks_served: Dec,
    /// Penalties given to peers.
    pub penalties: Dec,
    /// Inbound connections refused by the per-address limits.
    pub inbound_refused: Dec,
    /// Peers banned.
    pub bans: Dec,
    /// Compact blocks received, before validation.
    pub compact_in: Dec,
    /// Compact blocks rebuilt from the mempool with no round trip (and accepted).
    pub compact_rebuilt: Dec,
    /// Compact blocks completed by asking their sender for missing transfers.
    pub compact_completed: Dec,
    /// Compact blocks for which the whole block was fetched.
    pub compact_fetched: Dec,
    /// Bytes of the compact blocks rebuilt or completed.
    pub compact_bytes: Dec,
    /// Bytes of the blocks those compact blocks stood for.
    pub compact_block_bytes: Dec,
    /// Pending transfers admitted from peers' mempools when they connected.
    pub mempool_synced: Dec,
}

/// Which side opened a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Direction {
    /// The peer dialled us.
    Inbound,
    /// We dialled the peer.
    Outbound,
}

/// One peer in `net_getPeers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PeerInfo {
    /// Its libp2p peer id.
    pub id: String,
    /// The connection's remote multiaddr.
    pub address: String,
    /// Who dialled.
    pub direction: Direction,
    /// What it runs (identify's agent version), once known.
    pub agent: Option<String>,
    /// The tip height it last told us, once known.
    pub height: Option<Dec>,
    /// Its gossipsub score.
    pub gossip_score: f64,
    /// Our misbehaviour points against it (banned at 100).
    pub penalty: u32,
}

/// WebSocket topics for `subscribe`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Topic {
    /// Every new main-chain header (from `fromHeight` first, when given).
    #[serde(rename = "newHeads")]
    NewHeads,
    /// Every transfer the mempool admits, as a transaction object.
    #[serde(rename = "newPendingTxs")]
    NewPendingTxs,
    /// New work (a `Work`) for `coinbase`/`worker` at every new tip.
    #[serde(rename = "newWork")]
    NewWork,
}

/// A subscription's message: `{"jsonrpc":"2.0","method":"subscription",
/// "params":{"subscription":id,"result":...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SubscriptionEvent {
    /// The id `subscribe` answered.
    pub subscription: String,
    /// A [`Header`] (`newHeads`), a [`Tx`] (`newPendingTxs`) or a [`Work`]
    /// (`newWork`).
    pub result: serde_json::Value,
}

/// `pool_getInfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PoolInfo {
    /// Whether the node runs a pool; the rest is absent or zero when it does not.
    pub enabled: bool,
    /// The Stratum endpoint (`host:port`).
    pub listen: Option<String>,
    /// The pool's own address (its fee, and what it holds for miners paid later).
    #[schemars(with = "Option<AddressSchema>")]
    pub address: Option<Address>,
    /// The fee, millionths of each reward.
    pub fee_ppm: u32,
    /// The PPLNS window, in blocks' work.
    pub window_blocks: Dec,
    /// The current job's window, in share work (expected hashes), decimal.
    pub window_work: String,
    /// Open TCP connections to the Stratum endpoint.
    pub connections: Dec,
    /// Subscribed Stratum sessions.
    pub sessions: Dec,
    /// Workers seen since start.
    pub workers: Dec,
    /// Shares accepted since start.
    pub shares: Dec,
    /// Accepted shares a second, over the last minute.
    pub share_rate: f64,
    /// Estimated pool hashrate from its shares over the last minute, hashes/s.
    pub hashrate: f64,
    /// Blocks the pool found since start.
    pub blocks: Dec,
    /// Refused shares and requests since start, by reason.
    pub refusals: std::collections::BTreeMap<String, Dec>,
    /// The current job's coinbase.
    pub job: Option<PoolJob>,
}

/// The payout of the pool's current job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PoolJob {
    /// The job id.
    pub id: Dec,
    /// The height its block would have.
    pub height: Dec,
    /// What its coinbase pays in all.
    pub reward: Dec,
    /// Its outputs.
    pub outputs: Vec<CoinbaseOutput>,
}

/// One worker of `pool_getWorkers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PoolWorker {
    /// The payout address.
    #[schemars(with = "AddressSchema")]
    pub address: Address,
    /// The worker name.
    pub worker: String,
    /// Open sessions.
    pub sessions: Dec,
    /// Share difficulty of its newest session (expected hashes per share).
    pub difficulty: Dec,
    /// Shares accepted.
    pub accepted: Dec,
    /// Shares refused.
    pub refused: Dec,
    /// The work of its accepted shares, decimal.
    pub work: String,
    /// Blocks it found.
    pub blocks: Dec,
    /// When its last share was accepted, ms since the epoch (0: never).
    pub last_share: Dec,
    /// Estimated hashrate from its shares over the last minute, hashes/s.
    pub hashrate: f64,
}

/// `pool_getPayouts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PoolPayouts {
    /// Pool blocks on the main chain, newest first.
    pub blocks: Vec<PoolPayout>,
    /// Every miner's carried credit.
    pub credits: Vec<PoolCredit>,
}

/// One pool block of `pool_getPayouts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PoolPayout {
    /// The block id.
    #[schemars(with = "HashSchema")]
    pub block: Hash,
    /// Its height.
    pub height: Dec,
    /// What its coinbase paid.
    pub outputs: Vec<CoinbaseOutput>,
}

/// A miner's carried credit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PoolCredit {
    /// The miner.
    #[schemars(with = "AddressSchema")]
    pub address: Address,
    /// What the pool owes it, base units.
    pub amount: Dec,
}
