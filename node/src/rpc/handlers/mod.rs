//! The RPC handlers, one file per namespace; [`crate::rpc::api`] lists them. What
//! several namespaces share (headers, transactions and blocks as `cairn-rpc` types)
//! is here.

pub mod chain;
pub mod mempool;
pub mod mining;
pub mod net;
pub mod node;
pub mod pool;
pub mod state;
pub mod tx;

use cairn_core::{Block, BlockHeader, Encode, Transaction, Transfer};
use cairn_rpc::envelope::RpcError;
use cairn_rpc::types::{self, BlockTxs, CoinbaseTx, Header, TransferTx, Tx};
use cairn_rpc::{Dec, ErrorCode};

use crate::store::ReadSnapshot;

/// A header as the RPC shows it; `raw` adds its canonical bytes.
pub fn header_view(h: &BlockHeader, raw: bool) -> Header {
    Header {
        id: h.id(),
        height: h.height.into(),
        version: h.version,
        prev: h.prev,
        tx_root: h.tx_root,
        timestamp: h.timestamp_ms.into(),
        target: h.target,
        nonce: h.nonce.into(),
        raw: raw.then(|| hex::encode(h.to_bytes())),
    }
}

/// A transaction as the RPC shows it; `raw` adds its canonical bytes; `maturity` is
/// the network's coinbase maturity.
pub fn tx_view(tx: &Transaction, raw: bool, maturity: u64) -> Tx {
    match tx {
        Transaction::Coinbase(c) => Tx::Coinbase(CoinbaseTx {
            id: tx.id(),
            chain_id: c.chain_id,
            height: c.height.into(),
            outputs: c
                .outputs
                .iter()
                .map(|o| types::CoinbaseOutput {
                    to: o.recipient,
                    amount: o.amount.0.into(),
                })
                .collect(),
            amount: c.total().map_or(u64::MAX, |a| a.0).into(),
            matures_at: c.height.saturating_add(maturity).into(),
            raw: raw.then(|| hex::encode(tx.to_bytes())),
        }),
        Transaction::Transfer(t) => transfer_view(t, raw),
    }
}

/// A transfer as the RPC shows it; `raw` adds its canonical bytes.
pub fn transfer_view(t: &Transfer, raw: bool) -> Tx {
    let bytes = Transaction::Transfer(t.clone()).to_bytes();
    Tx::Transfer(TransferTx {
        id: cairn_core::Hash::digest(&bytes),
        chain_id: t.chain_id,
        from: t.sender_address(),
        sender: t.sender.to_string(),
        to: t.recipient,
        amount: t.amount.0.into(),
        fee: t.fee.0.into(),
        nonce: t.nonce.into(),
        signature: hex::encode(t.signature.0),
        raw: raw.then(|| hex::encode(&bytes)),
    })
}

/// A block as the RPC shows it, with its confirmations read from `snapshot`.
pub(crate) fn block_view(
    snapshot: &ReadSnapshot<'_>,
    block: &Block,
    full: bool,
    raw: bool,
    maturity: u64,
) -> Result<types::Block, RpcError> {
    let id = block.id();
    let tip = snapshot.tip_header().map_err(internal)?.height;
    let on_main = snapshot
        .on_main_chain(&id, block.header.height)
        .map_err(internal)?;
    let txs = if full {
        BlockTxs::Full(
            block
                .txs
                .iter()
                .map(|t| tx_view(t, raw, maturity))
                .collect(),
        )
    } else {
        BlockTxs::Ids(block.txids())
    };
    Ok(types::Block {
        header: header_view(&block.header, raw),
        size: Dec(block.encoded_len() as u64),
        confirmations: Dec(if on_main {
            tip - block.header.height + 1
        } else {
            0
        }),
        main_chain: on_main,
        txs,
        raw_block: raw.then(|| hex::encode(block.to_bytes())),
    })
}

pub(crate) fn internal(e: impl std::fmt::Display) -> RpcError {
    RpcError::new(ErrorCode::Internal, e.to_string())
}
