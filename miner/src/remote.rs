//! Mining against a node: work arrives over the node's WebSocket (`newWork`, pushed
//! on every new tip), solutions go back with `mining_submitWork`; the messages are
//! `cairn-rpc`'s types. Reconnects with
//! backoff when the node goes away.

use std::collections::HashMap;
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use cairn_core::Address;
use cairn_miner::{Miner, NonceRange, Template};
use cairn_rpc::envelope::{Request, Response};
use cairn_rpc::methods::{MiningSubmitWork, SubmitParams, Subscribe, SubscribeParams};
use cairn_rpc::types::{Submitted, SubscriptionEvent, Topic};
use cairn_rpc::{Dec, Method};
use serde_json::Value;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

/// What to mine for.
#[derive(Debug, Clone)]
pub(crate) struct RemoteConfig {
    /// The node's RPC URL (http://host:port).
    pub(crate) url: String,
    /// Who the blocks pay.
    pub(crate) coinbase: Address,
    /// This machine's name at the node (its extranonce).
    pub(crate) worker: String,
    /// Seconds between status lines.
    pub(crate) report_every: Duration,
}

struct Work {
    id: u64,
    template: Template,
    range: NonceRange,
    height: u64,
}

#[derive(Default)]
struct Stats {
    accepted: u64,
    rejected: HashMap<String, u64>,
}

fn ws_url(url: &str) -> String {
    let base = url.trim_end_matches('/');
    let base = base
        .strip_prefix("http://")
        .map(|r| format!("ws://{r}"))
        .or_else(|| base.strip_prefix("https://").map(|r| format!("wss://{r}")))
        .unwrap_or_else(|| base.to_string());
    format!("{base}/ws")
}

fn parse_work(v: Value) -> anyhow::Result<Work> {
    let w: cairn_rpc::types::Work = serde_json::from_value(v).context("malformed work")?;
    let target = w
        .target
        .to_target()
        .map_err(|e| anyhow::anyhow!("bad target: {e}"))?;
    Ok(Work {
        id: w.work_id.0,
        template: Template {
            pre: w.pre_hash,
            target,
        },
        range: NonceRange {
            start: w.nonce_start.0,
            end: w.nonce_end.0,
        },
        height: w.height.0,
    })
}

fn request<M: Method>(id: u64, params: &M::Params) -> anyhow::Result<Value> {
    Ok(Request::new::<M>(id, params)?.to_json())
}

/// The newest work, handed from the connection to the search thread. Setting a new
/// one cancels the search in progress.
#[derive(Default)]
struct Slot {
    work: std::sync::Mutex<Option<Work>>,
    ready: std::sync::Condvar,
    cancel: AtomicBool,
}

impl Slot {
    fn set(&self, work: Option<Work>) {
        let mut w = self.work.lock().unwrap_or_else(|p| p.into_inner());
        *w = work;
        self.cancel.store(true, Ordering::Relaxed);
        self.ready.notify_one();
    }

    /// Waits for work, then clears the cancel flag for the search about to start.
    fn take(&self) -> Work {
        let mut w = self.work.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(work) = w.take() {
                self.cancel.store(false, Ordering::Relaxed);
                return work;
            }
            w = self.ready.wait(w).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// Mines until the process is stopped.
pub(crate) fn run(config: &RemoteConfig, miner: Miner) -> anyhow::Result<()> {
    let hashes = Arc::new(AtomicU64::new(0));
    let slot = Arc::new(Slot::default());
    let (sol_tx, sol_rx) = mpsc::sync_channel::<(u64, u64, u64)>(64);
    let (h, sl) = (hashes.clone(), slot.clone());
    std::thread::Builder::new()
        .name("search".into())
        .spawn(move || {
            loop {
                let mut work = sl.take();
                // After a solution, go on with the rest of the range: if the node
                // refuses it (stale, busy), there may be another before new work.
                while work.range.start < work.range.end && !sl.cancel.load(Ordering::Relaxed) {
                    let r = miner.search(&work.template, work.range, &sl.cancel, Some(&h));
                    let Some(s) = r.solution else { break };
                    if let Err(mpsc::TrySendError::Disconnected(_)) =
                        sol_tx.try_send((work.id, s.nonce, work.height))
                    {
                        return;
                    }
                    work.range.start = s.nonce.saturating_add(1);
                }
            }
        })?;
    let mut stats = Stats::default();
    let mut backoff = Duration::from_millis(500);
    loop {
        let result = session(config, &slot, &sol_rx, &hashes, &mut stats, &mut backoff);
        // Work from a lost connection may be stale by the time it is back.
        slot.set(None);
        if let Err(e) = result {
            eprintln!(
                "connection to {}: {e:#}; retrying in {:.1}s",
                config.url,
                backoff.as_secs_f64()
            );
        }
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(Duration::from_secs(15));
    }
}

fn send(socket: &mut WebSocket<MaybeTlsStream<TcpStream>>, v: &Value) -> anyhow::Result<()> {
    socket.send(Message::Text(v.to_string().into()))?;
    Ok(())
}

fn session(
    config: &RemoteConfig,
    slot: &Slot,
    sol_rx: &mpsc::Receiver<(u64, u64, u64)>,
    hashes: &AtomicU64,
    stats: &mut Stats,
    backoff: &mut Duration,
) -> anyhow::Result<()> {
    let (mut socket, _) = tungstenite::connect(ws_url(&config.url)).context("cannot connect")?;
    if let MaybeTlsStream::Plain(s) = socket.get_ref() {
        s.set_read_timeout(Some(Duration::from_millis(20)))?;
        s.set_nodelay(true)?;
    }
    let subscription = SubscribeParams {
        topic: Topic::NewWork,
        from_height: None,
        coinbase: Some(config.coinbase),
        worker: Some(config.worker.clone()),
        hashrate: None,
    };
    send(&mut socket, &request::<Subscribe>(1, &subscription)?)?;
    let mut pending: HashMap<u64, (u64, u64)> = HashMap::new(); // request id → (height, nonce)
    let mut next_id = 2u64;
    let mut last_report = Instant::now();
    let mut last_hashes = hashes.load(Ordering::Relaxed);
    loop {
        match socket.read() {
            Ok(Message::Text(t)) => {
                let mut v: Value = serde_json::from_str(&t).context("bad message")?;
                if v["method"] == "subscription" {
                    let event: SubscriptionEvent =
                        serde_json::from_value(v["params"].take()).context("bad notification")?;
                    let work = parse_work(event.result)?;
                    let height = work.height;
                    // Drops the old work at once.
                    slot.set(Some(work));
                    eprintln!("new work at height {height}");
                } else if v["id"] == 1 {
                    let answer: Response = serde_json::from_value(v).context("bad answer")?;
                    if let Err(e) = answer.into_result() {
                        bail!("the node refused the subscription: {e}");
                    }
                    *backoff = Duration::from_millis(500);
                    eprintln!("connected to {} as worker `{}`", config.url, config.worker);
                } else if let Some((height, nonce)) =
                    v["id"].as_u64().and_then(|i| pending.remove(&i))
                {
                    let answer: Response = serde_json::from_value(v).context("bad answer")?;
                    match answer.into_result() {
                        Ok(result) => {
                            stats.accepted += 1;
                            let block = serde_json::from_value::<Submitted>(result)
                                .map_or_else(|_| "?".to_string(), |s| s.block.to_string());
                            eprintln!("block {height} accepted (nonce {nonce}): {block}");
                        }
                        Err(e) => {
                            let reason = e.reason().unwrap_or("rejected").to_string();
                            eprintln!("block {height} rejected: {reason}");
                            *stats.rejected.entry(reason).or_default() += 1;
                        }
                    }
                }
            }
            Ok(Message::Close(_)) => bail!("the node closed the connection"),
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e.into()),
        }
        while let Ok((work_id, nonce, height)) = sol_rx.try_recv() {
            // A solution for work of an earlier connection is stale: the node drops
            // old work when it restarts.
            pending.insert(next_id, (height, nonce));
            let submission = SubmitParams {
                work_id: Dec(work_id),
                nonce: Dec(nonce),
                worker: Some(config.worker.clone()),
            };
            send(
                &mut socket,
                &request::<MiningSubmitWork>(next_id, &submission)?,
            )?;
            next_id += 1;
        }
        let elapsed = last_report.elapsed();
        if elapsed >= config.report_every {
            let total = hashes.load(Ordering::Relaxed);
            let hashrate = total.saturating_sub(last_hashes) as f64 / elapsed.as_secs_f64();
            last_hashes = total;
            last_report = Instant::now();
            let rejected: u64 = stats.rejected.values().sum();
            eprintln!(
                "hashrate {:.2} MH/s  accepted {}  rejected {}{}",
                hashrate / 1e6,
                stats.accepted,
                rejected,
                if rejected > 0 {
                    format!(" {:?}", stats.rejected)
                } else {
                    String::new()
                }
            );
        }
    }
}
