//! The Stratum endpoint (`docs/STRATUM.md`): TCP, one JSON message per line.
//!
//! Every session is one task holding its socket, a line buffer of at most
//! [`MAX_LINE_BYTES`] and its vardiff; what a stranger can make it hold is bounded:
//! sessions by a semaphore (`max_connections`), lines by their length, remembered
//! nonces per job, and time by an authorisation deadline and an idle timeout. A slow
//! reader is dropped when a write does not finish within [`WRITE_TIMEOUT`].

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_core::Address;
use cairn_stratum::messages::{
    self, AuthorizeParams, AuthorizeResult, Id, JobHeader, MAX_LINE_BYTES, NonceSpan, Notify,
    PayoutFigures, Reason, Refusal, Request, SessionId, SetDifficulty, ShareTarget, SubmitParams,
    SubmitResult, SubscribeResult, Username,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use super::engine::{Pool, SessionKey};
use super::jobs::Job;
use super::vardiff::Vardiff;
use crate::node::NodeEvent;

/// A session must be authorised this soon after connecting.
const AUTH_TIMEOUT: Duration = Duration::from_secs(30);
/// A session with no valid share or request for this long is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(600);
/// A write that takes longer drops the session (it does not read).
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Refusals in a row after which a session is closed.
const MAX_REFUSALS_IN_ROW: u32 = 50;
/// Nonces remembered per job and session (duplicates); a session past it is refused
/// `busy` for that job (its difficulty is far too low).
const MAX_NONCES_PER_JOB: usize = 65_536;
/// How often a session looks at its vardiff and its deadlines.
const TICK: Duration = Duration::from_secs(1);

/// The running endpoint.
#[derive(Debug)]
pub struct PoolServer {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl PoolServer {
    /// Stops accepting and closes every session.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
    }
}

/// Binds the endpoint and starts accepting sessions, and the task that makes a new
/// job on every tip change and every `refresh`.
pub async fn serve(pool: Arc<Pool>) -> std::io::Result<PoolServer> {
    let listener = TcpListener::bind(pool.config().listen).await?;
    let addr = listener.local_addr()?;
    info!(target: "pool", %addr, fee_ppm = pool.config().fee_ppm, address = %pool.config().address, "stratum endpoint listening");
    let (stop, stopped) = watch::channel(false);
    let accept = tokio::spawn(accept_loop(pool.clone(), listener, stopped.clone()));
    let jobs = tokio::spawn(job_loop(pool, stopped));
    Ok(PoolServer {
        addr,
        stop,
        tasks: vec![accept, jobs],
    })
}

async fn accept_loop(pool: Arc<Pool>, listener: TcpListener, mut stop: watch::Receiver<bool>) {
    let permits = Arc::new(Semaphore::new(pool.config().max_connections));
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => match permits.clone().try_acquire_owned() {
                    Ok(permit) => {
                        tokio::spawn(session(pool.clone(), stream, permit, stop.clone()));
                    }
                    Err(_) => {
                        debug!(target: "pool", %peer, "session refused: the pool is full");
                        pool.refused(None, Reason::Busy);
                    }
                },
                // Out of file descriptors and the like: wait a little, do not spin.
                Err(e) => {
                    warn!(target: "pool", "accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
}

/// A new job on every tip change, and every `refresh` (new transfers, a newer window).
async fn job_loop(pool: Arc<Pool>, mut stop: watch::Receiver<bool>) {
    let mut events = pool.node().subscribe();
    let mut refresh = tokio::time::interval(pool.config().refresh);
    refresh.tick().await;
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            event = events.recv() => match event {
                Ok(NodeEvent::TipChanged { .. })
                | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Ok(_) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
            _ = refresh.tick() => {}
        }
        let p = pool.clone();
        // Template building takes the mempool's lock and reads the store.
        let _ = tokio::task::spawn_blocking(move || p.refresh()).await;
        refresh.reset();
    }
}

/// Reads lines of at most [`MAX_LINE_BYTES`] (the line feed included).
struct LineReader {
    rd: OwnedReadHalf,
    buf: Vec<u8>,
}

enum Line {
    Complete(Vec<u8>),
    TooLong,
    Closed,
}

impl LineReader {
    async fn next(&mut self) -> std::io::Result<Line> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=i).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(Line::Complete(line));
            }
            if self.buf.len() >= MAX_LINE_BYTES {
                return Ok(Line::TooLong);
            }
            let mut chunk = [0u8; 1024];
            let room = (MAX_LINE_BYTES - self.buf.len()).min(chunk.len());
            let n = self.rd.read(&mut chunk[..room]).await?;
            if n == 0 {
                return Ok(Line::Closed);
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// One miner's connection.
struct Session {
    pool: Arc<Pool>,
    wr: OwnedWriteHalf,
    extranonce: Option<u16>,
    key: Option<SessionKey>,
    vardiff: Option<Vardiff>,
    /// The jobs notified, by the session's own job id (each notify gets a new one,
    /// so that a job id names one header *and* one difficulty): the pool's job and
    /// the difficulty.
    jobs: BTreeMap<u64, (u64, u64)>,
    /// The session's last job id.
    last_job: u64,
    /// Nonces accepted, per pool job (one header): duplicates are refused across
    /// the session's ids for the same header.
    seen: BTreeMap<u64, HashSet<u64>>,
    refusals_in_row: u32,
    last_valid: Instant,
}

async fn session(
    pool: Arc<Pool>,
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
    mut stop: watch::Receiver<bool>,
) {
    let peer = stream.peer_addr().ok();
    let _ = stream.set_nodelay(true);
    pool.connection(true);
    let (rd, wr) = stream.into_split();
    let mut lines = LineReader {
        rd,
        buf: Vec::new(),
    };
    let opened = Instant::now();
    let mut s = Session {
        pool: pool.clone(),
        wr,
        extranonce: None,
        key: None,
        vardiff: None,
        jobs: BTreeMap::new(),
        last_job: 0,
        seen: BTreeMap::new(),
        refusals_in_row: 0,
        last_valid: opened,
    };
    let mut jobs = pool.jobs();
    // Before authorisation a session costs one timer (its deadline); after it, a tick
    // for its vardiff and idle timeout.
    let auth_deadline = tokio::time::sleep(AUTH_TIMEOUT);
    tokio::pin!(auth_deadline);
    let mut tick = tokio::time::interval(TICK);
    let reason = loop {
        tokio::select! {
            _ = stop.changed() => break "the pool stops",
            line = lines.next() => match line {
                Ok(Line::Complete(line)) => {
                    if let Err(why) = s.handle(&line).await {
                        break why;
                    }
                }
                Ok(Line::TooLong) => {
                    let _ = s.refuse(Refusal::line_too_long(MAX_LINE_BYTES)).await;
                    break "line too long";
                }
                Ok(Line::Closed) => break "closed by the miner",
                Err(_) => break "read failed",
            },
            changed = jobs.changed(), if s.key.is_some() => {
                if changed.is_err() {
                    break "the pool stops";
                }
                let job = jobs.borrow_and_update().clone();
                if let Some(job) = job
                    && s.notify(&job).await.is_err()
                {
                    break "write failed";
                }
            }
            () = &mut auth_deadline, if s.key.is_none() => break "not authorised in time",
            _ = tick.tick(), if s.key.is_some() => {
                let now = Instant::now();
                if now.duration_since(s.last_valid) > IDLE_TIMEOUT {
                    break "idle";
                }
                if let Err(why) = s.poll_vardiff(now).await {
                    break why;
                }
            }
        }
    };
    debug!(target: "pool", ?peer, worker = s.key.as_ref().map(|k| k.worker.as_str()), "session closed: {reason}");
    if let Some(e) = s.extranonce {
        pool.close_session(e, s.key.as_ref());
    }
    pool.connection(false);
}

impl Session {
    async fn write(&mut self, line: String) -> Result<(), &'static str> {
        let mut bytes = line.into_bytes();
        bytes.push(b'\n');
        match tokio::time::timeout(WRITE_TIMEOUT, self.wr.write_all(&bytes)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err("write failed"),
            Err(_) => Err("the miner does not read"),
        }
    }

    /// Answers a refusal, counts it, and closes the session after too many in a row.
    async fn refuse(&mut self, refusal: Refusal) -> Result<(), &'static str> {
        self.pool.refused(self.key.as_ref(), refusal.reason);
        self.refusals_in_row += 1;
        self.write(messages::error_response(&refusal)).await?;
        if self.refusals_in_row >= MAX_REFUSALS_IN_ROW {
            return Err("too many refusals in a row");
        }
        Ok(())
    }

    async fn handle(&mut self, line: &[u8]) -> Result<(), &'static str> {
        let (id, request) = match messages::parse_request(line) {
            Ok(r) => r,
            Err(refusal) => return self.refuse(refusal).await,
        };
        match request {
            Request::Subscribe(_) => self.subscribe(id).await,
            Request::Authorize(p) => self.authorize(id, p).await,
            Request::Submit(p) => self.submit(id, p).await,
        }
    }

    async fn subscribe(&mut self, id: Id) -> Result<(), &'static str> {
        if self.extranonce.is_some() {
            return self
                .refuse(Refusal::malformed(
                    Some(id),
                    messages::code::INVALID_REQUEST,
                    "already subscribed",
                ))
                .await;
        }
        let Some(e) = self.pool.open_session() else {
            return self
                .refuse(Refusal::new(Some(id), Reason::Busy, "no free extranonce"))
                .await;
        };
        self.extranonce = Some(e);
        self.last_valid = Instant::now();
        let result = SubscribeResult::new(SessionId(rand_session()), e);
        self.write(messages::response(&id, &result)).await
    }

    async fn authorize(&mut self, id: Id, p: AuthorizeParams) -> Result<(), &'static str> {
        let Some(extranonce) = self.extranonce else {
            return self
                .refuse(Refusal::new(
                    Some(id),
                    Reason::Unauthorised,
                    "subscribe first",
                ))
                .await;
        };
        if self.key.is_some() {
            return self
                .refuse(Refusal::new(
                    Some(id),
                    Reason::Unauthorised,
                    "already authorised",
                ))
                .await;
        }
        let Username { address, worker } = match p.username.parse::<Username>() {
            Ok(u) => u,
            Err(e) => {
                return self
                    .refuse(Refusal::new(Some(id), Reason::Unauthorised, e.to_string()))
                    .await;
            }
        };
        let key = SessionKey {
            extranonce,
            address,
            worker: worker.clone(),
        };
        let now = Instant::now();
        // Never above the block's work, so that every block is also a share.
        let mut config = self.pool.config().vardiff;
        config.max_difficulty = self.clamp(config.max_difficulty);
        config.min_difficulty = config.min_difficulty.min(config.max_difficulty);
        let vardiff = Vardiff::new(config, now);
        let difficulty = vardiff.difficulty();
        self.pool.authorise(&key, difficulty);
        self.key = Some(key);
        self.vardiff = Some(vardiff);
        self.last_valid = now;
        self.refusals_in_row = 0;
        self.write(messages::response(
            &id,
            &AuthorizeResult { address, worker },
        ))
        .await?;
        self.send_difficulty(difficulty).await?;
        let job = self.pool.jobs().borrow().clone();
        match job {
            Some(job) => self.notify(&job).await,
            None => Ok(()),
        }
    }

    /// The pool keeps a share's difficulty at most the block's work, so every block
    /// is also a share.
    fn clamp(&self, difficulty: u64) -> u64 {
        let block_work = self
            .pool
            .node()
            .view()
            .next_target
            .to_target()
            .map_or(u64::MAX, |t| u64::try_from(t.work().0).unwrap_or(u64::MAX));
        difficulty.min(block_work.max(1))
    }

    async fn send_difficulty(&mut self, difficulty: u64) -> Result<(), &'static str> {
        let line = messages::notification(
            "mining.set_difficulty",
            &SetDifficulty {
                difficulty,
                target: ShareTarget::from_difficulty(difficulty),
            },
        );
        self.write(line).await
    }

    async fn poll_vardiff(&mut self, now: Instant) -> Result<(), &'static str> {
        let Some(v) = self.vardiff.as_mut() else {
            return Ok(());
        };
        if let Some(d) = v.poll(now) {
            return self.retarget(d).await;
        }
        Ok(())
    }

    async fn retarget(&mut self, difficulty: u64) -> Result<(), &'static str> {
        let d = self.clamp(difficulty);
        if let Some(key) = &self.key {
            self.pool.set_difficulty(key, d);
        }
        self.send_difficulty(d).await?;
        let job = self.pool.jobs().borrow().clone();
        match job {
            Some(job) => self.notify(&job).await,
            None => Ok(()),
        }
    }

    async fn notify(&mut self, job: &Arc<Job>) -> Result<(), &'static str> {
        let (Some(key), Some(v)) = (&self.key, &self.vardiff) else {
            return Ok(());
        };
        let difficulty = self.clamp(v.difficulty());
        let clean = self
            .jobs
            .last_key_value()
            .and_then(|(_, (global, _))| self.pool.job(*global))
            .is_none_or(|last| last.header.prev != job.header.prev);
        if clean {
            self.jobs.clear();
        }
        self.last_job += 1;
        let local = self.last_job;
        self.jobs.insert(local, (job.id, difficulty));
        while self.jobs.len() > messages::MAX_JOBS_KEPT {
            self.jobs.pop_first();
        }
        let kept: HashSet<u64> = self.jobs.values().map(|(g, _)| *g).collect();
        self.seen.retain(|g, _| kept.contains(g));
        let mut notify = notify_message(job, key.address, difficulty, clean);
        notify.job_id = local;
        self.write(messages::notification("mining.notify", &notify))
            .await
    }

    async fn submit(&mut self, id: Id, p: SubmitParams) -> Result<(), &'static str> {
        let Some(key) = self.key.clone() else {
            return self
                .refuse(Refusal::new(
                    Some(id),
                    Reason::Unauthorised,
                    "authorize first",
                ))
                .await;
        };
        let Some(&(global, difficulty)) = self.jobs.get(&p.job_id) else {
            return self
                .refuse(Refusal::new(
                    Some(id),
                    Reason::StaleJob,
                    format!("job {} is not accepted", p.job_id),
                ))
                .await;
        };
        if !NonceSpan::for_extranonce(key.extranonce).contains(p.nonce) {
            return self
                .refuse(Refusal::new(
                    Some(id),
                    Reason::OutOfExtranonceRange,
                    "nonce outside the session's range",
                ))
                .await;
        }
        let seen = self.seen.get(&global);
        if seen.is_some_and(|s| s.contains(&p.nonce)) {
            return self
                .refuse(Refusal::new(
                    Some(id),
                    Reason::Duplicate,
                    "nonce already submitted",
                ))
                .await;
        }
        if seen.is_some_and(|s| s.len() >= MAX_NONCES_PER_JOB) {
            return self
                .refuse(Refusal::new(
                    Some(id),
                    Reason::Busy,
                    "too many shares on one job",
                ))
                .await;
        }
        let (job, pow) = match self.pool.check_share(global, p.nonce, difficulty) {
            Ok(x) => x,
            Err(reason) => {
                let message = format!("share refused: {}", reason.as_str());
                return self.refuse(Refusal::new(Some(id), reason, message)).await;
            }
        };
        self.seen.entry(global).or_default().insert(p.nonce);
        let is_block = job.block_target.is_met_by(&pow);
        let accepted = if is_block {
            let (pool, key, job) = (self.pool.clone(), key.clone(), job.clone());
            let nonce = p.nonce;
            match tokio::task::spawn_blocking(move || {
                pool.accept(&key, &job, nonce, &pow, difficulty)
            })
            .await
            {
                Ok(r) => r,
                Err(_) => return Err("share acceptance failed"),
            }
        } else {
            self.pool.accept(&key, &job, p.nonce, &pow, difficulty)
        };
        let accepted = match accepted {
            Ok(a) => a,
            Err(e) => {
                warn!(target: "pool", "cannot record a share: {e}");
                return Err("the share log cannot be written");
            }
        };
        self.refusals_in_row = 0;
        let now = Instant::now();
        self.last_valid = now;
        let result = SubmitResult {
            accepted: true,
            work: accepted.work,
            block: accepted.block,
            position: accepted.position,
        };
        self.write(messages::response(&id, &result)).await?;
        let retarget = self
            .vardiff
            .as_mut()
            .and_then(|v| v.on_share(now, difficulty));
        if let Some(d) = retarget {
            self.retarget(d).await?;
        }
        Ok(())
    }
}

fn rand_session() -> u64 {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    u64::from_le_bytes(b)
}

/// The `mining.notify` of `job` for the session paying `address` at `difficulty`.
pub fn notify_message(job: &Job, address: Address, difficulty: u64, clean: bool) -> Notify {
    Notify {
        job_id: job.id,
        clean,
        difficulty,
        share_target: ShareTarget::from_difficulty(difficulty),
        header: JobHeader::from_header(&job.header),
        pre_hash: job.pre_hash,
        coinbase: job.coinbase_view.clone(),
        merkle_branch: job.branch.clone(),
        payout: PayoutFigures::new(&job.split, &job.window, address),
    }
}
