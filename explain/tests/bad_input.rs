//! Bad input never aborts a run: malformed lines, markers of an unknown schema, a truncated
//! gzip are counted and skipped. Exit codes: 0 explained, 1 nothing to explain, 2 bad
//! arguments or an unreadable source.

mod support;

use std::io::Write;

use support::*;

#[test]
fn malformed_and_unknown_schema_lines_are_counted_not_fatal() {
    let s = Scenario::day();
    let mut input = String::new();
    input.push_str("{\"coldmark\":\"init\",\"schema\":1,\"timestamp\":\"2026-11-25T10\n"); // cut off
    input.push_str("{\"coldmark\":\"init\",\"schema\":2,\"timestamp\":\"2026-11-25T10:00:00.000Z\",\"function_name\":\"f\",\"env_id\":\"x\"}\n");
    input.push_str(
        "{\"coldmark\":\"init\",\"schema\":1,\"function_name\":\"f\",\"env_id\":\"x\"}\n",
    ); // no timestamp
    input.push_str("\u{0}\u{1}binary garbage \u{fffd}\n");
    input.push_str("{\"level\":\"INFO\",\"msg\":\"another JSON log line\"}\n");
    input.push_str(&s.ndjson());
    let out = run(&["--json"], input.as_bytes());
    assert_expected(&s, &out, "markers among bad lines");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("2 other lines skipped, 2 malformed, 1 of an unknown schema"),
        "{stderr}"
    );
}

#[test]
fn a_truncated_gzip_keeps_what_came_before() {
    let s = Scenario::day();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(s.ndjson().as_bytes()).unwrap();
    let whole = gz.finish().unwrap();
    let cut = &whole[..whole.len() * 2 / 3];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.gz");
    std::fs::write(&path, cut).unwrap();
    let out = run(&["--json", path.to_str().unwrap()], b"");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let (inits, _) = parse_json(&out);
    assert!(
        !inits.is_empty() && inits.len() < 12,
        "some inits from before the cut: {}",
        inits.len()
    );
    assert!(stderr.contains("1 inputs cut short"), "{stderr}");
    assert!(stderr.contains("ended early"), "{stderr}");
}

#[test]
fn nothing_to_explain_exits_1() {
    let out = run(&[], b"START RequestId: x\nREPORT RequestId: x\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to explain"));
    assert!(out.stdout.is_empty());
    // Only invoke and shutdown markers: still no init to explain.
    let only = format!(
        "{}\n{}\n",
        invoke_marker("f", "1", "e", 1.0),
        shutdown_marker("f", "1", "e", 2.0, "spindown")
    );
    assert_eq!(run(&[], only.as_bytes()).status.code(), Some(1));
}

#[test]
fn bad_arguments_and_missing_files_exit_2() {
    for args in [
        vec!["--since", "yesterday"],
        vec!["--no-such-flag"],
        vec![
            "--start",
            "2026-11-25T10:00:00Z",
            "--end",
            "2026-11-25T09:00:00Z",
            "--log-group",
            "g",
        ],
        vec!["file.ndjson", "--log-group", "g"],
    ] {
        let out = run(&args, b"");
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let s = Scenario::day();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.ndjson");
    std::fs::write(&good, s.ndjson()).unwrap();
    let missing = dir.path().join("missing.ndjson");
    let out = run(&[good.to_str().unwrap(), missing.to_str().unwrap()], b"");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot read") && stderr.contains("missing.ndjson"),
        "{stderr}"
    );
    // What could be read is still explained.
    assert!(String::from_utf8_lossy(&out.stdout).contains("configuration-change"));
}

#[test]
fn unreachable_clickhouse_exits_2_with_a_clear_line() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/");
    let out = run(&["--clickhouse", &url], b"");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot reach ClickHouse at {url}")),
        "{stderr}"
    );
}
