//! Tenant isolation driven by the real AWS CLI, as a user would: `coldmark-sandbox serve`, then
//! `aws lambda create-function --tenancy-config TenantIsolationMode=PER_TENANT` (the clock
//! function's code, the sandbox's layers), `get-function-configuration`, an update that tries to
//! change the tenancy (refused), and `invoke --tenant-id` for two tenants. What is checked is
//! what a user sees: the configuration, Lambda's errors, each tenant answered from environments
//! of its own, and `tenantId` in the Telemetry API's records (printed by a small extension in
//! the layer that echoes every platform record it receives).

mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use coldmark_testkit::aws_cli::{aws_output, aws_stdout};
use serde_json::Value;
use support::cp_build::{built, fixture, layer};

/// `aws lambda invoke` of `function` for `tenant`: the function's answer (the clock's body).
fn invoke(endpoint: &str, dir: &Path, function: &str, tenant: &str, n: usize) -> Value {
    let out = dir.join(format!("out-{n}.json"));
    let printed = aws_stdout(
        endpoint,
        &[
            "lambda",
            "invoke",
            "--function-name",
            function,
            "--tenant-id",
            tenant,
            out.to_str().unwrap(),
        ],
    );
    let meta: Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(meta["StatusCode"], 200, "{meta}");
    assert!(meta.get("FunctionError").is_none(), "{meta}");
    let result: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    serde_json::from_str(result["body"].as_str().expect("body")).unwrap()
}

/// The clock function's `bootstrap`, zipped as a deployment package (`--zip-file fileb://`).
fn deployment_package(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("function.zip");
    let mut writer = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let options = zip::write::SimpleFileOptions::default().unix_permissions(0o755);
    writer.start_file("bootstrap", options).unwrap();
    writer
        .write_all(&std::fs::read(&built().bootstrap).unwrap())
        .unwrap();
    writer.finish().unwrap();
    path
}

/// The error code the AWS CLI printed for a refused call (`An error occurred (<code>) ...`).
fn refused_with(output: &std::process::Output) -> String {
    assert!(!output.status.success(), "the call was refused");
    let stderr = String::from_utf8_lossy(&output.stderr);
    stderr
        .split_once("An error occurred (")
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(code, _)| code.to_owned())
        .unwrap_or_else(|| panic!("no error code in: {stderr}"))
}

#[test]
#[ignore = "needs the AWS CLI; `bash .ci/run` installs it and runs this test"]
fn the_aws_cli_creates_a_tenant_isolated_function_and_each_tenant_gets_its_own_environments() {
    let layer = layer(
        true,
        &[("cp_telemetry_echo", fixture("cp_telemetry_echo.py"))],
    );
    let (sandbox, endpoint, _) =
        support::serve(layer.path(), &["--show-logs"], Duration::from_secs(60));
    let dir = tempfile::tempdir().unwrap();

    // The layers the sandbox serves, by the ARNs its own function shows.
    let clock: Value = serde_json::from_str(&aws_stdout(
        &endpoint,
        &[
            "lambda",
            "get-function-configuration",
            "--function-name",
            "clock",
        ],
    ))
    .unwrap();
    assert!(clock.get("TenancyConfig").is_none(), "{clock:#}");
    let layers: Vec<&str> = clock["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["Arn"].as_str().unwrap())
        .collect();
    assert_eq!(layers.len(), 1, "{clock:#}");

    let package = deployment_package(dir.path());
    let zip_file = format!("fileb://{}", package.display());
    let mut create = vec![
        "lambda",
        "create-function",
        "--function-name",
        "tenants",
        "--runtime",
        "provided.al2023",
        "--role",
        "arn:aws:iam::123456789012:role/tenants-role",
        "--handler",
        "bootstrap",
        "--zip-file",
        &zip_file,
        "--environment",
        "Variables={USER=user}",
        "--tenancy-config",
        "TenantIsolationMode=PER_TENANT",
        "--layers",
    ];
    create.extend_from_slice(&layers);
    let created: Value = serde_json::from_str(&aws_stdout(&endpoint, &create)).unwrap();
    assert_eq!(created["FunctionName"], "tenants");
    assert_eq!(
        created["TenancyConfig"]["TenantIsolationMode"], "PER_TENANT",
        "{created:#}"
    );
    // A second function of that name: Lambda's conflict.
    assert_eq!(
        refused_with(&aws_output(&endpoint, &create)),
        "ResourceConflictException"
    );

    let config: Value = serde_json::from_str(&aws_stdout(
        &endpoint,
        &[
            "lambda",
            "get-function-configuration",
            "--function-name",
            "tenants",
        ],
    ))
    .unwrap();
    assert_eq!(
        config["TenancyConfig"],
        serde_json::json!({"TenantIsolationMode": "PER_TENANT"}),
        "{config:#}"
    );
    assert_eq!(config["Layers"][0]["Arn"], layers[0]);

    // The tenancy cannot be changed. The AWS CLI (its API model has no TenancyConfig for
    // updates) will not even send it...
    let cli_update = aws_output(
        &endpoint,
        &[
            "lambda",
            "update-function-configuration",
            "--function-name",
            "tenants",
            "--tenancy-config",
            "TenantIsolationMode=PER_TENANT",
        ],
    );
    assert!(!cli_update.status.success());
    assert!(
        String::from_utf8_lossy(&cli_update.stderr).contains("--tenancy-config"),
        "{}",
        String::from_utf8_lossy(&cli_update.stderr)
    );
    // ...and a request that carries it anyway gets Lambda's refusal.
    let raw = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let response = reqwest::Client::new()
            .put(format!(
                "{endpoint}/2015-03-31/functions/tenants/configuration"
            ))
            .json(&serde_json::json!({"TenancyConfig": {"TenantIsolationMode": "PER_TENANT"}}))
            .send()
            .await
            .unwrap();
        let code = response.headers()["x-amzn-ErrorType"]
            .to_str()
            .unwrap()
            .to_owned();
        (response.status().as_u16(), code)
    });
    assert_eq!(raw, (400, "InvalidParameterValueException".to_owned()));

    // Each tenant is answered from environments of its own.
    let blue = invoke(&endpoint, dir.path(), "tenants", "blue", 1);
    let green = invoke(&endpoint, dir.path(), "tenants", "green", 2);
    let blue_again = invoke(&endpoint, dir.path(), "tenants", "blue", 3);
    assert_eq!(blue["tenant_id"], "blue", "the runtime was told its tenant");
    assert_eq!(green["tenant_id"], "green");
    assert_ne!(
        blue["time_out_of_handler"], green["time_out_of_handler"],
        "green got an environment of its own"
    );
    assert_eq!(
        blue_again["time_out_of_handler"], blue["time_out_of_handler"],
        "blue's environment serves blue again"
    );
    assert_eq!(blue_again["invocation_count"], 2);

    // Lambda's 400 for an invoke without a tenant, and for one with a tenant on a function
    // without tenant isolation.
    let out = dir.path().join("refused.json");
    let missing = aws_output(
        &endpoint,
        &[
            "lambda",
            "invoke",
            "--function-name",
            "tenants",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(refused_with(&missing), "InvalidParameterValueException");
    let not_isolated = aws_output(
        &endpoint,
        &[
            "lambda",
            "invoke",
            "--function-name",
            "clock",
            "--tenant-id",
            "blue",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(
        refused_with(&not_isolated),
        "InvalidParameterValueException"
    );

    let lines = sandbox.stop();
    // The sandbox's own account: blue's and green's first environments, each a new tenant.
    let starts: Vec<&Value> = lines
        .iter()
        .filter(|l| l["type"] == "environment_start" && l["function_name"] == "tenants")
        .collect();
    let reasons: Vec<(&str, &str)> = starts
        .iter()
        .map(|s| {
            (
                s["tenant_id"].as_str().unwrap(),
                s["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        reasons,
        [("blue", "new-tenant"), ("green", "new-tenant")],
        "{starts:#?}"
    );

    // The Telemetry API's records, as the echo extension received them: every platform.start,
    // runtimeDone and report of the tenants' invocations names its tenant, in the environment
    // of that tenant; the clock function's name none.
    let mut tenant_of_env: BTreeMap<String, String> = BTreeMap::new();
    let mut seen = BTreeMap::<(String, String), usize>::new();
    for line in lines
        .iter()
        .filter(|l| l["type"] == "log" && l["source"] == "cp_telemetry_echo")
    {
        let Some(json) = line["line"]
            .as_str()
            .and_then(|l| l.strip_prefix("telemetry "))
        else {
            continue;
        };
        let record: Value = serde_json::from_str(json).unwrap();
        let kind = record["type"].as_str().unwrap();
        if !["platform.start", "platform.runtimeDone", "platform.report"].contains(&kind) {
            continue;
        }
        let env = line["env_id"].as_str().unwrap().to_owned();
        match record["record"]["tenantId"].as_str() {
            Some(tenant) => {
                let previous = tenant_of_env.insert(env.clone(), tenant.to_owned());
                assert!(
                    previous.as_deref().is_none_or(|p| p == tenant),
                    "environment {env} served {previous:?} and {tenant}"
                );
                *seen
                    .entry((tenant.to_owned(), kind.to_owned()))
                    .or_default() += 1;
            }
            None => assert!(
                !starts.iter().any(|s| s["env_id"] == env.as_str()),
                "a record of a tenant's environment without tenantId: {record}"
            ),
        }
    }
    assert_eq!(
        seen,
        BTreeMap::from([
            (("blue".into(), "platform.report".into()), 2),
            (("blue".into(), "platform.runtimeDone".into()), 2),
            (("blue".into(), "platform.start".into()), 2),
            (("green".into(), "platform.report".into()), 1),
            (("green".into(), "platform.runtimeDone".into()), 1),
            (("green".into(), "platform.start".into()), 1),
        ]),
        "{lines:#?}"
    );
    for start in &starts {
        assert_eq!(
            tenant_of_env.get(start["env_id"].as_str().unwrap()),
            start["tenant_id"].as_str().map(str::to_owned).as_ref(),
            "{start}"
        );
    }
}

/// `serve --tenant-isolation`: the clock function itself is tenant-isolated, shows it, has no
/// Function URL, and serves each tenant from its own environments.
#[test]
#[ignore = "needs the AWS CLI; `bash .ci/run` installs it and runs this test"]
fn serve_tenant_isolation_makes_the_clock_function_tenant_isolated() {
    let layer = layer(true, &[]);
    let (sandbox, endpoint, url) = support::serve(
        layer.path(),
        &["--tenant-isolation"],
        Duration::from_secs(60),
    );
    assert!(url.is_empty(), "no Function URL: {url}");
    let config: Value = serde_json::from_str(&aws_stdout(
        &endpoint,
        &[
            "lambda",
            "get-function-configuration",
            "--function-name",
            "clock",
        ],
    ))
    .unwrap();
    assert_eq!(
        config["TenancyConfig"]["TenantIsolationMode"], "PER_TENANT",
        "{config:#}"
    );
    let dir = tempfile::tempdir().unwrap();
    let blue = invoke(&endpoint, dir.path(), "clock", "blue", 1);
    let red = invoke(&endpoint, dir.path(), "clock", "red", 2);
    assert_eq!(
        (&blue["tenant_id"], &red["tenant_id"]),
        (&"blue".into(), &"red".into())
    );
    assert_ne!(blue["time_out_of_handler"], red["time_out_of_handler"]);
    let out = dir.path().join("refused.json");
    let missing = aws_output(
        &endpoint,
        &[
            "lambda",
            "invoke",
            "--function-name",
            "clock",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(refused_with(&missing), "InvalidParameterValueException");
    let lines = sandbox.stop();
    let reasons: Vec<&str> = lines
        .iter()
        .filter(|l| l["type"] == "environment_start")
        .map(|l| l["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["new-tenant", "new-tenant"], "{lines:#?}");
    let stops: Vec<(&str, u64)> = lines
        .iter()
        .filter(|l| l["type"] == "environment_stop")
        .map(|l| {
            (
                l["tenant_id"].as_str().unwrap(),
                l["invocations"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(stops.len(), 2, "{lines:#?}");
    assert!(
        stops.contains(&("blue", 1)) && stops.contains(&("red", 1)),
        "{stops:?}"
    );
}
