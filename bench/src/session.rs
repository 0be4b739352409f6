//! One extension under test, driven through Lambda's phases: init (spawn → first
//! `/event/next`), invocations (INVOKE written → next `/event/next`), shutdown.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::process::{ExtensionProcess, Memory, Output, SpawnOptions};
use crate::records::{request_id, EnvFacts};
use crate::server::{
    invoke_event, shutdown_event, ApiEvent, ApiServer, NextRequest, ServerOptions, Subscription,
    TelemetryMode,
};
use crate::telemetry_feed::{FeedStats, TelemetryFeed};

/// How long any single step may take before the run is declared broken.
const STEP_LIMIT: Duration = Duration::from_secs(10);

/// The clocks of one init, all measured by the server from the moment before `spawn`.
#[derive(Clone, Copy, Debug)]
pub struct InitTimes {
    pub register: Duration,
    pub subscribe: Option<Duration>,
    pub first_next: Duration,
}

/// What happened at shutdown.
#[derive(Debug)]
pub struct Finished {
    /// The process exited by itself after SHUTDOWN (rather than being killed).
    pub exited: bool,
    pub shutdown_time: Duration,
    pub output: Output,
    pub feed: FeedStats,
}

/// What runs the extension: a child process (what is measured) or a thread of the harness
/// running [`crate::null_extension`] (the harness's own floor).
pub enum Runner {
    Process(Box<ExtensionProcess>),
    Thread(tokio::task::JoinHandle<()>),
}

pub struct Session {
    server: ApiServer,
    pub runner: Runner,
    pub subscription: Option<Subscription>,
    feed: Option<TelemetryFeed>,
    facts: EnvFacts,
    waiting: Option<NextRequest>,
    pub extension_name: String,
    pub init: InitTimes,
    run: u32,
    invocations: u64,
    /// Whether the harness feeds telemetry records (start/runtimeDone/report per invoke).
    pub feed_invocations: bool,
}

impl Session {
    /// Spawns the extension and waits for its first `/event/next`.
    pub async fn start(options: &SpawnOptions, mode: TelemetryMode, run: u32) -> Result<Self> {
        let server = ApiServer::start(mode).await?;
        let process = ExtensionProcess::spawn(options, server.addr, run)?;
        let spawned_at = process.spawned_at;
        Self::init(
            server,
            Runner::Process(Box::new(process)),
            spawned_at,
            run,
            true,
        )
        .await
    }

    /// Spawns the extension against a server answering as `server` says (Lambda Managed
    /// Instances: INVOKE refused, one schema accepted) and waits for its first `/event/next`.
    /// No telemetry is fed: the driver sends the environment's records itself, because an
    /// on-demand init's records would be wrong there.
    pub async fn start_bare(
        options: &SpawnOptions,
        server: ServerOptions,
        run: u32,
    ) -> Result<Self> {
        let server = ApiServer::start_with(server).await?;
        let process = ExtensionProcess::spawn(options, server.addr, run)?;
        let spawned_at = process.spawned_at;
        let mut session = Self::init(
            server,
            Runner::Process(Box::new(process)),
            spawned_at,
            run,
            false,
        )
        .await?;
        session.feed_invocations = false;
        Ok(session)
    }

    /// Runs the null extension on its own thread and runtime inside the harness: no exec, no
    /// process, the same loopback HTTP. What remains is the harness's own overhead.
    pub async fn start_in_process(run: u32) -> Result<Self> {
        let server = ApiServer::start(TelemetryMode::NotSupported).await?;
        let api = server.addr.to_string();
        let spawned_at = Instant::now();
        let thread = tokio::task::spawn_blocking(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a current-thread runtime");
            if let Err(err) = runtime.block_on(crate::null_extension::run(&api, "in_process")) {
                tracing::debug!("in-process extension ended: {err:#}");
            }
        });
        Self::init(server, Runner::Thread(thread), spawned_at, run, true).await
    }

    /// Waits for the first `/event/next`; with `init_records`, feeds the on-demand init's
    /// records as Lambda would.
    async fn init(
        mut server: ApiServer,
        runner: Runner,
        spawned_at: Instant,
        run: u32,
        init_records: bool,
    ) -> Result<Self> {
        let facts = EnvFacts::new(format!("{run:016x}-bench-instance"));
        // The wall-clock time of the spawn, for the records Lambda would time from it.
        let spawned_wall = chrono::Utc::now()
            - chrono::Duration::from_std(spawned_at.elapsed())
                .unwrap_or_else(|_| chrono::Duration::zero());
        let mut register = None;
        let mut subscribe = None;
        let mut feed = None;
        let mut subscribed = None;
        let mut extension_name = String::new();
        let waiting = loop {
            match next_event(&mut server).await? {
                ApiEvent::Registered {
                    refused: true,
                    events,
                    ..
                } => bail!("the registration for {events:?} was refused"),
                ApiEvent::Registered { at, name, .. } => {
                    register = Some(at - spawned_at);
                    extension_name = name;
                }
                ApiEvent::Subscribed { at, subscription } => {
                    subscribe = Some(at - spawned_at);
                    subscribed = Some(subscription.clone());
                    let started = TelemetryFeed::start(subscription);
                    if init_records {
                        started.push([facts.init_start(spawned_wall)]);
                    }
                    feed = Some(started);
                }
                ApiEvent::Next(request) => break request,
                ApiEvent::ReportedError { path, .. } => {
                    bail!("the extension reported an error on {path}")
                }
            }
        };
        let first_next = waiting.at - spawned_at;
        let init = InitTimes {
            register: register.context("the extension asked for events without registering")?,
            subscribe,
            first_next,
        };
        if let (Some(feed), true) = (&feed, init_records) {
            feed.push(facts.init_done(&extension_name, spawned_wall, ms(first_next)));
        }
        Ok(Self {
            server,
            runner,
            subscription: subscribed,
            feed,
            facts,
            waiting: Some(waiting),
            extension_name,
            init,
            run,
            invocations: 0,
            feed_invocations: true,
        })
    }

    /// Sends one INVOKE; returns INVOKE written → next `/event/next` arrived.
    pub async fn invoke(&mut self) -> Result<Duration> {
        let waiting = self
            .waiting
            .take()
            .context("no extension waiting for an event")?;
        self.invocations += 1;
        let id = request_id(self.run, self.invocations);
        let written = waiting.send(&invoke_event(id.clone(), crate::process::FUNCTION_NAME));
        let next = loop {
            match next_event(&mut self.server).await? {
                ApiEvent::Next(request) => break request,
                ApiEvent::ReportedError { path, .. } => {
                    bail!("the extension reported an error on {path}")
                }
                other => tracing::debug!("ignored during invoke: {other:?}"),
            }
        };
        let t0 = written
            .await
            .context("the INVOKE response was never written")?;
        let t1 = next.at;
        self.waiting = Some(next);
        // The function "ran"; Lambda emits the invocation's platform records.
        if self.feed_invocations {
            if let Some(feed) = &self.feed {
                let init = (self.invocations == 1).then_some(ms(self.init.first_next));
                feed.push(self.facts.invocation(&id, init));
            }
        }
        Ok(t1.saturating_duration_since(t0))
    }

    /// Delivers buffered telemetry now (Lambda does so before SHUTDOWN).
    pub async fn flush(&self) {
        if let Some(feed) = &self.feed {
            feed.flush().await;
        }
    }

    pub fn has_telemetry(&self) -> bool {
        self.feed.is_some()
    }

    /// The extension process (None for the in-process floor).
    pub fn process(&self) -> Option<&ExtensionProcess> {
        match &self.runner {
            Runner::Process(p) => Some(p),
            Runner::Thread(_) => None,
        }
    }

    pub fn memory(&self) -> Option<Memory> {
        self.process().and_then(|p| p.memory().ok())
    }

    /// Sends SHUTDOWN and waits for the process to exit (killing it after 2 s, or at once if it
    /// asks for another event, which the `lambda-extension` crate's loop does).
    pub async fn shutdown(mut self) -> Result<Finished> {
        let feed = match self.feed.take() {
            Some(feed) => feed.finish().await,
            None => FeedStats::default(),
        };
        let waiting = self
            .waiting
            .take()
            .context("no extension waiting for an event")?;
        let started = Instant::now();
        // Whether the extension exits by itself is what the loop below observes.
        drop(waiting.send(&shutdown_event()));
        let deadline = started + Duration::from_secs(2);
        let mut exited = false;
        let mut output = Output::default();
        let shutdown_time;
        match self.runner {
            Runner::Process(mut process) => {
                loop {
                    tokio::select! {
                        done = process.wait_or_kill(deadline.saturating_duration_since(Instant::now())) => {
                            exited = done;
                            break;
                        }
                        event = self.server.next_event() => {
                            match event {
                                Some(ApiEvent::Next(_)) | None => {
                                    process.kill().await;
                                    break;
                                }
                                Some(_) => {}
                            }
                        }
                    }
                }
                shutdown_time = started.elapsed();
                drop(self.server);
                output = process.output().await;
            }
            Runner::Thread(thread) => {
                exited = tokio::time::timeout(Duration::from_secs(2), thread)
                    .await
                    .is_ok();
                shutdown_time = started.elapsed();
            }
        }
        Ok(Finished {
            exited,
            shutdown_time,
            output,
            feed,
        })
    }
}

async fn next_event(server: &mut ApiServer) -> Result<ApiEvent> {
    match tokio::time::timeout(STEP_LIMIT, server.next_event()).await {
        Ok(Some(event)) => Ok(event),
        Ok(None) => bail!("the API server stopped"),
        Err(_) => bail!("the extension did nothing for {STEP_LIMIT:?}"),
    }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}
