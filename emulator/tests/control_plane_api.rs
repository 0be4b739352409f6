//! The Lambda REST API and the Function URL over real sockets, in front of the real clock
//! function: the shapes and headers the AWS CLI, the SDKs and a browser rely on.

mod support;

use std::time::Duration;
use support::cp_build;

use base64::Engine;
use cp_build::{answer, config, header, test_plane, LogCollector};
use lambda_emulator::control_plane::{ControlPlane, ControlPlaneOptions, Served};
use serde_json::Value;

/// A served control plane running the clock function without layers.
struct Sandbox {
    plane: ControlPlane,
    served: Option<Served>,
    api: String,
    url: String,
    logs: LogCollector,
}

impl Sandbox {
    async fn start(vars: &[(&str, &str)], timeout: Duration) -> Self {
        let mut function = config(vars);
        function.timeout = timeout;
        let (plane, logs, _) = test_plane(function, &[], ControlPlaneOptions::default());
        let (served, api, url) = cp_build::serve(&plane).await;
        Self {
            api,
            url,
            plane,
            served: Some(served),
            logs,
        }
    }

    fn function_path(&self, name: &str) -> String {
        format!("{}/2015-03-31/functions/{name}", self.api)
    }

    /// The URL of the clock function's `operation` (`invocations`, `configuration`).
    fn clock(&self, operation: &str) -> String {
        format!("{}/{operation}", self.function_path("clock"))
    }

    async fn stop(mut self) {
        if let Some(served) = self.served.take() {
            served.stop();
        }
        self.plane.close(Duration::from_secs(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_function_configuration_has_lambdas_shape() {
    let sandbox = Sandbox::start(&[], Duration::from_secs(3)).await;
    let response = reqwest::get(sandbox.clock("configuration")).await.unwrap();
    assert_eq!(response.status(), 200);
    let config: Value = response.json().await.unwrap();
    assert_eq!(config["FunctionName"], "clock");
    assert_eq!(
        config["FunctionArn"],
        "arn:aws:lambda:us-east-1:123456789012:function:clock"
    );
    assert_eq!(config["Runtime"], "provided.al2023");
    assert_eq!(config["Handler"], "bootstrap");
    assert_eq!(config["MemorySize"], 128);
    assert_eq!(config["Timeout"], 3);
    assert_eq!(config["Version"], "$LATEST");
    assert_eq!(config["Environment"]["Variables"]["USER"], "user");
    assert_eq!(config["State"], "Active");
    assert_eq!(config["LastUpdateStatus"], "Successful");
    assert_eq!(config["PackageType"], "Zip");
    assert!(config["CodeSize"].as_u64().unwrap() > 0);
    assert_eq!(
        config["CodeSha256"].as_str().unwrap().len(),
        44,
        "base64 SHA-256"
    );
    assert!(config["RevisionId"].as_str().is_some());
    let modified = config["LastModified"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_str(modified, "%Y-%m-%dT%H:%M:%S%.3f%z").is_ok(),
        "LastModified {modified}"
    );
    // A full ARN names the same function.
    let by_arn = reqwest::get(format!(
        "{}/configuration",
        sandbox.function_path("arn:aws:lambda:us-east-1:123456789012:function:clock")
    ))
    .await
    .unwrap();
    assert_eq!(by_arn.status(), 200);
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_functions_and_bad_requests_get_lambdas_errors() {
    let sandbox = Sandbox::start(&[], Duration::from_secs(3)).await;
    let client = reqwest::Client::new();

    let missing = client
        .post(format!("{}/invocations", sandbox.function_path("nope")))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(
        header(&missing, "x-amzn-ErrorType"),
        Some("ResourceNotFoundException")
    );
    let body: Value = missing.json().await.unwrap();
    assert!(body["Message"]
        .as_str()
        .unwrap()
        .starts_with("Function not found: arn:aws:lambda:us-east-1:123456789012:function:nope"));

    let cases: [(&str, &str, &str); 4] = [
        (
            "configuration",
            "not json",
            "InvalidRequestContentException",
        ),
        (
            "configuration",
            r#"{"MemorySize": 64}"#,
            "InvalidParameterValueException",
        ),
        (
            "configuration",
            r#"{"Environment": {"Variables": {"AWS_REGION": "eu-west-1"}}}"#,
            "InvalidParameterValueException",
        ),
        ("invocations", "{not json", "InvalidRequestContentException"),
    ];
    for (operation, body, code) in cases {
        let url = format!("{}/{operation}", sandbox.function_path("clock"));
        let request = if operation == "configuration" {
            client.put(url)
        } else {
            client.post(url)
        };
        let response = request.body(body).send().await.unwrap();
        assert_eq!(response.status(), 400, "{operation} {body}");
        assert_eq!(header(&response, "x-amzn-ErrorType"), Some(code), "{body}");
    }
    // None of the refused updates changed anything.
    assert_eq!(sandbox.plane.function().revision, 1);
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invoke_returns_the_result_and_the_log_tail() {
    let sandbox = Sandbox::start(&[], Duration::from_secs(3)).await;
    let response = reqwest::Client::new()
        .post(sandbox.clock("invocations"))
        .header("X-Amz-Log-Type", "Tail")
        .body(r#"{"hello":"world"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "X-Amz-Executed-Version"), Some("$LATEST"));
    assert_eq!(header(&response, "X-Amz-Function-Error"), None);
    let request_id = header(&response, "x-amzn-RequestId").unwrap().to_owned();
    let log = base64::engine::general_purpose::STANDARD
        .decode(header(&response, "X-Amz-Log-Result").expect("log result"))
        .unwrap();
    let log = String::from_utf8(log).unwrap();
    let result: Value = response.json().await.unwrap();
    assert_eq!(result["statusCode"], 200);
    let body: Value = serde_json::from_str(result["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["env_user"], "user");
    assert!(
        log.contains("time_out_of_handler:"),
        "function line in the tail:\n{log}"
    );
    assert!(
        log.contains(&format!("REPORT RequestId: {request_id}")),
        "REPORT line in the tail:\n{log}\nthe whole log:\n{}",
        sandbox.logs.dump()
    );
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_url_unwraps_the_answer_and_reports_failures() {
    let sandbox = Sandbox::start(&[], Duration::from_secs(3)).await;
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{}some/path?x=1", sandbox.url))
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), Some("application/json"));
    assert!(header(&response, "x-amzn-RequestId").is_some());
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["env_user"], "user",
        "the URL answers with the body itself"
    );
    assert_eq!(body["invocation_count"], 1);
    sandbox.stop().await;

    // A function that times out: the Invoke API says Unhandled, the URL says 502.
    let slow = Sandbox::start(
        &[("CLOCK_HANDLER_SLEEP_MS", "2500")],
        Duration::from_secs(1),
    )
    .await;
    let invoke = client.post(slow.clock("invocations")).send().await.unwrap();
    assert_eq!(invoke.status(), 200);
    assert_eq!(header(&invoke, "X-Amz-Function-Error"), Some("Unhandled"));
    let url = client.get(&slow.url).send().await.unwrap();
    assert_eq!(url.status(), 502);
    slow.stop().await;
}

/// What a web page in the user's browser could make it send: a rebound host name (DNS
/// rebinding), a cross-site `text/plain` POST, a request from another origin. Each is refused
/// before the function runs; the AWS CLI's and the SDKs' requests still pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_callers_on_this_machine_reach_the_function() {
    let sandbox = Sandbox::start(&[], Duration::from_secs(3)).await;
    let client = reqwest::Client::new();
    let invoke = sandbox.clock("invocations");
    let browser_invokes = [
        ("host", "rebound.example.com"),
        ("content-type", "text/plain;charset=UTF-8"),
        ("content-type", "application/x-www-form-urlencoded"),
        ("origin", "https://evil.example"),
        ("sec-fetch-site", "cross-site"),
    ]
    .map(|(name, value)| client.post(&invoke).header(name, value).body("{}"));
    let others = [
        client
            .get(sandbox.clock("configuration"))
            .header("host", "rebound.example.com:80"),
        client
            .post(&sandbox.url)
            .header("host", "rebound.example.com")
            .body("hello"),
        client
            .post(&sandbox.url)
            .header("origin", "https://evil.example")
            .header("content-type", "text/plain")
            .body("hello"),
    ];
    for request in browser_invokes.into_iter().chain(others) {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 403, "{:?}", response.url());
    }
    let response = reqwest::Client::new()
        .post(&invoke)
        .header("host", "rebound.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(
        header(&response, "x-amzn-ErrorType"),
        Some("AccessDeniedException")
    );

    // Callers on this machine: the first invocation the function sees is this one.
    let response = client
        .post(&invoke)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let result: Value = response.json().await.unwrap();
    let body: Value = serde_json::from_str(result["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        body["invocation_count"], 1,
        "a refused request reached the function"
    );
    let local = client
        .post(format!("{}x", sandbox.url))
        .header("host", "localhost")
        .header("origin", "http://localhost:3000")
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(local.status(), 200);
    sandbox.stop().await;
}

/// Captured diagnostics of the sandbox (this test binary's global subscriber).
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setting_a_process_loading_variable_is_accepted_with_a_warning() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .try_init()
        .expect("the only test of this binary that installs a subscriber");
    let sandbox = Sandbox::start(&[], Duration::from_secs(3)).await;
    let response = reqwest::Client::new()
        .put(sandbox.clock("configuration"))
        .header("content-type", "application/json")
        .body(
            r#"{"Environment":{"Variables":{"USER":"user","LD_PRELOAD":"libpreload-value.so","NODE_OPTIONS":"--require x","PLAIN":"1"}}}"#,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        200,
        "Lambda allows it, so does the sandbox"
    );
    let config: Value = response.json().await.unwrap();
    assert_eq!(
        config["Environment"]["Variables"]["LD_PRELOAD"],
        "libpreload-value.so"
    );
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("UpdateFunctionConfiguration sets"))
        .collect();
    assert_eq!(warnings.len(), 2, "{log}");
    assert!(warnings.iter().any(|w| w.contains("LD_PRELOAD")));
    assert!(warnings.iter().any(|w| w.contains("NODE_OPTIONS")));
    assert!(!log.contains("PLAIN"), "{log}");
    assert!(
        !log.contains("libpreload-value.so"),
        "names, never values: {log}"
    );
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_variables_are_capped_at_4_kb_and_updates_go_in_progress_then_successful() {
    let sandbox = Sandbox::start(&[], Duration::from_secs(3)).await;
    let client = reqwest::Client::new();
    let configuration = sandbox.clock("configuration");
    let before: Value = answer(client.get(&configuration)).await;

    // 100 variables of 5,000 characters: far over Lambda's 4 KB in all.
    let huge: serde_json::Map<String, Value> = (0..100)
        .map(|i| (format!("V{i:03}"), Value::String("x".repeat(5_000))))
        .collect();
    let refused = client
        .put(&configuration)
        .json(&serde_json::json!({"Environment": {"Variables": huge}}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert_eq!(
        header(&refused, "x-amzn-ErrorType"),
        Some("InvalidParameterValueException")
    );
    let body: Value = refused.json().await.unwrap();
    assert!(
        body["Message"].as_str().unwrap_or_default().contains("4KB"),
        "{body}"
    );
    let unchanged: Value = answer(client.get(&configuration)).await;
    assert_eq!(unchanged["RevisionId"], before["RevisionId"]);

    // Just under the limit is fine; the update answers InProgress, a read then Successful.
    let fits = serde_json::json!({"USER": "user", "BIG": "y".repeat(4_000)});
    let accepted: Value = answer(
        client
            .put(&configuration)
            .json(&serde_json::json!({"Environment": {"Variables": fits}})),
    )
    .await;
    assert_eq!(accepted["LastUpdateStatus"], "InProgress", "{accepted}");
    assert_eq!(accepted["State"], "Active");
    let after: Value = answer(client.get(&configuration)).await;
    assert_eq!(after["LastUpdateStatus"], "Successful");
    assert_ne!(after["RevisionId"], before["RevisionId"]);
    sandbox.stop().await;
}
