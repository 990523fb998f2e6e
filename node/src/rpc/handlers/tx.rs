//! `tx_*`: submitting transfers, looking them up, inclusion proofs.

use cairn_core::merkle::MerkleProof;
use cairn_core::{Decode, RejectReason, Transaction};
use cairn_rpc::ErrorCode;
use cairn_rpc::envelope::RpcError;
use cairn_rpc::methods::{IdResult, ProofParams, SendParams, TxGet, TxGetProof, TxParams, TxSend};
use cairn_rpc::types::{TxLookup, TxProof, TxStatus};

use crate::mempool::MempoolError;
use crate::rpc::RpcContext;
use crate::rpc::api::Handle;
use crate::rpc::handlers::{internal, transfer_view, tx_view};

/// Maps a mempool refusal to its typed error.
pub fn mempool_error(e: MempoolError) -> RpcError {
    let detail = e.to_string();
    let code = match &e {
        MempoolError::Invalid(RejectReason::BadNonce { expected, got, .. }) if got < expected => {
            ErrorCode::NonceTooLow
        }
        MempoolError::Invalid(RejectReason::BadNonce { .. }) => ErrorCode::NonceTooHigh,
        MempoolError::Invalid(RejectReason::InsufficientFunds { .. }) => {
            ErrorCode::InsufficientFunds
        }
        MempoolError::Invalid(r) => {
            return RpcError::with_reason(ErrorCode::InvalidTransaction, r.code(), detail);
        }
        MempoolError::AlreadyKnown(_) => ErrorCode::AlreadyKnown,
        MempoolError::FeeTooLow { .. } | MempoolError::ReplacementFeeTooLow { .. } => {
            ErrorCode::FeeTooLow
        }
        MempoolError::NonceTooLow { .. } => ErrorCode::NonceTooLow,
        MempoolError::NonceGap { .. } => ErrorCode::NonceTooHigh,
        MempoolError::InsufficientFunds { .. } => ErrorCode::InsufficientFunds,
        MempoolError::Full { .. } => ErrorCode::MempoolFull,
        MempoolError::Store(_) => ErrorCode::Internal,
    };
    RpcError::new(code, detail)
}

impl Handle for TxSend {
    fn handle(ctx: &RpcContext, p: SendParams) -> Result<IdResult, RpcError> {
        let bytes = hex::decode(p.tx.trim_start_matches("0x"))
            .map_err(|e| RpcError::params(format!("parameter `tx` is not hex: {e}")))?;
        // Bytes that do not decode break the encoding rule (docs/PROTOCOL.md §6.2):
        // refused as a transaction, with the `malformed` reason.
        let tx = match Transaction::from_bytes(&bytes) {
            Ok(Transaction::Transfer(t)) => t,
            Ok(Transaction::Coinbase(_)) => {
                return Err(RpcError::params("a coinbase cannot be sent"));
            }
            Err(e) => {
                let reason = RejectReason::Malformed(e);
                return Err(RpcError::with_reason(
                    ErrorCode::InvalidTransaction,
                    reason.code(),
                    reason.to_string(),
                ));
            }
        };
        ctx.node
            .submit_transfer(tx)
            .map(IdResult)
            .map_err(mempool_error)
    }
}

impl Handle for TxGet {
    fn handle(ctx: &RpcContext, p: TxParams) -> Result<TxLookup, RpcError> {
        let raw = p.raw.unwrap_or(false);
        let mut found = TxLookup {
            txid: p.id,
            status: TxStatus::Unknown,
            tx: None,
            block: None,
            height: None,
            index: None,
            confirmations: None,
        };
        if let Some(tx) = ctx.node.with_mempool(|m| m.get(&p.id).cloned()) {
            found.status = TxStatus::Pending;
            found.tx = Some(transfer_view(&tx, raw));
            return Ok(found);
        }
        let snapshot = ctx.node.reader().snapshot();
        let Some(loc) = snapshot.tx_location(&p.id).map_err(internal)? else {
            return Ok(found);
        };
        let block = snapshot
            .block(&loc.block)
            .map_err(internal)?
            .ok_or_else(|| internal("indexed block missing"))?;
        let tx = block
            .txs
            .get(loc.index as usize)
            .ok_or_else(|| internal("index out of range"))?;
        let tip = snapshot.tip_header().map_err(internal)?.height;
        found.status = TxStatus::Confirmed;
        found.tx = Some(tx_view(tx, raw, ctx.node.params().coinbase_maturity()));
        found.block = Some(loc.block);
        found.height = Some(block.header.height.into());
        found.index = Some(loc.index);
        found.confirmations = Some((tip - block.header.height + 1).into());
        Ok(found)
    }
}

impl Handle for TxGetProof {
    fn handle(ctx: &RpcContext, p: ProofParams) -> Result<TxProof, RpcError> {
        let snapshot = ctx.node.reader().snapshot();
        let Some(loc) = snapshot.tx_location(&p.id).map_err(internal)? else {
            return Err(RpcError::new(
                ErrorCode::UnknownTransaction,
                format!("no confirmed transaction {}", p.id),
            ));
        };
        let block = snapshot
            .block(&loc.block)
            .map_err(internal)?
            .ok_or_else(|| internal("indexed block missing"))?;
        let proof = MerkleProof::new(&block.txids(), loc.index as usize)
            .ok_or_else(|| internal("index out of range"))?;
        Ok(TxProof {
            txid: p.id,
            block: loc.block,
            height: block.header.height.into(),
            tx_root: block.header.tx_root,
            index: proof.index,
            leaf_count: proof.leaf_count,
            siblings: proof.siblings,
        })
    }
}
