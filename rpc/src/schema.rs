//! The OpenRPC document, generated from the [`Method`] types, and its rendering as
//! `docs/RPC.md`. The node serves the document (`rpc.discover`) for its own method
//! table; everything in it comes from the types the node serialises.

use std::borrow::Cow;
use std::fmt::Write as _;

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde_json::{Value, json};

use crate::envelope::{ErrorCode, ErrorData};
use crate::methods::Method;
use crate::types::SubscriptionEvent;

pub use schemars::SchemaGenerator as Generator;

/// Where shared schemas live in the document.
const DEFINITIONS: &str = "/components/schemas";

/// A generator whose references point into the document's `components/schemas`.
pub fn generator() -> SchemaGenerator {
    SchemaSettings::draft2020_12()
        .with(|s| {
            s.definitions_path = DEFINITIONS.into();
            s.meta_schema = None;
        })
        .into_generator()
}

macro_rules! string_schema {
    ($(#[$doc:meta])* $ty:ident, $name:literal, $schema:tt) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $ty;
        impl JsonSchema for $ty {
            fn schema_name() -> Cow<'static, str> {
                $name.into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!($schema)
            }
        }
    };
}

string_schema!(
    /// A 32-byte id or hash: 64 lower-case hex digits.
    HashSchema, "Hash",
    { "type": "string", "pattern": "^[0-9a-f]{64}$", "description": "32 bytes, lower-case hex" }
);
string_schema!(
    /// Canonical bytes in hex.
    HexSchema, "Hex",
    { "type": "string", "pattern": "^(0x)?([0-9a-fA-F]{2})*$", "description": "bytes in hex" }
);
string_schema!(
    /// A bech32m address: `cairn1` and 38 more characters, all lower or all upper case.
    AddressSchema, "Address",
    {
        "type": "string",
        "pattern": "^(cairn1[02-9ac-hj-np-z]{38}|CAIRN1[02-9AC-HJ-NP-Z]{38})$",
        "description": "bech32m address (BIP-350), all lower or all upper case"
    }
);
string_schema!(
    /// A compact target: `0x` and 8 lower-case hex digits (`docs/PROTOCOL.md` §5.5).
    TargetSchema, "CompactTarget",
    { "type": "string", "pattern": "^0x[0-9a-f]{8}$", "description": "compact target (docs/PROTOCOL.md §5.5): 0x and 8 hex digits" }
);

/// One method's OpenRPC description; shared schemas go into `generator`.
pub fn describe<M: Method>(generator: &mut SchemaGenerator) -> Value {
    let params_schema = M::Params::json_schema(generator).to_value();
    let required: Vec<&str> = params_schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let params: Vec<Value> = M::PARAMS
        .iter()
        .map(|name| {
            let mut schema = params_schema["properties"][*name].clone();
            let description = schema
                .as_object_mut()
                .and_then(|o| o.remove("description"))
                .unwrap_or(Value::Null);
            json!({
                "name": name,
                "required": required.contains(name),
                "description": description,
                "schema": schema,
            })
        })
        .collect();
    json!({
        "name": M::NAME,
        "summary": M::SUMMARY,
        "paramStructure": "either",
        "params": params,
        "result": { "name": "result", "schema": generator.subschema_for::<M::Result>().to_value() },
        "x-requires-token": M::ADMIN,
        "x-websocket-only": M::WEBSOCKET_ONLY,
    })
}

/// The names of `M::Params`' fields, from its schema (a test checks they are
/// [`Method::PARAMS`]).
pub fn param_fields<M: Method>() -> Vec<String> {
    let schema = M::Params::json_schema(&mut generator()).to_value();
    schema["properties"]
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

/// The whole document for `methods` (described with `generator`).
pub fn document(methods: Vec<Value>, mut generator: SchemaGenerator) -> Value {
    let errors: Vec<Value> = ErrorCode::ALL
        .iter()
        .map(|c| json!({ "code": c.code(), "message": c.message() }))
        .collect();
    generator.subschema_for::<ErrorData>();
    generator.subschema_for::<SubscriptionEvent>();
    let schemas = Value::Object(generator.take_definitions(true));
    json!({
        "openrpc": "1.2.6",
        "info": {
            "title": "Cairn node JSON-RPC",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "HTTP POST / and WebSocket /ws on one port. Every u64 (heights, \
                nonces, amounts, timestamps, counts) is a decimal string; ids and hashes \
                are lower-case hex; amounts are base units. Parameters are positional or \
                named, with one rule: unknown names and extra positions are refused \
                with -32602.",
        },
        "methods": methods,
        "components": { "schemas": schemas, "errors": errors },
    })
}

/// `docs/RPC.md`: `doc` rendered for people.
pub fn markdown(doc: &Value, preamble: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Cairn JSON-RPC reference\n\n\
         <!-- Generated from the node's OpenRPC document (`rpc.discover`) by \
         `make docs`; do not edit by hand. -->\n\n\
         Version {}. {}\n\n{preamble}",
        doc["info"]["version"].as_str().unwrap_or_default(),
        doc["info"]["description"].as_str().unwrap_or_default(),
    );
    let methods = doc["methods"].as_array().cloned().unwrap_or_default();
    let _ = writeln!(out, "## Methods\n");
    for m in &methods {
        let name = m["name"].as_str().unwrap_or_default();
        let _ = writeln!(out, "- [`{name}`](#{})", name.to_lowercase());
    }
    let mut namespace = String::new();
    for m in &methods {
        let name = m["name"].as_str().unwrap_or_default();
        let ns = name.split('_').next().unwrap_or_default();
        if ns != namespace && name.contains('_') {
            let _ = writeln!(out, "\n## `{ns}_*`");
            namespace = ns.to_string();
        } else if !name.contains('_') && namespace != "ws" {
            let _ = writeln!(out, "\n## WebSocket subscriptions");
            namespace = "ws".into();
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
            let _ = writeln!(out, "| # | Parameter | Type | Required | Description |");
            let _ = writeln!(out, "|---|---|---|---|---|");
            for (i, p) in params.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "| {i} | `{}` | {} | {} | {} |",
                    p["name"].as_str().unwrap_or_default(),
                    type_name(&p["schema"]),
                    if p["required"] == true { "yes" } else { "no" },
                    cell(p["description"].as_str().unwrap_or_default()),
                );
            }
            out.push('\n');
        }
        let _ = writeln!(out, "Result: {}.", type_name(&m["result"]["schema"]));
    }
    let _ = writeln!(out, "\n## Types\n");
    let _ = writeln!(
        out,
        "Every field is listed with its JSON type; *optional* fields may be absent or null.\n"
    );
    if let Some(schemas) = doc["components"]["schemas"].as_object() {
        for (name, schema) in schemas {
            render_type(&mut out, name, schema);
        }
    }
    let _ = writeln!(out, "\n## Errors\n");
    let _ = writeln!(
        out,
        "`data` is a sentence, or for refused transfers (-32000) and work (-32012, \
         -32030..-32032, -32602 `out-of-range`) an [`ErrorData`](#errordata) object.\n"
    );
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

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn render_type(out: &mut String, name: &str, schema: &Value) {
    let _ = writeln!(out, "### {name}\n");
    if let Some(d) = schema["description"].as_str() {
        let _ = writeln!(out, "{}\n", d.replace('\n', " "));
    }
    if let Some(props) = schema["properties"].as_object() {
        let required: Vec<&str> = schema["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let _ = writeln!(out, "| Field | Type | Description |");
        let _ = writeln!(out, "|---|---|---|");
        for (field, s) in props {
            let optional = if required.contains(&field.as_str()) {
                ""
            } else {
                " *optional*"
            };
            let _ = writeln!(
                out,
                "| `{field}` | {}{optional} | {} |",
                type_name(s),
                cell(s["description"].as_str().unwrap_or_default())
            );
        }
        out.push('\n');
    } else if let Some(variants) = schema["oneOf"].as_array().or(schema["anyOf"].as_array()) {
        let _ = writeln!(out, "One of:\n");
        for v in variants {
            let what = v["description"].as_str().unwrap_or_default();
            // An internally tagged variant: say which tag value selects it.
            let tag = v["properties"]
                .as_object()
                .and_then(|p| p.iter().find_map(|(k, s)| Some((k, s["const"].as_str()?))))
                .map(|(k, c)| format!(" with `{k}` = `\"{c}\"`"))
                .unwrap_or_default();
            let _ = writeln!(out, "- {}{tag}: {}", type_name(v), what.replace('\n', " "));
        }
        out.push('\n');
    } else {
        let _ = writeln!(out, "{}\n", type_name(schema));
    }
}

/// A short rendering of a schema: a link for a reference, the type and its pattern.
fn type_name(s: &Value) -> String {
    if let Some(r) = s["$ref"].as_str() {
        let name = r.rsplit('/').next().unwrap_or(r);
        return format!("[`{name}`](#{})", name.to_lowercase());
    }
    if let Some(c) = s["const"].as_str() {
        return format!("`\"{c}\"`");
    }
    if let Some(e) = s["enum"].as_array() {
        let names: Vec<String> = e.iter().map(|v| format!("`{v}`")).collect();
        return names.join(" \\| ");
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(vs) = s[key].as_array() {
            let names: Vec<String> = vs.iter().map(type_name).collect();
            return names.join(" or ");
        }
    }
    match &s["type"] {
        Value::Array(ts) => {
            let names: Vec<String> = ts
                .iter()
                .filter(|t| *t != "null")
                .map(|t| {
                    let mut one = s.clone();
                    one["type"] = t.clone();
                    type_name(&one)
                })
                .collect();
            names.join(" or ")
        }
        Value::String(t) if t == "array" => format!("array of {}", type_name(&s["items"])),
        Value::String(t) => match s["pattern"].as_str() {
            Some(p) => format!("{t} `{}`", p.replace('|', "\\|")),
            None => t.clone(),
        },
        _ => "any".into(),
    }
}
