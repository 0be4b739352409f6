//! The `causes` steps of failed and timed-out inits, through the clock function's
//! `CLOCK_INIT_FAIL` knob, each set by `UpdateFunctionConfiguration` (so each step's first
//! environment is a `configuration-change`, whose init fails):
//! - `error-once`: the init fails, Lambda retries it inside the request (phase `invoke`, same
//!   environment: `after-failure`), and the retry succeeds;
//! - `error`: the retry fails too; the request gets `Runtime.InitError`, and the environment,
//!   which never served an invocation, is spun down by the next update: an init nobody used;
//! - `timeout-once`: the init times out (the sandbox's init timeout), the retry succeeds.

use lambda_emulator::control_plane::start_reason::StartReason;

use super::script::Script;

/// Plays the three steps on `$LATEST` of the clock function.
pub(super) async fn play(script: &mut Script) -> anyhow::Result<()> {
    let steps = [
        (
            "error-once",
            "its init fails and the retry inside the request succeeds",
            1,
        ),
        (
            "error",
            "its init fails and so does the retry (Runtime.InitError)",
            2,
        ),
        (
            "timeout-once",
            "its init times out and the retry inside the request succeeds",
            1,
        ),
    ];
    for (knob, what, failed) in steps {
        script.set_variable("CLOCK_INIT_FAIL", knob).await?;
        let a = script.invoke("$LATEST", serde_json::json!({})).await?;
        script.step(
            &format!(
                "UpdateFunctionConfiguration (CLOCK_INIT_FAIL={knob}), then a request: {what}"
            ),
            "$LATEST",
            &[StartReason::ConfigurationChange, StartReason::AfterFailure],
            failed,
            vec![a],
        );
    }
    Ok(())
}
