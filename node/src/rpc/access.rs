//! Which requests the RPC port serves, judged by their `Host` and `Origin` headers.
//!
//! A web page the operator visits can reach 127.0.0.1 in two ways. Through a name its
//! site controls, re-pointed at 127.0.0.1 (DNS rebinding): the browser then sends
//! `Host: that.name`. Or directly, cross-site: WebSocket handshakes and simple POSTs
//! are not held back by the same-origin policy, and the browser sends the page's
//! `Origin`. So, as geth does (`--http.vhosts`, `--ws.origins`):
//!
//! - the `Host` must be an IP literal, `localhost` or a configured name, on every route
//!   (DNS rebinding needs a name);
//! - a request that carries an `Origin` must come from the node's own explorer (the
//!   origin is the host the request was sent to, or this port on `localhost` or a
//!   loopback address) or from a configured origin. Requests without one (wallets,
//!   miners, curl) are served: browsers send it wherever it matters.
//!
//! A refusal is a 403 with a short plain reason, before any handler runs.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::uri::Authority;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::debug;

/// The `rpc.allowed_hosts` entry that allows any name.
pub const ANY: &str = "*";

/// The Host and Origin rules of one server.
#[derive(Debug, Clone)]
pub(crate) struct AccessPolicy {
    /// Lower-case names; IP literals are always served.
    hosts: Vec<String>,
    any_host: bool,
    /// Lower-case origins without a trailing slash.
    origins: Vec<String>,
    any_origin: bool,
    /// The bound address: its port on localhost or a loopback IP is the node's own.
    own: SocketAddr,
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The Host is a name not in `rpc.allowed_hosts`, or malformed, or repeated.
    Host,
    /// The Origin is neither the node's own nor in `rpc.allowed_origins`.
    Origin,
}

impl Refusal {
    fn reason(self) -> &'static str {
        match self {
            Refusal::Host => {
                "403 forbidden: this Host is not served (use an IP address or localhost, \
                 or add the name to rpc.allowed_hosts)\n"
            }
            Refusal::Origin => {
                "403 forbidden: requests from this web origin are not served (see \
                 rpc.allowed_origins)\n"
            }
        }
    }
}

impl AccessPolicy {
    /// The rules for a server bound to `own`.
    pub(crate) fn new(hosts: &[String], origins: &[String], own: SocketAddr) -> AccessPolicy {
        let hosts: Vec<String> = hosts.iter().map(|h| normal_name(h)).collect();
        let origins: Vec<String> = origins.iter().map(|o| normal_origin(o)).collect();
        AccessPolicy {
            any_host: hosts.iter().any(|h| h == ANY),
            any_origin: origins.iter().any(|o| o == ANY),
            hosts,
            origins,
            own,
        }
    }

    /// Whether a request with these headers (and request target) is served.
    pub(crate) fn check(&self, headers: &HeaderMap, uri: &Uri) -> Result<(), Refusal> {
        let host = single(headers, header::HOST).map_err(|()| Refusal::Host)?;
        let host = match host {
            Some(h) => Some(h.to_str().map_err(|_| Refusal::Host)?.to_ascii_lowercase()),
            None => None,
        };
        // An absolute-form target names a host too; both must pass.
        let target = uri.authority().map(|a| a.as_str().to_ascii_lowercase());
        for h in host.iter().chain(target.iter()) {
            self.check_host(h)?;
        }
        let Some(origin) = single(headers, header::ORIGIN).map_err(|()| Refusal::Origin)? else {
            return Ok(());
        };
        if self.any_origin {
            return Ok(());
        }
        let origin = normal_origin(origin.to_str().map_err(|_| Refusal::Origin)?);
        if self.origins.contains(&origin) {
            return Ok(());
        }
        let (scheme, authority) = parse_origin(&origin).ok_or(Refusal::Origin)?;
        // Same origin: the page was loaded from the host this request was sent to
        // (which passed the Host check above).
        if host.as_deref() == Some(authority.as_str()) {
            return Ok(());
        }
        // This port on localhost or a loopback address (or the listen address).
        let port = authority
            .port_u16()
            .unwrap_or(if scheme == "https" { 443 } else { 80 });
        let own_host = match ip_literal(authority.host()) {
            Some(ip) => {
                ip.is_loopback() || (ip == self.own.ip() && !self.own.ip().is_unspecified())
            }
            None => authority.host() == "localhost",
        };
        if own_host && port == self.own.port() {
            return Ok(());
        }
        Err(Refusal::Origin)
    }

    fn check_host(&self, value: &str) -> Result<(), Refusal> {
        if value.contains('@') {
            return Err(Refusal::Host);
        }
        let authority: Authority = value.parse().map_err(|_| Refusal::Host)?;
        if ip_literal(authority.host()).is_some() || self.any_host {
            return Ok(());
        }
        if self.hosts.contains(&normal_name(authority.host())) {
            return Ok(());
        }
        Err(Refusal::Host)
    }
}

/// The only value of header `name`: None when absent, an error when repeated.
fn single(
    headers: &HeaderMap,
    name: header::HeaderName,
) -> Result<Option<&header::HeaderValue>, ()> {
    let mut all = headers.get_all(name).iter();
    let first = all.next();
    if all.next().is_some() {
        return Err(());
    }
    Ok(first)
}

/// `host` (as in an authority: IPv6 in brackets) as an IP address, if it is one.
fn ip_literal(host: &str) -> Option<IpAddr> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse().ok()
}

fn normal_name(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

fn normal_origin(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// `scheme://authority` of an http(s) origin (lower case, no path), or None.
fn parse_origin(origin: &str) -> Option<(String, Authority)> {
    let uri: Uri = origin.parse().ok()?;
    let scheme = uri.scheme_str()?.to_string();
    let authority = uri.authority()?.clone();
    let bare = uri.path_and_query().is_none_or(|p| p.as_str() == "/");
    ((scheme == "http" || scheme == "https") && bare && !authority.as_str().contains('@'))
        .then_some((scheme, authority))
}

/// Checks an `rpc.allowed_hosts` entry: `*` or a host name without a port.
pub fn check_host_entry(entry: &str) -> Result<(), String> {
    let name = entry.trim();
    let valid = name == ANY
        || (!name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{entry}` is not a host name (names only, without a port: IP addresses are \
             always served; `*` serves any name)"
        ))
    }
}

/// Checks an `rpc.allowed_origins` entry: `*` or `http(s)://host[:port]`.
pub fn check_origin_entry(entry: &str) -> Result<(), String> {
    if entry.trim() == ANY || parse_origin(&normal_origin(entry)).is_some() {
        Ok(())
    } else {
        Err(format!(
            "`{entry}` is not a web origin (e.g. \"https://wallet.example\" or \
             \"http://localhost:3000\", without a path; `*` allows every site)"
        ))
    }
}

/// The middleware: refuses before the route's handler runs (so nothing changes).
pub(crate) async fn guard(
    State(policy): State<Arc<AccessPolicy>>,
    request: Request,
    next: Next,
) -> Response {
    match policy.check(request.headers(), request.uri()) {
        Ok(()) => next.run(request).await,
        Err(refusal) => {
            debug!(
                target: "rpc",
                ?refusal,
                host = ?request.headers().get(header::HOST),
                origin = ?request.headers().get(header::ORIGIN),
                path = request.uri().path(),
                "request refused"
            );
            (
                StatusCode::FORBIDDEN,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                refusal.reason(),
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(hosts: &[&str], origins: &[&str]) -> AccessPolicy {
        let s = |v: &[&str]| v.iter().map(|x| (*x).to_string()).collect::<Vec<_>>();
        AccessPolicy::new(
            &s(hosts),
            &s(origins),
            "127.0.0.1:8645".parse().expect("address"),
        )
    }

    fn check(p: &AccessPolicy, host: Option<&str>, origin: Option<&str>) -> Result<(), Refusal> {
        let mut h = HeaderMap::new();
        if let Some(v) = host {
            h.insert(header::HOST, v.parse().expect("header"));
        }
        if let Some(v) = origin {
            h.insert(header::ORIGIN, v.parse().expect("header"));
        }
        p.check(&h, &Uri::from_static("/"))
    }

    #[test]
    fn hosts() {
        let p = policy(&["localhost"], &[]);
        for ok in [
            "localhost",
            "localhost:8645",
            "LOCALHOST.",
            "127.0.0.1:8645",
            "[::1]:8645",
            "[::1]",
            "10.1.2.3",
        ] {
            assert_eq!(check(&p, Some(ok), None), Ok(()), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:8645",
            "localhost.evil.example",
            "127.0.0.1.nip.io",
            "user@localhost",
            "local host",
            "",
        ] {
            assert_eq!(check(&p, Some(bad), None), Err(Refusal::Host), "{bad:?}");
        }
        assert_eq!(check(&p, None, None), Ok(()), "no Host: not a browser");
        let named = policy(&["Node.Example"], &[]);
        assert_eq!(check(&named, Some("node.example:1"), None), Ok(()));
        assert_eq!(check(&named, Some("localhost"), None), Err(Refusal::Host));
        assert_eq!(
            check(&policy(&["*"], &[]), Some("evil.example"), None),
            Ok(())
        );
        let mut two = HeaderMap::new();
        two.append(header::HOST, "localhost".parse().expect("header"));
        two.append(header::HOST, "evil.example".parse().expect("header"));
        assert_eq!(p.check(&two, &Uri::from_static("/")), Err(Refusal::Host));
        let absolute = Uri::from_static("http://evil.example/");
        assert_eq!(p.check(&HeaderMap::new(), &absolute), Err(Refusal::Host));
    }

    #[test]
    fn origins() {
        let p = policy(&["localhost"], &["https://Wallet.example/"]);
        let host = Some("127.0.0.1:8645");
        for ok in [
            "http://127.0.0.1:8645",
            "http://localhost:8645",
            "http://[::1]:8645",
            "https://wallet.example",
        ] {
            assert_eq!(check(&p, host, Some(ok)), Ok(()), "{ok}");
        }
        for bad in [
            "http://evil.example",
            "null",
            "http://localhost:3000",
            "http://localhost",
            "http://203.0.113.5:8645",
            "https://wallet.example:444",
            "http://wallet.example",
            "file://",
            "http://127.0.0.1:8645/path",
        ] {
            assert_eq!(check(&p, host, Some(bad)), Err(Refusal::Origin), "{bad}");
        }
        // Same origin: the page's host is the one the request went to.
        assert_eq!(
            check(&p, Some("localhost:9000"), Some("http://localhost:9000")),
            Ok(())
        );
        let open = policy(&["localhost"], &["*"]);
        assert_eq!(check(&open, host, Some("null")), Ok(()));
    }

    #[test]
    fn entries() {
        for ok in ["localhost", "node.example", "*", "my-node_1.lan"] {
            assert!(check_host_entry(ok).is_ok(), "{ok}");
        }
        for bad in ["", "node.example:8645", "http://node.example", "a b", "::1"] {
            assert!(check_host_entry(bad).is_err(), "{bad:?}");
        }
        for ok in ["*", "https://wallet.example", "http://localhost:3000/"] {
            assert!(check_origin_entry(ok).is_ok(), "{ok}");
        }
        for bad in ["", "wallet.example", "ftp://x", "https://x/path", "null"] {
            assert!(check_origin_entry(bad).is_err(), "{bad:?}");
        }
    }
}
