//! The measurements behind `cairn-miner bench`, all taken in one run so their ratios
//! mean something on a shared machine whose absolute speed drifts.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use cairn_core::pow::pow_hash;
use cairn_core::{Hash, Target};
use ruint::aliases::U256;
use serde::Serialize;

use crate::MinerError;
use crate::kernel::Backend;
use crate::search::{Miner, NonceRange, Template};

/// Bytes hashed per call when measuring blake3's own throughput: large enough for its
/// widest SIMD path, small enough to stay in L2.
const LIMIT_BUFFER: usize = 256 * 1024;

/// What to measure.
#[derive(Debug, Clone, Copy)]
pub struct BenchConfig {
    /// Most threads to measure the kernel on (it is measured on 1..=threads).
    pub threads: usize,
    /// Length of each measurement.
    pub seconds: f64,
    /// The kernel backend to measure on 1..=threads threads.
    pub backend: Backend,
}

/// One kernel measurement.
#[derive(Debug, Clone, Serialize)]
pub struct KernelRate {
    /// Backend measured.
    pub backend: String,
    /// Threads used.
    pub threads: usize,
    /// Nonces tried per second.
    pub hashes_per_second: f64,
    /// blake3's own compressions a second on one thread with the same instruction set
    /// (its SIMD path hashing many 1 KiB chunks side by side; chunk compressions only),
    /// when measured: what a kernel on this instruction set is compared with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blake3_same_isa: Option<f64>,
}

/// Everything `cairn-miner bench` reports.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// CPU model name, if known.
    pub cpu: String,
    /// Relevant instruction-set extensions this CPU has.
    pub cpu_flags: Vec<String>,
    /// The backend measured on every thread count.
    pub backend: String,
    /// The most threads measured.
    pub threads: usize,
    /// Kernel rate on `threads` threads.
    pub hashes_per_second: f64,
    /// Kernel rate on 1 thread.
    pub hashes_per_second_one_thread: f64,
    /// Kernel rate on 1..=threads threads.
    pub scaling: Vec<KernelRate>,
    /// Every supported backend on one thread.
    pub backends: Vec<KernelRate>,
    /// blake3's own single-thread rate on a cache-resident 256 KiB input, in
    /// compressions per second (bytes/s ÷ 1024 × 17: sixteen chunk compressions and
    /// about one parent compression per KiB).
    pub limit_compressions_per_second_per_core: f64,
    /// blake3's own single-thread throughput on that input, bytes per second.
    pub limit_bytes_per_second: f64,
    /// One `blake3::hash` call per nonce, one thread.
    pub naive_hashes_per_second: f64,
    /// Kernel on one thread ÷ the per-core limit.
    pub kernel_over_limit_per_thread: f64,
    /// Kernel on one thread ÷ naive on one thread.
    pub kernel_over_naive: f64,
    /// Kernel on `threads` threads ÷ kernel on one thread.
    pub thread_scaling: f64,
}

/// Runs every measurement, calling `progress` with a line before each.
pub fn run(
    config: &BenchConfig,
    progress: &mut dyn FnMut(&str),
) -> Result<BenchReport, MinerError> {
    let secs = Duration::from_secs_f64(config.seconds.max(0.05));
    progress(&format!(
        "blake3 crate on a {} KiB buffer, 1 thread",
        LIMIT_BUFFER / 1024
    ));
    let limit_bytes = measure_limit(secs);
    progress("naive blake3::hash per nonce, 1 thread");
    let naive = measure_naive(secs);

    let mut backends = Vec::new();
    for b in Backend::ALL.into_iter().filter(|b| b.is_supported()) {
        progress(&format!("kernel {b}, 1 thread"));
        let hashes_per_second = measure_kernel(b, 1, secs)?;
        progress(&format!("blake3 crate on {b}, 1 thread"));
        backends.push(KernelRate {
            backend: b.to_string(),
            threads: 1,
            hashes_per_second,
            blake3_same_isa: measure_limit_on(b, secs),
        });
    }
    let mut scaling = Vec::new();
    for t in 1..=config.threads.max(1) {
        let rate = match backends
            .iter()
            .find(|r| t == 1 && r.backend == config.backend.name())
        {
            Some(r) => r.hashes_per_second,
            None => {
                progress(&format!("kernel {}, {t} threads", config.backend));
                measure_kernel(config.backend, t, secs)?
            }
        };
        scaling.push(KernelRate {
            backend: config.backend.to_string(),
            threads: t,
            hashes_per_second: rate,
            blake3_same_isa: None,
        });
    }
    let one = scaling[0].hashes_per_second;
    let all = scaling.last().map_or(one, |r| r.hashes_per_second);
    let limit = compressions_per_second(limit_bytes);
    let (cpu, cpu_flags) = cpu_info();
    Ok(BenchReport {
        cpu,
        cpu_flags,
        backend: config.backend.to_string(),
        threads: config.threads.max(1),
        hashes_per_second: all,
        hashes_per_second_one_thread: one,
        scaling,
        backends,
        limit_compressions_per_second_per_core: limit,
        limit_bytes_per_second: limit_bytes,
        naive_hashes_per_second: naive,
        kernel_over_limit_per_thread: one / limit,
        kernel_over_naive: one / naive,
        thread_scaling: all / one,
    })
}

/// blake3 compressions a second from its throughput in bytes a second: each 1 KiB
/// chunk is 16 block compressions plus about one parent node.
pub fn compressions_per_second(bytes_per_second: f64) -> f64 {
    bytes_per_second / 1024.0 * 17.0
}

/// A short check of the kernel against its limit, on one thread: what a node shows
/// so an operator sees at once when a machine runs a slow path.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SelfTest {
    /// The kernel's nonces a second, one thread.
    pub kernel_hashes_per_second: f64,
    /// blake3's own compressions a second, one thread (one nonce is one compression).
    pub limit_compressions_per_second: f64,
}

impl SelfTest {
    /// The kernel's rate over the limit (about 1 on a good path).
    pub fn ratio(&self) -> f64 {
        self.kernel_hashes_per_second / self.limit_compressions_per_second.max(1.0)
    }
}

/// Measures `backend` and blake3 for `duration` each, one thread.
pub fn self_test(backend: Backend, duration: Duration) -> Result<SelfTest, MinerError> {
    Ok(SelfTest {
        kernel_hashes_per_second: measure_kernel(backend, 1, duration)?,
        limit_compressions_per_second: compressions_per_second(measure_limit(duration)),
    })
}

/// blake3's best single-thread throughput, bytes per second.
pub fn measure_limit(duration: Duration) -> f64 {
    let buf: Vec<u8> = (0..LIMIT_BUFFER)
        .map(|i| (i * 31 % 251).to_le_bytes()[0])
        .collect();
    let calls_per_second = calls_per_second(duration, || {
        std::hint::black_box(blake3::hash(&buf));
    });
    calls_per_second * LIMIT_BUFFER as f64
}

/// How many times a second `f` runs, after 8 calls to warm caches and the CPU's clock.
fn calls_per_second(duration: Duration, mut f: impl FnMut()) -> f64 {
    for _ in 0..8 {
        f();
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < duration {
        f();
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// Chunks hashed per call by [`measure_limit_on`] (256 KiB, as [`measure_limit`]).
const LIMIT_CHUNKS: usize = LIMIT_BUFFER / blake3::CHUNK_LEN;

/// blake3's own chunk compressions a second on one thread, through its SIMD path for
/// the instruction set of `backend` (`None` where blake3 has none on this CPU): like
/// against like, so a kernel is judged against blake3 on the same registers.
///
/// This uses `blake3::platform`, which blake3 exports for benchmarks only (hidden and
/// unstable); `Cargo.lock` pins the version.
pub fn measure_limit_on(backend: Backend, duration: Duration) -> Option<f64> {
    use blake3::platform::Platform;
    let platform = match backend {
        Backend::Portable => Some(Platform::portable()),
        #[cfg(target_arch = "x86_64")]
        Backend::Sse41 => Platform::sse41(),
        #[cfg(target_arch = "x86_64")]
        Backend::Avx2 => Platform::avx2(),
        // Its 16-lane path is the one `detect` picks when the CPU has AVX-512.
        #[cfg(target_arch = "x86_64")]
        Backend::Avx512 => Some(Platform::detect()).filter(|p| p.simd_degree() == 16),
        #[cfg(not(target_arch = "x86_64"))]
        _ => None,
    }?;
    let chunks: Vec<[u8; blake3::CHUNK_LEN]> = (0..LIMIT_CHUNKS)
        .map(|c| std::array::from_fn(|i| ((c * 7 + i) * 31 % 251).to_le_bytes()[0]))
        .collect();
    let inputs: Vec<&[u8; blake3::CHUNK_LEN]> = chunks.iter().collect();
    let mut out = vec![0u8; blake3::OUT_LEN * LIMIT_CHUNKS];
    // blake3's chunk flags: CHUNK_START on the first block, CHUNK_END on the last.
    let calls_per_second = calls_per_second(duration, || {
        platform.hash_many(
            &inputs,
            &[0; 8],
            0,
            blake3::IncrementCounter::Yes,
            0,
            1,
            2,
            &mut out,
        );
        std::hint::black_box(&out);
    });
    let blocks_per_chunk = blake3::CHUNK_LEN / blake3::BLOCK_LEN;
    Some(calls_per_second * (LIMIT_CHUNKS * blocks_per_chunk) as f64)
}

/// One `blake3::hash` of `pre ‖ nonce` per attempt, one thread.
pub fn measure_naive(duration: Duration) -> f64 {
    let pre = Hash::digest(b"cairn naive bench");
    let target = Target(U256::ZERO);
    let start = Instant::now();
    let mut nonce = 0u64;
    let mut found = 0u64;
    while start.elapsed() < duration {
        for _ in 0..4096 {
            found += u64::from(target.is_met_by(&pow_hash(&pre, nonce)));
            nonce += 1;
        }
    }
    std::hint::black_box(found);
    nonce as f64 / start.elapsed().as_secs_f64()
}

/// The kernel's rate with `backend` on `threads` threads, searching for a target no
/// nonce meets (every candidate is checked in full and rejected).
pub fn measure_kernel(
    backend: Backend,
    threads: usize,
    duration: Duration,
) -> Result<f64, MinerError> {
    let miner = Miner::new(threads, backend)?;
    let template = Template {
        pre: Hash::digest(b"cairn kernel bench"),
        target: Target(U256::ZERO),
    };
    let cancel = AtomicBool::new(false);
    // Warm-up.
    let warm = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(100));
            warm.store(true, Ordering::Relaxed);
        });
        miner.search(&template, NonceRange::FULL, &warm, None);
    });
    let start = Instant::now();
    let result = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(duration);
            cancel.store(true, Ordering::Relaxed);
        });
        miner.search(
            &template,
            NonceRange {
                start: 1 << 40,
                end: u64::MAX,
            },
            &cancel,
            None,
        )
    });
    Ok(result.hashes as f64 / start.elapsed().as_secs_f64())
}

/// CPU model and the SIMD extensions that matter here.
pub fn cpu_info() -> (String, Vec<String>) {
    let text = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split(':').nth(1))
        })
        .map_or_else(|| "unknown".to_owned(), |m| m.trim().to_owned());
    let wanted = [
        "sse4_1", "ssse3", "avx", "avx2", "avx512f", "avx512vl", "avx512bw", "avx512dq",
    ];
    let flags = text
        .lines()
        .find_map(|l| l.strip_prefix("flags").and_then(|r| r.split(':').nth(1)))
        .map(|f| {
            f.split_whitespace()
                .filter(|x| wanted.contains(x))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    (model, flags)
}
