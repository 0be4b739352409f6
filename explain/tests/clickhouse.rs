//! The ClickHouse source against the real Debian clickhouse-server (the one the HTTP sink's
//! tests start), with the shipped table: the same answer as the files, filtered and ordered
//! by ClickHouse, and a refusal reported with the server's status and message.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;

use coldmark_testkit::clickhouse::ClickHouse;
use support::*;

/// Inserts marker lines the way the HTTP sink does (JSONEachRow, unknown fields skipped).
fn insert(server: &ClickHouse, ndjson: &str) {
    let path =
        "/?query=INSERT%20INTO%20markers%20FORMAT%20JSONEachRow&input_format_skip_unknown_fields=1";
    let mut stream = TcpStream::connect(("127.0.0.1", server.http_port)).unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n{ndjson}",
        ndjson.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200"),
        "{answer}"
    );
}

fn range() -> (String, String) {
    ((T0 - 3_600_000).to_string(), (T0 + 86_400_000).to_string())
}

#[test]
#[ignore = "needs clickhouse-server; `bash .ci/run` installs it and runs this test"]
fn streams_markers_out_of_clickhouse_with_the_same_answer_as_files() {
    let server = ClickHouse::start();
    let s = Scenario::day();
    insert(&server, &s.ndjson());
    let url = format!("http://127.0.0.1:{}/", server.http_port);
    let (start, end) = range();
    let out = run(
        &[
            "--json",
            "--clickhouse",
            &url,
            "--start",
            &start,
            "--end",
            &end,
        ],
        b"",
    );
    assert_expected(&s, &out, "ClickHouse");
    let file = run(&["--json"], s.ndjson().as_bytes());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&file.stdout),
        "the same records as from the file"
    );

    // Filtered by ClickHouse: one function, and a time range that leaves out the first hour.
    let out = run(
        &[
            "--json",
            "--clickhouse",
            &url,
            "--function",
            "api",
            "--start",
            &start,
            "--end",
            &end,
        ],
        b"",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let (inits, summaries) = parse_json(&out);
    assert_eq!(inits.len(), 1, "{stderr}");
    assert_eq!(summaries.len(), 1);
    assert!(
        stderr.contains("read 1 lines: 1 markers"),
        "only api's marker crossed the wire: {stderr}"
    );
    let late_start = (T0 + 250_000).to_string();
    let out = run(
        &[
            "--json",
            "--clickhouse",
            &url,
            "--start",
            &late_start,
            "--end",
            &end,
        ],
        b"",
    );
    let (inits, _) = parse_json(&out);
    let envs: Vec<&str> = inits
        .iter()
        .map(|i| i["env_id"].as_str().unwrap())
        .collect();
    assert_eq!(envs, vec!["env-version-08", "env-provis-09", "env-snap-10"]);
    // The window starts mid-day: version 1 is the first seen there, nothing before it.
    assert_eq!(inits[0]["cause"], "first-seen");
}

#[test]
#[ignore = "needs clickhouse-server; `bash .ci/run` installs it and runs this test"]
fn a_refusal_is_reported_with_status_and_message() {
    let server = ClickHouse::start();
    let url = format!("http://127.0.0.1:{}/", server.http_port);
    let out = run(
        &["--clickhouse", &url, "--clickhouse-table", "no_such_table"],
        b"",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("ClickHouse at {url} answered")),
        "{stderr}"
    );
    assert!(
        stderr.contains("no_such_table"),
        "the server's message: {stderr}"
    );
}
