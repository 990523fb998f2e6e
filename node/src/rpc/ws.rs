//! WebSocket connections: the same requests as HTTP, plus subscriptions.
//!
//! `{"method":"subscribe","params":["newHeads",{"fromHeight":N}]}` answers with a
//! subscription id, then sends `{"method":"subscription","params":{"subscription":id,
//! "result":header}}` for every main-chain block from `fromHeight` (replayed from the
//! store) and then for every block connected after. After a reorganisation the new
//! branch's headers are sent again from the fork point, so a client keeps the last
//! header it got for each height. `newPendingTxs` sends each transfer admitted to the
//! mempool; `newWork` sends work for a remote miner at once and at every new tip.
//! `unsubscribe` takes the id. The parameters are `cairn-rpc`'s `SubscribeParams`.
//!
//! What waits for a client is bounded in bytes ([`MAX_QUEUED_BYTES`]), and each write
//! must finish within `ws_write_timeout`: a client that stops reading is dropped
//! instead of holding its queue (and, through its subscriptions, the node's events).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, broadcast, mpsc, oneshot};
use tracing::debug;

use cairn_rpc::ErrorCode;
use cairn_rpc::envelope::{Params, Request, RpcError, response};
use cairn_rpc::methods::{Subscribe, SubscribeParams, Unsubscribe};
use cairn_rpc::types::{SubscriptionEvent, Topic};

use crate::node::NodeEvent;
use crate::rpc::handlers::mining::work_for;
use crate::rpc::handlers::{header_view, transfer_view};
use crate::rpc::{AppState, RpcContext, call};

/// Most subscriptions per connection.
const MAX_SUBSCRIPTIONS: usize = 16;
/// Most `newWork` subscriptions per connection (each builds work on every tip).
const MAX_WORK_SUBSCRIPTIONS: usize = 2;
/// Heights re-sent below the last one when a lagging `newHeads` subscriber catches up.
const LAG_REPLAY_DEPTH: u64 = 100;
/// Messages queued for a client before it is considered too slow.
const OUTBOX: usize = 4_096;
/// Bytes queued for a client: answers beyond it drop the client, subscriptions wait
/// (and catch up from the store if they fall behind the node's events). One message
/// larger than this (a full block with its transfers) is still sent, alone.
pub(crate) const MAX_QUEUED_BYTES: usize = 4 * 1024 * 1024;

/// The queue of one connection's outgoing messages, bounded in count and in bytes.
#[derive(Debug, Clone)]
pub(crate) struct Outbox {
    tx: mpsc::Sender<(String, OwnedSemaphorePermit)>,
    bytes: Arc<Semaphore>,
}

/// The connection is gone, or its queue is full.
#[derive(Debug)]
pub(crate) struct OutboxError;

impl Outbox {
    fn new() -> (Outbox, mpsc::Receiver<(String, OwnedSemaphorePermit)>) {
        let (tx, rx) = mpsc::channel(OUTBOX);
        let bytes = Arc::new(Semaphore::new(MAX_QUEUED_BYTES));
        (Outbox { tx, bytes }, rx)
    }

    fn permits(text: &str) -> u32 {
        u32::try_from(text.len().clamp(1, MAX_QUEUED_BYTES)).unwrap_or(u32::MAX)
    }

    /// Queues an answer, waiting at most `timeout` for room; false if there was none
    /// (the client does not read) or the connection is closing.
    pub(crate) async fn reply(&self, v: &Value, timeout: std::time::Duration) -> bool {
        matches!(
            tokio::time::timeout(timeout, self.send(v)).await,
            Ok(Ok(()))
        )
    }

    /// Queues `v`, waiting for room.
    pub(crate) async fn send(&self, v: &Value) -> Result<(), OutboxError> {
        let text = v.to_string();
        let permit = self
            .bytes
            .clone()
            .acquire_many_owned(Self::permits(&text))
            .await
            .map_err(|_| OutboxError)?;
        self.tx.send((text, permit)).await.map_err(|_| OutboxError)
    }
}

pub(crate) async fn connection(socket: WebSocket, state: AppState, auth: bool) {
    let (mut sink, mut stream) = socket.split();
    let (out, mut outbox) = Outbox::new();
    let bytes = out.bytes.clone();
    let write_timeout = state.config.ws_write_timeout;
    // Dropped when the writer stops, which ends the connection.
    let (writer_alive, mut writer_gone) = oneshot::channel::<()>();
    let writer = tokio::spawn(async move {
        let _alive = writer_alive;
        while let Some((text, _permit)) = outbox.recv().await {
            let sent = tokio::time::timeout(write_timeout, sink.send(Message::Text(text.into())));
            match sent.await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => break,
                Err(_) => {
                    debug!(target: "rpc", "WebSocket client not reading for {write_timeout:?}; dropped");
                    break;
                }
            }
        }
        // Wake subscriptions waiting for room: there will be none.
        bytes.close();
    });
    let mut subs: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
    let mut next_id: u64 = 1;
    let mut work_subs = 0usize;
    let mut shutdown = state.shutdown.clone();
    loop {
        let msg = tokio::select! {
            m = stream.next() => match m {
                Some(Ok(m)) => m,
                _ => break,
            },
            _ = shutdown.wait_for(|s| *s) => break,
            _ = &mut writer_gone => break,
        };
        let text = match msg {
            Message::Text(t) => t.to_string(),
            Message::Binary(b) => String::from_utf8_lossy(&b).into_owned(),
            Message::Close(_) => break,
            _ => continue,
        };
        subs.retain(|_, t| !t.is_finished());
        let parsed = serde_json::from_str::<Value>(&text);
        let Ok(_permit) = state.limits.clone().try_acquire_owned() else {
            // Answer with the request's id (nothing for a notification), so a caller
            // can tell which request to retry.
            let id = match &parsed {
                Ok(Value::Object(o)) => o.get("id").cloned(),
                _ => Some(Value::Null),
            };
            if let Some(id) = id {
                let e = RpcError::new(ErrorCode::Busy, "too many requests at once; retry");
                if !out.reply(&response(id, Err(e)), write_timeout).await {
                    break;
                }
            }
            continue;
        };
        let reply = match parsed {
            Ok(v @ Value::Object(_)) => match Request::parse(v) {
                Ok(req) if req.method == "subscribe" || req.method == "unsubscribe" => {
                    let id = req.id.clone();
                    let r = if req.method == "subscribe" {
                        subscribe(
                            &state.ctx,
                            &req,
                            &out,
                            &mut subs,
                            &mut next_id,
                            &mut work_subs,
                        )
                        .await
                    } else {
                        unsubscribe(&req, &mut subs)
                    };
                    id.map(|id| response(id, r))
                }
                Ok(req) => {
                    let id = req.id.clone();
                    let r = call(state.ctx.clone(), req, auth).await;
                    id.map(|id| response(id, r))
                }
                Err((id, e)) => Some(response(id, Err(e))),
            },
            // Batches and everything else go through the common path.
            _ => super::handle_text(&state, text.as_bytes(), auth).await,
        };
        // An answer waits for room (the writer makes it as the client reads), at most
        // the write timeout: a client that does not read its answers is dropped
        // rather than buffered.
        if let Some(r) = reply
            && !out.reply(&r, write_timeout).await
        {
            break;
        }
    }
    for (_, t) in subs {
        t.abort();
    }
    drop(out);
    let _ = writer.await;
}

fn unsubscribe(
    req: &Request,
    subs: &mut HashMap<String, tokio::task::JoinHandle<()>>,
) -> Result<Value, RpcError> {
    let p = req.params.decode::<Unsubscribe>()?;
    match subs.remove(&p.subscription) {
        Some(t) => {
            t.abort();
            Ok(Value::Bool(true))
        }
        None => Ok(Value::Bool(false)),
    }
}

/// `subscribe`'s parameters. Besides the one rule for every method, the older
/// positional form `[topic, {options}]` is read as the named form.
fn subscribe_params(params: &Params) -> Result<SubscribeParams, RpcError> {
    if let Params::Array(a) = params
        && let [topic, Value::Object(options)] = a.as_slice()
    {
        let mut named = options.clone();
        if named.insert("topic".into(), topic.clone()).is_some() {
            return Err(RpcError::params("`topic` given twice"));
        }
        return Params::Object(named).decode::<Subscribe>();
    }
    params.decode::<Subscribe>()
}

async fn subscribe(
    ctx: &Arc<RpcContext>,
    req: &Request,
    out: &Outbox,
    subs: &mut HashMap<String, tokio::task::JoinHandle<()>>,
    next_id: &mut u64,
    work_subs: &mut usize,
) -> Result<Value, RpcError> {
    let p = subscribe_params(&req.params)?;
    if subs.len() >= MAX_SUBSCRIPTIONS {
        return Err(RpcError::params(format!(
            "at most {MAX_SUBSCRIPTIONS} subscriptions per connection"
        )));
    }
    let misplaced = match p.topic {
        Topic::NewHeads => p.coinbase.is_some() || p.worker.is_some() || p.hashrate.is_some(),
        Topic::NewPendingTxs => {
            p.from_height.is_some()
                || p.coinbase.is_some()
                || p.worker.is_some()
                || p.hashrate.is_some()
        }
        Topic::NewWork => p.from_height.is_some(),
    };
    if misplaced {
        return Err(RpcError::params(
            "fromHeight is for newHeads; coinbase, worker and hashrate are for newWork",
        ));
    }
    let id = format!("0x{:x}", *next_id);
    *next_id += 1;
    // Subscribe to events before replaying, so nothing falls in between.
    let events = ctx.node.subscribe();
    let task = match p.topic {
        Topic::NewHeads => tokio::spawn(new_heads(
            ctx.clone(),
            events,
            out.clone(),
            id.clone(),
            p.from_height.map(|h| h.0),
        )),
        Topic::NewPendingTxs => tokio::spawn(new_pending_txs(events, out.clone(), id.clone())),
        Topic::NewWork => {
            // The first work is built now, so a bad request fails the subscription
            // itself.
            if *work_subs >= MAX_WORK_SUBSCRIPTIONS {
                return Err(RpcError::params(format!(
                    "at most {MAX_WORK_SUBSCRIPTIONS} newWork subscriptions per connection"
                )));
            }
            let Some(coinbase) = p.coinbase else {
                return Err(RpcError::params("newWork needs `coinbase`"));
            };
            let request = WorkRequest {
                coinbase,
                worker: p.worker,
                hashrate: p.hashrate,
            };
            let (c, r) = (ctx.clone(), request.clone());
            let first = tokio::task::spawn_blocking(move || r.build(&c))
                .await
                .map_err(|_| RpcError::new(ErrorCode::Internal, "work could not be built"))??;
            *work_subs += 1;
            tokio::spawn(new_work(
                ctx.clone(),
                events,
                out.clone(),
                id.clone(),
                request,
                first,
            ))
        }
    };
    subs.insert(id.clone(), task);
    Ok(Value::String(id))
}

/// What a `newWork` subscriber asked for.
#[derive(Debug, Clone)]
struct WorkRequest {
    coinbase: cairn_core::Address,
    worker: Option<String>,
    hashrate: Option<f64>,
}

impl WorkRequest {
    fn build(&self, ctx: &RpcContext) -> Result<Value, RpcError> {
        let work = work_for(ctx, self.coinbase, self.worker.as_deref(), self.hashrate)?;
        serde_json::to_value(work).map_err(|e| RpcError::new(ErrorCode::Internal, e.to_string()))
    }
}

/// A result type as JSON (they serialise infallibly: no maps with non-string keys).
fn as_json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn notification(id: &str, result: Value) -> Value {
    let event = SubscriptionEvent {
        subscription: id.to_string(),
        result,
    };
    json!({ "jsonrpc": "2.0", "method": "subscription", "params": as_json(&event) })
}

/// Sends main-chain headers from `from` up to the tip, returning the last height sent.
async fn replay(ctx: &RpcContext, out: &Outbox, id: &str, from: u64) -> Option<u64> {
    let mut h = from;
    let mut last = None;
    loop {
        let node = ctx.node.clone();
        // In chunks, each from a store snapshot on a blocking thread.
        let chunk = tokio::task::spawn_blocking(move || {
            let snapshot = node.reader().snapshot();
            let mut out = Vec::new();
            for x in h..h.saturating_add(256) {
                let Ok(Some(id)) = snapshot.block_id_at(x) else {
                    break;
                };
                let Ok(Some(header)) = snapshot.header(&id) else {
                    break;
                };
                out.push(header);
            }
            out
        })
        .await
        .ok()?;

        if chunk.is_empty() {
            return last;
        }
        for header in &chunk {
            out.send(&notification(id, as_json(&header_view(header, false))))
                .await
                .ok()?;
            last = Some(header.height);
        }
        h = last? + 1;
    }
}

async fn new_heads(
    ctx: Arc<RpcContext>,
    mut events: broadcast::Receiver<NodeEvent>,
    out: Outbox,
    id: String,
    from: Option<u64>,
) {
    let mut sent_up_to = match from {
        Some(f) => replay(&ctx, &out, &id, f).await,
        None => None,
    };
    loop {
        match events.recv().await {
            Ok(NodeEvent::TipChanged {
                connected,
                disconnected,
                ..
            }) => {
                for header in &connected {
                    let h = header.height;
                    // An extension the replay already covered arrives again as an
                    // event: skip it. After a reorganisation every header is new.
                    if disconnected.is_empty() && sent_up_to.is_some_and(|s| h <= s) {
                        continue;
                    }
                    if out
                        .send(&notification(&id, as_json(&header_view(header, false))))
                        .await
                        .is_err()
                    {
                        return;
                    }
                    sent_up_to = Some(h);
                }
            }
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(n)) => {
                // Too slow for live events: catch up from the store instead, starting a
                // little below the last height sent, so a reorganisation among the
                // missed events is sent again (the client keeps the last header per
                // height).
                debug!(target: "rpc", skipped = n, "newHeads subscriber lagged; replaying");
                let resume = sent_up_to.map_or(0, |s| (s + 1).saturating_sub(LAG_REPLAY_DEPTH));
                sent_up_to = replay(&ctx, &out, &id, resume).await.or(sent_up_to);
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

async fn new_pending_txs(mut events: broadcast::Receiver<NodeEvent>, out: Outbox, id: String) {
    loop {
        match events.recv().await {
            Ok(NodeEvent::TransferAdded { tx, .. }) => {
                let v = as_json(&transfer_view(&tx, false));
                if out.send(&notification(&id, v)).await.is_err() {
                    return;
                }
            }
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(n)) => {
                let e = json!({ "error": ErrorCode::Busy.message(), "skipped": n });
                if out.send(&notification(&id, e)).await.is_err() {
                    return;
                }
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Sends work at once, then fresh work whenever the tip moves (so miners drop stale
/// work within milliseconds).
async fn new_work(
    ctx: Arc<RpcContext>,
    mut events: broadcast::Receiver<NodeEvent>,
    out: Outbox,
    id: String,
    request: WorkRequest,
    first: Value,
) {
    if out.send(&notification(&id, first)).await.is_err() {
        return;
    }
    loop {
        match events.recv().await {
            Ok(NodeEvent::TipChanged { .. }) | Err(broadcast::error::RecvError::Lagged(_)) => {
                // Coalesce a burst of tip changes into one piece of work.
                while let Ok(NodeEvent::TipChanged { .. }) = events.try_recv() {}
                let (c, r) = (ctx.clone(), request.clone());
                let Ok(Ok(work)) = tokio::task::spawn_blocking(move || r.build(&c)).await else {
                    return;
                };
                if out.send(&notification(&id, work)).await.is_err() {
                    return;
                }
            }
            Ok(_) => {}
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}
