//! Mining for a pool over Stratum (`docs/STRATUM.md`): one TCP connection of JSON
//! lines, with `cairn-stratum`'s types.
//!
//! A reader thread turns the pool's lines into events; the search runs on the
//! kernel's threads and reports shares as events; this thread owns the session. It
//! subscribes and authorises, checks every job before a single nonce of it is hashed
//! ([`check_job`]: coinbase, merkle branch, pre-hash, payout), searches the session's
//! nonces for shares, submits them, and reconnects with backoff when the pool goes
//! away. A job that fails its check is refused: the miner keeps the previous job
//! while the pool still accepts it, and idles otherwise.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail, ensure};
use cairn_core::{Hash, Target};
use cairn_miner::{Miner, NonceRange, Template};
use cairn_stratum::job::{CheckedJob, ExpectedCredit, JobError, MinerRecord, check_job};
use cairn_stratum::messages::{
    AuthorizeParams, AuthorizeResult, ErrorObject, Id, MAX_JOBS_KEPT, MAX_LINE_BYTES, MessageError,
    NonceSpan, Notify, Request, ServerMessage, SetDifficulty, ShareTarget, SubmitParams,
    SubmitResult, SubscribeParams, SubscribeResult, Username, decode_result, method,
    parse_server_message,
};
use serde_json::Value;

/// The first wait before reconnecting, doubled at each failure up to [`MAX_BACKOFF`].
const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait before reconnecting.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a write to the pool may block before the connection is given up.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Subscribe and authorize must be answered within this (the pool closes sessions
/// not authorised within 30 s).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest line read from the pool. Jobs are long (a coinbase of the network's
/// 256 outputs and its ranked list make about 60 KB, one of the 65 536 that genesis
/// may allow about 20 MB); this bounds memory, not the protocol.
const MAX_POOL_LINE_BYTES: usize = 32 << 20;
/// Events queued between the reader, the search and the session.
const EVENT_QUEUE: usize = 256;
/// Nonces per mining thread in one search call. After a share the search goes on
/// just after it, so at most this many per thread are skipped per share: a job's
/// 2^48 nonces last for millions of shares.
const STEP_PER_THREAD: u64 = 1 << 22;
/// Headers whose search position is remembered (jobs that only change the
/// difficulty keep their header: searching it again would find the same shares,
/// which the pool refuses as duplicates).
const MAX_CURSORS: usize = 64;

/// Which pool to mine for, and as whom.
#[derive(Debug, Clone)]
pub(crate) struct StratumConfig {
    /// The pool's `HOST:PORT`.
    pub(crate) pool: String,
    /// The payout address and worker.
    pub(crate) user: Username,
    /// The network's chain id, which every coinbase must carry.
    pub(crate) chain_id: u32,
    /// Time between progress lines.
    pub(crate) report_every: Duration,
}

/// Something for the session to act on.
enum Event {
    /// A line of connection `conn`, read.
    Message {
        conn: u64,
        message: Result<ServerMessage, MessageError>,
    },
    /// Connection `conn` ended.
    Closed { conn: u64, why: String },
    /// The search found a share.
    Share(Found),
}

/// A share found by the search.
#[derive(Debug, Clone, Copy)]
struct Found {
    /// The job generation it was found in (see [`State::epoch`]).
    epoch: u64,
    job_id: u64,
    nonce: u64,
    /// Whether it also meets the block target.
    block: bool,
}

/// What the search works on.
struct Work {
    epoch: u64,
    job_id: u64,
    /// The pre-hash and the share target.
    template: Template,
    block_target: Target,
    nonces: NonceSpan,
}

/// The newest work, handed from the session to the search thread. Setting new work
/// (or none) cancels the search in progress.
#[derive(Default)]
struct Slot {
    work: Mutex<Option<Work>>,
    ready: Condvar,
    cancel: AtomicBool,
}

impl Slot {
    fn set(&self, work: Option<Work>) {
        let mut slot = self.work.lock().unwrap_or_else(|p| p.into_inner());
        *slot = work;
        self.cancel.store(true, Ordering::Relaxed);
        self.ready.notify_one();
    }

    /// Waits for work, then clears the cancel flag for the search about to start.
    fn take(&self) -> Work {
        let mut slot = self.work.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(work) = slot.take() {
                self.cancel.store(false, Ordering::Relaxed);
                return work;
            }
            slot = self.ready.wait(slot).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }
}

/// What the session shares with the search thread.
#[derive(Default)]
struct Shared {
    slot: Slot,
    /// Hashes done, for the hashrate.
    hashes: AtomicU64,
}

/// Counts for the progress line.
#[derive(Default)]
struct Stats {
    accepted: u64,
    /// Refused shares by reason (reasons outside §4 count as "other").
    refused: BTreeMap<&'static str, u64>,
    jobs_refused: u64,
    blocks: u64,
}

/// What outlives a connection.
struct State {
    /// The miner's address, nonces and accepted shares, for [`check_job`].
    record: MinerRecord,
    stats: Stats,
    /// Bumped at every connection and every clean job: shares found on work of an
    /// earlier epoch are stale and not submitted.
    epoch: u64,
    /// Whether the last connection got as far as being authorised.
    authorised: bool,
}

/// Mines for the pool until the process is stopped (or its search thread dies).
pub(crate) fn run(config: &StratumConfig, miner: Miner) -> anyhow::Result<()> {
    let shared = Arc::new(Shared::default());
    let (events_tx, events) = mpsc::sync_channel(EVENT_QUEUE);
    let search = spawn_search(miner, shared.clone(), events_tx.clone())?;
    let mut state = State {
        record: MinerRecord::new(config.user.address, NonceSpan::for_extranonce(0)),
        stats: Stats::default(),
        epoch: 0,
        authorised: false,
    };
    let mut backoff = INITIAL_BACKOFF;
    let mut conn = 0u64;
    loop {
        conn += 1;
        state.epoch += 1;
        let ended = Session::open(config, &shared, &events_tx, conn, &mut state)
            .and_then(|session| session.run(&events, &search));
        // Work of a lost connection is stale by the time it is back.
        shared.slot.set(None);
        if search.is_finished() {
            bail!("the search thread stopped");
        }
        if std::mem::take(&mut state.authorised) {
            backoff = INITIAL_BACKOFF;
        }
        if let Err(e) = ended {
            eprintln!(
                "pool {}: {e:#}; reconnecting in {} s",
                config.pool,
                backoff.as_secs()
            );
        }
        pause(&events, backoff);
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Waits `how_long`, dropping events meanwhile: lines and shares of a lost
/// connection are stale, and nothing must wait on a full queue.
fn pause(events: &Receiver<Event>, how_long: Duration) {
    let until = Instant::now() + how_long;
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        if let Err(RecvTimeoutError::Disconnected) = events.recv_timeout(left) {
            std::thread::sleep(left);
        }
        if left.is_zero() {
            break;
        }
    }
}

fn connect(pool: &str) -> anyhow::Result<TcpStream> {
    let mut last_error = None;
    let addresses = pool
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {pool}"))?;
    for address in addresses {
        match TcpStream::connect_timeout(&address, CONNECT_TIMEOUT) {
            Ok(stream) => return Ok(stream),
            Err(e) => last_error = Some(e),
        }
    }
    Err(match last_error {
        Some(e) => anyhow::Error::new(e).context(format!("cannot connect to {pool}")),
        None => anyhow!("{pool} resolves to no address"),
    })
}

// ---------------------------------------------------------------------------------
// The search thread

fn spawn_search(
    miner: Miner,
    shared: Arc<Shared>,
    events: SyncSender<Event>,
) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("search".into())
        .spawn(move || search_loop(&miner, &shared, &events))
}

/// Searches each work handed over, resuming a header where its last search stopped.
fn search_loop(miner: &Miner, shared: &Shared, events: &SyncSender<Event>) {
    let threads = u64::try_from(miner.threads()).unwrap_or(1);
    let step = threads.saturating_mul(STEP_PER_THREAD);
    let mut cursors: HashMap<Hash, u64> = HashMap::new();
    let mut epoch = None;
    loop {
        let work = shared.slot.take();
        if epoch != Some(work.epoch) || cursors.len() >= MAX_CURSORS {
            cursors.clear();
            epoch = Some(work.epoch);
        }
        let from = cursors
            .get(&work.template.pre)
            .copied()
            .unwrap_or(work.nonces.start);
        let Some(next) = search_work(miner, &work, from, step, shared, events) else {
            return;
        };
        cursors.insert(work.template.pre, next);
    }
}

/// Searches `work` from `from` in steps until its nonces run out or other work is
/// set, sending each share. Gives the nonce to resume at, or `None` if nobody listens
/// any more.
fn search_work(
    miner: &Miner,
    work: &Work,
    from: u64,
    step: u64,
    shared: &Shared,
    events: &SyncSender<Event>,
) -> Option<u64> {
    // `NonceRange` is half-open: only extranonce 65535 loses its last nonce,
    // u64::MAX.
    let end = work.nonces.last.saturating_add(1);
    let mut next = from;
    while next < end && !shared.slot.cancelled() {
        let range = NonceRange {
            start: next,
            end: next.saturating_add(step).min(end),
        };
        let result = miner.search(
            &work.template,
            range,
            &shared.slot.cancel,
            Some(&shared.hashes),
        );
        match result.solution {
            Some(solution) => {
                next = solution.nonce.saturating_add(1);
                let found = Found {
                    epoch: work.epoch,
                    job_id: work.job_id,
                    nonce: solution.nonce,
                    block: work.block_target.is_met_by(&solution.pow),
                };
                events.send(Event::Share(found)).ok()?;
            }
            // Cancelled part-way: no share was found in it, resume at its start.
            None if shared.slot.cancelled() => break,
            None => next = range.end,
        }
    }
    Some(next)
}

// ---------------------------------------------------------------------------------
// The reader thread

fn spawn_reader(stream: TcpStream, conn: u64, events: SyncSender<Event>) -> io::Result<()> {
    std::thread::Builder::new()
        .name("stratum-reader".into())
        .spawn(move || read_lines(stream, conn, &events))?;
    Ok(())
}

/// Reads the pool's lines until the connection ends (or is shut down by the session).
fn read_lines(stream: TcpStream, conn: u64, events: &SyncSender<Event>) {
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    let why = loop {
        match read_line(&mut reader, &mut line) {
            Ok(true) => {
                let message = parse_server_message(&line);
                if events.send(Event::Message { conn, message }).is_err() {
                    return;
                }
            }
            Ok(false) => break "the pool closed the connection".to_owned(),
            Err(e) => break format!("cannot read from the pool: {e}"),
        }
    };
    let _ = events.send(Event::Closed { conn, why });
}

/// Reads one line, its line feed included, into `line`: `false` at the end of the
/// stream (a last line without its line feed is dropped).
fn read_line<R: BufRead>(reader: &mut R, line: &mut Vec<u8>) -> io::Result<bool> {
    line.clear();
    let limit = u64::try_from(MAX_POOL_LINE_BYTES).unwrap_or(u64::MAX);
    let n = reader.by_ref().take(limit).read_until(b'\n', line)?;
    if n == 0 {
        return Ok(false);
    }
    if line.last() == Some(&b'\n') {
        return Ok(true);
    }
    if line.len() >= MAX_POOL_LINE_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a line of more than {MAX_POOL_LINE_BYTES} bytes"),
        ));
    }
    Ok(false)
}

// ---------------------------------------------------------------------------------
// The session

/// A request waiting for its answer.
enum Pending {
    Subscribe,
    Authorize,
    Submit(Found),
}

/// The job being hashed.
struct Current {
    job_id: u64,
    prev: Hash,
    /// Jobs notified since it (and refused): the pool accepts its shares until
    /// [`MAX_JOBS_KEPT`] newer jobs of its parent.
    notified_since: usize,
}

/// One connection to the pool.
struct Session<'a> {
    config: &'a StratumConfig,
    shared: &'a Shared,
    state: &'a mut State,
    conn: u64,
    stream: TcpStream,
    next_id: u64,
    pending: HashMap<u64, Pending>,
    /// Until authorised: when the pool must have answered.
    handshake_deadline: Option<Instant>,
    difficulty: Option<u64>,
    /// The checked jobs of the current parent, oldest first (at most
    /// [`MAX_JOBS_KEPT`]): shares of these are submitted.
    jobs: VecDeque<CheckedJob>,
    current: Option<Current>,
    next_report: Instant,
    last_report: Instant,
    last_hashes: u64,
}

impl Drop for Session<'_> {
    /// Ends the connection, which also ends its reader thread.
    fn drop(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

impl<'a> Session<'a> {
    fn open(
        config: &'a StratumConfig,
        shared: &'a Shared,
        events: &SyncSender<Event>,
        conn: u64,
        state: &'a mut State,
    ) -> anyhow::Result<Session<'a>> {
        let stream = connect(&config.pool)?;
        stream.set_nodelay(true)?;
        stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
        spawn_reader(stream.try_clone()?, conn, events.clone())?;
        let now = Instant::now();
        Ok(Session {
            config,
            shared,
            state,
            conn,
            stream,
            next_id: 1,
            pending: HashMap::new(),
            handshake_deadline: Some(now + HANDSHAKE_TIMEOUT),
            difficulty: None,
            jobs: VecDeque::new(),
            current: None,
            next_report: now + config.report_every,
            last_report: now,
            last_hashes: shared.hashes.load(Ordering::Relaxed),
        })
    }

    /// Runs the session until the connection fails.
    fn run(mut self, events: &Receiver<Event>, search: &JoinHandle<()>) -> anyhow::Result<()> {
        let agent = format!("cairn-miner/{}", env!("CARGO_PKG_VERSION"));
        self.send(
            Request::Subscribe(SubscribeParams { agent: Some(agent) }),
            Pending::Subscribe,
        )?;
        loop {
            let now = Instant::now();
            let mut wait = self.next_report.saturating_duration_since(now);
            if let Some(deadline) = self.handshake_deadline {
                ensure!(
                    now < deadline,
                    "no answer to subscribe and authorize within {} s",
                    HANDSHAKE_TIMEOUT.as_secs()
                );
                wait = wait.min(deadline - now);
            }
            match events.recv_timeout(wait) {
                Ok(Event::Message { conn, message }) if conn == self.conn => {
                    self.on_message(message)?;
                }
                Ok(Event::Closed { conn, why }) if conn == self.conn => bail!(why),
                Ok(Event::Share(found)) => self.on_share(found)?,
                // Lines of an earlier connection.
                Ok(Event::Message { .. } | Event::Closed { .. })
                | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => bail!("the event queue closed"),
            }
            if Instant::now() >= self.next_report {
                ensure!(!search.is_finished(), "the search thread stopped");
                self.report();
            }
        }
    }

    fn send(&mut self, request: Request, pending: Pending) -> anyhow::Result<()> {
        let id = self.next_id;
        self.next_id += 1;
        let mut line = request.to_line(&Id::Number(id));
        line.push('\n');
        ensure!(
            line.len() <= MAX_LINE_BYTES,
            "a {} request of {} bytes is over the pool's limit",
            request.method(),
            line.len()
        );
        self.stream
            .write_all(line.as_bytes())
            .context("cannot write to the pool")?;
        self.pending.insert(id, pending);
        Ok(())
    }

    fn on_message(&mut self, message: Result<ServerMessage, MessageError>) -> anyhow::Result<()> {
        match message {
            Ok(ServerMessage::Response { id, result }) => return self.on_response(id, result),
            Ok(ServerMessage::SetDifficulty(set)) => self.on_set_difficulty(set),
            Ok(ServerMessage::Notify(notify)) => self.on_notify(&notify),
            // A later version's notification.
            Err(MessageError::UnknownMethod(_)) => {}
            // Whether it changed the parent is unknown: the current job may be stale.
            Err(MessageError::Invalid { what, message }) if what == method::NOTIFY => {
                self.state.stats.jobs_refused += 1;
                eprintln!(
                    "error: refusing a job from {} that does not parse: {message}",
                    self.config.pool
                );
                self.stop_hashing();
            }
            Err(e) => eprintln!("warning: ignoring a line from {}: {e}", self.config.pool),
        }
        Ok(())
    }

    fn on_response(
        &mut self,
        id: Option<Id>,
        result: Result<Value, ErrorObject>,
    ) -> anyhow::Result<()> {
        let pending = match id {
            Some(Id::Number(id)) => self.pending.remove(&id),
            _ => None,
        };
        match pending {
            Some(Pending::Subscribe) => self.on_subscribed(result),
            Some(Pending::Authorize) => self.on_authorised(result),
            Some(Pending::Submit(found)) => {
                self.on_submitted(found, result);
                Ok(())
            }
            None => {
                if let Err(e) = result {
                    eprintln!("warning: the pool could not read a request: {e}");
                }
                Ok(())
            }
        }
    }

    fn on_subscribed(&mut self, result: Result<Value, ErrorObject>) -> anyhow::Result<()> {
        let result = result.map_err(|e| anyhow!("the pool refused the subscription: {e}"))?;
        let subscribed: SubscribeResult = decode_result(result)?;
        let nonces = subscribed.span().ok_or_else(|| {
            anyhow!(
                "the pool's nonce range does not match extranonce {}",
                subscribed.extranonce
            )
        })?;
        self.state.record.nonces = nonces;
        eprintln!(
            "subscribed to {}: session {}, extranonce {}",
            self.config.pool, subscribed.session, subscribed.extranonce
        );
        let username = self.config.user.to_string();
        self.send(
            Request::Authorize(AuthorizeParams {
                username,
                password: None,
            }),
            Pending::Authorize,
        )
    }

    fn on_authorised(&mut self, result: Result<Value, ErrorObject>) -> anyhow::Result<()> {
        let user = &self.config.user;
        let result = result.map_err(|e| anyhow!("the pool refused {user}: {e}"))?;
        let authorised: AuthorizeResult = decode_result(result)?;
        ensure!(
            authorised.address == user.address,
            "the pool authorised {} instead of {}",
            authorised.address,
            user.address
        );
        self.handshake_deadline = None;
        self.state.authorised = true;
        eprintln!(
            "authorised: paying {} as worker `{}`",
            authorised.address, authorised.worker
        );
        Ok(())
    }

    fn on_set_difficulty(&mut self, set: SetDifficulty) {
        if set.difficulty == 0 || set.target != ShareTarget::from_difficulty(set.difficulty) {
            eprintln!(
                "warning: the pool's share target does not match difficulty {} \
                 (each job is checked on its own)",
                set.difficulty
            );
        }
        if self.difficulty != Some(set.difficulty) {
            eprintln!("share difficulty {}", set.difficulty);
        }
        self.difficulty = Some(set.difficulty);
    }

    fn on_notify(&mut self, notify: &Notify) {
        if notify.clean {
            self.drop_jobs();
        }
        match check_job(notify, self.config.chain_id, &self.state.record) {
            Ok(job) => self.start(job),
            Err(e) => self.refuse(notify, &e),
        }
    }

    /// A clean job: every earlier one is stale.
    fn drop_jobs(&mut self) {
        self.state.epoch += 1;
        self.jobs.clear();
        self.stop_hashing();
    }

    fn stop_hashing(&mut self) {
        self.current = None;
        self.shared.slot.set(None);
    }

    fn start(&mut self, job: CheckedJob) {
        let record = &mut self.state.record;
        // The first job on the miner's own block carried its credit (or was refused).
        if record.expected_credit.is_some_and(|c| c.block == job.prev) {
            record.expected_credit = None;
        }
        // Shares a full window before this one's start will not be reached again.
        let window = job.window_end - job.window_start;
        record
            .accepted
            .forget_until(job.window_start.saturating_sub(window));
        eprintln!(
            "job {} at height {}: difficulty {}, pays you {} if it is a block",
            job.job_id, job.height, job.difficulty, job.payout.paid
        );
        let work = Work {
            epoch: self.state.epoch,
            job_id: job.job_id,
            template: Template {
                pre: job.pre_hash,
                target: job.share_target,
            },
            block_target: job.block_target,
            nonces: job.nonces,
        };
        self.current = Some(Current {
            job_id: job.job_id,
            prev: job.prev,
            notified_since: 0,
        });
        if self.jobs.len() >= MAX_JOBS_KEPT {
            self.jobs.pop_front();
        }
        self.jobs.push_back(job);
        self.shared.slot.set(Some(work));
    }

    /// Refuses a job that failed its check: keeps hashing the current job while the
    /// pool still accepts it (same parent, fewer than 16 jobs since), else idles.
    fn refuse(&mut self, notify: &Notify, e: &JobError) {
        self.state.stats.jobs_refused += 1;
        eprintln!(
            "error: refusing job {} from {} [{}]: {e}. This pool's jobs do not check \
             out: tell its operator, or mine elsewhere",
            notify.job_id,
            self.config.pool,
            e.code()
        );
        let keep = match &mut self.current {
            Some(current) if current.prev == notify.header.prev => {
                current.notified_since += 1;
                current.notified_since < MAX_JOBS_KEPT
            }
            _ => false,
        };
        if keep {
            if let Some(current) = &self.current {
                eprintln!("still mining job {}", current.job_id);
            }
        } else {
            self.stop_hashing();
            eprintln!("no valid job: idle");
        }
    }

    fn on_share(&mut self, found: Found) -> anyhow::Result<()> {
        let known = self.jobs.iter().any(|j| j.job_id == found.job_id);
        if found.epoch != self.state.epoch || !known {
            // Found on a job dropped since.
            return Ok(());
        }
        if found.block {
            eprintln!(
                "share {} of job {} meets the block target",
                found.nonce, found.job_id
            );
        }
        let params = SubmitParams {
            job_id: found.job_id,
            nonce: found.nonce,
        };
        self.send(Request::Submit(params), Pending::Submit(found))
    }

    fn on_submitted(&mut self, found: Found, result: Result<Value, ErrorObject>) {
        let value = match result {
            Ok(value) => value,
            Err(e) => {
                let reason = e.reason().map_or("other", |r| r.as_str());
                *self.state.stats.refused.entry(reason).or_default() += 1;
                eprintln!("share {} of job {} refused: {e}", found.nonce, found.job_id);
                return;
            }
        };
        self.state.stats.accepted += 1;
        let accepted: SubmitResult = match decode_result(value) {
            Ok(accepted) => accepted,
            Err(e) => {
                eprintln!("warning: the pool's answer to share {}: {e}", found.nonce);
                return;
            }
        };
        let job = self.jobs.iter().find(|j| j.job_id == found.job_id);
        if let Some(job) = job
            && accepted.work != job.difficulty
        {
            eprintln!(
                "error: the pool credited {} work for a share of job {}, whose difficulty is {}",
                accepted.work, job.job_id, job.difficulty
            );
        }
        let credit_after = job.map(|j| j.payout.credit_after);
        if let Err(e) = self
            .state
            .record
            .accepted
            .record(accepted.position, accepted.work)
        {
            eprintln!("warning: not counting share {}: {e}", found.nonce);
        }
        if let Some(block) = accepted.block {
            self.state.stats.blocks += 1;
            eprintln!(
                "block {block} found with share {} of job {}",
                found.nonce, found.job_id
            );
            if let Some(credit) = credit_after {
                self.state.record.expected_credit = Some(ExpectedCredit { block, credit });
            }
        }
    }

    fn report(&mut self) {
        let now = Instant::now();
        let total = self.shared.hashes.load(Ordering::Relaxed);
        let elapsed = now.duration_since(self.last_report).as_secs_f64().max(1e-3);
        let rate = total.saturating_sub(self.last_hashes) as f64 / elapsed;
        self.last_hashes = total;
        self.last_report = now;
        self.next_report = now + self.config.report_every;
        let stats = &self.state.stats;
        let refused: u64 = stats.refused.values().sum();
        let reasons = if refused > 0 {
            format!(" {:?}", stats.refused)
        } else {
            String::new()
        };
        let job = match &self.current {
            Some(current) => format!("job {}", current.job_id),
            None => "idle".to_owned(),
        };
        let difficulty = self
            .difficulty
            .map_or_else(|| "-".to_owned(), |d| d.to_string());
        eprintln!(
            "hashrate {:.2} MH/s  accepted {}  refused {}{}  jobs refused {}  blocks {}  \
             difficulty {}  {}",
            rate / 1e6,
            stats.accepted,
            refused,
            reasons,
            stats.jobs_refused,
            stats.blocks,
            difficulty,
            job
        );
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    #[test]
    fn lines_are_read_whole_and_bounded() {
        let mut reader = Cursor::new(b"{\"a\":1}\n{\"b\":2}\r\npartial".to_vec());
        let mut line = Vec::new();
        assert!(read_line(&mut reader, &mut line).unwrap());
        assert_eq!(line, b"{\"a\":1}\n");
        assert!(read_line(&mut reader, &mut line).unwrap());
        assert_eq!(line, b"{\"b\":2}\r\n");
        assert!(!read_line(&mut reader, &mut line).unwrap());
        assert!(!read_line(&mut reader, &mut line).unwrap());
        let mut long = Cursor::new(vec![b' '; MAX_POOL_LINE_BYTES + 1]);
        assert!(read_line(&mut long, &mut line).is_err());
    }

    #[test]
    fn pause_waits_and_drains() {
        let (tx, rx) = mpsc::sync_channel(4);
        for conn in 0..4 {
            tx.send(Event::Closed {
                conn,
                why: String::new(),
            })
            .unwrap();
        }
        let start = Instant::now();
        pause(&rx, Duration::from_millis(50));
        assert!(start.elapsed() >= Duration::from_millis(50));
        assert!(rx.try_recv().is_err());
    }
}
