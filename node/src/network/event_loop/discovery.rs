//! Keeping the outbound peer count up: bootnodes, Kademlia lookups, and the /16
//! diversity rule for outbound peers.

use std::collections::HashMap;

use libp2p::{Multiaddr, PeerId};
use tracing::{debug, warn};

use super::EventLoop;
use crate::network::behaviour::peer_of;
use crate::network::netgroup::{Group, MAX_OUTBOUND_PER_GROUP, ip_of, netgroup};
use crate::node::now_ms;

impl EventLoop {
    pub(super) fn dial_bootnodes(&mut self) {
        for addr in self.config.bootnodes.clone() {
            // The operator chose these: never limited by address.
            self.swarm
                .behaviour_mut()
                .inbound
                .exempt(peer_of(&addr), Some(&addr));
            if let Some(peer) = peer_of(&addr) {
                self.swarm
                    .behaviour_mut()
                    .kad
                    .add_address(&peer, addr.clone());
            }
            if let Err(e) = self.swarm.dial(addr.clone()) {
                warn!(target: "net", %addr, "cannot dial bootnode: {e}");
            }
        }
    }

    /// Dials the configured bootnodes we have no connection to: by peer id when the
    /// address names one, else by the address of an outbound connection.
    pub(super) fn redial_missing_bootnodes(&mut self) {
        for addr in self.config.bootnodes.clone() {
            let connected = match peer_of(&addr) {
                Some(peer) => self.peers.contains_key(&peer),
                None => self.peers.values().any(|c| !c.inbound && c.address == addr),
            };
            if !connected && let Err(e) = self.swarm.dial(addr.clone()) {
                debug!(target: "net", %addr, "cannot dial bootnode: {e}");
            }
        }
    }

    /// Keeps the outbound peer count up: redial bootnodes when alone, otherwise ask
    /// Kademlia for more peers and dial the ones it knows.
    pub(super) fn discover(&mut self) {
        let outbound = self.peers.values().filter(|c| !c.inbound).count();
        let target = usize::try_from(self.config.target_outbound).unwrap_or(usize::MAX);
        if outbound >= target {
            return;
        }
        if self.peers.is_empty() {
            self.dial_bootnodes();
            return;
        }
        // Short of outbound peers: the operator's bootnodes first. Inbound peers alone
        // (perhaps all one attacker's) are no reason to stop trying them.
        self.redial_missing_bootnodes();
        let _ = self.swarm.behaviour_mut().kad.bootstrap();
        // A lookup of a random key returns peers our table may not hold yet (the
        // table only takes peers once they are connected); they are dialled when it
        // ends.
        self.swarm
            .behaviour_mut()
            .kad
            .get_closest_peers(PeerId::random());
        self.dial_candidates();
    }

    /// Dials peers from Kademlia's table and lookups until `target_outbound`.
    pub(super) fn dial_candidates(&mut self) {
        let outbound = self.peers.values().filter(|c| !c.inbound).count();
        let target = usize::try_from(self.config.target_outbound).unwrap_or(usize::MAX);
        if outbound >= target {
            return;
        }
        let mut candidates: Vec<(PeerId, Multiaddr)> = self.found.drain().collect();
        for bucket in self.swarm.behaviour_mut().kad.kbuckets() {
            for entry in bucket.iter() {
                let peer = *entry.node.key.preimage();
                candidates.push((peer, entry.node.value.first().clone()));
            }
        }
        candidates.sort_by_key(|(p, _)| *p);
        candidates.dedup_by_key(|(p, _)| *p);
        // In random order (table order would let whoever fills a bucket first be
        // dialled first), at most MAX_OUTBOUND_PER_GROUP per /16.
        let mut salt = [0u8; 16];
        let _ = getrandom::fill(&mut salt);
        candidates.sort_by_cached_key(|(p, _)| {
            let mut h = blake3::Hasher::new();
            h.update(&salt);
            h.update(&p.to_bytes());
            *h.finalize().as_bytes()
        });
        let mut groups = self.outbound_groups();
        let now = now_ms();
        let mut dialled = 0;
        for (peer, addr) in candidates {
            if dialled >= target - outbound {
                break;
            }
            if self.peers.contains_key(&peer) || self.book.is_banned(&peer, now) {
                continue;
            }
            if let Some(g) = self.limited_group(&peer, &addr) {
                let n = groups.entry(g).or_insert(0);
                if *n >= MAX_OUTBOUND_PER_GROUP {
                    continue;
                }
                *n += 1;
            }
            dialled += 1;
            debug!(target: "net", %peer, %addr, "dialling");
            let _ = self.swarm.dial(addr.with_p2p(peer).unwrap_or_else(|a| a));
        }
    }

    /// The /16 (IPv4) or /32 (IPv6) of a peer at `addr`, unless it is exempt from the
    /// outbound diversity rule (loopback, bootnodes, `net_connect` peers).
    pub(super) fn limited_group(&self, peer: &PeerId, addr: &Multiaddr) -> Option<Group> {
        let ip = ip_of(addr)?;
        if self.swarm.behaviour().inbound.is_exempt(peer, Some(ip)) {
            return None;
        }
        Some(netgroup(ip))
    }

    /// Outbound peers per netgroup (exempt ones not counted).
    pub(super) fn outbound_groups(&self) -> HashMap<Group, usize> {
        let mut groups = HashMap::new();
        for (peer, c) in &self.peers {
            if !c.inbound
                && let Some(g) = self.limited_group(peer, &c.address)
            {
                *groups.entry(g).or_insert(0) += 1;
            }
        }
        groups
    }
}
