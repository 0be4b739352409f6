//! The real `coldmark` binary run by hand, as a person trying it outside Lambda would: `--help`
//! lists the settings, `--version` says which release it is, anything else is refused — each
//! without needing (or waiting for) a Lambda.

use std::process::{Command, Output};

const COLDMARK: &str = env!("CARGO_BIN_EXE_coldmark");

/// Runs the binary with `args` and no Lambda in its environment.
fn run(args: &[&str]) -> Output {
    Command::new(COLDMARK)
        .args(args)
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .output()
        .expect("run coldmark")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_lists_every_setting_with_its_default_and_exits_0() {
    for flag in ["--help", "-h"] {
        let out = run(&[flag]);
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{flag}: {out:?}");
        assert!(out.stderr.is_empty(), "{flag}: {}", text(&out.stderr));
        assert!(!stdout.contains("not running in Lambda"), "{stdout}");
        assert!(stdout.contains(env!("CARGO_PKG_VERSION")), "{stdout}");
        // The settings a user reaches for first, each on its line with its default.
        for (name, default) in [
            ("COLDMARK_LOG", "warn"),
            ("COLDMARK_INVOKE_MARKERS", "first"),
            ("COLDMARK_SINK", "stdout"),
            ("COLDMARK_PROACTIVE_THRESHOLD_MS", "1000"),
            ("COLDMARK_TELEMETRY_PORT", "4243"),
            ("COLDMARK_HTTP_ENDPOINT", "(none)"),
            ("COLDMARK_HTTP_TIMEOUT_MS", "1000"),
        ] {
            let line = stdout
                .lines()
                .find(|l| l.split_whitespace().next() == Some(name))
                .unwrap_or_else(|| panic!("{name} missing:\n{stdout}"));
            let mut words = line.split_whitespace().skip(1);
            assert_eq!(words.next(), Some(default), "{line}");
            assert!(words.next().is_some(), "{name} has no description: {line}");
        }
    }
}

#[test]
fn version_prints_the_release_and_exits_0() {
    for flag in ["--version", "-V"] {
        let out = run(&[flag]);
        assert_eq!(out.status.code(), Some(0), "{flag}: {out:?}");
        assert_eq!(
            text(&out.stdout),
            format!("coldmark {}\n", env!("CARGO_PKG_VERSION"))
        );
    }
}

#[test]
fn an_unknown_argument_is_refused_with_exit_2() {
    let out = run(&["--port", "9"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stdout.is_empty());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("\"--port\""), "{stderr}");
    assert!(stderr.contains("coldmark --help"), "{stderr}");
}
