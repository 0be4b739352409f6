//! A real CloudWatch Logs API emulator for the CloudWatch source's tests: `moto` in server mode
//! (PyPI `moto[server]`, installed by .ci/run), started per test on a free loopback port and
//! killed when dropped. Seeded with boto3, the AWS SDK for Python.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Why the test cannot run, and how to get moto into the project's virtualenv.
fn install() -> String {
    format!(
        "moto[server] is needed by the CloudWatch source's tests (a CloudWatch Logs API emulator \
         on 127.0.0.1), with boto3, in the `python3` on PATH. {}",
        coldmark_testkit::venv::install_hint("moto", &["moto[server]", "boto3"])
    )
}

pub struct Moto {
    child: Child,
    pub port: u16,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

impl Moto {
    pub fn start() -> Moto {
        let probe = Command::new("python3")
            .args(["-c", "import moto.server, boto3"])
            .status();
        assert!(probe.is_ok_and(|s| s.success()), "{}", install());
        let port = free_port();
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto.server");
        let mut moto = Moto { child, port };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(60) {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return moto;
            }
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!("moto.server exited with {status}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("moto.server did not listen on {port} within 60 s");
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates `group` and puts `events` (stream, epoch ms, message), one stream at a time
    /// in time order, as Lambda writes them.
    pub fn seed(&self, group: &str, events: &[(String, i64, String)]) {
        let payload = serde_json::json!({"group": group, "events": events});
        let script = r#"
import json, sys, boto3
from collections import defaultdict
data = json.load(sys.stdin)
logs = boto3.client("logs", endpoint_url=sys.argv[1], region_name="us-east-1",
                    aws_access_key_id="testing", aws_secret_access_key="testing")
logs.create_log_group(logGroupName=data["group"])
streams = defaultdict(list)
for stream, ts, message in data["events"]:
    streams[stream].append({"timestamp": ts, "message": message})
for stream, events in streams.items():
    logs.create_log_stream(logGroupName=data["group"], logStreamName=stream)
    events.sort(key=lambda e: e["timestamp"])
    answer = logs.put_log_events(logGroupName=data["group"], logStreamName=stream, logEvents=events)
    if answer.get("rejectedLogEventsInfo"):
        sys.exit("rejected: %s" % answer["rejectedLogEventsInfo"])
"#;
        let mut child = Command::new("python3")
            .args(["-c", script, &self.endpoint()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 with boto3");
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(payload.to_string().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "seeding moto failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
