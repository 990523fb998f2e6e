//! JSON-RPC 2.0 envelopes, error codes and parameter extraction.

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// Every error code the server returns. The standard ones are JSON-RPC 2.0's; the
/// others are Cairn's, stable across releases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// -32700: the body is not JSON.
    ParseError,
    /// -32600: not a valid request object (or an empty or oversized batch).
    InvalidRequest,
    /// -32601: no such method.
    MethodNotFound,
    /// -32602: wrong, missing or malformed parameters.
    InvalidParams,
    /// -32603: the node failed (disk, shutdown).
    Internal,
    /// -32000: a transaction breaks a consensus rule (signature, chain id, …).
    InvalidTransaction,
    /// -32001: the sender's next nonce is higher.
    NonceTooLow,
    /// -32002: earlier nonces of the sender are missing.
    NonceTooHigh,
    /// -32003: balance below amount + fee (+ pending transfers).
    InsufficientFunds,
    /// -32004: fee below the mempool's minimum (or a replacement's bump).
    FeeTooLow,
    /// -32005: the mempool is full and the fee does not beat its cheapest entry.
    MempoolFull,
    /// -32006: the transaction is already pending.
    AlreadyKnown,
    /// -32010: no such block.
    UnknownBlock,
    /// -32011: no such transaction.
    UnknownTransaction,
    /// -32012: a block was refused.
    InvalidBlock,
    /// -32020: the method needs the RPC token.
    Unauthorized,
    /// -32021: the method exists only on the dev network.
    DevOnly,
    /// -32022: the node is busy (too many requests at once).
    Busy,
    /// -32030: the work id is unknown or its template is no longer on the tip.
    StaleWork,
    /// -32031: this nonce was already submitted for this work.
    DuplicateWork,
    /// -32032: the hash does not meet the target.
    LowDifficulty,
}

impl ErrorCode {
    /// The numeric code.
    pub fn code(self) -> i64 {
        match self {
            ErrorCode::ParseError => -32700,
            ErrorCode::InvalidRequest => -32600,
            ErrorCode::MethodNotFound => -32601,
            ErrorCode::InvalidParams => -32602,
            ErrorCode::Internal => -32603,
            ErrorCode::InvalidTransaction => -32000,
            ErrorCode::NonceTooLow => -32001,
            ErrorCode::NonceTooHigh => -32002,
            ErrorCode::InsufficientFunds => -32003,
            ErrorCode::FeeTooLow => -32004,
            ErrorCode::MempoolFull => -32005,
            ErrorCode::AlreadyKnown => -32006,
            ErrorCode::UnknownBlock => -32010,
            ErrorCode::UnknownTransaction => -32011,
            ErrorCode::InvalidBlock => -32012,
            ErrorCode::Unauthorized => -32020,
            ErrorCode::DevOnly => -32021,
            ErrorCode::Busy => -32022,
            ErrorCode::StaleWork => -32030,
            ErrorCode::DuplicateWork => -32031,
            ErrorCode::LowDifficulty => -32032,
        }
    }

    /// The fixed message.
    pub fn message(self) -> &'static str {
        match self {
            ErrorCode::ParseError => "parse error",
            ErrorCode::InvalidRequest => "invalid request",
            ErrorCode::MethodNotFound => "method not found",
            ErrorCode::InvalidParams => "invalid params",
            ErrorCode::Internal => "internal error",
            ErrorCode::InvalidTransaction => "invalid transaction",
            ErrorCode::NonceTooLow => "nonce too low",
            ErrorCode::NonceTooHigh => "nonce too high",
            ErrorCode::InsufficientFunds => "insufficient funds",
            ErrorCode::FeeTooLow => "fee too low",
            ErrorCode::MempoolFull => "mempool full",
            ErrorCode::AlreadyKnown => "already known",
            ErrorCode::UnknownBlock => "unknown block",
            ErrorCode::UnknownTransaction => "unknown transaction",
            ErrorCode::InvalidBlock => "invalid block",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::DevOnly => "dev network only",
            ErrorCode::Busy => "busy",
            ErrorCode::StaleWork => "stale work",
            ErrorCode::DuplicateWork => "duplicate work",
            ErrorCode::LowDifficulty => "low difficulty",
        }
    }

    /// Every code, for the OpenRPC document.
    pub const ALL: [ErrorCode; 21] = [
        ErrorCode::ParseError,
        ErrorCode::InvalidRequest,
        ErrorCode::MethodNotFound,
        ErrorCode::InvalidParams,
        ErrorCode::Internal,
        ErrorCode::InvalidTransaction,
        ErrorCode::NonceTooLow,
        ErrorCode::NonceTooHigh,
        ErrorCode::InsufficientFunds,
        ErrorCode::FeeTooLow,
        ErrorCode::MempoolFull,
        ErrorCode::AlreadyKnown,
        ErrorCode::UnknownBlock,
        ErrorCode::UnknownTransaction,
        ErrorCode::InvalidBlock,
        ErrorCode::Unauthorized,
        ErrorCode::DevOnly,
        ErrorCode::Busy,
        ErrorCode::StaleWork,
        ErrorCode::DuplicateWork,
        ErrorCode::LowDifficulty,
    ];
}

/// An error answer: a code, its message, and details in `data`.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    /// The code.
    pub code: ErrorCode,
    /// What exactly went wrong (a sentence, and for rule violations the rule's code).
    pub data: Option<Value>,
}

impl RpcError {
    /// An error with a detail sentence.
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> RpcError {
        RpcError {
            code,
            data: Some(Value::String(detail.into())),
        }
    }

    /// An error with structured details.
    pub fn with_data(code: ErrorCode, data: Value) -> RpcError {
        RpcError {
            code,
            data: Some(data),
        }
    }

    /// -32602 with a detail sentence.
    pub fn params(detail: impl Into<String>) -> RpcError {
        RpcError::new(ErrorCode::InvalidParams, detail)
    }

    /// The JSON error object.
    pub fn to_json(&self) -> Value {
        let mut e = json!({ "code": self.code.code(), "message": self.code.message() });
        if let Some(d) = &self.data {
            e["data"] = d.clone();
        }
        e
    }
}

/// A response object for request `id`.
pub fn response(id: Value, result: Result<Value, RpcError>) -> Value {
    match result {
        Ok(r) => json!({ "jsonrpc": "2.0", "id": id, "result": r }),
        Err(e) => json!({ "jsonrpc": "2.0", "id": id, "error": e.to_json() }),
    }
}

/// A checked request object.
#[derive(Debug, Clone)]
pub struct Request {
    /// Its id (`None` for a notification, which gets no answer).
    pub id: Option<Value>,
    /// The method.
    pub method: String,
    /// The parameters.
    pub params: Params,
}

impl Request {
    /// Checks the envelope of one request object.
    pub fn parse(v: Value) -> Result<Request, (Value, RpcError)> {
        let Value::Object(mut o) = v else {
            return Err((
                Value::Null,
                RpcError::new(ErrorCode::InvalidRequest, "a request must be an object"),
            ));
        };
        let id = o.remove("id");
        let reply_id = id.clone().unwrap_or(Value::Null);
        let bad = |detail: &str| {
            (
                reply_id.clone(),
                RpcError::new(ErrorCode::InvalidRequest, detail),
            )
        };
        if let Some(id) = &id
            && !(id.is_string() || id.is_number() || id.is_null())
        {
            return Err((
                Value::Null,
                RpcError::new(
                    ErrorCode::InvalidRequest,
                    "id must be a string, number or null",
                ),
            ));
        }
        if o.get("jsonrpc") != Some(&Value::String("2.0".into())) {
            return Err(bad("\"jsonrpc\" must be \"2.0\""));
        }
        let Some(Value::String(method)) = o.remove("method") else {
            return Err(bad("\"method\" must be a string"));
        };
        let params = match o.remove("params") {
            None | Some(Value::Null) => Params::None,
            Some(Value::Array(a)) => Params::Array(a),
            Some(Value::Object(m)) => Params::Object(m),
            Some(_) => return Err(bad("\"params\" must be an array or an object")),
        };
        Ok(Request { id, method, params })
    }
}

/// Parameters, by position or by name.
#[derive(Debug, Clone, Default)]
pub enum Params {
    /// None given.
    #[default]
    None,
    /// Positional.
    Array(Vec<Value>),
    /// Named.
    Object(serde_json::Map<String, Value>),
}

impl Params {
    fn raw(&self, index: usize, name: &str) -> Option<&Value> {
        match self {
            Params::None => None,
            Params::Array(a) => a.get(index),
            Params::Object(o) => o.get(name),
        }
        .filter(|v| !v.is_null())
    }

    /// Parameter `name` (at `index` when positional), which must be present.
    pub fn get<T: DeserializeOwned>(&self, index: usize, name: &str) -> Result<T, RpcError> {
        self.opt(index, name)?
            .ok_or_else(|| RpcError::params(format!("missing parameter `{name}`")))
    }

    /// Optional parameter `name`.
    pub fn opt<T: DeserializeOwned>(
        &self,
        index: usize,
        name: &str,
    ) -> Result<Option<T>, RpcError> {
        match self.raw(index, name) {
            None => Ok(None),
            Some(v) => T::deserialize(v)
                .map(Some)
                .map_err(|e| RpcError::params(format!("parameter `{name}`: {e}"))),
        }
    }

    /// Parses a parameter given as a string (hex id, address, …).
    pub fn parsed<T: std::str::FromStr>(&self, index: usize, name: &str) -> Result<T, RpcError>
    where
        T::Err: std::fmt::Display,
    {
        let s: String = self.get(index, name)?;
        s.parse()
            .map_err(|e| RpcError::params(format!("parameter `{name}`: {e}")))
    }

    /// Fails if more than `n` parameters were given (catches typos in names).
    pub fn at_most(&self, names: &[&str]) -> Result<(), RpcError> {
        match self {
            Params::None => Ok(()),
            Params::Array(a) if a.len() <= names.len() => Ok(()),
            Params::Array(a) => Err(RpcError::params(format!(
                "{} parameters given, at most {} expected",
                a.len(),
                names.len()
            ))),
            Params::Object(o) => match o.keys().find(|k| !names.contains(&k.as_str())) {
                Some(k) => Err(RpcError::params(format!("unknown parameter `{k}`"))),
                None => Ok(()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_are_checked() {
        let ok = Request::parse(json!({"jsonrpc":"2.0","id":1,"method":"m","params":[1]}));
        assert!(ok.is_ok());
        for bad in [
            json!([]),
            json!({"jsonrpc":"1.0","id":1,"method":"m"}),
            json!({"jsonrpc":"2.0","id":1,"method":7}),
            json!({"jsonrpc":"2.0","id":1,"method":"m","params":3}),
            json!({"jsonrpc":"2.0","id":{},"method":"m"}),
        ] {
            let (_, e) = Request::parse(bad).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidRequest);
        }
    }

    #[test]
    fn params_by_position_and_name() {
        let p = Params::Array(vec![json!(5), json!("x")]);
        assert_eq!(p.get::<u64>(0, "a").ok(), Some(5));
        assert_eq!(p.get::<String>(1, "b").ok().as_deref(), Some("x"));
        assert!(p.get::<u64>(1, "b").is_err());
        assert!(p.get::<u64>(2, "c").is_err());
        let mut m = serde_json::Map::new();
        m.insert("b".into(), json!(true));
        let p = Params::Object(m);
        assert_eq!(p.opt::<bool>(0, "b").ok(), Some(Some(true)));
        assert_eq!(p.opt::<bool>(0, "a").ok(), Some(None));
        assert!(p.at_most(&["a"]).is_err());
        assert!(p.at_most(&["a", "b"]).is_ok());
    }
}
