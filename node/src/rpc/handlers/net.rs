//! `net_*`: peers and the network task.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::rpc::RpcContext;
use crate::rpc::api::BoxFuture;
use crate::rpc::types::{ErrorCode, Params, RpcError};

pub(crate) fn net_get_info(ctx: Arc<RpcContext>, p: Params) -> BoxFuture {
    Box::pin(async move {
        p.at_most(&[])?;
        let Some(client) = &ctx.network else {
            return Ok(json!({ "enabled": false }));
        };
        let peers = client.peers().await;
        let inbound = peers.iter().filter(|p| p.inbound).count();
        let stats = client.stats().await;
        Ok(json!({
            "enabled": true,
            "peerId": client.local_peer_id().to_string(),
            "listen": client.listen_addrs().await.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "peers": peers.len(),
            "inbound": inbound,
            "outbound": peers.len() - inbound,
            "gossipIn": stats.gossip_in,
            "gossipPublished": stats.gossip_published,
            "gossipRejected": stats.gossip_rejected,
            "requestsServed": stats.requests_served,
            "blocksServed": stats.blocks_served,
            "penalties": stats.penalties,
            "inboundRefused": stats.inbound_refused,
            "bans": stats.bans,
        }))
    })
}

pub(crate) fn net_get_peers(ctx: Arc<RpcContext>, p: Params) -> BoxFuture {
    Box::pin(async move {
        p.at_most(&[])?;
        let Some(client) = &ctx.network else {
            return Ok(json!([]));
        };
        let heights = ctx
            .sync
            .as_ref()
            .map(|s| s.peer_heights())
            .unwrap_or_default();
        let peers = client.peers().await;
        Ok(Value::Array(
            peers
                .into_iter()
                .map(|p| {
                    json!({
                        "id": p.peer.to_string(),
                        "address": p.address.to_string(),
                        "direction": if p.inbound { "inbound" } else { "outbound" },
                        "agent": p.agent,
                        "height": heights.get(&p.peer),
                        "gossipScore": p.gossip_score,
                        "penalty": p.penalty,
                    })
                })
                .collect(),
        ))
    })
}

pub(crate) fn net_connect(ctx: Arc<RpcContext>, p: Params) -> BoxFuture {
    Box::pin(async move {
        p.at_most(&["address"])?;
        let addr: libp2p::Multiaddr = p.parsed(0, "address")?;
        let Some(client) = &ctx.network else {
            return Err(RpcError::new(ErrorCode::Internal, "the node runs offline"));
        };
        client.dial(addr).await;
        Ok(Value::Bool(true))
    })
}
