//! The `coldmark` extension binary (installed as `/opt/extensions/coldmark`). Wiring only.
//!
//! Lambda starts it without arguments. `--help` (the settings) and `--version` are for a person
//! at a terminal; any other argument is refused with exit code 2.

use coldmark::{clock::StartClock, config::help, config::Config, diag, run};

/// What the command line asks for, when it has anything on it.
fn command_line() -> Option<std::process::ExitCode> {
    let arg = std::env::args_os().nth(1)?;
    let code = match arg.to_str() {
        Some("-h" | "--help") => {
            print!("{}", help::help());
            0
        }
        Some("-V" | "--version") => {
            println!("coldmark {}", env!("CARGO_PKG_VERSION"));
            0
        }
        _ => {
            eprintln!(
                "coldmark: unknown argument {arg:?}: Lambda starts coldmark without arguments, \
                 and its settings are environment variables (coldmark --help lists them)"
            );
            2
        }
    };
    Some(std::process::ExitCode::from(code))
}

fn main() -> std::process::ExitCode {
    // First, before anything else runs: coldmark measures its own start from here.
    let clock = StartClock::now();
    if let Some(code) = command_line() {
        return code;
    }
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
