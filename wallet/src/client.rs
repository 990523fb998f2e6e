//! A small blocking JSON-RPC 2.0 client over HTTP.

use std::time::Duration;

use serde_json::{Value, json};

use crate::WalletError;

/// A node's JSON-RPC endpoint.
#[derive(Debug)]
pub struct RpcClient {
    url: String,
    agent: ureq::Agent,
}

impl RpcClient {
    /// A client for `url` (e.g. `http://127.0.0.1:8645`).
    pub fn new(url: &str) -> RpcClient {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(30)))
            .http_status_as_error(false)
            .build()
            .into();
        RpcClient {
            url: url.trim_end_matches('/').to_string() + "/",
            agent,
        }
    }

    /// The endpoint.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Calls `method` with `params`.
    pub fn call(&self, method: &str, params: Value) -> Result<Value, WalletError> {
        let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
        let unreachable = |reason: String| WalletError::Unreachable {
            url: self.url.clone(),
            reason,
        };
        let mut response = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/json")
            .send(body.to_string())
            .map_err(|e| unreachable(e.to_string()))?;
        let text = response
            .body_mut()
            .with_config()
            .limit(16 * 1024 * 1024)
            .read_to_string()
            .map_err(|e| unreachable(e.to_string()))?;
        let mut v: Value = serde_json::from_str(&text).map_err(|_| {
            WalletError::Protocol(format!(
                "not JSON-RPC: {}",
                text.chars().take(200).collect::<String>()
            ))
        })?;
        if let Some(e) = v.get("error") {
            return Err(WalletError::Rpc {
                code: e["code"].as_i64().unwrap_or(0),
                message: e["message"].as_str().unwrap_or("error").to_string(),
                detail: match &e["data"] {
                    Value::Null => None,
                    Value::String(s) => Some(s.clone()),
                    Value::Object(o) => o
                        .get("message")
                        .and_then(Value::as_str)
                        .map(ToString::to_string),
                    other => Some(other.to_string()),
                },
            });
        }
        Ok(v["result"].take())
    }
}
