//! Every RPC method the node serves: one table entry per [`cairn_rpc::Method`], saying
//! how its handler runs. The OpenRPC document is generated from the same entries, so
//! the document and the dispatcher cannot drift apart; the parameters and results are
//! `cairn-rpc`'s types, which clients decode. The handlers live in
//! [`crate::rpc::handlers`], one file per namespace.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use cairn_rpc::envelope::{Params, RpcError};
use cairn_rpc::methods::{
    ChainGetBlockByHash, ChainGetBlockByHeight, ChainGetHeaders, ChainGetInfo, MempoolEstimateFee,
    MempoolGetContent, MempoolGetInfo, MiningGetInfo, MiningGetWork, MiningSubmitWork, NetConnect,
    NetGetInfo, NetGetPeers, NodeGenerate, NodeGetInfo, NodeGetStorageInfo, PoolGetInfo,
    PoolGetPayouts, PoolGetWorkers, StateGetAccount, StateGetHistory, Subscribe, TxGet, TxGetProof,
    TxSend, Unsubscribe,
};
use cairn_rpc::schema::{Generator, describe};
use cairn_rpc::{ErrorCode, Method};
use serde_json::Value;

use crate::rpc::RpcContext;

/// A handler's result.
pub type RpcResult = Result<Value, RpcError>;
/// An async handler's future.
pub type BoxFuture = Pin<Box<dyn Future<Output = RpcResult> + Send>>;

/// A method answered from the node's state: reads through the published view or a
/// store snapshot, writes through the node.
pub(crate) trait Handle: Method {
    /// Answers one call.
    fn handle(ctx: &RpcContext, params: Self::Params) -> Result<Self::Result, RpcError>;
}

/// A method that talks to the network task.
pub(crate) trait HandleAsync: Method {
    /// Answers one call.
    fn handle(
        ctx: Arc<RpcContext>,
        params: Self::Params,
    ) -> impl Future<Output = Result<Self::Result, RpcError>> + Send;
}

/// How a method runs.
#[derive(Clone, Copy, Debug)]
pub enum Handler {
    /// May scan the store or build a template: run on a blocking thread.
    Blocking(fn(&RpcContext, &Params) -> RpcResult),
    /// Talks to the network task: awaited on the runtime.
    Async(fn(Arc<RpcContext>, Params) -> BoxFuture),
    /// A point read (the published view, one key): run in place, without a hop to
    /// the blocking pool.
    Inline(fn(&RpcContext, &Params) -> RpcResult),
    /// Served by the WebSocket connection itself (`subscribe`, `unsubscribe`).
    WebSocket,
}

/// One method.
#[derive(Clone, Copy, Debug)]
pub struct MethodDef {
    /// Its name.
    pub name: &'static str,
    /// Whether it needs the RPC token.
    pub admin: bool,
    /// The code.
    pub handler: Handler,
    /// Its OpenRPC description.
    pub describe: fn(&mut Generator) -> Value,
}

fn run<M: Handle>(ctx: &RpcContext, params: &Params) -> RpcResult {
    let result = M::handle(ctx, params.decode::<M>()?)?;
    serde_json::to_value(result).map_err(|e| RpcError::new(ErrorCode::Internal, e.to_string()))
}

fn run_async<M: HandleAsync>(ctx: Arc<RpcContext>, params: Params) -> BoxFuture {
    Box::pin(async move {
        let result = M::handle(ctx, params.decode::<M>()?).await?;
        serde_json::to_value(result).map_err(|e| RpcError::new(ErrorCode::Internal, e.to_string()))
    })
}

const fn def<M: Method>(handler: Handler) -> MethodDef {
    MethodDef {
        name: M::NAME,
        admin: M::ADMIN,
        handler,
        describe: describe::<M>,
    }
}

const fn blocking<M: Handle>() -> MethodDef {
    def::<M>(Handler::Blocking(run::<M>))
}

const fn inline<M: Handle>() -> MethodDef {
    def::<M>(Handler::Inline(run::<M>))
}

const fn network<M: HandleAsync>() -> MethodDef {
    def::<M>(Handler::Async(run_async::<M>))
}

/// The method table, in the order of the reference.
pub const METHODS: &[MethodDef] = &[
    inline::<NodeGetInfo>(),
    blocking::<NodeGetStorageInfo>(),
    blocking::<NodeGenerate>(),
    inline::<ChainGetInfo>(),
    blocking::<ChainGetBlockByHeight>(),
    blocking::<ChainGetBlockByHash>(),
    blocking::<ChainGetHeaders>(),
    blocking::<TxSend>(),
    blocking::<TxGet>(),
    blocking::<TxGetProof>(),
    blocking::<StateGetAccount>(),
    blocking::<StateGetHistory>(),
    inline::<MempoolGetInfo>(),
    blocking::<MempoolGetContent>(),
    blocking::<MempoolEstimateFee>(),
    blocking::<MiningGetWork>(),
    blocking::<MiningSubmitWork>(),
    blocking::<MiningGetInfo>(),
    inline::<PoolGetInfo>(),
    inline::<PoolGetWorkers>(),
    blocking::<PoolGetPayouts>(),
    network::<NetGetInfo>(),
    network::<NetGetPeers>(),
    network::<NetConnect>(),
    def::<Subscribe>(Handler::WebSocket),
    def::<Unsubscribe>(Handler::WebSocket),
];

/// The method called `name`.
pub fn find(name: &str) -> Option<&'static MethodDef> {
    METHODS.iter().find(|m| m.name == name)
}
