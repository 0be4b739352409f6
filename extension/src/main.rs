//! The `coldmark` extension binary (installed as `/opt/extensions/coldmark`). Wiring only.

use coldmark::{clock::StartClock, config::Config, diag, run};

fn main() {
    // First, before anything else runs: coldmark measures its own start from here.
    let clock = StartClock::now();
    let vars: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    let (config, warnings) =
        Config::from_env(&|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()));
    diag::init(config.log_level);
    for w in warnings {
        tracing::warn!("{w}");
    }
    match tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
    {
        Ok(runtime) => runtime.block_on(run::run(config, clock, vars)),
        Err(e) => tracing::warn!("cannot start the async runtime ({e}); coldmark is off"),
    }
    // Exit at once: nothing is left to do, and the runtime's teardown could only delay
    // Lambda's shutdown. The last diagnostics get a moment (inside the shutdown margin) to
    // reach stderr, and no more: stderr may be a pipe nobody reads.
    diag::drain(std::time::Duration::from_millis(100));
    std::process::exit(0);
}
