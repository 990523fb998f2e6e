//! A running node with everything around it: the network, sync, the announcing of
//! what it produces ([`crate::import`]) and the built-in miner. `cairn-node` and the multi-node test harness both start nodes
//! through [`Service::start`].

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use tracing::warn;

use crate::import::{self, NodeAccess};
use crate::mining::{self, MiningConfig};
use crate::network::{self, Client, NetworkConfig};
use crate::pool::server::PoolServer;
use crate::pool::{Pool, PoolConfig};
use crate::rpc::{self, RpcConfig, RpcContext, RpcServer};
use crate::sync::{self, SyncConfig, SyncHandle};
use crate::{Node, NodeConfig, NodeError};

/// Everything a node service needs.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// The node itself.
    pub node: NodeConfig,
    /// The network (None: a node without peers).
    pub network: Option<NetworkConfig>,
    /// Sync settings.
    pub sync: SyncConfig,
    /// Built-in mining (None: no mining).
    pub mining: Option<MiningConfig>,
    /// The JSON-RPC server (None: no RPC).
    pub rpc: Option<RpcConfig>,
    /// The Stratum pool (None: no pool).
    pub pool: Option<PoolConfig>,
}

/// A node and its network, sync and mining.
#[derive(Debug)]
pub struct Service {
    node: Arc<Node>,
    network: Option<Client>,
    sync: Option<SyncHandle>,
    hashes: Arc<AtomicU64>,
    threads: Vec<std::thread::JoinHandle<()>>,
    relay: Option<tokio::task::JoinHandle<()>>,
    sync_task: Option<tokio::task::JoinHandle<()>>,
    network_task: Option<tokio::task::JoinHandle<()>>,
    rpc: Option<RpcServer>,
    pool: Option<(Arc<Pool>, PoolServer)>,
    fault: tokio::sync::watch::Receiver<Option<String>>,
    monitor: tokio::task::JoinHandle<()>,
}

/// How long each part may take to stop before it is left behind.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

impl Service {
    /// Opens the node and starts the rest. Call from inside a multi-threaded tokio
    /// runtime.
    pub async fn start(config: ServiceConfig) -> Result<Service, NodeError> {
        let node = Node::open(config.node)?;
        let hashes = Arc::new(AtomicU64::new(0));
        let (mut relay_task, mut sync_task, mut network_task) = (None, None, None);
        let (network, sync) = match config.network {
            Some(net) => {
                let access = Arc::new(NodeAccess::new(node.clone()));
                let peers = Arc::new(node.bans().clone());
                let (client, events, task) = network::start(node.params(), net, access, peers)?;

                network_task = Some(task);
                let (sync, task) = sync::start(node.clone(), client.clone(), events, config.sync);
                sync_task = Some(task);
                relay_task = Some(tokio::spawn(import::announce(node.clone(), client.clone())));
                (Some(client), Some(sync))
            }
            None => (None, None),
        };
        let mut threads = Vec::new();
        if let Some(mining) = config.mining {
            let (n, h) = (node.clone(), hashes.clone());
            threads.push(
                std::thread::Builder::new()
                    .name("miner".into())
                    .spawn(move || mining::run(n, mining, h))
                    .map_err(NodeError::Thread)?,
            );
        }
        let pool = match config.pool {
            Some(pool) => {
                let pool = Pool::open(node.clone(), pool)?;
                let server = crate::pool::server::serve(pool.clone())
                    .await
                    .map_err(NodeError::Pool)?;
                Some((pool, server))
            }
            None => None,
        };
        let rpc = match config.rpc {
            Some(rpc) => Some(
                rpc::serve(
                    rpc,
                    RpcContext {
                        node: node.clone(),
                        network: network.clone(),
                        sync: sync.clone(),
                        generate: false,
                        work: Arc::default(),
                        hashes: Some(hashes.clone()),
                        pool: pool.as_ref().map(|(p, _)| p.clone()),
                        hash_sample: std::sync::Mutex::new((std::time::Instant::now(), 0, 0.0)),
                    },
                )
                .await?,
            ),
            None => None,
        };
        let (fault_tx, fault) = tokio::sync::watch::channel(None);
        let monitor = tokio::spawn(watch_disk(node.clone(), fault_tx));
        Ok(Service {
            fault,
            monitor,
            node,
            network,
            sync,
            rpc,
            pool,
            hashes,
            threads,
            relay: relay_task,
            sync_task,
            network_task,
        })
    }

    /// The node.
    pub fn node(&self) -> &Arc<Node> {
        &self.node
    }

    /// The network client (None for a node without peers).
    pub fn network(&self) -> Option<&Client> {
        self.network.as_ref()
    }

    /// Sync status (None for a node without peers).
    pub fn sync(&self) -> Option<&SyncHandle> {
        self.sync.as_ref()
    }

    /// Where the Stratum endpoint listens, if the pool runs.
    pub fn pool_addr(&self) -> Option<std::net::SocketAddr> {
        self.pool.as_ref().map(|(_, s)| s.addr)
    }

    /// The pool, if it runs.
    pub fn pool(&self) -> Option<&Arc<Pool>> {
        self.pool.as_ref().map(|(p, _)| p)
    }

    /// Where the RPC server listens, if it runs.
    pub fn rpc_addr(&self) -> Option<std::net::SocketAddr> {
        self.rpc.as_ref().map(|r| r.addr)
    }

    /// Resolves when the service must stop on its own (the disk is nearly full),
    /// with the reason. The caller then calls [`Service::stop`].
    pub async fn failed(&self) -> String {
        let mut fault = self.fault.clone();
        match fault.wait_for(Option::is_some).await {
            Ok(reason) => reason.clone().unwrap_or_default(),
            Err(_) => std::future::pending().await,
        }
    }

    /// Hashes tried by the built-in miner so far.
    pub fn hashes(&self) -> &Arc<AtomicU64> {
        &self.hashes
    }

    /// Stops mining, sync and the network, saves the mempool, and returns once the
    /// store is closed (unless the caller still holds the node). Threads the caller
    /// started that submit to the node must be joined before this.
    pub async fn stop(mut self) {
        self.monitor.abort();
        if let Some(rpc) = self.rpc.take() {
            rpc.stop().await;
        }
        if let Some((_, server)) = self.pool.take() {
            server.stop().await;
        }
        self.node.request_shutdown();
        for t in std::mem::take(&mut self.threads) {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
        if let Some(relay) = self.relay.take() {
            relay.abort();
            let _ = relay.await;
        }
        // Sync notices the shutdown within a tick; the event loop ends once the last
        // client (sync's and ours) is gone.
        if let Some(task) = self.sync_task.take()
            && tokio::time::timeout(STOP_TIMEOUT, task).await.is_err()
        {
            warn!(target: "node", "sync did not stop in time");
        }
        self.network = None;
        if let Some(task) = self.network_task.take()
            && tokio::time::timeout(STOP_TIMEOUT, task).await.is_err()
        {
            warn!(target: "node", "the network did not stop in time");
        }
        self.node.shutdown();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        // Dropped without `stop`: let everything wind down on its own.
        self.node.request_shutdown();
        self.monitor.abort();
        if let Some(relay) = &self.relay {
            relay.abort();
        }
        if let Some(rpc) = &self.rpc {
            rpc.signal_stop();
        }
    }
}

/// Stops the node (mining first, so no new block is written) once its data
/// directory's file system falls below the free-space floor.
async fn watch_disk(node: Arc<Node>, fault: tokio::sync::watch::Sender<Option<String>>) {
    let mut tick = tokio::time::interval(crate::disk::CHECK_INTERVAL);
    loop {
        tick.tick().await;
        if let Err(full) = crate::disk::check(node.datadir(), node.min_free_disk()) {
            tracing::error!(target: "node", "{full}; stopping");
            node.request_shutdown();
            let _ = fault.send(Some(full.to_string()));
            return;
        }
    }
}
