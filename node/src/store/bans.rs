//! The one table the network writes: peer bans, through their own small API so that
//! no chain state is writable from the network.

use std::sync::Arc;

use tracing::warn;

use super::schema::{BanRecord, PeerKey, Peers};
use super::{Store, StoreError};

/// Persisted peer bans.
#[derive(Debug, Clone)]
pub struct BanStore {
    store: Arc<Store>,
}

impl BanStore {
    pub(crate) fn new(store: Arc<Store>) -> BanStore {
        BanStore { store }
    }

    /// Records that `peer` (a peer id's bytes) is banned until `until_ms`. A blocking
    /// write: call it off the async runtime.
    pub fn save(&self, peer: &[u8], until_ms: u64) -> Result<(), StoreError> {
        let mut b = self.store.batch();
        b.put::<Peers>(&PeerKey(peer.to_vec()), &BanRecord { until_ms });
        self.store.write(b)
    }

    /// The bans that have not expired at `now_ms`: peer id bytes and expiry. Expired
    /// (and unreadable) entries are deleted.
    pub fn load(&self, now_ms: u64) -> Vec<(Vec<u8>, u64)> {
        let mut live = Vec::new();
        let mut batch = self.store.batch();
        let mut it = self.store.db.raw_iterator_cf(self.store.cf::<Peers>());
        it.seek_to_first();
        while let Some(key) = it.key() {
            let record = it
                .value()
                .map(<BanRecord as super::schema::Value>::from_value);
            match record {
                Some(Ok(BanRecord { until_ms })) if until_ms > now_ms => {
                    live.push((key.to_vec(), until_ms));
                }
                _ => batch.delete::<Peers>(&PeerKey(key.to_vec())),
            }
            it.next();
        }
        if let Err(e) = it.status() {
            warn!(target: "node", "cannot read the saved bans: {e}");
        }
        if let Err(e) = self.store.write(batch) {
            warn!(target: "node", "cannot prune expired bans: {e}");
        }
        live
    }
}
