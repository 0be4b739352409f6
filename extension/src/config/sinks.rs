//! `COLDMARK_SINK`: where markers go — stdout (the default), the HTTP sink, the OTLP sink, or
//! any combination.

use super::vars::Vars;

/// Which sinks the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SinkChoice {
    pub(crate) stdout: bool,
    pub(crate) http: bool,
    pub(crate) otlp: bool,
}

impl SinkChoice {
    pub(crate) const DEFAULT: SinkChoice = SinkChoice {
        stdout: true,
        http: false,
        otlp: false,
    };
}

/// `stdout`, `http`, `otlp`, comma-separated, any case; `None` for anything else.
pub(super) fn parse(value: &str) -> Option<SinkChoice> {
    let mut choice = SinkChoice {
        stdout: false,
        http: false,
        otlp: false,
    };
    for part in value.split(',').map(|p| p.trim().to_ascii_lowercase()) {
        match part.as_str() {
            "stdout" => choice.stdout = true,
            "http" => choice.http = true,
            "otlp" => choice.otlp = true,
            _ => return None,
        }
    }
    (choice.stdout || choice.http || choice.otlp).then_some(choice)
}

pub(super) fn choice(vars: &mut Vars) -> SinkChoice {
    let Some(v) = vars.get("COLDMARK_SINK") else {
        return SinkChoice::DEFAULT;
    };
    parse(&v).unwrap_or_else(|| {
        vars.bad(
            "COLDMARK_SINK",
            "stdout, http, otlp, or several of them comma-separated",
        );
        SinkChoice::DEFAULT
    })
}
