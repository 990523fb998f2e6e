//! Eclipse resistance on real network stacks: twenty sybil identities from one /24 try
//! to take a victim's connection slots, while an honest node sits in another /16.
//! Every host is its own network namespace with its own address ([`Lab`]), so the
//! victim sees the real source addresses.
//!
//! The sybils are ordinary `cairn-node` processes (peer ids cost nothing, so twenty
//! identities are twenty processes); each dials the victim and a seed node. The victim
//! and the honest node know only the seed (in a /16 of its own, as a DNS seed would
//! be): the victim learns about the honest node and the sybils through its inbound
//! sybils and Kademlia lookups. Checks: at most 8 sybils (the per-/24 limit) hold
//! inbound slots, at most 2 of the victim's outbound peers are in the sybils' /16, and
//! the victim stays connected to the honest node (whichever of the two found the other
//! first dials: both run discovery) and keeps outbound peers outside the sybils' /16.
//!
//! Needs root, iproute2 and nftables; without them the test prints why and skips (set
//! `CAIRN_REQUIRE_NETNS=1` to make that a failure).

#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use cairn_tests::netlab::Lab;
use cairn_tests::{NodeProcess, RPC_TOKEN, node_binary, try_rpc};

const SYBILS: usize = 20;
const VICTIM: usize = 0;
const HONEST: usize = 1;
const SEED: usize = 2;
const FIRST_SYBIL: usize = 3;
const P2P_PORT: u16 = 8646;
const RPC_PORT: u16 = 8645;

/// The IP of a multiaddr such as `/ip4/10.1.2.3/tcp/4001`.
fn ip_of(addr: &str) -> Option<IpAddr> {
    addr.split('/').nth(2)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sybils_from_one_subnet_cannot_take_a_nodes_slots() {
    // Victim, honest node and seed each in a /16 of their own; the sybils share one
    // /24 of a fourth /16.
    let mut places = vec![(1, 0, 1), (2, 0, 1), (4, 0, 1)];
    for i in 0..SYBILS {
        places.push((3, 7, u8::try_from(i + 1).unwrap()));
    }
    let lab = match Lab::with_addresses(places) {
        Ok(lab) => lab,
        Err(why) => {
            assert!(
                std::env::var_os("CAIRN_REQUIRE_NETNS").is_none(),
                "eclipse: {why}"
            );
            eprintln!("SKIPPED eclipse: {why}");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let p2p = |i: usize| format!("/ip4/{}/tcp/{P2P_PORT}", lab.ip(i));
    let rpc = |i: usize| SocketAddr::from((lab.ip(i), RPC_PORT));
    let mut nodes = Vec::new();
    for i in 0..FIRST_SYBIL + SYBILS {
        let mut c = lab.command(i, &node_binary());
        c.args(["--dev", "--no-mine", "--rpc-token", RPC_TOKEN])
            .arg("--datadir")
            .arg(dir.path().join(format!("n{i}")))
            .arg("--listen")
            .arg(p2p(i))
            .arg("--rpc-listen")
            .arg(rpc(i).to_string());
        if i == VICTIM && std::env::var_os("CAIRN_ECLIPSE_DEBUG").is_some() {
            c.env("RUST_LOG", "net=debug,info");
        }
        if i >= FIRST_SYBIL {
            c.arg("--bootnode").arg(p2p(VICTIM));
        }
        if i != SEED {
            c.arg("--bootnode").arg(p2p(SEED));
        }
        nodes.push(NodeProcess::spawn_command(c));
    }
    for i in 0..FIRST_SYBIL + SYBILS {
        let up = cairn_tests::eventually_async(Duration::from_secs(30), || async {
            try_rpc(rpc(i), "chain_getInfo", serde_json::json!([]))
                .await
                .is_ok()
        })
        .await;
        assert!(up, "node {i} did not start");
    }

    let sybil_subnet = |ip: &IpAddr| match ip {
        IpAddr::V4(v4) => v4.octets()[..3] == lab.ip(FIRST_SYBIL).octets()[..3],
        IpAddr::V6(_) => false,
    };
    let sybil_group = |ip: &IpAddr| match ip {
        IpAddr::V4(v4) => v4.octets()[..2] == lab.ip(FIRST_SYBIL).octets()[..2],
        IpAddr::V6(_) => false,
    };
    let honest_ip = IpAddr::V4(lab.ip(HONEST));
    let start = Instant::now();
    let (mut most_inbound, mut most_outbound) = (0, 0);
    let mut honest_connected = None;
    let mut honest_outbound_peers = 0;
    while start.elapsed() < Duration::from_secs(90) {
        let peers = try_rpc(rpc(VICTIM), "net_getPeers", serde_json::json!([]))
            .await
            .unwrap();
        let peers = peers.as_array().unwrap();
        let mut inbound_sybils = 0;
        let mut outbound_sybils = 0;
        honest_connected = None;
        honest_outbound_peers = 0;
        for p in peers {
            let Some(ip) = p["address"].as_str().and_then(ip_of) else {
                continue;
            };
            let outbound = p["direction"] == "outbound";
            if !outbound && sybil_subnet(&ip) {
                inbound_sybils += 1;
            }
            if outbound && sybil_group(&ip) {
                outbound_sybils += 1;
            }
            if ip == honest_ip {
                honest_connected = Some(p["direction"].as_str().unwrap_or("?").to_string());
            }
            if outbound && !sybil_group(&ip) {
                honest_outbound_peers += 1;
            }
        }
        most_inbound = most_inbound.max(inbound_sybils);
        most_outbound = most_outbound.max(outbound_sybils);
        // Enough time for every sybil to have tried, and for discovery to have run.
        if honest_connected.is_some() && start.elapsed() > Duration::from_secs(25) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let info = try_rpc(rpc(VICTIM), "net_getInfo", serde_json::json!([]))
        .await
        .unwrap();
    eprintln!(
        "eclipse: {SYBILS} sybils in one /24; the victim held at most {most_inbound} of them \
         inbound and {most_outbound} outbound; inbound refused: {}; honest node connected: \
         {honest_connected:?}; outbound peers outside the sybils' /16: {honest_outbound_peers}; \
         after {:?}",
        info["inboundRefused"].as_str().unwrap_or("?"),
        start.elapsed()
    );
    if std::env::var_os("CAIRN_ECLIPSE_DEBUG").is_some() {
        for line in nodes[VICTIM].drain() {
            eprintln!("victim: {line}");
        }
    }
    assert!(
        most_inbound <= 8,
        "{most_inbound} sybils from one /24 held inbound slots"
    );
    assert!(
        most_outbound <= 2,
        "{most_outbound} of the victim's outbound peers were sybils of one /16"
    );
    assert!(
        honest_connected.is_some(),
        "the victim lost the honest node from another /16"
    );
    assert!(
        honest_outbound_peers >= 1,
        "every outbound peer of the victim is a sybil"
    );
    drop(nodes);
    drop(lab);
}
