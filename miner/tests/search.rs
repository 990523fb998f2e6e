//! The parallel search: correctness of the nonces it returns, its range handling,
//! cancellation, and agreement with cairn-core's PoW rule.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cairn_core::testkit::{ChainBuilder, easy_params};
use cairn_core::validation::validate_header_standalone;
use cairn_core::{CompactTarget, Hash, Target};
use cairn_miner::{Backend, Miner, NonceRange, Template};

fn backends() -> Vec<Backend> {
    Backend::ALL
        .into_iter()
        .filter(|b| b.is_supported())
        .collect()
}

fn template(target: u32) -> Template {
    Template {
        pre: Hash::digest(b"search test"),
        target: CompactTarget(target).to_target().unwrap(),
    }
}

/// The first nonce in `range` meeting the target, by brute force with blake3.
fn first_solution(t: &Template, range: NonceRange) -> Option<u64> {
    (range.start..range.end).find(|&n| t.target.is_met_by(&cairn_core::pow::pow_hash(&t.pre, n)))
}

#[test]
fn one_thread_finds_the_first_solution_in_unaligned_ranges() {
    // About one nonce in 256 wins.
    let t = template(0x2001_0000);
    let cancel = AtomicBool::new(false);
    for b in backends() {
        let miner = Miner::new(1, b).unwrap();
        for (start, end) in [
            (0, 5000),
            (3, 4099),
            (17, 40),
            (1 << 32, (1 << 32) + 3000),
            (u64::MAX - 3000, u64::MAX),
        ] {
            let range = NonceRange { start, end };
            let r = miner.search(&t, range, &cancel, None);
            let truth = first_solution(&t, range);
            assert_eq!(
                r.solution.map(|s| s.nonce),
                truth,
                "backend {b} range {start}..{end}"
            );
            if let Some(s) = r.solution {
                assert_eq!(s.pow, cairn_core::pow::pow_hash(&t.pre, s.nonce));
                assert!(r.hashes > s.nonce - start && r.hashes <= s.nonce - start + 32);
            } else {
                assert_eq!(r.hashes, end - start);
            }
        }
    }
}

#[test]
fn exhausting_a_range_counts_every_nonce() {
    let t = Template {
        pre: Hash::digest(b"x"),
        target: Target(Default::default()),
    };
    let cancel = AtomicBool::new(false);
    let progress = AtomicU64::new(0);
    for b in backends() {
        progress.store(0, Ordering::Relaxed);
        let miner = Miner::new(2, b).unwrap();
        let range = NonceRange {
            start: 5,
            end: 100_003,
        };
        let r = miner.search(&t, range, &cancel, Some(&progress));
        assert_eq!(r.solution, None);
        assert_eq!(r.hashes, range.len());
        assert_eq!(progress.load(Ordering::Relaxed), range.len());
    }
}

#[test]
fn found_blocks_pass_the_consensus_pow_check() {
    let mut chain = ChainBuilder::new(easy_params());
    chain.extend(vec![], 1_000);
    let mut block = chain.build(vec![], 1_000);
    // Ask for a harder target than the chain needs, then check the block with it.
    block.header.target = CompactTarget(0x2001_0000);
    let params = {
        let mut cfg = easy_params().config().clone();
        cfg.pow_limit = CompactTarget::MAX;
        cairn_core::ChainParams::from_config(cfg).unwrap()
    };
    let miner = Miner::new(2, Backend::detect()).unwrap();
    let t = Template::from_header(&block.header).unwrap();
    let r = miner.search(&t, NonceRange::FULL, &AtomicBool::new(false), None);
    block.header.nonce = r.solution.expect("a solution within 2^64 nonces").nonce;
    validate_header_standalone(&block.header, &params).unwrap();
    assert_eq!(block.id(), r.solution.unwrap().pow);
}

#[test]
fn cancellation_stops_every_thread_promptly() {
    let t = Template {
        pre: Hash::digest(b"never"),
        target: Target(Default::default()),
    };
    let miner = Miner::new(2, Backend::detect()).unwrap();
    // Already cancelled: returns at once having done (almost) nothing.
    let r = miner.search(&t, NonceRange::FULL, &AtomicBool::new(true), None);
    assert!(r.hashes < 64, "{}", r.hashes);
    // Cancelled while running.
    let cancel = AtomicBool::new(false);
    let (r, latency) = std::thread::scope(|s| {
        let h = s.spawn(|| {
            let r = miner.search(&t, NonceRange::FULL, &cancel, None);
            (r, Instant::now())
        });
        std::thread::sleep(Duration::from_millis(50));
        let cancelled_at = Instant::now();
        cancel.store(true, Ordering::Relaxed);
        let (r, done) = h.join().unwrap();
        (r, done - cancelled_at)
    });
    assert!(r.hashes > 0);
    // The design target is ~1 ms; the bound is loose because CI machines are shared.
    assert!(
        latency < Duration::from_millis(250),
        "took {latency:?} to stop"
    );
}

#[test]
fn extranonce_ranges_are_disjoint_and_splits_cover_exactly() {
    let a = NonceRange::for_extranonce(0, 8);
    let b = NonceRange::for_extranonce(1, 8);
    let last = NonceRange::for_extranonce(255, 8);
    assert_eq!(a.start, 0);
    assert_eq!(a.end, b.start - 1);
    assert!(a.end <= b.start && b.end <= NonceRange::for_extranonce(2, 8).start);
    assert_eq!(last.end, u64::MAX);
    assert_eq!(
        NonceRange::for_extranonce(256, 8),
        a,
        "extranonce is masked to its bits"
    );
    assert_eq!(NonceRange::for_extranonce(7, 0), NonceRange::FULL);
    for n in [1u64, 2, 3, 7] {
        let r = NonceRange {
            start: 10,
            end: 1_000_003,
        };
        let parts = r.split(n);
        assert_eq!(parts.len() as u64, n);
        assert_eq!(parts[0].start, r.start);
        assert_eq!(parts.last().unwrap().end, r.end);
        assert!(parts.windows(2).all(|w| w[0].end == w[1].start));
    }
}

#[test]
fn bad_backend_names_and_unsupported_backends_are_errors() {
    assert!("gpu".parse::<Backend>().is_err());
    for b in Backend::ALL.into_iter().filter(|b| !b.is_supported()) {
        assert!(Miner::new(1, b).is_err());
    }
}

#[test]
fn on_each_thread_reaches_every_search_thread_once() {
    let miner = Miner::new(3, Backend::detect()).unwrap();
    let names = std::sync::Mutex::new(Vec::new());
    miner.on_each_thread(|| {
        let name = std::thread::current().name().map(String::from);
        names.lock().unwrap().push(name);
    });
    let mut names = names.into_inner().unwrap();
    names.sort();
    let want: Vec<Option<String>> = (0..3).map(|i| Some(format!("cairn-miner-{i}"))).collect();
    assert_eq!(names, want);
}
