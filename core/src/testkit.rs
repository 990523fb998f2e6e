//! Building blocks for tests here and in other crates (`features = ["testkit"]`): a
//! network with trivially easy proof of work, and a chain builder that assembles,
//! mines and fully validates blocks against an in-memory state.

use crate::address::Address;
use crate::amount::Amount;
use crate::block::Block;
use crate::difficulty::{AsertInput, next_compact_target};
use crate::genesis::{ChainParams, MEDIAN_TIME_SPAN, dev_keys};
use crate::hash::Hash;
use crate::header::{BlockHeader, HEADER_VERSION};
use crate::keys::SecretKey;
use crate::pow::{CompactTarget, Target};
use crate::state::{MemoryState, UndoRecord};
use crate::tx::{Coinbase, Transaction, Transfer};
use crate::validation::{
    HeaderContext, RejectReason, validate_body, validate_header_in_context,
    validate_header_standalone,
};

/// The dev network with the easiest possible targets: about one hash per block.
pub fn easy_params() -> ChainParams {
    let mut cfg = ChainParams::dev().config().clone();
    cfg.name = "test".into();
    cfg.initial_target = CompactTarget::MAX;
    cfg.pow_limit = CompactTarget::MAX;
    ChainParams::from_config(cfg).expect("valid test parameters")
}

/// Tries nonces from `header.nonce` upwards until the PoW meets the header's target.
/// A reference for real miners and a helper for tests; gives up after `max_tries`.
pub fn solve_naive(header: &mut BlockHeader, max_tries: u64) -> bool {
    let Ok(target) = header.target.to_target() else {
        return false;
    };
    let pre = header.pre_hash();
    for _ in 0..max_tries {
        if target.is_met_by(&crate::pow::pow_hash(&pre, header.nonce)) {
            return true;
        }
        header.nonce = header.nonce.wrapping_add(1);
    }
    false
}

/// A chain with its state, for building and checking blocks in tests.
#[derive(Debug, Clone)]
pub struct ChainBuilder {
    /// The network.
    pub params: ChainParams,
    /// Blocks from genesis to the tip.
    pub blocks: Vec<Block>,
    /// State at the tip.
    pub state: MemoryState,
    /// Undo records, `undos[h]` for block `h` (genesis has an empty one).
    pub undos: Vec<UndoRecord>,
    /// Pays every coinbase.
    pub miner: Address,
}

impl ChainBuilder {
    /// A chain holding only the genesis block of `params`.
    pub fn new(params: ChainParams) -> ChainBuilder {
        let state = MemoryState::genesis(&params);
        let genesis = params.genesis_block().clone();
        ChainBuilder {
            params,
            blocks: vec![genesis],
            state,
            undos: vec![UndoRecord::default()],
            miner: SecretKey::from_seed(&[0xee; 32]).address(),
        }
    }

    /// The tip block.
    pub fn tip(&self) -> &Block {
        self.blocks.last().expect("never empty")
    }

    /// The context a child of the tip is validated in, at local time `now_ms`.
    pub fn context(&self, now_ms: u64) -> HeaderContext {
        let tip = &self.tip().header;
        let start = self.blocks.len().saturating_sub(MEDIAN_TIME_SPAN);
        HeaderContext {
            parent_height: tip.height,
            recent_timestamps_ms: self.blocks[start..]
                .iter()
                .map(|b| b.header.timestamp_ms)
                .collect(),
            parent_timestamp_ms: tip.timestamp_ms,
            anchor_timestamp_ms: self.blocks.get(1).map_or(0, |b| b.header.timestamp_ms),
            now_ms,
        }
    }

    /// A correctly built and mined child of the tip holding `transfers`, with a
    /// timestamp `dt_ms` after the tip's, paying [`ChainBuilder::miner`]. Not connected.
    pub fn build(&self, transfers: Vec<Transfer>, dt_ms: u64) -> Block {
        self.build_paying(transfers, dt_ms, &[self.miner])
    }

    /// [`ChainBuilder::build`] with a coinbase that splits subsidy plus fees evenly
    /// between `payees` (distinct, at least one; the remainder to the first).
    pub fn build_paying(&self, transfers: Vec<Transfer>, dt_ms: u64, payees: &[Address]) -> Block {
        let tip = self.tip().header;
        let height = tip.height + 1;
        let fees = Amount::checked_sum(transfers.iter().map(|t| t.fee)).expect("fees fit");
        let total = self
            .params
            .subsidy(height)
            .checked_add(fees)
            .expect("fits")
            .0;
        let n = payees.len() as u64;
        let coinbase = Coinbase {
            chain_id: self.params.chain_id(),
            height,
            outputs: payees
                .iter()
                .enumerate()
                .map(|(i, a)| crate::tx::CoinbaseOutput {
                    recipient: *a,
                    amount: Amount(total / n + if i == 0 { total % n } else { 0 }),
                })
                .collect(),
        };
        let mut txs = vec![Transaction::Coinbase(coinbase)];
        txs.extend(transfers.into_iter().map(Transaction::Transfer));
        let ctx = self.context(0);
        let target = next_compact_target(
            &self.params.asert(),
            &AsertInput {
                parent_height: ctx.parent_height,
                parent_timestamp_ms: ctx.parent_timestamp_ms,
                anchor_timestamp_ms: ctx.anchor_timestamp_ms,
            },
        );
        let mut block = Block {
            header: BlockHeader {
                version: HEADER_VERSION,
                height,
                prev: tip.id(),
                tx_root: Hash::ZERO,
                timestamp_ms: tip.timestamp_ms + dt_ms,
                target,
                nonce: 0,
            },
            txs,
        };
        block.header.tx_root = block.compute_tx_root();
        Self::mine(&mut block);
        block
    }

    /// Re-mines a (possibly tampered) block so only the rule under test can fail.
    pub fn mine(block: &mut Block) {
        let ok = solve_naive(&mut block.header, 1 << 24);
        assert!(ok, "no nonce found for target {}", block.header.target);
    }

    /// Runs every rule on `block` as a child of the tip, then connects it.
    pub fn connect(&mut self, block: Block) -> Result<(), RejectReason> {
        let now = block.header.timestamp_ms;
        if block.header.prev != self.tip().id() {
            return Err(RejectReason::UnknownParent {
                prev: block.header.prev,
            });
        }
        validate_header_standalone(&block.header, &self.params)?;
        validate_header_in_context(&block.header, &self.params, &self.context(now))?;
        validate_body(&block, &self.params)?;
        let undo = self.state.apply(&block, &self.params)?;
        self.undos.push(undo);
        self.blocks.push(block);
        Ok(())
    }

    /// Builds and connects a block, panicking if it is invalid.
    pub fn extend(&mut self, transfers: Vec<Transfer>, dt_ms: u64) -> &Block {
        let block = self.build(transfers, dt_ms);
        self.connect(block).expect("a built block is valid");
        self.tip()
    }

    /// Disconnects the tip (not genesis).
    pub fn disconnect(&mut self) -> Block {
        assert!(self.blocks.len() > 1, "cannot disconnect genesis");
        let undo = self.undos.pop().expect("one per block");
        self.state.undo(self.tip().header.height, &undo);
        self.blocks.pop().expect("checked")
    }

    /// A signed transfer from dev account `from` using its next nonce at the tip.
    pub fn transfer(&self, from: usize, to: Address, amount: u64, fee: u64) -> Transfer {
        let key = &dev_keys()[from];
        let nonce = self
            .state
            .accounts
            .get(&key.address())
            .map_or(0, |a| a.nonce);
        Transfer::new_signed(
            key,
            self.params.network_id(),
            self.params.chain_id(),
            to,
            Amount(amount),
            Amount(fee),
            nonce,
        )
    }

    /// Whether the sum of balances and immature rewards equals the schedule at the tip.
    pub fn supply_is_conserved(&self) -> bool {
        let tip = self.tip().header.height;
        self.state.total_balance() + self.state.total_immature(&self.params, tip)
            == self.params.supply_at(tip).0 as u128
    }
}

/// Accounts that [`full_blocks`] moves coins between.
pub const LOAD_ACCOUNTS: usize = 1_000;

/// A load for benchmarks: a block funding [`LOAD_ACCOUNTS`] accounts from the dev
/// accounts, then `n` full blocks of transfers between them, one second apart, built
/// and fully validated on `params`. Returns the blocks after genesis.
pub fn full_blocks(params: &ChainParams, n: usize) -> Vec<Block> {
    let keys: Vec<SecretKey> = (0..LOAD_ACCOUNTS)
        .map(|i| SecretKey::from_seed(blake3::hash(&(i as u64).to_le_bytes()).as_bytes()))
        .collect();
    let chain_id = params.chain_id();
    let network = params.network_id();
    let mut b = ChainBuilder::new(params.clone());
    let funding = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            Transfer::new_signed(
                &dev_keys()[i % 10],
                network,
                chain_id,
                k.address(),
                Amount(100_000_000_000),
                Amount(1_000),
                (i / 10) as u64,
            )
        })
        .collect();
    b.extend(funding, 1_000);
    let per_block = (params.max_block_bytes() - 96 - 4 - 41) / 145;
    let mut nonces = vec![0u64; LOAD_ACCOUNTS];
    let mut next_sender = 0usize;
    for _ in 0..n {
        let txs = (0..per_block)
            .map(|j| {
                let s = next_sender % LOAD_ACCOUNTS;
                next_sender += 1;
                let tx = Transfer::new_signed(
                    &keys[s],
                    network,
                    chain_id,
                    keys[(s * 7 + j) % LOAD_ACCOUNTS].address(),
                    Amount(1_000 + j as u64),
                    Amount(1_000),
                    nonces[s],
                );
                nonces[s] += 1;
                tx
            })
            .collect();
        b.extend(txs, 1_000);
    }
    b.blocks.split_off(1)
}

/// The target of an easy-params block, for tests that need one.
pub fn easy_target() -> Target {
    CompactTarget::MAX.to_target().expect("canonical")
}

/// The test vectors of `docs/PROTOCOL.md`, rendered as Markdown. The document embeds
/// this text verbatim and a test checks that it still does.
pub fn render_test_vectors() -> String {
    use std::fmt::Write;

    use crate::encoding::Encode;
    use crate::merkle::merkle_root;

    let mut out = String::new();
    let dev = ChainParams::dev();
    let k0 = &dev_keys()[0];
    let k1 = &dev_keys()[1];
    let line = |out: &mut String, name: &str, value: &dyn std::fmt::Display| {
        writeln!(out, "- {name}: `{value}`").expect("writing to a String");
    };
    out.push_str("Keys (dev mnemonic, `m/44'/7777'/i'`):\n\n");
    for (i, k) in [k0, k1].into_iter().enumerate() {
        line(
            &mut out,
            &format!("account {i} public key"),
            &k.public_key(),
        );
        line(&mut out, &format!("account {i} address"), &k.address());
    }
    out.push_str("\nNetwork ids (§13.2):\n\n");
    let main = ChainParams::from_json(include_str!("../../genesis.json")).expect("valid");
    line(
        &mut out,
        "main canonical config bytes",
        &hex::encode(main.config().canonical_bytes()),
    );
    line(&mut out, "main network id", &main.network_id());
    line(&mut out, "dev network id", &dev.network_id());
    let t = Transfer::new_signed(
        k0,
        dev.network_id(),
        1337,
        k1.address(),
        Amount(100_000_000),
        Amount(1_000),
        0,
    );
    out.push_str(
        "\nTransfer (dev network, chain 1337, account 0 → account 1, amount 100000000, fee 1000, nonce 0):\n\n",
    );
    line(&mut out, "bytes", &hex::encode(t.to_bytes()));
    line(
        &mut out,
        "signing message",
        &hex::encode(t.signing_message(&dev.network_id())),
    );
    line(&mut out, "txid", &t.id());
    let cb = Transaction::Coinbase(Coinbase::single(
        1337,
        1,
        k0.address(),
        Amount(5_000_000_000),
    ));
    out.push_str("\nCoinbase (chain 1337, height 1, to account 0, amount 5000000000):\n\n");
    line(&mut out, "bytes", &hex::encode(cb.to_bytes()));
    line(&mut out, "txid", &cb.id());
    let mut pooled = Coinbase::single(1337, 2, k0.address(), Amount(4_000_000_000));
    pooled.outputs.push(crate::tx::CoinbaseOutput {
        recipient: k1.address(),
        amount: Amount(1_000_000_000),
    });
    let pooled = Transaction::Coinbase(pooled);
    out.push_str(
        "\nCoinbase with two outputs (chain 1337, height 2, account 0 gets 4000000000, account 1 gets 1000000000):\n\n",
    );
    line(&mut out, "bytes", &hex::encode(pooled.to_bytes()));
    line(&mut out, "txid", &pooled.id());
    let ids = [cb.id(), t.id(), Transaction::Transfer(t.clone()).id()];
    out.push_str("\nMerkle roots:\n\n");
    line(&mut out, "root of [coinbase]", &merkle_root(&ids[..1]));
    line(
        &mut out,
        "root of [coinbase, transfer]",
        &merkle_root(&ids[..2]),
    );
    let three = [ids[0], ids[1], Hash::digest(b"third")];
    line(
        &mut out,
        "root of [coinbase, transfer, blake3(\"third\")]",
        &merkle_root(&three),
    );
    let g = dev.genesis_block();
    out.push_str("\nDev genesis header:\n\n");
    line(&mut out, "header bytes", &hex::encode(g.header.to_bytes()));
    line(&mut out, "pre-hash", &g.header.pre_hash());
    line(&mut out, "pow hash = block id", &g.id());
    line(
        &mut out,
        "pow(pre, nonce = 0x0123456789abcdef)",
        &crate::pow::pow_hash(&g.header.pre_hash(), 0x0123_4567_89ab_cdef),
    );
    out.push_str("\nCompact targets:\n\n");
    for c in [
        0x1e01_0000u32,
        0x1d10_0000,
        0x2001_0000,
        0x20ff_ffff,
        0x0301_0000,
    ] {
        let t = CompactTarget(c).to_target().expect("canonical");
        line(
            &mut out,
            &format!("{:#010x}", c),
            &format_args!("{:#x} (work {})", t.0, t.work()),
        );
    }
    out.push_str("\nASERT (T = 10000 ms, half-life = 3600000 ms, initial 0x1d100000, limit 0x1e100000, anchor time 1000000000000):\n\n");
    let p = AsertParamsForVectors::params();
    for (h, late) in [
        (1u64, 0i64),
        (100, 0),
        (100, 3_600_000),
        (100, -3_600_000),
        (100, 1_800_000),
        (100, 123_456),
        (5000, -10_000_000),
        (5000, 100_000_000),
    ] {
        let ts = (1_000_000_000_000i64 + (h as i64 - 1) * 10_000 + late) as u64;
        let c = next_compact_target(
            &p,
            &AsertInput {
                parent_height: h,
                parent_timestamp_ms: ts,
                anchor_timestamp_ms: 1_000_000_000_000,
            },
        );
        line(
            &mut out,
            &format!("parent height {h}, parent time {ts}"),
            &c,
        );
    }
    out
}

struct AsertParamsForVectors;

impl AsertParamsForVectors {
    fn params() -> crate::difficulty::AsertParams {
        crate::difficulty::AsertParams {
            initial_target: CompactTarget(0x1d10_0000).to_target().expect("canonical"),
            pow_limit: CompactTarget(0x1e10_0000).to_target().expect("canonical"),
            target_block_time_ms: 10_000,
            half_life_ms: 3_600_000,
        }
    }
}
