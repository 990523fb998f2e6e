//! A WebSocket subscriber that stops reading must not hold the node's memory
//! (`node/src/rpc/ws.rs`): the server drops it once a write has waited
//! `ws_write_timeout`, what waits for it is bounded in bytes, and the node's tip events
//! carry headers, not blocks, so a subscriber that falls behind keeps no blocks alive.
//!
//! This test binary counts the Rust heap (a counting wrapper around the system
//! allocator), so the blocks a stalled subscriber keeps alive are measured exactly,
//! apart from RocksDB's memtables (C++, not counted), which grow with every block
//! written and dominate the RSS.
#![allow(clippy::unwrap_used)]
// The counting allocator: the system allocator plus one counter.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cairn_core::genesis::dev_keys;
use cairn_core::{Amount, Encode, Transfer};
use cairn_tests::{NodeOptions, TestNode, env_u64, num, rpc, rss_bytes, test_params};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Bytes of Rust heap in use by this process.
static LIVE: AtomicUsize = AtomicUsize::new(0);

struct Counting;

// SAFETY: every call goes to `System` unchanged; only the counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_add(new_size, Ordering::Relaxed);
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Longest any answer may take.
const PROMPT: Duration = Duration::from_secs(5);

/// A `newHeads` subscriber that stops reading (a raw socket with a small receive
/// buffer: the WebSocket handshake, [`SUBSCRIPTIONS`] subscriptions, then not one byte
/// read) while [`EMPTY_BLOCKS`] empty blocks fill its pipe (socket buffers and the
/// server's queue) and then [`full_blocks`] full blocks (1 MB, ~6 900 signed transfers
/// each) are imported as from a syncing peer. The server must close the connection
/// within [`WS_WRITE_TIMEOUT`] of the stall; over the full blocks the Rust heap must
/// grow by less than [`MAX_HEAP_GROWTH`] (each block kept alive for the subscriber is
/// ~1.1 MB of it) and the RSS by less than [`max_rss_growth`] (RocksDB's memtables,
/// ~2 MB a block here, are most of it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_subscriber_is_dropped_and_pins_no_blocks() {
    let params = test_params();
    let node = TestNode::start(&params, NodeOptions::default()).await;
    let addr = node.rpc_addr;
    let mut blocks = FullBlocks::new(&params);
    import_as_from_peer(&node, blocks.funding());

    // The subscriber: subscribes, reads the answers, then never reads again.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut client = socket.connect(addr).await.unwrap();
    let local_port = client.local_addr().unwrap().port();
    let handshake = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    client.write_all(handshake.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        client.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    for i in 0..SUBSCRIPTIONS {
        let request =
            json!({"jsonrpc": "2.0", "id": i, "method": "subscribe", "params": ["newHeads"]});
        client
            .write_all(&masked_text_frame(request.to_string().as_bytes()))
            .await
            .unwrap();
    }
    for _ in 0..SUBSCRIPTIONS {
        let answer: Value = serde_json::from_slice(&read_frame(&mut client).await).unwrap();
        assert!(answer["result"].is_string(), "{answer}");
    }
    assert_eq!(
        server_side_state(addr.port(), local_port).as_deref(),
        Some(TCP_ESTABLISHED)
    );

    // Headers until the pipe is full: the subscriber has stalled the server's writes.
    let started = Instant::now();
    for _ in 0..EMPTY_BLOCKS {
        import_as_from_peer(&node, blocks.empty());
    }
    eprintln!(
        "{EMPTY_BLOCKS} empty blocks built and imported in {:.1?}",
        started.elapsed()
    );
    let stalled = Instant::now();
    // When the server closes its side, seen from the kernel's table.
    let watch = tokio::spawn(async move {
        while server_side_state(addr.port(), local_port).as_deref() == Some(TCP_ESTABLISHED) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        stalled.elapsed()
    });

    let full_blocks = full_blocks();
    // The notifications of the empty blocks reach the server's queue.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (rss_before, heap_before) = (rss_bytes(), live_heap());
    let started = Instant::now();
    let n = node.node().clone();
    let built = tokio::task::spawn_blocking(move || {
        for _ in 0..full_blocks {
            let block = blocks.full();
            assert!(
                block.encoded_len() > 990_000,
                "{} bytes",
                block.encoded_len()
            );
            n.submit_block(block, cairn_node::BlockSource::Peer("full".into()))
                .expect("a valid full block");
        }
        blocks
    });
    let _blocks: FullBlocks = built.await.unwrap();
    let (rss_after, heap_after) = (rss_bytes(), live_heap());
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    eprintln!(
        "{full_blocks} full blocks built and imported in {:.1?}; RSS {:.1} -> {:.1} MiB, \
         Rust heap {:.1} -> {:.1} MiB",
        started.elapsed(),
        mib(rss_before),
        mib(rss_after),
        mib(heap_before),
        mib(heap_after)
    );
    assert_eq!(node.tip().height, 1 + EMPTY_BLOCKS + full_blocks);
    let mut failures = Vec::new();
    if heap_after.saturating_sub(heap_before) >= MAX_HEAP_GROWTH {
        failures.push(format!(
            "the Rust heap grew from {:.1} to {:.1} MiB over {full_blocks} full blocks with a \
             stalled subscriber (bound: {:.1} MiB): the blocks are kept alive for it",
            mib(heap_before),
            mib(heap_after),
            mib(MAX_HEAP_GROWTH)
        ));
    }
    if rss_after.saturating_sub(rss_before) >= max_rss_growth(full_blocks) {
        failures.push(format!(
            "RSS grew from {:.1} to {:.1} MiB over {full_blocks} full blocks (bound: {:.1} MiB)",
            mib(rss_before),
            mib(rss_after),
            mib(max_rss_growth(full_blocks))
        ));
    }
    let deadline = WS_WRITE_TIMEOUT + Duration::from_secs(3);
    match tokio::time::timeout(deadline.saturating_sub(stalled.elapsed()), watch).await {
        Ok(closed_after) => {
            let closed_after = closed_after.unwrap();
            eprintln!(
                "the server closed the stalled connection {closed_after:.1?} after the stall"
            );
            // The client sees the end of the stream once it drains what was in flight.
            let mut drained = 0usize;
            let mut buf = vec![0u8; 64 * 1024];
            let end = tokio::time::timeout(PROMPT, async {
                loop {
                    match client.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => drained += n,
                    }
                }
            })
            .await;
            eprintln!("the client drained {drained} bytes, then the end of the stream");
            if end.is_err() {
                failures.push(format!("no end of stream after {drained} bytes"));
            }
        }
        Err(_) => failures.push(format!(
            "the server kept the stalled subscriber's connection open {:.1?} after the \
             stall (write timeout: {WS_WRITE_TIMEOUT:?})",
            stalled.elapsed()
        )),
    }
    assert!(failures.is_empty(), "{}", failures.join("; "));
    // The node serves on.
    let info = rpc(addr, "chain_getInfo", json!([])).await.unwrap();
    assert_eq!(num(&info["height"]), 1 + EMPTY_BLOCKS + full_blocks);
}

// Helpers.

/// How long the server waits for a WebSocket write (`RpcConfig::ws_write_timeout`).
const WS_WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Subscriptions on the stalled connection (the most one connection may have).
const SUBSCRIPTIONS: u64 = 16;
/// Empty blocks imported first: 16 000 notifications, ~7 MB, more than the socket
/// buffers (~3 MB here) and the server's queue hold.
const EMPTY_BLOCKS: u64 = 1_000;
/// Full blocks imported past the stall; `CAIRN_STALL_FULL_BLOCKS` sets it (each costs
/// ~0.5 s of signing and verifying on two cores).
fn full_blocks() -> u64 {
    env_u64("CAIRN_STALL_FULL_BLOCKS", 15)
}
/// Rust heap growth tolerated over the full blocks: less than four of them.
const MAX_HEAP_GROWTH: u64 = 4 * 1024 * 1024;
/// RSS growth tolerated over `n` full blocks: RocksDB's memtables take ~2 MB a block
/// (up to their 64 MB flush size per column family), plus 32 MiB of slack.
fn max_rss_growth(n: u64) -> u64 {
    (3 * n + 32) * 1024 * 1024
}

/// The Rust heap in use, in bytes.
fn live_heap() -> u64 {
    LIVE.load(Ordering::Relaxed) as u64
}
const TCP_ESTABLISHED: &str = "01";

/// Imports `block` as a syncing peer's (so the relay does not gossip it).
fn import_as_from_peer(node: &TestNode, block: cairn_core::Block) {
    node.node()
        .submit_block(block, cairn_node::BlockSource::Peer("test".into()))
        .expect("a valid block");
}

/// The state (hex, as in /proc/net/tcp) of the server's side of the loopback
/// connection between `server_port` and `client_port`; None once it is gone.
fn server_side_state(server_port: u16, client_port: u16) -> Option<String> {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp (Linux)");
    let local = format!(":{server_port:04X}");
    let remote = format!(":{client_port:04X}");
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        (f.len() > 3 && f[1].ends_with(&local) && f[2].ends_with(&remote)).then(|| f[3].to_string())
    })
}

/// A client text frame (clients must mask; an all-zero key leaves the bytes as they are).
fn masked_text_frame(payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x81];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | u8::try_from(n).unwrap()),
        n => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&u16::try_from(n).unwrap().to_be_bytes());
        }
    }
    frame.extend_from_slice(&[0; 4]);
    frame.extend_from_slice(payload);
    frame
}

/// One (unmasked, unfragmented) server frame's payload.
async fn read_frame(s: &mut tokio::net::TcpStream) -> Vec<u8> {
    let mut head = [0u8; 2];
    s.read_exact(&mut head).await.unwrap();
    let len = match head[1] & 0x7f {
        126 => {
            let mut l = [0u8; 2];
            s.read_exact(&mut l).await.unwrap();
            u64::from(u16::from_be_bytes(l))
        }
        127 => {
            let mut l = [0u8; 8];
            s.read_exact(&mut l).await.unwrap();
            u64::from_be_bytes(l)
        }
        n => u64::from(n),
    };
    let mut payload = vec![0u8; usize::try_from(len).unwrap()];
    s.read_exact(&mut payload).await.unwrap();
    payload
}

/// Blocks on `test_params()` built one at a time (only headers are kept): a funding
/// block for [`LOAD_ACCOUNTS`](cairn_core::testkit::LOAD_ACCOUNTS) accounts, then empty
/// or full ones.
struct FullBlocks {
    builder: cairn_core::testkit::ChainBuilder,
    keys: Vec<cairn_core::SecretKey>,
    nonces: Vec<u64>,
    next_sender: usize,
}

impl FullBlocks {
    fn new(params: &cairn_core::ChainParams) -> FullBlocks {
        let keys = (0..cairn_core::testkit::LOAD_ACCOUNTS as u64)
            .map(|i| cairn_core::SecretKey::from_seed(blake3::hash(&i.to_le_bytes()).as_bytes()))
            .collect::<Vec<_>>();
        FullBlocks {
            builder: cairn_core::testkit::ChainBuilder::new(params.clone()),
            nonces: vec![0; keys.len()],
            keys,
            next_sender: 0,
        }
    }

    /// Builds a block of `transfers` on the tip and keeps only its header.
    fn next(&mut self, transfers: Vec<Transfer>) -> cairn_core::Block {
        let block = self.builder.build(transfers, 1_000);
        self.builder.blocks.push(cairn_core::Block {
            header: block.header,
            txs: Vec::new(),
        });
        block
    }

    fn funding(&mut self) -> cairn_core::Block {
        let chain_id = self.builder.params.chain_id();
        let network = self.builder.params.network_id();
        let txs = self
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                Transfer::new_signed(
                    &dev_keys()[i % 10],
                    network,
                    chain_id,
                    k.address(),
                    Amount(100_000_000_000),
                    Amount(1_000),
                    (i / 10) as u64,
                )
            })
            .collect();
        self.next(txs)
    }

    fn empty(&mut self) -> cairn_core::Block {
        self.next(Vec::new())
    }

    /// A block filled to `max_block_bytes` with transfers between the funded accounts
    /// (signed on two threads).
    fn full(&mut self) -> cairn_core::Block {
        let params = &self.builder.params;
        let per_block = (params.max_block_bytes() - 96 - 4 - 41) / 145;
        let n = self.keys.len();
        let plan: Vec<(usize, usize, u64)> = (0..per_block)
            .map(|j| {
                let s = self.next_sender % n;
                self.next_sender += 1;
                self.nonces[s] += 1;
                (s, (s * 7 + j) % n, self.nonces[s] - 1)
            })
            .collect();
        let chain_id = params.chain_id();
        let network = params.network_id();
        let keys = &self.keys;
        let sign = |part: &[(usize, usize, u64)]| -> Vec<Transfer> {
            part.iter()
                .map(|&(s, r, nonce)| {
                    Transfer::new_signed(
                        &keys[s],
                        network,
                        chain_id,
                        keys[r].address(),
                        Amount(1_000 + nonce),
                        Amount(1_000),
                        nonce,
                    )
                })
                .collect()
        };
        let (a, b) = plan.split_at(plan.len() / 2);
        let txs = std::thread::scope(|scope| {
            let first = scope.spawn(|| sign(a));
            let mut second = sign(b);
            let mut txs = first.join().unwrap();
            txs.append(&mut second);
            txs
        });
        self.next(txs)
    }
}
