//! The mempool's file: saved on shutdown, reloaded (every transfer checked again) on
//! start.

use std::io::Write;
use std::path::Path;

use cairn_core::encoding::{Decode, Encode, Reader};
use cairn_core::tx::TRANSFER_LEN;
use cairn_core::validation::validate_transfer_stateless;
use cairn_core::{AccountView, Transaction, Transfer};

use super::{Entry, Mempool};
use crate::store::StoreError;

impl Mempool {
    /// Writes the pending transfers to `path` (atomically: a temporary file renamed).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let tmp = path.with_extension("tmp");
        let mut out = Vec::with_capacity(12 + self.entries.len() * (8 + TRANSFER_LEN));
        out.extend_from_slice(MEMPOOL_MAGIC);
        let count = u32::try_from(self.entries.len()).map_err(std::io::Error::other)?;
        out.extend_from_slice(&count.to_le_bytes());
        let mut entries: Vec<&Entry> = self.entries.values().collect();
        entries.sort_by_key(|e| e.seq);
        for e in entries {
            out.extend_from_slice(&e.added_ms.to_le_bytes());
            Transaction::Transfer(e.tx.clone()).encode_to(&mut out);
        }
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&out)?;
        f.sync_all()?;
        std::fs::rename(tmp, path)
    }

    /// Reads transfers saved by [`Mempool::save`] and admits them through the full checks
    /// (signatures included). A damaged file is an error; nothing is admitted from it.
    pub fn load<V>(&mut self, path: &Path, view: &V, now_ms: u64) -> Result<usize, MempoolLoadError>
    where
        V: AccountView,
        V::Error: Into<StoreError>,
    {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(MempoolLoadError::Io(e)),
        };
        let saved = decode_saved(&bytes)?;
        let mut admitted = 0;
        for (added, tx) in saved {
            if now_ms.saturating_sub(added) > self.config.expiry_ms {
                continue;
            }
            match validate_transfer_stateless(&tx, &self.params) {
                Ok(()) => {
                    if self.add_verified(tx, view, added, None).is_ok() {
                        admitted += 1;
                    }
                }
                Err(_) => continue,
            }
        }
        Ok(admitted)
    }
}

const MEMPOOL_MAGIC: &[u8; 8] = b"CAIRNMP1";

/// Why a saved mempool could not be read.
#[derive(Debug, thiserror::Error)]
pub enum MempoolLoadError {
    /// Reading the file failed.
    #[error("cannot read saved mempool: {0}")]
    Io(#[from] std::io::Error),
    /// The file is not a saved mempool, or is damaged.
    #[error("saved mempool is damaged: {0}")]
    Corrupt(String),
}

fn decode_saved(bytes: &[u8]) -> Result<Vec<(u64, Transfer)>, MempoolLoadError> {
    let corrupt = |e: cairn_core::DecodeError| MempoolLoadError::Corrupt(e.to_string());
    let mut r = Reader::new(bytes);
    if r.take(8).map_err(corrupt)? != MEMPOOL_MAGIC {
        return Err(MempoolLoadError::Corrupt("bad magic".into()));
    }
    let n = r.count(usize::MAX, 8 + TRANSFER_LEN).map_err(corrupt)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let added = r.u64().map_err(corrupt)?;
        match Transaction::decode_from(&mut r).map_err(corrupt)? {
            Transaction::Transfer(t) => out.push((added, t)),
            Transaction::Coinbase(_) => {
                return Err(MempoolLoadError::Corrupt("coinbase in mempool".into()));
            }
        }
    }
    r.finish().map_err(corrupt)?;
    Ok(out)
}
