//! Free disk space: a node refuses to start, and a running node stops cleanly, when
//! its data directory's file system is nearly full, rather than let RocksDB run out
//! of room in the middle of a write.

use std::path::{Path, PathBuf};

/// How often a running node looks at the free space.
pub const CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(2);

/// The file system holding `path` has less free space than the node needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "disk nearly full: {} MiB free on the file system of {}, below the {} MiB minimum \
     (min_free_disk_mb); free some space or lower the minimum",
    free / MIB, path.display(), min / MIB
)]
pub struct DiskFull {
    /// The data directory.
    pub path: PathBuf,
    /// Bytes available to this user.
    pub free: u64,
    /// The floor, in bytes.
    pub min: u64,
}

const MIB: u64 = 1024 * 1024;

/// Bytes available to unprivileged users on the file system holding `path`.
pub fn free_bytes(path: &Path) -> std::io::Result<u64> {
    let stat = rustix::fs::statvfs(path)?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}

/// `Err` when `path`'s file system has less than `min` bytes free. A file system
/// that cannot be asked (an error from statvfs) passes: RocksDB's own errors will
/// say more than a guess would.
pub fn check(path: &Path, min: u64) -> Result<u64, DiskFull> {
    match free_bytes(path) {
        Ok(free) if free < min => Err(DiskFull {
            path: path.to_path_buf(),
            free,
            min,
        }),
        Ok(free) => Ok(free),
        Err(_) => Ok(u64::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_free_space_and_refuses_below_the_floor() {
        let dir = tempfile::tempdir().unwrap();
        let free = free_bytes(dir.path()).unwrap();
        assert!(free > 0);
        assert_eq!(
            check(dir.path(), 0),
            Ok(free).map(|_| check(dir.path(), 0).unwrap())
        );
        let e = check(dir.path(), u64::MAX).unwrap_err();
        assert!(e.to_string().contains("disk nearly full"), "{e}");
        assert!(e.to_string().contains("min_free_disk_mb"), "{e}");
    }
}
