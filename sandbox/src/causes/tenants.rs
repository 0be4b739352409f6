//! The `causes` steps of tenant isolation, on a second function created for them as a user
//! would: `CreateFunction` of `clock-tenants` with `TenancyConfig` `PER_TENANT`, the clock
//! function's code and the sandbox's layers. Then:
//! - a request for tenant `blue`: the function's first environment, blue's first — `new-tenant`;
//! - a request for tenant `green`: green's own first environment, although blue's is idle —
//!   `new-tenant`;
//! - two concurrent requests for `blue` that sleep: blue's environment serves one, the other
//!   starts a second environment of blue's — `scale-out` within the tenant;
//! - a request without a tenant id: refused with `InvalidParameterValueException`, nothing starts.

use anyhow::Context;

use lambda_emulator::control_plane::start_reason::StartReason;

use super::options::CausesOptions;
use super::requests::{deployment_package, join_all};
use super::script::Script;
use crate::front_end::FUNCTION_NAME;

/// The tenant-isolated function the steps create.
pub const TENANT_FUNCTION: &str = "clock-tenants";

/// Creates the tenant-isolated function, running `bootstrap`, and plays its steps.
pub(super) async fn play(
    script: &mut Script,
    options: &CausesOptions,
    bootstrap: &std::path::Path,
) -> anyhow::Result<()> {
    let clock = script.api.configuration(FUNCTION_NAME).await?;
    let layers: Vec<String> = clock.layers.iter().map(|l| l.arn.clone()).collect();
    let zip = tokio::task::spawn_blocking({
        let bootstrap = bootstrap.to_owned();
        move || deployment_package(&bootstrap)
    })
    .await
    .context("zipping the function")??;
    let created = script
        .api
        .create_function(&serde_json::json!({
            "FunctionName": TENANT_FUNCTION,
            "Role": format!("arn:aws:iam::{}:role/clock-tenants-role", lambda_emulator::environment::ACCOUNT_ID),
            "Runtime": "provided.al2023",
            "Handler": "bootstrap",
            "Code": {"ZipFile": zip},
            "Timeout": options.timeout.as_secs().max(1),
            "MemorySize": clock.memory_size,
            "Environment": {"Variables": {"USER": "user"}},
            "Layers": layers,
            "TenancyConfig": {"TenantIsolationMode": "PER_TENANT"},
        }))
        .await?;
    anyhow::ensure!(
        created.tenancy_config.is_some(),
        "CreateFunction answered without TenancyConfig"
    );
    let latest = "$LATEST";
    for tenant in ["blue", "green"] {
        let a = script
            .api
            .invoke(
                TENANT_FUNCTION,
                latest,
                Some(tenant),
                serde_json::json!({}),
                false,
            )
            .await?;
        script.step_of(
            TENANT_FUNCTION,
            &format!("a request for tenant {tenant}"),
            latest,
            &[StartReason::NewTenant],
            0,
            vec![a],
        );
    }
    let sleep = serde_json::json!({ "clock_sleep_ms": options.burst_sleep.as_millis() as u64 });
    let answers = join_all(
        (0..2)
            .map(|_| script.invoke_detached(TENANT_FUNCTION, Some("blue"), sleep.clone()))
            .collect(),
    )
    .await?;
    script.step_of(
        TENANT_FUNCTION,
        "two concurrent requests for tenant blue",
        latest,
        &[StartReason::ScaleOut],
        0,
        answers,
    );
    let refused = script
        .api
        .invoke(TENANT_FUNCTION, latest, None, serde_json::json!({}), true)
        .await?;
    let refused_as_lambda_does = refused.outcome == "InvalidParameterValueException";
    script.step_of(
        TENANT_FUNCTION,
        "a request without a tenant id (refused)",
        latest,
        &[],
        0,
        vec![refused],
    );
    anyhow::ensure!(
        refused_as_lambda_does,
        "an invoke without a tenant id was not refused with InvalidParameterValueException"
    );
    Ok(())
}
