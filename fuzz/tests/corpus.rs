//! Replays the committed corpus (`fuzz/corpus/<target>/`) through every fuzz check,
//! and checks that the seeds, real objects built here, decode and are canonical.
//!
//! `CAIRN_FUZZ_WRITE_SEEDS=1 cargo test --manifest-path fuzz/Cargo.toml` (re)writes
//! the seed files into the corpus.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use cairn_core::genesis::dev_keys;
use cairn_core::testkit::ChainBuilder;
use cairn_core::wire::{ChainStatus, SyncRequest, SyncResponse};
use cairn_core::{Block, Decode, Encode, Transaction, Work};
use cairn_wallet::KdfParams;
use cairn_wallet::keystore::Keystore;

type Check = fn(&[u8]);

const TARGETS: [(&str, Check); 8] = [
    ("transaction", cairn_fuzz::transaction),
    ("block", cairn_fuzz::block),
    ("header", cairn_fuzz::header),
    ("gossip", cairn_fuzz::gossip),
    ("sync_request", cairn_fuzz::sync_request),
    ("sync_response", cairn_fuzz::sync_response),
    ("keystore", cairn_fuzz::keystore),
    ("genesis", cairn_fuzz::genesis),
];

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target)
}

#[test]
fn the_committed_corpus_passes_every_check() {
    let mut total = 0;
    for (target, check) in TARGETS {
        let dir = corpus_dir(target);
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            check(&data);
            n += 1;
        }
        assert!(n > 0, "{target}: empty corpus in {}", dir.display());
        total += n;
    }
    println!("replayed {total} corpus inputs");
}

/// Real objects of every kind: a chain with transfers, its headers, sync messages,
/// the dev genesis and a keystore.
fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let mut chain = ChainBuilder::new(cairn_fuzz::params().clone());
    let to = dev_keys()[3].address();
    for i in 0..3 {
        let transfers = (0..i)
            .map(|k| chain.transfer(k, to, 1_000, 10_000))
            .collect();
        chain.extend(transfers, 1_000);
    }
    // A pool's block: a coinbase of three outputs.
    let payees: Vec<_> = (4..7).map(|k| dev_keys()[k].address()).collect();
    let pooled = chain.build_paying(vec![chain.transfer(0, to, 1_000, 10_000)], 1_000, &payees);
    chain.connect(pooled).unwrap();
    let blocks: Vec<Block> = chain.blocks.clone();
    let tip = blocks.last().unwrap().clone();
    let mut out = Vec::new();
    for tx in &tip.txs {
        out.push(("transaction", tx.to_bytes()));
        if let Transaction::Transfer(_) = tx {
            let mut g = vec![1];
            g.extend(tx.to_bytes());
            out.push(("gossip", g));
        }
    }
    for b in &blocks {
        out.push(("block", b.to_bytes()));
        out.push(("header", b.header.to_bytes()));
    }
    let mut g = vec![0];
    g.extend(tip.to_bytes());
    out.push(("gossip", g));
    // The tip as a compact block, its first transfer prefilled.
    let first = tip.txs[1].id();
    let compact = cairn_core::compact::CompactBlock::new(&tip, |id| *id == first, 1_000);
    let mut g = vec![2];
    g.extend(compact.to_bytes());
    out.push(("gossip", g));
    let ids: Vec<_> = blocks.iter().map(Block::id).collect();
    out.push(("sync_request", SyncRequest::Status.to_bytes()));
    out.push((
        "sync_request",
        SyncRequest::Headers {
            locator: ids.clone(),
            max: 2_000,
        }
        .to_bytes(),
    ));
    out.push((
        "sync_request",
        SyncRequest::Blocks { ids: ids.clone() }.to_bytes(),
    ));
    out.push((
        "sync_request",
        SyncRequest::BlockTransfers {
            block: ids[1],
            indexes: vec![1, 2],
        }
        .to_bytes(),
    ));
    out.push((
        "sync_request",
        SyncRequest::MempoolIds { max: 5_000 }.to_bytes(),
    ));
    out.push((
        "sync_request",
        SyncRequest::Transfers { ids: ids.clone() }.to_bytes(),
    ));
    let transfers: Vec<_> = tip
        .txs
        .iter()
        .filter_map(|t| t.as_transfer().cloned())
        .collect();
    out.push((
        "sync_response",
        SyncResponse::Transfers(transfers).to_bytes(),
    ));
    out.push(("sync_response", SyncResponse::TxIds(ids.clone()).to_bytes()));
    out.push((
        "sync_response",
        SyncResponse::Status(ChainStatus {
            network: cairn_fuzz::params().network_id(),
            tip: tip.id(),
            height: tip.header.height,
            work: Work::from_be_bytes([1; 32]),
        })
        .to_bytes(),
    ));
    out.push((
        "sync_response",
        SyncResponse::Headers(blocks.iter().map(|b| b.header).collect()).to_bytes(),
    ));
    out.push(("sync_response", SyncResponse::Blocks(blocks).to_bytes()));
    out.push((
        "genesis",
        cairn_core::ChainParams::dev().to_json().into_bytes(),
    ));
    let mnemonic = cairn_core::genesis::DEV_MNEMONIC;
    let ks = Keystore::seal(mnemonic, &to.to_string(), "password", KdfParams::MIN).unwrap();
    out.push(("keystore", ks.to_file_bytes()));
    out
}

#[test]
fn seeds_are_real_and_canonical() {
    let write = std::env::var_os("CAIRN_FUZZ_WRITE_SEEDS").is_some();
    for (i, (target, data)) in seeds().into_iter().enumerate() {
        let check = TARGETS.iter().find(|(t, _)| *t == target).unwrap().1;
        check(&data);
        if write {
            let dir = corpus_dir(target);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(format!("seed-{i:02}")), &data).unwrap();
        }
    }
    // The seeds must be accepted by their decoders, not merely not crash them.
    for (target, data) in seeds() {
        let ok = match target {
            "transaction" => cairn_core::Transaction::from_bytes(&data).is_ok(),
            "block" => Block::from_bytes(&data).is_ok(),
            "header" => cairn_core::BlockHeader::from_bytes(&data).is_ok(),
            "gossip" => data.len() > 1,
            "sync_request" => SyncRequest::from_bytes(&data).is_ok(),
            "sync_response" => SyncResponse::from_bytes(&data).is_ok(),
            "keystore" => Keystore::from_file_bytes(&data).is_ok(),
            "genesis" => {
                cairn_core::ChainParams::from_json(std::str::from_utf8(&data).unwrap()).is_ok()
            }
            other => panic!("{other}"),
        };
        assert!(ok, "{target} seed does not decode");
    }
}
