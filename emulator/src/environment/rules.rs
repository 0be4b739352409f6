//! The environment's rules, with no I/O: what the Runtime and Extensions APIs have been told so
//! far ([`ApiState`]) and, for each thing that happens (an API call, a phase starting or
//! ending), what changes and what the platform must do about it ([`Effect`]: a telemetry record
//! to emit, an invocation for the runtime, an event for an extension) or why the call is
//! refused ([`Refusal`]). Every input carries what the rule needs (the time as an `Instant`,
//! which processes exited), so each rule is a plain unit test.
//!
//! The HTTP handlers and the phases (`bookkeeping.rs`, `phases.rs`) only carry effects out:
//! they hold the lock, call a rule, then emit, queue and wake.
//!
//! The rules follow Lambda's own init flow (the `rapid` process of AWS's runtime interface
//! emulator, RIE): external extensions register first, then the runtime starts; an internal
//! extension may register only until the runtime's first `/next`; init ends when the runtime
//! and every extension wait for their next event.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::StatusCode;
use lambda_wire::extensions::{Invoke, NextEvent, Shutdown, Tracing, INVOKE, SHUTDOWN};
use lambda_wire::telemetry::{
    DurationMetrics, Extension, InitReport, InitRuntimeDone, InitStart, Instance, RecordBody,
    RestoreReport, RestoreRuntimeDone, Start,
};

use super::contract::{
    CognitoIdentity, EnvironmentOptions, FunctionConfig, InitRecordOrder, InitializationType,
    ShutdownReason,
};

/// Runtime version reported in `platform.initStart`: honest about being the sandbox.
pub(crate) const RUNTIME_VERSION: &str = "provided:al2023.coldmark-sandbox";

/// Lambda's limit: "up to 10 extensions" per function (AWS's Extensions API page; RIE's
/// `MaxAgentsAllowed`, refused with `Extension.TooManyExtensions`).
pub(crate) const MAX_EXTENSIONS: usize = 10;

/// What a process is to the lifecycle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Runtime,
    /// An external extension, by its executable's file name.
    Extension(String),
}

impl Role {
    /// How messages name it: "the runtime", "extension NAME".
    pub(crate) fn describe(&self) -> String {
        match self {
            Role::Runtime => "the runtime".into(),
            Role::Extension(name) => format!("extension {name}"),
        }
    }
}

/// Why an API call was refused: the HTTP status and the body's `errorType` and `errorMessage`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) status: StatusCode,
    pub(crate) error_type: &'static str,
    pub(crate) message: String,
}

impl Refusal {
    fn forbidden(error_type: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            status: StatusCode::FORBIDDEN,
            error_type,
            message: message.into(),
        }
    }

    pub(crate) fn unknown_extension() -> Refusal {
        Refusal::forbidden(
            "Extension.UnknownExtensionIdentifier",
            "unknown Lambda-Extension-Identifier",
        )
    }
}

/// What the platform must do after a rule ran, in this order.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Effect {
    /// Emit this telemetry record now.
    Emit(RecordBody),
    /// Hand this invocation to the runtime's `/invocation/next`.
    Invoke(Invocation),
    /// Hand this event to the extension's `/event/next` (by its identifier).
    Deliver {
        extension_id: String,
        event: NextEvent,
    },
}

/// One invocation handed to the runtime by `/next`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Invocation {
    pub(crate) request_id: String,
    pub(crate) payload: Bytes,
    pub(crate) deadline_ms: i64,
    pub(crate) function_arn: String,
    pub(crate) trace_id: String,
    pub(crate) caller: Caller,
}

/// Who called, when the invoke said so (client context, Cognito identity).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Caller {
    pub(crate) client_context: Option<String>,
    pub(crate) cognito_identity: Option<CognitoIdentity>,
    /// Tenant isolation: the invocation's tenant (`tenantId` in the invocation's records).
    pub(crate) tenant_id: Option<String>,
}

/// What the environment is, fixed for its life: what its records say about it and which
/// record order it follows.
#[derive(Clone, Debug)]
pub(crate) struct Facts {
    pub(crate) init_records: InitRecordOrder,
    pub(crate) initialization_type: InitializationType,
    /// Report the `init` phase as a SnapStart restore.
    pub(crate) restore: bool,
    /// What `initStart` / `restoreStart` say about the instance.
    pub(crate) instance: Instance,
}

impl Facts {
    /// The facts of the environment `instance_id` of `config` in `region`.
    pub(crate) fn new(
        config: &FunctionConfig,
        options: &EnvironmentOptions,
        instance_id: &str,
        region: &str,
    ) -> Facts {
        Facts {
            init_records: options.init_records,
            initialization_type: options.initialization_type,
            restore: options.restore,
            instance: Instance {
                runtime_version: Some(RUNTIME_VERSION.into()),
                runtime_version_arn: Some(format!(
                    "arn:aws:lambda:{region}::runtime:coldmark-sandbox"
                )),
                function_name: config.function_name.clone(),
                function_version: config.version.clone(),
                instance_id: Some(instance_id.to_string()),
                instance_max_memory: Some(u64::from(config.memory_mb) * 1024 * 1024),
            },
        }
    }
}

/// The runtime's side of the Runtime API.
#[derive(Clone, Debug, Default)]
pub(crate) struct RuntimeSlot {
    pub(crate) first_next_at: Option<Instant>,
    /// The requests handed out by `/next` and not finished yet: one at most on Lambda, up to
    /// the environment's concurrency on Managed Instances (one per runtime worker).
    pub(crate) taken: BTreeSet<String>,
    /// The answers posted for those requests, until the invocation is finished.
    pub(crate) outcomes: BTreeMap<String, RuntimeOutcome>,
    pub(crate) init_error: Option<String>,
}

/// A registered extension.
#[derive(Clone, Debug)]
pub(crate) struct ExtensionSlot {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) events: Vec<String>,
    /// Registered under the name of an executable in `extensions/` (else: internal).
    pub(crate) external: bool,
    /// `/event/next` calls so far, and events handed to it so far: the extension is waiting
    /// for its next event (ready) when it asked more often than it was given something.
    pub(crate) nexts: u64,
    pub(crate) enqueued: u64,
    pub(crate) registered_at: Instant,
    pub(crate) first_next_at: Option<Instant>,
    /// The `Lambda-Extension-Function-Error-Type` of its `/init/error`, if it sent one.
    pub(crate) init_error: Option<String>,
}

impl ExtensionSlot {
    pub(crate) fn ready(&self) -> bool {
        self.nexts > self.enqueued
    }

    pub(crate) fn wants(&self, event: &str) -> bool {
        self.events.iter().any(|e| e == event)
    }

    /// The extension's state as `platform.extension` reports it when init ends (RIE's agent
    /// state names) and its error type, if any.
    fn init_state(&self) -> (&'static str, Option<String>) {
        match &self.init_error {
            Some(error_type) => ("InitError", Some(error_type.clone())),
            None if self.first_next_at.is_some() => ("Ready", None),
            None => ("Registered", None),
        }
    }
}

/// Who may register right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Registration {
    /// Extension init: the executables in `extensions/` register (and internal ones too).
    External,
    /// Runtime init: only internal extensions (registered from the runtime's process), until
    /// the runtime's first `/next`.
    Internal,
    Closed,
}

/// The init in progress.
#[derive(Clone, Debug)]
pub(crate) struct InitProgress {
    /// `init`, or `invoke` for a suppressed init run again inside the first invocation.
    pub(crate) phase: &'static str,
    pub(crate) runtime_done_at: Option<Instant>,
}

/// How an init ended: its duration and, when it failed, the status (`error`, `timeout`) and
/// error type.
#[derive(Clone, Debug)]
pub(crate) struct InitEnd {
    pub(crate) duration_ms: f64,
    pub(crate) failure: Option<(&'static str, String)>,
}

/// How the runtime is stopped first at shutdown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RuntimeStop {
    /// SIGKILL at once: with no extension registered nobody waits for it (RIE does the same).
    Kill,
    /// SIGTERM, then SIGKILL after this grace.
    Term { grace: Duration },
}

/// What the Runtime and Extensions APIs have been told so far, and the rules for every next
/// call (the methods below).
#[derive(Clone, Debug)]
pub(crate) struct ApiState {
    pub(crate) facts: Facts,
    pub(crate) init: Option<InitProgress>,
    pub(crate) registration: Registration,
    /// Executables of `extensions/` that have not registered yet.
    pub(crate) expected_external: BTreeSet<String>,
    pub(crate) runtime: RuntimeSlot,
    pub(crate) extensions: Vec<ExtensionSlot>,
    /// Why the current init must fail (decided by an API call).
    pub(crate) failure: Option<String>,
}

impl ApiState {
    pub(crate) fn new(facts: Facts) -> ApiState {
        ApiState {
            facts,
            init: None,
            registration: Registration::Closed,
            expected_external: BTreeSet::new(),
            runtime: RuntimeSlot::default(),
            extensions: Vec::new(),
            failure: None,
        }
    }

    fn lambda_order(&self) -> bool {
        self.facts.init_records == InitRecordOrder::Lambda
    }

    /// Whether this is a Lambda Managed Instances environment: SHUTDOWN-only extensions, no
    /// `platform.runtimeDone`, reports with `durationMs` only.
    pub(crate) fn managed_instances(&self) -> bool {
        self.facts.initialization_type == InitializationType::ManagedInstances
    }

    /// Whether this init is reported as a SnapStart restore (only the `init` phase: a re-init
    /// inside an invocation is a plain init).
    pub(crate) fn restoring(&self, phase: &str) -> bool {
        self.facts.restore && phase == "init"
    }

    // -----------------------------------------------------------------------------------------
    // Init

    /// A new init (`phase` `init`, or `invoke` for a suppressed init run again in the first
    /// invocation): everything registered before is forgotten, the executables `external` are
    /// expected to register, and `initStart` (`restoreStart`) goes out.
    pub(crate) fn begin_init(
        &mut self,
        phase: &'static str,
        external: BTreeSet<String>,
    ) -> Vec<Effect> {
        self.init = Some(InitProgress {
            phase,
            runtime_done_at: None,
        });
        self.registration = Registration::External;
        self.expected_external = external;
        self.runtime = RuntimeSlot::default();
        self.extensions.clear();
        self.failure = None;
        let instance = self.facts.instance.clone();
        let record = if self.restoring(phase) {
            RecordBody::RestoreStart(instance)
        } else {
            RecordBody::InitStart(InitStart {
                initialization_type: self.facts.initialization_type.as_str().into(),
                phase: phase.into(),
                instance,
            })
        };
        vec![Effect::Emit(record)]
    }

    /// Extension init is over (every external extension registered): the runtime starts, and
    /// only internal extensions may still register.
    pub(crate) fn begin_runtime_init(&mut self) {
        self.registration = Registration::Internal;
    }

    /// Extension init: `Ok` once every external extension registered; an error when an API
    /// call failed the init or a process (`exited`, the first that did) ended first.
    pub(crate) fn registration_outcome(
        &self,
        exited: Option<(&Role, &str)>,
    ) -> Option<Result<(), String>> {
        if let Some(failure) = self.failure.clone() {
            return Some(Err(failure));
        }
        if let Some((role, status)) = exited {
            return Some(Err(format!(
                "extension {:?} exited before registering ({status})",
                role.describe(),
            )));
        }
        self.expected_external.is_empty().then_some(Ok(()))
    }

    /// Runtime init: `Ok` once the runtime and every extension wait for their next event; an
    /// error (type, message) when an API call failed the init, the runtime reported an init
    /// error, or a process (`exited`, the first that did) ended first.
    pub(crate) fn init_outcome(
        &self,
        exited: Option<(&Role, &str)>,
    ) -> Option<Result<(), (&'static str, String)>> {
        if let Some(failure) = self.failure.clone() {
            return Some(Err(("Extension.InitError", failure)));
        }
        if let Some(error_type) = &self.runtime.init_error {
            return Some(Err((
                "Runtime.InitError",
                format!("the function reported an init error ({error_type})"),
            )));
        }
        if let Some((role, status)) = exited {
            let error_type = match role {
                Role::Runtime => "Runtime.ExitError",
                Role::Extension(_) => "Extension.Crash",
            };
            return Some(Err((
                error_type,
                format!("{} exited during init ({status})", role.describe()),
            )));
        }
        let ready = self.runtime.first_next_at.is_some()
            && self.extensions.iter().all(ExtensionSlot::ready);
        ready.then_some(Ok(()))
    }

    /// Who init still waits for (the runtime, extensions by name), for a timeout's message.
    pub(crate) fn waiting_for(&self) -> Vec<String> {
        std::iter::once("runtime".to_string())
            .filter(|_| self.runtime.first_next_at.is_none())
            .chain(
                self.extensions
                    .iter()
                    .filter(|e| !e.ready())
                    .map(|e| e.name.clone()),
            )
            .collect()
    }

    /// Init ended: registration closes and the init's last records go out. In Lambda's order
    /// (see [`InitRecordOrder`]) `initRuntimeDone`, then one `platform.extension` per extension
    /// with its final state, then `initReport`; in the `AtRuntimeNext` order only `initReport`
    /// (and `initRuntimeDone` when the runtime never got that far). Returns the init that ended.
    pub(crate) fn end_init(&mut self, end: InitEnd) -> (Option<InitProgress>, Vec<Effect>) {
        let progress = self.init.take();
        self.registration = Registration::Closed;
        let Some(phase) = progress.as_ref().map(|p| p.phase) else {
            return (None, Vec::new());
        };
        let (status, error_type) = match &end.failure {
            Some((status, error_type)) => (*status, Some(error_type.clone())),
            None => ("success", None),
        };
        let runtime_done = progress
            .as_ref()
            .is_some_and(|p| p.runtime_done_at.is_some());
        let mut effects = Vec::new();
        if self.lambda_order() || (end.failure.is_some() && !runtime_done) {
            effects.push(Effect::Emit(self.runtime_done_record(
                phase,
                status,
                error_type.clone(),
            )));
        }
        if self.lambda_order() {
            effects.extend(self.extensions.iter().map(|e| {
                let (state, error_type) = e.init_state();
                Effect::Emit(RecordBody::Extension(Extension {
                    name: e.name.clone(),
                    state: state.into(),
                    events: e.events.clone(),
                    error_type,
                }))
            }));
        }
        let metrics = DurationMetrics {
            duration_ms: end.duration_ms,
        };
        let report = if self.restoring(phase) {
            RecordBody::RestoreReport(RestoreReport {
                status: status.into(),
                error_type,
                metrics,
                spans: Vec::new(),
            })
        } else {
            RecordBody::InitReport(InitReport {
                initialization_type: self.facts.initialization_type.as_str().into(),
                phase: phase.into(),
                status: status.into(),
                error_type,
                metrics,
                spans: Vec::new(),
            })
        };
        effects.push(Effect::Emit(report));
        (progress, effects)
    }

    fn runtime_done_record(
        &self,
        phase: &'static str,
        status: &str,
        error_type: Option<String>,
    ) -> RecordBody {
        if self.restoring(phase) {
            return RecordBody::RestoreRuntimeDone(RestoreRuntimeDone {
                status: status.into(),
                error_type,
                spans: Vec::new(),
            });
        }
        RecordBody::InitRuntimeDone(InitRuntimeDone {
            initialization_type: self.facts.initialization_type.as_str().into(),
            phase: phase.into(),
            status: status.into(),
            error_type,
            spans: Vec::new(),
        })
    }

    // -----------------------------------------------------------------------------------------
    // API calls

    /// `/extension/register` of `name` for `events`, to be known as `id`. Refused: an unknown
    /// event type, more than [`MAX_EXTENSIONS`], a name registered already, an internal
    /// extension after the runtime's first `/next` (which also fails the init), or an internal
    /// extension subscribing to SHUTDOWN.
    pub(crate) fn register(
        &mut self,
        name: &str,
        events: Vec<String>,
        id: String,
        now: Instant,
    ) -> Result<Vec<Effect>, Refusal> {
        if let Some(bad) = events.iter().find(|e| *e != INVOKE && *e != SHUTDOWN) {
            return Err(Refusal::forbidden(
                "Extension.InvalidEventType",
                format!("{bad}: unknown event type"),
            ));
        }
        // Managed Instances: an external extension may ask for SHUTDOWN only, an internal one
        // for nothing (AWS's emulator: `ValidateExternalAgentEvent`, "No events allowed for
        // internal extensions"; both answered 403 `Extension.InvalidEventType`).
        if self.managed_instances() {
            let internal = !self.expected_external.contains(name);
            if let Some(bad) = events.iter().find(|e| internal || *e != SHUTDOWN) {
                return Err(Refusal::forbidden(
                    "Extension.InvalidEventType",
                    format!("{bad}: ErrorInvalidEventType (Lambda Managed Instances deliver SHUTDOWN only, and nothing to internal extensions)"),
                ));
            }
        }
        if self.extensions.iter().any(|e| e.name == name) {
            return Err(Refusal::forbidden(
                "Extension.InvalidExtensionState",
                format!("extension {name} is registered already"),
            ));
        }
        if self.extensions.len() >= MAX_EXTENSIONS {
            return Err(Refusal::forbidden(
                "Extension.TooManyExtensions",
                format!("Extension limit ({MAX_EXTENSIONS}) reached: {name} cannot register"),
            ));
        }
        let external = self.expected_external.remove(name);
        if !external {
            if self.registration == Registration::Closed {
                // Lambda refuses it; during init the init fails with it.
                let message = format!(
                    "extension {name} tried to register after the runtime's first /next: registration is closed (Extension.RegistrationClosed)"
                );
                if self.init.is_some() {
                    self.failure = Some(message.clone());
                }
                return Err(Refusal::forbidden("Extension.RegistrationClosed", message));
            }
            if events.iter().any(|e| e == SHUTDOWN) {
                return Err(Refusal::forbidden(
                    "Extension.InvalidEventType",
                    "SHUTDOWN: internal extensions cannot subscribe to SHUTDOWN",
                ));
            }
        }
        self.extensions.push(ExtensionSlot {
            id,
            name: name.to_string(),
            events: events.clone(),
            external,
            nexts: 0,
            enqueued: 0,
            registered_at: now,
            first_next_at: None,
            init_error: None,
        });
        if self.lambda_order() {
            return Ok(Vec::new());
        }
        Ok(vec![Effect::Emit(RecordBody::Extension(Extension {
            name: name.to_string(),
            state: "Ready".into(),
            events,
            error_type: None,
        }))])
    }

    /// The runtime asks for its next invocation: the first ask ends runtime init and closes
    /// registration (`initRuntimeDone` goes out now only in the `AtRuntimeNext` order).
    pub(crate) fn runtime_next(&mut self, now: Instant) -> Vec<Effect> {
        if self.runtime.first_next_at.is_some() {
            return Vec::new();
        }
        self.runtime.first_next_at = Some(now);
        if self.registration == Registration::Internal {
            self.registration = Registration::Closed;
        }
        let Some(init) = self.init.as_mut() else {
            return Vec::new();
        };
        init.runtime_done_at = Some(now);
        let phase = init.phase;
        if self.lambda_order() {
            return Vec::new();
        }
        vec![Effect::Emit(
            self.runtime_done_record(phase, "success", None),
        )]
    }

    /// `/event/next` of the extension `id`: it waits for its next event from now on.
    pub(crate) fn extension_next(&mut self, id: &str, now: Instant) -> Result<(), Refusal> {
        let ext = self
            .extensions
            .iter_mut()
            .find(|e| e.id == id)
            .ok_or_else(Refusal::unknown_extension)?;
        ext.nexts += 1;
        ext.first_next_at.get_or_insert(now);
        Ok(())
    }

    /// The name the extension `id` registered with.
    pub(crate) fn extension_name(&self, id: &str) -> Option<&str> {
        self.extensions
            .iter()
            .find(|e| e.id == id)
            .map(|e| e.name.as_str())
    }

    /// `/runtime/init/error`: only during the runtime's init (before its first `/next`).
    pub(crate) fn runtime_init_error(&mut self, error_type: String) -> Result<(), Refusal> {
        if self.init.is_none() || self.runtime.first_next_at.is_some() {
            return Err(Refusal::forbidden(
                "InvalidStateTransition",
                "init/error is only valid during the runtime's init",
            ));
        }
        self.runtime.init_error = Some(error_type);
        Ok(())
    }

    /// `/extension/init/error` of the extension `id`: the init fails.
    pub(crate) fn extension_init_error(
        &mut self,
        id: &str,
        error_type: &str,
    ) -> Result<(), Refusal> {
        let name = self
            .extension_name(id)
            .ok_or_else(Refusal::unknown_extension)?
            .to_string();
        if self.init.is_none() {
            return Err(Refusal::forbidden(
                "Extension.InvalidExtensionState",
                "init/error is only valid during init",
            ));
        }
        self.failure = Some(format!(
            "extension {name} reported an init error ({error_type})"
        ));
        if let Some(ext) = self.extensions.iter_mut().find(|e| e.id == id) {
            ext.init_error = Some(error_type.to_string());
        }
        Ok(())
    }

    /// `/invocation/next` handed `request_id` to the runtime.
    pub(crate) fn runtime_took(&mut self, request_id: &str) {
        self.runtime.taken.insert(request_id.to_string());
    }

    /// The invocation `request_id` is over (reported): its answer, or a late one, is no
    /// longer accepted.
    pub(crate) fn finish_invocation(&mut self, request_id: &str) {
        self.runtime.taken.remove(request_id);
        self.runtime.outcomes.remove(request_id);
    }

    /// The runtime posted the answer (response or error) for `request_id`: only for an
    /// invocation it holds (one it took with `/next` and is not finished), and only once.
    pub(crate) fn runtime_answer(
        &mut self,
        request_id: &str,
        outcome: RuntimeOutcome,
    ) -> Result<(), Refusal> {
        if !self.runtime.taken.contains(request_id) {
            return Err(Refusal {
                status: StatusCode::BAD_REQUEST,
                error_type: "InvalidRequestID",
                message: format!("request {request_id} is not an invocation in progress"),
            });
        }
        if self.runtime.outcomes.contains_key(request_id) {
            return Err(Refusal::forbidden(
                "InvalidStateTransition",
                format!("request {request_id} was answered already"),
            ));
        }
        self.runtime
            .outcomes
            .insert(request_id.to_string(), outcome);
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Invoke

    /// An invocation starts: `platform.start`, the invocation for the runtime, and INVOKE for
    /// every extension that subscribed to it.
    pub(crate) fn dispatch_invoke(&mut self, invocation: Invocation, version: &str) -> Vec<Effect> {
        let mut effects = vec![Effect::Emit(RecordBody::Start(Start {
            request_id: invocation.request_id.clone(),
            tenant_id: invocation.caller.tenant_id.clone(),
            version: Some(version.to_string()),
            tracing: Some(trace_context(&invocation.trace_id)),
        }))];
        for ext in self.extensions.iter_mut().filter(|e| e.wants(INVOKE)) {
            ext.enqueued += 1;
            effects.push(Effect::Deliver {
                extension_id: ext.id.clone(),
                event: NextEvent::Invoke(Invoke {
                    deadline_ms: invocation.deadline_ms,
                    request_id: invocation.request_id.clone(),
                    invoked_function_arn: invocation.function_arn.clone(),
                    tracing: Tracing::x_ray(invocation.trace_id.clone()),
                }),
            });
        }
        effects.insert(1, Effect::Invoke(invocation));
        effects
    }

    /// What the runtime answered for `request_id`, once it did.
    pub(crate) fn answer_for(&self, request_id: &str) -> Option<RuntimeOutcome> {
        self.runtime.outcomes.get(request_id).cloned()
    }

    /// After the runtime answered, the invocation is complete when every INVOKE subscriber asked
    /// for its next event: `Some(false)` then; `Some(true)` when the ones still working are all
    /// external extensions that exited (`exited`, by name: the invocation failed); `None` while
    /// one still works.
    pub(crate) fn extensions_done(&self, exited: &BTreeSet<String>) -> Option<bool> {
        let pending: Vec<&ExtensionSlot> = self
            .extensions
            .iter()
            .filter(|e| e.wants(INVOKE) && !e.ready())
            .collect();
        pending
            .iter()
            .all(|e| e.external && exited.contains(&e.name))
            .then_some(!pending.is_empty())
    }

    // -----------------------------------------------------------------------------------------
    // Shutdown

    /// Shutdown, first step: how the runtime is stopped (it goes first, before any extension
    /// hears of the shutdown). AWS's graceful shutdown with extensions: up to 300 ms for the
    /// runtime, 500 ms with an internal extension, never more than the whole `deadline`.
    pub(crate) fn runtime_stop(&self, deadline: Duration) -> RuntimeStop {
        if self.extensions.is_empty() {
            return RuntimeStop::Kill;
        }
        // AWS's emulator for Managed Instances gives the runtime 600 ms after SIGTERM.
        if self.managed_instances() {
            return RuntimeStop::Term {
                grace: Duration::from_millis(600).min(deadline),
            };
        }
        let internal = self.extensions.iter().any(|e| !e.external);
        let grace = Duration::from_millis(if internal { 500 } else { 300 });
        RuntimeStop::Term {
            grace: grace.min(deadline),
        }
    }

    /// Shutdown, second step (the runtime is gone): SHUTDOWN to every extension that
    /// subscribed to it, with the kill time `deadline_ms`. Returns the effects and the names of
    /// the extensions that subscribed: nothing but a signal can stop the other processes.
    pub(crate) fn shutdown_extensions(
        &mut self,
        reason: ShutdownReason,
        deadline_ms: i64,
    ) -> (Vec<Effect>, BTreeSet<String>) {
        let mut effects = Vec::new();
        let mut subscribed = BTreeSet::new();
        for ext in self.extensions.iter_mut().filter(|e| e.wants(SHUTDOWN)) {
            subscribed.insert(ext.name.clone());
            ext.enqueued += 1;
            effects.push(Effect::Deliver {
                extension_id: ext.id.clone(),
                event: NextEvent::Shutdown(Shutdown {
                    shutdown_reason: reason.as_str().into(),
                    deadline_ms,
                }),
            });
        }
        (effects, subscribed)
    }

    /// The init figure `platform.report` carries for an invocation that paid `init_duration_ms`
    /// after an init in `last_phase`: (`initDurationMs`, `restoreDurationMs`). The first report
    /// after a SnapStart restore names it a restore.
    pub(crate) fn report_init(
        &self,
        init_duration_ms: Option<f64>,
        last_phase: Option<&str>,
    ) -> (Option<f64>, Option<f64>) {
        let restored =
            init_duration_ms.is_some() && self.facts.restore && last_phase == Some("init");
        if restored {
            (None, init_duration_ms)
        } else {
            (init_duration_ms, None)
        }
    }

    /// The processes are gone: nobody is registered, nothing is pending.
    pub(crate) fn reset(&mut self) {
        self.registration = Registration::Closed;
        self.extensions.clear();
        self.runtime = RuntimeSlot::default();
    }
}

mod invocation;
use invocation::trace_context;
pub(crate) use invocation::{
    report_record, runtime_done_record, InvokeEnd, InvokeFigures, ReportEnd, RuntimeEnd,
    RuntimeOutcome,
};

#[cfg(test)]
mod tests;
