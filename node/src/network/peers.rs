//! Misbehaviour points and time-limited bans.

use std::collections::HashMap;

use libp2p::PeerId;

/// Points at which a peer is banned.
pub(crate) const BAN_POINTS: u32 = 100;
/// Most bans remembered (the oldest-expiring go first beyond this).
const MAX_BANS: usize = 10_000;

/// Penalties and bans, keyed by peer.
#[derive(Debug, Default)]
pub(crate) struct PeerBook {
    penalties: HashMap<PeerId, u32>,
    bans: HashMap<PeerId, u64>,
}

impl PeerBook {
    /// Adds `points` against `peer`; returns true when that reaches the ban threshold.
    pub(crate) fn penalize(&mut self, peer: PeerId, points: u32) -> bool {
        let p = self.penalties.entry(peer).or_insert(0);
        *p = p.saturating_add(points);
        *p >= BAN_POINTS
    }

    pub(crate) fn penalty(&self, peer: &PeerId) -> u32 {
        self.penalties.get(peer).copied().unwrap_or(0)
    }

    /// Halves every penalty (called once a minute), forgetting those that reach zero.
    pub(crate) fn decay(&mut self) {
        self.penalties.retain(|_, p| {
            *p /= 2;
            *p > 0
        });
    }

    /// Bans `peer` until `until_ms`. Returns the ban evicted to make room (the one
    /// expiring first), if any, so the caller can unblock that peer.
    pub(crate) fn ban(&mut self, peer: PeerId, until_ms: u64) -> Option<PeerId> {
        self.penalties.remove(&peer);
        let mut evicted = None;
        if self.bans.len() >= MAX_BANS
            && !self.bans.contains_key(&peer)
            && let Some(first) = self.bans.iter().min_by_key(|(_, u)| **u).map(|(p, _)| *p)
        {
            self.bans.remove(&first);
            evicted = Some(first);
        }
        self.bans.insert(peer, until_ms);
        evicted
    }

    pub(crate) fn is_banned(&self, peer: &PeerId, now_ms: u64) -> bool {
        self.bans.get(peer).is_some_and(|u| *u > now_ms)
    }

    /// Removes and returns the bans that have expired.
    pub(crate) fn expire(&mut self, now_ms: u64) -> Vec<PeerId> {
        let expired: Vec<PeerId> = self
            .bans
            .iter()
            .filter(|(_, u)| **u <= now_ms)
            .map(|(p, _)| *p)
            .collect();
        for p in &expired {
            self.bans.remove(p);
        }
        expired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_add_up_to_a_ban_and_decay() {
        let mut book = PeerBook::default();
        let p = PeerId::random();
        assert!(!book.penalize(p, 60));
        book.decay();
        assert_eq!(book.penalty(&p), 30);
        assert!(!book.penalize(p, 60));
        assert!(book.penalize(p, 10));
    }

    #[test]
    fn bans_expire() {
        let mut book = PeerBook::default();
        let p = PeerId::random();
        book.ban(p, 1_000);
        assert!(book.is_banned(&p, 999));
        assert!(book.expire(999).is_empty());
        assert_eq!(book.expire(1_000), vec![p]);
        assert!(!book.is_banned(&p, 999));
    }
}
