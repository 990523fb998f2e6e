//! Mempool work under the node lock once the pool is full, with 10 000 and 400 000
//! senders: what a flood of transfers and a new tip cost. Neither may grow with the
//! number of senders.
//!
//! `cargo bench -p cairn-node --bench mempool --profile dev -- --warm-up-time 1
//! --measurement-time 3`
//!
//! - `refuse_cheap`: a transfer paying less than every queue tail is refused (`Full`).
//! - `evict_cheapest`: a transfer paying more than the cheapest tail evicts it and is
//!   admitted (the pool stays full: each round's sender is the one evicted
//!   the round before).
//! - `tip_change_2_senders`: the pool follows a new tip whose block holds transfers of
//!   two pending senders.
//!
//! The transfers carry dummy signatures and enter through `add_prevalidated`: the node
//! checks signatures before taking its lock, and this measures what happens under it.
//! Both pool sizes are checked against the same state of 400 002 funded accounts (an
//! in-memory `BTreeMap` standing for the store), so that only the pool's size varies.

use std::cell::Cell;

use cairn_core::state::MemoryState;
use cairn_core::testkit::easy_params;
use cairn_core::tx::TRANSFER_LEN;
use cairn_core::{Account, Address, Amount, Block, Coinbase, PublicKey, Signature};
use cairn_core::{Transaction, Transfer};
use cairn_node::mempool::{Mempool, MempoolConfig, MempoolError};
use criterion::{BatchSize, BenchmarkId, Criterion, SamplingMode, criterion_group, criterion_main};

const MIN_FEE: u64 = 1_000;
/// The cheapest transfer in a freshly filled pool pays `BASE_FEE`.
const BASE_FEE: u64 = MIN_FEE + 1;

const SIZES: [usize; 2] = [10_000, 400_000];

/// A full pool of `n` senders (one transfer each, sender `i` paying `BASE_FEE + i`)
/// and the keys used.
struct Fixture {
    pool: Mempool,
    /// `n + 1` senders: sender `n` starts outside the pool.
    senders: Vec<PublicKey>,
    /// A funded sender with nothing pending, for the refused transfer.
    outsider: PublicKey,
    chain_id: u32,
    recipient: Address,
    genesis: Block,
}

fn key(i: u64) -> PublicKey {
    let mut b = [0x5a; 32];
    b[..8].copy_from_slice(&i.to_le_bytes());
    PublicKey(b)
}

fn transfer(f: &Fixture, sender: PublicKey, fee: u64) -> Transfer {
    Transfer {
        chain_id: f.chain_id,
        sender,
        recipient: f.recipient,
        amount: Amount(1),
        fee: Amount(fee),
        nonce: 0,
        signature: Signature([0; 64]),
    }
}

/// Every account a fixture may use, funded: keys `0..=max(SIZES)` and the outsider.
fn funded_state() -> MemoryState {
    let mut state = MemoryState::default();
    let max = SIZES.iter().max().copied().unwrap_or(0) as u64;
    for k in (0..=max).chain([u64::MAX]) {
        let account = Account {
            balance: Amount(1 << 60),
            nonce: 0,
        };
        state.accounts.insert(key(k).address(), account);
    }
    state
}

impl Fixture {
    fn new(n: usize, state: &MemoryState) -> Fixture {
        let params = easy_params();
        let config = MempoolConfig {
            max_bytes: n * TRANSFER_LEN,
            min_fee: Amount(MIN_FEE),
            ..MempoolConfig::default()
        };
        let senders: Vec<PublicKey> = (0..=n as u64).map(key).collect();
        let outsider = key(u64::MAX);
        let mut f = Fixture {
            pool: Mempool::new(params.clone(), config),
            senders,
            outsider,
            chain_id: params.chain_id(),
            recipient: key(u64::MAX - 1).address(),
            genesis: params.genesis_block().clone(),
        };
        for i in 0..n {
            let tx = transfer(&f, f.senders[i], BASE_FEE + i as u64);
            f.pool
                .add_prevalidated(tx, state, 0)
                .expect("fills the pool");
        }
        assert_eq!(f.pool.len(), n);
        f
    }

    /// A block holding the pending transfers of senders 0 and 1 (the state is left as
    /// it is, so every round re-checks the same pool).
    fn block(&self) -> Block {
        let mut txs = vec![Transaction::Coinbase(Coinbase::single(
            self.chain_id,
            1,
            self.recipient,
            Amount(1),
        ))];
        for (i, s) in self.senders[..2].iter().enumerate() {
            let tx = transfer(self, *s, BASE_FEE + i as u64);
            txs.push(Transaction::Transfer(tx));
        }
        Block {
            header: self.genesis.header,
            txs,
        }
    }
}

/// The pool follows a tip change that connected `block`.
fn tip_change(pool: &mut Mempool, state: &MemoryState, block: &Block) {
    let change = cairn_node::chain::TipChange {
        connected: vec![block.clone()],
        ..Default::default()
    };
    pool.update(state, &change, 1).expect("memory state");
}

fn full_pool(c: &mut Criterion) {
    let state = funded_state();
    for n in SIZES {
        let mut f = Fixture::new(n, &state);
        let mut g = c.benchmark_group("mempool-full");
        g.sample_size(10);
        g.sampling_mode(SamplingMode::Flat);

        let cheap = transfer(&f, f.outsider, MIN_FEE);
        g.bench_function(BenchmarkId::new("refuse_cheap", n), |b| {
            b.iter(|| {
                let r = f.pool.add_prevalidated(cheap.clone(), &state, 0);
                assert!(matches!(r, Err(MempoolError::Full { .. })), "{r:?}");
            })
        });

        let block = f.block();
        g.bench_function(BenchmarkId::new("tip_change_2_senders", n), |b| {
            b.iter(|| tip_change(&mut f.pool, &state, &block))
        });
        assert_eq!(f.pool.len(), n);

        // Round `c` admits sender `c mod (n + 1)` paying `BASE_FEE + c`, evicting the
        // cheapest tail, paid by sender `(c + 1) mod (n + 1)`: next round's sender.
        let round = Cell::new(n);
        let Fixture {
            pool,
            senders,
            chain_id,
            recipient,
            ..
        } = &mut f;
        let (chain_id, recipient) = (*chain_id, *recipient);
        let next = || {
            let c = round.get();
            round.set(c + 1);
            Transfer {
                chain_id,
                sender: senders[c % (n + 1)],
                recipient,
                amount: Amount(1),
                fee: Amount(BASE_FEE + c as u64),
                nonce: 0,
                signature: Signature([0; 64]),
            }
        };
        g.bench_function(BenchmarkId::new("evict_cheapest", n), |b| {
            b.iter_batched(
                &next,
                |tx| pool.add_prevalidated(tx, &state, 0).expect("evicts"),
                BatchSize::SmallInput,
            )
        });
        assert_eq!(pool.len(), n);
        g.finish();
    }
}

criterion_group!(benches, full_pool);
criterion_main!(benches);
