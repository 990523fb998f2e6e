//! The OpenRPC document (`rpc.discover`), generated from the method table and
//! `cairn-rpc`'s types, and `docs/RPC.md`, its rendering for people.

use serde_json::Value;

use crate::rpc::api::METHODS;

/// The document `rpc.discover` serves.
pub fn document() -> Value {
    let mut generator = cairn_rpc::schema::generator();
    let methods = METHODS
        .iter()
        .map(|m| (m.describe)(&mut generator))
        .collect();
    cairn_rpc::schema::document(methods, generator)
}

/// How to call the node: what the document cannot say.
const PREAMBLE: &str = "\
## Calling it

- **HTTP**: `POST /` on the RPC port (default `127.0.0.1:8645`) with a JSON-RPC 2.0 \
request or a batch of up to 100. Bodies are limited to 1 MiB.
- **WebSocket**: `GET /ws`, the same requests plus `subscribe` and `unsubscribe`.
- **Parameters** are positional (an array, in the order below) or named (an object \
with the names below): both follow one rule. A `null` is an absent parameter; an \
unknown name or more positions than parameters is refused with -32602.
- **Numbers**: every u64 (heights, nonces, amounts, timestamps, counts) is a decimal \
string, in results and in parameters (parameters also take a JSON integer). Amounts \
are base units (1 CAIRN = 100000000); ids and hashes are lower-case hex.
- **Canonical bytes**: `raw: true` adds the hex of the canonical encoding \
(`docs/PROTOCOL.md`) of blocks, headers and transactions, so a client can check an id \
by hashing bytes instead of re-encoding JSON.
- **Admin methods** (marked *token*) need `Authorization: Bearer <token>`: the \
`--rpc-token` (`rpc.token`) value, or by default the contents of `<datadir>/.cookie`, \
written anew at every start.
- **Browsers**: every route checks `Host` and `Origin` first. The `Host` must be an \
IP address, `localhost` or a name in `rpc.allowed_hosts` (`--rpc-allowed-hosts`); a \
request with an `Origin` must come from the explorer on this port or an origin in \
`rpc.allowed_origins` (`--rpc-allowed-origins`). Others get `403` with a one-line \
reason and change nothing. Clients that send no `Origin` (wallets, miners, curl) are \
not affected.
- **WebSocket clients must keep reading**: a client whose writes stall for 10 s, or \
that leaves more than 4 MiB of answers unread, is disconnected.
- The machine-readable document is served by the method `rpc.discover`; Rust clients \
can use the `cairn-rpc` crate, whose types it is generated from.

```sh
curl -s -H 'content-type: application/json' http://127.0.0.1:8645/ \\
  -d '{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"chain_getInfo\",\"params\":[]}'
```
";

/// `docs/RPC.md`. A test keeps the file equal to this (`make docs` rewrites it).
pub fn markdown() -> String {
    cairn_rpc::schema::markdown(&document(), PREAMBLE)
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
    fn every_method_is_documented_once_with_full_schemas() {
        let doc = document();
        let methods = doc["methods"].as_array().expect("array");
        let mut names: Vec<&str> = methods
            .iter()
            .map(|m| m["name"].as_str().expect("name"))
            .collect();
        assert_eq!(names.len(), METHODS.len());
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), METHODS.len(), "duplicate method names");
        let schemas = doc["components"]["schemas"].as_object().expect("schemas");
        for m in methods {
            assert!(!m["summary"].as_str().unwrap_or_default().is_empty());
            // Every result is a schema with a type or a reference that resolves; no
            // result is documented as a bare "object".
            let result = &m["result"]["schema"];
            match result["$ref"].as_str() {
                Some(r) => {
                    let name = r.rsplit('/').next().unwrap_or_default();
                    assert!(schemas.contains_key(name), "{}: {r} unresolved", m["name"]);
                }
                None => assert!(
                    result.get("type").is_some(),
                    "{}: result without a type",
                    m["name"]
                ),
            }
            for p in m["params"].as_array().expect("params") {
                assert!(
                    p["schema"].is_object() && p["schema"] != serde_json::json!({}),
                    "{}: parameter {} has no schema",
                    m["name"],
                    p["name"]
                );
                assert!(p["description"].is_string(), "{}: {}", m["name"], p["name"]);
            }
        }
    }
}
