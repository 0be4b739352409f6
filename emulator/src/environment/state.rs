//! The environment's mutable state, shared by its phases and the API handlers: what the APIs
//! were told ([`ApiState`], whose rules are pure), the queues the runtime's and extensions'
//! `/next` calls wait on, and the processes of the current generation.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use lambda_wire::extensions::NextEvent;
use lambda_wire::telemetry::RecordBody;
use tokio::sync::{mpsc, Mutex as AsyncMutex};

use super::contract::InitSummary;
use super::rules::{ApiState, Effect, Invocation, Role};

/// What a `/next` call waits on: one receiver, shared by whoever asks (one at a time).
pub(crate) type Receiver<T> = Arc<AsyncMutex<mpsc::UnboundedReceiver<T>>>;

/// A queue of things handed to one `/next` caller.
pub(crate) struct Queue<T> {
    tx: mpsc::UnboundedSender<T>,
    pub(crate) rx: Receiver<T>,
}

impl<T> Queue<T> {
    pub(crate) fn new() -> Queue<T> {
        let (tx, rx) = mpsc::unbounded_channel();
        Queue {
            tx,
            rx: Arc::new(AsyncMutex::new(rx)),
        }
    }

    fn send(&self, item: T) {
        // The receiver lives as long as the queue: a send cannot fail.
        let _ = self.tx.send(item);
    }
}

/// A child process of the current generation.
#[derive(Clone, Debug)]
pub(crate) struct ProcSlot {
    pub(crate) role: Role,
    pub(crate) pid: u32,
    pub(crate) spawning_at: Instant,
    pub(crate) spawned_at: Instant,
    pub(crate) exited: Option<String>,
    /// Its stdout/stderr pipes not yet read to the end: shutdown waits for them so that every
    /// line a process wrote before it ended reaches the log.
    pub(crate) open_streams: u8,
}

/// The environment's mutable state, shared with the API handlers.
pub(crate) struct State {
    /// Bumped by every (re-)init: a new set of processes, registrations and subscriptions.
    pub(crate) generation: u64,
    pub(crate) api: ApiState,
    /// The runtime's `/invocation/next` queue.
    pub(crate) runtime_queue: Queue<Invocation>,
    /// Each registered extension's `/event/next` queue, by identifier.
    pub(crate) extension_queues: BTreeMap<String, Queue<NextEvent>>,
    pub(crate) procs: Vec<ProcSlot>,
    pub(crate) last_init: Option<InitSummary>,
    pub(crate) invocations: u64,
    pub(crate) stopped: bool,
}

impl State {
    pub(crate) fn new(api: ApiState) -> State {
        State {
            generation: 0,
            api,
            runtime_queue: Queue::new(),
            extension_queues: BTreeMap::new(),
            procs: Vec::new(),
            last_init: None,
            invocations: 0,
            stopped: false,
        }
    }

    /// New queues for new processes: whatever the old ones held is gone with them.
    pub(crate) fn reset_queues(&mut self) {
        self.runtime_queue = Queue::new();
        self.extension_queues.clear();
    }

    /// Queues an invocation or event the rules decided on; a record is handed back (records
    /// are emitted outside the lock).
    pub(crate) fn queue(&mut self, effect: Effect) -> Option<RecordBody> {
        match effect {
            Effect::Emit(record) => return Some(record),
            Effect::Invoke(invocation) => self.runtime_queue.send(invocation),
            Effect::Deliver {
                extension_id,
                event,
            } => {
                if let Some(queue) = self.extension_queues.get(&extension_id) {
                    queue.send(event);
                }
            }
        }
        None
    }

    /// The queue of the extension `id` (made at its registration).
    pub(crate) fn extension_queue(&mut self, id: &str) -> Receiver<NextEvent> {
        self.extension_queues
            .entry(id.to_string())
            .or_insert_with(Queue::new)
            .rx
            .clone()
    }

    /// The first process of this generation that exited, with how it ended.
    pub(crate) fn first_exit(&self) -> Option<(&Role, &str)> {
        self.procs
            .iter()
            .find_map(|p| p.exited.as_deref().map(|status| (&p.role, status)))
    }

    /// How the runtime process ended, if it did.
    pub(crate) fn runtime_exit(&self) -> Option<String> {
        self.procs
            .iter()
            .find(|p| p.role == Role::Runtime)
            .and_then(|p| p.exited.clone())
    }

    /// The extension processes that exited, by name.
    pub(crate) fn exited_extensions(&self) -> BTreeSet<String> {
        self.procs
            .iter()
            .filter(|p| p.exited.is_some())
            .filter_map(|p| match &p.role {
                Role::Extension(name) => Some(name.clone()),
                Role::Runtime => None,
            })
            .collect()
    }

    pub(crate) fn live_pids(&self) -> Vec<u32> {
        self.procs
            .iter()
            .filter(|p| p.exited.is_none())
            .map(|p| p.pid)
            .collect()
    }
}
