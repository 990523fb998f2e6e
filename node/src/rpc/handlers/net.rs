//! `net_*`: peers and the network task.

use std::sync::Arc;

use cairn_rpc::ErrorCode;
use cairn_rpc::envelope::RpcError;
use cairn_rpc::methods::{ConnectParams, NetConnect, NetGetInfo, NetGetPeers, NoParams};
use cairn_rpc::types::{Direction, NetCounters, NetInfo, PeerInfo};

use crate::rpc::RpcContext;
use crate::rpc::api::HandleAsync;

impl HandleAsync for NetGetInfo {
    async fn handle(ctx: Arc<RpcContext>, _: NoParams) -> Result<NetInfo, RpcError> {
        let Some(client) = &ctx.network else {
            return Ok(NetInfo {
                enabled: false,
                peer_id: None,
                listen: None,
                counters: None,
            });
        };
        let peers = client.peers().await;
        let inbound = peers.iter().filter(|p| p.inbound).count() as u64;
        let total = peers.len() as u64;
        let stats = client.stats().await;
        Ok(NetInfo {
            enabled: true,
            peer_id: Some(client.local_peer_id().to_string()),
            listen: Some(
                client
                    .listen_addrs()
                    .await
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
            ),
            counters: Some(NetCounters {
                peers: total.into(),
                inbound: inbound.into(),
                outbound: (total - inbound).into(),
                gossip_in: stats.gossip_in.into(),
                gossip_published: stats.gossip_published.into(),
                gossip_rejected: stats.gossip_rejected.into(),
                requests_served: stats.requests_served.into(),
                requests_dropped: stats.requests_dropped.into(),
                blocks_served: stats.blocks_served.into(),
                penalties: stats.penalties.into(),
                inbound_refused: stats.inbound_refused.into(),
                bans: stats.bans.into(),
                compact_in: stats.compact_in.into(),
                compact_rebuilt: stats.compact_rebuilt.into(),
                compact_completed: stats.compact_completed.into(),
                compact_fetched: stats.compact_fetched.into(),
                compact_bytes: stats.compact_bytes.into(),
                compact_block_bytes: stats.compact_block_bytes.into(),
                mempool_synced: stats.mempool_synced.into(),
            }),
        })
    }
}

impl HandleAsync for NetGetPeers {
    async fn handle(ctx: Arc<RpcContext>, _: NoParams) -> Result<Vec<PeerInfo>, RpcError> {
        let Some(client) = &ctx.network else {
            return Ok(Vec::new());
        };
        let heights = ctx
            .sync
            .as_ref()
            .map(|s| s.peer_heights())
            .unwrap_or_default();
        Ok(client
            .peers()
            .await
            .into_iter()
            .map(|p| PeerInfo {
                id: p.peer.to_string(),
                address: p.address.to_string(),
                direction: if p.inbound {
                    Direction::Inbound
                } else {
                    Direction::Outbound
                },
                agent: p.agent,
                height: heights.get(&p.peer).map(|h| (*h).into()),
                gossip_score: p.gossip_score,
                penalty: p.penalty,
            })
            .collect())
    }
}

impl HandleAsync for NetConnect {
    async fn handle(ctx: Arc<RpcContext>, p: ConnectParams) -> Result<bool, RpcError> {
        let addr: libp2p::Multiaddr = p
            .address
            .parse()
            .map_err(|e| RpcError::params(format!("parameter `address`: {e}")))?;
        let Some(client) = &ctx.network else {
            return Err(RpcError::new(ErrorCode::Internal, "the node runs offline"));
        };
        client.dial(addr).await;
        Ok(true)
    }
}
