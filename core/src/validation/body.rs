//! Body rules: what a block's transactions must satisfy without looking at state.

use std::collections::HashSet;

use super::RejectReason;
use crate::amount::Amount;
use crate::block::Block;
use crate::encoding::Encode;
use crate::genesis::ChainParams;
use crate::hash::Hash;
use crate::header::BlockHeader;
use crate::keys::{VerifyItem, verify_batch};
use crate::merkle::merkle_root;
use crate::tx::{Coinbase, Transaction, Transfer};

/// The encoded block fits the network's size limit.
#[derive(Debug)]
pub struct BlockSizeCheck;

impl BlockSizeCheck {
    /// Rejects with [`RejectReason::BlockTooLarge`].
    pub fn verify(block: &Block, params: &ChainParams) -> Result<(), RejectReason> {
        let size = block.encoded_len();
        let max = params.max_block_bytes();
        if size <= max {
            Ok(())
        } else {
            Err(RejectReason::BlockTooLarge { size, max })
        }
    }
}

/// Exactly one coinbase, first, at the block's height, with at most the network's
/// number of outputs, to distinct recipients, none of them zero (but the single output
/// of a block that has nothing to pay), whose sum does not overflow.
#[derive(Debug)]
pub struct CoinbaseCheck;

impl CoinbaseCheck {
    /// Rejects with [`RejectReason::MissingCoinbase`], [`RejectReason::ExtraCoinbase`],
    /// [`RejectReason::CoinbaseHeightMismatch`] or one of the output rules'
    /// reasons ([`CoinbaseCheck::verify_outputs`]).
    pub fn verify(block: &Block, params: &ChainParams) -> Result<(), RejectReason> {
        let Some(Transaction::Coinbase(cb)) = block.txs.first() else {
            return Err(RejectReason::MissingCoinbase);
        };
        if cb.height != block.header.height {
            return Err(RejectReason::CoinbaseHeightMismatch {
                expected: block.header.height,
                got: cb.height,
            });
        }
        Self::verify_outputs(cb, params)?;
        match block
            .txs
            .iter()
            .skip(1)
            .position(|t| t.as_coinbase().is_some())
        {
            Some(i) => Err(RejectReason::ExtraCoinbase { index: i + 1 }),
            None => Ok(()),
        }
    }

    /// The output rules alone: rejects with [`RejectReason::TooManyCoinbaseOutputs`],
    /// [`RejectReason::DuplicateCoinbaseRecipient`], [`RejectReason::ZeroCoinbaseOutput`]
    /// or [`RejectReason::CoinbaseOverflow`].
    pub fn verify_outputs(cb: &Coinbase, params: &ChainParams) -> Result<(), RejectReason> {
        let max = params.max_coinbase_outputs();
        if cb.outputs.len() > max {
            return Err(RejectReason::TooManyCoinbaseOutputs {
                count: cb.outputs.len(),
                max,
            });
        }
        let mut seen = HashSet::with_capacity(cb.outputs.len());
        for (output, o) in cb.outputs.iter().enumerate() {
            if !seen.insert(o.recipient) {
                return Err(RejectReason::DuplicateCoinbaseRecipient {
                    recipient: o.recipient,
                });
            }
            if o.amount == Amount::ZERO && cb.outputs.len() > 1 {
                return Err(RejectReason::ZeroCoinbaseOutput { output });
            }
        }
        match cb.total() {
            Some(_) => Ok(()),
            None => Err(RejectReason::CoinbaseOverflow),
        }
    }
}

/// Every transaction carries this network's chain id.
#[derive(Debug)]
pub struct ChainIdCheck;

impl ChainIdCheck {
    /// Rejects with [`RejectReason::WrongChainId`].
    pub fn verify(block: &Block, params: &ChainParams) -> Result<(), RejectReason> {
        let expected = params.chain_id();
        match block.txs.iter().position(|t| t.chain_id() != expected) {
            Some(index) => Err(RejectReason::WrongChainId {
                index,
                expected,
                got: block.txs[index].chain_id(),
            }),
            None => Ok(()),
        }
    }
}

/// No transaction appears twice.
#[derive(Debug)]
pub struct DuplicateTxCheck;

impl DuplicateTxCheck {
    /// Rejects with [`RejectReason::DuplicateTx`].
    pub fn verify(txids: &[Hash]) -> Result<(), RejectReason> {
        let mut seen = HashSet::with_capacity(txids.len());
        match txids.iter().find(|id| !seen.insert(**id)) {
            Some(txid) => Err(RejectReason::DuplicateTx { txid: *txid }),
            None => Ok(()),
        }
    }
}

/// The header commits to exactly these transactions.
#[derive(Debug)]
pub struct MerkleRootCheck;

impl MerkleRootCheck {
    /// Rejects with [`RejectReason::BadMerkleRoot`].
    pub fn verify(header: &BlockHeader, txids: &[Hash]) -> Result<(), RejectReason> {
        let expected = merkle_root(txids);
        if header.tx_root == expected {
            Ok(())
        } else {
            Err(RejectReason::BadMerkleRoot {
                expected,
                got: header.tx_root,
            })
        }
    }
}

/// Every transfer moves or pays something, and its amount plus fee does not overflow.
#[derive(Debug)]
pub struct AmountCheck;

impl AmountCheck {
    /// Rejects with [`RejectReason::EmptyTransfer`] or [`RejectReason::AmountOverflow`].
    pub fn verify(block: &Block) -> Result<(), RejectReason> {
        for (index, tx) in block.txs.iter().enumerate() {
            if let Some(t) = tx.as_transfer() {
                Self::verify_transfer(index, t)?;
            }
        }
        Ok(())
    }

    /// The same rule for one transfer at `index`.
    pub fn verify_transfer(index: usize, t: &Transfer) -> Result<(), RejectReason> {
        match t.total_debit() {
            None => Err(RejectReason::AmountOverflow { index }),
            Some(d) if d.0 == 0 => Err(RejectReason::EmptyTransfer { index }),
            Some(_) => Ok(()),
        }
    }
}

/// Every transfer's signature verifies, over this network's signing message, under the
/// strict rules (in parallel on rayon).
#[derive(Debug)]
pub struct SignatureCheck;

impl SignatureCheck {
    /// Rejects with [`RejectReason::BadSignature`] naming the lowest failing index.
    pub fn verify(block: &Block, params: &ChainParams) -> Result<(), RejectReason> {
        Self::verify_except(block, params, &[])
    }

    /// [`SignatureCheck::verify`], leaving out the transactions whose flag in `known`
    /// (one per transaction, by index; missing flags are false) is set: transfers
    /// whose signatures the caller already verified on this network.
    pub fn verify_except(
        block: &Block,
        params: &ChainParams,
        known: &[bool],
    ) -> Result<(), RejectReason> {
        let network = params.network_id();
        let transfers: Vec<(usize, &Transfer, Vec<u8>)> = block
            .txs
            .iter()
            .enumerate()
            .filter(|(i, _)| !known.get(*i).copied().unwrap_or(false))
            .filter_map(|(i, t)| t.as_transfer().map(|t| (i, t, t.signing_message(&network))))
            .collect();
        let items: Vec<VerifyItem<'_>> = transfers
            .iter()
            .map(|(_, t, msg)| VerifyItem {
                key: &t.sender,
                msg,
                sig: &t.signature,
            })
            .collect();
        verify_batch(&items).map_err(|(k, reason)| RejectReason::BadSignature {
            index: transfers[k].0,
            reason,
        })
    }
}

/// All body rules; signatures last.
///
/// The merkle root is checked first: once the body is known to be the one the header
/// (and so the block id) commits to, every later failure is a property of the block
/// itself and may be remembered against its id.
pub fn validate_body(block: &Block, params: &ChainParams) -> Result<(), RejectReason> {
    validate_body_except(block, params, |_| Vec::new())
}

/// [`validate_body`] for a node that remembers which transfers it has verified:
/// `known` gets the block's transaction ids (once the merkle root has bound them to
/// the header) and answers, per transaction, whether its signature is already known
/// to verify on this network; those are not verified again. Every other rule is
/// checked as always.
pub fn validate_body_except(
    block: &Block,
    params: &ChainParams,
    known: impl FnOnce(&[Hash]) -> Vec<bool>,
) -> Result<(), RejectReason> {
    let txids = block.txids();
    MerkleRootCheck::verify(&block.header, &txids)?;
    BlockSizeCheck::verify(block, params)?;
    CoinbaseCheck::verify(block, params)?;
    ChainIdCheck::verify(block, params)?;
    DuplicateTxCheck::verify(&txids)?;
    AmountCheck::verify(block)?;
    SignatureCheck::verify_except(block, params, &known(&txids))
}

/// The rules a lone transfer must pass before it can enter a mempool: chain id,
/// amounts, signature (over this network's id). (Nonce and balance depend on state.)
pub fn validate_transfer_stateless(
    tx: &Transfer,
    params: &ChainParams,
) -> Result<(), RejectReason> {
    if tx.chain_id != params.chain_id() {
        return Err(RejectReason::WrongChainId {
            index: 0,
            expected: params.chain_id(),
            got: tx.chain_id,
        });
    }
    AmountCheck::verify_transfer(0, tx)?;
    tx.verify_signature(&params.network_id())
        .map_err(|reason| RejectReason::BadSignature { index: 0, reason })
}
