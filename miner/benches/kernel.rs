//! Kernel throughput per backend (one call = 1024 batches of 16 nonces, none winning),
//! next to the naive per-nonce blake3 loop and blake3's own 256 KiB throughput.
//!
//! `cargo bench -p cairn-miner --bench kernel`

use cairn_core::Hash;
use cairn_miner::kernel::{BATCH, Backend, Kernel, Midstate};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn kernels(c: &mut Criterion) {
    let pre = Hash::digest(b"criterion");
    let ms = Midstate::new(&pre);
    let batches = 1024u32;
    let mut g = c.benchmark_group("pow-kernel");
    g.throughput(Throughput::Elements(u64::from(batches) * BATCH));
    for b in Backend::ALL.into_iter().filter(|b| b.is_supported()) {
        let k = Kernel::new(b).expect("supported");
        let mut start = 0u64;
        g.bench_function(BenchmarkId::new("scan", b.name()), |bench| {
            bench.iter(|| {
                let r = k.scan(&ms, start, batches, 0);
                start += u64::from(batches) * BATCH;
                r
            })
        });
    }
    g.bench_function("naive-blake3-per-nonce", |bench| {
        let mut nonce = 0u64;
        bench.iter(|| {
            let mut acc = 0u8;
            for _ in 0..u64::from(batches) * BATCH {
                acc ^= cairn_core::pow::pow_hash(&pre, nonce).0[31];
                nonce += 1;
            }
            acc
        })
    });
    g.finish();

    let mut g = c.benchmark_group("blake3-limit");
    let buf = vec![0x5au8; 256 * 1024];
    g.throughput(Throughput::Bytes(buf.len() as u64));
    g.bench_function("hash-256KiB", |bench| bench.iter(|| blake3::hash(&buf)));
    g.finish();
}

criterion_group!(benches, kernels);
criterion_main!(benches);
