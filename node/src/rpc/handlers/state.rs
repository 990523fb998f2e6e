//! `state_*`: accounts and their history.

use cairn_core::Transaction;
use cairn_rpc::envelope::RpcError;
use cairn_rpc::methods::{AddressParams, HistoryParams, StateGetAccount, StateGetHistory};
use cairn_rpc::types::{Account, HistoryEntry};

use crate::rpc::RpcContext;
use crate::rpc::api::Handle;
use crate::rpc::handlers::{internal, tx_view};
use crate::store::schema::Accounts;

/// Most entries `state_getHistory` returns.
const MAX_HISTORY: usize = 1_000;
/// Most blocks `state_getHistory` scans.
const MAX_HISTORY_BLOCKS: u64 = 100_000;

impl Handle for StateGetAccount {
    fn handle(ctx: &RpcContext, p: AddressParams) -> Result<Account, RpcError> {
        let address = p.address;
        // The account first, then the pool: a transfer the pool drops because a block
        // confirmed it meanwhile is then counted in neither, never in both. The balance
        // and the immature rewards from one snapshot, so a maturing reward is counted
        // in exactly one of them.
        let snapshot = ctx.node.reader().snapshot();
        let account = snapshot
            .get::<Accounts>(&address)
            .map_err(internal)?
            .unwrap_or_default();
        let immature = snapshot
            .immature(ctx.node.params(), &address)
            .map_err(internal)?;
        drop(snapshot);
        Ok(ctx.node.with_mempool(|m| {
            let pending = m.pending_for(&address);
            let balance = account.balance.0;
            Account {
                address,
                balance: balance.into(),
                immature: immature.0.into(),
                nonce: account.nonce.into(),
                pending_balance: balance
                    .saturating_sub(pending.debits)
                    .saturating_add(pending.credits)
                    .into(),
                spendable: balance.saturating_sub(pending.debits).into(),
                pending_nonce: m.next_nonce(&address, account.nonce).into(),
                pending_txs: pending.count.into(),
            }
        }))
    }
}

impl Handle for StateGetHistory {
    fn handle(ctx: &RpcContext, p: HistoryParams) -> Result<Vec<HistoryEntry>, RpcError> {
        let address = p.address;
        let blocks = p.blocks.map_or(1_000, |b| b.0);
        if blocks > MAX_HISTORY_BLOCKS {
            return Err(RpcError::params(format!(
                "blocks must be at most {MAX_HISTORY_BLOCKS}"
            )));
        }
        // One snapshot for the whole scan: the blocks and the tip agree, and RocksDB
        // serves it while blocks are imported.
        let snapshot = ctx.node.reader().snapshot();
        let tip = snapshot.tip_header().map_err(internal)?.height;
        let mut out = Vec::new();
        for h in (tip.saturating_sub(blocks.saturating_sub(1))..=tip).rev() {
            let Some(block) = snapshot.block_at(h).map_err(internal)? else {
                continue;
            };
            let id = block.id();
            for tx in &block.txs {
                let hit = match tx {
                    Transaction::Coinbase(cb) => cb.outputs.iter().any(|o| o.recipient == address),
                    Transaction::Transfer(t) => {
                        t.recipient == address || t.sender_address() == address
                    }
                };
                if hit {
                    out.push(HistoryEntry {
                        tx: tx_view(tx, false, ctx.node.params().coinbase_maturity()),
                        block: id,
                        height: h.into(),
                        confirmations: (tip - h + 1).into(),
                    });
                    if out.len() >= MAX_HISTORY {
                        return Ok(out);
                    }
                }
            }
        }
        Ok(out)
    }
}
