//! A small network lab on real Linux network stacks: every host is a network
//! namespace (`ip netns`) joined to one bridge in the test's own namespace by a veth
//! pair, and faults are nftables rules inside the hosts: drop rules for partitions,
//! `numgen random` for packet loss. The test's namespace has an address on the bridge
//! too, so it reaches every host's RPC, and can relay traffic between hosts through
//! [`DelayProxy`]s (latency and jitter, which this kernel cannot add with `netem`).
//!
//! A lab is one /12 (`10.16.0.0/12`, `10.32.0.0/12`, … one per lab alive at once), so
//! its hosts can sit in distinct /16s and /24s, as hosts on the internet do: the
//! node's per-address connection limits see real, distinct source addresses. By
//! default host `i` gets `10.<base + i mod 15>.<i / 15>.1`, every host in its own /24
//! and the first fifteen in distinct /16s; [`Lab::with_addresses`] places them.
//!
//! Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN), `ip` from iproute2 and `nft` from
//! nftables. [`Lab::new`] says why when it cannot build the lab, so tests can skip
//! with a clear message. Everything is torn down on drop.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

static LABS: AtomicU32 = AtomicU32::new(0);

/// The lab's hosts and bridge.
#[derive(Debug)]
pub struct Lab {
    tag: String,
    /// The lab's /12 is `10.<base>.0.0/12`.
    base: u8,
    hosts: usize,
    /// Each host's place in the /12: (/16 index below 15, third octet, last octet).
    places: Vec<(u8, u8, u8)>,
}

/// Runs `ip`/`nft` with `args`; the error names the command and what it printed.
fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{program} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Lab {
    /// Builds a lab of `hosts` namespaces, or says why it cannot (no privilege, no
    /// `ip` or `nft`).
    pub fn new(hosts: usize) -> Result<Lab, String> {
        assert!(hosts < 15 * 250, "room in the /12");
        let places = (0..hosts)
            .map(|i| {
                let (g, s) = (i % 15, i / 15);
                (
                    u8::try_from(g).unwrap_or(0),
                    u8::try_from(s).unwrap_or(0),
                    1,
                )
            })
            .collect();
        Lab::with_addresses(places)
    }

    /// Builds a lab whose host `i` is at `10.<base + g>.<s>.<h>` for `places[i] = (g,
    /// s, h)`, with `g` below 15 and `h` from 1 to 250 (`10.<base + 15>.255.254` is the
    /// test's own address).
    pub fn with_addresses(places: Vec<(u8, u8, u8)>) -> Result<Lab, String> {
        assert!(
            places
                .iter()
                .all(|(g, _, h)| *g < 15 && (1..=250).contains(h)),
            "host places within the /12"
        );
        run("nft", &["--version"]).map_err(|e| format!("nftables is missing ({e})"))?;
        let n = LABS.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        // Interface names are at most 15 bytes: "c" + 5 hex digits of the pid + lab.
        let tag = format!("c{:05x}{n:x}", pid & 0xf_ffff);
        // 10.16/12 … 10.224/12: fourteen labs at once (10.0/12 is left to the host).
        let base = u8::try_from(16 * (1 + (pid as usize * 5 + n as usize) % 14)).unwrap_or(16);
        let hosts = places.len();
        let lab = Lab {
            tag,
            base,
            hosts: 0,
            places,
        };
        lab.build(hosts)
    }

    /// The lab's network, `10.<base>.0.0/12`.
    pub fn network(&self) -> String {
        format!("10.{}.0.0/12", self.base)
    }

    fn build(mut self, hosts: usize) -> Result<Lab, String> {
        let br = self.bridge();
        run("ip", &["link", "add", &br, "type", "bridge"])
            .map_err(|e| format!("cannot create a bridge (needs root): {e}"))?;
        run("ip", &["link", "set", &br, "up"])?;
        let gw = format!("{}/12", self.gateway());
        run("ip", &["addr", "add", &gw, "dev", &br])?;
        for i in 0..hosts {
            let ns = self.ns(i);
            run("ip", &["netns", "add", &ns])
                .map_err(|e| format!("cannot create a network namespace (needs root): {e}"))?;
            self.hosts = i + 1;
            let (outer, inner) = (format!("{}o{i}", self.tag), format!("{}i{i}", self.tag));
            run(
                "ip",
                &[
                    "link", "add", &outer, "type", "veth", "peer", "name", &inner,
                ],
            )?;
            run("ip", &["link", "set", &inner, "netns", &ns])?;
            run("ip", &["link", "set", &outer, "master", &br])?;
            run("ip", &["link", "set", &outer, "up"])?;
            let addr = format!("{}/12", self.ip(i));
            self.exec(i, "ip", &["addr", "add", &addr, "dev", &inner])?;
            self.exec(i, "ip", &["link", "set", &inner, "up"])?;
            self.exec(i, "ip", &["link", "set", "lo", "up"])?;
            // One table per host: `input` and `output` chains that the fault methods
            // fill and flush.
            self.exec(i, "nft", &["add", "table", "inet", "cairn"])?;
            for (chain, hook) in [("input", "input"), ("output", "output")] {
                let spec = format!("{{ type filter hook {hook} priority 0 ; policy accept ; }}");
                self.exec(i, "nft", &["add", "chain", "inet", "cairn", chain, &spec])?;
            }
        }
        Ok(self)
    }

    fn bridge(&self) -> String {
        format!("{}b", self.tag)
    }

    /// Host `i`'s namespace.
    pub fn ns(&self, i: usize) -> String {
        format!("{}n{i}", self.tag)
    }

    /// Host `i`'s address.
    pub fn ip(&self, i: usize) -> Ipv4Addr {
        let (g, s, h) = self.places[i];
        Ipv4Addr::new(10, self.base + g, s, h)
    }

    /// The test's own address on the bridge.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, self.base + 15, 255, 254)
    }

    /// Runs `program args` inside host `i`.
    pub fn exec(&self, i: usize, program: &str, args: &[&str]) -> Result<(), String> {
        let ns = self.ns(i);
        let mut all = vec!["netns", "exec", ns.as_str(), program];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// A command that runs `program` inside host `i`.
    pub fn command(&self, i: usize, program: &std::path::Path) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns(i)]).arg(program);
        c
    }

    fn rule(&self, i: usize, chain: &str, rule: &str) {
        let mut args = vec!["add", "rule", "inet", "cairn", chain];
        args.extend(rule.split_whitespace());
        self.exec(i, "nft", &args)
            .unwrap_or_else(|e| panic!("host {i}: {e}"));
    }

    /// Drops every packet between host `i` and the hosts `others`.
    fn cut(&self, i: usize, others: impl Iterator<Item = usize>) {
        let ips: Vec<String> = others.map(|j| self.ip(j).to_string()).collect();
        if ips.is_empty() {
            return;
        }
        let set = format!("{{ {} }}", ips.join(", "));
        self.rule(i, "input", &format!("ip saddr {set} drop"));
        self.rule(i, "output", &format!("ip daddr {set} drop"));
    }

    /// Cuts every host in `side` off from every host not in it (the test's own
    /// address stays reachable from both).
    pub fn partition(&self, side: &[usize]) {
        for i in 0..self.hosts {
            self.cut(
                i,
                (0..self.hosts).filter(|j| side.contains(j) != side.contains(&i)),
            );
        }
    }

    /// Drops `percent`% of the packets every host receives from other hosts and the
    /// test's relays (the test's RPC traffic to a host's RPC port is spared).
    pub fn lossy(&self, percent: u32, rpc_port: u16) {
        for i in 0..self.hosts {
            self.rule(
                i,
                "input",
                &format!(
                    "ip saddr {} tcp dport != {rpc_port} numgen random mod 100 < {percent} drop",
                    self.network()
                ),
            );
        }
    }

    /// Makes hosts reach each other only through the test's address (its relays):
    /// direct host-to-host packets are dropped.
    pub fn only_via_gateway(&self) {
        for i in 0..self.hosts {
            self.cut(i, (0..self.hosts).filter(|&j| j != i));
        }
    }

    /// Bytes host `i` has sent and received on its link (its veth pair's counters).
    pub fn link_bytes(&self, i: usize) -> (u64, u64) {
        let read = |what: &str| {
            std::fs::read_to_string(format!("/sys/class/net/{}o{i}/statistics/{what}", self.tag))
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .unwrap_or(0)
        };
        // The outer end sits on the bridge: what it receives, the host sent.
        (read("rx_bytes"), read("tx_bytes"))
    }

    /// Removes every fault.
    pub fn heal(&self) {
        for i in 0..self.hosts {
            for chain in ["input", "output"] {
                self.exec(i, "nft", &["flush", "chain", "inet", "cairn", chain])
                    .unwrap_or_else(|e| panic!("host {i}: {e}"));
            }
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for i in 0..self.hosts {
            // Deleting one end of a veth pair deletes the pair, even while a process
            // still keeps the namespace alive.
            let _ = run("ip", &["link", "del", &format!("{}o{i}", self.tag)]);
            let _ = run("ip", &["netns", "del", &self.ns(i)]);
        }
        let _ = run("ip", &["link", "del", &self.bridge()]);
    }
}

/// A TCP relay that delays every chunk by `base ± jitter` (uniformly), keeping the
/// byte order: a chunk is never released before the one read before it. Both
/// directions are delayed, so a round trip costs about twice `base`.
#[derive(Debug)]
pub struct DelayProxy {
    /// Where it listens.
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl DelayProxy {
    /// Listens on `listen` (port 0 picks one) and relays every connection to `target`.
    pub async fn start(
        listen: SocketAddr,
        target: SocketAddr,
        base: Duration,
        jitter: Duration,
    ) -> DelayProxy {
        let listener = TcpListener::bind(listen).await.expect("proxy binds");
        let addr = listener.local_addr().expect("bound");
        let task = tokio::spawn(async move {
            let mut seed = u64::from(addr.port()) | 1;
            while let Ok((inbound, _)) = listener.accept().await {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                let s = seed;
                tokio::spawn(async move {
                    let Ok(outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    let (ri, wi) = inbound.into_split();
                    let (ro, wo) = outbound.into_split();
                    tokio::join!(
                        pipe(ri, wo, base, jitter, s),
                        pipe(ro, wi, base, jitter, s ^ 0x9e37_79b9)
                    );
                });
            }
        });
        DelayProxy { addr, task }
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Copies `from` to `to`, each chunk released `base ± jitter` after it was read.
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    base: Duration,
    jitter: Duration,
    mut seed: u64,
) {
    // Bounded: a reader more than 256 chunks ahead of the delayed writer waits.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(tokio::time::Instant, Vec<u8>)>(256);
    let reader = async move {
        let mut buf = vec![0u8; 64 * 1024];
        let mut last = tokio::time::Instant::now();
        loop {
            let n = match from.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let spread = u64::try_from(jitter.as_micros() * 2).unwrap_or(0);
            let offset = if spread == 0 { 0 } else { seed % (spread + 1) };
            let delay = (base + Duration::from_micros(offset)).saturating_sub(jitter);
            let at = (tokio::time::Instant::now() + delay).max(last);
            last = at;
            if tx.send((at, buf[..n].to_vec())).await.is_err() {
                break;
            }
        }
    };
    let writer = async move {
        while let Some((at, chunk)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            if to.write_all(&chunk).await.is_err() {
                break;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}
