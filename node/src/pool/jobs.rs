//! Pool jobs: one block template per job, its coinbase paying the pool's miners by
//! PPLNS, shared by every session (each searches its own extranonce's nonces).

use std::collections::VecDeque;
use std::sync::Arc;

use cairn_core::merkle::MerkleProof;
use cairn_core::{Block, BlockHeader, BlockId, Coinbase, Hash, Target, Transaction, TxId};
use cairn_stratum::messages::{JobCoinbase, MAX_JOBS_KEPT};
use cairn_stratum::pplns::{Split, Window};

use crate::mining::TemplateBody;
use crate::store::schema::JobRecord;

/// One job.
#[derive(Debug, Clone)]
pub struct Job {
    /// Its id in `mining.notify` and `mining.submit`.
    pub id: u64,
    /// The header (`tx_root` set, nonce 0).
    pub header: BlockHeader,
    /// `blake3` of the header's first 88 bytes: what every nonce is hashed with.
    pub pre_hash: Hash,
    /// The block target, expanded.
    pub block_target: Target,
    /// The coinbase: the split's outputs.
    pub coinbase: Coinbase,
    /// Its id.
    pub coinbase_id: TxId,
    /// The transfers after it.
    pub transfers: Vec<Transaction>,
    /// The coinbase's merkle siblings, leaf level up.
    pub branch: Vec<Hash>,
    /// The PPLNS split the coinbase carries.
    pub split: Split,
    /// The share-log window the split was computed on.
    pub window: Window,
    /// The coinbase as `mining.notify` shows it, encoded once for every session.
    pub coinbase_view: JobCoinbase,
}

impl Job {
    /// The job paying `split` on the template `body`, whose window is `window`.
    pub fn new(id: u64, body: TemplateBody, split: Split, window: &Window) -> Job {
        let coinbase = Coinbase {
            chain_id: body.chain_id,
            height: body.header.height,
            outputs: split.outputs.clone(),
        };
        let coinbase_id = coinbase.id();
        let coinbase_view = JobCoinbase::from_coinbase(&coinbase);
        let leaves: Vec<Hash> = std::iter::once(coinbase_id)
            .chain(body.transfers.iter().map(Transaction::id))
            .collect();
        let branch = MerkleProof::new(&leaves, 0)
            .map(|p| p.siblings)
            .unwrap_or_default();
        let mut header = body.header;
        header.tx_root = cairn_core::merkle::merkle_root(&leaves);
        header.nonce = 0;
        // A template's target is the chain's next one, so it is always well formed.
        let block_target = header
            .target
            .to_target()
            .unwrap_or(Target(ruint::aliases::U256::ZERO));
        Job {
            id,
            pre_hash: header.pre_hash(),
            header,
            block_target,
            coinbase,
            coinbase_id,
            transfers: body.transfers,
            branch,
            split,
            window: window.clone(),
            coinbase_view,
        }
    }

    /// The job's block with `nonce`.
    pub fn block(&self, nonce: u64) -> Block {
        let mut txs = Vec::with_capacity(self.transfers.len() + 1);
        txs.push(Transaction::Coinbase(self.coinbase.clone()));
        txs.extend(self.transfers.iter().cloned());
        let mut header = self.header;
        header.nonce = nonce;
        Block { header, txs }
    }

    /// What a block of this job does to the credits, for the ledger.
    pub fn record(&self) -> JobRecord {
        JobRecord::from_split(&self.split, self.header.height, self.window.end())
    }
}

/// The jobs of the current parent, newest last, at most [`MAX_JOBS_KEPT`].
#[derive(Debug, Default)]
pub struct JobBook {
    jobs: VecDeque<Arc<Job>>,
    next_id: u64,
}

impl JobBook {
    /// The id the next job gets.
    pub fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Adds `job`; returns whether it is *clean* (its parent differs from the jobs
    /// before, which are then dropped: they can no longer make a block).
    pub fn push(&mut self, job: Arc<Job>) -> bool {
        let clean = self
            .jobs
            .back()
            .is_none_or(|last| last.header.prev != job.header.prev);
        if clean {
            self.jobs.clear();
        }
        self.jobs.push_back(job);
        while self.jobs.len() > MAX_JOBS_KEPT {
            self.jobs.pop_front();
        }
        clean
    }

    /// The job `id`, if it is still accepted.
    pub fn get(&self, id: u64) -> Option<Arc<Job>> {
        self.jobs.iter().rev().find(|j| j.id == id).cloned()
    }

    /// The newest job.
    pub fn latest(&self) -> Option<Arc<Job>> {
        self.jobs.back().cloned()
    }

    /// The parent of the current jobs.
    pub fn parent(&self) -> Option<BlockId> {
        self.jobs.back().map(|j| j.header.prev)
    }
}
