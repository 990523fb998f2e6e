//! JSON-RPC throughput next to a trivial axum handler, and `tx_send` ingest next to
//! single-threaded signature verification, measured in one run.
//!
//! `cargo bench -p cairn-tests --bench rpc` (after `--`: seconds per measurement,
//! default 5). The load generator is in this process: 32 keep-alive HTTP/1.1
//! connections, each sending one request after the other. The same generator drives
//! the node's RPC (`state_getAccount`, `chain_getInfo`) and an axum server whose one
//! handler returns a constant JSON-RPC answer, so the ratio isolates what the node
//! adds: parsing, dispatch, a blocking-pool hop and the lookup.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cairn_core::genesis::dev_keys;
use cairn_core::{Amount, Encode, Transaction, Transfer};
use cairn_tests::{NodeOptions, TestNode, test_params};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CONNECTIONS: usize = 32;

fn main() {
    let secs: f64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5.0);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(Duration::from_secs_f64(secs)));
}

fn request(body: &str) -> Vec<u8> {
    format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Sends `req` and reads one response on a keep-alive connection; returns the body.
async fn round_trip(stream: &mut TcpStream, req: &[u8], buf: &mut Vec<u8>) -> Vec<u8> {
    stream.write_all(req).await.unwrap();
    buf.clear();
    let mut chunk = [0u8; 8192];
    loop {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed");
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(buf);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            if body.len() >= len {
                return body.as_bytes()[..len].to_vec();
            }
        }
    }
}

/// Requests per second over `CONNECTIONS` connections for `time`.
async fn load(addr: SocketAddr, body: &str, time: Duration) -> f64 {
    let req = Arc::new(request(body));
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let (req, done, stop) = (req.clone(), done.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.set_nodelay(true).unwrap();
            let mut buf = Vec::new();
            // Check the answer once: it must be a result, not an error.
            let first = round_trip(&mut s, &req, &mut buf).await;
            assert!(String::from_utf8_lossy(&first).contains("\"result\""));
            while !stop.load(Ordering::Relaxed) {
                round_trip(&mut s, &req, &mut buf).await;
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await; // warm up
    let start = (Instant::now(), done.load(Ordering::Relaxed));
    tokio::time::sleep(time).await;
    let n = done.load(Ordering::Relaxed) - start.1;
    let rate = n as f64 / start.0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    rate
}

async fn trivial_server() -> SocketAddr {
    let app = axum::Router::new().route(
        "/",
        axum::routing::post(|| async {
            (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                r#"{"jsonrpc":"2.0","id":1,"result":{}}"#,
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

async fn run(time: Duration) {
    let params = test_params();
    let node = TestNode::start(&params, NodeOptions::default()).await;
    let trivial = trivial_server().await;
    let account = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"state_getAccount","params":["{}"]}}"#,
        dev_keys()[0].address()
    );
    let info = r#"{"jsonrpc":"2.0","id":1,"method":"chain_getInfo"}"#;
    let baseline = load(trivial, info, time).await;
    let account_rate = load(node.rpc_addr, &account, time).await;
    let info_rate = load(node.rpc_addr, info, time).await;

    let (ingest, verify_rate) = tx_send_rate(&params, node.rpc_addr).await;
    // The same on a node without networking: no gossip relay (no signing of each
    // published transfer by the node key).
    let dir = tempfile::tempdir().unwrap();
    let offline = cairn_node::Service::start(cairn_node::ServiceConfig {
        node: cairn_node::NodeConfig {
            params: params.clone(),
            datadir: dir.path().to_path_buf(),
            mempool: cairn_node::mempool::MempoolConfig::default(),
            min_free_disk: cairn_node::NodeConfig::DEFAULT_MIN_FREE_DISK,
            store: cairn_node::store::StoreConfig::default(),
        },
        network: None,
        sync: cairn_node::sync::SyncConfig::default(),
        mining: None,
        pool: None,
        rpc: Some(cairn_node::rpc::RpcConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            token: Some("t".into()),
            ..cairn_node::rpc::RpcConfig::new(dir.path())
        }),
    })
    .await
    .unwrap();
    let (offline_ingest, _) = tx_send_rate(&params, offline.rpc_addr().unwrap()).await;
    offline.stop().await;
    println!(
        "{{\"connections\": {CONNECTIONS}, \"trivial_axum_rps\": {baseline:.0}, \"state_getAccount_rps\": {account_rate:.0}, \"chain_getInfo_rps\": {info_rate:.0}, \"account_over_trivial\": {:.3}, \"info_over_trivial\": {:.3}, \"tx_send_per_second\": {ingest:.0}, \"verify_per_second_1_thread\": {verify_rate:.0}, \"ingest_over_verify\": {:.3}, \"offline_tx_send_per_second\": {offline_ingest:.0}, \"offline_ingest_over_verify\": {:.3}}}",
        account_rate / baseline,
        info_rate / baseline,
        ingest / verify_rate,
        offline_ingest / verify_rate
    );
}

/// `tx_send` ingest at `addr` (10 senders × 3 000 transfers, one connection per
/// sender so nonces arrive in order) and single-thread verification of the same
/// transfers.
async fn tx_send_rate(params: &cairn_core::ChainParams, addr: SocketAddr) -> (f64, f64) {
    let per_sender = 3_000u64;
    let chain_id = params.chain_id();
    let network = params.network_id();
    let to = dev_keys()[9].address();
    let txs: Vec<Vec<Transfer>> = (0..10)
        .map(|s| {
            (0..per_sender)
                .map(|n| {
                    Transfer::new_signed(
                        &dev_keys()[s],
                        network,
                        chain_id,
                        to,
                        Amount(1),
                        Amount(2_000),
                        n,
                    )
                })
                .collect()
        })
        .collect();
    let start = Instant::now();
    for t in txs.iter().flatten() {
        assert!(t.verify_signature(&network).is_ok());
    }
    let verify_rate = (10 * per_sender) as f64 / start.elapsed().as_secs_f64();
    let start = Instant::now();
    let tasks: Vec<_> = txs
        .into_iter()
        .map(|list| {
            tokio::spawn(async move {
                let mut s = TcpStream::connect(addr).await.unwrap();
                s.set_nodelay(true).unwrap();
                let mut buf = Vec::new();
                for t in list {
                    let hex = hex::encode(Transaction::Transfer(t).to_bytes());
                    let body = format!(
                        r#"{{"jsonrpc":"2.0","id":1,"method":"tx_send","params":["{hex}"]}}"#
                    );
                    let r = round_trip(&mut s, &request(&body), &mut buf).await;
                    assert!(
                        String::from_utf8_lossy(&r).contains("\"result\""),
                        "{}",
                        String::from_utf8_lossy(&r)
                    );
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    (
        (10 * per_sender) as f64 / start.elapsed().as_secs_f64(),
        verify_rate,
    )
}
