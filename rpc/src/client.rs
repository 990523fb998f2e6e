//! One blocking JSON-RPC client over HTTP, for the wallet, the miner and the tests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;

use crate::envelope::{ErrorObject, Request, Response};
use crate::methods::Method;

/// Largest answer read (a block with every transaction in hex is under 3 MiB).
const MAX_RESPONSE_BYTES: u64 = 16 * 1024 * 1024;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No answer: the node is not running there, or the connection broke.
    #[error("cannot reach the node at {url}: {reason}")]
    Unreachable {
        /// The endpoint.
        url: String,
        /// What the transport said.
        reason: String,
    },
    /// An answer that is not a JSON-RPC response, or a result of the wrong shape.
    #[error("unexpected answer from the node: {0}")]
    Protocol(String),
    /// The node answered with an error.
    #[error("the node refused: {0}")]
    Rpc(ErrorObject),
}

impl ClientError {
    /// The node's error object, when it answered with one.
    pub fn rpc(&self) -> Option<&ErrorObject> {
        match self {
            ClientError::Rpc(e) => Some(e),
            _ => None,
        }
    }
}

/// A node's JSON-RPC endpoint.
pub struct Client {
    url: String,
    token: Option<String>,
    agent: ureq::Agent,
    next_id: AtomicU64,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("Client")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "…"))
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for `url` (e.g. `http://127.0.0.1:8645`), with a 30 s timeout.
    pub fn new(url: &str) -> Client {
        Client::with_timeout(url, Duration::from_secs(30))
    }

    /// A client whose calls give up after `timeout`.
    pub fn with_timeout(url: &str, timeout: Duration) -> Client {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build()
            .into();
        let url = if url.contains("://") {
            url.to_string()
        } else {
            format!("http://{url}")
        };
        Client {
            url: url.trim_end_matches('/').to_string() + "/",
            token: None,
            agent,
            next_id: AtomicU64::new(1),
        }
    }

    /// Sends `Authorization: Bearer <token>` (for the methods that need the token).
    pub fn token(mut self, token: impl Into<String>) -> Client {
        self.token = Some(token.into());
        self
    }

    /// The endpoint.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Calls method `M`.
    pub fn call<M: Method>(&self, params: &M::Params) -> Result<M::Result, ClientError> {
        let request = Request::new::<M>(self.next_id.fetch_add(1, Ordering::Relaxed), params)
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        let result = self.send(&request.to_json())?;
        serde_json::from_value(result)
            .map_err(|e| ClientError::Protocol(format!("{} result: {e}", M::NAME)))
    }

    /// Calls `method` with raw `params` (an array or an object) and returns the raw
    /// result: for tests of the protocol itself, and methods not known at build time.
    pub fn call_value(&self, method: &str, params: Value) -> Result<Value, ClientError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body =
            serde_json::json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        self.send(&body)
    }

    fn send(&self, body: &Value) -> Result<Value, ClientError> {
        let unreachable = |reason: String| ClientError::Unreachable {
            url: self.url.clone(),
            reason,
        };
        let mut request = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/json");
        if let Some(t) = &self.token {
            request = request.header("Authorization", &format!("Bearer {t}"));
        }
        let mut response = request
            .send(body.to_string())
            .map_err(|e| unreachable(e.to_string()))?;
        let status = response.status();
        let text = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BYTES)
            .read_to_string()
            .map_err(|e| unreachable(e.to_string()))?;
        let parsed: Response = serde_json::from_str(&text).map_err(|_| {
            ClientError::Protocol(format!(
                "HTTP {status}: {}",
                text.chars().take(200).collect::<String>()
            ))
        })?;
        parsed.into_result().map_err(ClientError::Rpc)
    }
}
