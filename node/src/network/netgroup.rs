//! Address groups and the inbound connection guard that keeps one operator (one
//! address, one subnet) from taking most of a node's connection slots.
//!
//! Peer ids cost nothing to mint, so limits are by address, as in Bitcoin Core:
//! - inbound: at most `per_ip` connections from one IP and `per_subnet` from one /24
//!   (IPv4) or /48 (IPv6);
//! - outbound: at most [`MAX_OUTBOUND_PER_GROUP`] peers in one /16 (IPv4) or /32
//!   (IPv6), so the peers a node picks itself span many networks;
//! - a banned peer's address is *discouraged*: other identities from it get an inbound
//!   slot only while the node has plenty free (a whole NAT may share one address, so it
//!   is not refused outright).
//!
//! Loopback addresses, configured bootnodes and peers added with `net_connect` are
//! exempt, so tests, local setups and an operator's own links are never limited.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::net::IpAddr;
use std::task::{Context, Poll};

use libp2p::core::Endpoint;
use libp2p::core::transport::PortUse;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{
    ConnectionClosed, ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler,
    THandlerInEvent, THandlerOutEvent, ToSwarm, dummy,
};
use libp2p::{Multiaddr, PeerId};

/// Most outbound peers in one /16 (IPv4) or /32 (IPv6).
pub(crate) const MAX_OUTBOUND_PER_GROUP: usize = 2;
/// Most discouraged addresses remembered.
const MAX_DISCOURAGED: usize = 10_000;

/// The IP address a multiaddr starts with, if any.
pub(crate) fn ip_of(addr: &Multiaddr) -> Option<IpAddr> {
    addr.iter().find_map(|p| match p {
        Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
        Protocol::Ip6(ip) => Some(IpAddr::V6(ip)),
        _ => None,
    })
}

/// A network prefix: the address with all but its first `bits` bits cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Group {
    v6: bool,
    prefix: u128,
}

fn group(ip: IpAddr, v4_bits: u32, v6_bits: u32) -> Group {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            Group {
                v6: false,
                prefix: u128::from(bits & (u32::MAX << (32 - v4_bits))),
            }
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => group(IpAddr::V4(v4), v4_bits, v6_bits),
            None => Group {
                v6: true,
                prefix: u128::from(v6) & (u128::MAX << (128 - v6_bits)),
            },
        },
    }
}

/// The inbound subnet of `ip`: its /24 (IPv4) or /48 (IPv6).
pub(crate) fn subnet(ip: IpAddr) -> Group {
    group(ip, 24, 48)
}

/// The outbound netgroup of `ip`: its /16 (IPv4) or /32 (IPv6).
pub(crate) fn netgroup(ip: IpAddr) -> Group {
    group(ip, 16, 32)
}

/// Limits on inbound connections by address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InboundLimits {
    /// Most inbound connections from one IP address.
    pub per_ip: u32,
    /// Most inbound connections from one /24 (IPv4) or /48 (IPv6).
    pub per_subnet: u32,
    /// Most inbound connections in all (a discouraged address gets a slot only while
    /// fewer than half are taken).
    pub total: u32,
}

impl Default for InboundLimits {
    fn default() -> Self {
        InboundLimits {
            per_ip: 4,
            per_subnet: 8,
            total: 64,
        }
    }
}

/// Why an inbound connection was refused.
#[derive(Debug, thiserror::Error)]
#[error("inbound connection from {ip} refused: {reason}")]
pub(crate) struct Refused {
    ip: IpAddr,
    reason: &'static str,
}

/// A libp2p behaviour that refuses inbound connections beyond the per-address limits.
#[derive(Debug, Default)]
pub(crate) struct InboundGuard {
    limits: InboundLimits,
    /// Established inbound connections (not exempt) and their remote address.
    inbound: HashMap<ConnectionId, IpAddr>,
    by_ip: HashMap<IpAddr, u32>,
    by_subnet: HashMap<Group, u32>,
    exempt_peers: HashSet<PeerId>,
    exempt_ips: HashSet<IpAddr>,
    /// Addresses of banned peers, with when the discouragement ends (ms since epoch).
    discouraged: HashMap<IpAddr, u64>,
    /// Inbound connections refused so far.
    refused: u64,
}

impl InboundGuard {
    pub(crate) fn new(limits: InboundLimits) -> InboundGuard {
        InboundGuard {
            limits,
            ..InboundGuard::default()
        }
    }

    /// Never limits `peer` (a configured bootnode, a `net_connect` peer), nor the IP of
    /// `addr` if it has one.
    pub(crate) fn exempt(&mut self, peer: Option<PeerId>, addr: Option<&Multiaddr>) {
        if let Some(p) = peer {
            self.exempt_peers.insert(p);
        }
        if let Some(ip) = addr.and_then(ip_of) {
            self.exempt_ips.insert(ip);
        }
    }

    /// Whether connections with `peer` at `ip` escape every limit.
    pub(crate) fn is_exempt(&self, peer: &PeerId, ip: Option<IpAddr>) -> bool {
        self.exempt_peers.contains(peer)
            || ip.is_some_and(|ip| ip.is_loopback() || self.exempt_ips.contains(&ip))
    }

    /// Discourages the address of a banned peer until `until_ms`.
    pub(crate) fn discourage(&mut self, addr: &Multiaddr, until_ms: u64, now_ms: u64) {
        let Some(ip) = ip_of(addr) else {
            return;
        };
        if ip.is_loopback() || self.exempt_ips.contains(&ip) {
            return;
        }
        if self.discouraged.len() >= MAX_DISCOURAGED {
            self.discouraged.retain(|_, until| *until > now_ms);
        }
        if self.discouraged.len() < MAX_DISCOURAGED || self.discouraged.contains_key(&ip) {
            self.discouraged.insert(ip, until_ms);
        }
    }

    /// Inbound connections refused so far.
    pub(crate) fn refused(&self) -> u64 {
        self.refused
    }

    fn check(&self, ip: IpAddr, now_ms: u64) -> Result<(), &'static str> {
        if self.by_ip.get(&ip).copied().unwrap_or(0) >= self.limits.per_ip {
            return Err("too many connections from this address");
        }
        if self.by_subnet.get(&subnet(ip)).copied().unwrap_or(0) >= self.limits.per_subnet {
            return Err("too many connections from this subnet");
        }
        let taken = u32::try_from(self.inbound.len()).unwrap_or(u32::MAX);
        if self.discouraged.get(&ip).is_some_and(|u| *u > now_ms) && taken >= self.limits.total / 2
        {
            return Err("address discouraged after a ban");
        }
        Ok(())
    }
}

impl NetworkBehaviour for InboundGuard {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        let ip = ip_of(remote);
        if let Some(ip) = ip
            && !self.is_exempt(&peer, Some(ip))
            && let Err(reason) = self.check(ip, crate::node::now_ms())
        {
            self.refused += 1;
            return Err(ConnectionDenied::new(Refused { ip, reason }));
        }
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm<'_>) {
        match event {
            FromSwarm::ConnectionEstablished(e) if e.endpoint.is_listener() => {
                let ip = ip_of(e.endpoint.get_remote_address());
                if let Some(ip) = ip
                    && !self.is_exempt(&e.peer_id, Some(ip))
                {
                    self.inbound.insert(e.connection_id, ip);
                    *self.by_ip.entry(ip).or_insert(0) += 1;
                    *self.by_subnet.entry(subnet(ip)).or_insert(0) += 1;
                }
            }
            FromSwarm::ConnectionClosed(ConnectionClosed { connection_id, .. }) => {
                if let Some(ip) = self.inbound.remove(&connection_id) {
                    decrement(&mut self.by_ip, &ip);
                    decrement(&mut self.by_subnet, &subnet(ip));
                }
            }
            _ => {}
        }
    }

    fn on_connection_handler_event(
        &mut self,
        _: PeerId,
        _: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

fn decrement<K: std::hash::Hash + Eq>(map: &mut HashMap<K, u32>, key: &K) {
    if let Some(n) = map.get_mut(key) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    }

    #[test]
    fn groups_are_the_documented_prefixes() {
        assert_eq!(subnet(v4(10, 1, 2, 3)), subnet(v4(10, 1, 2, 200)));
        assert_ne!(subnet(v4(10, 1, 2, 3)), subnet(v4(10, 1, 3, 3)));
        assert_eq!(netgroup(v4(10, 1, 2, 3)), netgroup(v4(10, 1, 200, 3)));
        assert_ne!(netgroup(v4(10, 1, 2, 3)), netgroup(v4(10, 2, 2, 3)));
        let a: Ipv6Addr = "2001:db8:1:2::1".parse().unwrap_or(Ipv6Addr::LOCALHOST);
        let b: Ipv6Addr = "2001:db8:1:ffff::9".parse().unwrap_or(Ipv6Addr::LOCALHOST);
        let c: Ipv6Addr = "2001:db8:2::1".parse().unwrap_or(Ipv6Addr::LOCALHOST);
        assert_eq!(subnet(IpAddr::V6(a)), subnet(IpAddr::V6(b)));
        assert_ne!(subnet(IpAddr::V6(a)), subnet(IpAddr::V6(c)));
        assert_eq!(netgroup(IpAddr::V6(a)), netgroup(IpAddr::V6(c)));
        // An IPv4-mapped IPv6 address is its IPv4 address.
        let mapped = IpAddr::V6(Ipv4Addr::new(10, 1, 2, 3).to_ipv6_mapped());
        assert_eq!(subnet(mapped), subnet(v4(10, 1, 2, 9)));
    }

    #[test]
    fn limits_by_address_subnet_and_discouragement() {
        let mut g = InboundGuard::new(InboundLimits {
            per_ip: 2,
            per_subnet: 3,
            total: 8,
        });
        let add = |g: &mut InboundGuard, ip: IpAddr, n: usize| {
            g.inbound.insert(ConnectionId::new_unchecked(n), ip);
            *g.by_ip.entry(ip).or_insert(0) += 1;
            *g.by_subnet.entry(subnet(ip)).or_insert(0) += 1;
        };
        assert!(g.check(v4(10, 0, 0, 1), 0).is_ok());
        add(&mut g, v4(10, 0, 0, 1), 1);
        add(&mut g, v4(10, 0, 0, 1), 2);
        assert!(g.check(v4(10, 0, 0, 1), 0).is_err(), "per address");
        add(&mut g, v4(10, 0, 0, 2), 3);
        assert!(g.check(v4(10, 0, 0, 3), 0).is_err(), "per subnet");
        assert!(g.check(v4(10, 0, 1, 3), 0).is_ok(), "another subnet");
        // Discouraged: refused once half the slots are taken, until it expires.
        let bad: Multiaddr = "/ip4/10.9.9.9/tcp/1".parse().unwrap_or(Multiaddr::empty());
        g.discourage(&bad, 100, 0);
        add(&mut g, v4(10, 0, 2, 1), 4);
        assert!(g.check(v4(10, 9, 9, 9), 50).is_err());
        assert!(g.check(v4(10, 9, 9, 9), 100).is_ok());
        // Loopback and exempt peers are never limited or discouraged.
        let peer = PeerId::random();
        assert!(g.is_exempt(&peer, Some(IpAddr::V4(Ipv4Addr::LOCALHOST))));
        assert!(!g.is_exempt(&peer, Some(v4(10, 0, 0, 1))));
        g.exempt(Some(peer), None);
        assert!(g.is_exempt(&peer, Some(v4(10, 0, 0, 1))));
    }
}
