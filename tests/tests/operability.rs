//! What an operator touches: `cairn.toml` (written by `init`, overridden by flags,
//! errors that name key and line), `/metrics`, `node_getStorageInfo`, and the
//! free-disk-space floor.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use cairn_core::genesis::dev_keys;
use cairn_node::config::{Settings, template};
use cairn_tests::{
    NodeOptions, TestNode, binary, eventually_async, http_get, mine_on, num, rpc, test_params,
};

fn run(bin: &str, args: &[&str]) -> Output {
    Command::new(binary(bin))
        .args(args)
        .env("HOME", "/nonexistent-home")
        .env_remove("CAIRN_RPC_TOKEN")
        .env_remove("CAIRN_RPC")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `--check-config` prints the merged settings as a `cairn.toml`.
fn effective(datadir: &Path, flags: &[&str]) -> Settings {
    let mut args = vec!["--datadir", s(datadir), "--check-config"];
    args.extend_from_slice(flags);
    let o = run("cairn-node", &args);
    assert!(o.status.success(), "{}", text(&o));
    Settings::parse(
        Path::new("check-config"),
        &String::from_utf8_lossy(&o.stdout),
    )
    .unwrap()
}

#[test]
fn init_writes_a_file_that_round_trips_and_flags_override_it() {
    for dev in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let datadir = dir.path().join("node");
        let mut args = vec!["init", "--datadir", s(&datadir)];
        if dev {
            args.push("--dev");
        }
        let o = run("cairn-node", &args);
        assert!(o.status.success(), "{}", text(&o));
        let written = std::fs::read_to_string(datadir.join("cairn.toml")).unwrap();
        assert_eq!(written, template(dev));
        // The file changes nothing: the settings in effect are the defaults.
        let defaults = Settings {
            dev,
            ..Settings::default()
        }
        .resolved();
        assert_eq!(effective(&datadir, &[]), defaults);
        // A second init refuses to overwrite.
        let again = run("cairn-node", &args);
        assert!(!again.status.success());
        assert!(text(&again).contains("exists"), "{}", text(&again));
    }

    // An edited file is read; a flag overrides its key; the rest stay.
    let dir = tempfile::tempdir().unwrap();
    let datadir = dir.path();
    let edited = template(false)
        .replace("max_inbound = 64", "max_inbound = 7")
        .replace("outbound = 8", "outbound = 3")
        .replace("min_fee = 1000", "min_fee = 2500");
    std::fs::write(datadir.join("cairn.toml"), edited).unwrap();
    let file_only = effective(datadir, &[]);
    assert_eq!(file_only.p2p.max_inbound, 7);
    assert_eq!(file_only.mempool.min_fee, 2_500);
    let flagged = effective(datadir, &["--max-inbound", "9", "--offline", "--no-rpc"]);
    assert_eq!(flagged.p2p.max_inbound, 9);
    assert_eq!(flagged.p2p.outbound, 3);
    assert!(!flagged.p2p.enabled);
    assert!(!flagged.rpc.enabled);
    assert_eq!(flagged.mempool.min_fee, 2_500);

    // --config names a file anywhere, which may also move the data directory.
    let elsewhere = dir.path().join("elsewhere.toml");
    std::fs::write(
        &elsewhere,
        "datadir = \"/tmp/somewhere\"\n[p2p]\noutbound = 2\n",
    )
    .unwrap();
    let o = run("cairn-node", &["--config", s(&elsewhere), "--check-config"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("# data directory: /tmp/somewhere"),
        "{}",
        text(&o)
    );
    assert!(text(&o).contains("outbound = 2"), "{}", text(&o));
}

#[test]
fn bad_config_files_name_the_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cairn.toml");
    for (body, expected) in [
        (
            "[p2p]\nmax_inbound = \"lots\"\n",
            ":2: key `p2p.max_inbound`",
        ),
        (
            "\n\n[rpc]\nlisten = \"localhost\"\n",
            ":4: key `rpc.listen`",
        ),
        ("[mining]\nbackend = \"gpu\"\n", ":2: key `mining.backend`"),
        (
            "[mining]\ncoinbase = \"cairn1xyz\"\n",
            ":2: key `mining.coinbase`",
        ),
        (
            "[p2p]\nbootnodes = [\"/dns9/x\"]\n",
            ":2: key `p2p.bootnodes`",
        ),
        ("[p2p]\nmax_inbund = 3\n", ":2:"),
        ("dev = true\ngenesis = \"x.json\"\n", ":2: key `genesis`"),
        ("[mining]\nenabled = true\n", "key `mining.coinbase`"),
        ("[p2p\n", ":1:"),
    ] {
        std::fs::write(&path, body).unwrap();
        let o = run(
            "cairn-node",
            &["--datadir", s(dir.path()), "--check-config"],
        );
        assert_eq!(o.status.code(), Some(2), "{body:?}: {}", text(&o));
        let out = text(&o);
        assert!(
            out.contains(&format!("{}{expected}", path.display())) || out.contains(expected),
            "{body:?}: {out}"
        );
        assert!(out.starts_with("error: "), "{out}");
    }
    // A file given with --config must exist.
    let o = run("cairn-node", &["--config", "/nonexistent/cairn.toml"]);
    assert!(
        text(&o).contains("cannot read /nonexistent/cairn.toml"),
        "{}",
        text(&o)
    );
    // A cairn.toml inside a data directory cannot move it.
    std::fs::write(&path, "datadir = \"/tmp/x\"\n").unwrap();
    let o = run(
        "cairn-node",
        &["--datadir", s(dir.path()), "--check-config"],
    );
    assert!(text(&o).contains(":1: key `datadir`"), "{}", text(&o));
}

#[test]
fn miner_and_wallet_files_are_checked_and_overridden() {
    let dir = tempfile::tempdir().unwrap();
    // Each binary writes a commented file that it then reads without complaint.
    let miner_toml = dir.path().join("miner.toml");
    let o = run("cairn-miner", &["--config", s(&miner_toml), "init"]);
    assert!(o.status.success(), "{}", text(&o));
    let wallet_dir = dir.path().join("wallet");
    let o = run(
        "cairn-wallet",
        &["--wallet-dir", s(&wallet_dir), "init-config"],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(wallet_dir.join("wallet.toml").exists());

    // A bad value names its key and line.
    std::fs::write(
        &miner_toml,
        "rpc = \"http://127.0.0.1:1\"\nthreads = \"all\"\n",
    )
    .unwrap();
    let o = run("cairn-miner", &["--config", s(&miner_toml)]);
    assert!(
        text(&o).contains("miner.toml:2: key `threads`"),
        "{}",
        text(&o)
    );
    std::fs::write(&miner_toml, "coinbase = \"nope\"\n").unwrap();
    let o = run("cairn-miner", &["--config", s(&miner_toml)]);
    assert!(
        text(&o).contains("miner.toml:1: key `coinbase`"),
        "{}",
        text(&o)
    );
    std::fs::write(wallet_dir.join("wallet.toml"), "rpc = 5\n").unwrap();
    let o = run("cairn-wallet", &["--wallet-dir", s(&wallet_dir), "balance"]);
    assert!(
        text(&o).contains("wallet.toml:1: key `rpc`"),
        "{}",
        text(&o)
    );
    std::fs::write(wallet_dir.join("wallet.toml"), "node = \"x\"\n").unwrap();
    let o = run("cairn-wallet", &["--wallet-dir", s(&wallet_dir), "balance"]);
    assert!(text(&o).contains("unknown field `node`"), "{}", text(&o));

    // The file's rpc is used, and --rpc overrides it (the error names the URL).
    std::fs::write(
        wallet_dir.join("wallet.toml"),
        "rpc = \"http://127.0.0.1:9\"\n",
    )
    .unwrap();
    let address = dev_keys()[0].address().to_string();
    let o = run("cairn-miner", &["--config", s(&miner_toml)]);
    assert!(!o.status.success());
    std::fs::write(
        &miner_toml,
        format!("rpc = \"http://127.0.0.1:9\"\ncoinbase = \"{address}\"\nthreads = 1\n"),
    )
    .unwrap();
    // No TLS in the miner: an https URL is refused up front, with what to do.
    let o = run(
        "cairn-miner",
        &["--rpc", "https://node.example:8645", "--coinbase", &address],
    );
    assert!(text(&o).contains("plain http://"), "{}", text(&o));
    let o = run(
        "cairn-wallet",
        &[
            "--wallet-dir",
            s(&wallet_dir),
            "--rpc",
            "https://node.example",
            "balance",
        ],
    );
    assert!(text(&o).contains("plain http://"), "{}", text(&o));
    // A well-formed id (the wallet checks it before it calls the node).
    let txid = "0".repeat(64);
    let o = run(
        "cairn-wallet",
        &[
            "--wallet-dir",
            s(&wallet_dir),
            "--json",
            "tx",
            txid.as_str(),
        ],
    );
    assert!(text(&o).contains("127.0.0.1:9"), "{}", text(&o));
    let o = run(
        "cairn-wallet",
        &[
            "--wallet-dir",
            s(&wallet_dir),
            "--rpc",
            "http://127.0.0.1:7",
            "tx",
            txid.as_str(),
        ],
    );
    assert!(text(&o).contains("127.0.0.1:7"), "{}", text(&o));
}

#[test]
fn completions_for_every_binary() {
    for bin in ["cairn-node", "cairn-miner", "cairn-wallet"] {
        for shell in ["bash", "zsh", "fish"] {
            let o = run(bin, &["completions", shell]);
            assert!(o.status.success(), "{bin} {shell}: {}", text(&o));
            let script = String::from_utf8_lossy(&o.stdout);
            assert!(script.contains(bin), "{bin} {shell}");
        }
    }
}

fn scrape(body: &str) -> prometheus_parse::Scrape {
    // Every sample line is `name{labels} value`; the parser skips what it cannot
    // read, so check the shape first.
    for line in body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (_, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        assert!(value.parse::<f64>().is_ok(), "bad sample line {line:?}");
    }
    assert!(body.ends_with("# EOF\n"), "OpenMetrics ends with # EOF");
    prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).unwrap()
}

fn value(scrape: &prometheus_parse::Scrape, name: &str, label: Option<(&str, &str)>) -> f64 {
    let sample = scrape
        .samples
        .iter()
        .find(|s| s.metric == name && label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
        .unwrap_or_else(|| panic!("no {name} {label:?}"));
    match &sample.value {
        prometheus_parse::Value::Counter(v)
        | prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Untyped(v) => *v,
        other => panic!("{name}: {other:?}"),
    }
}

/// Blocks counted by the import-time histogram (its +Inf bucket).
fn import_count(scrape: &prometheus_parse::Scrape) -> f64 {
    let sample = scrape
        .samples
        .iter()
        .find(|s| s.metric == "cairn_block_import_seconds")
        .expect("import histogram");
    match &sample.value {
        prometheus_parse::Value::Histogram(h) => h.last().map_or(0.0, |c| c.count),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_and_move_when_blocks_are_mined() {
    let a = TestNode::start(&test_params(), NodeOptions::default()).await;
    let b = TestNode::start(&test_params(), NodeOptions::boot(&a.addr)).await;
    let miner = dev_keys()[9].address();
    let (status, headers, body) = http_get(a.rpc_addr, "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        headers.contains("content-type: application/openmetrics-text"),
        "{headers}"
    );
    let before = scrape(&body);
    assert_eq!(value(&before, "cairn_chain_height", None), 0.0);
    let imports_before = import_count(&before);

    // b hears of blocks over gossip once the gossipsub mesh has formed (a heartbeat
    // after connecting); until then it may fetch them by sync instead. Mine at least
    // 3 blocks, and more until b has received one over gossip.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut mined = 0u32;
    let after_b = loop {
        let n = a.node().clone();
        tokio::task::spawn_blocking(move || mine_on(&n, miner))
            .await
            .unwrap();
        mined += 1;
        let caught_up = eventually_async(Duration::from_secs(10), || async {
            let (_, _, body) = http_get(b.rpc_addr, "/metrics").await;
            value(&scrape(&body), "cairn_chain_height", None) == f64::from(mined)
        })
        .await;
        assert!(caught_up, "b did not reach height {mined}");
        let (_, _, body) = http_get(b.rpc_addr, "/metrics").await;
        let m = scrape(&body);
        if mined >= 3 && value(&m, "cairn_gossip_messages_received_total", None) >= 1.0 {
            break m;
        }
        assert!(
            Instant::now() < deadline,
            "b received no gossip after {mined} blocks:\n{body}"
        );
    };
    assert_eq!(
        value(&after_b, "cairn_peers", Some(("direction", "outbound"))),
        1.0
    );

    let (_, _, body) = http_get(a.rpc_addr, "/metrics").await;
    let after = scrape(&body);
    assert_eq!(value(&after, "cairn_chain_height", None), f64::from(mined));
    assert_eq!(
        value(&after, "cairn_peers", Some(("direction", "inbound"))),
        1.0
    );
    assert!(value(&after, "cairn_gossip_messages_published_total", None) >= 1.0);
    assert!(value(&after, "cairn_chain_difficulty", None) > 0.0);
    assert!(value(&after, "cairn_storage_bytes", Some(("column", "bodies"))) > 0.0);
    assert!(value(&after, "cairn_disk_free_bytes", None) > 0.0);
    assert_eq!(value(&after, "cairn_sync_progress_ratio", None), 1.0);
    let imports = import_count(&after);
    assert_eq!(imports, imports_before + f64::from(mined), "{body}");

    // A remote worker's accepted and refused submissions are counted per worker.
    let work = rpc(
        a.rpc_addr,
        "mining_getWork",
        serde_json::json!({"coinbase": miner.to_string(), "worker": "rig-7"}),
    )
    .await
    .unwrap();
    let refused = rpc(
        a.rpc_addr,
        "mining_submitWork",
        serde_json::json!({"workId": work["workId"], "nonce": "1", "worker": "rig-7"}),
    )
    .await;
    assert!(refused.is_err());
    let (_, _, body) = http_get(a.rpc_addr, "/metrics").await;
    let m = scrape(&body);
    assert_eq!(
        value(
            &m,
            "cairn_mining_worker_accepted_total",
            Some(("worker", "rig-7"))
        ),
        0.0
    );
    let rejected: f64 = m
        .samples
        .iter()
        .filter(|s| {
            s.metric == "cairn_mining_worker_rejected_total"
                && s.labels.get("worker") == Some("rig-7")
        })
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum();
    assert_eq!(rejected, 1.0, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_info_counts_blocks_accounts_and_bytes() {
    let a = TestNode::start(&test_params(), NodeOptions::default()).await;
    let n = a.node().clone();
    let fresh = cairn_core::SecretKey::from_seed(&[42; 32]).address();
    tokio::task::spawn_blocking(move || {
        mine_on(&n, dev_keys()[9].address());
        let tx = cairn_tests::dev_transfer(&n, 0, fresh, 5_000);
        n.submit_transfer(tx).unwrap();
        mine_on(&n, dev_keys()[9].address());
    })
    .await
    .unwrap();
    let info = rpc(a.rpc_addr, "node_getStorageInfo", serde_json::json!([]))
        .await
        .unwrap();
    assert_eq!(info["blocks"], "3");
    assert_eq!(info["headers"], "3");
    // Ten dev accounts (one of them the miner) and the fresh recipient.
    assert_eq!(info["accounts"], "11", "{info}");
    let columns = info["columns"].as_array().unwrap();
    let names: Vec<&str> = columns
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for cf in ["headers", "bodies", "accounts", "undo", "tx_index"] {
        assert!(names.contains(&cf), "{names:?}");
    }
    let sum: u64 = columns
        .iter()
        .map(|c| num(&c["sstBytes"]) + num(&c["memtableBytes"]))
        .sum();
    assert_eq!(num(&info["totalBytes"]), sum);
    assert!(num(&info["freeBytes"]) > num(&info["minFreeBytes"]));
    // It takes no parameters: any is a typed error, and the answer is unchanged.
    for bad in [serde_json::json!([1]), serde_json::json!({"column": "x"})] {
        let e = rpc(a.rpc_addr, "node_getStorageInfo", bad)
            .await
            .unwrap_err();
        assert_eq!(e["code"], -32602, "{e}");
    }
    let again = rpc(a.rpc_addr, "node_getStorageInfo", serde_json::json!([]))
        .await
        .unwrap();
    assert_eq!(
        (again["blocks"].clone(), again["accounts"].clone()),
        (info["blocks"].clone(), info["accounts"].clone())
    );
}

#[test]
fn a_node_refuses_to_start_on_a_nearly_full_disk() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(
        "cairn-node",
        &[
            "--dev",
            "--datadir",
            s(dir.path()),
            "--offline",
            "--no-rpc",
            "--min-free-disk-mb",
            "999999999",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("disk nearly full"), "{out}");
    assert!(out.contains("min_free_disk_mb"), "{out}");
    // Nothing was written: no database.
    assert!(!dir.path().join("db").exists());
}

/// A running node whose disk fills up stops cleanly and restarts on a consistent
/// tip once there is room. Needs a small tmpfs (root); skipped without it.
#[test]
fn a_running_node_stops_cleanly_when_the_disk_fills_up() {
    let dir = tempfile::tempdir().unwrap();
    let mount = dir.path();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256m", "cairn-test", s(mount)])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|st| st.success());
    if !mounted {
        eprintln!("skipping: cannot mount a tmpfs here (needs root)");
        return;
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(mount);
    let datadir = mount.join("node");
    let args = [
        "--dev".to_string(),
        "--datadir".into(),
        s(&datadir).into(),
        "--offline".into(),
        "--no-rpc".into(),
        "--mine-threads".into(),
        "1".into(),
        "--min-free-disk-mb".into(),
        "100".into(),
    ];
    let mut node = cairn_tests::NodeProcess::spawn(&args);
    let height = node
        .wait_for(Duration::from_secs(60), cairn_tests::tip_height_in)
        .expect("a block is mined");
    assert!(height >= 1);
    // Fill the disk to below the floor.
    let free = rustix_free(mount);
    let filler = mount.join("filler");
    let fill = free.saturating_sub(60 * 1024 * 1024);
    std::fs::write(&filler, vec![0u8; usize::try_from(fill).unwrap()]).unwrap();
    let line = node
        .wait_for(Duration::from_secs(30), |l| {
            l.contains("disk nearly full").then(|| l.to_string())
        })
        .expect("the node notices the full disk");
    assert!(line.contains("min_free_disk_mb"), "{line}");
    let status = node.wait_exit(Duration::from_secs(30));
    assert_eq!(status.code(), Some(2), "a disk-full stop is an error exit");

    // Still full: refuses to start.
    let o = run(
        "cairn-node",
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert!(text(&o).contains("disk nearly full"), "{}", text(&o));
    // With room again it reopens on a consistent tip at least as high.
    std::fs::remove_file(&filler).unwrap();
    let node = cairn_tests::NodeProcess::spawn(&args);
    let reopened = node
        .wait_for(Duration::from_secs(60), |l| {
            l.contains("chain loaded")
                .then(|| cairn_tests::field_in(l, "height"))?
        })
        .expect("the node reopens");
    assert!(reopened >= height, "{reopened} < {height}");
    node.kill();
}

fn rustix_free(path: &Path) -> u64 {
    cairn_node::disk::free_bytes(path).unwrap()
}
