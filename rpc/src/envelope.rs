//! JSON-RPC 2.0 envelopes: requests (checked field by field, as the node receives
//! them), responses, error objects and [`ErrorCode`]; and [`Params`], a request's
//! parameters, by position or by name, decoded into a method's typed parameters.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::methods::Method;

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

impl ErrorCode {
    /// The code for a number, if it is one of ours.
    pub fn from_code(code: i64) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.code() == code)
    }
}

/// An error the node answers with: a code, and details in `data` (a sentence, or an
/// object with a `reason` and a `message`).
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    /// The code.
    pub code: ErrorCode,
    /// What exactly went wrong.
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

    /// An error with a machine-readable reason (see [`ErrorData`]) and a sentence.
    pub fn with_reason(code: ErrorCode, reason: &str, message: impl Into<String>) -> RpcError {
        RpcError {
            code,
            data: Some(json!({ "reason": reason, "message": message.into() })),
        }
    }

    /// -32602 with a detail sentence.
    pub fn params(detail: impl Into<String>) -> RpcError {
        RpcError::new(ErrorCode::InvalidParams, detail)
    }

    /// The error object as sent.
    pub fn to_object(&self) -> ErrorObject {
        ErrorObject {
            code: self.code.code(),
            message: self.code.message().to_string(),
            data: self.data.clone(),
        }
    }
}

/// A JSON-RPC error object, as it travels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorObject {
    /// The numeric code (see [`ErrorCode`]).
    pub code: i64,
    /// The code's fixed message.
    pub message: String,
    /// Details: a sentence, or `{"reason": "...", "message": "..."}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl ErrorObject {
    /// The code as one of ours.
    pub fn kind(&self) -> Option<ErrorCode> {
        ErrorCode::from_code(self.code)
    }

    /// The machine-readable reason in `data`, when there is one (`stale`,
    /// `malformed`, `bad_signature`, …).
    pub fn reason(&self) -> Option<&str> {
        self.data.as_ref()?.get("reason")?.as_str()
    }

    /// The most specific sentence: the detail in `data`, else the message.
    pub fn detail(&self) -> &str {
        match &self.data {
            Some(Value::String(s)) => s,
            Some(Value::Object(o)) => o
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or(&self.message),
            _ => &self.message,
        }
    }
}

impl fmt::Display for ErrorObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.detail(), self.code)
    }
}

/// The machine-readable details of a refused transfer or work submission: `data` of
/// -32000 and of -32030..-32032.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ErrorData {
    /// The reason's code (`docs/PROTOCOL.md` §12.3 for transfers; `stale`,
    /// `duplicate`, `low-difficulty`, `out-of-range`, `invalid` for work).
    pub reason: String,
    /// A sentence.
    pub message: String,
}

/// A response object for request `id`.
pub fn response(id: Value, result: Result<Value, RpcError>) -> Value {
    match result {
        Ok(r) => json!({ "jsonrpc": "2.0", "id": id, "result": r }),
        Err(e) => json!({ "jsonrpc": "2.0", "id": id, "error": e.to_object() }),
    }
}

/// A response as a client reads it.
#[derive(Debug, Clone, Deserialize)]
pub struct Response {
    /// The request's id.
    #[serde(default)]
    pub id: Value,
    /// The answer, when it succeeded.
    #[serde(default)]
    pub result: Option<Value>,
    /// Why not, when it failed.
    #[serde(default)]
    pub error: Option<ErrorObject>,
}

impl Response {
    /// The result, or the error object.
    pub fn into_result(self) -> Result<Value, ErrorObject> {
        match (self.error, self.result) {
            (Some(e), _) => Err(e),
            (None, r) => Ok(r.unwrap_or(Value::Null)),
        }
    }
}

/// A request object.
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
    /// A request for method `M` with id `id`, parameters by name.
    pub fn new<M: Method>(id: u64, params: &M::Params) -> Result<Request, serde_json::Error> {
        let params = match serde_json::to_value(params)? {
            Value::Object(o) => Params::Object(o),
            Value::Null => Params::None,
            other => Params::Array(vec![other]),
        };
        Ok(Request {
            id: Some(Value::from(id)),
            method: M::NAME.to_string(),
            params,
        })
    }

    /// The request as JSON.
    pub fn to_json(&self) -> Value {
        let mut v = json!({ "jsonrpc": "2.0", "method": self.method });
        if let Some(id) = &self.id {
            v["id"] = id.clone();
        }
        match &self.params {
            Params::None => {}
            Params::Array(a) => v["params"] = Value::Array(a.clone()),
            Params::Object(o) => v["params"] = Value::Object(o.clone()),
        }
        v
    }

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
    /// Positional, in the order of [`Method::PARAMS`].
    Array(Vec<Value>),
    /// Named.
    Object(Map<String, Value>),
}

impl Params {
    /// Decodes the parameters of method `M`. Positional and named parameters are one
    /// rule: a positional list is read as the named object whose keys are
    /// [`Method::PARAMS`] in order; a `null` is an absent parameter; more positions
    /// than parameters, or an unknown name, is -32602.
    pub fn decode<M: Method>(&self) -> Result<M::Params, RpcError> {
        let names = M::PARAMS;
        let mut object = match self {
            Params::None => Map::new(),
            Params::Object(o) => o.clone(),
            Params::Array(a) => {
                if a.len() > names.len() {
                    return Err(RpcError::params(format!(
                        "{} parameters given, at most {} expected ({})",
                        a.len(),
                        names.len(),
                        names.join(", ")
                    )));
                }
                names
                    .iter()
                    .zip(a)
                    .map(|(n, v)| ((*n).to_string(), v.clone()))
                    .collect()
            }
        };
        object.retain(|_, v| !v.is_null());
        if let Some(k) = object.keys().find(|k| !names.contains(&k.as_str())) {
            return Err(RpcError::params(if names.is_empty() {
                format!("unknown parameter `{k}`: {} takes none", M::NAME)
            } else {
                format!("unknown parameter `{k}` (expected {})", names.join(", "))
            }));
        }
        decode_object(Value::Object(object))
    }
}

/// Decodes named parameters; an error names the parameter it is about.
fn decode_object<T: DeserializeOwned>(v: Value) -> Result<T, RpcError> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            RpcError::params(inner.to_string())
        } else {
            RpcError::params(format!("parameter `{path}`: {inner}"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::methods::{ChainGetHeaders, ChainGetInfo};

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
    fn positional_and_named_params_are_one_rule() {
        let by_position = Params::Array(vec![json!("5"), json!(7)]);
        let mut o = Map::new();
        o.insert("from".into(), json!(5));
        o.insert("count".into(), json!("7"));
        let by_name = Params::Object(o);
        for p in [by_position, by_name] {
            let d = p.decode::<ChainGetHeaders>().expect("decodes");
            assert_eq!((d.from.0, d.count.0), (5, 7));
        }
        // Unknown names, extra positions and missing parameters are refused.
        let mut o = Map::new();
        o.insert("from".into(), json!(5));
        o.insert("count".into(), json!(1));
        o.insert("cuont".into(), json!(1));
        for p in [
            Params::Object(o),
            Params::Array(vec![json!(1), json!(1), json!(false), json!(1)]),
            Params::Array(vec![json!(1)]),
        ] {
            let e = p.decode::<ChainGetHeaders>().unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidParams, "{p:?}");
        }
        assert!(Params::Array(vec![]).decode::<ChainGetInfo>().is_ok());
        assert!(
            Params::Array(vec![json!(1)])
                .decode::<ChainGetInfo>()
                .is_err()
        );
    }

    #[test]
    fn codes_round_trip() {
        for c in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_code(c.code()), Some(c));
        }
        assert_eq!(ErrorCode::from_code(1), None);
    }
}
