//! Drives the real `bootstrap` binary through a minimal Runtime API on 127.0.0.1, the way
//! Lambda does: `/next` hands out events, `/response` collects the answers.
//!
//! The fake server is plain `std::net` on purpose: it speaks just enough HTTP/1.1 (keep-alive,
//! Content-Length) that the test does not depend on the sandbox it is meant to feed.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use chrono::{NaiveDateTime, Utc};
use serde_json::{json, Value};

/// One HTTP request as the function sent it.
struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request { method, path, body })
}

fn write_response(stream: &mut TcpStream, status: &str, headers: &[(&str, String)], body: &[u8]) {
    let mut head = format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\n", body.len());
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
}

/// An answer, and how long after its event was handed out it came back.
struct Answer {
    response: Value,
    took: Duration,
}

/// Serves `events` one per `/next`, sends each `/response` to the returned channel; a `/next`
/// after the last event is never answered (as Lambda freezes the environment).
fn serve(listener: TcpListener, events: Vec<Value>) -> mpsc::Receiver<Answer> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut events = events.into_iter().enumerate();
        let mut handed_out = Instant::now();
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut stream = stream;
            while let Some(request) = read_request(&mut reader) {
                if request.method == "GET" && request.path.ends_with("/invocation/next") {
                    let Some((n, event)) = events.next() else {
                        // Park this connection: the test ends the process.
                        thread::sleep(Duration::from_secs(60));
                        return;
                    };
                    let deadline = Utc::now().timestamp_millis() + 30_000;
                    let headers = [
                        ("lambda-runtime-aws-request-id", format!("req-{n}")),
                        ("lambda-runtime-deadline-ms", deadline.to_string()),
                        (
                            "lambda-runtime-invoked-function-arn",
                            "arn:aws:lambda:us-east-1:000000000000:function:clock".to_owned(),
                        ),
                        ("content-type", "application/json".to_owned()),
                    ];
                    write_response(
                        &mut stream,
                        "200 OK",
                        &headers,
                        event.to_string().as_bytes(),
                    );
                    handed_out = Instant::now();
                } else if request.method == "POST" && request.path.ends_with("/response") {
                    write_response(&mut stream, "202 Accepted", &[], b"{}");
                    let answer = Answer {
                        response: serde_json::from_slice(&request.body).unwrap(),
                        took: handed_out.elapsed(),
                    };
                    if tx.send(answer).is_err() {
                        return;
                    }
                } else {
                    let body = String::from_utf8_lossy(&request.body).into_owned();
                    panic!("unexpected {} {}: {body}", request.method, request.path);
                }
            }
        }
    });
    rx
}

/// Kills the function when the test ends, pass or fail.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_function(port: u16, extra_env: &[(&str, &str)]) -> Running {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bootstrap"));
    command
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
        .env("AWS_LAMBDA_FUNCTION_NAME", "clock")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    for (name, value) in extra_env {
        command.env(name, value);
    }
    Running(command.spawn().expect("start bootstrap"))
}

fn body_of(answer: &Value) -> Value {
    assert_eq!(answer["statusCode"], 200, "{answer}");
    assert_eq!(answer["headers"]["content-type"], "application/json");
    serde_json::from_str(answer["body"].as_str().expect("body is a string")).unwrap()
}

fn parse_time(value: &Value) -> NaiveDateTime {
    let text = value.as_str().expect("timestamp is a string");
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.6f")
        .unwrap_or_else(|e| panic!("{text:?} is not YYYY-MM-DD HH:MM:SS.ffffff: {e}"))
}

fn receive(answers: &mpsc::Receiver<Answer>) -> Answer {
    answers
        .recv_timeout(Duration::from_secs(20))
        .expect("the function answered")
}

#[test]
fn one_environment_keeps_its_init_time_and_counts_calls() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let function_url_event = json!({
        "version": "2.0", "rawPath": "/", "requestContext": {"http": {"method": "GET"}}
    });
    let answers = serve(
        listener,
        vec![function_url_event, json!("any event at all")],
    );
    let _function = start_function(port, &[("USER", "user2")]);

    let first = body_of(&receive(&answers).response);
    let second = body_of(&receive(&answers).response);

    assert_eq!(first["env_user"], "user2");
    assert_eq!(first["invocation_count"], 1);
    assert_eq!(second["invocation_count"], 2);
    assert_eq!(first["time_out_of_handler"], second["time_out_of_handler"]);
    let init = parse_time(&first["time_out_of_handler"]);
    assert!(parse_time(&first["time_in_handler"]) >= init);
    assert!(parse_time(&second["time_in_handler"]) >= parse_time(&first["time_in_handler"]));
}

#[test]
fn unset_user_is_null_and_init_sleep_delays_the_init_record() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let answers = serve(listener, vec![json!({})]);
    let spawned_at = Utc::now().naive_utc();
    let _function = start_function(port, &[("CLOCK_INIT_SLEEP_MS", "200")]);

    let body = body_of(&receive(&answers).response);

    assert!(body["env_user"].is_null(), "{body}");
    let init = parse_time(&body["time_out_of_handler"]);
    assert!(
        init - spawned_at >= chrono::Duration::milliseconds(200),
        "init recorded at {init}, spawned at {spawned_at}: the sleep must come first"
    );
}

#[test]
fn handler_sleep_holds_every_answer_back() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let answers = serve(listener, vec![json!({}), json!({})]);
    let _function = start_function(port, &[("CLOCK_HANDLER_SLEEP_MS", "250")]);

    for expected_count in 1..=2 {
        let answer = receive(&answers);
        assert_eq!(
            body_of(&answer.response)["invocation_count"],
            expected_count
        );
        assert!(
            answer.took >= Duration::from_millis(250),
            "answer {expected_count} came {:?} after its event: the handler must sleep first",
            answer.took
        );
    }
}
