//! A scriptable Runtime API on 127.0.0.1 for tests that drive a real function binary.
//!
//! It hands out the queued events one per `GET /invocation/next`, with the headers Lambda
//! sends (from `lambda-wire`; the tenant's too, for a function with tenant isolation), and
//! passes each `POST /invocation/{id}/response` to the test with how long after its event it
//! came, and each `POST /init/error` as it came. A `/next` after the last event is never answered,
//! as Lambda freezes the environment. It runs on its own thread, so tests need no runtime.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::Utc;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use lambda_wire::runtime::{
    InvocationHeaders, FUNCTION_ERROR_TYPE, INIT_ERROR_PATH, NEXT_PATH, TENANT_ID,
};
use serde_json::Value;

/// An answer, and how long after its event was handed out it came back.
pub struct Answer {
    pub request_id: String,
    pub response: Value,
    pub took: Duration,
}

/// An init error the function reported (`POST /runtime/init/error`).
pub struct InitError {
    /// The `Lambda-Runtime-Function-Error-Type` header.
    pub error_type: Option<String>,
    pub body: Value,
}

struct Script {
    events: Vec<Value>,
    handed_out: usize,
    handed_out_at: Instant,
    /// Tenant isolation: sent as `Lambda-Runtime-Aws-Tenant-Id` with every event.
    tenant: Option<String>,
}

/// Where the server reports what the function sent.
#[derive(Clone)]
struct Reports {
    answers: mpsc::Sender<Answer>,
    init_errors: mpsc::Sender<InitError>,
}

pub struct RuntimeApi {
    pub addr: SocketAddr,
    answers: mpsc::Receiver<Answer>,
    init_errors: mpsc::Receiver<InitError>,
}

impl RuntimeApi {
    /// Serves `events` in order, one per `/next`.
    pub fn start(events: Vec<Value>) -> RuntimeApi {
        Self::start_for_tenant(events, None)
    }

    /// Like [`RuntimeApi::start`], every event for `tenant` (a function with tenant isolation).
    pub fn start_for_tenant(events: Vec<Value>, tenant: Option<&str>) -> RuntimeApi {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local addr");
        listener.set_nonblocking(true).expect("non-blocking");
        let (answers_tx, answers) = mpsc::channel();
        let (init_errors_tx, init_errors) = mpsc::channel();
        let tx = Reports {
            answers: answers_tx,
            init_errors: init_errors_tx,
        };
        let script = Arc::new(Mutex::new(Script {
            events,
            handed_out: 0,
            handed_out_at: Instant::now(),
            tenant: tenant.map(str::to_owned),
        }));
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the Runtime API");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let (script, tx) = (script.clone(), tx.clone());
                    tokio::spawn(async move {
                        let service = service_fn(move |req| {
                            let (script, tx) = (script.clone(), tx.clone());
                            async move { Ok::<_, Infallible>(answer(req, &script, &tx).await) }
                        });
                        let _ = http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
        });
        RuntimeApi {
            addr,
            answers,
            init_errors,
        }
    }

    /// The next init error the function reported (`None` after `wait` without one).
    pub fn init_error(&self, wait: Duration) -> Option<InitError> {
        self.init_errors.recv_timeout(wait).ok()
    }

    /// The next answer the function sent (fails the test after 20 s).
    pub fn receive(&self) -> Answer {
        self.answers
            .recv_timeout(Duration::from_secs(20))
            .expect("the function answered")
    }
}

async fn answer(
    req: Request<Incoming>,
    script: &Mutex<Script>,
    reports: &Reports,
) -> Response<Full<Bytes>> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    if method == Method::GET && path == NEXT_PATH {
        let (next, tenant) = {
            let mut script = script.lock().unwrap();
            let n = script.handed_out;
            let next = script.events.get(n).cloned().map(|event| {
                script.handed_out += 1;
                script.handed_out_at = Instant::now();
                (n, event)
            });
            (next, script.tenant.clone())
        };
        let Some((n, event)) = next else {
            // Frozen: the test ends the process.
            std::future::pending::<()>().await;
            unreachable!()
        };
        let headers = InvocationHeaders {
            request_id: format!("req-{n}"),
            deadline_ms: Utc::now().timestamp_millis() + 30_000,
            invoked_function_arn: "arn:aws:lambda:us-east-1:000000000000:function:clock".into(),
            trace_id: None,
            client_context: None,
            cognito_identity: None,
        };
        let mut res = Response::new(Full::new(Bytes::from(event.to_string())));
        for (name, value) in headers.pairs() {
            res.headers_mut()
                .insert(name, value.parse().expect("header value"));
        }
        if let Some(tenant) = tenant {
            res.headers_mut()
                .insert(TENANT_ID, tenant.parse().expect("header value"));
        }
        res.headers_mut()
            .insert("content-type", "application/json".parse().unwrap());
        return res;
    }
    if method == Method::POST && path == INIT_ERROR_PATH {
        let error_type = req
            .headers()
            .get(FUNCTION_ERROR_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = req.into_body().collect().await.map(|b| b.to_bytes());
        let body = serde_json::from_slice(&body.unwrap_or_default()).unwrap_or(Value::Null);
        let _ = reports.init_errors.send(InitError { error_type, body });
        let mut res = Response::new(Full::new(Bytes::from_static(b"{}")));
        *res.status_mut() = StatusCode::ACCEPTED;
        return res;
    }
    let request_id = path
        .strip_prefix("/2018-06-01/runtime/invocation/")
        .and_then(|rest| rest.strip_suffix("/response"))
        .map(str::to_string);
    let body = req.into_body().collect().await.map(|b| b.to_bytes());
    let body = body.unwrap_or_default();
    match (method, request_id) {
        (Method::POST, Some(request_id)) => {
            let took = script.lock().unwrap().handed_out_at.elapsed();
            let response = serde_json::from_slice(&body).expect("the response is JSON");
            let _ = reports.answers.send(Answer {
                request_id,
                response,
                took,
            });
            let mut res = Response::new(Full::new(Bytes::from_static(b"{}")));
            *res.status_mut() = StatusCode::ACCEPTED;
            res
        }
        (method, _) => panic!(
            "unexpected {method} {path}: {}",
            String::from_utf8_lossy(&body)
        ),
    }
}
