//! One invocation from request to answer: admitted by the pool (to a warm environment or a new
//! one), run, its reset or re-init reported, the environment given back, and its log collected
//! when asked for.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::events::ControlPlaneEvent;
use super::invocation::{Caller, Invocation, InvokeError};
use super::log_tail::collect_log;
use super::pool::Admission;
use super::shared::Shared;
use super::starter;
use super::tenancy;
use crate::environment::{Environment, InitFailure, InvokeRequest, InvokeStatus, ShutdownReason};

/// A request's hold on an environment: given back to the pool when dropped, on every path (a
/// panic included), so that the limit never counts a request that is gone.
struct Lease {
    shared: Arc<Shared>,
    env: Arc<Environment>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.shared.release(&self.env);
    }
}

/// Invokes version `qualifier` of the function (`None`: `$LATEST`) for `caller`.
pub(crate) async fn invoke(
    shared: Arc<Shared>,
    qualifier: Option<String>,
    payload: Bytes,
    tail_log: bool,
    caller: Caller,
) -> Result<Invocation, InvokeError> {
    // Tenant isolation: a tenant on every invoke of an isolated function, on no other.
    tenancy::invoke_tenant(shared.options.tenant_isolation, caller.tenant_id.as_deref())
        .map_err(InvokeError::Tenancy)?;
    let request_id = uuid::Uuid::new_v4().to_string();
    // Subscribed before anything runs so no line of this invocation is missed.
    let log_rx = tail_log.then(|| shared.logs.subscribe());
    let asked = Instant::now();
    let (admission, waited) = loop {
        let (admission, waited) =
            admit(&shared, qualifier.as_deref(), caller.tenant_id.as_deref()).await?;
        match &admission {
            // Managed Instances: its runtime exited under other invocations a moment ago. It
            // takes no more; ask again.
            Admission::Warm { env, .. } if !env.is_alive() => {
                shared.pool().retire(env.id());
                shared.release(env);
            }
            _ => break (admission, waited),
        }
    };
    let (env, key, cold_start) = match admission {
        Admission::Warm { env, key, .. } => (env, key, false),
        Admission::Start(start) => {
            let key = start.key.clone();
            let env = starter::start_on_demand(&shared, *start, &request_id).await?;
            (env, key, true)
        }
        Admission::Wait { .. } => unreachable!("admit waits until the pool serves or refuses"),
    };
    // How long the request waited for an environment: its init (a cold start), or a slot on
    // Managed Instances.
    let waited_ms = (cold_start || waited).then(|| asked.elapsed().as_secs_f64() * 1000.0);
    let lease = Lease {
        shared: shared.clone(),
        env,
    };
    let env = &lease.env;
    let result = env
        .invoke(InvokeRequest {
            payload,
            request_id: Some(request_id.clone()),
            client_context: caller.client_context,
            cognito_identity: caller.cognito_identity,
            tenant_id: caller.tenant_id,
        })
        .await;
    // A re-init inside this invocation (after a crash, a timeout or a failed init), whether
    // the environment was started for this request or not.
    starter::report_reinit(&shared, env, &key, &request_id);
    if let Ok(response) = &result {
        // Managed Instances stop no handler at its deadline: a timeout resets nothing there.
        let managed = shared.options.managed_instances.is_some();
        let reset = match response.status {
            InvokeStatus::Crashed => Some(ShutdownReason::Failure),
            InvokeStatus::Timeout if !managed => Some(ShutdownReason::Timeout),
            _ => None,
        };
        if let Some(reason) = reset {
            shared.emit(ControlPlaneEvent::EnvironmentReset {
                env_id: env.id().to_owned(),
                reason,
                request_id: request_id.clone(),
                tenant_id: env.tenant_id().map(str::to_owned),
                invocations: env.invocations(),
            });
        }
    }
    let env_id = env.id().to_owned();
    if !env.is_alive() {
        // Ended under this invocation (Managed Instances keep others in flight on it).
        shared.pool().retire(&env_id);
    }
    drop(lease);
    let response = result.map_err(|error| {
        if error.downcast_ref::<InitFailure>().is_some() {
            InvokeError::InitFailed {
                request_id: request_id.clone(),
                error,
            }
        } else {
            InvokeError::Environment(error)
        }
    })?;
    shared.emit(ControlPlaneEvent::Invoked {
        request_id: request_id.clone(),
        env_id: env_id.clone(),
        cold_start,
        init_duration_ms: response.report.init_duration_ms,
        waited_ms,
    });
    let log = match log_rx {
        Some(rx) => collect_log(rx, &env_id, &request_id).await,
        None => Vec::new(),
    };
    Ok(Invocation {
        request_id,
        env_id,
        cold_start,
        waited_ms,
        response,
        log,
    })
}

/// Asks the pool for an environment until it serves or refuses. On Managed Instances a request
/// that finds every environment full waits for a slot (starting the scale-out the pool asks
/// for), up to the environments' init timeout and a margin; then it is throttled, as Lambda
/// throttles what its capacity cannot absorb. Returns the admission and whether it waited.
async fn admit(
    shared: &Arc<Shared>,
    qualifier: Option<&str>,
    tenant: Option<&str>,
) -> Result<(Admission<Arc<crate::environment::Environment>>, bool), InvokeError> {
    let deadline =
        tokio::time::Instant::now() + shared.options.environment.init_timeout + WAIT_MARGIN;
    let mut waited = false;
    loop {
        let notified = shared.released_notified();
        match shared.pool().admit(qualifier, tenant)? {
            Admission::Wait { scale_out } => {
                if let Some(start) = scale_out {
                    starter::start_ahead(shared, *start);
                }
            }
            admission => return Ok((admission, waited)),
        }
        waited = true;
        if !Shared::wait_released(notified, deadline).await {
            return Err(InvokeError::TooManyRequests {
                limit: shared.options.max_environments,
            });
        }
    }
}

/// How much longer than an init a request may wait for a slot on Managed Instances.
const WAIT_MARGIN: std::time::Duration = std::time::Duration::from_secs(5);
