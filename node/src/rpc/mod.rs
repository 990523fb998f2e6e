//! JSON-RPC 2.0 over HTTP (`POST /`) and WebSocket (`GET /ws`) on one port (axum).
//!
//! Every method is one entry of [`api::METHODS`]: the dispatcher and the OpenRPC
//! document (`rpc.discover`) are built from the same table, and the parameters and
//! results are the `cairn-rpc` crate's types, which the wallet, the miner and the tests
//! decode. Reads run from the published chain view or a store snapshot; bodies, batches and concurrent requests are
//! bounded; methods that change the node beyond submitting transactions need the
//! token (`--rpc-token`, or the cookie file `<datadir>/.cookie` written at start).
//! Every route checks the `Host` and `Origin` headers first ([`access`]), so web pages
//! the operator visits cannot use the port.

pub mod access;
pub mod api;
mod explorer;
pub mod handlers;
pub mod metrics;
pub mod openrpc;
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
use cairn_rpc::ErrorCode;
use cairn_rpc::envelope::{Request, RpcError, response};
use futures::FutureExt;
use serde_json::Value;
use tokio::sync::Semaphore;
use tracing::{debug, error, info, warn};

use crate::mining::work::WorkManager;
use crate::network::Client;
use crate::node::Node;
use crate::rpc::api::{Handler, find};
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
    /// Most HTTP connections at once (WebSocket connections leave this count once
    /// upgraded); a connection beyond it is closed at once.
    pub max_http_connections: usize,
    /// A client must send a request's whole header within this time (a slow-loris
    /// connection is closed after it).
    pub header_timeout: std::time::Duration,
    /// Serve `node_generate` (the dev network turns it on).
    pub generate: bool,
    /// Host names served besides IP literals (`*`: any, insecure); see [`access`].
    pub allowed_hosts: Vec<String>,
    /// Browser origins served besides the node's own explorer (`*`: any site,
    /// insecure); see [`access`].
    pub allowed_origins: Vec<String>,
    /// A WebSocket client must take each message within this time, or it is dropped
    /// (a subscriber that stops reading would otherwise hold its queue forever).
    pub ws_write_timeout: std::time::Duration,
}

/// The default of `rpc.allowed_hosts`: IP literals and this name.
pub const DEFAULT_ALLOWED_HOSTS: &[&str] = &["localhost"];

impl RpcConfig {
    /// Defaults for a node whose data lives in `datadir`: the settable parts at
    /// `[rpc]`'s defaults (defined once, in `config/sections.rs`), the limits at
    /// their own.
    pub fn new(datadir: &Path) -> RpcConfig {
        let settings = crate::config::RpcSettings::default();
        RpcConfig {
            listen: settings.listen,
            token: None,
            cookie: datadir.join(".cookie"),
            max_body_bytes: 1024 * 1024,
            max_batch: 100,
            max_concurrency: 64,
            max_connections: 256,
            max_http_connections: 512,
            header_timeout: std::time::Duration::from_secs(10),
            generate: false,
            allowed_hosts: settings.allowed_hosts,
            allowed_origins: settings.allowed_origins,
            ws_write_timeout: std::time::Duration::from_secs(10),
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
    /// The Stratum pool, if it runs.
    pub pool: Option<Arc<crate::pool::Pool>>,
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
    let limits = ConnectionLimits {
        connections: Arc::new(Semaphore::new(state.config.max_http_connections)),
        header_timeout: state.config.header_timeout,
    };
    let policy = Arc::new(access::AccessPolicy::new(
        &state.config.allowed_hosts,
        &state.config.allowed_origins,
        addr,
    ));
    let app = Router::new()
        .route("/", post(http_rpc).get(explorer::index))
        .route("/app.js", get(explorer::app))
        .route("/style.css", get(explorer::style))
        .route("/metrics", get(http_metrics))
        .route("/ws", get(ws_upgrade))
        // Outermost, and over the fallback too: nothing runs for a refused request.
        .layer(axum::middleware::from_fn_with_state(policy, access::guard))
        .with_state(state);
    info!(
        target: "rpc",
        "JSON-RPC on http://{addr}/ and ws://{addr}/ws; explorer on http://{addr}/, metrics on http://{addr}/metrics"
    );
    let task = tokio::spawn(accept_loop(listener, app, shutdown_rx, limits));
    Ok(RpcServer {
        addr,
        task,
        shutdown,
    })
}

/// Per-connection limits of the HTTP server.
#[derive(Debug, Clone)]
struct ConnectionLimits {
    connections: Arc<Semaphore>,
    header_timeout: std::time::Duration,
}

/// The accept loop: HTTP/1.1 only (no HTTP/2 preface sniffing, which has no
/// timeout), a cap on open connections, and a deadline for every request header, so
/// neither idle nor dribbling connections pile up. On shutdown, connections finish
/// the request at hand.
async fn accept_loop(
    listener: tokio::net::TcpListener,
    app: Router,
    mut stop: tokio::sync::watch::Receiver<bool>,
    limits: ConnectionLimits,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            () = stopped(&mut stop) => break,
            a = listener.accept() => a,
            // Reap finished connections as we go.
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
        };
        let tcp = match accepted {
            Ok((tcp, _)) => tcp,
            Err(e) => {
                // Out of file descriptors and the like: back off briefly.
                warn!(target: "rpc", "accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = limits.connections.clone().try_acquire_owned() else {
            debug!(target: "rpc", "connection refused: all HTTP connection slots taken");
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let header_timeout = limits.header_timeout;
        let mut stop = stop.clone();
        conns.spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(TokioIo::new(tcp), service)
                .with_upgrades();
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                () = stopped(&mut stop) => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), conn).await;
                }
            }
            drop(permit);
        });
    }
    while conns.join_next().await.is_some() {}
}

/// Resolves once the shutdown flag is set.
async fn stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
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

/// 413 with a JSON-RPC error, for a body over `max` bytes.
fn body_too_large(max: usize) -> Response {
    let e = RpcError::new(
        ErrorCode::InvalidRequest,
        format!("request body over {max} bytes"),
    );
    json_response(
        StatusCode::PAYLOAD_TOO_LARGE,
        &response(Value::Null, Err(e)),
    )
}

async fn http_rpc(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let max = state.config.max_body_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return body_too_large(max);
    }
    // The body first (a slow sender holds no permit), within 10 s.
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        axum::body::to_bytes(body, max),
    )
    .await;
    let bytes: Bytes = match read {
        Ok(Ok(b)) => b,
        Ok(Err(_)) => return body_too_large(max),
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

/// A JSON array parsed in one pass with at most `max` elements built into values;
/// the rest are only counted, so a 1 MiB `[1,1,…]` does not become half a million
/// values just to be refused. Yields the first `max` elements and the total count.
struct BoundedBatch {
    max: usize,
}

impl<'de> serde::de::DeserializeSeed<'de> for BoundedBatch {
    type Value = (Vec<Value>, usize);

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for BoundedBatch {
    type Value = (Vec<Value>, usize);

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON array")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while items.len() < self.max {
            match seq.next_element::<Value>()? {
                Some(v) => items.push(v),
                None => {
                    let n = items.len();
                    return Ok((items, n));
                }
            }
        }
        let mut n = items.len();
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {
            n += 1;
        }
        Ok((items, n))
    }
}

/// A request body or message: one request, or a batch (its first `max` elements and
/// its length).
enum Parsed {
    Single(Value),
    Batch(Vec<Value>, usize),
}

fn parse_body(bytes: &[u8], max_batch: usize) -> Result<Parsed, serde_json::Error> {
    use serde::de::DeserializeSeed;
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'[') {
        return serde_json::from_slice(bytes).map(Parsed::Single);
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let (items, n) = BoundedBatch { max: max_batch }.deserialize(&mut de)?;
    de.end()?;
    Ok(Parsed::Batch(items, n))
}

/// Handles one body or message: a request or a batch. None when nothing is to be
/// answered (notifications only).
async fn handle_text(state: &AppState, bytes: &[u8], auth: bool) -> Option<Value> {
    let max = state.config.max_batch;
    let parsed = match parse_body(bytes, max) {
        Ok(b) => b,
        Err(e) => {
            return Some(response(
                Value::Null,
                Err(RpcError::new(ErrorCode::ParseError, e.to_string())),
            ));
        }
    };
    match parsed {
        Parsed::Batch(_, 0) => Some(response(
            Value::Null,
            Err(RpcError::new(ErrorCode::InvalidRequest, "empty batch")),
        )),
        Parsed::Batch(_, n) if n > max => Some(response(
            Value::Null,
            Err(RpcError::new(
                ErrorCode::InvalidRequest,
                format!("batch of {n} requests exceeds {max}"),
            )),
        )),
        Parsed::Batch(items, _) => {
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
        Parsed::Single(single) => handle_one(state.ctx.clone(), single, auth).await,
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
        Handler::WebSocket => {
            return Err(RpcError::new(
                ErrorCode::MethodNotFound,
                format!("`{name}` is served over the WebSocket (/ws) only"),
            ));
        }
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
