//! The front door: one function, its current configuration, and the pool of execution
//! environments that serve it — the part of Lambda a user talks to.
//!
//! Why a pool and not one environment: the experiment is about *which* environment answers.
//! Lambda reuses an idle environment of the current configuration, starts a new one when every
//! environment is busy (a scale-out cold start, up to a concurrency limit, then 429), and after
//! `UpdateFunctionConfiguration` never hands a request to an environment of the old
//! configuration again: idle ones are spun down (SHUTDOWN, reason `spindown`) at once, busy ones
//! when their invocation ends. The next request pays for a new init. That is the behaviour the
//! experiment observes, so it is the behaviour modelled here.
//!
//! Published versions (`PublishVersion`) are snapshots of `$LATEST`'s configuration; a request
//! for a version (`Invoke --qualifier`) is served only by environments of that version. With
//! tenant isolation ([`tenancy`]) every request names its tenant and is served only by that
//! tenant's environments. With `idle_reclaim` set, an environment left idle that long is spun
//! down, as Lambda reclaims idle environments after minutes without traffic. Every new
//! environment is started for a reason the pool knows ([`start_reason`]), published with
//! [`ControlPlaneEvent::EnvironmentStarted`] (with how its init ended: a failed init resets the
//! environment, and its retry inside the request is a start of its own). `CreateFunction` adds
//! functions beside the first ([`ControlPlane::create`]).
//!
//! Inside, dependencies point one way:
//! - the rules, pure (`(state, input, now) → decisions`, unit-tested without processes):
//!   `versions` (`$LATEST`, published versions, pool keys), `start_reason` (why a new
//!   environment), `pool` (which environment serves, when one starts, when one goes),
//!   `tenancy` (tenant isolation's rules), `create_function` and `update_checks` (Lambda's
//!   checks on those requests);
//! - the shell, which carries the decisions out: `shared` (the lock, spin-downs, timers),
//!   `starter` (the one place an environment starts), `invoke` (one request), `plane`
//!   ([`ControlPlane`], the API, and the functions created on it), `function_code` (a created
//!   function's code on disk);
//! - the HTTP faces, which call the shell: `lambda_api` (the REST API the AWS CLI and SDKs call
//!   with `--endpoint-url`, with `versions_api`, `function_ref`) and `function_url` (a Function
//!   URL, payload format 2.0), sharing `api_error` (Lambda's error answers), `request_guard`
//!   (callers on this machine only) and `configuration` (the API's records); `endpoints` binds
//!   them ([`ControlPlane::serve`]).

mod api_error;
pub mod configuration;
mod create_function;
mod endpoints;
mod events;
mod function_code;
mod function_ref;
mod function_url;
mod invocation;
mod invoke;
mod lambda_api;
mod log_tail;
mod options;
mod plane;
mod pool;
mod request_guard;
mod shared;
pub mod start_reason;
mod starter;
pub mod tenancy;
mod update_checks;
mod versions;
mod versions_api;

pub use endpoints::{Endpoints, Served};
pub use events::ControlPlaneEvent;
pub use invocation::{Caller, Invocation, InvokeError};
pub use options::{
    ControlPlaneOptions, ManagedInstances, DEFAULT_ENVIRONMENTS_AHEAD, DEFAULT_MAX_CONCURRENCY,
    DEFAULT_MAX_ENVIRONMENTS, MAX_CONCURRENCY_RANGE,
};
pub use plane::{ControlPlane, CreateError};
pub use versions::{ConfigUpdate, FunctionState, LATEST};
