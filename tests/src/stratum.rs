//! A Stratum client for tests, written from `docs/STRATUM.md` alone (raw JSON, not
//! the node's types), and a test miner of a fixed hash rate: real proof of work on
//! one thread, throttled to `hashrate` hashes a second.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use cairn_core::pow::pow_hash;
use cairn_core::{Hash, Target};
use ruint::aliases::U256;
use serde_json::{Value, json};

/// A job as a miner keeps it.
#[derive(Debug, Clone)]
pub struct Job {
    /// Its id.
    pub id: u64,
    /// Its pre-hash.
    pub pre: Hash,
    /// Its share target.
    pub share_target: Target,
    /// Its block target.
    pub block_target: Target,
    /// Its share difficulty.
    pub difficulty: u64,
    /// The whole notify.
    pub notify: Value,
}

/// What a miner counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Shares accepted.
    pub accepted: u64,
    /// Their work (the difficulty of each).
    pub work: u128,
    /// Refusals by reason.
    pub refused: HashMap<String, u64>,
    /// Blocks the pool reported.
    pub blocks: u64,
    /// Hashes tried.
    pub hashes: u64,
}

/// A connected, subscribed session.
#[derive(Debug)]
pub struct Client {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
    next_id: u64,
    /// The session's first nonce.
    pub nonce_start: u64,
    /// Its last nonce.
    pub nonce_last: u64,
    /// Jobs by id, newest last in `order`.
    pub jobs: HashMap<u64, Job>,
    /// The newest job's id.
    pub current: Option<u64>,
    /// Every `mining.set_difficulty` received.
    pub difficulties: Vec<u64>,
    /// What the shares sent by [`Client::mine`] came to, as their answers arrive.
    pub counts: Counts,
    /// Ids of the shares sent and not answered yet.
    in_flight: std::collections::HashSet<u64>,
    /// Hashes tried by [`Client::mine`] so far, readable from other threads.
    pub hashed: Arc<std::sync::atomic::AtomicU64>,
}

/// `u64` or `u128` from a decimal string (or a JSON number).
pub fn dec(v: &Value) -> u128 {
    match v {
        Value::String(s) => s.parse().unwrap_or_else(|_| panic!("not decimal: {v}")),
        Value::Number(n) => u128::from(n.as_u64().unwrap_or_else(|| panic!("not u64: {v}"))),
        _ => panic!("not a number: {v}"),
    }
}

/// A `u64` from a decimal string (or a JSON number).
pub fn dec64(v: &Value) -> u64 {
    u64::try_from(dec(v)).unwrap_or_else(|_| panic!("not a u64: {v}"))
}

fn target_hex(v: &Value) -> Target {
    let s = v.as_str().unwrap_or_else(|| panic!("not hex: {v}"));
    Target(U256::from_str_radix(s, 16).unwrap_or_else(|e| panic!("{s}: {e}")))
}

impl Client {
    /// Connects and subscribes.
    pub fn connect(addr: SocketAddr) -> std::io::Result<Client> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let _ = stream.set_nodelay(true);
        let mut c = Client {
            writer: stream.try_clone()?,
            reader: BufReader::new(stream),
            next_id: 0,
            nonce_start: 0,
            nonce_last: 0,
            jobs: HashMap::new(),
            current: None,
            difficulties: Vec::new(),
            counts: Counts::default(),
            in_flight: std::collections::HashSet::new(),
            hashed: Arc::default(),
        };
        let r = c
            .call("mining.subscribe", json!({"agent": "cairn-tests"}))?
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        c.nonce_start = dec64(&r["nonceStart"]);
        c.nonce_last = dec64(&r["nonceLast"]);
        Ok(c)
    }

    /// Authorises as `user` and waits for the first job.
    pub fn authorize(&mut self, user: &str) -> std::io::Result<Result<Value, Value>> {
        let r = self.call("mining.authorize", json!({"username": user}))?;
        if r.is_ok() {
            let deadline = Instant::now() + Duration::from_secs(10);
            while self.current.is_none() && Instant::now() < deadline {
                self.read_one()?;
            }
        }
        Ok(r)
    }

    /// Sends a raw line (the line feed is added).
    pub fn send_raw(&mut self, line: &[u8]) -> std::io::Result<()> {
        self.writer.write_all(line)?;
        self.writer.write_all(b"\n")
    }

    /// A request; notifications that come first are taken in. The error object on
    /// a refusal.
    pub fn call(&mut self, method: &str, params: Value) -> std::io::Result<Result<Value, Value>> {
        self.next_id += 1;
        let id = self.next_id;
        let line = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.send_raw(line.to_string().as_bytes())?;
        loop {
            if let Some(answer) = self.read_one()?
                && answer["id"] == json!(id)
            {
                return Ok(match answer.get("error") {
                    Some(e) => Err(e.clone()),
                    None => Ok(answer["result"].clone()),
                });
            }
        }
    }

    /// Reads one message: a response is returned, a notification is taken in.
    pub fn read_one(&mut self) -> std::io::Result<Option<Value>> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "pool closed",
            ));
        }
        let v: Value = serde_json::from_str(&line).map_err(std::io::Error::other)?;
        match v["method"].as_str() {
            Some("mining.notify") => {
                let p = &v["params"];
                if p["clean"] == json!(true) {
                    self.jobs.clear();
                }
                let header = &p["header"];
                let bits = u32::from_str_radix(
                    header["target"]
                        .as_str()
                        .unwrap_or("0x0")
                        .trim_start_matches("0x"),
                    16,
                )
                .unwrap_or(0);
                let job = Job {
                    id: dec64(&p["jobId"]),
                    pre: p["preHash"]
                        .as_str()
                        .unwrap_or_default()
                        .parse()
                        .unwrap_or(Hash::ZERO),
                    share_target: target_hex(&p["shareTarget"]),
                    block_target: cairn_core::CompactTarget(bits)
                        .to_target()
                        .unwrap_or(Target(U256::ZERO)),
                    difficulty: dec64(&p["difficulty"]),
                    notify: p.clone(),
                };
                self.current = Some(job.id);
                self.jobs.insert(job.id, job);
                Ok(None)
            }
            Some("mining.set_difficulty") => {
                self.difficulties.push(dec64(&v["params"]["difficulty"]));
                Ok(None)
            }
            Some(_) => Ok(None),
            None if self.account(&v) => Ok(None),
            None => Ok(Some(v)),
        }
    }

    /// The newest job.
    pub fn job(&self) -> Option<&Job> {
        self.current.and_then(|id| self.jobs.get(&id))
    }

    /// Submits `nonce` for job `job`.
    pub fn submit(&mut self, job: u64, nonce: u64) -> std::io::Result<Result<Value, Value>> {
        self.call(
            "mining.submit",
            json!({"jobId": job.to_string(), "nonce": nonce.to_string()}),
        )
    }

    /// Mines the newest job at `hashrate` hashes a second until `stop`, submitting
    /// every share, and returns what was counted.
    pub fn mine(&mut self, hashrate: f64, stop: &AtomicBool) -> Counts {
        let started = Instant::now();
        let mut hashes = 0u64;
        let mut nonce = self.nonce_start;
        let mut job_id = None;
        // Where each header's search stands: a new job id for the same header (a new
        // difficulty) goes on from there instead of finding the same shares again.
        let mut positions: HashMap<Hash, u64> = HashMap::new();
        const BATCH: u64 = 64;
        while !stop.load(Ordering::Relaxed) {
            let Some(job) = self.job().cloned() else {
                if self.read_one().is_err() {
                    break;
                }
                continue;
            };
            if job_id != Some(job.id) {
                job_id = Some(job.id);
                nonce = positions.get(&job.pre).copied().unwrap_or(self.nonce_start);
            }
            for _ in 0..BATCH {
                if job.share_target.is_met_by(&pow_hash(&job.pre, nonce)) {
                    // Sent without waiting for the answer, as a real miner does: the
                    // answers are counted as they come in.
                    self.next_id += 1;
                    self.in_flight.insert(self.next_id);
                    let line = json!({"jsonrpc": "2.0", "id": self.next_id, "method": "mining.submit",
                        "params": {"jobId": job.id.to_string(), "nonce": nonce.to_string()}});
                    if self.send_raw(line.to_string().as_bytes()).is_err() {
                        return self.finish(hashes);
                    }
                }
                nonce = nonce
                    .wrapping_add(1)
                    .max(self.nonce_start)
                    .min(self.nonce_last);
            }
            hashes += BATCH;
            self.hashed.store(hashes, Ordering::Relaxed);
            positions.insert(job.pre, nonce);
            // Take in answers and new jobs without blocking.
            if self.drain().is_err() {
                break;
            }
            // Throttle to the hash rate.
            let due = Duration::from_secs_f64(hashes as f64 / hashrate);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        self.finish(hashes)
    }

    /// Waits a little for the last answers, and returns the counts.
    fn finish(&mut self, hashes: u64) -> Counts {
        let deadline = Instant::now() + Duration::from_secs(2);
        while !self.in_flight.is_empty() && Instant::now() < deadline {
            if self.read_one().is_err() {
                break;
            }
        }
        self.counts.hashes = hashes;
        self.counts.clone()
    }

    /// Counts the answer to a share [`Client::mine`] sent; false if `v` is not one.
    fn account(&mut self, v: &Value) -> bool {
        let Some(id) = v["id"].as_u64() else {
            return false;
        };
        if !self.in_flight.remove(&id) {
            return false;
        }
        match v.get("error") {
            Some(e) => {
                let reason = e["data"]["reason"].as_str().unwrap_or("?").to_owned();
                *self.counts.refused.entry(reason).or_insert(0) += 1;
            }
            None => {
                let r = &v["result"];
                self.counts.accepted += 1;
                self.counts.work += dec(&r["work"]);
                if !r["block"].is_null() {
                    self.counts.blocks += 1;
                }
            }
        }
        true
    }

    /// Reads every message already received, without waiting for more.
    pub fn drain(&mut self) -> std::io::Result<()> {
        loop {
            if self.reader.buffer().is_empty() {
                let socket = self.reader.get_ref();
                socket.set_nonblocking(true)?;
                let mut b = [0u8; 1];
                let pending = matches!(socket.peek(&mut b), Ok(n) if n > 0);
                socket.set_nonblocking(false)?;
                if !pending {
                    return Ok(());
                }
            }
            self.read_one()?;
        }
    }
}

/// A test miner on its own thread: connects as `user`, mines at `hashrate` until
/// `stop` is set, then yields its counts; `hashed` counts its hashes as it goes.
#[derive(Debug)]
pub struct TestMiner {
    /// Set it to stop the miner.
    pub stop: Arc<AtomicBool>,
    /// Hashes tried so far.
    pub hashed: Arc<std::sync::atomic::AtomicU64>,
    /// The miner's thread: its counts.
    pub handle: std::thread::JoinHandle<Counts>,
}

/// Starts a [`TestMiner`].
pub fn spawn_miner(addr: SocketAddr, user: String, hashrate: f64) -> TestMiner {
    let stop = Arc::new(AtomicBool::new(false));
    let hashed = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (flag, counter) = (stop.clone(), hashed.clone());
    let handle = std::thread::spawn(move || {
        let mut c = Client::connect(addr).expect("the pool accepts the session");
        c.hashed = counter;
        c.authorize(&user)
            .expect("the pool answers")
            .expect("authorised");
        c.mine(hashrate, &flag)
    });
    TestMiner {
        stop,
        hashed,
        handle,
    }
}
