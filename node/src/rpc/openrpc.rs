//! The OpenRPC document (`rpc.discover`), generated from the method table.

use serde_json::{Value, json};

use crate::rpc::methods::METHODS;
use crate::rpc::types::ErrorCode;

pub(crate) fn document() -> Value {
    let methods: Vec<Value> = METHODS
        .iter()
        .map(|m| {
            let params: Vec<Value> = m
                .params
                .iter()
                .map(|p| {
                    json!({
                        "name": p.name,
                        "required": p.required,
                        "description": p.description,
                        "schema": serde_json::from_str::<Value>(p.schema)
                            .expect("parameter schemas are valid JSON"),
                    })
                })
                .collect();
            json!({
                "name": m.name,
                "summary": m.summary,
                "paramStructure": "either",
                "params": params,
                "result": { "name": "result", "schema": { "description": m.result } },
                "x-requires-token": m.admin,
            })
        })
        .collect();
    let errors: Vec<Value> = ErrorCode::ALL
        .iter()
        .map(|c| json!({ "code": c.code(), "message": c.message() }))
        .collect();
    json!({
        "openrpc": "1.2.6",
        "info": {
            "title": "Cairn node JSON-RPC",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "HTTP POST / and WebSocket /ws on one port. Amounts are base units as decimal strings; ids are hex. Over WebSocket, `subscribe` (topic newHeads with optional fromHeight, newPendingTxs or newWork) and `unsubscribe` are also available.",
        },
        "methods": methods,
        "components": { "errors": errors },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_is_documented_once() {
        let doc = document();
        let names: Vec<&str> = doc["methods"]
            .as_array()
            .expect("array")
            .iter()
            .map(|m| m["name"].as_str().expect("name"))
            .collect();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "duplicate method names");
        assert_eq!(names.len(), METHODS.len());
        for m in METHODS {
            assert!(!m.summary.is_empty(), "{} has no summary", m.name);
        }
    }
}
