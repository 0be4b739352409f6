//! What each Runtime / Extensions API call does to the environment: the handlers (which only
//! speak HTTP) call these; each takes the lock, asks the rules (`rules.rs`) and carries out
//! their effects (records, queued events) outside it, then wakes the phases waiting for a
//! change.

use std::time::Instant;

use lambda_wire::extensions::NextEvent;

use super::ids::new_uuid;
use super::rules::{Invocation, Refusal, RuntimeOutcome};
use super::shared::Shared;
use super::state::{Queue, Receiver};

impl Shared {
    /// The runtime asks for its next invocation: the first ask ends runtime init and closes
    /// registration.
    pub(crate) fn runtime_next(&self) -> Receiver<Invocation> {
        let (queue, effects) = {
            let mut state = self.lock();
            let effects = state.api.runtime_next(Instant::now());
            (state.runtime_queue.rx.clone(), effects)
        };
        self.apply(effects);
        queue
    }

    /// `/next` handed `request_id` to the runtime.
    pub(crate) fn runtime_took(&self, request_id: &str) {
        self.lock().api.runtime_took(request_id);
    }

    /// The runtime posted the answer for `request_id`.
    pub(crate) fn runtime_answer(
        &self,
        request_id: &str,
        outcome: RuntimeOutcome,
    ) -> Result<(), Refusal> {
        self.lock().api.runtime_answer(request_id, outcome)?;
        self.bump();
        Ok(())
    }

    /// The runtime reported that its init failed.
    pub(crate) fn runtime_init_error(&self, error_type: String) -> Result<(), Refusal> {
        self.lock().api.runtime_init_error(error_type)?;
        self.bump();
        Ok(())
    }

    /// `/extension/register`: returns the new extension's identifier.
    pub(crate) fn register_extension(
        &self,
        name: &str,
        events: Vec<String>,
    ) -> Result<String, Refusal> {
        let id = new_uuid();
        let registered = {
            let mut state = self.lock();
            let registered = state.api.register(name, events, id.clone(), Instant::now());
            if registered.is_ok() {
                state.extension_queues.insert(id.clone(), Queue::new());
            }
            registered
        };
        match registered {
            Ok(effects) => {
                self.apply(effects);
                Ok(id)
            }
            Err(refusal) => {
                // A refusal may fail the init (registration closed): the phase must hear of it.
                self.bump();
                Err(refusal)
            }
        }
    }

    /// `/extension/event/next`: the queue this extension's next event comes from.
    pub(crate) fn extension_next(&self, id: &str) -> Result<Receiver<NextEvent>, Refusal> {
        let queue = {
            let mut state = self.lock();
            state.api.extension_next(id, Instant::now())?;
            state.extension_queue(id)
        };
        self.bump();
        Ok(queue)
    }

    /// `/extension/init/error`: the init fails.
    pub(crate) fn extension_init_error(&self, id: &str, error_type: &str) -> Result<(), Refusal> {
        self.lock().api.extension_init_error(id, error_type)?;
        self.bump();
        Ok(())
    }

    /// `/extension/exit/error`: recorded; the extension exits next.
    pub(crate) fn extension_exit_error(&self, id: &str, error_type: &str) -> Result<(), Refusal> {
        let name = self
            .extension_name(id)
            .ok_or_else(Refusal::unknown_extension)?;
        tracing::info!(extension = %name, %error_type, "extension reported an exit error");
        Ok(())
    }
}
