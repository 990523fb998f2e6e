//! Small file helpers.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Writes `bytes` to `path` readable by the owner only: a fresh temporary file (mode
/// 0600, synced) renamed over the old one, whatever that one's mode was.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// Raises this process's open-file limit to its hard limit, as servers do: every
/// peer, RPC client and Stratum session holds a descriptor. Returns the new soft
/// limit, or why it could not be raised (the caller says so).
pub fn raise_open_file_limit() -> Result<u64, String> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    let Some(hard) = limit.maximum else {
        // No hard limit: keep the soft one rather than ask for "unlimited".
        return limit.current.ok_or_else(|| "no limit".to_string());
    };
    if limit.current == Some(hard) {
        return Ok(hard);
    }
    limit.current = Some(hard);
    setrlimit(Resource::Nofile, limit).map_err(|e| format!("setrlimit: {e}"))?;
    Ok(hard)
}
