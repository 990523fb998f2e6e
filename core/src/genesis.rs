//! Chain parameters, the `genesis.json` format, the genesis block, the network id,
//! and the built-in `dev` network.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::address::Address;
use crate::amount::{Amount, COIN};
use crate::block::{Block, MAX_BLOCK_BYTES_LIMIT};
use crate::difficulty::AsertParams;
use crate::encoding::Encode;
use crate::hash::Hash;
use crate::hd;
use crate::header::{BlockHeader, BlockId, HEADER_LEN, HEADER_VERSION};
use crate::keys::SecretKey;
use crate::pow::{CompactTarget, Target};
use crate::tx::{
    COINBASE_FIXED_LEN, COINBASE_LEN, COINBASE_OUTPUT_LEN, Coinbase, TRANSFER_LEN, Transaction,
};

/// The well-known test mnemonic (BIP-39's all-zero-entropy phrase) whose accounts the
/// `dev` network pre-funds. **Insecure by design**: everybody knows these keys. Never
/// send real value to them.
pub const DEV_MNEMONIC: &str =
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

/// How many accounts (`m/44'/7777'/0'` … `/9'`) of [`DEV_MNEMONIC`] the dev network funds.
pub const DEV_ACCOUNTS: u32 = 10;

/// Coinbase maturity of the dev network: short, so that tests and demos see mined
/// coins become spendable in seconds.
pub const DEV_COINBASE_MATURITY: u64 = 5;

/// The most outputs any network may allow a coinbase.
pub const MAX_COINBASE_OUTPUTS_LIMIT: u32 = 65_536;

/// The longest coinbase maturity any network may choose.
pub const MAX_COINBASE_MATURITY: u64 = 100_000;

/// Number of ancestors whose median timestamp a block's timestamp must exceed.
pub const MEDIAN_TIME_SPAN: usize = 11;

/// Prefix of the network id's pre-image: keeps it apart from every other Cairn hash.
pub const NETWORK_ID_DOMAIN: &[u8] = b"cairn network v1\0";

/// Names a network by its whole configuration:
/// `blake3(NETWORK_ID_DOMAIN ‖ GenesisConfig::canonical_bytes() ‖ genesis block id)`.
///
/// The genesis id alone is not enough: it covers only what enters the genesis block, so
/// two `genesis.json` files that differ in a rule (block time, size limit, drift…) or in
/// the name can share it. Transfers are signed over the network id, and peers compare
/// it before they talk.
pub type NetworkId = Hash;

/// The content of a `genesis.json` file: everything that defines a network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisConfig {
    /// Network name (lower-case letters, digits, `-`): names the data directory.
    pub name: String,
    /// Chain id, signed into every transaction.
    pub chain_id: u32,
    /// Genesis block timestamp, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// Target of the genesis block and of block 1, the difficulty anchor.
    pub initial_target: CompactTarget,
    /// The easiest target any block may have.
    pub pow_limit: CompactTarget,
    /// Ideal time between blocks.
    pub target_block_time_ms: u64,
    /// ASERT half-life: being this far behind (ahead of) schedule doubles (halves) the target.
    pub asert_half_life_ms: u64,
    /// Subsidy of the blocks before the first halving, in base units.
    pub initial_subsidy: Amount,
    /// Blocks between halvings.
    pub halving_interval: u64,
    /// Largest encoded block size.
    pub max_block_bytes: u32,
    /// How far past a node's clock a block timestamp may be.
    pub max_future_drift_ms: u64,
    /// The most outputs a coinbase may have (a pool pays up to this many miners in a
    /// block).
    pub max_coinbase_outputs: u32,
    /// How many blocks after its own a coinbase's payments become spendable: those of
    /// block `h` are credited when block `h + coinbase_maturity` connects.
    pub coinbase_maturity: u64,
    /// Balances that exist at genesis (spendable at once: they are not rewards).
    pub allocations: Vec<Allocation>,
}

impl GenesisConfig {
    /// The canonical byte encoding the network id hashes: every field in `genesis.json`
    /// order, integers little-endian, compact targets as their `u32`, the name and the
    /// allocations each preceded by a `u32` count (name: bytes; allocation: address
    /// `[20]` ‖ amount `u64`). JSON text is not canonical (spacing, key order, number
    /// forms), so it is never hashed.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(4 + self.name.len() + 64 + 4 + 28 * self.allocations.len());
        encode_count(self.name.len(), &mut out);
        out.extend_from_slice(self.name.as_bytes());
        out.extend_from_slice(&self.chain_id.to_le_bytes());
        out.extend_from_slice(&self.timestamp_ms.to_le_bytes());
        out.extend_from_slice(&self.initial_target.0.to_le_bytes());
        out.extend_from_slice(&self.pow_limit.0.to_le_bytes());
        out.extend_from_slice(&self.target_block_time_ms.to_le_bytes());
        out.extend_from_slice(&self.asert_half_life_ms.to_le_bytes());
        self.initial_subsidy.encode_to(&mut out);
        out.extend_from_slice(&self.halving_interval.to_le_bytes());
        out.extend_from_slice(&self.max_block_bytes.to_le_bytes());
        out.extend_from_slice(&self.max_future_drift_ms.to_le_bytes());
        out.extend_from_slice(&self.max_coinbase_outputs.to_le_bytes());
        out.extend_from_slice(&self.coinbase_maturity.to_le_bytes());
        encode_count(self.allocations.len(), &mut out);
        for a in &self.allocations {
            a.address.encode_to(&mut out);
            a.amount.encode_to(&mut out);
        }
        out
    }
}

/// A validated config's lists are short (a name of at most 32 bytes; allocations
/// that fit one block), far below `u32::MAX`.
fn encode_count(n: usize, out: &mut Vec<u8>) {
    let n = u32::try_from(n).unwrap_or(u32::MAX);
    out.extend_from_slice(&n.to_le_bytes());
}

/// An initial balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allocation {
    /// The funded account.
    pub address: Address,
    /// Its balance at genesis, in base units.
    pub amount: Amount,
}

/// Why a genesis file is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GenesisError {
    /// Not valid JSON for the genesis format (unknown key, wrong type, bad value…).
    #[error("invalid genesis json at line {line}, column {column}: {message}")]
    Json {
        /// What serde said.
        message: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// A well-formed value that breaks a rule.
    #[error("invalid genesis field `{field}`: {reason}")]
    Invalid {
        /// The offending key.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
}

fn invalid(field: &'static str, reason: impl Into<String>) -> GenesisError {
    GenesisError::Invalid {
        field,
        reason: reason.into(),
    }
}

/// Validated network parameters plus the genesis block they define.
#[derive(Debug, Clone)]
pub struct ChainParams {
    config: GenesisConfig,
    initial_target: Target,
    pow_limit: Target,
    genesis: Block,
    genesis_id: BlockId,
    network_id: NetworkId,
}

impl ChainParams {
    /// Parses and validates a `genesis.json` document.
    pub fn from_json(json: &str) -> Result<ChainParams, GenesisError> {
        let config: GenesisConfig = serde_json::from_str(json).map_err(|e| GenesisError::Json {
            message: e.to_string(),
            line: e.line(),
            column: e.column(),
        })?;
        Self::from_config(config)
    }

    /// Validates a configuration and builds its genesis block.
    pub fn from_config(config: GenesisConfig) -> Result<ChainParams, GenesisError> {
        let name_ok = !config.name.is_empty()
            && config.name.len() <= 32
            && config
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !name_ok {
            return Err(invalid("name", "1 to 32 characters of a-z, 0-9 and '-'"));
        }
        let initial_target = config
            .initial_target
            .to_target()
            .map_err(|e| invalid("initial_target", e.to_string()))?;
        let pow_limit = config
            .pow_limit
            .to_target()
            .map_err(|e| invalid("pow_limit", e.to_string()))?;
        if initial_target > pow_limit {
            return Err(invalid("initial_target", "must not be above pow_limit"));
        }
        if !(1..=86_400_000).contains(&config.target_block_time_ms) {
            return Err(invalid(
                "target_block_time_ms",
                "must be between 1 ms and one day",
            ));
        }
        if !(1..=365 * 86_400_000).contains(&config.asert_half_life_ms) {
            return Err(invalid(
                "asert_half_life_ms",
                "must be between 1 ms and one year",
            ));
        }
        if config.halving_interval == 0 {
            return Err(invalid("halving_interval", "must be at least 1"));
        }
        if config.max_future_drift_ms == 0 {
            return Err(invalid("max_future_drift_ms", "must be at least 1"));
        }
        let min_block = HEADER_LEN + 4 + COINBASE_LEN + TRANSFER_LEN;
        if (config.max_block_bytes as usize) < min_block
            || config.max_block_bytes as usize > MAX_BLOCK_BYTES_LIMIT
        {
            return Err(invalid(
                "max_block_bytes",
                format!("must be between {min_block} and {MAX_BLOCK_BYTES_LIMIT}"),
            ));
        }
        let largest_coinbase = COINBASE_FIXED_LEN as u64
            + COINBASE_OUTPUT_LEN as u64 * u64::from(config.max_coinbase_outputs);
        if config.max_coinbase_outputs == 0
            || config.max_coinbase_outputs > MAX_COINBASE_OUTPUTS_LIMIT
            || (HEADER_LEN + 4) as u64 + largest_coinbase > u64::from(config.max_block_bytes)
        {
            return Err(invalid(
                "max_coinbase_outputs",
                format!(
                    "must be between 1 and {MAX_COINBASE_OUTPUTS_LIMIT}, and the largest \
                     coinbase must fit a block"
                ),
            ));
        }
        if config.coinbase_maturity > MAX_COINBASE_MATURITY {
            return Err(invalid(
                "coinbase_maturity",
                format!("must be at most {MAX_COINBASE_MATURITY} blocks"),
            ));
        }
        let mut seen = BTreeSet::new();
        for a in &config.allocations {
            if a.amount == Amount::ZERO {
                return Err(invalid(
                    "allocations",
                    format!("zero amount for {}", a.address),
                ));
            }
            if !seen.insert(a.address) {
                return Err(invalid(
                    "allocations",
                    format!("{} appears twice", a.address),
                ));
            }
        }
        let allocated = Amount::checked_sum(config.allocations.iter().map(|a| a.amount))
            .ok_or_else(|| invalid("allocations", "sum overflows u64"))?;
        let issued = total_subsidy(config.initial_subsidy, config.halving_interval)
            .ok_or_else(|| invalid("initial_subsidy", "total issuance overflows u64"))?;
        if allocated.checked_add(issued).is_none() {
            return Err(invalid(
                "allocations",
                "allocations plus issuance overflow u64",
            ));
        }

        let txs: Vec<Transaction> = config
            .allocations
            .iter()
            .map(|a| {
                Transaction::Coinbase(Coinbase::single(config.chain_id, 0, a.address, a.amount))
            })
            .collect();
        let mut genesis = Block {
            header: BlockHeader {
                version: HEADER_VERSION,
                height: 0,
                prev: Hash::ZERO,
                tx_root: Hash::ZERO,
                timestamp_ms: config.timestamp_ms,
                target: config.initial_target,
                nonce: 0,
            },
            txs,
        };
        if genesis.encoded_len() > config.max_block_bytes as usize {
            let max = config.max_block_bytes;
            return Err(invalid(
                "allocations",
                format!("too many: the genesis block would exceed max_block_bytes ({max})"),
            ));
        }
        genesis.header.tx_root = genesis.compute_tx_root();
        let genesis_id = genesis.id();
        let mut preimage = NETWORK_ID_DOMAIN.to_vec();
        preimage.extend_from_slice(&config.canonical_bytes());
        preimage.extend_from_slice(genesis_id.as_bytes());
        let network_id = Hash::digest(&preimage);
        Ok(ChainParams {
            config,
            initial_target,
            pow_limit,
            genesis,
            genesis_id,
            network_id,
        })
    }

    /// The built-in development network: ~1 s blocks on one core, ten accounts of
    /// [`DEV_MNEMONIC`] funded with 1,000,000 coins each. Insecure by design.
    pub fn dev() -> ChainParams {
        let allocations = dev_keys()
            .iter()
            .map(|k| Allocation {
                address: k.address(),
                amount: Amount(1_000_000 * COIN),
            })
            .collect();
        let config = GenesisConfig {
            name: "dev".into(),
            chain_id: 1337,
            timestamp_ms: 1_767_225_600_000, // 2026-01-01T00:00:00Z
            initial_target: CompactTarget(0x1e01_0000), // 2^232: ~16.8M hashes a block
            pow_limit: CompactTarget(0x2001_0000), // 2^248: ~256 hashes a block
            target_block_time_ms: 1_000,
            asert_half_life_ms: 30_000,
            initial_subsidy: Amount(50 * COIN),
            halving_interval: 210_000,
            max_block_bytes: 1_000_000,
            max_future_drift_ms: 15_000,
            max_coinbase_outputs: 256,
            coinbase_maturity: DEV_COINBASE_MATURITY,
            allocations,
        };
        Self::from_config(config).expect("the built-in dev parameters are valid")
    }

    /// The configuration these parameters were built from.
    pub fn config(&self) -> &GenesisConfig {
        &self.config
    }

    /// The configuration as pretty JSON (a valid `genesis.json`).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&self.config).expect("genesis config always serialises")
    }

    /// Network name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Chain id.
    pub fn chain_id(&self) -> u32 {
        self.config.chain_id
    }

    /// The genesis block.
    pub fn genesis_block(&self) -> &Block {
        &self.genesis
    }

    /// The genesis block's id.
    pub fn genesis_id(&self) -> BlockId {
        self.genesis_id
    }

    /// The network id: every transfer signs it, and peers must share it.
    pub fn network_id(&self) -> NetworkId {
        self.network_id
    }

    /// The easiest target allowed.
    pub fn pow_limit(&self) -> Target {
        self.pow_limit
    }

    /// Largest encoded block size.
    pub fn max_block_bytes(&self) -> usize {
        self.config.max_block_bytes as usize
    }

    /// How far past local time a block's timestamp may be.
    pub fn max_future_drift_ms(&self) -> u64 {
        self.config.max_future_drift_ms
    }

    /// The most outputs a coinbase may have.
    pub fn max_coinbase_outputs(&self) -> usize {
        self.config.max_coinbase_outputs as usize
    }

    /// Blocks between a coinbase and the block that makes its payments spendable.
    pub fn coinbase_maturity(&self) -> u64 {
        self.config.coinbase_maturity
    }

    /// The height whose coinbase payments become spendable when the block at `height`
    /// connects: `height - coinbase_maturity` (the block's own with a maturity of 0),
    /// `None` while that is not a block after genesis.
    pub fn maturing_height(&self, height: u64) -> Option<u64> {
        height
            .checked_sub(self.config.coinbase_maturity)
            .filter(|&h| h >= 1)
    }

    /// The ideal block interval.
    pub fn target_block_time_ms(&self) -> u64 {
        self.config.target_block_time_ms
    }

    /// Parameters for the difficulty algorithm.
    pub fn asert(&self) -> AsertParams {
        AsertParams {
            initial_target: self.initial_target,
            pow_limit: self.pow_limit,
            target_block_time_ms: self.config.target_block_time_ms,
            half_life_ms: self.config.asert_half_life_ms,
        }
    }

    /// The new coins a block at `height` may create (genesis: none; its allocations are
    /// not subsidy).
    pub fn subsidy(&self, height: u64) -> Amount {
        subsidy_at(
            self.config.initial_subsidy,
            self.config.halving_interval,
            height,
        )
    }

    /// Coins in existence once the block at `height` is connected.
    pub fn supply_at(&self, height: u64) -> Amount {
        let allocated = Amount::checked_sum(self.config.allocations.iter().map(|a| a.amount))
            .expect("validated when built");
        let mut total = allocated.0 as u128;
        let interval = self.config.halving_interval as u128;
        let mut era_start = 1u128; // first height paying subsidy
        let h = height as u128;
        let mut era = 0u32;
        while era_start <= h && era < 64 {
            // Heights in this era: [max(1, era·interval), (era+1)·interval) ∩ [1, h].
            let era_end = (era as u128 + 1) * interval; // exclusive
            let last = era_end.min(h + 1);
            total += (last - era_start) * (self.config.initial_subsidy.0 >> era) as u128;
            era_start = era_end;
            era += 1;
        }
        Amount(u64::try_from(total).expect("validated: total issuance fits u64"))
    }
}

fn subsidy_at(initial: Amount, interval: u64, height: u64) -> Amount {
    if height == 0 {
        return Amount::ZERO;
    }
    let halvings = height / interval;
    if halvings >= 64 {
        Amount::ZERO
    } else {
        Amount(initial.0 >> halvings)
    }
}

/// Every coin the subsidy schedule will ever issue, or `None` if that overflows u64.
fn total_subsidy(initial: Amount, interval: u64) -> Option<Amount> {
    let mut total: u128 = 0;
    for era in 0..64u32 {
        let blocks = if era == 0 { interval - 1 } else { interval } as u128; // height 0 pays none
        total += blocks * (initial.0 >> era) as u128;
    }
    u64::try_from(total).ok().map(Amount)
}

/// The dev network's keys, derived once from [`DEV_MNEMONIC`].
pub fn dev_keys() -> &'static [SecretKey] {
    static KEYS: OnceLock<Vec<SecretKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let seed = hd::mnemonic_to_seed(DEV_MNEMONIC, "").expect("the dev mnemonic is valid");
        (0..DEV_ACCOUNTS)
            .map(|i| hd::account_key(&seed[..], i).expect("small indices are valid"))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_network_is_valid_and_deterministic() {
        let a = ChainParams::dev();
        let b = ChainParams::dev();
        assert_eq!(a.genesis_id(), b.genesis_id());
        assert_eq!(a.genesis_block().txs.len(), DEV_ACCOUNTS as usize);
        let json = a.to_json();
        let c = ChainParams::from_json(&json).unwrap();
        assert_eq!(c.genesis_id(), a.genesis_id());
    }

    /// Every field of the configuration enters the network id, including those the
    /// genesis block does not carry (there the genesis id stays the same).
    #[test]
    fn every_field_changes_the_network_id() {
        let main = ChainParams::from_json(include_str!("../../genesis.json")).unwrap();
        assert!(main.config().allocations.is_empty());
        type Mutation = Box<dyn Fn(&mut GenesisConfig)>;
        let cases: Vec<(&str, bool, Mutation)> = vec![
            ("name", false, Box::new(|c| c.name = "test".into())),
            ("chain_id", false, Box::new(|c| c.chain_id = 2)),
            ("timestamp_ms", true, Box::new(|c| c.timestamp_ms += 1)),
            (
                "initial_target",
                true,
                Box::new(|c| c.initial_target = CompactTarget(0x1d10_0001)),
            ),
            (
                "pow_limit",
                false,
                Box::new(|c| c.pow_limit = CompactTarget(0x1e10_0001)),
            ),
            (
                "target_block_time_ms",
                false,
                Box::new(|c| c.target_block_time_ms += 1),
            ),
            (
                "asert_half_life_ms",
                false,
                Box::new(|c| c.asert_half_life_ms += 1),
            ),
            (
                "initial_subsidy",
                false,
                Box::new(|c| c.initial_subsidy = Amount(c.initial_subsidy.0 + 1)),
            ),
            (
                "halving_interval",
                false,
                Box::new(|c| c.halving_interval += 1),
            ),
            (
                "max_block_bytes",
                false,
                Box::new(|c| c.max_block_bytes += 1),
            ),
            (
                "max_future_drift_ms",
                false,
                Box::new(|c| c.max_future_drift_ms += 1),
            ),
            (
                "max_coinbase_outputs",
                false,
                Box::new(|c| c.max_coinbase_outputs += 1),
            ),
            (
                "coinbase_maturity",
                false,
                Box::new(|c| c.coinbase_maturity += 1),
            ),
            (
                "allocations",
                true,
                Box::new(|c| {
                    c.allocations.push(Allocation {
                        address: Address([1; 20]),
                        amount: Amount(1),
                    })
                }),
            ),
        ];
        let mut seen = BTreeSet::from([main.network_id()]);
        for (field, in_genesis_block, mutate) in cases {
            let mut c = main.config().clone();
            mutate(&mut c);
            let p = ChainParams::from_config(c).unwrap();
            assert_eq!(
                p.genesis_id() != main.genesis_id(),
                in_genesis_block,
                "{field}"
            );
            assert!(seen.insert(p.network_id()), "{field}: network id unchanged");
        }
        // The JSON form does not matter, only the values.
        let respaced = ChainParams::from_json(&serde_json::to_string(main.config()).unwrap());
        assert_eq!(respaced.unwrap().network_id(), main.network_id());
    }

    #[test]
    fn subsidy_schedule() {
        let p = ChainParams::dev();
        assert_eq!(p.subsidy(0), Amount::ZERO);
        assert_eq!(p.subsidy(1), Amount(50 * COIN));
        assert_eq!(p.subsidy(209_999), Amount(50 * COIN));
        assert_eq!(p.subsidy(210_000), Amount(25 * COIN));
        assert_eq!(p.subsidy(210_000 * 64), Amount::ZERO);
        let alloc = 10 * 1_000_000 * COIN;
        assert_eq!(p.supply_at(0), Amount(alloc));
        assert_eq!(p.supply_at(3), Amount(alloc + 150 * COIN));
        assert_eq!(
            p.supply_at(210_000),
            Amount(alloc + 209_999 * 50 * COIN + 25 * COIN)
        );
        let brute: u64 = (1..=420_005).map(|h| p.subsidy(h).0).sum();
        assert_eq!(p.supply_at(420_005), Amount(alloc + brute));
    }

    #[test]
    fn bad_configs_name_their_field() {
        let good = ChainParams::dev().config().clone();
        type Mutation = Box<dyn Fn(&mut GenesisConfig)>;
        let cases: Vec<(&str, Mutation)> = vec![
            ("name", Box::new(|c| c.name = "Main Net".into())),
            (
                "initial_target",
                Box::new(|c| c.initial_target = CompactTarget(0x2002_0000)),
            ),
            (
                "pow_limit",
                Box::new(|c| c.pow_limit = CompactTarget(0x2100_0000)),
            ),
            (
                "target_block_time_ms",
                Box::new(|c| c.target_block_time_ms = 0),
            ),
            ("asert_half_life_ms", Box::new(|c| c.asert_half_life_ms = 0)),
            ("halving_interval", Box::new(|c| c.halving_interval = 0)),
            ("max_block_bytes", Box::new(|c| c.max_block_bytes = 10)),
            (
                "max_future_drift_ms",
                Box::new(|c| c.max_future_drift_ms = 0),
            ),
            (
                "max_coinbase_outputs",
                Box::new(|c| c.max_coinbase_outputs = 0),
            ),
            (
                "max_coinbase_outputs",
                Box::new(|c| c.max_coinbase_outputs = 40_000),
            ),
            (
                "coinbase_maturity",
                Box::new(|c| c.coinbase_maturity = MAX_COINBASE_MATURITY + 1),
            ),
            (
                "allocations",
                Box::new(|c| {
                    let a = c.allocations[0].clone();
                    c.allocations.push(a);
                }),
            ),
            (
                "allocations",
                Box::new(|c| c.allocations[0].amount = Amount(u64::MAX)),
            ),
            (
                "initial_subsidy",
                Box::new(|c| c.initial_subsidy = Amount(u64::MAX / 2)),
            ),
            (
                "allocations",
                Box::new(|c| {
                    c.max_block_bytes = 2_000;
                    c.max_coinbase_outputs = 1;
                    let amount = c.allocations[0].amount;
                    c.allocations = (0..100u8)
                        .map(|i| Allocation {
                            address: Address([i; 20]),
                            amount,
                        })
                        .collect();
                }),
            ),
        ];
        for (field, mutate) in cases {
            let mut c = good.clone();
            mutate(&mut c);
            match ChainParams::from_config(c) {
                Err(GenesisError::Invalid { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: expected an error, got {other:?}"),
            }
        }
    }

    #[test]
    fn maturing_heights() {
        let mut c = ChainParams::dev().config().clone();
        c.coinbase_maturity = 3;
        let p = ChainParams::from_config(c.clone()).unwrap();
        assert_eq!(p.maturing_height(3), None);
        assert_eq!(p.maturing_height(4), Some(1));
        assert_eq!(p.maturing_height(10), Some(7));
        c.coinbase_maturity = 0;
        let p = ChainParams::from_config(c).unwrap();
        assert_eq!(p.maturing_height(1), Some(1));
    }

    /// The two consensus keys added with pooled mining are required.
    #[test]
    fn missing_keys_are_refused() {
        for key in ["max_coinbase_outputs", "coinbase_maturity"] {
            let mut v: serde_json::Value =
                serde_json::from_str(&ChainParams::dev().to_json()).unwrap();
            v.as_object_mut().unwrap().remove(key);
            match ChainParams::from_json(&v.to_string()) {
                Err(GenesisError::Json { message, .. }) => {
                    assert!(message.contains(key), "{message}")
                }
                other => panic!("{key}: {other:?}"),
            }
        }
    }

    #[test]
    fn json_errors_point_at_the_line() {
        let json = ChainParams::dev()
            .to_json()
            .replace("\"chain_id\"", "\"chain_idd\"");
        match ChainParams::from_json(&json) {
            Err(GenesisError::Json { line, message, .. }) => {
                assert_eq!(line, 3, "{message}");
                assert!(message.contains("chain_idd"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }
}
