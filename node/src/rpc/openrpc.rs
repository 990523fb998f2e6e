//! The OpenRPC document (`rpc.discover`), generated from the method table.

use serde_json::{Value, json};

use crate::rpc::api::METHODS;
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

/// `docs/RPC.md`: the OpenRPC document rendered for people. A test keeps the file
/// equal to this (`make docs` rewrites it).
pub fn markdown() -> String {
    use std::fmt::Write as _;
    let doc = document();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Cairn JSON-RPC reference\n\n\
         <!-- Generated from the node's OpenRPC document (`rpc.discover`) by \
         `make docs`; do not edit by hand. -->\n\n\
         Version {}. {}\n\n\
         ## Calling it\n\n\
         - **HTTP**: `POST /` on the RPC port (default `127.0.0.1:8645`) with a JSON-RPC 2.0 \
         request or a batch of up to 100. Bodies are limited to 1 MiB.\n\
         - **WebSocket**: `GET /ws`, the same requests plus `subscribe` and `unsubscribe`.\n\
         - **Parameters** are positional (an array, in the order below) or named (an object).\n\
         - **Amounts** are base units as decimal strings (1 CAIRN = 100000000); ids and hashes \
         are lower-case hex.\n\
         - **Admin methods** (marked *token*) need `Authorization: Bearer <token>`: the \
         `--rpc-token` (`rpc.token`) value, or by default the contents of `<datadir>/.cookie`, \
         written anew at every start.\n\
         - **Browsers**: every route checks `Host` and `Origin` first. The `Host` must be an \
         IP address, `localhost` or a name in `rpc.allowed_hosts` (`--rpc-allowed-hosts`); \
         a request with an `Origin` must come from the explorer on this port or an origin in \
         `rpc.allowed_origins` (`--rpc-allowed-origins`). Others get `403` with a one-line \
         reason and change nothing. Clients that send no `Origin` (wallets, miners, curl) \
         are not affected.\n\
         - **WebSocket clients must keep reading**: a client whose writes stall for 10 s, \
         or that leaves more than 4 MiB of answers unread, is disconnected.\n\
         - The machine-readable document is served by the method `rpc.discover`.\n\n\
         ```sh\n\
         curl -s -H 'content-type: application/json' http://127.0.0.1:8645/ \\\n  \
         -d '{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"chain_getInfo\",\"params\":[]}}'\n\
         ```\n",
        doc["info"]["version"].as_str().unwrap_or_default(),
        doc["info"]["description"].as_str().unwrap_or_default(),
    );
    let _ = writeln!(out, "## Methods\n");
    let methods = doc["methods"].as_array().cloned().unwrap_or_default();
    // Grouped by namespace, in the order each first appears in the table.
    let namespace_of = |m: &Value| {
        let name = m["name"].as_str().unwrap_or_default();
        name.split('_').next().unwrap_or_default().to_string()
    };
    let mut order: Vec<String> = Vec::new();
    for m in &methods {
        let ns = namespace_of(m);
        if !order.contains(&ns) {
            order.push(ns);
        }
    }
    let mut grouped = methods.clone();
    grouped.sort_by_key(|m| order.iter().position(|ns| *ns == namespace_of(m)));
    for m in &grouped {
        let name = m["name"].as_str().unwrap_or_default();
        let _ = writeln!(out, "- [`{name}`](#{})", name.to_lowercase());
    }
    let mut namespace = String::new();
    for m in &grouped {
        let name = m["name"].as_str().unwrap_or_default();
        let ns = namespace_of(m);
        if ns != namespace {
            let _ = writeln!(out, "\n## `{ns}_*`");
            namespace = ns;
        }
        let token = if m["x-requires-token"] == true {
            " *(token)*"
        } else {
            ""
        };
        let _ = writeln!(out, "\n### `{name}`{token}\n");
        let _ = writeln!(out, "{}\n", m["summary"].as_str().unwrap_or_default());
        let params = m["params"].as_array().cloned().unwrap_or_default();
        if params.is_empty() {
            let _ = writeln!(out, "Parameters: none.\n");
        } else {
            let _ = writeln!(out, "| # | Parameter | Schema | Required | Description |");
            let _ = writeln!(out, "|---|---|---|---|---|");
            for (i, p) in params.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "| {i} | `{}` | `{}` | {} | {} |",
                    p["name"].as_str().unwrap_or_default(),
                    p["schema"],
                    if p["required"] == true { "yes" } else { "no" },
                    p["description"]
                        .as_str()
                        .unwrap_or_default()
                        .replace('|', "\\|"),
                );
            }
            out.push('\n');
        }
        let _ = writeln!(
            out,
            "Result: {}.",
            m["result"]["schema"]["description"]
                .as_str()
                .unwrap_or_default()
        );
    }
    let _ = writeln!(out, "\n## Errors\n");
    let _ = writeln!(out, "| Code | Meaning |");
    let _ = writeln!(out, "|---|---|");
    for e in doc["components"]["errors"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let _ = writeln!(
            out,
            "| {} | {} |",
            e["code"],
            e["message"].as_str().unwrap_or_default()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/RPC.md is the rendering of this build's document; `CAIRN_BLESS=1`
    /// rewrites it (which is what `make docs` does).
    #[test]
    fn rpc_docs_are_generated_from_the_document() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/RPC.md");
        let generated = markdown();
        if std::env::var_os("CAIRN_BLESS").is_some() {
            std::fs::write(&path, &generated).expect("write docs/RPC.md");
        }
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            on_disk == generated,
            "docs/RPC.md is out of date: run `make docs`"
        );
    }

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
