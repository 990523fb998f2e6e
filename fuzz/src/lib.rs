//! The checks behind Cairn's fuzz targets, one function per decoder of untrusted
//! bytes. Each takes arbitrary bytes and asserts what must hold for every input:
//! decoding never panics, and whatever decodes re-encodes to exactly the same bytes
//! (the encodings are canonical) or, for the text formats, to a document that parses
//! back to the same value.
//!
//! `fuzz_targets/*.rs` hand these to libFuzzer; `tests/corpus.rs` replays the
//! committed corpus through them on a stable toolchain.

use cairn_core::compact::CompactBlock;
use cairn_core::validation::{validate_body, validate_header_standalone};
use cairn_core::wire::{SyncRequest, SyncResponse};
use cairn_core::{Block, BlockHeader, ChainParams, Decode, Encode, Transaction};
use cairn_wallet::keystore::Keystore;

/// Decodes `data` as `T`; if it decodes, the canonical re-encoding must be `data`.
fn canonical<T: Decode + Encode + PartialEq + std::fmt::Debug>(data: &[u8]) -> Option<T> {
    let value = T::from_bytes(data).ok()?;
    let again = value.to_bytes();
    assert_eq!(again.len(), value.encoded_len(), "encoded_len disagrees");
    assert_eq!(again, data, "decoded {value:?} re-encodes to other bytes");
    assert_eq!(T::from_bytes(&again).as_ref(), Ok(&value));
    Some(value)
}

/// The network whose rules the validation checks use: the test kit's easy one, so
/// the seed corpus (built with the test kit) reaches the signature checks.
pub fn params() -> &'static ChainParams {
    static PARAMS: std::sync::OnceLock<ChainParams> = std::sync::OnceLock::new();
    PARAMS.get_or_init(cairn_core::testkit::easy_params)
}

/// A transaction (coinbase or transfer) as gossiped and as found in blocks. A
/// transfer that decodes also goes through the stateless checks a mempool runs
/// (signature, amounts, chain id), which must not panic either.
pub fn transaction(data: &[u8]) {
    if let Some(tx) = canonical::<Transaction>(data) {
        assert_eq!(tx.id(), tx.id());
        if let Transaction::Transfer(t) = &tx {
            let _ = cairn_core::validation::validate_transfer_stateless(t, params());
        }
    }
}

/// A whole block, then the body rules that need no chain (merkle root, size,
/// coinbase, duplicates, amounts, signatures).
pub fn block(data: &[u8]) {
    if let Some(block) = canonical::<Block>(data) {
        assert_eq!(block.id(), block.header.id());
        let _ = validate_body(&block, params());
    }
}

/// A header (as in sync `Headers` answers), then its standalone rules (version,
/// target encoding and limit, proof of work).
pub fn header(data: &[u8]) {
    if let Some(header) = canonical::<BlockHeader>(data) {
        let _ = validate_header_standalone(&header, params());
    }
}

/// A gossip message: the first byte picks the topic (even: blocks, odd: transfers),
/// the rest is the payload, decoded exactly as the node's gossip handler does.
pub fn gossip(data: &[u8]) {
    let Some((&topic, payload)) = data.split_first() else {
        return;
    };
    match topic % 3 {
        0 => block(payload),
        1 => transaction(payload),
        _ => compact_block(payload),
    }
}

/// A compact block, as announced on the compact blocks topic: canonical if it
/// decodes, and rebuilding it from an empty mempool leaves exactly its short-id
/// positions missing (completing it without them fails cleanly, never panics).
pub fn compact_block(data: &[u8]) {
    let Some(compact) = canonical::<CompactBlock>(data) else {
        return;
    };
    let partial = compact.rebuild(&std::collections::HashMap::new(), |_| None);
    assert_eq!(partial.missing().len(), compact.short_ids.len());
    let complete = partial.complete(Vec::new());
    assert!(compact.short_ids.is_empty() || complete.is_err());
}

/// A sync request (Status, Headers, Blocks), as a peer sends it to be served.
pub fn sync_request(data: &[u8]) {
    canonical::<SyncRequest>(data);
}

/// A sync response, as a peer answers our requests.
pub fn sync_response(data: &[u8]) {
    canonical::<SyncResponse>(data);
}

/// A keystore file, read exactly as the wallet reads one (size limit, JSON, every
/// field and KDF bound checked): it is refused, or it is written back as a file that
/// reads back as the same keystore.
pub fn keystore(data: &[u8]) {
    if let Ok(ks) = Keystore::from_file_bytes(data) {
        let again = ks.to_file_bytes();
        let back = Keystore::from_file_bytes(&again).expect("a written keystore reads back");
        assert_eq!(back, ks);
    }
}

/// A `genesis.json`: it is refused with an error, or it defines a network whose
/// written form defines the same network (same genesis block and network id).
pub fn genesis(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(p) = ChainParams::from_json(text) {
        let again = ChainParams::from_json(&p.to_json()).expect("written genesis parses");
        assert_eq!(again.config(), p.config());
        assert_eq!(again.genesis_id(), p.genesis_id());
        assert_eq!(again.network_id(), p.network_id());
    }
}
