//! Web pages the operator visits must not reach the RPC port (`node/src/rpc/access.rs`):
//! a foreign `Host` (DNS rebinding: a name the attacker points at 127.0.0.1) is
//! refused on every route, and a foreign `Origin` (a page on another site opening
//! `ws://127.0.0.1:8645/ws`, or posting a form to it) on every request that carries
//! one. Each refusal is a 403 with a short plain reason that changes nothing (a
//! transfer posted with a foreign Host or Origin is not admitted). IP literals,
//! `localhost`, requests without an Origin (wallets, miners, curl) and the node's own
//! explorer origin are served; `rpc.allowed_hosts` / `rpc.allowed_origins`
//! (`--rpc-allowed-hosts` / `--rpc-allowed-origins`) add others.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use cairn_core::{Encode, Transaction};
use cairn_tests::{
    NodeOptions, NodeProcess, RPC_TOKEN, TestNode, Ws, fixed_transfer, free_port, test_params,
    ws_call,
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const PROMPT: Duration = Duration::from_secs(5);
const EVIL_ORIGIN: &str = "http://evil.example";
const CHAIN_GET_INFO: &str = r#"{"jsonrpc":"2.0","id":1,"method":"chain_getInfo"}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_host_is_refused_on_every_route_and_changes_nothing() {
    let params = test_params();
    let node = TestNode::start(&params, NodeOptions::default()).await;
    let addr = node.rpc_addr;
    let port = addr.port();
    let tx = fixed_transfer(&params, 1, 0);
    let send = tx_send_body(&tx);
    let evil = format!("evil.example:{port}");
    // Names that are not localhost, whatever they look like.
    for host in [
        evil.as_str(),
        "evil.example",
        &format!("localhost.evil.example:{port}"),
        &format!("127.0.0.1.nip.io:{port}"),
        &format!("EVIL.example:{port}"),
    ] {
        let (status, body) = request(addr, "POST", "/", host, "", send.as_bytes()).await;
        assert_forbidden(status, &body, &format!("POST / tx_send with Host {host}"));
    }
    // Every route of the port, each with the token where it matters.
    let upgrade = "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    for (method, path, extra) in [
        ("GET", "/", ""),
        ("GET", "/app.js", ""),
        ("GET", "/style.css", ""),
        ("GET", "/metrics", ""),
        ("GET", &format!("/ws?token={RPC_TOKEN}"), upgrade),
        ("GET", "/nothing-here", ""),
    ] {
        let (status, body) = request(addr, method, path, &evil, extra, b"").await;
        assert_forbidden(status, &body, &format!("{method} {path} with Host {evil}"));
    }
    // DNS rebinding on the WebSocket: the page's own origin, but a name for a host.
    let rebound = format!("{upgrade}Origin: http://{evil}\r\n");
    let (status, body) = request(addr, "GET", "/ws", &evil, &rebound, b"").await;
    assert_forbidden(status, &body, "a rebound /ws upgrade");
    assert!(
        !node.mempool_has(&tx.id()),
        "a tx_send with a foreign Host was admitted"
    );
    assert_eq!(node.tip().height, 0);

    // Localhost and IP literals, with or without the port, are served.
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("LocalHost:{port}"),
        format!("[::1]:{port}"),
        "127.0.0.1".to_string(),
        "localhost".to_string(),
        format!("192.0.2.7:{port}"),
    ] {
        let (status, body) = request(addr, "POST", "/", &host, "", CHAIN_GET_INFO.as_bytes()).await;
        assert_eq!(status, 200, "Host {host}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["result"]["height"], "0", "Host {host}: {body}");
        for path in ["/", "/app.js", "/metrics"] {
            let (status, body) = request(addr, "GET", path, &host, "", b"").await;
            assert_eq!(status, 200, "GET {path} with Host {host}: {body}");
        }
    }
    // The control: the same transfer with a local Host is admitted.
    let host = format!("localhost:{port}");
    let (status, body) = request(addr, "POST", "/", &host, "", send.as_bytes()).await;
    assert_eq!(status, 200, "{body}");
    assert!(node.mempool_has(&tx.id()), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_origin_is_refused_and_the_nodes_own_is_served() {
    let params = test_params();
    let node = TestNode::start(&params, NodeOptions::default()).await;
    let addr = node.rpc_addr;
    let port = addr.port();

    // Cross-site WebSocket hijacking: a real handshake from another site's page, with
    // the token in the URL (the page could have learnt it) and a local Host.
    let refused_origins = [
        EVIL_ORIGIN.to_string(),
        format!("http://evil.example:{port}"),
        "https://evil.example".to_string(),
        "null".to_string(),
        // Another local server, or another machine on our port.
        "http://localhost:3000".to_string(),
        format!("http://127.0.0.1:{}", port.wrapping_add(1)),
        format!("http://203.0.113.5:{port}"),
        format!("http://localhost.evil.example:{port}"),
        "not an origin".to_string(),
    ];
    for origin in &refused_origins {
        let url = format!("ws://{addr}/ws?token={RPC_TOKEN}");
        match ws_connect(&url, Some(origin)).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 403, "Origin {origin}");
                let body =
                    String::from_utf8_lossy(response.body().as_deref().unwrap_or(b"")).into_owned();
                assert_forbidden(403, &body, &format!("/ws with Origin {origin}"));
            }
            Err(e) => panic!("Origin {origin}: the upgrade failed otherwise: {e}"),
            Ok(_) => panic!("Origin {origin}: the WebSocket upgrade was accepted"),
        }
    }
    // Cross-site POSTs (a form or a no-cors fetch): refused before anything runs.
    let tx = fixed_transfer(&params, 1, 0);
    let send = tx_send_body(&tx);
    let generate = json!({"jsonrpc": "2.0", "id": 1, "method": "node_generate",
        "params": [1, cairn_core::genesis::dev_keys()[9].address().to_string()]})
    .to_string();
    let host = addr.to_string();
    for origin in &refused_origins {
        let headers = format!("Origin: {origin}\r\nAuthorization: Bearer {RPC_TOKEN}\r\n");
        for body in [&send, &generate] {
            let (status, reply) =
                request(addr, "POST", "/", &host, &headers, body.as_bytes()).await;
            assert_forbidden(status, &reply, &format!("POST with Origin {origin}"));
        }
        let (status, reply) = request(addr, "GET", "/metrics", &host, &headers, b"").await;
        assert_forbidden(
            status,
            &reply,
            &format!("GET /metrics with Origin {origin}"),
        );
    }
    assert!(
        !node.mempool_has(&tx.id()),
        "a cross-site tx_send was admitted"
    );
    assert_eq!(node.tip().height, 0, "a cross-site node_generate mined");

    // No Origin (wallets, miners, curl): served, subscriptions too.
    let mut ws = ws_connect(&format!("ws://{addr}/ws"), None).await.unwrap();
    let reply = ws_call(
        &mut ws,
        r#"{"jsonrpc":"2.0","id":2,"method":"subscribe","params":["newHeads"]}"#,
        PROMPT,
    )
    .await;
    assert!(reply["result"].is_string(), "{reply}");
    // The explorer's own origin, as the browser sends it, and the node's address in its
    // localhost and IP forms.
    for origin in [
        format!("http://{addr}"),
        format!("http://localhost:{port}"),
        format!("http://[::1]:{port}"),
        format!("HTTP://LOCALHOST:{port}"),
    ] {
        let mut ws = ws_connect(&format!("ws://{addr}/ws"), Some(&origin))
            .await
            .unwrap_or_else(|e| panic!("Origin {origin}: {e}"));
        let reply = ws_call(&mut ws, CHAIN_GET_INFO, PROMPT).await;
        assert_eq!(reply["result"]["height"], "0", "Origin {origin}: {reply}");
        let headers = format!("Origin: {origin}\r\n");
        let (status, reply) = request(
            addr,
            "POST",
            "/",
            &host,
            &headers,
            CHAIN_GET_INFO.as_bytes(),
        )
        .await;
        assert_eq!(status, 200, "POST with Origin {origin}: {reply}");
    }
    // Same origin under another local name: the page at http://localhost:PORT posts to
    // its own host.
    let local = format!("localhost:{port}");
    let headers = format!("Origin: http://{local}\r\n");
    let (status, reply) = request(addr, "POST", "/", &local, &headers, send.as_bytes()).await;
    assert_eq!(status, 200, "{reply}");
    assert!(node.mempool_has(&tx.id()), "{reply}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_hosts_and_origins_are_served() {
    let params = test_params();
    let options = NodeOptions {
        rpc_allowed_hosts: Some(vec!["node.example".into(), "localhost".into()]),
        rpc_allowed_origins: Some(vec!["https://wallet.example".into()]),
        ..NodeOptions::default()
    };
    let node = TestNode::start(&params, options).await;
    let addr = node.rpc_addr;
    let port = addr.port();
    for host in [
        format!("node.example:{port}"),
        "NODE.example".into(),
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
    ] {
        let (status, body) = request(addr, "POST", "/", &host, "", CHAIN_GET_INFO.as_bytes()).await;
        assert_eq!(status, 200, "Host {host}: {body}");
    }
    for host in [format!("evil.example:{port}"), "sub.node.example".into()] {
        let (status, body) = request(addr, "POST", "/", &host, "", CHAIN_GET_INFO.as_bytes()).await;
        assert_forbidden(status, &body, &format!("Host {host}"));
    }
    let mut ws = ws_connect(&format!("ws://{addr}/ws"), Some("https://wallet.example"))
        .await
        .unwrap();
    assert_eq!(
        ws_call(&mut ws, CHAIN_GET_INFO, PROMPT).await["result"]["height"],
        "0"
    );
    // The explorer's own origin still works beside the configured one.
    let own = format!("http://node.example:{port}");
    let headers = format!("Origin: {own}\r\n");
    let host = format!("node.example:{port}");
    let (status, body) = request(
        addr,
        "POST",
        "/",
        &host,
        &headers,
        CHAIN_GET_INFO.as_bytes(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    for origin in [
        EVIL_ORIGIN,
        "http://wallet.example",
        "https://wallet.example:444",
    ] {
        let r = ws_connect(&format!("ws://{addr}/ws"), Some(origin)).await;
        assert!(
            matches!(&r, Err(tokio_tungstenite::tungstenite::Error::Http(resp)) if resp.status() == 403),
            "Origin {origin}: {:?}",
            r.as_ref().map(|_| ()).map_err(ToString::to_string)
        );
    }

    // "*" lets any name and any site in (insecure, for nodes behind a proxy that checks).
    let open = TestNode::start(
        &params,
        NodeOptions {
            rpc_allowed_hosts: Some(vec!["*".into()]),
            rpc_allowed_origins: Some(vec!["*".into()]),
            ..NodeOptions::default()
        },
    )
    .await;
    let addr = open.rpc_addr;
    let headers = format!("Origin: {EVIL_ORIGIN}\r\n");
    let (status, body) = request(
        addr,
        "POST",
        "/",
        "evil.example",
        &headers,
        CHAIN_GET_INFO.as_bytes(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let mut ws = ws_connect(&format!("ws://{addr}/ws"), Some(EVIL_ORIGIN))
        .await
        .unwrap();
    assert_eq!(
        ws_call(&mut ws, CHAIN_GET_INFO, PROMPT).await["result"]["height"],
        "0"
    );
}

/// The binary takes both lists from its flags and from cairn.toml.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_binary_takes_the_lists_from_flags_and_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("cairn.toml"),
        "[rpc]\nallowed_origins = [\"https://wallet.example\"]\n",
    )
    .unwrap();
    let port = free_port();
    let node = NodeProcess::spawn(&[
        "--dev".into(),
        "--offline".into(),
        "--no-mine".into(),
        "--datadir".into(),
        dir.path().display().to_string(),
        "--rpc-listen".into(),
        format!("127.0.0.1:{port}"),
        "--rpc-allowed-hosts".into(),
        "node.example,localhost".into(),
    ]);
    assert!(
        node.wait_for(Duration::from_secs(30), |l| l
            .contains("JSON-RPC on")
            .then_some(()))
            .is_some(),
        "the node did not start its RPC"
    );
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let (status, body) = request(
        addr,
        "POST",
        "/",
        "node.example",
        "Origin: https://wallet.example\r\n",
        CHAIN_GET_INFO.as_bytes(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = request(
        addr,
        "POST",
        "/",
        "evil.example",
        "",
        CHAIN_GET_INFO.as_bytes(),
    )
    .await;
    assert_forbidden(status, &body, "Host evil.example on the binary");
    let (status, body) = request(
        addr,
        "POST",
        "/",
        "node.example",
        &format!("Origin: {EVIL_ORIGIN}\r\n"),
        CHAIN_GET_INFO.as_bytes(),
    )
    .await;
    assert_forbidden(status, &body, "Origin evil.example on the binary");
    node.kill();
}

// Helpers.

fn tx_send_body(tx: &cairn_core::Transfer) -> String {
    let hex = hex::encode(Transaction::Transfer(tx.clone()).to_bytes());
    json!({"jsonrpc": "2.0", "id": 1, "method": "tx_send", "params": [hex]}).to_string()
}

/// A refusal: 403 with a short plain-text reason that names the setting to change.
fn assert_forbidden(status: u16, body: &str, context: &str) {
    assert_eq!(status, 403, "{context}: {body}");
    assert!(
        body.len() < 300 && body.contains("rpc.allowed_"),
        "{context}: the reason should be short and name the setting: {body:?}"
    );
}

/// One HTTP/1.1 request with `Host: host` and the `extra` header lines: the status and
/// the body, within [`PROMPT`].
async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    host: &str,
    extra: &str,
    body: &[u8],
) -> (u16, String) {
    let io = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let length = if method == "POST" {
            format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            )
        } else {
            String::new()
        };
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{extra}{length}Connection: close\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let _ = stream.write_all(body).await;
        let mut raw = Vec::new();
        // A refused upgrade is answered and closed; an accepted one would stay open.
        let _ = tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut raw)).await;
        raw
    };
    let raw = tokio::time::timeout(PROMPT, io)
        .await
        .expect("an answer in time");
    let text = String::from_utf8_lossy(&raw);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_string())
}

async fn ws_connect(
    url: &str,
    origin: Option<&str>,
) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let mut request = url.into_client_request().unwrap();
    if let Some(o) = origin {
        request.headers_mut().insert("origin", o.parse().unwrap());
    }
    tokio::time::timeout(PROMPT, tokio_tungstenite::connect_async(request))
        .await
        .expect("the handshake in time")
        .map(|(ws, _)| ws)
}
