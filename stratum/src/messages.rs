//! The pool protocol's messages (`docs/STRATUM.md` §2–§4): one type per method's
//! params and result and per notification, the JSON-RPC envelope around them, and the
//! refusals of §4.
//!
//! The pool reads a miner's line with [`parse_request`], which refuses anything off the
//! spec with the [`Refusal`] to send back and never panics: what a miner sends is
//! untrusted. The types the pool parses (requests) deny unknown fields; the types a
//! miner parses (results, notifications) accept them, so that later pools can add
//! fields. Every `u64` and `u128` travels as a canonical decimal string, hashes as hex
//! in byte order, addresses as bech32m, share targets as 64 hex digits most
//! significant first.

use std::fmt;
use std::str::FromStr;

use cairn_core::{
    Address, AddressError, Amount, BlockHeader, Coinbase, CoinbaseOutput, CompactTarget, Encode,
    Hash, Target,
};
use ruint::aliases::U256;
use serde::de::{DeserializeOwned, Error as _, Unexpected};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use thiserror::Error;

use crate::pplns::{MinerStanding, RankedMiner, Split, Window};

/// The longest line a miner may send, its line feed included (§2).
pub const MAX_LINE_BYTES: usize = 4096;
/// Bits of a session's extranonce: the top bits of every nonce it may submit (§3.1).
pub const EXTRANONCE_BITS: u8 = 16;
/// The payout rule this version publishes and checks (§6).
pub const RULE: &str = "cairn-pplns-1";
/// Jobs of the current parent whose shares the pool still accepts (§3.4).
pub const MAX_JOBS_KEPT: usize = 16;
/// The longest string request id, in bytes (§2).
pub const MAX_ID_BYTES: usize = 64;
/// The longest `agent` of `mining.subscribe`, in bytes (§3.1).
pub const MAX_AGENT_BYTES: usize = 64;
/// The longest worker name, in bytes (§3.2).
pub const MAX_WORKER_BYTES: usize = 32;
/// The worker name of a username without one (§3.2).
pub const DEFAULT_WORKER: &str = "default";
/// The JSON-RPC version every message carries.
pub const JSONRPC: &str = "2.0";

/// Nonce bits each session owns below its extranonce: 48.
const SESSION_NONCE_BITS: u32 = 64 - EXTRANONCE_BITS as u32;
/// What a refusal quotes of a name the peer sent (a method, a member), at most.
const MAX_QUOTED_BYTES: usize = 64;

/// The method names.
pub mod method {
    /// Opens a session (§3.1).
    pub const SUBSCRIBE: &str = "mining.subscribe";
    /// Names the session's payout address (§3.2).
    pub const AUTHORIZE: &str = "mining.authorize";
    /// Submits a share (§3.5).
    pub const SUBMIT: &str = "mining.submit";
    /// The share difficulty of the next jobs (§3.3).
    pub const SET_DIFFICULTY: &str = "mining.set_difficulty";
    /// A job (§3.4).
    pub const NOTIFY: &str = "mining.notify";
}

/// The JSON-RPC error codes of §4.
pub mod code {
    /// `malformed`: the line is not JSON.
    pub const PARSE_ERROR: i64 = -32700;
    /// `malformed`: not a request object.
    pub const INVALID_REQUEST: i64 = -32600;
    /// `malformed`: no such method.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// `malformed` (bad params) and `out-of-extranonce-range`.
    pub const INVALID_PARAMS: i64 = -32602;
    /// `unauthorised`.
    pub const UNAUTHORISED: i64 = -32020;
    /// `busy`.
    pub const BUSY: i64 = -32022;
    /// `stale-job`.
    pub const STALE_JOB: i64 = -32030;
    /// `duplicate`.
    pub const DUPLICATE: i64 = -32031;
    /// `above-target`.
    pub const ABOVE_TARGET: i64 = -32032;
    /// Only in the fallback line sent if a response cannot be serialised.
    pub const INTERNAL: i64 = -32603;
}

// ---------------------------------------------------------------------------------
// Values

/// Serde for `u64` and `u128` fields as canonical decimal strings (§2: no sign, no
/// leading zeros, no JSON numbers, which are not exact above 2^53).
mod dec {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer, T: Copy + Into<u128>>(
        value: &T,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let wide: u128 = (*value).into();
        s.collect_str(&wide)
    }

    pub(super) fn deserialize<'de, D, T>(d: D) -> Result<T, D::Error>
    where
        D: Deserializer<'de>,
        T: TryFrom<u128>,
    {
        let text = String::deserialize(d)?;
        let value = super::parse_decimal(&text).ok_or_else(|| {
            D::Error::custom(format_args!(
                "{:?} is not a canonical decimal integer",
                super::clip(&text)
            ))
        })?;
        T::try_from(value).map_err(|_| D::Error::custom(format_args!("{value} is out of range")))
    }
}

/// [`dec`] for [`Amount`]s (base units as a `u64` string).
mod amount_dec {
    use cairn_core::Amount;
    use serde::{Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(value: &Amount, s: S) -> Result<S::Ok, S::Error> {
        super::dec::serialize(&value.0, s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Amount, D::Error> {
        super::dec::deserialize(d).map(Amount)
    }
}

/// A canonical decimal integer (`^(0|[1-9][0-9]*)$`) that fits a `u128`.
fn parse_decimal(text: &str) -> Option<u128> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if canonical { text.parse().ok() } else { None }
}

/// Whether `text` is lower-case hex digits only.
fn is_lower_hex(text: &str) -> bool {
    text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// At most [`MAX_QUOTED_BYTES`] of `text`, cut on a character boundary.
fn clip(text: &str) -> &str {
    let mut end = text.len().min(MAX_QUOTED_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The share target of difficulty `d`: `floor(2^256 / d) − 1` (§5.1), the largest
/// target whose work `floor(2^256 / (target + 1))` is exactly `d`. A difficulty of 0
/// (which the protocol never sends) is taken as 1.
pub fn share_target(difficulty: u64) -> Target {
    let d = U256::from(difficulty.max(1));
    let (q, r) = U256::MAX.div_rem(d);
    // 2^256 − 1 = q·d + r, so floor(2^256 / d) is q + 1 when d divides 2^256
    // (r = d − 1), else q.
    if r == d - U256::from(1u8) {
        Target(q)
    } else {
        Target(q - U256::from(1u8))
    }
}

/// A share target: a 256-bit target printed as 64 lower-case hex digits, most
/// significant first (§2), and compared with PoW hashes as [`Target`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ShareTarget(pub Target);

impl ShareTarget {
    /// The target of difficulty `d` ([`share_target`]).
    pub fn from_difficulty(difficulty: u64) -> ShareTarget {
        ShareTarget(share_target(difficulty))
    }

    /// The target.
    pub fn target(&self) -> Target {
        self.0
    }

    /// Whether `pow`, read as a little-endian number, is at most this target.
    pub fn is_met_by(&self, pow: &Hash) -> bool {
        self.0.is_met_by(pow)
    }
}

impl fmt::Display for ShareTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes: [u8; 32] = self.0.0.to_be_bytes();
        f.write_str(&hex::encode(bytes))
    }
}

/// Why a string is not a share target.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid share target: expected 64 lower-case hex digits")]
pub struct ShareTargetError;

impl FromStr for ShareTarget {
    type Err = ShareTargetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 64 || !is_lower_hex(s) {
            return Err(ShareTargetError);
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(s, &mut bytes).map_err(|_| ShareTargetError)?;
        Ok(ShareTarget(Target(U256::from_be_bytes(bytes))))
    }
}

impl Serialize for ShareTarget {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ShareTarget {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(D::Error::custom)
    }
}

/// A session's id: 16 lower-case hex digits, for logs (§3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionId(pub u64);

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl Serialize for SessionId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SessionId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if text.len() != 16 || !is_lower_hex(&text) {
            return Err(D::Error::custom("a session id is 16 lower-case hex digits"));
        }
        u64::from_str_radix(&text, 16)
            .map(SessionId)
            .map_err(D::Error::custom)
    }
}

/// A request id: a JSON number (`u64`) or a string of at most [`MAX_ID_BYTES`] bytes,
/// echoed in the response (§2).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(untagged)]
pub enum Id {
    /// A non-negative integer.
    Number(u64),
    /// A string.
    Text(String),
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Id::Number(n) => write!(f, "{n}"),
            Id::Text(t) => write!(f, "{t:?}"),
        }
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Id, D::Error> {
        struct IdVisitor;

        impl serde::de::Visitor<'_> for IdVisitor {
            type Value = Id;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(
                    f,
                    "a non-negative integer or a string of at most {MAX_ID_BYTES} bytes"
                )
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Id, E> {
                Ok(Id::Number(v))
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Id, E> {
                u64::try_from(v)
                    .map(Id::Number)
                    .map_err(|_| E::invalid_value(Unexpected::Signed(v), &self))
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Id, E> {
                if v.len() > MAX_ID_BYTES {
                    return Err(E::invalid_length(v.len(), &self));
                }
                Ok(Id::Text(v.to_owned()))
            }
        }

        d.deserialize_any(IdVisitor)
    }
}

/// `<address>` or `<address>.<worker>`, the `username` of `mining.authorize` (§3.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username {
    /// The payout address.
    pub address: Address,
    /// The worker: 1–32 of `[A-Za-z0-9_-]`, [`DEFAULT_WORKER`] if none was given.
    pub worker: String,
}

/// Why a username is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UsernameError {
    /// The address part does not parse.
    #[error(transparent)]
    Address(#[from] AddressError),
    /// The worker part is empty, too long or has other characters.
    #[error("invalid worker name {0:?}: 1 to 32 of A-Z, a-z, 0-9, _ and -")]
    Worker(String),
}

impl FromStr for Username {
    type Err = UsernameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (address, worker) = match s.split_once('.') {
            Some((address, worker)) => (address, worker),
            None => (s, DEFAULT_WORKER),
        };
        let valid_worker = (1..=MAX_WORKER_BYTES).contains(&worker.len())
            && worker
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid_worker {
            return Err(UsernameError::Worker(clip(worker).to_owned()));
        }
        Ok(Username {
            address: address.parse()?,
            worker: worker.to_owned(),
        })
    }
}

impl fmt::Display for Username {
    /// `address.worker`, or the bare address for the default worker.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.worker == DEFAULT_WORKER {
            write!(f, "{}", self.address)
        } else {
            write!(f, "{}.{}", self.address, self.worker)
        }
    }
}

/// A session's nonces, `[start, last]` inclusive: the nonces whose top
/// [`EXTRANONCE_BITS`] bits are its extranonce (§3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NonceSpan {
    /// The first nonce, `extranonce · 2^48`.
    pub start: u64,
    /// The last nonce, `start + 2^48 − 1`.
    pub last: u64,
}

impl NonceSpan {
    /// The span of `extranonce`.
    pub fn for_extranonce(extranonce: u16) -> NonceSpan {
        let start = u64::from(extranonce) << SESSION_NONCE_BITS;
        NonceSpan {
            start,
            last: start | ((1u64 << SESSION_NONCE_BITS) - 1),
        }
    }

    /// Whether `nonce` is in the span.
    pub fn contains(&self, nonce: u64) -> bool {
        (self.start..=self.last).contains(&nonce)
    }
}

// ---------------------------------------------------------------------------------
// Refusals (§4)

/// Why the pool refuses a request (`data.reason` of the error, §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The message cannot be acted on.
    Malformed,
    /// No subscribe or authorize yet, a bad payout address, a second authorize.
    Unauthorised,
    /// No free extranonce.
    Busy,
    /// The job is no longer accepted.
    StaleJob,
    /// The nonce was already submitted for this header.
    Duplicate,
    /// The PoW hash does not meet the job's share target.
    AboveTarget,
    /// The nonce is outside the session's range.
    OutOfExtranonceRange,
}

impl Reason {
    /// Every reason.
    pub const ALL: [Reason; 7] = [
        Reason::Malformed,
        Reason::Unauthorised,
        Reason::Busy,
        Reason::StaleJob,
        Reason::Duplicate,
        Reason::AboveTarget,
        Reason::OutOfExtranonceRange,
    ];

    /// The reason string of §4.
    pub fn as_str(&self) -> &'static str {
        match self {
            Reason::Malformed => "malformed",
            Reason::Unauthorised => "unauthorised",
            Reason::Busy => "busy",
            Reason::StaleJob => "stale-job",
            Reason::Duplicate => "duplicate",
            Reason::AboveTarget => "above-target",
            Reason::OutOfExtranonceRange => "out-of-extranonce-range",
        }
    }

    /// Its code (§4). `malformed` has four; this is the one for bad params, and
    /// [`Refusal::malformed`] takes the others.
    pub fn code(&self) -> i64 {
        match self {
            Reason::Malformed | Reason::OutOfExtranonceRange => code::INVALID_PARAMS,
            Reason::Unauthorised => code::UNAUTHORISED,
            Reason::Busy => code::BUSY,
            Reason::StaleJob => code::STALE_JOB,
            Reason::Duplicate => code::DUPLICATE,
            Reason::AboveTarget => code::ABOVE_TARGET,
        }
    }

    /// The reason named `text`, if it is one of §4's.
    pub fn from_name(text: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused request: what the pool answers with (§4).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{reason}: {message}")]
pub struct Refusal {
    /// The request's id; `None` (sent as `null`) when it could not be read.
    pub id: Option<Id>,
    /// Why.
    pub reason: Reason,
    /// The JSON-RPC code (§4).
    pub code: i64,
    /// What exactly is wrong, as one lower-case sentence (`data.message`).
    pub message: String,
}

impl Refusal {
    /// A refusal with the reason's own code ([`Reason::code`]).
    pub fn new(id: Option<Id>, reason: Reason, message: impl Into<String>) -> Refusal {
        Refusal {
            id,
            reason,
            code: reason.code(),
            message: message.into(),
        }
    }

    /// A `malformed` refusal with one of its four codes ([`code::PARSE_ERROR`],
    /// [`code::INVALID_REQUEST`], [`code::METHOD_NOT_FOUND`], [`code::INVALID_PARAMS`]).
    pub fn malformed(id: Option<Id>, code: i64, message: impl Into<String>) -> Refusal {
        Refusal {
            id,
            reason: Reason::Malformed,
            code,
            message: message.into(),
        }
    }

    /// The refusal of a line over [`MAX_LINE_BYTES`] (`len` with its line feed), after
    /// which the pool closes the connection.
    pub fn line_too_long(len: usize) -> Refusal {
        Refusal::malformed(
            None,
            code::INVALID_REQUEST,
            format!("line of {len} bytes or more, the limit is {MAX_LINE_BYTES}"),
        )
    }

    /// The error's fixed `message` (§4), by reason and code.
    pub fn summary(&self) -> &'static str {
        match (self.reason, self.code) {
            (Reason::Malformed, code::PARSE_ERROR) => "parse error",
            (Reason::Malformed, code::INVALID_REQUEST) => "invalid request",
            (Reason::Malformed, code::METHOD_NOT_FOUND) => "method not found",
            (Reason::Malformed, _) => "invalid params",
            (Reason::Unauthorised, _) => "unauthorised",
            (Reason::Busy, _) => "no free extranonce",
            (Reason::StaleJob, _) => "stale job",
            (Reason::Duplicate, _) => "duplicate share",
            (Reason::AboveTarget, _) => "share above target",
            (Reason::OutOfExtranonceRange, _) => "nonce out of range",
        }
    }

    /// The error object as sent.
    pub fn to_error_object(&self) -> ErrorObject {
        ErrorObject {
            code: self.code,
            message: self.summary().to_owned(),
            data: Some(ErrorData {
                reason: self.reason.as_str().to_owned(),
                message: self.message.clone(),
            }),
        }
    }
}

/// A JSON-RPC error object as it travels: `{"code", "message", "data": {"reason",
/// "message"}}` (§4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorObject {
    /// The JSON-RPC code.
    pub code: i64,
    /// The code's fixed sentence.
    pub message: String,
    /// The reason and the detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<ErrorData>,
}

/// The `data` of an [`ErrorObject`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorData {
    /// A [`Reason`] string; programs act on it.
    #[serde(default)]
    pub reason: String,
    /// What exactly is wrong.
    #[serde(default)]
    pub message: String,
}

impl ErrorObject {
    /// The reason, if the pool gave one of §4's.
    pub fn reason(&self) -> Option<Reason> {
        self.data
            .as_ref()
            .and_then(|d| Reason::from_name(&d.reason))
    }

    /// The reason as sent, or `"unknown"` if none was given.
    pub fn reason_name(&self) -> &str {
        match &self.data {
            Some(d) if !d.reason.is_empty() => &d.reason,
            _ => "unknown",
        }
    }
}

impl fmt::Display for ErrorObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.data {
            Some(d) => write!(f, "{} ({}): {}", self.reason_name(), self.code, d.message),
            None => write!(f, "{} ({})", self.message, self.code),
        }
    }
}

// ---------------------------------------------------------------------------------
// Requests (miner → pool): unknown fields refused

/// `mining.subscribe` params (§3.1).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SubscribeParams {
    /// The miner software, for logs (at most [`MAX_AGENT_BYTES`] bytes).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "agent"
    )]
    pub agent: Option<String>,
}

fn agent<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let agent = Option::<String>::deserialize(d)?;
    match agent {
        Some(a) if a.len() > MAX_AGENT_BYTES => Err(D::Error::custom(format_args!(
            "{} bytes, at most {MAX_AGENT_BYTES}",
            a.len()
        ))),
        other => Ok(other),
    }
}

/// `mining.authorize` params (§3.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AuthorizeParams {
    /// `<address>` or `<address>.<worker>`; parse it with [`Username`] (a bad one is
    /// `unauthorised`, not `malformed`).
    pub username: String,
    /// Ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// `mining.submit` params (§3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SubmitParams {
    /// The job.
    #[serde(with = "dec")]
    pub job_id: u64,
    /// The nonce found.
    #[serde(with = "dec")]
    pub nonce: u64,
}

/// A request a miner sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `mining.subscribe`.
    Subscribe(SubscribeParams),
    /// `mining.authorize`.
    Authorize(AuthorizeParams),
    /// `mining.submit`.
    Submit(SubmitParams),
}

impl Request {
    /// Its method name.
    pub fn method(&self) -> &'static str {
        match self {
            Request::Subscribe(_) => method::SUBSCRIBE,
            Request::Authorize(_) => method::AUTHORIZE,
            Request::Submit(_) => method::SUBMIT,
        }
    }

    /// The request line with id `id` (compact JSON, no line feed).
    pub fn to_line(&self, id: &Id) -> String {
        match self {
            Request::Subscribe(p) => request_line(id, self.method(), p),
            Request::Authorize(p) => request_line(id, self.method(), p),
            Request::Submit(p) => request_line(id, self.method(), p),
        }
    }
}

/// The methods a miner may call.
#[derive(Debug, Clone, Copy)]
enum MinerMethod {
    Subscribe,
    Authorize,
    Submit,
}

impl MinerMethod {
    fn named(name: &str) -> Option<MinerMethod> {
        match name {
            method::SUBSCRIBE => Some(MinerMethod::Subscribe),
            method::AUTHORIZE => Some(MinerMethod::Authorize),
            method::SUBMIT => Some(MinerMethod::Submit),
            _ => None,
        }
    }
}

/// Reads one line from a miner (with or without its `0x0A`; one `0x0D` before it is
/// ignored) as a request, or gives the refusal to answer with (§2, §4):
///
/// - over [`MAX_LINE_BYTES`]: `malformed` −32600, id `null` (then close);
/// - not JSON: `malformed` −32700, id `null`;
/// - not a request object (not an object, no or a bad id, `jsonrpc` not `"2.0"`, no
///   method string, another member): `malformed` −32600, with the id if it was read;
/// - an unknown method: `malformed` −32601;
/// - params not an object, or an unknown, missing or ill-typed parameter: `malformed`
///   −32602 naming it.
///
/// Never panics, whatever the bytes.
pub fn parse_request(line: &[u8]) -> Result<(Id, Request), Refusal> {
    let body = strip_line_end(line);
    if body.len() >= MAX_LINE_BYTES {
        return Err(Refusal::line_too_long(body.len() + 1));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| Refusal::malformed(None, code::PARSE_ERROR, format!("not JSON: {e}")))?;
    let Value::Object(mut object) = value else {
        return Err(Refusal::malformed(
            None,
            code::INVALID_REQUEST,
            "a request is a JSON object",
        ));
    };
    let id = match object.remove("id") {
        Some(id) => Id::deserialize(&id)
            .map_err(|e| Refusal::malformed(None, code::INVALID_REQUEST, format!("bad id: {e}")))?,
        None => {
            return Err(Refusal::malformed(
                None,
                code::INVALID_REQUEST,
                "a request needs an id (miners send no notifications)",
            ));
        }
    };
    let method = envelope(&id, &mut object)?;
    let Some(kind) = MinerMethod::named(&method) else {
        return Err(Refusal::malformed(
            Some(id),
            code::METHOD_NOT_FOUND,
            format!("unknown method {:?}", clip(&method)),
        ));
    };
    let params = match object.remove("params") {
        Some(params @ Value::Object(_)) => params,
        _ => {
            return Err(Refusal::malformed(
                Some(id),
                code::INVALID_PARAMS,
                "params must be an object of named parameters",
            ));
        }
    };
    let request = match kind {
        MinerMethod::Subscribe => Request::Subscribe(request_params(&id, params)?),
        MinerMethod::Authorize => Request::Authorize(request_params(&id, params)?),
        MinerMethod::Submit => Request::Submit(request_params(&id, params)?),
    };
    Ok((id, request))
}

/// Checks `jsonrpc` and that nothing but `method` and `params` is left, and takes the
/// method name.
fn envelope(id: &Id, object: &mut Map<String, Value>) -> Result<String, Refusal> {
    let refuse =
        |message: String| Refusal::malformed(Some(id.clone()), code::INVALID_REQUEST, message);
    if object.remove("jsonrpc") != Some(Value::String(JSONRPC.to_owned())) {
        return Err(refuse(format!("jsonrpc must be {JSONRPC:?}")));
    }
    if let Some(other) = object
        .keys()
        .find(|k| k.as_str() != "method" && k.as_str() != "params")
    {
        return Err(refuse(format!("unknown member {:?}", clip(other))));
    }
    match object.remove("method") {
        Some(Value::String(method)) => Ok(method),
        _ => Err(refuse("method must be a string".to_owned())),
    }
}

/// A request's params, or −32602 naming the bad parameter.
fn request_params<T: DeserializeOwned>(id: &Id, params: Value) -> Result<T, Refusal> {
    serde_path_to_error::deserialize(params).map_err(|e| {
        Refusal::malformed(
            Some(id.clone()),
            code::INVALID_PARAMS,
            format!("bad params: {}", describe(e)),
        )
    })
}

/// A deserialisation error with the path to the field it is about, if any.
fn describe(e: serde_path_to_error::Error<serde_json::Error>) -> String {
    let path = e.path().to_string();
    let inner = e.into_inner();
    if path == "." {
        inner.to_string()
    } else {
        format!("{path}: {inner}")
    }
}

/// `line` without its `0x0A` and one `0x0D` before it.
fn strip_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

// ---------------------------------------------------------------------------------
// Results (pool → miner): unknown fields accepted

/// `mining.subscribe` result (§3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscribeResult {
    /// The session's id, for logs.
    pub session: SessionId,
    /// The top [`EXTRANONCE_BITS`] bits of every nonce the session may submit.
    pub extranonce: u16,
    /// [`EXTRANONCE_BITS`].
    pub extranonce_bits: u8,
    /// `extranonce · 2^48`, the session's first nonce.
    #[serde(with = "dec")]
    pub nonce_start: u64,
    /// `nonceStart + 2^48 − 1`, its last (inclusive).
    #[serde(with = "dec")]
    pub nonce_last: u64,
}

impl SubscribeResult {
    /// The result for a session with `extranonce`.
    pub fn new(session: SessionId, extranonce: u16) -> SubscribeResult {
        let span = NonceSpan::for_extranonce(extranonce);
        SubscribeResult {
            session,
            extranonce,
            extranonce_bits: EXTRANONCE_BITS,
            nonce_start: span.start,
            nonce_last: span.last,
        }
    }

    /// The session's nonces, or `None` if the figures disagree with each other (§3.1).
    pub fn span(&self) -> Option<NonceSpan> {
        let span = NonceSpan::for_extranonce(self.extranonce);
        let consistent = self.extranonce_bits == EXTRANONCE_BITS
            && span.start == self.nonce_start
            && span.last == self.nonce_last;
        consistent.then_some(span)
    }
}

/// `mining.authorize` result (§3.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizeResult {
    /// The session's payout address.
    pub address: Address,
    /// The worker name.
    pub worker: String,
}

/// `mining.submit` result (§3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubmitResult {
    /// Always `true` (a refusal is an error).
    pub accepted: bool,
    /// The work credited: the job's difficulty.
    #[serde(with = "dec")]
    pub work: u64,
    /// The block's id, if the share also met the block target and the node accepted it.
    #[serde(default)]
    pub block: Option<Hash>,
    /// `P_i`: the share log's cumulative work at the end of this share (§6.1); the
    /// share covers `(position − work, position]`.
    #[serde(with = "dec")]
    pub position: u128,
}

// ---------------------------------------------------------------------------------
// Notifications (pool → miner): unknown fields accepted

/// `mining.set_difficulty` params (§3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetDifficulty {
    /// `d`, the expected number of hashes per share.
    #[serde(with = "dec")]
    pub difficulty: u64,
    /// `floor(2^256 / d) − 1`.
    pub target: ShareTarget,
}

impl SetDifficulty {
    /// The notification for difficulty `d`.
    pub fn new(difficulty: u64) -> SetDifficulty {
        SetDifficulty {
            difficulty,
            target: ShareTarget::from_difficulty(difficulty),
        }
    }
}

/// `mining.notify` params: a job (§3.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notify {
    /// Names the job in `mining.submit`.
    #[serde(with = "dec")]
    pub job_id: u64,
    /// The job's parent differs from the previous job's: drop every earlier job.
    pub clean: bool,
    /// This job's share difficulty `d`.
    #[serde(with = "dec")]
    pub difficulty: u64,
    /// `floor(2^256 / d) − 1`.
    pub share_target: ShareTarget,
    /// Every header field but the nonce.
    pub header: JobHeader,
    /// `blake3(header bytes 0..88)`.
    pub pre_hash: Hash,
    /// The coinbase, raw and decoded.
    pub coinbase: JobCoinbase,
    /// The coinbase's merkle siblings from the leaf level up.
    pub merkle_branch: Vec<Hash>,
    /// The figures of the payout check (§6.3).
    pub payout: PayoutFigures,
}

/// A job's header without the nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobHeader {
    /// Header format version.
    pub version: u32,
    /// The block's height.
    #[serde(with = "dec")]
    pub height: u64,
    /// The parent's id.
    pub prev: Hash,
    /// The merkle root of the txids.
    pub tx_root: Hash,
    /// Milliseconds since the Unix epoch.
    #[serde(with = "dec")]
    pub timestamp: u64,
    /// The block target.
    pub target: CompactTarget,
}

impl JobHeader {
    /// A header's fields but its nonce.
    pub fn from_header(header: &BlockHeader) -> JobHeader {
        JobHeader {
            version: header.version,
            height: header.height,
            prev: header.prev,
            tx_root: header.tx_root,
            timestamp: header.timestamp_ms,
            target: header.target,
        }
    }

    /// The full header with `nonce`.
    pub fn to_header(&self, nonce: u64) -> BlockHeader {
        BlockHeader {
            version: self.version,
            height: self.height,
            prev: self.prev,
            tx_root: self.tx_root,
            timestamp_ms: self.timestamp,
            target: self.target,
            nonce,
        }
    }

    /// `blake3` of its 88 bytes.
    pub fn pre_hash(&self) -> Hash {
        self.to_header(0).pre_hash()
    }
}

/// A job's coinbase: its canonical bytes and its outputs decoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobCoinbase {
    /// The canonical bytes, lower-case hex.
    pub raw: String,
    /// The outputs, as `raw` holds them.
    pub outputs: Vec<JobOutput>,
}

impl JobCoinbase {
    /// The published form of `coinbase`.
    pub fn from_coinbase(coinbase: &Coinbase) -> JobCoinbase {
        JobCoinbase {
            raw: hex::encode(coinbase.to_bytes()),
            outputs: coinbase.outputs.iter().map(JobOutput::from).collect(),
        }
    }
}

/// One coinbase output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobOutput {
    /// Who is paid.
    pub recipient: Address,
    /// How much, in base units.
    #[serde(with = "amount_dec")]
    pub amount: Amount,
}

impl From<&CoinbaseOutput> for JobOutput {
    fn from(o: &CoinbaseOutput) -> JobOutput {
        JobOutput {
            recipient: o.recipient,
            amount: o.amount,
        }
    }
}

impl From<&JobOutput> for CoinbaseOutput {
    fn from(o: &JobOutput) -> CoinbaseOutput {
        CoinbaseOutput {
            recipient: o.recipient,
            amount: o.amount,
        }
    }
}

/// The payout figures of a job (§6.3): the same for every session but `you`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PayoutFigures {
    /// The payout rule, [`RULE`].
    pub rule: String,
    /// `R`: subsidy plus fees.
    #[serde(with = "amount_dec")]
    pub reward: Amount,
    /// The pool's fee in millionths.
    pub fee_ppm: u32,
    /// The pool's address.
    pub pool_address: Address,
    /// `K`, the network's `max_coinbase_outputs`.
    pub max_outputs: u32,
    /// Where the window starts in cumulative share work (excluded).
    #[serde(with = "dec")]
    pub window_start: u128,
    /// Where it ends (included).
    #[serde(with = "dec")]
    pub window_end: u128,
    /// `W = windowEnd − windowStart`.
    #[serde(with = "dec")]
    pub window_work: u128,
    /// The rounding remainder paid to the first ranked miner.
    #[serde(with = "amount_dec")]
    pub dust: Amount,
    /// The miners paid in this coinbase, in rank order.
    pub ranked: Vec<Ranked>,
    /// The receiving session's own figures.
    pub you: You,
}

/// A ranked miner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ranked {
    /// Its address.
    pub address: Address,
    /// Its credit plus its entitlement.
    #[serde(with = "amount_dec")]
    pub owed: Amount,
}

/// A session's own figures in a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct You {
    /// The session's payout address.
    pub address: Address,
    /// `w_a`: the address's work in the window.
    #[serde(with = "dec")]
    pub address_work: u128,
    /// `credit_a`: its credit before this job's block.
    #[serde(with = "amount_dec")]
    pub credit: Amount,
}

impl PayoutFigures {
    /// The figures of `split`, taken on `window`, for the session paying `you`.
    pub fn new(split: &Split, window: &Window, you: Address) -> PayoutFigures {
        let standing = split.standing(you);
        PayoutFigures {
            rule: RULE.to_owned(),
            reward: split.reward,
            fee_ppm: split.fee_ppm,
            pool_address: split.pool_address,
            max_outputs: u32::try_from(split.max_outputs).unwrap_or(u32::MAX),
            window_start: window.start(),
            window_end: window.end(),
            window_work: split.window_work,
            dust: split.dust,
            ranked: split
                .ranked
                .iter()
                .map(|r| Ranked {
                    address: r.address,
                    owed: r.owed,
                })
                .collect(),
            you: You {
                address: standing.address,
                address_work: standing.address_work,
                credit: standing.credit_before,
            },
        }
    }

    /// The ranked rows as [`Split::check`] takes them.
    pub fn ranked_miners(&self) -> Vec<RankedMiner> {
        self.ranked
            .iter()
            .map(|r| RankedMiner {
                address: r.address,
                owed: r.owed,
            })
            .collect()
    }

    /// `you` as [`Split::check`] takes it.
    pub fn standing(&self) -> MinerStanding {
        MinerStanding {
            address: self.you.address,
            address_work: self.you.address_work,
            credit_before: self.you.credit,
        }
    }
}

// ---------------------------------------------------------------------------------
// Lines

#[derive(Serialize)]
struct RequestLine<'a, P> {
    jsonrpc: &'static str,
    id: &'a Id,
    method: &'a str,
    params: &'a P,
}

#[derive(Serialize)]
struct ResponseLine<'a, T> {
    jsonrpc: &'static str,
    id: &'a Id,
    result: &'a T,
}

#[derive(Serialize)]
struct ErrorLine<'a> {
    jsonrpc: &'static str,
    id: Option<&'a Id>,
    error: ErrorObject,
}

#[derive(Serialize)]
struct NotificationLine<'a, P> {
    jsonrpc: &'static str,
    method: &'a str,
    params: &'a P,
}

/// Sent if a line cannot be serialised. No type of this module fails to (none holds a
/// map with non-string keys or a fallible `Serialize`); this keeps that from ever
/// becoming a panic.
const INTERNAL_ERROR_LINE: &str =
    r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"internal error"}}"#;

fn to_line<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| INTERNAL_ERROR_LINE.to_owned())
}

fn request_line<P: Serialize>(id: &Id, method: &str, params: &P) -> String {
    to_line(&RequestLine {
        jsonrpc: JSONRPC,
        id,
        method,
        params,
    })
}

/// A response line with `result` (compact JSON, no line feed).
pub fn response<T: Serialize>(id: &Id, result: &T) -> String {
    to_line(&ResponseLine {
        jsonrpc: JSONRPC,
        id,
        result,
    })
}

/// The error line of `refusal` (compact JSON, no line feed).
pub fn error_response(refusal: &Refusal) -> String {
    to_line(&ErrorLine {
        jsonrpc: JSONRPC,
        id: refusal.id.as_ref(),
        error: refusal.to_error_object(),
    })
}

/// A notification line (compact JSON, no line feed).
pub fn notification<T: Serialize>(method: &str, params: &T) -> String {
    to_line(&NotificationLine {
        jsonrpc: JSONRPC,
        method,
        params,
    })
}

// ---------------------------------------------------------------------------------
// The miner's side

/// A message from the pool.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerMessage {
    /// The answer to a request: its result (decode it with [`decode_result`]) or its
    /// error. The id is `None` when the pool could not read the request's.
    Response {
        /// The request's id.
        id: Option<Id>,
        /// The result or the error.
        result: Result<Value, ErrorObject>,
    },
    /// `mining.set_difficulty`.
    SetDifficulty(SetDifficulty),
    /// `mining.notify`.
    Notify(Box<Notify>),
}

/// Why a line from the pool could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MessageError {
    /// The line is not JSON.
    #[error("not JSON: {0}")]
    NotJson(String),
    /// Not a JSON-RPC 2.0 object.
    #[error("not a JSON-RPC 2.0 message")]
    NotJsonRpc,
    /// A notification of a method this version does not know (a miner ignores it).
    #[error("unknown notification {0:?}")]
    UnknownMethod(String),
    /// A response whose id is neither `null`, a number nor a short string.
    #[error("response with a bad id: {0}")]
    BadId(String),
    /// A response with both or neither of `result` and `error`.
    #[error("a response has exactly one of result and error")]
    BadResponse,
    /// Params or a result of the wrong shape.
    #[error("bad {what}: {message}")]
    Invalid {
        /// What was being read: a method's params, or a result.
        what: &'static str,
        /// What is wrong, naming the field.
        message: String,
    },
}

/// Reads one line from the pool (with or without its line feed). Fields this version
/// does not know are ignored; never panics.
pub fn parse_server_message(line: &[u8]) -> Result<ServerMessage, MessageError> {
    let value: Value = serde_json::from_slice(strip_line_end(line))
        .map_err(|e| MessageError::NotJson(e.to_string()))?;
    let Value::Object(mut object) = value else {
        return Err(MessageError::NotJsonRpc);
    };
    if object.get("jsonrpc").and_then(Value::as_str) != Some(JSONRPC) {
        return Err(MessageError::NotJsonRpc);
    }
    if let Some(name) = object.remove("method") {
        let Value::String(name) = name else {
            return Err(MessageError::NotJsonRpc);
        };
        let params = object.remove("params").unwrap_or(Value::Null);
        return match name.as_str() {
            method::SET_DIFFICULTY => Ok(ServerMessage::SetDifficulty(decode(
                method::SET_DIFFICULTY,
                params,
            )?)),
            method::NOTIFY => Ok(ServerMessage::Notify(Box::new(decode(
                method::NOTIFY,
                params,
            )?))),
            _ => Err(MessageError::UnknownMethod(clip(&name).to_owned())),
        };
    }
    let id = match object.remove("id") {
        None | Some(Value::Null) => None,
        Some(id) => Some(Id::deserialize(&id).map_err(|e| MessageError::BadId(e.to_string()))?),
    };
    let result: Result<Value, ErrorObject> = match (object.remove("result"), object.remove("error"))
    {
        (Some(result), None) => Ok(result),
        (None, Some(error)) => Err(decode("error", error)?),
        _ => return Err(MessageError::BadResponse),
    };
    Ok(ServerMessage::Response { id, result })
}

/// A response's result as the type its request expects.
pub fn decode_result<T: DeserializeOwned>(result: Value) -> Result<T, MessageError> {
    decode("result", result)
}

fn decode<T: DeserializeOwned>(what: &'static str, value: Value) -> Result<T, MessageError> {
    serde_path_to_error::deserialize(value).map_err(|e| MessageError::Invalid {
        what,
        message: describe(e),
    })
}

/// The worked example of `docs/STRATUM.md` §7, for tests.
#[cfg(test)]
pub(crate) mod example {
    /// The `mining.notify` line, as the pool sends it.
    pub(crate) const NOTIFY: &str = concat!(
        r#"{"jsonrpc":"2.0","method":"mining.notify","params":{"#,
        r#""jobId":"907","clean":true,"difficulty":"65536","#,
        r#""shareTarget":"0000ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff","#,
        r#""header":{"version":1,"height":"123457","#,
        r#""prev":"10948a4848ececca0bff80257a5936b7b482dc96f1f1989723dd0977d2efbd7f","#,
        r#""txRoot":"bcba1d41beaa5626b602b7c97bb9cfa4f86e223ae01e96010b96b37e4e4f06bd","#,
        r#""timestamp":"1793500000000","target":"0x1d100000"},"#,
        r#""preHash":"5abc2902a702e3851f3d36ed84ceddda413ee463b5fff8e7426935f758647c58","#,
        r#""coinbase":{"raw":"000700000041e20100000000000300000050505050505050505050505050505050505050501c756a01000000000b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0bc3d8e605000000000a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a51e99a0400000000","#,
        r#""outputs":[{"recipient":"cairn12pg9q5zs2pg9q5zs2pg9q5zs2pg9q5zs9repw0","amount":"23754012"},"#,
        r#"{"recipient":"cairn1pv9skzctpv9skzctpv9skzctpv9skzctf8ssmu","amount":"99014851"},"#,
        r#"{"recipient":"cairn1pg9q5zs2pg9q5zs2pg9q5zs2pg9q5zs2gh333a","amount":"77261137"}]},"#,
        r#""merkleBranch":["8836afbac56b2c2cc5014a32790fe20549707ac61c03a2fd8f8d5447e8ddaabb","#,
        r#""d70322aa493e7d27330404044198627ca1a4020836b4ae418e0b1a5f5888ef63"],"#,
        r#""payout":{"rule":"cairn-pplns-1","reward":"200030000","feePpm":10000,"#,
        r#""poolAddress":"cairn12pg9q5zs2pg9q5zs2pg9q5zs2pg9q5zs9repw0","maxOutputs":3,"#,
        r#""windowStart":"987652173516360","windowEnd":"987654321000000","windowWork":"2147483640","#,
        r#""dust":"1","#,
        r#""ranked":[{"address":"cairn1pv9skzctpv9skzctpv9skzctpv9skzctf8ssmu","owed":"99014850"},"#,
        r#"{"address":"cairn1pg9q5zs2pg9q5zs2pg9q5zs2pg9q5zs2gh333a","owed":"77261137"}],"#,
        r#""you":{"address":"cairn1pg9q5zs2pg9q5zs2pg9q5zs2pg9q5zs2gh333a","#,
        r#""addressWork":"805306365","credit":"3000000"}}}}"#,
    );
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const A: Address = Address([0x0a; 20]);

    fn refusal(line: &str) -> Refusal {
        match parse_request(line.as_bytes()) {
            Err(r) => r,
            Ok(ok) => panic!("{line} parsed as {ok:?}"),
        }
    }

    fn request(line: &str) -> (Id, Request) {
        parse_request(line.as_bytes()).unwrap_or_else(|r| panic!("{line}: {r}"))
    }

    fn round_trip<T>(value: &T)
    where
        T: Serialize + DeserializeOwned + PartialEq + fmt::Debug,
    {
        let json = serde_json::to_string(value).unwrap();
        assert_eq!(&serde_json::from_str::<T>(&json).unwrap(), value, "{json}");
    }

    fn example_notify() -> Notify {
        match parse_server_message(example::NOTIFY.as_bytes()).unwrap() {
            ServerMessage::Notify(n) => *n,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn share_target_is_the_largest_target_of_work_d() {
        assert_eq!(share_target(1), Target(U256::MAX));
        assert_eq!(share_target(0), Target(U256::MAX));
        assert_eq!(share_target(2), Target(U256::MAX >> 1));
        assert_eq!(share_target(1 << 16), Target(U256::MAX >> 16));
        for d in [
            1u64,
            2,
            3,
            7,
            65_536,
            65_537,
            1 << 40,
            u64::MAX - 1,
            u64::MAX,
        ] {
            let t = share_target(d);
            assert_eq!(t.work().0, U256::from(d), "work of share_target({d})");
            if t.0 < U256::MAX {
                let next = Target(t.0 + U256::from(1u8));
                assert!(next.work().0 < U256::from(d), "{d}: not the largest");
            }
        }
        assert_eq!(
            ShareTarget::from_difficulty(65_536).to_string(),
            format!("0000{}", "f".repeat(60))
        );
    }

    #[test]
    fn share_target_text_and_comparison() {
        let t = ShareTarget::from_difficulty(65_536);
        assert_eq!(t.to_string().parse::<ShareTarget>(), Ok(t));
        let bad = [
            String::new(),
            "00".into(),
            "F".repeat(64),
            "0".repeat(63),
            "0".repeat(65),
            format!("0x{}", "0".repeat(62)),
        ];
        for bad in &bad {
            assert!(bad.parse::<ShareTarget>().is_err(), "{bad}");
        }
        // The example's share: its last two bytes are zero, so it is below 2^240.
        let pow: Hash = "e19e182e19022c1c23942d35052015a41599c316b9296b9aa41eb93340a00000"
            .parse()
            .unwrap();
        assert!(t.is_met_by(&pow));
        let mut above = pow;
        above.0[30] = 1;
        assert!(!t.is_met_by(&above));
    }

    #[test]
    fn decimals_are_canonical_strings() {
        assert_eq!(parse_decimal("0"), Some(0));
        assert_eq!(parse_decimal(&u128::MAX.to_string()), Some(u128::MAX));
        for bad in [
            "",
            "01",
            "+1",
            "-1",
            " 1",
            "1 ",
            "1e3",
            "0x1",
            "340282366920938463463374607431768211456",
        ] {
            assert_eq!(parse_decimal(bad), None, "{bad}");
        }
        let submit = r#"{"jobId":"18446744073709551615","nonce":"0"}"#;
        let p: SubmitParams = serde_json::from_str(submit).unwrap();
        assert_eq!((p.job_id, p.nonce), (u64::MAX, 0));
        for bad in [
            r#"{"jobId":"18446744073709551616","nonce":"0"}"#,
            r#"{"jobId":1,"nonce":"0"}"#,
            r#"{"jobId":"1","nonce":"00"}"#,
        ] {
            assert!(serde_json::from_str::<SubmitParams>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn usernames() {
        let a = A.to_string();
        let u: Username = a.parse().unwrap();
        assert_eq!((u.address, u.worker.as_str()), (A, DEFAULT_WORKER));
        assert_eq!(u.to_string(), a);
        let u: Username = format!("{a}.rig-1_B").parse().unwrap();
        assert_eq!(u.worker, "rig-1_B");
        assert_eq!(u.to_string().parse::<Username>(), Ok(u));
        for bad in [
            format!("{a}."),
            format!("{a}.{}", "w".repeat(33)),
            format!("{a}.rig 1"),
            format!("{a}.rig.1"),
            "cairn1nope.rig".to_owned(),
            String::new(),
        ] {
            assert!(bad.parse::<Username>().is_err(), "{bad}");
        }
    }

    #[test]
    fn nonce_spans() {
        let s = NonceSpan::for_extranonce(42);
        assert_eq!(
            (s.start, s.last),
            (11_821_949_021_847_552, 12_103_423_998_558_207)
        );
        assert!(s.contains(s.start) && s.contains(s.last));
        assert!(!s.contains(s.start - 1) && !s.contains(s.last + 1) && !s.contains(42));
        let top = NonceSpan::for_extranonce(u16::MAX);
        assert_eq!(top.last, u64::MAX);
        let r = SubscribeResult::new(SessionId(7), 42);
        assert_eq!(r.span(), Some(s));
        let mut bad = r;
        bad.nonce_last += 1;
        assert_eq!(bad.span(), None);
    }

    #[test]
    fn the_example_requests_parse() {
        let (id, r) = request(
            r#"{"jsonrpc":"2.0","id":1,"method":"mining.subscribe","params":{"agent":"cairn-miner/0.1.0"}}"#,
        );
        assert_eq!(id, Id::Number(1));
        assert_eq!(
            r,
            Request::Subscribe(SubscribeParams {
                agent: Some("cairn-miner/0.1.0".into())
            })
        );
        let (_, r) = request(&format!(
            r#"{{"jsonrpc":"2.0","id":2,"method":"mining.authorize","params":{{"username":"{A}.rig1"}}}}"#
        ));
        let Request::Authorize(p) = r else {
            panic!("not an authorize")
        };
        let user: Username = p.username.parse().unwrap();
        assert_eq!((user.address, user.worker.as_str()), (A, "rig1"));
        let (id, r) = request(
            "{\"jsonrpc\":\"2.0\",\"id\":\"x-3\",\"method\":\"mining.submit\",\"params\":{\"jobId\":\"907\",\"nonce\":\"11821949021920628\"}}\r\n",
        );
        assert_eq!(id, Id::Text("x-3".into()));
        assert_eq!(
            r,
            Request::Submit(SubmitParams {
                job_id: 907,
                nonce: 11_821_949_021_920_628
            })
        );
    }

    #[test]
    fn requests_round_trip_through_lines() {
        let requests = [
            Request::Subscribe(SubscribeParams::default()),
            Request::Subscribe(SubscribeParams {
                agent: Some("a".repeat(MAX_AGENT_BYTES)),
            }),
            Request::Authorize(AuthorizeParams {
                username: format!("{A}.w"),
                password: Some("x".into()),
            }),
            Request::Submit(SubmitParams {
                job_id: u64::MAX,
                nonce: 1,
            }),
        ];
        for (i, r) in requests.into_iter().enumerate() {
            let id = if i % 2 == 0 {
                Id::Number(i as u64)
            } else {
                Id::Text("i".repeat(MAX_ID_BYTES))
            };
            let line = r.to_line(&id);
            assert!(!line.contains('\n'));
            assert_eq!(parse_request(line.as_bytes()), Ok((id, r)), "{line}");
        }
    }

    #[test]
    fn junk_is_refused_with_its_code() {
        let cases: &[(&str, i64, bool)] = &[
            // (line, code, whether the id is echoed)
            ("", code::PARSE_ERROR, false),
            ("not json", code::PARSE_ERROR, false),
            ("{\"id\":1", code::PARSE_ERROR, false),
            ("\u{0}", code::PARSE_ERROR, false),
            (r#"{"id":1e400}"#, code::PARSE_ERROR, false),
            ("[]", code::INVALID_REQUEST, false),
            (
                r#"[{"jsonrpc":"2.0","id":1,"method":"mining.subscribe","params":{}}]"#,
                code::INVALID_REQUEST,
                false,
            ),
            ("42", code::INVALID_REQUEST, false),
            ("null", code::INVALID_REQUEST, false),
            (
                r#"{"jsonrpc":"2.0","method":"mining.subscribe","params":{}}"#,
                code::INVALID_REQUEST,
                false,
            ),
            (
                r#"{"jsonrpc":"2.0","id":null,"method":"mining.subscribe","params":{}}"#,
                code::INVALID_REQUEST,
                false,
            ),
            (
                r#"{"jsonrpc":"2.0","id":-1,"method":"mining.subscribe","params":{}}"#,
                code::INVALID_REQUEST,
                false,
            ),
            (
                r#"{"jsonrpc":"2.0","id":1.5,"method":"mining.subscribe","params":{}}"#,
                code::INVALID_REQUEST,
                false,
            ),
            (
                r#"{"jsonrpc":"2.0","id":18446744073709551616,"method":"mining.subscribe","params":{}}"#,
                code::INVALID_REQUEST,
                false,
            ),
            (
                r#"{"jsonrpc":"2.0","id":[1],"method":"mining.subscribe","params":{}}"#,
                code::INVALID_REQUEST,
                false,
            ),
            (
                r#"{"jsonrpc":"1.0","id":1,"method":"mining.subscribe","params":{}}"#,
                code::INVALID_REQUEST,
                true,
            ),
            (
                r#"{"id":1,"method":"mining.subscribe","params":{}}"#,
                code::INVALID_REQUEST,
                true,
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"params":{}}"#,
                code::INVALID_REQUEST,
                true,
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":7,"params":{}}"#,
                code::INVALID_REQUEST,
                true,
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"mining.subscribe","params":{},"extra":1}"#,
                code::INVALID_REQUEST,
                true,
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"mining.subscribe","params":{},"result":1}"#,
                code::INVALID_REQUEST,
                true,
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"mining.nope","params":{}}"#,
                code::METHOD_NOT_FOUND,
                true,
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"mining.notify","params":{}}"#,
                code::METHOD_NOT_FOUND,
                true,
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"mining.subscribe"}"#,
                code::INVALID_PARAMS,
                true,
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"mining.subscribe","params":null}"#,
                code::INVALID_PARAMS,
                true,
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"mining.subscribe","params":["a"]}"#,
                code::INVALID_PARAMS,
                true,
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"mining.submit","params":["907","1"]}"#,
                code::INVALID_PARAMS,
                true,
            ),
        ];
        for &(line, code, echoed) in cases {
            let r = refusal(line);
            assert_eq!((r.reason, r.code), (Reason::Malformed, code), "{line}: {r}");
            assert_eq!(r.id.is_some(), echoed, "{line}: {r:?}");
        }
    }

    #[test]
    fn bad_params_are_named() {
        let submit = |params: &str| {
            refusal(&format!(
                r#"{{"jsonrpc":"2.0","id":9,"method":"mining.submit","params":{params}}}"#
            ))
        };
        for (params, named) in [
            (r#"{"jobId":"1"}"#, "nonce"),
            (r#"{"nonce":"1"}"#, "jobId"),
            (r#"{"jobId":"1","nonce":"1","worker":"x"}"#, "worker"),
            (r#"{"jobId":"1","nonce":5}"#, "nonce"),
            (r#"{"jobId":true,"nonce":"5"}"#, "jobId"),
            (r#"{"jobId":"1","nonce":"18446744073709551616"}"#, "nonce"),
            (
                r#"{"jobId":"1","nonce":"99999999999999999999999999999999999999999999"}"#,
                "nonce",
            ),
            (r#"{"jobId":"-1","nonce":"1"}"#, "jobId"),
            (r#"{"jobId":"1","nonce":"1.0"}"#, "nonce"),
        ] {
            let r = submit(params);
            assert_eq!(
                (r.code, r.id.clone()),
                (code::INVALID_PARAMS, Some(Id::Number(9)))
            );
            assert!(r.message.contains(named), "{params}: {r}");
        }
        let r = refusal(&format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"mining.subscribe","params":{{"agent":"{}"}}}}"#,
            "a".repeat(MAX_AGENT_BYTES + 1)
        ));
        assert!(
            r.code == code::INVALID_PARAMS && r.message.contains("agent"),
            "{r}"
        );
        let r = refusal(
            r#"{"jsonrpc":"2.0","id":1,"method":"mining.authorize","params":{"password":"x"}}"#,
        );
        assert!(
            r.code == code::INVALID_PARAMS && r.message.contains("username"),
            "{r}"
        );
        let r = refusal(
            r#"{"jsonrpc":"2.0","id":1,"method":"mining.authorize","params":{"username":7}}"#,
        );
        assert!(
            r.code == code::INVALID_PARAMS && r.message.contains("username"),
            "{r}"
        );
    }

    #[test]
    fn long_lines_and_ids_are_refused() {
        let pad = |n: usize| {
            let head = r#"{"jsonrpc":"2.0","id":1,"method":"mining.subscribe","params":{}}"#;
            format!("{head}{}", " ".repeat(n - head.len()))
        };
        // 4095 bytes + the line feed is the most a line may be.
        assert!(parse_request(pad(MAX_LINE_BYTES - 1).as_bytes()).is_ok());
        assert!(parse_request(format!("{}\n", pad(MAX_LINE_BYTES - 1)).as_bytes()).is_ok());
        let r = refusal(&pad(MAX_LINE_BYTES));
        assert_eq!((r.code, r.id), (code::INVALID_REQUEST, None));
        let id = "i".repeat(MAX_ID_BYTES + 1);
        let r = refusal(&format!(
            r#"{{"jsonrpc":"2.0","id":"{id}","method":"mining.subscribe","params":{{}}}}"#
        ));
        assert_eq!((r.code, r.id), (code::INVALID_REQUEST, None));
    }

    #[test]
    fn refusal_quotes_are_clipped() {
        let method = "m".repeat(1000);
        let r = refusal(&format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"{method}","params":{{}}}}"#
        ));
        assert!(r.message.len() < 100, "{}", r.message);
        assert_eq!(clip("é".repeat(40).as_str()).len(), 64);
        assert_eq!(clip("éa".repeat(40).as_str()).len(), 63);
    }

    #[test]
    fn the_example_errors_are_the_spec_lines() {
        let cases = [
            (
                Refusal::new(
                    Some(Id::Number(4)),
                    Reason::Duplicate,
                    "nonce 11821949021920628 was already submitted for job 907",
                ),
                r#"{"jsonrpc":"2.0","id":4,"error":{"code":-32031,"message":"duplicate share","data":{"reason":"duplicate","message":"nonce 11821949021920628 was already submitted for job 907"}}}"#,
            ),
            (
                Refusal::new(
                    Some(Id::Number(5)),
                    Reason::AboveTarget,
                    "the proof-of-work hash of nonce 11821949021847552 does not meet the share target of job 907",
                ),
                r#"{"jsonrpc":"2.0","id":5,"error":{"code":-32032,"message":"share above target","data":{"reason":"above-target","message":"the proof-of-work hash of nonce 11821949021847552 does not meet the share target of job 907"}}}"#,
            ),
            (
                Refusal::new(
                    Some(Id::Number(6)),
                    Reason::OutOfExtranonceRange,
                    "nonce 42 is outside 11821949021847552..=12103423998558207",
                ),
                r#"{"jsonrpc":"2.0","id":6,"error":{"code":-32602,"message":"nonce out of range","data":{"reason":"out-of-extranonce-range","message":"nonce 42 is outside 11821949021847552..=12103423998558207"}}}"#,
            ),
            (
                Refusal::new(
                    Some(Id::Number(7)),
                    Reason::StaleJob,
                    "job 907 is on an earlier parent",
                ),
                r#"{"jsonrpc":"2.0","id":7,"error":{"code":-32030,"message":"stale job","data":{"reason":"stale-job","message":"job 907 is on an earlier parent"}}}"#,
            ),
        ];
        for (refusal, line) in cases {
            assert_eq!(error_response(&refusal), line);
            let Ok(ServerMessage::Response { id, result: Err(e) }) =
                parse_server_message(line.as_bytes())
            else {
                panic!("{line}")
            };
            assert_eq!(id, refusal.id);
            assert_eq!(e, refusal.to_error_object());
            assert_eq!(e.reason(), Some(refusal.reason));
        }
        let parse = error_response(&refusal("nope"));
        assert!(parse.starts_with(r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error","data":{"reason":"malformed","#), "{parse}");
        assert!(matches!(
            parse_server_message(parse.as_bytes()),
            Ok(ServerMessage::Response {
                id: None,
                result: Err(_)
            })
        ));
    }

    #[test]
    fn every_reason_has_its_name_code_and_summary() {
        for reason in Reason::ALL {
            assert_eq!(Reason::from_name(reason.as_str()), Some(reason));
            let r = Refusal::new(None, reason, "x");
            assert_eq!(r.code, reason.code());
            assert!(!r.summary().is_empty());
        }
        assert_eq!(Reason::from_name("nope"), None);
    }

    #[test]
    fn the_example_results_are_the_spec_lines() {
        let subscribe = SubscribeResult::new(SessionId(0x5f1e_6b0c_9a3d_2e47), 42);
        assert_eq!(
            response(&Id::Number(1), &subscribe),
            r#"{"jsonrpc":"2.0","id":1,"result":{"session":"5f1e6b0c9a3d2e47","extranonce":42,"extranonceBits":16,"nonceStart":"11821949021847552","nonceLast":"12103423998558207"}}"#
        );
        let authorize = AuthorizeResult {
            address: A,
            worker: "rig1".into(),
        };
        assert_eq!(
            response(&Id::Number(2), &authorize),
            format!(r#"{{"jsonrpc":"2.0","id":2,"result":{{"address":"{A}","worker":"rig1"}}}}"#)
        );
        let submit = SubmitResult {
            accepted: true,
            work: 65_536,
            block: None,
            position: 987_654_321_065_536,
        };
        assert_eq!(
            response(&Id::Number(3), &submit),
            r#"{"jsonrpc":"2.0","id":3,"result":{"accepted":true,"work":"65536","block":null,"position":"987654321065536"}}"#
        );
        assert_eq!(
            notification(method::SET_DIFFICULTY, &SetDifficulty::new(65_536)),
            r#"{"jsonrpc":"2.0","method":"mining.set_difficulty","params":{"difficulty":"65536","target":"0000ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"}}"#
        );
        assert_eq!(
            notification(method::NOTIFY, &example_notify()),
            example::NOTIFY
        );
    }

    #[test]
    fn the_example_notify_decodes() {
        let n = example_notify();
        assert_eq!((n.job_id, n.clean, n.difficulty), (907, true, 65_536));
        assert_eq!(n.share_target, ShareTarget::from_difficulty(65_536));
        assert_eq!(n.header.target, CompactTarget(0x1d10_0000));
        assert_eq!(n.header.pre_hash(), n.pre_hash);
        assert_eq!(n.payout.rule, RULE);
        assert_eq!(n.payout.you.address, A);
        assert_eq!(n.payout.you.address_work, 805_306_365);
        assert_eq!(n.coinbase.outputs[2].amount, Amount(77_261_137));
    }

    #[test]
    fn every_message_round_trips() {
        let n = example_notify();
        round_trip(&n);
        round_trip(&n.header);
        round_trip(&n.coinbase);
        round_trip(&n.payout);
        round_trip(&SetDifficulty::new(3));
        round_trip(&SubscribeResult::new(SessionId(u64::MAX), u16::MAX));
        round_trip(&AuthorizeResult {
            address: A,
            worker: "default".into(),
        });
        round_trip(&SubmitResult {
            accepted: true,
            work: u64::MAX,
            block: Some(Hash::digest(b"block")),
            position: u128::MAX,
        });
        round_trip(&SubscribeParams {
            agent: Some("x".into()),
        });
        round_trip(&AuthorizeParams {
            username: "u".into(),
            password: None,
        });
        round_trip(&SubmitParams {
            job_id: 1,
            nonce: u64::MAX,
        });
        round_trip(&Refusal::new(None, Reason::Busy, "full").to_error_object());
        round_trip(&Id::Number(u64::MAX));
        round_trip(&Id::Text(String::new()));
        let header = n.header.to_header(99);
        assert_eq!(JobHeader::from_header(&header), n.header);
        assert_eq!(header.nonce, 99);
    }

    #[test]
    fn miners_ignore_unknown_fields_and_notifications() {
        let line = format!(
            r#"{{"jsonrpc":"2.0","method":"mining.set_difficulty","params":{{"difficulty":"2","target":"7{}","later":[1]}},"extra":{{}}}}"#,
            "f".repeat(63)
        );
        assert_eq!(
            parse_server_message(line.as_bytes()),
            Ok(ServerMessage::SetDifficulty(SetDifficulty::new(2)))
        );
        let line = r#"{"jsonrpc":"2.0","id":3,"result":{"accepted":true,"work":"1","block":null,"position":"5","new":true}}"#;
        let Ok(ServerMessage::Response { id, result: Ok(v) }) =
            parse_server_message(line.as_bytes())
        else {
            panic!("{line}")
        };
        assert_eq!(id, Some(Id::Number(3)));
        let r: SubmitResult = decode_result(v).unwrap();
        assert_eq!((r.work, r.position), (1, 5));
        assert!(matches!(
            parse_server_message(br#"{"jsonrpc":"2.0","method":"mining.later","params":{}}"#),
            Err(MessageError::UnknownMethod(m)) if m == "mining.later"
        ));
    }

    #[test]
    fn bad_server_messages_are_errors() {
        for line in [
            "",
            "[]",
            r#"{"method":"mining.notify","params":{}}"#,
            r#"{"jsonrpc":"2.0","method":"mining.notify","params":{}}"#,
            r#"{"jsonrpc":"2.0","method":"mining.set_difficulty","params":{"difficulty":"2"}}"#,
            r#"{"jsonrpc":"2.0","method":7}"#,
            r#"{"jsonrpc":"2.0","id":1}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":1,"error":{"code":1,"message":"x"}}"#,
            r#"{"jsonrpc":"2.0","id":-4,"result":1}"#,
            r#"{"jsonrpc":"2.0","id":1,"error":"x"}"#,
        ] {
            assert!(parse_server_message(line.as_bytes()).is_err(), "{line}");
        }
        let mut v: Value = serde_json::from_str(example::NOTIFY).unwrap();
        v["params"]["header"]["height"] = Value::from(123_457);
        let Err(MessageError::Invalid { message, .. }) =
            parse_server_message(v.to_string().as_bytes())
        else {
            panic!()
        };
        assert!(message.contains("header.height"), "{message}");
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let key = prop_oneof![
            Just("jsonrpc"),
            Just("id"),
            Just("method"),
            Just("params"),
            Just("agent"),
            Just("username"),
            Just("password"),
            Just("jobId"),
            Just("nonce"),
            Just("result"),
            Just("error"),
            Just("x"),
        ]
        .prop_map(str::to_owned);
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            ".{0,80}".prop_map(Value::String),
            "(0|[1-9][0-9]{0,25})".prop_map(Value::String),
            prop_oneof![
                Just("2.0"),
                Just(method::SUBSCRIBE),
                Just(method::AUTHORIZE),
                Just(method::SUBMIT),
                Just(method::NOTIFY),
            ]
            .prop_map(|s| Value::String(s.to_owned())),
        ];
        leaf.prop_recursive(4, 64, 8, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map(key.clone(), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Request-shaped objects: the right envelope around random params.
    fn request_like() -> impl Strategy<Value = Value> {
        (
            prop_oneof![
                Just(method::SUBSCRIBE),
                Just(method::AUTHORIZE),
                Just(method::SUBMIT)
            ],
            json_value(),
            any::<u64>(),
        )
            .prop_map(|(method, params, id)| {
                serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
            })
    }

    fn check_line(bytes: &[u8]) {
        match parse_request(bytes) {
            Ok((id, request)) => {
                // What the pool accepts, it reads back the same from its canonical form.
                let line = request.to_line(&id);
                assert_eq!(parse_request(line.as_bytes()), Ok((id, request)));
            }
            Err(r) => {
                assert_eq!(r.reason, Reason::Malformed);
                let line = error_response(&r);
                assert!(!line.contains('\n'));
                assert!(parse_server_message(line.as_bytes()).is_ok(), "{line}");
            }
        }
        let _ = parse_server_message(bytes);
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            check_line(&bytes);
        }

        #[test]
        fn random_json_never_panics(value in json_value()) {
            check_line(value.to_string().as_bytes());
        }

        #[test]
        fn random_requests_never_panic(value in request_like()) {
            check_line(value.to_string().as_bytes());
        }

        #[test]
        fn submits_round_trip(job_id in any::<u64>(), nonce in any::<u64>(), id in any::<u64>()) {
            let r = Request::Submit(SubmitParams { job_id, nonce });
            let line = r.to_line(&Id::Number(id));
            prop_assert_eq!(parse_request(line.as_bytes()), Ok((Id::Number(id), r)));
        }
    }
}
