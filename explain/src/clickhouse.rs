//! ClickHouse, where the HTTP sink puts a fleet's markers (`layer/clickhouse/markers.sql`).
//!
//! The filter (time range, functions) and the order (marker time) are ClickHouse's work; the
//! answer (`JSONEachRow`) is read chunk by chunk and line by line, so a fleet of any size is
//! explained in constant memory here. The SQL is written for ClickHouse 18.16 (no query
//! parameters, no DateTime64) and runs on later versions.

use crate::attribute::Observation;
use crate::read::{read_line, LineContext, ReadCounts};

/// What to read.
#[derive(Debug, Clone)]
pub struct Request {
    /// The HTTP interface, e.g. `http://127.0.0.1:8123/` (user, password and database as the
    /// user's ClickHouse wants them: query parameters or basic auth in the URL).
    pub url: String,
    pub table: String,
    pub start_ms: i64,
    pub end_ms: i64,
    /// Only these functions (all when empty).
    pub functions: Vec<String>,
}

/// A string literal for ClickHouse SQL: backslash and quote escaped.
fn literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('\'');
    for c in text.chars() {
        if c == '\\' || c == '\'' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// The SELECT (the columns attribution reads, in marker time order).
pub fn query(request: &Request) -> Result<String, String> {
    let table_ok = !request.table.is_empty()
        && request
            .table
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    if !table_ok {
        return Err(format!("not a table name: {:?}", request.table));
    }
    let mut filter = format!(
        "ts >= toDateTime({}) AND ts <= toDateTime({}) AND ts_ms >= {} AND ts_ms < {}",
        request.start_ms.div_euclid(1000).max(0),
        request.end_ms.div_euclid(1000).max(0) + 1,
        request.start_ms,
        request.end_ms
    );
    if !request.functions.is_empty() {
        let names: Vec<String> = request.functions.iter().map(|f| literal(f)).collect();
        filter.push_str(&format!(" AND function_name IN ({})", names.join(", ")));
    }
    // Durations rounded to 9 decimals (a picosecond): ClickHouse 18.16 stores some JSON
    // numbers one unit in the last place away (2.829 as 2.8289999999999997), and rounding
    // gives the marker's own figure back, so ClickHouse and a file give the same answer.
    Ok(format!(
        "SELECT coldmark, schema, timestamp, function_name, function_version, env_id, \
         init_type, init_phase, round(init_duration_ms, 9) AS init_duration_ms, \
         round(runtime_init_ms, 9) AS runtime_init_ms, \
         round(extensions_init_ms, 9) AS extensions_init_ms, \
         proactive, config_fingerprint, function_memory_size, function_request_id, reason, \
         invocations, tenant_id, init_status, init_error_type \
         FROM {} WHERE {filter} ORDER BY ts_ms, env_id, coldmark FORMAT JSONEachRow",
        request.table
    ))
}

/// Streams the markers; an error is one line naming what failed.
pub async fn pull(
    request: &Request,
    counts: &mut ReadCounts,
    sink: &mut dyn FnMut(Observation),
) -> Result<(), String> {
    let sql = query(request)?;
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let mut response = client
        .post(&request.url)
        .body(sql)
        .send()
        .await
        .map_err(|e| format!("cannot reach ClickHouse at {}: {e}", request.url))?;
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        return Err(format!(
            "ClickHouse at {} answered {status}: {}",
            request.url,
            body.trim()
        ));
    }
    let context = LineContext::default();
    let mut pending: Vec<u8> = Vec::with_capacity(1 << 16);
    loop {
        let chunk = response
            .chunk()
            .await
            .map_err(|e| format!("ClickHouse at {} broke off: {e}", request.url))?;
        let Some(chunk) = chunk else { break };
        pending.extend_from_slice(&chunk);
        let mut start = 0;
        while let Some(end) = pending[start..].iter().position(|&b| b == b'\n') {
            let line = &pending[start..start + end];
            server_exception(line, &request.url)?;
            read_line(line, &context, counts, sink);
            start += end + 1;
        }
        pending.drain(..start);
    }
    server_exception(&pending, &request.url)?;
    read_line(&pending, &context, counts, sink);
    Ok(())
}

/// ClickHouse reports an error that happens after the answer began inside the body.
fn server_exception(line: &[u8], url: &str) -> Result<(), String> {
    if line.starts_with(b"Code: ") {
        return Err(format!(
            "ClickHouse at {url} failed while answering: {}",
            String::from_utf8_lossy(line).trim()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_escapes_names_and_refuses_odd_tables() {
        let mut r = Request {
            url: String::new(),
            table: "markers".into(),
            start_ms: 1_000_500,
            end_ms: 2_000_000,
            functions: vec!["a'b\\".into()],
        };
        let q = query(&r).unwrap();
        assert!(q.contains(r"function_name IN ('a\'b\\')"), "{q}");
        assert!(q.contains("ts_ms >= 1000500 AND ts_ms < 2000000"), "{q}");
        r.table = "markers; DROP TABLE x".into();
        assert!(query(&r).is_err());
    }
}
