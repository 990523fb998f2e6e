//! RPC read latency on an idle node and on a node importing full blocks back to back,
//! measured in one run.
//!
//! `cargo bench -p cairn-tests --bench read_latency --profile dev` (after `--`: number
//! of full blocks, default 30; `--rounds N` repeats the import phase on fresh
//! nodes). Two probe threads, each on its own keep-alive HTTP/1.1 connection from a
//! plain OS thread (so the probe itself never waits for the node's runtime), send
//! `state_getAccount` and `chain_getInfo` one after the other, a request every
//! millisecond, and record each round trip. Phase one: the node is idle. Phase two:
//! a thread imports full 1 MB blocks (about 6 900 signed transfers each) through
//! `Node::submit_block` as they would arrive from a peer, back to back, while the
//! probes run. Reported per method and phase: p50, p99, p99.9 and max.
//!
//! `--mine NICE` adds the load of mining on every core through both phases: the
//! node's own kernel and thread pool searching a target no hash meets, its threads at
//! nice `NICE` (the built-in miner uses 19; 0 shows mining at normal priority), so
//! the import rate and the latencies can be compared with mining off.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cairn_core::genesis::dev_keys;
use cairn_core::testkit::full_blocks;
use cairn_core::{Hash, Target};
use cairn_miner::{Backend, Miner, NonceRange, Template};
use cairn_node::BlockSource;
use cairn_tests::{NodeOptions, TestNode, test_params};

/// Pause between two requests of one probe.
const PACE: Duration = Duration::from_millis(1);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rounds: usize = args
        .iter()
        .position(|a| a == "--rounds")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(1);
    let mine: Option<i32> = args
        .iter()
        .position(|a| a == "--mine")
        .and_then(|i| args.get(i + 1)?.parse().ok());
    // The block count: the first argument that is no option's value.
    let blocks: usize = args
        .iter()
        .enumerate()
        .find(|(i, a)| {
            !a.starts_with('-')
                && !matches!(
                    args.get(i.wrapping_sub(1)).map(String::as_str),
                    Some("--rounds" | "--mine")
                )
        })
        .and_then(|(_, a)| a.parse().ok())
        .unwrap_or(30);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let load = mine.map(|nice| mining_load(nice, stop.clone()));
    let started = Instant::now();
    runtime.block_on(run(blocks, rounds));
    stop.store(true, Ordering::Relaxed);
    if let Some(load) = load {
        let hashes = load.join().unwrap();
        println!(
            "mining load: {:.2} M hashes/s on average over the run",
            hashes as f64 / started.elapsed().as_secs_f64() / 1e6
        );
    }
}

/// Mines on every core at nice `nice`, with the node's kernel, on a target no hash
/// meets, until `stop`; returns the hashes done.
fn mining_load(nice: i32, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let miner = Miner::new(0, Backend::detect()).unwrap();
        miner.on_each_thread(|| {
            let _ = cairn_node::priority::lower_current_thread(nice);
        });
        let template = Template {
            pre: Hash::digest(b"mining load"),
            target: Target(Default::default()),
        };
        let hashes = AtomicU64::new(0);
        let mut start = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let range = NonceRange {
                start,
                end: start + (1 << 24),
            };
            miner.search(&template, range, &stop, Some(&hashes));
            start += 1 << 24;
        }
        hashes.load(Ordering::Relaxed)
    })
}

fn request(body: &str) -> Vec<u8> {
    format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// One request and its whole answer on a keep-alive connection.
fn round_trip(stream: &mut TcpStream, req: &[u8], buf: &mut Vec<u8>) {
    stream.write_all(req).unwrap();
    buf.clear();
    let mut chunk = [0u8; 8192];
    loop {
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "connection closed");
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]);
        let len: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        if buf.len() >= end + 4 + len {
            let body = &buf[end + 4..end + 4 + len];
            assert!(
                body.windows(8).any(|w| w == b"\"result\""),
                "not a result: {}",
                String::from_utf8_lossy(body)
            );
            return;
        }
    }
}

/// Probes `addr` with `body` until `stop`; returns the round trips in microseconds.
fn probe(addr: SocketAddr, body: String, stop: Arc<AtomicBool>) -> Vec<u64> {
    let req = request(&body);
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    let mut buf = Vec::new();
    round_trip(&mut s, &req, &mut buf); // warm the connection
    let mut samples = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let start = Instant::now();
        round_trip(&mut s, &req, &mut buf);
        samples.push(u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX));
        std::thread::sleep(PACE);
    }
    samples
}

#[derive(Debug, Clone, Copy)]
struct Summary {
    n: usize,
    p50: f64,
    p99: f64,
    p999: f64,
    max: f64,
}

/// Nearest-rank percentiles (rounded up), in milliseconds.
fn summarise(mut v: Vec<u64>) -> Summary {
    v.sort_unstable();
    // Ranks in parts per thousand, so the index is integer arithmetic.
    let rank = |per_mille: usize| {
        let i = (per_mille * v.len()).div_ceil(1000).clamp(1, v.len()) - 1;
        v[i] as f64 / 1000.0
    };

    Summary {
        n: v.len(),
        p50: rank(500),
        p99: rank(990),
        p999: rank(999),
        max: rank(1000),
    }
}

/// Runs both probes while `work` runs (or for `idle` if there is no work).
fn measure(
    addr: SocketAddr,
    bodies: &[String; 2],
    idle: Duration,
    work: Option<Box<dyn FnOnce() + Send>>,
) -> [Vec<u64>; 2] {
    let stop = Arc::new(AtomicBool::new(false));
    let probes: Vec<_> = bodies
        .iter()
        .map(|b| {
            let (b, stop) = (b.clone(), stop.clone());
            std::thread::spawn(move || probe(addr, b, stop))
        })
        .collect();
    match work {
        Some(work) => work(),
        None => std::thread::sleep(idle),
    }
    stop.store(true, Ordering::Relaxed);
    let mut out = probes.into_iter().map(|p| p.join().unwrap());
    [out.next().unwrap(), out.next().unwrap()]
}

async fn run(n: usize, rounds: usize) {
    let params = test_params();
    eprintln!("building {n} full blocks...");
    let blocks = full_blocks(&params, n);
    let txs: usize = blocks.iter().map(|b| b.txs.len() - 1).sum();
    let bodies = [
        format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"state_getAccount","params":["{}"]}}"#,
            dev_keys()[0].address()
        ),
        r#"{"jsonrpc":"2.0","id":1,"method":"chain_getInfo"}"#.to_owned(),
    ];
    let names = ["state_getAccount", "chain_getInfo"];
    let mut idle: [Vec<u64>; 2] = Default::default();
    let mut busy: [Vec<u64>; 2] = Default::default();
    let mut import_secs = 0.0;
    for round in 0..rounds {
        let node = TestNode::start(&params, NodeOptions::default()).await;
        let addr = node.rpc_addr;
        // Idle: as long as the import will take (about 0.2 s a block), at least 3 s.
        let idle_time = Duration::from_millis((200 * n as u64).max(3_000));
        let [a, b] = tokio::task::block_in_place(|| measure(addr, &bodies, idle_time, None));
        idle[0].extend(a);
        idle[1].extend(b);
        let handle = node.node().clone();
        let to_import = blocks.clone();
        let started = Instant::now();
        let [a, b] = tokio::task::block_in_place(|| {
            measure(
                addr,
                &bodies,
                idle_time,
                Some(Box::new(move || {
                    for block in to_import {
                        handle
                            .submit_block(block, BlockSource::Peer("bench".into()))
                            .unwrap();
                    }
                })),
            )
        });
        import_secs += started.elapsed().as_secs_f64();
        busy[0].extend(a);
        busy[1].extend(b);
        assert_eq!(node.tip().height, blocks.len() as u64);
        eprintln!("round {} of {rounds} done", round + 1);
        drop(node);
    }
    let blocks_per_second = (n * rounds) as f64 / import_secs;
    println!(
        "import: {} blocks ({} transfers) a round, {rounds} round(s), {blocks_per_second:.2} blocks/s while probed",
        blocks.len(),
        txs
    );
    println!("| method | node | samples | p50 | p99 | p99.9 | max |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    let mut json = Vec::new();
    for (i, name) in names.iter().enumerate() {
        for (phase, samples) in [("idle", &idle[i]), ("importing", &busy[i])] {
            let s = summarise(samples.clone());
            println!(
                "| `{name}` | {phase} | {} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms |",
                s.n, s.p50, s.p99, s.p999, s.max
            );
            json.push(format!(
                "\"{name}_{phase}\": {{\"n\": {}, \"p50_ms\": {:.3}, \"p99_ms\": {:.3}, \"p999_ms\": {:.3}, \"max_ms\": {:.3}}}",
                s.n, s.p50, s.p99, s.p999, s.max
            ));
        }
    }
    println!(
        "{{\"blocks_per_second\": {blocks_per_second:.3}, {}}}",
        json.join(", ")
    );
}
