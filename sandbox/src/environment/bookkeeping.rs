//! The bookkeeping behind the Runtime, Extensions and Telemetry API handlers (which only speak
//! HTTP): what each call changes in the environment's state, and when a call is refused.

use super::*;

/// Why an API call was refused: (status, errorType, message).
pub(crate) type Refusal = (StatusCode, &'static str, String);

/// The bookkeeping behind the API handlers (the handlers themselves only speak HTTP).
impl Shared {
    /// The runtime asks for its next invocation: the first ask ends runtime init
    /// (`platform.initRuntimeDone`) and closes registration.
    pub(crate) fn runtime_next(&self) -> Arc<AsyncMutex<mpsc::UnboundedReceiver<Invocation>>> {
        let (queue, runtime_done) = {
            let mut state = self.lock();
            let mut runtime_done = None;
            if state.runtime.first_next_at.is_none() {
                let now = Instant::now();
                state.runtime.first_next_at = Some(now);
                if state.registration == Registration::Internal {
                    state.registration = Registration::Closed;
                }
                if let Some(init) = state.init.as_mut() {
                    init.runtime_done_at = Some(now);
                    runtime_done = Some(init.phase);
                }
            }
            (state.runtime.queue_rx.clone(), runtime_done)
        };
        // In Lambda's order the record waits for the extensions (see `InitRecordOrder`).
        let at_next = self.options.init_records == InitRecordOrder::AtRuntimeNext;
        if let Some(phase) = runtime_done.filter(|_| at_next) {
            self.emit(self.runtime_done_record(phase, "success", None));
        }
        self.bump();
        queue
    }

    /// Whether this environment belongs to a SnapStart function (the snapshot or a restore).
    pub(crate) fn snap_start(&self) -> bool {
        self.options.initialization_type == InitializationType::SnapStart
    }

    /// `/next` handed `request_id` to the runtime.
    pub(crate) fn runtime_took(&self, request_id: &str) {
        self.lock().runtime.current = Some(request_id.to_string());
    }

    /// The runtime posted the answer for `request_id`.
    pub(crate) fn runtime_answer(
        &self,
        request_id: &str,
        outcome: RuntimeOutcome,
    ) -> Result<(), Refusal> {
        {
            let mut state = self.lock();
            if state.runtime.current.as_deref() != Some(request_id) {
                return Err((
                    StatusCode::BAD_REQUEST,
                    "InvalidRequestID",
                    format!("request {request_id} is not the current invocation"),
                ));
            }
            if state
                .runtime
                .outcome
                .as_ref()
                .is_some_and(|(id, _)| id == request_id)
            {
                return Err((
                    StatusCode::FORBIDDEN,
                    "InvalidStateTransition",
                    format!("request {request_id} was answered already"),
                ));
            }
            state.runtime.outcome = Some((request_id.to_string(), outcome));
        }
        self.bump();
        Ok(())
    }

    /// The runtime reported that its init failed.
    pub(crate) fn runtime_init_error(&self, error_type: String) -> Result<(), Refusal> {
        {
            let mut state = self.lock();
            if state.init.is_none() || state.runtime.first_next_at.is_some() {
                return Err((
                    StatusCode::FORBIDDEN,
                    "InvalidStateTransition",
                    "init/error is only valid during the runtime's init".into(),
                ));
            }
            state.runtime.init_error = Some(error_type);
        }
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
        {
            let mut state = self.lock();
            if state.extensions.iter().any(|e| e.name == name) {
                return Err((
                    StatusCode::FORBIDDEN,
                    "Extension.InvalidExtensionState",
                    format!("extension {name} is registered already"),
                ));
            }
            let external = state.expected_external.remove(name);
            if !external {
                if state.registration == Registration::Closed {
                    // Lambda refuses it; during init the init fails with it.
                    let message = format!(
                        "extension {name} tried to register after the runtime's first /next: registration is closed (Extension.RegistrationClosed)"
                    );
                    if state.init.is_some() {
                        state.failure = Some(message.clone());
                    }
                    drop(state);
                    self.bump();
                    return Err((
                        StatusCode::FORBIDDEN,
                        "Extension.RegistrationClosed",
                        message,
                    ));
                }
                if events.iter().any(|e| e == "SHUTDOWN") {
                    return Err((
                        StatusCode::FORBIDDEN,
                        "Extension.InvalidEventType",
                        "SHUTDOWN: internal extensions cannot subscribe to SHUTDOWN".into(),
                    ));
                }
            }
            state.extensions.push(ExtensionSlot::new(
                id.clone(),
                name.to_string(),
                events.clone(),
                external,
            ));
        }
        if self.options.init_records == InitRecordOrder::AtRuntimeNext {
            self.emit(Record::Extension(telemetry::PlatformExtension {
                name: name.to_string(),
                state: "Ready".into(),
                events,
                error_type: None,
            }));
        }
        self.bump();
        Ok(id)
    }

    /// `/extension/event/next`: the queue this extension's next event comes from.
    pub(crate) fn extension_next(
        &self,
        id: &str,
    ) -> Result<Arc<AsyncMutex<mpsc::UnboundedReceiver<ExtensionEvent>>>, Refusal> {
        let queue = {
            let mut state = self.lock();
            let Some(ext) = state.extensions.iter_mut().find(|e| e.id == id) else {
                return Err(unknown_extension());
            };
            ext.nexts += 1;
            ext.first_next_at.get_or_insert_with(Instant::now);
            ext.rx.clone()
        };
        self.bump();
        Ok(queue)
    }

    /// `/extension/init/error`: the init fails.
    pub(crate) fn extension_init_error(&self, id: &str, error_type: &str) -> Result<(), Refusal> {
        {
            let mut state = self.lock();
            let Some(name) = state
                .extensions
                .iter()
                .find(|e| e.id == id)
                .map(|e| e.name.clone())
            else {
                return Err(unknown_extension());
            };
            if state.init.is_none() {
                return Err((
                    StatusCode::FORBIDDEN,
                    "Extension.InvalidExtensionState",
                    "init/error is only valid during init".into(),
                ));
            }
            state.failure = Some(format!(
                "extension {name} reported an init error ({error_type})"
            ));
            if let Some(ext) = state.extensions.iter_mut().find(|e| e.id == id) {
                ext.init_error = Some(error_type.to_string());
            }
        }
        self.bump();
        Ok(())
    }

    /// `/extension/exit/error`: recorded; the extension exits next.
    pub(crate) fn extension_exit_error(&self, id: &str, error_type: &str) -> Result<(), Refusal> {
        let name = self.extension_name(id).ok_or_else(unknown_extension)?;
        tracing::info!(extension = %name, %error_type, "extension reported an exit error");
        Ok(())
    }

    /// What `/extension/register` answers besides the identifier.
    pub(crate) fn function_metadata(&self) -> (&str, &str, &str) {
        (
            &self.config.function_name,
            &self.config.version,
            &self.config.handler,
        )
    }
}

fn unknown_extension() -> Refusal {
    (
        StatusCode::FORBIDDEN,
        "Extension.UnknownExtensionIdentifier",
        "unknown Lambda-Extension-Identifier".into(),
    )
}
