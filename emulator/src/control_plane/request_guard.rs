//! Which requests the sandbox's HTTP faces refuse ([`refusal`]): only callers on this machine,
//! never a web page in a browser (DNS rebinding, cross-site requests).

use axum::http::HeaderMap;

/// Why a request must not reach the sandbox from a web page. The sandbox is a local server
/// people leave running; a page in their browser can make requests to it: through DNS
/// rebinding (the page's own name, re-pointed at 127.0.0.1: the `Host` header keeps that
/// name), or cross-site (the browser sends "simple" requests, such as a `text/plain` POST,
/// without asking first). So: only loopback host names; no request a browser marks as
/// cross-site or sends from a non-local `Origin`; and, where `simple_bodies_refused`, no
/// body of a type a browser sends cross-site without a preflight (the AWS CLI and the SDKs
/// send no such type to the Lambda API). `None` when the request may go on.
pub(crate) fn refusal(headers: &HeaderMap, simple_bodies_refused: bool) -> Option<&'static str> {
    use axum::http::header::{CONTENT_TYPE, HOST, ORIGIN};
    if let Some(host) = headers.get(HOST) {
        let host = host.to_str().unwrap_or("");
        if !is_loopback_name(strip_port(host)) {
            return Some("the Host header is not a loopback name");
        }
    }
    if let Some(origin) = headers.get(ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        let host = origin
            .split_once("://")
            .map(|(_, rest)| rest.split('/').next().unwrap_or(""))
            .unwrap_or("");
        if !is_loopback_name(strip_port(host)) {
            return Some("the request comes from a web page elsewhere (Origin)");
        }
    }
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if fetch_site.is_some_and(|s| s.eq_ignore_ascii_case("cross-site")) {
        return Some("the browser marks the request cross-site (Sec-Fetch-Site)");
    }
    if simple_bodies_refused {
        let content_type = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let essence = content_type.split(';').next().unwrap_or("").trim();
        if matches!(
            essence,
            "text/plain" | "application/x-www-form-urlencoded" | "multipart/form-data"
        ) {
            return Some(
                "a body type browsers send cross-site without asking (Content-Type); send \
                 application/json, or no Content-Type",
            );
        }
    }
    None
}

/// `host:port`, `[v6]:port`, `host` → the host.
fn strip_port(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    authority.rsplit_once(':').map_or(authority, |(h, _)| h)
}

/// `localhost`, `*.localhost`, 127.0.0.0/8, ::1: names that can only mean this machine (the
/// sandbox binds 127.0.0.1 only).
fn is_loopback_name(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host == "localhost" || host.ends_with(".localhost") {
        return true;
    }
    host.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn loopback_callers_pass() {
        for host in [
            "127.0.0.1:9001",
            "localhost:9001",
            "[::1]:9001",
            "127.0.0.5",
            "LOCALHOST",
        ] {
            assert_eq!(refusal(&headers(&[("host", host)]), true), None, "{host}");
        }
        let cli = headers(&[
            ("host", "127.0.0.1:9001"),
            ("content-type", "application/json"),
        ]);
        assert_eq!(refusal(&cli, true), None);
        assert_eq!(refusal(&headers(&[]), true), None);
    }

    #[test]
    fn web_pages_are_refused() {
        for forged in [
            headers(&[("host", "rebound.example.com:9001")]),
            headers(&[("host", "127.0.0.1.example.com")]),
            headers(&[
                ("host", "127.0.0.1:9001"),
                ("origin", "https://evil.example"),
            ]),
            headers(&[("host", "127.0.0.1:9001"), ("origin", "null")]),
            headers(&[("host", "127.0.0.1:9001"), ("sec-fetch-site", "cross-site")]),
            headers(&[
                ("host", "127.0.0.1:9001"),
                ("content-type", "text/plain;charset=UTF-8"),
            ]),
            headers(&[
                ("host", "127.0.0.1"),
                ("content-type", "application/x-www-form-urlencoded"),
            ]),
            headers(&[
                ("host", "127.0.0.1"),
                ("content-type", "multipart/form-data; boundary=x"),
            ]),
        ] {
            assert!(refusal(&forged, true).is_some(), "{forged:?}");
        }
        // A Function URL takes any body type, from this machine.
        let text = headers(&[("host", "127.0.0.1:9002"), ("content-type", "text/plain")]);
        assert_eq!(refusal(&text, false), None);
    }
}
