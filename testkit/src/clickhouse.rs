//! A real ClickHouse server for the HTTP sink's tests, started per test on loopback ports with
//! its own temporary data directory, stopped (killed) when dropped.
//!
//! ClickHouse is the real store the HTTP sink is tested against: it ingests newline-delimited JSON over HTTP
//! (`INSERT … FORMAT JSONEachRow`) and answers SQL, so the tests check that markers arrive intact
//! and that the shipped `layer/clickhouse/*.sql` work on them. Debian's `clickhouse-server`
//! (18.16 in bookworm) starts in well under a second with the config written here.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The table definition shipped for users.
pub const MARKERS_SQL: &str = include_str!("../../layer/clickhouse/markers.sql");
/// The question pack shipped for users.
pub const QUERIES_SQL: &str = include_str!("../../layer/clickhouse/queries.sql");

const INSTALL: &str = "clickhouse-server is needed by the HTTP sink's tests (a real store on \
127.0.0.1). Install it with: apt-get update && apt-get install -y clickhouse-server \
(Debian/Ubuntu; .ci/run does this)";

pub struct ClickHouse {
    child: Child,
    dir: tempfile::TempDir,
    pub http_port: u16,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

fn server_binary() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    candidates.extend(["/usr/sbin", "/usr/bin", "/usr/local/bin"].map(PathBuf::from));
    candidates
        .into_iter()
        .map(|dir| dir.join("clickhouse-server"))
        .find(|p| p.is_file())
}

impl ClickHouse {
    /// Starts a server and creates the `markers` table from `layer/clickhouse/markers.sql`.
    /// Fails the test (with install instructions) when ClickHouse is not installed.
    pub fn start() -> ClickHouse {
        let binary = server_binary().unwrap_or_else(|| panic!("{INSTALL}"));
        // Ports are picked free, then bound by ClickHouse: another process may take one in
        // between, so try a few times.
        let mut last_error = String::new();
        for _ in 0..3 {
            match ClickHouse::try_start(&binary) {
                Ok(server) => {
                    server.query_blocking(MARKERS_SQL);
                    return server;
                }
                Err(why) => last_error = why,
            }
        }
        panic!("ClickHouse did not start: {last_error}");
    }

    fn try_start(binary: &Path) -> Result<ClickHouse, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let root = dir.path();
        for sub in ["data", "tmp", "user_files", "format_schemas"] {
            std::fs::create_dir_all(root.join(sub)).map_err(|e| e.to_string())?;
        }
        let http_port = free_port();
        let (tcp_port, interserver_port) = (free_port(), free_port());
        let root_s = root.display();
        let config = format!(
            r#"<?xml version="1.0"?>
<yandex>
  <logger>
    <level>warning</level>
    <log>{root_s}/server.log</log>
    <errorlog>{root_s}/server.err.log</errorlog>
    <console>0</console>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>{http_port}</http_port>
  <tcp_port>{tcp_port}</tcp_port>
  <interserver_http_port>{interserver_port}</interserver_http_port>
  <interserver_http_host>127.0.0.1</interserver_http_host>
  <path>{root_s}/data/</path>
  <tmp_path>{root_s}/tmp/</tmp_path>
  <user_files_path>{root_s}/user_files/</user_files_path>
  <format_schema_path>{root_s}/format_schemas/</format_schema_path>
  <users_config>{root_s}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mark_cache_size>67108864</mark_cache_size>
  <uncompressed_cache_size>67108864</uncompressed_cache_size>
</yandex>
"#
        );
        let users = r#"<?xml version="1.0"?>
<yandex>
  <profiles><default></default></profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas><default></default></quotas>
</yandex>
"#;
        std::fs::write(root.join("config.xml"), config).map_err(|e| e.to_string())?;
        std::fs::write(root.join("users.xml"), users).map_err(|e| e.to_string())?;
        let stdout = std::fs::File::create(root.join("stdout.log")).map_err(|e| e.to_string())?;
        let stderr = stdout.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(binary)
            .arg(format!(
                "--config-file={}",
                root.join("config.xml").display()
            ))
            .current_dir(root)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
        let mut server = ClickHouse {
            child,
            dir,
            http_port,
        };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if server.ping() {
                return Ok(server);
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!("exited with {status}: {}", server.logs()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!("no answer to /ping in 20 s: {}", server.logs()))
    }

    fn ping(&self) -> bool {
        http_blocking(self.http_port, "GET", "/ping", "")
            .is_ok_and(|(status, body)| status == 200 && body.trim() == "Ok.")
    }

    /// The server's log files (for failure messages).
    pub fn logs(&self) -> String {
        let read =
            |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!(
            "{}{}{}",
            read("stdout.log"),
            read("server.err.log"),
            read("server.log")
        )
    }

    /// Where the HTTP sink sends markers (documented in docs/configuration.md).
    pub fn insert_endpoint(&self) -> String {
        format!(
            "http://127.0.0.1:{}/?query=INSERT%20INTO%20markers%20FORMAT%20JSONEachRow\
             &input_format_skip_unknown_fields=1",
            self.http_port
        )
    }

    /// Runs one statement; panics with ClickHouse's message on failure.
    pub fn query_blocking(&self, sql: &str) -> String {
        self.query_with(sql, "")
    }

    fn query_with(&self, sql: &str, settings: &str) -> String {
        match http_blocking(self.http_port, "POST", &format!("/?{settings}"), sql) {
            Ok((200, body)) => body,
            Ok((status, body)) => panic!("ClickHouse answered {status} to {sql}\n{body}"),
            Err(e) => panic!("ClickHouse unreachable: {e}"),
        }
    }

    /// What this ClickHouse makes of a number's text, bit for bit.
    ///
    /// ClickHouse 18.16 (Debian 12's) reads JSON numbers into Float64 with a fast parser that
    /// can land one unit in the last place away from the nearest double: `2.829` is stored as
    /// `2.8289999999999997` (888 of 100,000 three-decimal values, measured). `toFloat64` on the
    /// text takes the same path, so comparing against it still checks that the sink delivered
    /// the marker's exact number, with no tolerance.
    pub fn parse_float(&self, text: &str) -> f64 {
        let answer = self.query_blocking(&format!("SELECT toFloat64('{text}')"));
        answer.trim().parse().unwrap_or_else(|e| {
            panic!("ClickHouse answered {answer:?} for toFloat64('{text}'): {e}")
        })
    }

    /// Runs a SELECT and returns its rows as JSON objects (64-bit integers as numbers).
    pub fn rows(&self, select: &str) -> Vec<serde_json::Value> {
        let sql = format!("{} FORMAT JSONEachRow", select.trim().trim_end_matches(';'));
        self.query_with(&sql, "output_format_json_quote_64bit_integers=0")
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }
}

impl Drop for ClickHouse {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The shipped queries: (name, SQL without the final `;`), in file order.
pub fn shipped_queries() -> Vec<(String, String)> {
    QUERIES_SQL
        .split("-- name: ")
        .skip(1)
        .map(|block| {
            let (name, sql) = block.split_once('\n').expect("a query after its name");
            let sql = sql.trim().trim_end_matches(';').to_string();
            (name.trim().to_string(), sql)
        })
        .collect()
}

/// A minimal HTTP/1.0 exchange (no client library needed before the server is up).
fn http_blocking(
    port: u16,
    method: &str,
    path: &str,
    body: &str,
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let request = format!(
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes())?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// Checks every stored column against the marker's own JSON: same value, or NULL where the
/// marker has none (booleans are stored as 1/0).
pub fn assert_stored_intact(server: &ClickHouse, lines: &[String]) {
    let rows = server.rows("SELECT * FROM markers ORDER BY ts_ms, env_id, coldmark");
    assert_eq!(rows.len(), lines.len(), "one row per marker");
    let mut sent: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let key = |v: &Value| {
        (
            v["timestamp"].as_str().unwrap_or_default().to_string(),
            v["env_id"].as_str().unwrap_or_default().to_string(),
            v["coldmark"].as_str().unwrap_or_default().to_string(),
        )
    };
    sent.sort_by_key(key);
    let mut rows = rows;
    rows.sort_by_key(key);
    for (row, marker) in rows.iter().zip(&sent) {
        for (column, stored) in row.as_object().unwrap() {
            let expected = match marker.get(column) {
                None | Some(Value::Null) => Value::Null,
                Some(Value::Bool(b)) => json!(u8::from(*b)),
                Some(other) => other.clone(),
            };
            let same = match (stored.as_f64(), expected.as_f64()) {
                (Some(a), Some(b)) => {
                    a == b || (expected.is_f64() && a == server.parse_float(&expected.to_string()))
                }
                _ => *stored == expected,
            };
            assert!(
                same,
                "column {column}: stored {stored}, marker has {expected} in {marker}"
            );
        }
    }
}

/// Equal as JSON, numbers compared as f64 (ClickHouse prints 200.0 as 200).
pub fn assert_json_eq(name: &str, got: &Value, want: &Value) {
    fn same(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Array(x), Value::Array(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
            }
            (Value::Object(x), Value::Object(y)) => {
                x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
            }
            (a, b) => match (a.as_f64(), b.as_f64()) {
                (Some(a), Some(b)) => (a - b).abs() < 1e-9,
                _ => a == b,
            },
        }
    }
    assert!(same(got, want), "query {name}:\n got  {got}\n want {want}");
}
