//! Unit tests of remote work: ids, bounds, staleness.

use std::path::Path;

use cairn_core::Amount;
use cairn_core::testkit::{ChainBuilder, easy_params, solve_naive};

use super::*;
use crate::mempool::MempoolConfig;
use crate::node::NodeConfig;

fn open(dir: &Path) -> Arc<Node> {
    Node::open(NodeConfig {
        params: easy_params(),
        datadir: dir.to_path_buf(),
        mempool: MempoolConfig::default(),
        min_free_disk: 0,
        store: crate::store::StoreConfig::default(),
    })
    .unwrap()
}

fn addr(i: u64) -> Address {
    let mut b = [0u8; 20];
    b[..8].copy_from_slice(&i.to_le_bytes());
    Address(b)
}

/// A nonce in the work's own range that meets its target.
fn solve(work: &Work) -> u64 {
    let mut header = work.header;
    header.nonce = work.range.start;
    assert!(solve_naive(&mut header, 1_000_000));
    assert!(header.nonce < work.range.end);
    header.nonce
}

#[test]
fn a_templates_tx_root_is_the_root_of_its_block() {
    let b = ChainBuilder::new(easy_params());
    for n in 0..9usize {
        let parts = TemplateBody {
            header: b.tip().header,
            chain_id: b.params.chain_id(),
            reward: Amount(5_000),
            transfers: (0..n)
                .map(|i| Transaction::Transfer(b.transfer(i % 3, addr(9), 1_000 + i as u64, 10)))
                .collect(),
        };
        let body = Body::new(parts.clone());
        for r in [addr(1), addr(2)] {
            assert_eq!(
                body.tx_root(r),
                parts.clone().into_block(r).header.tx_root,
                "{n} transfers"
            );
        }
    }
}

#[test]
fn bodies_stop_growing_at_their_bounds_and_none_is_dropped() {
    let b = ChainBuilder::new(easy_params());
    let parts = |n: usize| TemplateBody {
        header: b.tip().header,
        chain_id: b.params.chain_id(),
        reward: Amount(5_000 + n as u64),
        transfers: (0..n)
            .map(|i| Transaction::Transfer(b.transfer(0, addr(9), 1_000 + i as u64, 10)))
            .collect(),
    };
    let mut s = WorkBook::new();
    s.start_epoch(b.tip().id());
    assert!(s.wants_body(0));
    s.add_body(parts(0));
    s.body_built_ms = 0;
    // Within the refresh interval no new body is asked for; after it, one is,
    // and it is kept only if it changes something.
    assert!(!s.wants_body(BODY_REFRESH_MS - 1));
    assert!(s.wants_body(BODY_REFRESH_MS));
    s.add_body(parts(0));
    assert_eq!(
        s.bodies.len(),
        1,
        "an unchanged selection is not kept twice"
    );
    s.add_body(parts(1));
    assert_eq!(s.bodies.len(), 2);
    // A body past the byte budget is not taken; at the budget none is built.
    let used = s.body_bytes;
    s.body_bytes = MAX_BODY_BYTES - 1;
    s.add_body(parts(2));
    assert_eq!(s.bodies.len(), 2);
    s.body_bytes = MAX_BODY_BYTES;
    assert!(!s.wants_body(u64::MAX));
    // Nor past the count.
    s.body_bytes = used;
    assert!(s.wants_body(u64::MAX));
    while s.bodies.len() < MAX_BODIES {
        let last = s.bodies[s.bodies.len() - 1].clone();
        s.bodies.push(last);
    }
    assert!(!s.wants_body(u64::MAX));
}

#[test]
fn issued_work_outlives_any_other_requests_until_the_tip_moves() {
    let dir = tempfile::tempdir().unwrap();
    let node = open(dir.path());
    let m = WorkManager::default();
    let a = m.get_work(&node, "rig-a", addr(1), 0.0).unwrap();
    // Someone asks under A's name, and under more new names (each with a coinbase
    // of its own) than the table holds.
    for _ in 0..100 {
        m.get_work(&node, "rig-a", addr(2), 0.0).unwrap();
    }
    let mut untracked = Vec::new();
    for i in 0..MAX_WORKERS + 100 {
        let w = m
            .get_work(&node, &format!("fake-{i}"), addr(1_000 + i as u64), 0.0)
            .unwrap();
        untracked.push(w.extranonce);
    }
    let workers = m.workers();
    assert_eq!(workers.len(), MAX_WORKERS);
    let rig_a = workers.iter().find(|(n, _)| n == "rig-a").unwrap();
    assert_eq!(rig_a.1.extranonce, a.extranonce);
    // Names beyond the table still get a range no tracked worker searches.
    let taken: HashSet<u32> = workers.iter().map(|(_, w)| w.extranonce).collect();
    assert_eq!(taken.len(), MAX_WORKERS, "tracked extranonces are distinct");
    for e in &untracked[MAX_WORKERS - 1..] {
        assert!(
            !taken.contains(e),
            "untracked name on a tracked extranonce {e}"
        );
    }

    let nonce = solve(&a);
    // (Seen after every fake name, to the millisecond.)
    std::thread::sleep(std::time::Duration::from_millis(5));
    assert_eq!(m.submit(&node, "rig-a", a.id, nonce).map(|r| r.1), Ok(1));
    assert_eq!(node.tip().height, 1);
    // The tip moved: that work, and all work of the old tip, is stale now.
    assert_eq!(
        m.submit(&node, "rig-a", a.id, nonce),
        Err(SubmitError::Stale)
    );
    // Names without work on the new tip make room for new ones, least recently
    // seen first; rig-a (seen last, when it submitted) stays.
    m.get_work(&node, "after-the-block", addr(1), 0.0).unwrap();
    let workers = m.workers();
    assert_eq!(workers.len(), MAX_WORKERS);
    assert!(workers.iter().any(|(n, _)| n == "after-the-block"));
    let rig_a = workers.iter().find(|(n, _)| n == "rig-a").unwrap();
    assert_eq!(rig_a.1.accepted, 1);
}

#[test]
fn a_forged_or_foreign_work_id_is_stale() {
    let dir = tempfile::tempdir().unwrap();
    let node = open(dir.path());
    let m = WorkManager::default();
    let w = m.get_work(&node, "rig", addr(1), 0.0).unwrap();
    assert!(w.id < 1 << 53, "work ids stay exact in JavaScript");
    let nonce = solve(&w);
    for (id, worker) in [
        (w.id, "thief"),
        (w.id ^ 1, "rig"),
        (w.id ^ (1 << MAC_BITS), "rig"),
        (w.id + (1 << (MAC_BITS + EXTRANONCE_BITS)), "rig"),
        (w.id | (1 << 60), "rig"),
        (u64::MAX, "rig"),
    ] {
        assert_eq!(
            m.submit(&node, worker, id, nonce),
            Err(SubmitError::Stale),
            "{id:#x} by {worker}"
        );
    }
    assert_eq!(
        m.submit(&node, "rig", w.id, w.range.end),
        Err(SubmitError::OutOfRange)
    );
    assert!(m.submit(&node, "rig", w.id, nonce).is_ok());
    // Every refusal was counted: the thief's among the untracked names.
    let rig = m.workers().into_iter().find(|(n, _)| n == "rig").unwrap().1;
    assert_eq!(rig.accepted, 1);
    assert_eq!(rig.rejected.get("stale"), Some(&5));
    assert_eq!(rig.rejected.get("out-of-range"), Some(&1));
    assert_eq!(m.untracked().rejected.get("stale"), Some(&1));
}

#[test]
fn a_full_template_table_refuses_only_coinbases_new_to_the_tip() {
    let dir = tempfile::tempdir().unwrap();
    let node = open(dir.path());
    let m = WorkManager::default();
    let a = m.get_work(&node, "rig-a", addr(0), 0.0).unwrap();
    for i in 1..MAX_TEMPLATES {
        m.get_work(&node, "filler", addr(i as u64), 0.0).unwrap();
    }
    assert_eq!(
        m.get_work(&node, "late", addr(u64::MAX), 0.0).unwrap_err(),
        WorkError::TemplatesFull
    );
    // A coinbase already in the table still gets work, and A's solution counts.
    let again = m.get_work(&node, "rig-a", addr(0), 0.0).unwrap();
    assert_eq!(again.header, a.header);
    let nonce = solve(&a);
    assert!(m.submit(&node, "rig-a", a.id, nonce).is_ok());
    // The next tip starts with an empty table.
    assert!(m.get_work(&node, "late", addr(u64::MAX), 0.0).is_ok());
}
