//! Share checks on one core, the way the pool's endpoint does them: parse the
//! `mining.submit` line (JSON), look the job up, check the nonce's range, refuse a
//! duplicate, and hash the nonce once (one blake3 compression) against the share
//! target. The store write of an accepted share is not included (see BENCHMARKS.md).
//!
//! `cargo bench -p cairn-stratum --bench shares`

use std::collections::{HashMap, HashSet};
use std::hint::black_box;

use cairn_core::Hash;
use cairn_core::pow::pow_hash;
use cairn_stratum::messages::{NonceSpan, Request, ShareTarget, parse_request};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn share_checks(c: &mut Criterion) {
    let pre = Hash::digest(b"a job's header");
    let span = NonceSpan::for_extranonce(7);
    let jobs: HashMap<u64, (Hash, ShareTarget)> = (1..=16)
        .map(|id| (id, (pre, ShareTarget::from_difficulty(1 << 20))))
        .collect();
    let lines: Vec<Vec<u8>> = (0..4_096u64)
        .map(|i| {
            format!(
                "{{\"jsonrpc\":\"2.0\",\"id\":{i},\"method\":\"mining.submit\",\"params\":{{\"jobId\":\"{}\",\"nonce\":\"{}\"}}}}",
                16 - i % 4,
                span.start + i * 7_919
            )
            .into_bytes()
        })
        .collect();
    let mut g = c.benchmark_group("share-check");
    g.throughput(Throughput::Elements(lines.len() as u64));
    g.bench_function("parse+check, 4096 submits", |b| {
        b.iter(|| {
            let mut seen: HashSet<(u64, u64)> = HashSet::with_capacity(lines.len());
            let mut shares = 0u32;
            for line in &lines {
                let Ok((_, Request::Submit(p))) = parse_request(line) else {
                    continue;
                };
                let Some((pre, target)) = jobs.get(&p.job_id) else {
                    continue;
                };
                if !span.contains(p.nonce) || !seen.insert((p.job_id, p.nonce)) {
                    continue;
                }
                if target.is_met_by(&pow_hash(pre, p.nonce)) {
                    shares += 1;
                }
            }
            black_box(shares)
        })
    });
    g.bench_function("parse only, 4096 submits", |b| {
        b.iter(|| {
            for line in &lines {
                black_box(parse_request(line).is_ok());
            }
        })
    });
    g.bench_function("pow only, 4096 nonces", |b| {
        b.iter(|| {
            for i in 0..4_096u64 {
                black_box(pow_hash(&pre, span.start + i));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, share_checks);
criterion_main!(benches);
