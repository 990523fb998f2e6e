//! `state_*`: accounts and their history.

use cairn_core::Transaction;
use serde_json::{Value, json};

use crate::rpc::RpcContext;
use crate::rpc::api::RpcResult;
use crate::rpc::handlers::{internal, parse_address, tx_json};
use crate::rpc::types::{Params, RpcError};
use crate::store::schema::Accounts;

pub(crate) fn state_get_account(ctx: &RpcContext, p: &Params) -> RpcResult {
    p.at_most(&["address"])?;
    let address = parse_address(p, 0)?;
    // The account first, then the pool: a transfer the pool drops because a block
    // confirmed it meanwhile is then counted in neither, never in both.
    let account = ctx
        .node
        .reader()
        .get::<Accounts>(&address)
        .map_err(internal)?
        .unwrap_or_default();
    ctx.node.with_mempool(|m| {
        let pending = m.pending_for(&address);
        let pending_balance = account
            .balance
            .0
            .saturating_sub(pending.debits)
            .saturating_add(pending.credits);
        Ok(json!({
            "address": address.to_string(),
            "balance": account.balance.0.to_string(),
            "nonce": account.nonce,
            "pendingBalance": pending_balance.to_string(),
            "spendable": account.balance.0.saturating_sub(pending.debits).to_string(),
            "pendingNonce": m.next_nonce(&address, account.nonce),
            "pendingTxs": pending.count,
        }))
    })
}

pub(crate) fn state_get_history(ctx: &RpcContext, p: &Params) -> RpcResult {
    p.at_most(&["address", "blocks"])?;
    let address = parse_address(p, 0)?;
    let blocks: u64 = p.opt(1, "blocks")?.unwrap_or(1_000);
    if blocks > 100_000 {
        return Err(RpcError::params("blocks must be at most 100000"));
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
                Transaction::Coinbase(cb) => cb.recipient == address,
                Transaction::Transfer(t) => t.recipient == address || t.sender_address() == address,
            };
            if hit {
                let mut v = tx_json(tx);
                v["height"] = json!(h);
                v["block"] = json!(id.to_string());
                v["confirmations"] = json!(tip - h + 1);
                out.push(v);
                if out.len() >= MAX_HISTORY {
                    return Ok(Value::Array(out));
                }
            }
        }
    }
    Ok(Value::Array(out))
}

/// Most entries `state_getHistory` returns.
const MAX_HISTORY: usize = 1_000;
