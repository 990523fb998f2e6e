//! Scheduling priority of the node's CPU-heavy threads.
//!
//! A block's signatures are verified on rayon's global pool, one thread per core. On a
//! machine with two cores that pool takes every core for the length of an import, and
//! a read that arrives meanwhile (an RPC call, a peer's request) waits for a time slice
//! behind it: milliseconds of tail latency for a microsecond of work. The pool's
//! threads therefore run at a lower priority ([`VERIFY_NICE`]): the scheduler lets a
//! woken reader in first, and since readers are short, the import loses almost nothing
//! (the read-latency benchmark in BENCHMARKS.md measures both). The built-in miner's
//! threads run lower still ([`MINE_NICE`]), so a node that mines on every core keeps
//! importing. Linux only: elsewhere the threads keep the default priority.

/// The nice value of verification threads: below normal (0), far above idle (19).
pub const VERIFY_NICE: i32 = 5;

/// The nice value of the built-in miner's threads: the lowest.
pub const MINE_NICE: i32 = 19;

/// Builds rayon's global pool with its threads at [`VERIFY_NICE`]. Idempotent: if
/// the pool already exists (built by an earlier node in this process, or used before
/// this call), it is left as it is and `false` is returned.
pub fn init_verification_pool() -> bool {
    rayon::ThreadPoolBuilder::new()
        .thread_name(|i| format!("verify-{i}"))
        .start_handler(|_| {
            if let Err(e) = lower_current_thread(VERIFY_NICE) {
                tracing::debug!(error = %e, "verification thread keeps its priority");
            }
        })
        .build_global()
        .is_ok()
}

/// Sets the calling thread's nice value (Linux: per thread).
pub fn lower_current_thread(nice: i32) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        rustix::process::setpriority_process(Some(rustix::thread::gettid()), nice)?;
    }
    #[cfg(not(target_os = "linux"))]
    let _ = nice;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn a_thread_can_lower_its_own_priority() {
        let nice = std::thread::spawn(|| {
            lower_current_thread(VERIFY_NICE).expect("lowering needs no privilege");
            rustix::process::getpriority_process(Some(rustix::thread::gettid())).expect("read back")
        })
        .join()
        .expect("thread");
        assert_eq!(nice, VERIFY_NICE);
    }
}
