//! A small, scriptable stand-in for Lambda's Extensions and Telemetry APIs on 127.0.0.1, for
//! tests that run the real `coldmark` binary: a driver of the kit's one [`crate::server`].
//!
//! It registers the extension, records its Telemetry API subscription (answering 200, or 202
//! "Telemetry.NotSupported" as RIE and LocalStack do), hands out the INVOKE and SHUTDOWN events
//! the test queues, counts `/event/next` calls, and POSTs schema-2022-12-13 record batches to
//! the URI the extension subscribed with. The test drives the order; the server only answers.
//! Everything it sends is built from `lambda-wire`, so it says what Lambda says (memory in
//! bytes, `instanceId`); `record` stays for the tests that send what Lambda would not.

use std::net::SocketAddr;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use http_body_util::Full;
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use lambda_wire::env::LambdaEnv;
use lambda_wire::extensions::{Invoke, NextEvent, Shutdown, Tracing};
use lambda_wire::telemetry::{
    DurationMetrics, Extension, InitReport, InitRuntimeDone, InitStart, Instance, Record,
    RecordBody, Report, ReportMetrics, RuntimeDone, RuntimeDoneMetrics, Start, ON_DEMAND,
};
use serde_json::{json, Value};
use tokio::sync::{mpsc, Notify};

use crate::server::{ApiEvent, ApiServer, ServerOptions, TelemetryMode};

pub const EXTENSION_ID: &str = "ext-0001";
pub const FUNCTION_NAME: &str = "clock";

/// What the Telemetry API answers to the subscription.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Telemetry {
    Supported,
    NotSupported,
    /// The subscription request never gets an answer.
    Hangs,
}

/// One registration request the extension made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisterAttempt {
    /// The events it asked for, as sent.
    pub events: Vec<String>,
    /// The fake refused it (see [`FakeLambda::start_refusing_invoke`]).
    pub refused: bool,
}

struct State {
    registered: Mutex<Option<String>>,
    attempts: Mutex<Vec<RegisterAttempt>>,
    subscription: Mutex<Option<Value>>,
    events: tokio::sync::Mutex<mpsc::UnboundedReceiver<NextEvent>>,
    next_calls: AtomicUsize,
    next_at: Mutex<Vec<Instant>>,
    changed: Notify,
}

pub struct FakeLambda {
    pub addr: SocketAddr,
    state: Arc<State>,
    events: mpsc::UnboundedSender<NextEvent>,
    driver: tokio::task::JoinHandle<()>,
}

impl Drop for FakeLambda {
    fn drop(&mut self) {
        // Stops the driver, which owns the server: the server and its connections go too.
        self.driver.abort();
    }
}

impl FakeLambda {
    pub async fn start(mode: Telemetry) -> FakeLambda {
        Self::start_with(mode, false).await
    }

    /// As [`FakeLambda::start`]; with `register_hangs` registration never gets an answer.
    pub async fn start_with(mode: Telemetry, register_hangs: bool) -> FakeLambda {
        Self::start_options(mode, register_hangs, None).await
    }

    /// As [`FakeLambda::start`], answering a registration that names INVOKE with `status` and
    /// Lambda's error body (`{"errorMessage":…,"errorType":"Extension.InvalidEventType"}`), as
    /// Lambda does on Managed Instances; a registration for SHUTDOWN alone is accepted.
    pub async fn start_refusing_invoke(mode: Telemetry, status: u16) -> FakeLambda {
        let status = StatusCode::from_u16(status).expect("an HTTP status");
        Self::start_options(mode, false, Some(status)).await
    }

    /// A supported Telemetry API that accepts only `schema` as `schemaVersion` and answers any
    /// other with 400 `{"errorType":"ValidationError",…}` (as Lambda Managed Instances do for
    /// anything but `2025-01-29`); with `refuse_invoke` also refusing a registration that names
    /// INVOKE with 403, as Managed Instances do.
    pub async fn start_only_schema(schema: &str, refuse_invoke: bool) -> FakeLambda {
        let mut options = Self::options(Telemetry::Supported, false);
        options.only_schema = Some(schema.to_string());
        options.refuse_invoke = refuse_invoke.then_some(StatusCode::FORBIDDEN);
        Self::start_server(options).await
    }

    fn options(mode: Telemetry, register_hangs: bool) -> ServerOptions {
        let telemetry = match mode {
            Telemetry::Supported => TelemetryMode::Supported,
            Telemetry::NotSupported => TelemetryMode::NotSupported,
            Telemetry::Hangs => TelemetryMode::Hangs,
        };
        let mut options = ServerOptions::new(telemetry, FUNCTION_NAME);
        options.extension_id = Some(EXTENSION_ID.to_string());
        options.register_hangs = register_hangs;
        options
    }

    async fn start_options(
        mode: Telemetry,
        register_hangs: bool,
        refuse_invoke: Option<StatusCode>,
    ) -> FakeLambda {
        let mut options = Self::options(mode, register_hangs);
        options.refuse_invoke = refuse_invoke;
        Self::start_server(options).await
    }

    async fn start_server(options: ServerOptions) -> FakeLambda {
        let mut server = ApiServer::start_with(options)
            .await
            .expect("start the Lambda API server");
        let addr = server.addr;
        let (tx, rx) = mpsc::unbounded_channel();
        let state = Arc::new(State {
            registered: Mutex::new(None),
            attempts: Mutex::new(Vec::new()),
            subscription: Mutex::new(None),
            events: tokio::sync::Mutex::new(rx),
            next_calls: AtomicUsize::new(0),
            next_at: Mutex::new(Vec::new()),
            changed: Notify::new(),
        });
        let driving = state.clone();
        let driver = tokio::spawn(async move {
            let mut replies = tokio::task::JoinSet::new();
            while let Some(event) = server.next_event().await {
                while replies.try_join_next().is_some() {}
                match event {
                    ApiEvent::Registered {
                        name,
                        events,
                        refused,
                        ..
                    } => {
                        driving
                            .attempts
                            .lock()
                            .unwrap()
                            .push(RegisterAttempt { events, refused });
                        if !refused {
                            *driving.registered.lock().unwrap() = Some(name);
                        }
                        driving.changed.notify_waiters();
                    }
                    ApiEvent::Subscribed { subscription, .. } => {
                        *driving.subscription.lock().unwrap() = Some(subscription.raw);
                        driving.changed.notify_waiters();
                    }
                    ApiEvent::Next(request) => {
                        driving.next_at.lock().unwrap().push(request.at);
                        driving.next_calls.fetch_add(1, Ordering::SeqCst);
                        driving.changed.notify_waiters();
                        // Answered when the test queues an event; dropped (a 500) once the
                        // test has dropped its sender.
                        let state = driving.clone();
                        replies.spawn(async move {
                            if let Some(event) = state.events.lock().await.recv().await {
                                // The instant the answer was written is the benchmarks' concern, not ours.
                                drop(request.send(&event));
                            }
                        });
                    }
                    ApiEvent::ReportedError { .. } => {}
                }
            }
        });
        FakeLambda {
            addr,
            state,
            events: tx,
            driver,
        }
    }

    /// The environment Lambda gives every process, plus `extra` (the user's variables). The
    /// extension gets the runtime's full set, a superset of what Lambda gives extensions, so
    /// the tests also prove coldmark never leaks the runtime-only values.
    pub fn lambda_env(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut lambda = LambdaEnv::new(self.addr.to_string(), FUNCTION_NAME);
        lambda.region = "eu-west-1".into();
        lambda.log_stream_name = "2026/11/25/[$LATEST]0123456789abcdef".into();
        lambda.access_key_id = "AKIAFAKEACCESSKEY123".into();
        lambda.secret_access_key = "fakeSecretAccessKeyValue0123456789".into();
        lambda.session_token = "fakeSessionTokenValue0123456789".into();
        lambda.path = "/usr/local/bin:/usr/bin:/bin".into();
        let mut env: Vec<(String, String)> = lambda.for_runtime().into_iter().collect();
        env.push(("COLDMARK_TELEMETRY_PORT".into(), "0".into()));
        for (k, v) in extra {
            env.retain(|(name, _)| name != k);
            env.push((k.to_string(), v.to_string()));
        }
        env
    }

    /// Starts `program` (the real `coldmark` binary) with exactly `env`, stdout and stderr
    /// captured.
    pub fn spawn(program: &str, env: &[(String, String)]) -> Running {
        Self::spawn_with_stdout(program, env, Stdio::piped())
    }

    /// Starts `program` with this fake's Lambda environment plus `extra`, and returns once it
    /// asked for its first event (its init is over).
    pub async fn spawn_ready(&self, program: &str, extra: &[(&str, &str)]) -> Running {
        let running = Self::spawn(program, &self.lambda_env(extra));
        self.wait_next(1).await;
        running
    }

    /// Sends SHUTDOWN (`spindown`) and waits for `running` to exit (at most `limit`).
    pub async fn spindown(&self, running: Running, limit: Duration) -> Finished {
        self.shutdown("spindown");
        running.finish(limit).await
    }

    /// As [`FakeLambda::spawn`], with stdout going to `stdout` (not captured unless piped).
    pub fn spawn_with_stdout(program: &str, env: &[(String, String)], stdout: Stdio) -> Running {
        // Before `spawn`, which returns only once the exec has happened.
        let spawned_at = Instant::now();
        let child = Command::new(program)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn coldmark");
        Running {
            child: Some(child),
            spawned_at,
        }
    }

    /// Waits until the extension has called `/event/next` `n` times in total.
    pub async fn wait_next(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let notified = self.state.changed.notified();
            if self.state.next_calls.load(Ordering::SeqCst) >= n {
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "extension did not call /event/next {n} times"
            );
            let _ = tokio::time::timeout(left, notified).await;
        }
    }

    /// When each `/event/next` call arrived.
    pub fn next_times(&self) -> Vec<Instant> {
        self.state.next_at.lock().unwrap().clone()
    }

    pub fn registered_name(&self) -> Option<String> {
        self.state.registered.lock().unwrap().clone()
    }

    /// Every registration request so far, in order.
    pub fn register_attempts(&self) -> Vec<RegisterAttempt> {
        self.state.attempts.lock().unwrap().clone()
    }

    pub fn subscription(&self) -> Option<Value> {
        self.state.subscription.lock().unwrap().clone()
    }

    pub fn invoke(&self, request_id: &str) {
        self.invoke_traced(request_id, &format!("Root=1-{request_id}"));
    }

    /// INVOKE whose X-Ray trace header is `trace` (`Root=1-…;Parent=…;Sampled=1`).
    pub fn invoke_traced(&self, request_id: &str, trace: &str) {
        self.events
            .send(NextEvent::Invoke(Invoke {
                deadline_ms: Utc::now().timestamp_millis() + 3000,
                request_id: request_id.to_string(),
                invoked_function_arn: "arn:aws:lambda:eu-west-1:123456789012:function:clock".into(),
                tracing: Tracing::x_ray(trace.to_string()),
            }))
            .unwrap();
    }

    pub fn shutdown(&self, reason: &str) {
        self.shutdown_within(reason, Duration::from_secs(2));
    }

    /// SHUTDOWN whose deadline is `within` from now.
    pub fn shutdown_within(&self, reason: &str, within: Duration) {
        self.events
            .send(NextEvent::Shutdown(Shutdown {
                shutdown_reason: reason.to_string(),
                deadline_ms: Utc::now().timestamp_millis() + within.as_millis() as i64,
            }))
            .unwrap();
    }

    /// Where the subscription told Lambda to deliver: (`127.0.0.1:port`, path).
    pub fn listener(&self) -> (SocketAddr, String) {
        let sub = self.subscription().expect("no telemetry subscription");
        let uri: hyper::Uri = sub["destination"]["URI"].as_str().unwrap().parse().unwrap();
        let port = uri.port_u16().expect("a port in the URI");
        (
            SocketAddr::from(([127, 0, 0, 1], port)),
            uri.path().to_string(),
        )
    }

    /// [`FakeLambda::post_telemetry`] for a batch the listener must accept (200).
    pub async fn deliver(&self, records: &[Value]) {
        let status = self.post_telemetry(records).await;
        assert_eq!(
            status,
            200,
            "the listener refused a batch of {}",
            records.len()
        );
    }

    /// POSTs one batch to the extension's telemetry listener, as Lambda does (the
    /// subscription's `sandbox.localdomain` is this machine). Returns the HTTP status.
    pub async fn post_telemetry(&self, records: &[Value]) -> StatusCode {
        let sub = self.subscription().expect("no telemetry subscription");
        let uri = sub["destination"]["URI"]
            .as_str()
            .unwrap()
            .replace("sandbox.localdomain", "127.0.0.1");
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let body = serde_json::to_vec(records).unwrap();
        let req = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        let res = tokio::time::timeout(Duration::from_secs(5), client.request(req))
            .await
            .expect("telemetry post timed out")
            .expect("telemetry post failed");
        res.status()
    }
}

/// A running `coldmark` process. Killed if the test ends without collecting it.
pub struct Running {
    child: Option<Child>,
    pub spawned_at: Instant,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// What the process wrote and how it ended.
pub struct Finished {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
    /// From `finish` being called to the process's exit.
    pub exit_after: Duration,
}

impl Finished {
    /// Every stdout line as JSON (each must be one).
    pub fn markers(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
            .collect()
    }

    /// Each marker's kind (`init`, `invoke`, `shutdown`, ...), in the order written.
    pub fn kinds(&self) -> Vec<String> {
        self.markers()
            .iter()
            .map(|m| m["coldmark"].as_str().unwrap().to_string())
            .collect()
    }

    /// The stderr lines that contain `text` (a warning's subject, such as `http sink`).
    pub fn stderr_lines_with(&self, text: &str) -> Vec<&str> {
        self.stderr.lines().filter(|l| l.contains(text)).collect()
    }

    pub fn of_kind(&self, kind: &str) -> Vec<Value> {
        self.markers()
            .into_iter()
            .filter(|m| m["coldmark"] == kind)
            .collect()
    }
}

impl Running {
    /// The exit status if the process has ended, without waiting.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    /// Waits for the process to exit (at most `limit`, then kills it and fails).
    pub async fn finish(mut self, limit: Duration) -> Finished {
        let child = self.child.take().unwrap();
        let pid = child.id();
        let started = Instant::now();
        let waiting = tokio::task::spawn_blocking(move || child.wait_with_output());
        match tokio::time::timeout(limit, waiting).await {
            Ok(output) => {
                let Output {
                    status,
                    stdout,
                    stderr,
                } = output.unwrap().unwrap();
                Finished {
                    status,
                    stdout: String::from_utf8(stdout).unwrap(),
                    stderr: String::from_utf8(stderr).unwrap(),
                    exit_after: started.elapsed(),
                }
            }
            Err(_) => {
                // SAFETY-free cleanup: signal by pid, the process is ours.
                let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
                panic!("coldmark did not exit within {limit:?}");
            }
        }
    }
}

/// RFC 3339 with milliseconds, as Lambda writes record times.
pub fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn record(kind: &str, t: DateTime<Utc>, record: Value) -> Value {
    json!({"time": time(t), "type": kind, "record": record})
}

/// A record produced by the wire model, as the JSON a batch carries (times in whole
/// milliseconds, as Lambda writes them).
fn wire(time: DateTime<Utc>, body: RecordBody) -> Value {
    serde_json::to_value(typed(time, body)).expect("records serialise")
}

/// A record stamped to the millisecond, as Lambda stamps them.
fn typed(time: DateTime<Utc>, body: RecordBody) -> Record {
    use chrono::SubsecRound;
    Record::new(time.trunc_subsecs(3), body)
}

/// The init records of an on-demand cold start that began at `start`, with the runtime ready
/// after `runtime_ms` and the whole init phase over after `init_ms`, in the order that lets the
/// records tell the runtime from the extensions: `platform.extension` when coldmark registered,
/// `platform.initRuntimeDone` when the runtime was ready (before the end of init).
/// [`init_records_lambda_order`] is the order of Lambda's own init code.
pub fn init_records(start: DateTime<Utc>, runtime_ms: i64, init_ms: i64) -> Vec<Value> {
    let ms = chrono::Duration::milliseconds;
    vec![
        wire(
            start,
            RecordBody::InitStart(InitStart {
                initialization_type: ON_DEMAND.into(),
                phase: "init".into(),
                instance: Instance {
                    runtime_version: Some("provided:al2023.v100".into()),
                    runtime_version_arn: Some("arn:aws:lambda:eu-west-1::runtime:abc".into()),
                    function_name: FUNCTION_NAME.into(),
                    function_version: "$LATEST".into(),
                    instance_id: Some("instance-0001".into()),
                    // Bytes, as Lambda sends it: 128 MB.
                    instance_max_memory: Some(128 * 1024 * 1024),
                },
            }),
        ),
        wire(
            start,
            RecordBody::Extension(Extension {
                name: "coldmark".into(),
                state: "Ready".into(),
                events: vec!["INVOKE".into(), "SHUTDOWN".into()],
                error_type: None,
            }),
        ),
        wire(
            start + ms(runtime_ms),
            RecordBody::InitRuntimeDone(InitRuntimeDone {
                initialization_type: ON_DEMAND.into(),
                phase: "init".into(),
                status: "success".into(),
                error_type: None,
                spans: Vec::new(),
            }),
        ),
        wire(
            start + ms(init_ms),
            RecordBody::InitReport(InitReport {
                initialization_type: ON_DEMAND.into(),
                phase: "init".into(),
                status: "success".into(),
                error_type: None,
                metrics: DurationMetrics {
                    duration_ms: init_ms as f64,
                },
                spans: Vec::new(),
            }),
        ),
    ]
}

/// The same init in the order of Lambda's own init code (the runtime interface emulator's
/// `doRuntimeDomainInit`): `platform.initRuntimeDone` only once every extension is ready, at the
/// end of init, then `platform.extension`, then `platform.initReport`. From these records the
/// runtime's share cannot be told from the extensions'.
pub fn init_records_lambda_order(start: DateTime<Utc>, init_ms: i64) -> Vec<Value> {
    let mut records = init_records(start, init_ms, init_ms);
    // [initStart, extension, initRuntimeDone, initReport] → [initStart, initRuntimeDone,
    // extension, initReport], the extension's record stamped at the end of init too.
    records.swap(1, 2);
    records[2]["time"] = records[1]["time"].clone();
    records
}

/// `platform.start`, `platform.runtimeDone` (3 ms later) and `platform.report` (1 ms after
/// that) of one invocation, typed; `init_ms` is the report's Init Duration on a cold start.
pub fn invocation(request_id: &str, start: DateTime<Utc>, init_ms: Option<f64>) -> Vec<Record> {
    let ms = chrono::Duration::milliseconds;
    vec![
        typed(
            start,
            RecordBody::Start(Start {
                request_id: request_id.into(),
                tenant_id: None,
                version: Some("$LATEST".into()),
                tracing: None,
            }),
        ),
        typed(
            start + ms(3),
            RecordBody::RuntimeDone(RuntimeDone {
                request_id: request_id.into(),
                tenant_id: None,
                status: "success".into(),
                error_type: None,
                metrics: Some(RuntimeDoneMetrics {
                    duration_ms: 3.0,
                    produced_bytes: Some(10),
                }),
                tracing: None,
                spans: Vec::new(),
            }),
        ),
        typed(
            start + ms(4),
            RecordBody::Report(Report {
                request_id: request_id.into(),
                tenant_id: None,
                status: "success".into(),
                error_type: None,
                metrics: ReportMetrics {
                    duration_ms: 3.25,
                    billed_duration_ms: Some(4),
                    memory_size_mb: Some(128),
                    max_memory_used_mb: Some(19),
                    init_duration_ms: init_ms,
                    restore_duration_ms: None,
                    billed_restore_duration_ms: None,
                },
                tracing: None,
                spans: Vec::new(),
            }),
        ),
    ]
}

/// [`invocation`] as Lambda sends it.
pub fn invoke_records(request_id: &str, start: DateTime<Utc>, init_ms: Option<f64>) -> Vec<Value> {
    invocation(request_id, start, init_ms)
        .iter()
        .map(|record| serde_json::to_value(record).expect("records serialise"))
        .collect()
}

/// The init records of a Lambda Managed Instances environment, as AWS's emulator sends them
/// with schema `2025-01-29`: `platform.initStart` (`instanceId`, `instanceMaxMemory` in bytes),
/// `platform.initRuntimeDone` and `platform.initReport` (with `status`), the init over after
/// `init_ms`.
pub fn managed_instances_init_records(start: DateTime<Utc>, init_ms: i64) -> Vec<Value> {
    let ms = chrono::Duration::milliseconds;
    let kind = "lambda-managed-instances";
    vec![
        record(
            "platform.initStart",
            start,
            json!({"initializationType": kind, "phase": "init",
                   "runtimeVersion": "provided:al2023.v100", "functionName": FUNCTION_NAME,
                   "functionVersion": "1", "instanceId": "2026/11/25/clock[1]lmi0001",
                   "instanceMaxMemory": 2_147_483_648u64}),
        ),
        record(
            "platform.initRuntimeDone",
            start + ms(init_ms),
            json!({"initializationType": kind, "phase": "init", "status": "success"}),
        ),
        record(
            "platform.initReport",
            start + ms(init_ms),
            json!({"initializationType": kind, "phase": "init", "status": "success",
                   "metrics": {"durationMs": init_ms as f64}}),
        ),
    ]
}

/// `platform.start` of one invocation on Lambda Managed Instances.
pub fn managed_instances_start(request_id: &str, at: DateTime<Utc>) -> Value {
    record(
        "platform.start",
        at,
        json!({"requestId": request_id, "version": "1"}),
    )
}

/// `platform.report` of one invocation on Lambda Managed Instances: `metrics.durationMs` only
/// (no billed duration, no memory), the `responseLatency`/`responseDuration` spans.
pub fn managed_instances_report(request_id: &str, at: DateTime<Utc>, duration_ms: f64) -> Value {
    record(
        "platform.report",
        at,
        json!({"requestId": request_id, "status": "success",
               "metrics": {"durationMs": duration_ms},
               "spans": [{"name": "responseLatency", "start": time(at), "durationMs": 0.847},
                         {"name": "responseDuration", "start": time(at), "durationMs": 0.127}]}),
    )
}
