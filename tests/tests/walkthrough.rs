//! The README's three-terminal walkthrough, with the real binaries: a dev node that
//! does not mine, a remote `cairn-miner`, and `cairn-wallet` paying a new wallet from
//! the (public) dev mnemonic.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use cairn_core::genesis::DEV_MNEMONIC;
use cairn_tests::{ChildGuard, binary, http_post};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wallet(dir: &std::path::Path, url: &str, args: &[&str]) -> Output {
    let o = Command::new(binary("cairn-wallet"))
        .args(["--wallet-dir", dir.to_str().unwrap(), "--rpc", url])
        .args(args)
        .env("CAIRN_WALLET_PASSWORD", "walkthrough password")
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "cairn-wallet {args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_wallet_and_remote_miner_in_three_processes() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");

    // Terminal 1: the node.
    let _node = ChildGuard(
        Command::new(binary("cairn-node"))
            .args(["--dev", "--no-mine", "--datadir"])
            .arg(dir.path().join("node"))
            .args(["--rpc-listen", &format!("127.0.0.1:{port}")])
            .args(["--listen", "/ip4/127.0.0.1/tcp/0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let start = Instant::now();
    loop {
        if std::net::TcpStream::connect(addr).is_ok() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the node's RPC did not come up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The explorer the README points at is on the same port.
    let (status, _, page) = cairn_tests::http_get(addr, "/").await;
    assert_eq!(status, 200);
    assert!(page.contains("<script src=\"/app.js\""), "{page}");

    // Terminal 2: wallets.
    let (dev_dir, my_dir) = (dir.path().join("dev-wallet"), dir.path().join("my-wallet"));
    let phrase = dir.path().join("phrase");
    std::fs::write(&phrase, DEV_MNEMONIC).unwrap();
    let url2 = url.clone();
    let (dev_dir2, my_dir2) = (dev_dir.clone(), my_dir.clone());
    let mine: String = tokio::task::spawn_blocking(move || {
        wallet(
            &dev_dir2,
            &url2,
            &["restore", "--mnemonic-file", phrase.to_str().unwrap()],
        );
        let o = wallet(&my_dir2, &url2, &["new"]);
        let text = String::from_utf8_lossy(&o.stdout).to_string();
        text.lines()
            .find_map(|l| l.strip_prefix("Address:").map(|a| a.trim().to_string()))
            .unwrap()
    })
    .await
    .unwrap();

    // Terminal 3: the miner, paying the new wallet.
    let _miner = ChildGuard(
        Command::new(binary("cairn-miner"))
            .args([
                "--rpc",
                &url,
                "--coinbase",
                &mine,
                "--worker",
                "rig-1",
                "--threads",
                "1",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    // Back in terminal 2: pay the new wallet 25 coins and wait for a confirmation.
    let url2 = url.clone();
    let to = mine.clone();
    let out = tokio::task::spawn_blocking(move || {
        wallet(
            &dev_dir,
            &url2,
            &[
                "send",
                "--to",
                &to,
                "--amount",
                "25",
                "--wait",
                "1",
                "--timeout",
                "120",
            ],
        );
        wallet(&my_dir, &url2, &["--json", "balance"])
    })
    .await
    .unwrap();
    let bal: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let balance: u64 = bal["balance"].as_str().unwrap().parse().unwrap();
    let immature: u64 = bal["immature"].as_str().unwrap().parse().unwrap();
    // 25 coins received, plus whatever the miner earned for it (spendable or, for the
    // newest blocks, still maturing).
    assert!(balance >= 25 * cairn_core::COIN, "{bal}");
    assert!(
        balance + immature > 25 * cairn_core::COIN,
        "the remote miner earned nothing: {bal}"
    );
    let body = br#"{"jsonrpc":"2.0","id":1,"method":"mining_getInfo"}"#;
    let (_, info) = http_post(addr, body, None).await;
    let info = info.unwrap();
    assert_eq!(info["result"]["workers"][0]["name"], "rig-1", "{info}");

    // Admin methods: refused without the token, served with the cookie's.
    let generate =
        format!(r#"{{"jsonrpc":"2.0","id":1,"method":"node_generate","params":[1,"{mine}"]}}"#);
    let (_, r) = http_post(addr, generate.as_bytes(), None).await;
    assert_eq!(r.unwrap()["error"]["code"], -32020);
    let cookie = std::fs::read_to_string(dir.path().join("node").join(".cookie")).unwrap();
    assert_eq!(cookie.len(), 64, "a 256-bit token");
    let (_, r) = http_post(addr, generate.as_bytes(), Some(&cookie)).await;
    assert_eq!(r.unwrap()["result"].as_array().unwrap().len(), 1);
}
