//! The experiment behind coldmark, in one command: the clock function (with the coldmark layer)
//! in the sandbox, a request every `--interval-ms` through the Function URL, `USER` changed from
//! `user` to `user2` after `--change-after` requests through the same UpdateFunctionConfiguration
//! call the AWS CLI makes, and a verdict: did the change cause a new init, between which requests,
//! how long it took and who paid for it (function / extensions / coldmark itself).
//!
//! The verdict is built from what a user can see: the answers (`time_out_of_handler` changes
//! only in a new environment) and the markers as they reach the sandbox's log sink (what
//! CloudWatch Logs would hold). The sandbox's own bookkeeping only links requests to
//! environments. Why each environment started is not decided here: the markers go through
//! `coldmark-explain`'s attribution, the same code that explains a real function's logs, so
//! the experiment and the tool cannot disagree on what a configuration change is.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use coldmark_explain::marker::{InitFields, Kind, Source};
use coldmark_explain::{attribute_all, Attribution, Cause, Marker, Observation, Settings};
use lambda_emulator::control_plane::ControlPlaneEvent;
use lambda_emulator::environment::FunctionConfig;

use crate::collector::MarkerRecord;
use crate::front_end::{self, Launch, SandboxOptions, FUNCTION_NAME};
use crate::lambda_client::{set_variable, wait_until_updated};
use crate::output::{short, Printer, Record};
use crate::probe::{summarize, Prober, ResponseRecord};

/// What `experiment` was asked to do.
#[derive(Clone, Debug)]
pub struct ExperimentOptions {
    pub interval: Duration,
    pub requests: usize,
    /// `USER` changes after this many requests.
    pub change_after: usize,
    pub user_before: String,
    pub user_after: String,
    /// The function's other variables, the same before and after the change.
    pub variables: BTreeMap<String, String>,
    pub sandbox: SandboxOptions,
}

impl Default for ExperimentOptions {
    fn default() -> Self {
        Self {
            interval: Duration::from_millis(500),
            requests: 12,
            change_after: 6,
            user_before: "user".into(),
            user_after: "user2".into(),
            variables: BTreeMap::new(),
            sandbox: SandboxOptions::default(),
        }
    }
}

/// The configuration change, as made.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ConfigUpdateRecord {
    /// Made after this many requests.
    pub after_request: usize,
    pub variable: String,
    pub from: String,
    pub to: String,
    /// What UpdateFunctionConfiguration answered (`InProgress`, as on Lambda).
    pub last_update_status: String,
    /// What GetFunctionConfiguration said once the update was applied (`Successful`), polled
    /// as `aws lambda wait function-updated` does.
    #[serde(default)]
    pub applied_status: Option<String>,
    pub revision_id: String,
}

impl Record for ConfigUpdateRecord {
    const TYPE: &'static str = "config_update";

    fn text(&self) -> String {
        format!(
            "---- UpdateFunctionConfiguration after request #{}: {} {} -> {} (LastUpdateStatus {}{}) ----",
            self.after_request,
            self.variable,
            self.from,
            self.to,
            self.last_update_status,
            self.applied_status
                .as_deref()
                .filter(|s| *s != self.last_update_status)
                .map(|s| format!(" -> {s}"))
                .unwrap_or_default()
        )
    }
}

/// One execution environment as the experiment saw it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EnvironmentSummary {
    /// The sandbox's id (the Telemetry API's `instanceId`), when known.
    pub env_id: Option<String>,
    pub time_out_of_handler: String,
    pub env_user: Option<String>,
    pub first_request: usize,
    pub last_request: usize,
    pub requests: usize,
    /// From the init marker, else from the platform's report.
    pub init_duration_ms: Option<f64>,
    pub runtime_init_ms: Option<f64>,
    pub extensions_init_ms: Option<f64>,
    pub coldmark_init_ms: Option<f64>,
    pub init_type: Option<String>,
    pub init_phase: Option<String>,
    pub config_fingerprint: Option<String>,
    /// The `reason` of its shutdown marker.
    pub shutdown_reason: Option<String>,
    /// The kinds of marker it printed, in order.
    pub markers: Vec<String>,
    /// Why it started, as `coldmark-explain` attributes its init marker (none without one).
    pub cause: Option<Cause>,
    /// That attribution's evidence, in words.
    pub evidence: Option<String>,
}

/// The experiment's answer.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Verdict {
    /// The first request after the change was answered by a new environment, and (when its
    /// init marker arrived) `coldmark-explain` attributes that environment to
    /// `configuration-change`.
    pub new_init_after_change: bool,
    /// The two requests between which that new environment appeared.
    pub init_between: Option<[usize; 2]>,
    pub change_after: usize,
    pub env_user_before: Option<String>,
    pub env_user_after: Option<String>,
    /// Environments seen in the answers (distinct `time_out_of_handler`).
    pub inits: usize,
    /// Init markers received.
    pub init_markers: usize,
    /// The new environment's init duration.
    pub init_duration_ms: Option<f64>,
    /// Whether the environments before and after the change report different
    /// `config_fingerprint`s (null without markers).
    pub fingerprints_differ: Option<bool>,
    pub markers_present: bool,
    /// The cause `coldmark-explain` gives the first environment after the change (none without
    /// its init marker).
    pub cause: Option<Cause>,
    /// That attribution's evidence, in words.
    pub evidence: Option<String>,
    pub environments: Vec<EnvironmentSummary>,
    /// On Lambda Managed Instances (`--managed-instances`): what the change did there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_instances: Option<ManagedInstancesVerdict>,
    /// One sentence for people.
    pub summary: String,
}

/// The seed's question on Lambda Managed Instances, where environments start ahead of traffic:
/// did changing an environment variable start new environments, and did any request wait?
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ManagedInstancesVerdict {
    /// `PerExecutionEnvironmentMaxConcurrency` of the run.
    pub max_concurrency: u32,
    /// Environments started before the change (ahead of traffic).
    pub environments_before_change: usize,
    /// Environments started after the change, by the sandbox's own count.
    pub environments_after_change: usize,
    /// Of the experiment's requests, how many waited for an environment (a slot, or an
    /// environment still starting), and the longest wait.
    pub requests_waited: usize,
    pub longest_wait_ms: Option<f64>,
}

fn ms(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.1} ms"))
        .unwrap_or_else(|| "?".into())
}

impl Record for Verdict {
    const TYPE: &'static str = "verdict";

    fn text(&self) -> String {
        let mut text = format!("\nverdict: {}", self.summary);
        for (i, env) in self.environments.iter().enumerate() {
            text.push_str(&format!(
                "\n  environment {} ({}): requests #{}-#{}, env_user {}, init {}",
                i + 1,
                env.env_id.as_deref().map(short).unwrap_or("id unknown"),
                env.first_request,
                env.last_request,
                env.env_user.as_deref().unwrap_or("<unset>"),
                ms(env.init_duration_ms),
            ));
            if env.runtime_init_ms.is_some()
                || env.extensions_init_ms.is_some()
                || env.coldmark_init_ms.is_some()
            {
                if env.runtime_init_ms.is_none() && env.extensions_init_ms.is_none() {
                    // Lambda's order: initRuntimeDone comes after the extensions are ready,
                    // so the records cannot separate the two shares.
                    text.push_str(&format!(
                        "\n      split: function / extensions not told apart by the records (initRuntimeDone comes after the extensions); coldmark's own start {}",
                        ms(env.coldmark_init_ms)
                    ));
                } else {
                    text.push_str(&format!(
                        "\n      split: function {} / extensions {} / coldmark's own start {}",
                        ms(env.runtime_init_ms),
                        ms(env.extensions_init_ms),
                        ms(env.coldmark_init_ms)
                    ));
                }
            }
            if let Some(fp) = &env.config_fingerprint {
                text.push_str(&format!("\n      config_fingerprint {fp}"));
            }
            if let (Some(cause), Some(evidence)) = (env.cause, &env.evidence) {
                text.push_str(&format!("\n      cause {cause}: {evidence}"));
            }
            if !env.markers.is_empty() {
                text.push_str(&format!("\n      markers: {}", env.markers.join(", ")));
                if let Some(reason) = &env.shutdown_reason {
                    text.push_str(&format!(" (shutdown reason {reason})"));
                }
            }
        }
        match self.fingerprints_differ {
            Some(true) => {
                text.push_str("\n  config_fingerprint differs between the two environments")
            }
            Some(false) => text.push_str("\n  config_fingerprint is the SAME in both environments"),
            None => {}
        }
        if let Some(m) = &self.managed_instances {
            text.push_str(&format!(
                "\n  Lambda Managed Instances (up to {} invocations per environment): {} environment(s) started ahead before the change, {} after it; {}",
                m.max_concurrency,
                m.environments_before_change,
                m.environments_after_change,
                m.wait_words()
            ));
        }
        if !self.markers_present {
            text.push_str(
                "\n  markers: none reached the log (no coldmark layer?); the verdict comes from \
                 time_out_of_handler alone",
            );
        }
        text
    }
}

/// A marker's text field as read: absent or empty is none.
fn stated(field: &str) -> Option<String> {
    (!field.is_empty()).then(|| field.to_owned())
}

/// A marker as `coldmark-explain` read it, with the environment whose log carried it.
struct Reading<'a> {
    env_id: &'a str,
    marker: Marker,
}

/// Every marker read once, by `coldmark-explain`'s reader; markers it refuses are left out, as
/// `coldmark-explain` would skip them.
fn read_all(markers: &[MarkerRecord]) -> Vec<Reading<'_>> {
    markers
        .iter()
        .filter_map(|m| {
            Some(Reading {
                env_id: &m.env_id,
                marker: m.read()?,
            })
        })
        .collect()
}

/// The markers through `coldmark-explain`'s attribution, each read as the environment whose log
/// carried it (as a log stream would say on Lambda).
fn attribute(readings: &[Reading]) -> Vec<Attribution> {
    let observations = readings.iter().map(|r| Observation::Marker {
        marker: r.marker.clone(),
        stream: Some(r.env_id.to_owned()),
    });
    attribute_all(
        observations,
        Settings {
            report_ended: false,
            ..Settings::default()
        },
    )
}

/// Works the verdict out from the answers, the markers and the sandbox's request → environment
/// links. Pure, so that it can be checked without processes.
pub fn verdict(
    responses: &[ResponseRecord],
    markers: &[MarkerRecord],
    events: &[ControlPlaneEvent],
    change_after: usize,
    managed_instances: Option<u32>,
) -> Verdict {
    let probe = summarize(responses);
    let readings = read_all(markers);
    let attributions = attribute(&readings);
    let mut env_of_request: BTreeMap<&str, (&str, Option<f64>)> = BTreeMap::new();
    for event in events {
        if let ControlPlaneEvent::Invoked {
            request_id,
            env_id,
            init_duration_ms,
            ..
        } = event
        {
            env_of_request.insert(request_id, (env_id, *init_duration_ms));
        }
    }
    let environments: Vec<EnvironmentSummary> = probe
        .environments
        .iter()
        .map(|run| {
            let first = responses.iter().find(|r| r.seq == run.first_request);
            let link = first
                .and_then(|r| r.request_id.as_deref())
                .and_then(|id| env_of_request.get(id));
            let env_id = link.map(|(env, _)| env.to_string());
            let own: Vec<&MarkerRecord> = markers
                .iter()
                .filter(|m| Some(&m.env_id) == env_id.as_ref())
                .collect();
            let read_own: Vec<&Marker> = readings
                .iter()
                .filter(|r| Some(r.env_id) == env_id.as_deref())
                .map(|r| &r.marker)
                .collect();
            // Should an environment print more than one init marker, the one built from the
            // Telemetry API carries the measured split; prefer it.
            let inits: Vec<&InitFields> = read_own.iter().filter_map(|m| m.init()).collect();
            let init = inits
                .iter()
                .find(|i| i.source == Source::Telemetry)
                .or(inits.first())
                .copied();
            let figure = |f: fn(&InitFields) -> Option<f64>| init.and_then(f);
            let text = |f: fn(&InitFields) -> &str| init.and_then(|i| stated(f(i)));
            let shutdown_reason = read_own
                .iter()
                .filter(|m| m.kind == Kind::Shutdown)
                .find_map(|m| stated(m.reason.as_deref().unwrap_or_default()));
            // The environment's own start (a re-init after a crash is a later attribution).
            let attribution = attributions
                .iter()
                .find(|a| Some(&a.env_id) == env_id.as_ref() && a.init_phase != "invoke")
                .or_else(|| {
                    attributions
                        .iter()
                        .find(|a| Some(&a.env_id) == env_id.as_ref())
                });
            EnvironmentSummary {
                env_id,
                time_out_of_handler: run.time_out_of_handler.clone(),
                env_user: run.env_user.clone(),
                first_request: run.first_request,
                last_request: run.last_request,
                requests: run.requests,
                init_duration_ms: figure(|i| i.init_duration_ms).or(link.and_then(|(_, d)| *d)),
                runtime_init_ms: figure(|i| i.runtime_init_ms),
                extensions_init_ms: figure(|i| i.extensions_init_ms),
                coldmark_init_ms: figure(|i| i.coldmark_init_ms),
                init_type: text(|i| &i.init_type),
                init_phase: text(|i| &i.init_phase),
                config_fingerprint: text(|i| &i.config_fingerprint),
                shutdown_reason,
                markers: own.iter().map(|m| m.kind().to_owned()).collect(),
                cause: attribution.map(|a| a.cause),
                evidence: attribution.map(|a| a.evidence.words()),
            }
        })
        .collect();
    let after = responses.iter().find(|r| r.seq == change_after + 1);
    let before = responses.iter().find(|r| r.seq == change_after);
    let first_new = responses
        .iter()
        .find(|r| r.seq > change_after && r.new_environment)
        .map(|r| r.seq);
    let init_between = first_new.map(|seq| [seq - 1, seq]);
    let old_env = before.and_then(|r| {
        environments
            .iter()
            .find(|e| Some(&e.time_out_of_handler) == r.time_out_of_handler.as_ref())
    });
    let new_env = first_new.and_then(|seq| environments.iter().find(|e| e.first_request == seq));
    let fingerprints_differ = match (
        old_env.and_then(|e| e.config_fingerprint.as_ref()),
        new_env.and_then(|e| e.config_fingerprint.as_ref()),
    ) {
        (Some(a), Some(b)) => Some(a != b),
        _ => None,
    };
    let init_markers = markers.iter().filter(|m| m.kind() == "init").count();
    let init_duration_ms = new_env.and_then(|e| e.init_duration_ms);
    let env_user_before = before.and_then(|r| r.env_user.clone());
    let env_user_after = after.and_then(|r| r.env_user.clone());
    // The first environment after the change: a new one right after it, whose cause is the
    // library's when its init marker came (without markers, the answers alone decide).
    let right_after = after.is_some_and(|r| r.new_environment);
    let cause = new_env.and_then(|e| e.cause);
    let evidence = new_env.and_then(|e| e.evidence.clone());
    let new_init_after_change =
        right_after && cause.is_none_or(|c| c == Cause::ConfigurationChange);
    let managed = managed_instances
        .map(|max_concurrency| managed_verdict(responses, events, max_concurrency));
    let summary = match (new_init_after_change, init_between, cause) {
        (true, Some(_), _) if managed.is_some() => {
            let m = managed.as_ref().expect("checked");
            format!(
                "YES: changing USER ({} -> {}) started {} new environment(s) ahead of traffic on Lambda Managed Instances; {}{}",
                env_user_before.as_deref().unwrap_or("<unset>"),
                env_user_after.as_deref().unwrap_or("<unset>"),
                m.environments_after_change,
                m.wait_words(),
                match (cause, &evidence) {
                    (Some(cause), Some(evidence)) =>
                        format!("; coldmark-explain: {cause} ({evidence})"),
                    _ => String::new(),
                }
            )
        }
        (true, Some([a, b]), _) => format!(
            "YES: changing USER ({} -> {}) caused a new init between requests #{a} and #{b} (init {}); {} environment(s) in all{}",
            env_user_before.as_deref().unwrap_or("<unset>"),
            env_user_after.as_deref().unwrap_or("<unset>"),
            ms(init_duration_ms),
            probe.environments.len(),
            match (cause, &evidence) {
                (Some(cause), Some(evidence)) =>
                    format!("; coldmark-explain: {cause} ({evidence})"),
                _ => String::new(),
            }
        ),
        (false, Some([a, b]), Some(cause)) if right_after => format!(
            "a new environment appeared between requests #{a} and #{b}, right after the change, but coldmark-explain attributes it to {cause} ({}), not to the configuration change",
            evidence.as_deref().unwrap_or("no evidence")
        ),
        (false, Some([a, b]), _) => format!(
            "a new environment appeared between requests #{a} and #{b}, not right after the change (after #{change_after})"
        ),
        _ => format!(
            "NO new init after the change (after request #{change_after}): every answer came from the same {} environment(s)",
            probe.environments.len()
        ),
    };
    Verdict {
        new_init_after_change,
        init_between,
        change_after,
        env_user_before,
        env_user_after,
        inits: probe.environments.len(),
        init_markers,
        init_duration_ms,
        fingerprints_differ,
        markers_present: !markers.is_empty(),
        cause,
        evidence,
        environments,
        managed_instances: managed,
        summary,
    }
}

/// What the sandbox's events say of a Managed Instances run: environments started before and
/// after the change (`ConfigurationUpdated`), and the experiment's requests that waited.
fn managed_verdict(
    responses: &[ResponseRecord],
    events: &[ControlPlaneEvent],
    max_concurrency: u32,
) -> ManagedInstancesVerdict {
    let changed_at = events
        .iter()
        .position(|e| matches!(e, ControlPlaneEvent::ConfigurationUpdated { .. }));
    let starts = |after: bool| {
        events
            .iter()
            .enumerate()
            .filter(|(i, e)| {
                matches!(e, ControlPlaneEvent::EnvironmentStarted { .. })
                    && changed_at.is_some_and(|c| *i > c) == after
            })
            .count()
    };
    let ours: Vec<&str> = responses
        .iter()
        .filter_map(|r| r.request_id.as_deref())
        .collect();
    let waits: Vec<f64> = events
        .iter()
        .filter_map(|e| match e {
            ControlPlaneEvent::Invoked {
                request_id,
                waited_ms: Some(waited),
                ..
            } if ours.contains(&request_id.as_str()) => Some(*waited),
            _ => None,
        })
        .collect();
    ManagedInstancesVerdict {
        max_concurrency,
        environments_before_change: starts(false),
        environments_after_change: starts(true),
        requests_waited: waits.len(),
        longest_wait_ms: waits.iter().copied().reduce(f64::max),
    }
}

impl ManagedInstancesVerdict {
    /// Whether any request waited, in words.
    fn wait_words(&self) -> String {
        match self.longest_wait_ms {
            None => "no request waited for an environment".into(),
            Some(longest) => format!(
                "{} request(s) waited for an environment (longest {longest:.1} ms)",
                self.requests_waited
            ),
        }
    }
}

/// Runs the experiment and prints as it goes; returns the verdict (also printed).
pub async fn run(options: ExperimentOptions, printer: Printer) -> anyhow::Result<Verdict> {
    let front = front_end::start(
        Launch {
            sandbox: options.sandbox.clone(),
            function: FunctionConfig {
                function_name: FUNCTION_NAME.into(),
                version: "$LATEST".into(),
                memory_mb: options.sandbox.memory_mb(None)?,
                timeout: Duration::from_secs(3),
                handler: "bootstrap".into(),
                environment: options
                    .variables
                    .clone()
                    .into_iter()
                    .chain([("USER".to_owned(), options.user_before.clone())])
                    .collect(),
            },
            plane: options.sandbox.plane(),
            ports: (0, 0),
        },
        printer,
    )
    .await?;
    if !front.has_layer {
        eprintln!("note: no coldmark layer: the verdict will come from the answers alone");
    }

    let result = probe_loop(&options, &front.lambda_api, &front.function_url, printer).await;

    if !front
        .plane
        .close_within(front_end::EXIT_GRACE, front_end::SHUTDOWN_ALLOWANCE)
        .await
    {
        eprintln!("warning: some environments did not shut down in time and were killed; their last lines may be missing");
    }
    let collected = front.finish().await?;
    let responses = result?;
    let verdict = verdict(
        &responses,
        &collected.markers,
        &collected.events,
        options.change_after,
        options.sandbox.managed_instances,
    );
    printer.print(&verdict);
    Ok(verdict)
}

async fn probe_loop(
    options: &ExperimentOptions,
    lambda_api: &str,
    function_url: &str,
    printer: Printer,
) -> anyhow::Result<Vec<ResponseRecord>> {
    let client = reqwest::Client::new();
    let mut prober = Prober::new(function_url)?;
    let mut ticker = tokio::time::interval(options.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut responses = Vec::new();
    for seq in 1..=options.requests {
        ticker.tick().await;
        let record = prober.probe(seq).await;
        printer.print(&record);
        responses.push(record);
        if seq == options.change_after {
            let (previous, updated) = set_variable(
                &client,
                lambda_api,
                FUNCTION_NAME,
                "USER",
                &options.user_after,
            )
            .await?;
            printer.print(&ConfigUpdateRecord {
                after_request: seq,
                variable: "USER".into(),
                from: previous.unwrap_or_else(|| "<unset>".into()),
                to: options.user_after.clone(),
                last_update_status: updated.last_update_status,
                applied_status: wait_until_updated(&client, lambda_api, FUNCTION_NAME).await,
                revision_id: updated.revision_id,
            });
        }
    }
    Ok(responses)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(seq: usize, out: &str, user: &str, new: bool) -> ResponseRecord {
        ResponseRecord {
            seq,
            sent_at: String::new(),
            latency_ms: 1.0,
            status: 200,
            request_id: Some(format!("req-{seq}")),
            time_out_of_handler: Some(out.into()),
            time_in_handler: Some(out.into()),
            env_user: Some(user.into()),
            invocation_count: None,
            new_environment: new,
            error: None,
        }
    }

    fn marker(env: &str, value: serde_json::Value) -> MarkerRecord {
        MarkerRecord {
            env_id: env.into(),
            source: "coldmark".into(),
            received_at: String::new(),
            line: value.to_string(),
            marker: value,
        }
    }

    /// A schema-1 marker of the clock function printed by environment `env` at second `at`.
    fn full(env: &str, at: u32, mut fields: serde_json::Value) -> MarkerRecord {
        let object = fields.as_object_mut().unwrap();
        object.insert("schema".into(), 1.into());
        object.insert(
            "timestamp".into(),
            format!("2026-11-30T10:00:{at:02}.000Z").into(),
        );
        object.insert("function_name".into(), "clock".into());
        object.insert("function_version".into(), "$LATEST".into());
        object.insert("env_id".into(), env.into());
        marker(env, fields)
    }

    fn invoked(seq: usize, env: &str, init: Option<f64>) -> ControlPlaneEvent {
        ControlPlaneEvent::Invoked {
            request_id: format!("req-{seq}"),
            env_id: env.into(),
            cold_start: init.is_some(),
            init_duration_ms: init,
            waited_ms: init,
        }
    }

    #[test]
    fn a_new_environment_after_the_change_is_a_yes() {
        let responses = vec![
            response(1, "t1", "user", true),
            response(2, "t1", "user", false),
            response(3, "t2", "user2", true),
            response(4, "t2", "user2", false),
        ];
        let markers = vec![
            full(
                "e1",
                1,
                serde_json::json!({"coldmark":"init","init_type":"on-demand","config_fingerprint":"a","init_duration_ms":30.0,"runtime_init_ms":10.0,"extensions_init_ms":20.0,"coldmark_init_ms":2.0}),
            ),
            full(
                "e1",
                3,
                serde_json::json!({"coldmark":"shutdown","reason":"spindown"}),
            ),
            full(
                "e2",
                4,
                serde_json::json!({"coldmark":"init","init_type":"on-demand","config_fingerprint":"b","init_duration_ms":40.0}),
            ),
        ];
        let events = vec![
            invoked(1, "e1", Some(31.0)),
            invoked(2, "e1", None),
            invoked(3, "e2", Some(41.0)),
            invoked(4, "e2", None),
        ];
        let v = verdict(&responses, &markers, &events, 2, None);
        assert!(v.new_init_after_change);
        assert_eq!(v.init_between, Some([2, 3]));
        assert_eq!(v.inits, 2);
        assert_eq!(v.init_markers, 2);
        assert_eq!(v.fingerprints_differ, Some(true));
        assert_eq!(v.init_duration_ms, Some(40.0));
        assert_eq!(
            v.environments[0].shutdown_reason.as_deref(),
            Some("spindown")
        );
        assert_eq!(v.environments[0].extensions_init_ms, Some(20.0));
        assert_eq!(v.env_user_after.as_deref(), Some("user2"));
        assert_eq!(v.cause, Some(Cause::ConfigurationChange));
        assert_eq!(v.environments[0].cause, Some(Cause::FirstSeen));
        assert!(
            v.evidence.as_deref().unwrap().contains("a → b"),
            "{:?}",
            v.evidence
        );
        assert!(v.summary.starts_with("YES"), "{}", v.summary);
        assert!(
            v.text().contains("cause configuration-change"),
            "{}",
            v.text()
        );
    }

    #[test]
    fn a_new_environment_of_the_same_configuration_is_not_a_yes() {
        // The old environment was reclaimed just before the change; the new one carries the
        // same fingerprint, so the change did not start it: the library says replacement.
        let responses = vec![
            response(1, "t1", "user", true),
            response(2, "t2", "user2", true),
        ];
        let markers = vec![
            full(
                "e1",
                1,
                serde_json::json!({"coldmark":"init","init_type":"on-demand","config_fingerprint":"a"}),
            ),
            full(
                "e1",
                2,
                serde_json::json!({"coldmark":"shutdown","reason":"spindown"}),
            ),
            full(
                "e2",
                5,
                serde_json::json!({"coldmark":"init","init_type":"on-demand","config_fingerprint":"a"}),
            ),
        ];
        let events = vec![invoked(1, "e1", Some(5.0)), invoked(2, "e2", Some(6.0))];
        let v = verdict(&responses, &markers, &events, 1, None);
        assert!(!v.new_init_after_change);
        assert_eq!(v.cause, Some(Cause::Replacement));
        assert_eq!(v.fingerprints_differ, Some(false));
        assert!(v.summary.contains("replacement"), "{}", v.summary);
    }

    #[test]
    fn the_split_wording_says_when_the_records_cannot_tell() {
        let responses = vec![
            response(1, "t1", "user", true),
            response(2, "t2", "user2", true),
        ];
        let markers = vec![
            // Lambda's record order: the split is unknown, coldmark's own start is not.
            full(
                "e1",
                1,
                serde_json::json!({"coldmark":"init","init_duration_ms":30.0,"runtime_init_ms":null,"extensions_init_ms":null,"coldmark_init_ms":2.0}),
            ),
            full(
                "e2",
                2,
                serde_json::json!({"coldmark":"init","init_duration_ms":3.4,"runtime_init_ms":3.4,"extensions_init_ms":0.0,"coldmark_init_ms":2.0}),
            ),
        ];
        let events = vec![invoked(1, "e1", Some(31.0)), invoked(2, "e2", Some(4.0))];
        let text = verdict(&responses, &markers, &events, 1, None).text();
        assert!(
            text.contains("split: function / extensions not told apart by the records"),
            "{text}"
        );
        assert!(
            text.contains(
                "split: function 3.4 ms / extensions 0.0 ms / coldmark's own start 2.0 ms"
            ),
            "{text}"
        );
        assert!(!text.contains("function ? "), "{text}");
    }

    #[test]
    fn without_markers_the_answers_decide() {
        let responses = vec![
            response(1, "t1", "user", true),
            response(2, "t2", "user2", true),
        ];
        let events = vec![invoked(1, "e1", Some(5.0)), invoked(2, "e2", Some(6.0))];
        let v = verdict(&responses, &[], &events, 1, None);
        assert!(v.new_init_after_change);
        assert!(!v.markers_present);
        assert_eq!(v.fingerprints_differ, None);
        assert_eq!(v.init_duration_ms, Some(6.0));
        assert!(v.text().contains("time_out_of_handler alone"));
    }

    fn started(env: &str) -> ControlPlaneEvent {
        ControlPlaneEvent::EnvironmentStarted {
            env_id: env.into(),
            revision: 1,
            start_ms: 20.0,
            function_name: "clock".into(),
            version: "$LATEST".into(),
            started_at: chrono::Utc::now(),
            reason: lambda_emulator::control_plane::start_reason::StartReason::FirstSeen,
            detail: String::new(),
            request_id: String::new(),
            tenant_id: None,
            init_status: "success".into(),
            init_error_type: None,
        }
    }

    #[test]
    fn on_managed_instances_the_verdict_counts_environments_ahead_and_requests_that_waited() {
        let responses = vec![
            response(1, "t1", "user", true),
            response(2, "t1", "user", false),
            response(3, "t2", "user2", true),
            response(4, "t2", "user2", false),
        ];
        let served = |seq: usize, env: &str, waited: Option<f64>| ControlPlaneEvent::Invoked {
            request_id: format!("req-{seq}"),
            env_id: env.into(),
            cold_start: false,
            init_duration_ms: None,
            waited_ms: waited,
        };
        let events = vec![
            started("e1"),
            started("e2"),
            started("e3"),
            served(1, "e3", None),
            served(2, "e3", None),
            ControlPlaneEvent::ConfigurationUpdated { revision: 2 },
            started("e4"),
            served(3, "e4", Some(12.5)),
            started("e5"),
            started("e6"),
            served(4, "e4", None),
        ];
        let v = verdict(&responses, &[], &events, 2, Some(8));
        assert!(v.new_init_after_change);
        let m = v
            .managed_instances
            .as_ref()
            .expect("a Managed Instances verdict");
        assert_eq!(
            (m.environments_before_change, m.environments_after_change),
            (3, 3)
        );
        assert_eq!((m.requests_waited, m.longest_wait_ms), (1, Some(12.5)));
        assert!(
            v.summary.starts_with("YES") && v.summary.contains("started 3 new environment(s)"),
            "{}",
            v.summary
        );
        assert!(v.summary.contains("1 request(s) waited"), "{}", v.summary);
        assert!(
            v.text().contains("up to 8 invocations per environment"),
            "{}",
            v.text()
        );
        // None waited: the verdict says so.
        let events: Vec<ControlPlaneEvent> = events
            .into_iter()
            .map(|e| match e {
                ControlPlaneEvent::Invoked {
                    request_id, env_id, ..
                } => ControlPlaneEvent::Invoked {
                    request_id,
                    env_id,
                    cold_start: false,
                    init_duration_ms: None,
                    waited_ms: None,
                },
                other => other,
            })
            .collect();
        let v = verdict(&responses, &[], &events, 2, Some(8));
        assert!(v.summary.contains("no request waited"), "{}", v.summary);
        // On-demand Lambda: no such part.
        assert!(verdict(&responses, &[], &events, 2, None)
            .managed_instances
            .is_none());
    }

    #[test]
    fn no_new_environment_is_a_no() {
        let responses = vec![
            response(1, "t1", "user", true),
            response(2, "t1", "user", false),
        ];
        let v = verdict(&responses, &[], &[], 1, None);
        assert!(!v.new_init_after_change);
        assert!(v.summary.starts_with("NO"));
    }
}
