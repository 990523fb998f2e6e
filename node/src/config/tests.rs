use std::path::Path;

use cairn_config::settings::get;
use clap::{CommandFactory as _, Parser};

use super::*;

fn parse(text: &str) -> Result<Settings, ConfigError> {
    Settings::parse(Path::new("cairn.toml"), text)
}

/// A command line with the settings flattened, as `cairn-node` has it.
#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    settings: Settings,
}

/// The settings `args` give over `file`.
fn merged(file: &str, args: &[&str]) -> Settings {
    let matches = Cli::command()
        .try_get_matches_from(std::iter::once("cairn-node").chain(args.iter().copied()))
        .unwrap();
    let flags = Cli::from_arg_matches(&matches).unwrap().settings;
    merge(&parse(file).unwrap(), &flags, &matches).unwrap()
}

#[test]
fn defaults_are_the_declared_ones() {
    let d = Settings::default();
    assert!(!d.dev);
    assert_eq!(d.log_level, "info");
    assert_eq!(d.min_free_disk_mb, DEFAULT_MIN_FREE_DISK_MB);
    assert_eq!(d.rpc.listen.to_string(), "127.0.0.1:8645");
    assert!(d.rpc.enabled && d.p2p.enabled && !d.p2p.mdns);
    assert_eq!(d.rpc.allowed_hosts, ["localhost"]);
    assert_eq!(d.p2p.listen[0].to_string(), "/ip4/0.0.0.0/tcp/8646");
    assert_eq!(
        (
            d.p2p.max_inbound,
            d.p2p.max_inbound_per_ip,
            d.p2p.max_inbound_per_subnet
        ),
        (64, 4, 8)
    );
    assert_eq!((d.p2p.outbound, d.p2p.ban_seconds), (8, 86_400));
    assert_eq!((d.mining.enabled, d.mining.threads), (None, 0));
    assert_eq!((d.mempool.max_mb, d.mempool.min_fee), (64, 1_000));
    // An empty file is the defaults; the library's defaults are the same.
    assert_eq!(parse("").unwrap(), d);
    let net = crate::network::NetworkConfig::new(Path::new("x"));
    assert_eq!(net.max_inbound, 64);
    assert_eq!(net.listen, d.p2p.listen);
    // The environment does not leak into the defaults.
    assert_eq!(d.rpc.token, None);
}

#[test]
fn template_round_trips_to_the_defaults() {
    for dev in [false, true] {
        let text = template(dev);
        let file = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let defaults = Settings {
            dev,
            ..Settings::default()
        }
        .resolved();
        assert_eq!(file, defaults, "dev = {dev}");
        assert_eq!(file.mining.enabled, Some(dev));
        file.check(Path::new("x"), &text).unwrap();
        // --check-config's output parses back to the same settings.
        assert_eq!(parse(&file.to_toml()).unwrap(), file);
    }
}

#[test]
fn flags_override_the_file_and_the_rest_stays() {
    let file = "log_level = \"debug\"\n[p2p]\nmax_inbound = 5\noutbound = 3\n\
                [rpc]\nallowed_hosts = [\"node.lan\"]\n";
    let m = merged(file, &[]);
    assert_eq!((m.p2p.max_inbound, m.p2p.outbound), (5, 3));
    assert_eq!(m.log_level, "debug");
    let m = merged(
        file,
        &[
            "--max-inbound",
            "9",
            "--offline",
            "--no-rpc",
            "--rpc-allowed-origins",
            "https://wallet.example",
            "--min-free-disk-mb",
            "10",
        ],
    );
    assert_eq!(m.p2p.max_inbound, 9);
    assert_eq!(m.p2p.outbound, 3, "a flag left out does not override");
    assert_eq!(m.p2p.ban_seconds, 86_400);
    assert_eq!(m.log_level, "debug");
    assert!(!m.p2p.enabled && !m.rpc.enabled);
    assert_eq!(m.rpc.allowed_hosts, ["node.lan"]);
    assert_eq!(m.rpc.allowed_origins, ["https://wallet.example"]);
    assert_eq!(m.min_free_disk_mb, 10);
    // A flag set to the default still overrides the file.
    assert_eq!(merged(file, &["--max-inbound", "64"]).p2p.max_inbound, 64);
    // Lists: the flag's list replaces the file's.
    let m = merged(
        file,
        &[
            "--rpc-allowed-hosts",
            "a.lan,b.lan",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
        ],
    );
    assert_eq!(m.rpc.allowed_hosts, ["a.lan", "b.lan"]);
    assert_eq!(m.p2p.listen.len(), 1);
}

#[test]
fn mining_follows_dev_unless_set() {
    assert_eq!(merged("", &[]).resolved().mining.enabled, Some(false));
    assert_eq!(merged("", &["--dev"]).resolved().mining.enabled, Some(true));
    assert_eq!(
        merged("", &["--dev", "--no-mine"])
            .resolved()
            .mining
            .enabled,
        Some(false)
    );
    assert_eq!(merged("", &["--mine"]).mining.enabled, Some(true));
    let off = "dev = true\n[mining]\nenabled = false\n";
    assert_eq!(merged(off, &[]).resolved().mining.enabled, Some(false));
    assert_eq!(
        merged(off, &["--mine"]).resolved().mining.enabled,
        Some(true)
    );
    let on = "[mining]\nenabled = true\n";
    assert_eq!(merged(on, &["--no-mine"]).mining.enabled, Some(false));
    assert!(
        Cli::command()
            .try_get_matches_from(["cairn-node", "--mine", "--no-mine"])
            .is_err()
    );
}

#[test]
fn every_flag_has_a_key_and_every_key_a_flag() {
    let keys = flag_keys();
    let table = Settings::default().resolved().to_table();
    for (flag, key) in &keys {
        // Keys without a default are absent from the table; they are still keys.
        let none = [
            "genesis",
            "datadir",
            "rpc.token",
            "mining.coinbase",
            "mining.backend",
            "pool.address",
        ];
        assert!(
            get(&table, key).is_some() || none.contains(&key.as_str()),
            "--{flag}: {key} is not a key of cairn.toml"
        );
    }
    assert!(keys.contains(&("no-mine".into(), "mining.enabled".into())));
    assert!(keys.contains(&("offline".into(), "p2p.enabled".into())));
    assert!(keys.contains(&("bootnode".into(), "p2p.bootnodes".into())));
    assert!(keys.contains(&("no-compact-blocks".into(), "p2p.compact_blocks".into())));
    assert!(keys.contains(&("db-cache-mb".into(), "db_cache_mb".into())));
    assert_eq!(keys.len(), 41);
}

#[test]
fn bad_values_name_their_key() {
    let cases = [
        ("dev = \"yes\"\n", "dev", 1),
        ("min_free_disk_mb = -5\n", "min_free_disk_mb", 1),
        ("\n[rpc]\nlisten = \"localhost\"\n", "rpc.listen", 3),
        ("[rpc]\nenabled = 1\n", "rpc.enabled", 2),
        ("[p2p]\nlisten = [\"/ip9/x\"]\n", "p2p.listen", 2),
        (
            "[p2p]\nbootnodes = \"/ip4/1.2.3.4/tcp/1\"\n",
            "p2p.bootnodes",
            2,
        ),
        ("[p2p]\nmax_inbound = 1.5\n", "p2p.max_inbound", 2),
        (
            "[p2p]\nmax_inbound_per_ip = \"lots\"\n",
            "p2p.max_inbound_per_ip",
            2,
        ),
        (
            "[p2p]\nmax_inbound_per_subnet = -8\n",
            "p2p.max_inbound_per_subnet",
            2,
        ),
        ("[p2p]\noutbound = 99999999999\n", "p2p.outbound", 2),
        ("[p2p]\nban_seconds = true\n", "p2p.ban_seconds", 2),
        ("[p2p]\nmdns = \"no\"\n", "p2p.mdns", 2),
        ("[p2p]\ncompact_blocks = \"yes\"\n", "p2p.compact_blocks", 2),
        ("log_level = \"info\"\ndb_cache_mb = -8\n", "db_cache_mb", 2),
        (
            "log_level = \"info\"\ndb_write_buffer_mb = \"lots\"\n",
            "db_write_buffer_mb",
            2,
        ),
        (
            "[mining]\ncoinbase = \"cairn1nope\"\n",
            "mining.coinbase",
            2,
        ),
        ("[mining]\nbackend = \"gpu\"\n", "mining.backend", 2),
        ("[mining]\nthreads = -1\n", "mining.threads", 2),
        ("[mining]\nenabled = \"yes\"\n", "mining.enabled", 2),
        ("[mempool]\nmax_mb = \"big\"\n", "mempool.max_mb", 2),
        ("[mempool]\nmin_fee = -1\n", "mempool.min_fee", 2),
        (
            "[rpc]\nallowed_hosts = \"localhost\"\n",
            "rpc.allowed_hosts",
            2,
        ),
        ("[rpc]\nallowed_origins = true\n", "rpc.allowed_origins", 2),
        (
            "log_level = \"info\"\ndev_tx_rate = \"fast\"\n",
            "dev_tx_rate",
            2,
        ),
    ];
    for (text, key, line) in cases {
        let e = parse(text).expect_err(text);
        assert_eq!(e.key(), Some(key), "{text:?}: {e}");
        assert_eq!(e.line(), Some(line), "{text:?}: {e}");
        assert!(e.to_string().contains(&format!("`{key}`")), "{e}");
    }
}

#[test]
fn unknown_keys_are_refused() {
    for (text, name, line) in [
        ("colour = 1\n", "colour", 1),
        ("[rpc]\nport = 1\n", "port", 2),
        ("[p2p]\n\nbootnode = []\n", "bootnode", 3),
        ("[mining]\nenable = true\n", "enable", 2),
        // The flag-only `--no-mine` is no key.
        ("[mining]\nno_mine = true\n", "no_mine", 2),
        ("[wallet]\n", "wallet", 1),
        ("[dev]\nrate = 1\n", "dev", 1),
    ] {
        let e = parse(text).expect_err(text);
        assert!(e.to_string().contains(name), "{text:?}: {e}");
        assert_eq!(e.line(), Some(line), "{text:?}: {e}");
    }
}

#[test]
fn cross_key_rules_name_their_key() {
    for (text, key, line) in [
        ("dev = true\ngenesis = \"g.json\"\n", "genesis", 2),
        ("[p2p]\nenabled = false\nmdns = true\n", "p2p.enabled", 2),
        ("[mining]\nenabled = true\n", "mining.coinbase", 0),
        ("dev_tx_rate = 5\n", "dev_tx_rate", 1),
        ("[p2p]\nlisten = []\n", "p2p.listen", 2),
        (
            "[rpc]\nallowed_hosts = [\"localhost\", \"node.lan:8645\"]\n",
            "rpc.allowed_hosts",
            2,
        ),
        (
            "[rpc]\nallowed_origins = [\"wallet.example\"]\n",
            "rpc.allowed_origins",
            2,
        ),
    ] {
        let file = parse(text).unwrap().resolved();
        let e = file.check(Path::new("cairn.toml"), text).expect_err(text);
        assert_eq!(e.key(), Some(key), "{e}");
        assert_eq!(e.line(), (line > 0).then_some(line), "{e}");
    }
}

/// The pool's settings: off by default; on, it needs an address (off the dev
/// network), refuses difficulty bounds out of order, and reads its file keys.
#[test]
fn pool_settings_are_checked() {
    let off = Settings::default().pool;
    assert!(matches!(off.pool_config(None, false), Ok(None)));
    let mut on = off.clone();
    on.enabled = true;
    let e = on.pool_config(None, false).unwrap_err();
    assert!(e.contains("pool.address"), "{e}");
    assert!(
        on.pool_config(None, true).unwrap().is_some(),
        "dev: account 0"
    );
    let mut bad = on.clone();
    bad.min_difficulty = 1 << 30; // above the start difficulty
    let e = bad.pool_config(None, true).unwrap_err();
    assert!(e.contains("min"), "{e}");
    let s = parse("[pool]\nenabled = true\nfee_ppm = 10000\nlog_windows = 8\n").unwrap();
    assert!(s.pool.enabled);
    assert_eq!((s.pool.fee_ppm, s.pool.log_windows), (10_000, 8));
    let e = parse("[pool]\nfee_ppm = \"lots\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("fee_ppm"), "{e}");
    let e = parse("[pool]\nwindow = 3\n").unwrap_err().to_string();
    assert!(e.contains("window"), "{e}");
}
