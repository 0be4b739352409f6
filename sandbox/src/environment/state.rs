//! The environment's mutable state, shared by its phases and the API handlers: the runtime's
//! and each extension's side of the APIs, the processes of the current generation, and who may
//! register right now.

use super::*;

/// One invocation handed to the runtime by `/next`.
#[derive(Clone, Debug)]
pub(crate) struct Invocation {
    pub(crate) request_id: String,
    pub(crate) payload: Bytes,
    pub(crate) deadline_ms: u64,
    pub(crate) function_arn: String,
    pub(crate) trace_id: String,
    pub(crate) caller: Caller,
}

/// Who called, when the invoke said so (client context, Cognito identity).
#[derive(Clone, Debug, Default)]
pub(crate) struct Caller {
    pub(crate) client_context: Option<String>,
    pub(crate) cognito_identity: Option<CognitoIdentity>,
}

/// What the runtime posted for an invocation.
#[derive(Clone, Debug)]
pub(crate) enum RuntimeOutcome {
    Response(Bytes),
    Error { error_type: String, body: Bytes },
}

/// The runtime's side of the Runtime API.
pub(crate) struct RuntimeSlot {
    pub(crate) first_next_at: Option<Instant>,
    pub(crate) queue_tx: mpsc::UnboundedSender<Invocation>,
    pub(crate) queue_rx: Arc<AsyncMutex<mpsc::UnboundedReceiver<Invocation>>>,
    /// The request handed out by the last `/next`, awaiting its answer.
    pub(crate) current: Option<String>,
    pub(crate) outcome: Option<(String, RuntimeOutcome)>,
    pub(crate) init_error: Option<String>,
}

impl RuntimeSlot {
    pub(crate) fn new() -> RuntimeSlot {
        let (queue_tx, queue_rx) = mpsc::unbounded_channel();
        RuntimeSlot {
            first_next_at: None,
            queue_tx,
            queue_rx: Arc::new(AsyncMutex::new(queue_rx)),
            current: None,
            outcome: None,
            init_error: None,
        }
    }
}

/// A registered extension.
pub(crate) struct ExtensionSlot {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) events: Vec<String>,
    /// Registered under the name of an executable in `extensions/` (else: internal).
    pub(crate) external: bool,
    /// `/event/next` calls so far, and events queued for it so far: the extension is waiting
    /// for its next event (ready) when it asked more often than it was given something.
    pub(crate) nexts: u64,
    pub(crate) enqueued: u64,
    pub(crate) registered_at: Instant,
    pub(crate) first_next_at: Option<Instant>,
    /// The `Lambda-Extension-Function-Error-Type` of its `/init/error`, if it sent one.
    pub(crate) init_error: Option<String>,
    pub(crate) tx: mpsc::UnboundedSender<ExtensionEvent>,
    pub(crate) rx: Arc<AsyncMutex<mpsc::UnboundedReceiver<ExtensionEvent>>>,
}

impl ExtensionSlot {
    pub(crate) fn new(id: String, name: String, events: Vec<String>, external: bool) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        ExtensionSlot {
            id,
            name,
            events,
            external,
            nexts: 0,
            enqueued: 0,
            registered_at: Instant::now(),
            first_next_at: None,
            init_error: None,
            tx,
            rx: Arc::new(AsyncMutex::new(rx)),
        }
    }

    pub(crate) fn ready(&self) -> bool {
        self.nexts > self.enqueued
    }

    /// The extension's state as `platform.extension` reports it when init ends (RIE's agent
    /// state names) and its error type, if any.
    pub(crate) fn init_state(&self) -> (&'static str, Option<String>) {
        match &self.init_error {
            Some(error_type) => ("InitError", Some(error_type.clone())),
            None if self.first_next_at.is_some() => ("Ready", None),
            None => ("Registered", None),
        }
    }

    pub(crate) fn wants(&self, event: &str) -> bool {
        self.events.iter().any(|e| e == event)
    }

    pub(crate) fn send(&mut self, event: ExtensionEvent) {
        if self.tx.send(event).is_ok() {
            self.enqueued += 1;
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

/// A child process of the current generation.
#[derive(Clone, Debug)]
pub(crate) struct ProcSlot {
    pub(crate) role: Role,
    pub(crate) pid: u32,
    pub(crate) spawned_at: Instant,
    pub(crate) exited: Option<String>,
    /// Its stdout/stderr pipes not yet read to the end: shutdown waits for them so that every
    /// line a process wrote before it ended reaches the log.
    pub(crate) open_streams: u8,
}

/// The init in progress.
#[derive(Clone, Debug)]
pub(crate) struct InitProgress {
    pub(crate) phase: &'static str,
    pub(crate) runtime_done_at: Option<Instant>,
}

/// The environment's mutable state, shared with the API handlers.
pub(crate) struct State {
    /// Bumped by every (re-)init: a new set of processes, registrations and subscriptions.
    pub(crate) generation: u64,
    pub(crate) init: Option<InitProgress>,
    pub(crate) registration: Registration,
    /// Executables of `extensions/` that have not registered yet.
    pub(crate) expected_external: BTreeSet<String>,
    pub(crate) runtime: RuntimeSlot,
    pub(crate) extensions: Vec<ExtensionSlot>,
    pub(crate) procs: Vec<ProcSlot>,
    /// Why the current init must fail (set by the API handlers).
    pub(crate) failure: Option<String>,
    pub(crate) last_init: Option<InitSummary>,
    pub(crate) invocations: u64,
    pub(crate) stopped: bool,
}
