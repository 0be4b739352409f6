//! Tenant isolation and CreateFunction through the Lambda API over real sockets, in front of
//! the real clock function: a tenant-isolated function shows its `TenancyConfig`, refuses an
//! invoke without a tenant (and any change of its tenancy) as Lambda does, hands each tenant
//! environments of its own and tells the runtime whose invocation it is; a function created
//! through `CreateFunction` runs beside the first one and reports to the same observers.

mod support;

use std::io::Write;
use std::time::Duration;
use support::cp_build;

use cp_build::{answer, built, config, header, test_plane};
use lambda_emulator::control_plane::start_reason::StartReason;
use lambda_emulator::control_plane::{ControlPlaneEvent, ControlPlaneOptions};
use lambda_emulator::environment::ShutdownReason;
use serde_json::{json, Value};
use tokio::sync::broadcast;

/// The events sent so far.
fn drain(rx: &mut broadcast::Receiver<ControlPlaneEvent>) -> Vec<ControlPlaneEvent> {
    let mut events = Vec::new();
    while let Ok(event) = rx.try_recv() {
        events.push(event);
    }
    events
}

/// (env_id, reason, tenant) of every start among `events`.
fn starts(events: &[ControlPlaneEvent]) -> Vec<(String, StartReason, Option<String>)> {
    events
        .iter()
        .filter_map(|e| match e {
            ControlPlaneEvent::EnvironmentStarted {
                env_id,
                reason,
                tenant_id,
                ..
            } => Some((env_id.clone(), *reason, tenant_id.clone())),
            _ => None,
        })
        .collect()
}

/// Invoke of `function` (for `tenant`): status, `x-amzn-ErrorType`, and the clock body (or the
/// error document).
async fn invoke(api: &str, function: &str, tenant: Option<&str>) -> (u16, Option<String>, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{api}/2015-03-31/functions/{function}/invocations"))
        .body("{}");
    if let Some(tenant) = tenant {
        request = request.header("X-Amz-Tenant-Id", tenant);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let error = header(&response, "x-amzn-ErrorType").map(str::to_owned);
    let body: Value = response.json().await.unwrap();
    let body = match body["body"].as_str() {
        Some(clock) => serde_json::from_str(clock).unwrap(),
        None => body,
    };
    (status, error, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_tenant_is_served_by_environments_of_its_own() {
    let options = ControlPlaneOptions {
        tenant_isolation: true,
        ..ControlPlaneOptions::default()
    };
    let (plane, _logs, mut rx) = test_plane(config(&[]), &[], options);
    let (served, api, url) = cp_build::serve(&plane).await;

    let configuration = answer(
        reqwest::Client::new().get(format!("{api}/2015-03-31/functions/clock/configuration")),
    )
    .await;
    assert_eq!(
        configuration["TenancyConfig"],
        json!({"TenantIsolationMode": "PER_TENANT"})
    );

    let (status, error, _) = invoke(&api, "clock", None).await;
    assert_eq!(
        (status, error.as_deref()),
        (400, Some("InvalidParameterValueException"))
    );
    let (status, error, _) = invoke(&api, "clock", Some("no;semicolons")).await;
    assert_eq!(
        (status, error.as_deref()),
        (400, Some("InvalidParameterValueException"))
    );
    assert!(
        starts(&drain(&mut rx)).is_empty(),
        "refused before anything ran"
    );

    let (status, _, blue) = invoke(&api, "clock", Some("blue")).await;
    assert_eq!(status, 200, "{blue}");
    assert_eq!(blue["tenant_id"], "blue");
    let (_, _, green) = invoke(&api, "clock", Some("green")).await;
    assert_eq!(green["tenant_id"], "green");
    assert_ne!(green["time_out_of_handler"], blue["time_out_of_handler"]);
    let (_, _, blue_again) = invoke(&api, "clock", Some("blue")).await;
    assert_eq!(
        blue_again["time_out_of_handler"],
        blue["time_out_of_handler"]
    );
    let reasons: Vec<(StartReason, Option<String>)> = starts(&drain(&mut rx))
        .into_iter()
        .map(|(_, reason, tenant)| (reason, tenant))
        .collect();
    assert_eq!(
        reasons,
        [
            (StartReason::NewTenant, Some("blue".to_owned())),
            (StartReason::NewTenant, Some("green".to_owned())),
        ]
    );

    // The tenancy cannot change; nor is there a Function URL.
    let refused = reqwest::Client::new()
        .put(format!("{api}/2015-03-31/functions/clock/configuration"))
        .json(&json!({"TenancyConfig": {"TenantIsolationMode": "PER_TENANT"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert_eq!(
        header(&refused, "x-amzn-ErrorType"),
        Some("InvalidParameterValueException")
    );
    let through_url = reqwest::get(&url).await.unwrap();
    assert_eq!(through_url.status(), 404);

    served.stop();
    plane.close(Duration::from_secs(10)).await;
    let stopped: Vec<(Option<String>, u64)> = drain(&mut rx)
        .into_iter()
        .filter_map(|e| match e {
            ControlPlaneEvent::EnvironmentStopped {
                tenant_id,
                invocations,
                reason: ShutdownReason::Spindown,
                ..
            } => Some((tenant_id, invocations)),
            _ => None,
        })
        .collect();
    assert_eq!(stopped.len(), 2, "{stopped:?}");
    assert!(stopped.contains(&(Some("blue".into()), 2)), "{stopped:?}");
    assert!(stopped.contains(&(Some("green".into()), 1)), "{stopped:?}");
}

/// The clock function's `bootstrap` as `Code.ZipFile`.
fn package() -> String {
    use base64::Engine;
    let mut zip = Vec::new();
    {
        let mut writer = zip::ZipWriter::new(std::io::Cursor::new(&mut zip));
        let options = zip::write::SimpleFileOptions::default().unix_permissions(0o755);
        writer.start_file("bootstrap", options).unwrap();
        writer
            .write_all(&std::fs::read(&built().bootstrap).unwrap())
            .unwrap();
        writer.finish().unwrap();
    }
    base64::engine::general_purpose::STANDARD.encode(zip)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_function_adds_a_function_beside_the_first() {
    let (plane, _logs, mut rx) = test_plane(config(&[]), &[], ControlPlaneOptions::default());
    let (served, api, _) = cp_build::serve(&plane).await;
    let client = reqwest::Client::new();
    let request = json!({
        "FunctionName": "tenants",
        "Role": "arn:aws:iam::123456789012:role/tenants-role",
        "Runtime": "provided.al2023",
        "Handler": "bootstrap",
        "Code": {"ZipFile": package()},
        "Environment": {"Variables": {"USER": "tenant-user"}},
        "TenancyConfig": {"TenantIsolationMode": "PER_TENANT"},
    });
    let response = client
        .post(format!("{api}/2015-03-31/functions"))
        .json(&request)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["FunctionName"], "tenants");
    assert_eq!(
        created["TenancyConfig"]["TenantIsolationMode"],
        "PER_TENANT"
    );
    assert!(created["FunctionArn"]
        .as_str()
        .unwrap()
        .ends_with(":function:tenants"));

    for name in ["tenants", "clock"] {
        let mut same_name = request.clone();
        same_name["FunctionName"] = json!(name);
        let again = client
            .post(format!("{api}/2015-03-31/functions"))
            .json(&same_name)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 409, "{name}");
        assert_eq!(
            header(&again, "x-amzn-ErrorType"),
            Some("ResourceConflictException")
        );
    }

    let (status, _, body) = invoke(&api, "tenants", Some("blue")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["env_user"], "tenant-user");
    assert_eq!(body["tenant_id"], "blue");
    // The first function is untouched: no tenant isolation there.
    let (status, _, clock) = invoke(&api, "clock", None).await;
    assert_eq!(status, 200, "{clock}");
    assert_eq!(clock["env_user"], "user");
    let (status, error, _) = invoke(&api, "clock", Some("blue")).await;
    assert_eq!(
        (status, error.as_deref()),
        (400, Some("InvalidParameterValueException"))
    );
    let functions: Vec<(String, StartReason)> = drain(&mut rx)
        .into_iter()
        .filter_map(|e| match e {
            ControlPlaneEvent::EnvironmentStarted {
                function_name,
                reason,
                ..
            } => Some((function_name, reason)),
            _ => None,
        })
        .collect();
    assert_eq!(
        functions,
        [
            ("tenants".to_owned(), StartReason::NewTenant),
            ("clock".to_owned(), StartReason::FirstSeen),
        ],
        "the created function reports to the first one's observers"
    );

    // Closing the first function closes the one created on it.
    served.stop();
    plane.close(Duration::from_secs(10)).await;
    let stopped = drain(&mut rx)
        .into_iter()
        .filter(|e| matches!(e, ControlPlaneEvent::EnvironmentStopped { .. }))
        .count();
    assert_eq!(stopped, 2);
}
