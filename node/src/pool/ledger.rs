//! The pool's credits move with the main chain. [`PoolLedger`] is a chain
//! [`BlockHook`]: when a block whose coinbase the pool made connects, it applies that
//! job's credit changes ([`JobRecord`]) in the very batch that connects the block, and
//! keeps what the credits were before ([`PayoutRecord`]); when the block is
//! disconnected by a reorganisation, the disconnecting batch puts them back exactly. A
//! crash can therefore never leave the credits one block apart from the chain, and an
//! orphaned pool block leaves nothing behind.

use std::collections::BTreeMap;

use cairn_core::{Address, Amount, Block, Transaction};

use crate::chain::BlockHook;
use crate::pool::pplns::Split;
use crate::store::schema::{
    CreditChange, JobRecord, PayoutRecord, PoolCredits, PoolJobs, PoolPayouts,
};
use crate::store::{StoreBatch, StoreError, StoreReader};

/// The chain hook that keeps the pool's credits (see the module documentation).
/// Inert on a node that never found a pool block: one point read per connect.
#[derive(Debug, Default)]
pub struct PoolLedger;

impl JobRecord {
    /// The credit changes of `split`, for a block at `height` whose job's window ended
    /// at `window_end` in the share log.
    pub fn from_split(split: &Split, height: u64, window_end: u128) -> JobRecord {
        JobRecord {
            height,
            window_end,
            window_work: split.window_work,
            reward: split.reward,
            changes: split
                .figures
                .iter()
                .filter(|(_, f)| f.credit_before != f.credit_after)
                .map(|(address, f)| CreditChange {
                    address: *address,
                    before: f.credit_before,
                    after: f.credit_after,
                })
                .collect(),
        }
    }
}

/// `current` moved by the job's change (`after − before`): exactly the job's `after`
/// when no other pool block changed this credit since the job was made.
fn moved(current: Amount, change: &CreditChange) -> Amount {
    let delta = i128::from(change.after.0) - i128::from(change.before.0);
    let new = (i128::from(current.0) + delta).clamp(0, i128::from(u64::MAX));
    Amount(u64::try_from(new).unwrap_or(u64::MAX))
}

impl BlockHook for PoolLedger {
    fn connect(
        &self,
        block: &Block,
        reader: &StoreReader,
        batch: &mut StoreBatch<'_>,
    ) -> Result<(), StoreError> {
        let Some(coinbase @ Transaction::Coinbase(_)) = block.txs.first() else {
            return Ok(());
        };
        let coinbase = coinbase.id();
        let Some(job) = reader.get::<PoolJobs>(&coinbase)? else {
            return Ok(());
        };
        let mut before = Vec::with_capacity(job.changes.len());
        for change in &job.changes {
            let current = reader.get::<PoolCredits>(&change.address)?;
            let new = moved(current.unwrap_or(Amount::ZERO), change);
            if new == Amount::ZERO {
                batch.delete::<PoolCredits>(&change.address);
            } else {
                batch.put::<PoolCredits>(&change.address, &new);
            }
            before.push((change.address, current));
        }
        batch.put::<PoolPayouts>(
            &block.id(),
            &PayoutRecord {
                height: block.header.height,
                coinbase,
                before,
            },
        );
        Ok(())
    }

    fn disconnect(
        &self,
        block: &Block,
        reader: &StoreReader,
        batch: &mut StoreBatch<'_>,
    ) -> Result<(), StoreError> {
        let id = block.id();
        let Some(payout) = reader.get::<PoolPayouts>(&id)? else {
            return Ok(());
        };
        for (address, before) in &payout.before {
            match before {
                Some(v) => batch.put::<PoolCredits>(address, v),
                None => batch.delete::<PoolCredits>(address),
            }
        }
        batch.delete::<PoolPayouts>(&id);
        Ok(())
    }
}

/// Every miner's credit, read from `reader`.
pub fn credits(reader: &StoreReader) -> Result<BTreeMap<Address, Amount>, StoreError> {
    reader.iter::<PoolCredits>().collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use cairn_core::testkit::{ChainBuilder, easy_params};
    use cairn_core::{Address, SecretKey};

    use super::*;
    use crate::chain::Chain;
    use crate::store::Store;
    use crate::store::pool::PoolStore;

    fn who(i: u8) -> Address {
        SecretKey::from_seed(&[i; 32]).address()
    }

    fn submit(chain: &mut Chain, blocks: &[Block]) {
        for b in blocks {
            chain
                .submit_block(b.clone(), b.header.timestamp_ms)
                .unwrap();
        }
    }

    /// A pool block's credit changes apply when it connects, vanish exactly when a
    /// reorganisation orphans it, and apply again when it comes back; restarting the
    /// chain from the store changes nothing.
    #[test]
    fn credits_follow_pool_blocks_through_reorganisations() {
        let dir = tempfile::tempdir().unwrap();
        let params = easy_params();
        let store = Arc::new(Store::open(dir.path(), &params).unwrap());
        let pool = PoolStore::new(store.clone());
        let (mut chain, _) =
            Chain::open_with(params.clone(), store.clone(), vec![Arc::new(PoolLedger)]).unwrap();
        let mut a = ChainBuilder::new(params.clone());
        a.extend(vec![], 1_000);
        let mut b = a.clone();
        b.miner = who(0x42);
        submit(&mut chain, &a.blocks[1..]);

        // Before the pool block: miner 2 carries a credit from an earlier block.
        let (m1, m2, m3, op) = (who(1), who(2), who(3), who(9));
        let mut seed = store.batch();
        seed.put::<PoolCredits>(&m2, &Amount(70));
        store.write(seed).unwrap();

        // The pool's block pays m1, m2 (repaying 70) and the pool; m3 is carried.
        let block = a.build_paying(vec![], 1_000, &[op, m1, m2]);
        let job = JobRecord {
            height: 2,
            window_end: 1_000,
            window_work: 1_000,
            reward: params.subsidy(2),
            changes: vec![
                CreditChange {
                    address: m2,
                    before: Amount(70),
                    after: Amount::ZERO,
                },
                CreditChange {
                    address: m3,
                    before: Amount::ZERO,
                    after: Amount(40),
                },
            ],
        };
        pool.save_job(&block.txs[0].id(), &job).unwrap();
        a.connect(block.clone()).unwrap();
        submit(&mut chain, std::slice::from_ref(&block));
        let after = BTreeMap::from([(m3, Amount(40))]);
        assert_eq!(credits(&chain.reader()).unwrap(), after);
        assert_eq!(pool.payouts(10).unwrap().len(), 1);

        // A heavier branch without it: the credits are as before it, exactly.
        let branch = (0..2)
            .map(|_| b.extend(vec![], 1_000).clone())
            .collect::<Vec<_>>();
        submit(&mut chain, &branch);
        assert_eq!(chain.tip().id, b.tip().id());
        assert_eq!(
            credits(&chain.reader()).unwrap(),
            BTreeMap::from([(m2, Amount(70))])
        );
        assert!(pool.payouts(10).unwrap().is_empty());

        // The pool's branch wins again: the same block applies the same changes.
        let more = (0..2)
            .map(|_| a.extend(vec![], 1_000).clone())
            .collect::<Vec<_>>();
        submit(&mut chain, &more);
        assert_eq!(chain.tip().id, a.tip().id());
        assert_eq!(credits(&chain.reader()).unwrap(), after);

        // Reopened from disk, nothing is counted twice.
        drop(chain);
        let (chain, _) =
            Chain::open_with(params.clone(), store.clone(), vec![Arc::new(PoolLedger)]).unwrap();
        assert_eq!(credits(&chain.reader()).unwrap(), after);
        assert_eq!(pool.payouts(10).unwrap()[0].1.height, 2);
    }
}
