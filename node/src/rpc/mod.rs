//! JSON-RPC 2.0 over HTTP (`POST /`) and WebSocket (`GET /ws`) on one port (axum).
//!
//! Every method is one entry of [`methods::METHODS`]: the dispatcher and the OpenRPC
//! document (`rpc.discover`) are built from the same table. Reads run on blocking
//! threads (they take the node's lock); bodies, batches and concurrent requests are
//! bounded; methods that change the node beyond submitting transactions need the
//! token (`--rpc-token`, or the cookie file `<datadir>/.cookie` written at start).

mod explorer;
pub mod methods;
pub mod metrics;
pub mod openrpc;
pub mod types;
mod ws;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::FutureExt;
use serde_json::Value;
use tokio::sync::Semaphore;
use tracing::{error, info};

use crate::mining::work::WorkManager;
use crate::network::Client;
use crate::node::Node;
use crate::rpc::methods::{Handler, find};
use crate::rpc::types::{ErrorCode, Request, RpcError, response};
use crate::sync::SyncHandle;

/// Settings of the RPC server.
#[derive(Debug, Clone)]
pub struct RpcConfig {
    /// Where to listen (127.0.0.1 by default: the RPC is for this machine).
    pub listen: SocketAddr,
    /// The admin token; None: a random one is written to `cookie`.
    pub token: Option<String>,
    /// Where the generated token is written.
    pub cookie: PathBuf,
    /// Largest request body (HTTP) or message (WebSocket).
    pub max_body_bytes: usize,
    /// Most requests in one batch.
    pub max_batch: usize,
    /// Most requests (HTTP bodies or WebSocket messages) handled at once.
    pub max_concurrency: usize,
    /// Most WebSocket connections at once.
    pub max_connections: usize,
    /// Serve `node_generate` (the dev network turns it on).
    pub generate: bool,
}

impl RpcConfig {
    /// Defaults for a node whose data lives in `datadir`.
    pub fn new(datadir: &Path) -> RpcConfig {
        RpcConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8645)),
            token: None,
            cookie: datadir.join(".cookie"),
            max_body_bytes: 1024 * 1024,
            max_batch: 100,
            max_concurrency: 64,
            max_connections: 256,
            generate: false,
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum RpcStartError {
    /// The address is taken or not ours.
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    /// The cookie could not be written.
    #[error("cannot write the RPC cookie {0}: {1}")]
    Cookie(PathBuf, std::io::Error),
}

/// What handlers see.
pub struct RpcContext {
    /// The node.
    pub node: Arc<Node>,
    /// The network, if any.
    pub network: Option<Client>,
    /// Sync status, if networked.
    pub sync: Option<SyncHandle>,
    /// Whether `node_generate` is served.
    pub generate: bool,
    /// Remote mining work.
    pub work: Arc<WorkManager>,
    /// Hashes tried by the built-in miner (for the local hashrate).
    pub hashes: Option<Arc<std::sync::atomic::AtomicU64>>,
    /// The last (time, hashes) sample, for the local hashrate.
    pub hash_sample: std::sync::Mutex<(std::time::Instant, u64, f64)>,
}

impl std::fmt::Debug for RpcContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcContext").finish_non_exhaustive()
    }
}

#[derive(Clone)]
struct AppState {
    shutdown: tokio::sync::watch::Receiver<bool>,
    ctx: Arc<RpcContext>,
    token: Arc<String>,
    limits: Arc<Semaphore>,
    connections: Arc<Semaphore>,
    config: Arc<RpcConfig>,
}

/// A running server.
#[derive(Debug)]
pub struct RpcServer {
    /// The bound address (with the real port when 0 was asked).
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
    shutdown: tokio::sync::watch::Sender<bool>,
}

impl RpcServer {
    /// Stops accepting, closes WebSocket connections, and waits (up to 5 s) for
    /// requests in flight.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let mut task = self.task;
        if tokio::time::timeout(std::time::Duration::from_secs(5), &mut task)
            .await
            .is_err()
        {
            task.abort();
        }
    }

    /// Asks the server to stop without waiting.
    pub fn signal_stop(&self) {
        let _ = self.shutdown.send(true);
    }
}

/// Binds and serves on the current tokio runtime.
pub async fn serve(config: RpcConfig, ctx: RpcContext) -> Result<RpcServer, RpcStartError> {
    let token = match &config.token {
        Some(t) => t.clone(),
        None => {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes).map_err(|e| {
                RpcStartError::Cookie(config.cookie.clone(), std::io::Error::other(e.to_string()))
            })?;
            let t = hex::encode(bytes);
            crate::fsutil::write_private(&config.cookie, t.as_bytes())
                .map_err(|e| RpcStartError::Cookie(config.cookie.clone(), e))?;
            t
        }
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| RpcStartError::Bind(config.listen, e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| RpcStartError::Bind(config.listen, e))?;
    let ctx = RpcContext {
        generate: config.generate,
        ..ctx
    };
    let (shutdown, shutdown_rx) = tokio::sync::watch::channel(false);
    let state = AppState {
        shutdown: shutdown_rx.clone(),
        ctx: Arc::new(ctx),
        token: Arc::new(token),
        limits: Arc::new(Semaphore::new(config.max_concurrency)),
        connections: Arc::new(Semaphore::new(config.max_connections)),
        config: Arc::new(config),
    };
    let app = Router::new()
        .route("/", post(http_rpc).get(explorer::index))
        .route("/app.js", get(explorer::app))
        .route("/style.css", get(explorer::style))
        .route("/metrics", get(http_metrics))
        .route("/ws", get(ws_upgrade))
        .with_state(state);
    info!(
        target: "rpc",
        "JSON-RPC on http://{addr}/ and ws://{addr}/ws; explorer on http://{addr}/, metrics on http://{addr}/metrics"
    );
    let mut stop = shutdown_rx;
    let task = tokio::spawn(async move {
        let signal = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(signal)
            .await
        {
            error!(target: "rpc", "server stopped: {e}");
        }
    });
    Ok(RpcServer {
        addr,
        task,
        shutdown,
    })
}

async fn http_metrics(State(state): State<AppState>) -> Response {
    let Ok(_permit) = state.limits.clone().try_acquire_owned() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "busy").into_response();
    };
    let body = metrics::render(&state.ctx).await;
    ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], body).into_response()
}

fn authorized(headers: &HeaderMap, query_token: Option<&str>, token: &str) -> bool {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let given = bearer.or(query_token);
    given.is_some_and(|g| constant_time_eq(g.as_bytes(), token.as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn json_response(status: StatusCode, v: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}

async fn http_rpc(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let max = state.config.max_body_bytes;
    // The body first (a slow sender holds no permit), within 10 s.
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        axum::body::to_bytes(body, max),
    )
    .await;
    let bytes: Bytes = match read {
        Ok(Ok(b)) => b,
        Ok(Err(_)) => {
            let e = RpcError::new(
                ErrorCode::InvalidRequest,
                format!("request body over {max} bytes"),
            );
            return json_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                &response(Value::Null, Err(e)),
            );
        }
        Err(_) => {
            let e = RpcError::new(ErrorCode::InvalidRequest, "request body too slow");
            return json_response(StatusCode::REQUEST_TIMEOUT, &response(Value::Null, Err(e)));
        }
    };
    let Ok(_permit) = state.limits.clone().try_acquire_owned() else {
        let e = RpcError::new(ErrorCode::Busy, "too many requests at once; retry");
        return json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &response(Value::Null, Err(e)),
        );
    };
    let auth = authorized(&headers, None, &state.token);
    match handle_text(&state, &bytes, auth).await {
        Some(v) => json_response(StatusCode::OK, &v),
        None => StatusCode::NO_CONTENT.into_response(),
    }
}

/// Handles one body or message: a request or a batch. None when nothing is to be
/// answered (notifications only).
async fn handle_text(state: &AppState, bytes: &[u8], auth: bool) -> Option<Value> {
    let value: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            return Some(response(
                Value::Null,
                Err(RpcError::new(ErrorCode::ParseError, e.to_string())),
            ));
        }
    };
    match value {
        Value::Array(items) => {
            if items.is_empty() {
                return Some(response(
                    Value::Null,
                    Err(RpcError::new(ErrorCode::InvalidRequest, "empty batch")),
                ));
            }
            let max = state.config.max_batch;
            if items.len() > max {
                return Some(response(
                    Value::Null,
                    Err(RpcError::new(
                        ErrorCode::InvalidRequest,
                        format!("batch of {} requests exceeds {max}", items.len()),
                    )),
                ));
            }
            // One after the other: a batch counts as one request against the
            // concurrency limit, so it must not fan out.
            let mut answers = Vec::with_capacity(items.len());
            for item in items {
                if let Some(a) = handle_one(state.ctx.clone(), item, auth).await {
                    answers.push(a);
                }
            }
            (!answers.is_empty()).then_some(Value::Array(answers))
        }
        single => handle_one(state.ctx.clone(), single, auth).await,
    }
}

async fn handle_one(ctx: Arc<RpcContext>, item: Value, auth: bool) -> Option<Value> {
    let request = match Request::parse(item) {
        Ok(r) => r,
        Err((id, e)) => return Some(response(id, Err(e))),
    };
    let id = request.id.clone();
    let result = call(ctx, request, auth).await;
    id.map(|id| response(id, result))
}

/// Runs one checked request.
pub async fn call(ctx: Arc<RpcContext>, request: Request, auth: bool) -> Result<Value, RpcError> {
    if request.method == "rpc.discover" {
        static DOC: OnceLock<Value> = OnceLock::new();
        return Ok(DOC.get_or_init(openrpc::document).clone());
    }
    let Some(method) = find(&request.method) else {
        return Err(RpcError::new(
            ErrorCode::MethodNotFound,
            format!("no method `{}` (rpc.discover lists them)", request.method),
        ));
    };
    if method.admin && !auth {
        return Err(RpcError::new(
            ErrorCode::Unauthorized,
            format!(
                "`{}` needs the RPC token (Authorization: Bearer …)",
                method.name
            ),
        ));
    }
    let params = request.params;
    let name = method.name;
    let outcome = match method.handler {
        Handler::Blocking(f) => tokio::task::spawn_blocking(move || f(&ctx, &params))
            .await
            .map_err(|_| ()),
        Handler::Inline(f) => {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&ctx, &params)))
                .map_err(|_| ())
        }
        Handler::Async(f) => std::panic::AssertUnwindSafe(f(ctx, params))
            .catch_unwind()
            .await
            .map_err(|_| ()),
    };
    outcome.unwrap_or_else(|()| {
        error!(target: "rpc", method = name, "handler panicked");
        Err(RpcError::new(ErrorCode::Internal, "the handler failed"))
    })
}

#[derive(Debug, serde::Deserialize)]
struct WsQuery {
    token: Option<String>,
}

async fn ws_upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<WsQuery>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let Ok(permit) = state.connections.clone().try_acquire_owned() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "too many connections").into_response();
    };
    let auth = authorized(&headers, q.token.as_deref(), &state.token);
    let max = state.config.max_body_bytes;
    upgrade
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| async move {
            ws::connection(socket, state, auth).await;
            drop(permit);
        })
}
