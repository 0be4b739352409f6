//! A scripted HTTP collector on 127.0.0.1 for the network sinks' fault tests (the HTTP sink's
//! and the OTLP sink's, whose answers can carry a body: a partial success), and the receiver
//! the benchmarks point the sink at (scripted to answer 200 at once).
//!
//! Hand-written on tokio's TCP (not hyper) because the faults live below HTTP: resetting a
//! connection after reading a request, or answering later than the client's timeout. Each
//! request takes the next [`Act`] of the script (the last one repeats). Every request is
//! recorded (headers and gunzipped body), including those answered with an error.

use std::collections::VecDeque;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// What the collector does with one request.
#[derive(Clone, Debug)]
pub enum Act {
    /// Answer with this status (and these extra header lines, e.g. `Retry-After: 1`).
    Status(u16, Vec<(&'static str, String)>),
    /// Wait this long, then answer 200 (a client with a shorter timeout gives up first).
    Slow(Duration),
    /// Read the request, then close the connection with a TCP reset, answering nothing.
    Reset,
    /// Answer with this status, `Content-Type` and body (an OTLP export response).
    Reply(u16, &'static str, Vec<u8>),
}

impl Act {
    pub fn ok() -> Act {
        Act::Status(200, Vec::new())
    }
    pub fn status(code: u16) -> Act {
        Act::Status(code, Vec::new())
    }
}

/// One request as the collector saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    pub headers: Vec<(String, String)>,
    /// The body, gunzipped when `Content-Encoding: gzip`.
    pub body: Vec<u8>,
    /// What the collector did with it.
    pub act: String,
    /// When the request had arrived whole.
    pub at: std::time::Instant,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Body lines (NDJSON records).
    pub fn lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.body)
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }
}

/// The running collector; stopped when dropped.
pub struct Collector {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: JoinHandle<()>,
}

impl Collector {
    /// Starts on an ephemeral port with this script.
    pub async fn start(script: Vec<Act>) -> Collector {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind collector");
        let addr = listener.local_addr().expect("collector address");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let task = tokio::spawn({
            let seen = seen.clone();
            async move {
                while let Ok((stream, _)) = listener.accept().await {
                    tokio::spawn(serve(stream, script.clone(), seen.clone()));
                }
            }
        });
        Collector { addr, seen, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}/ingest", self.addr)
    }

    /// Every request so far, in arrival order.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Records of requests answered 2xx, in order.
    pub fn accepted_lines(&self) -> Vec<String> {
        self.seen()
            .iter()
            .filter(|s| s.act.starts_with("status 2"))
            .flat_map(|s| s.lines())
            .collect()
    }

    /// (requests, body bytes) received so far, whatever they were answered.
    pub fn received(&self) -> (u64, u64) {
        let seen = self.seen.lock().unwrap();
        let bytes = seen.iter().map(|s| s.body.len() as u64).sum();
        (seen.len() as u64, bytes)
    }

    /// Waits until `n` requests arrived (or `limit` passed).
    pub async fn wait_requests(&self, n: usize, limit: Duration) -> usize {
        let start = tokio::time::Instant::now();
        loop {
            let count = self.seen.lock().unwrap().len();
            if count >= n || start.elapsed() > limit {
                return count;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An address where nothing listens: connecting is refused.
pub async fn refused_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    drop(listener);
    addr
}

fn next_act(script: &Mutex<VecDeque<Act>>) -> Act {
    let mut script = script.lock().unwrap();
    if script.len() > 1 {
        script.pop_front().unwrap()
    } else {
        script.front().cloned().unwrap_or_else(Act::ok)
    }
}

/// Serves one keep-alive connection: request after request until the client closes.
async fn serve(
    mut stream: TcpStream,
    script: Arc<Mutex<VecDeque<Act>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
) {
    let _ = stream.set_nodelay(true);
    let mut buffer = Vec::new();
    loop {
        let Some((path, headers, body)) = read_request(&mut stream, &mut buffer).await else {
            return;
        };
        let gzip = headers
            .iter()
            .any(|(n, v)| n.eq_ignore_ascii_case("content-encoding") && v.contains("gzip"));
        let body = if gzip {
            let mut plain = Vec::new();
            flate2::read::GzDecoder::new(&body[..])
                .read_to_end(&mut plain)
                .expect("gzip body");
            plain
        } else {
            body
        };
        let act = next_act(&script);
        let mut record = Seen {
            path,
            headers,
            body,
            act: String::new(),
            at: std::time::Instant::now(),
        };
        match act {
            Act::Reset => {
                record.act = "reset".into();
                seen.lock().unwrap().push(record);
                #[allow(deprecated)] // a zero linger does not block; it makes close send RST
                let _ = stream.set_linger(Some(Duration::ZERO));
                return;
            }
            Act::Slow(delay) => {
                record.act = format!("slow {delay:?}");
                let index = {
                    let mut seen = seen.lock().unwrap();
                    seen.push(record);
                    seen.len() - 1
                };
                tokio::time::sleep(delay).await;
                if respond(&mut stream, 200, &[]).await.is_err() {
                    return;
                }
                // Answered after all: a client still waiting (one thawed after a freeze, say)
                // reads this 200 and counts its lines delivered, so they are accepted here too.
                seen.lock().unwrap()[index].act = format!("status 200 after {delay:?}");
            }
            Act::Status(code, extra) => {
                record.act = format!("status {code}");
                seen.lock().unwrap().push(record);
                if respond(&mut stream, code, &extra).await.is_err() {
                    return;
                }
            }
            Act::Reply(code, content_type, body) => {
                record.act = format!("status {code}");
                seen.lock().unwrap().push(record);
                if reply(&mut stream, code, content_type, &body).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn respond(
    stream: &mut TcpStream,
    code: u16,
    extra: &[(&'static str, String)],
) -> std::io::Result<()> {
    let body = format!("{code}\n");
    let mut head = format!(
        "HTTP/1.1 {code} X\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in extra {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    head.push_str(&body);
    // One write per message: no Nagle/delayed-ACK stall in the measurements.
    stream.write_all(head.as_bytes()).await
}

async fn reply(
    stream: &mut TcpStream,
    code: u16,
    content_type: &str,
    body: &[u8],
) -> std::io::Result<()> {
    let mut message = format!(
        "HTTP/1.1 {code} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    message.extend_from_slice(body);
    stream.write_all(&message).await
}

/// Reads one request with a Content-Length body; `None` when the connection ends.
async fn read_request(
    stream: &mut TcpStream,
    buffer: &mut Vec<u8>,
) -> Option<(String, Vec<(String, String)>, Vec<u8>)> {
    let head_end = loop {
        if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let path = lines.next()?.split(' ').nth(1)?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let length = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let body_start = head_end + 4;
    while buffer.len() < body_start + length {
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    let body = buffer[body_start..body_start + length].to_vec();
    buffer.drain(..body_start + length);
    Some((path, headers, body))
}
