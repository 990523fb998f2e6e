//! What sync needs from the network, and its one implementation, for the real
//! [`Client`].

use std::future::Future;

use libp2p::PeerId;

use crate::network::{Client, NetworkError, SyncRequest, SyncResponse};

/// The network as the sync manager sees it: requests to peers, and what to do with a
/// peer that misbehaves. Peers come and go through [`crate::network::NetworkEvent`]s.
pub trait SyncNetwork: Clone + Send + Sync + 'static {
    /// Sends a sync request and waits for the answer, or the failure (timeout,
    /// closed connection, bad response).
    fn request(
        &self,
        peer: PeerId,
        request: SyncRequest,
    ) -> impl Future<Output = Result<SyncResponse, NetworkError>> + Send;
    /// Adds misbehaviour points against a peer (at 100 it is banned). Never waits.
    fn penalize(&self, peer: PeerId, points: u32, reason: String);
    /// Closes the connections to a peer without holding anything against it. Never
    /// waits.
    fn disconnect(&self, peer: PeerId, reason: String);
}

impl SyncNetwork for Client {
    fn request(
        &self,
        peer: PeerId,
        request: SyncRequest,
    ) -> impl Future<Output = Result<SyncResponse, NetworkError>> + Send {
        Client::request(self, peer, request)
    }

    fn penalize(&self, peer: PeerId, points: u32, reason: String) {
        let client = self.clone();
        tokio::spawn(async move { Client::penalize(&client, peer, points, reason).await });
    }

    fn disconnect(&self, peer: PeerId, reason: String) {
        let client = self.clone();
        tokio::spawn(async move { Client::disconnect(&client, peer, reason).await });
    }
}
