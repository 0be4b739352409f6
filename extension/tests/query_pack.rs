//! The Logs Insights query pack (`layer/queries/*.cwl`) cannot drift from the markers: every
//! field a query names must be a field the extension writes, for the marker kind the query
//! filters on.
//!
//! The truth is the extension's own marker types: one example of each marker, with every
//! optional field filled in, is serialised and its keys are collected recursively, in the
//! dotted form Logs Insights uses for nested JSON (`_aws.Timestamp`, `extensions.0.name`).
//!
//! The pack's comments are read too, since they tell a reader which fields to look at: every
//! field a query or its comment names (backquoted, or a snake_case word) must be a marker field
//! and be documented in docs/markers.md's field tables, and every field those tables document
//! must be one the extension writes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::{TimeZone, Utc};
use coldmark::marker::{
    Common, Emf, ExtensionInfo, InitMarker, InvokeMarker, Marker, ShutdownMarker, Source, SCHEMA,
    VERSION,
};
use serde_json::Value;

/// Logs Insights words that are commands, operators or sort orders, never fields.
const KEYWORDS: &[&str] = &[
    "fields", "filter", "where", "stats", "sort", "limit", "display", "parse", "dedup", "unnest",
    "as", "by", "and", "or", "not", "in", "like", "asc", "desc", "true", "false",
];

/// The values of the `coldmark` field.
const MARKER_KINDS: &[&str] = &["init", "invoke", "shutdown"];

/// The questions the pack must answer, by file.
const REQUIRED_QUERIES: &[&str] = &[
    "cold_starts_per_5min.cwl",
    "init_duration_by_version.cwl",
    "config_change_cold_starts.cwl",
    "proactive_vs_user_facing.cwl",
    "environment_lifetime_by_reason.cwl",
    "cold_invocation_share.cwl",
    "extensions_share_of_init.cwl",
    "reinits_inside_invocations.cwl",
    "cold_starts_by_tenant.cwl",
    "failed_inits.cwl",
];

fn common() -> Common {
    Common {
        schema: SCHEMA,
        timestamp: Utc.timestamp_millis_opt(1_795_000_000_123).unwrap(),
        function_name: "clock".into(),
        function_version: "$LATEST".into(),
        env_id: "env-1".into(),
        tenant_id: Some("BlueTenant".into()),
        coldmark_version: VERSION.into(),
    }
}

/// One marker of each kind with every optional field present.
fn example_markers() -> Vec<Marker> {
    let at = common().timestamp;
    let init = InitMarker {
        common: common(),
        init_type: "on-demand".into(),
        init_phase: "invoke".into(),
        init_status: "error".into(),
        init_error_type: Some("Runtime.ExitError".into()),
        init_duration_ms: Some(120.0),
        proactive: false,
        config_fingerprint: "fp".into(),
        function_memory_size: Some(128),
        runtime_version: Some("provided:al2023.v1".into()),
        source: Source::Telemetry,
        runtime_init_ms: Some(80.0),
        extensions_init_ms: Some(40.0),
        coldmark_init_ms: Some(3.0),
        extensions: Some(vec![ExtensionInfo {
            name: "coldmark".into(),
            state: Some("Ready".into()),
            events: vec!["INVOKE".into(), "SHUTDOWN".into()],
        }]),
        function_request_id: Some("req-1".into()),
        max_concurrency: Some(4),
        aws: Emf::for_init(at, "coldmark", Some(120.0), Some(80.0), Some(40.0)).with_init_error(),
        cold_start_metric: 1,
        init_duration_metric: Some(120.0),
        runtime_init_metric: Some(80.0),
        extensions_init_metric: Some(40.0),
        init_error_metric: Some(1),
    };
    let invoke = InvokeMarker {
        common: common(),
        function_request_id: "req-1".into(),
        cold_start: true,
        seq: 1,
        since_init_ms: Some(5.0),
        duration_ms: Some(2.0),
        billed_duration_ms: Some(3),
        max_memory_used_mb: Some(20),
        init_duration_ms: Some(120.0),
        xray_trace_id: Some("Root=1-0-0".into()),
    };
    let shutdown = ShutdownMarker {
        common: common(),
        reason: "spindown".into(),
        invocations: 7,
        lifetime_ms: Some(60_000.0),
        dropped: 0,
        peak_concurrency: Some(3),
    };
    vec![
        Marker::Init(Box::new(init)),
        Marker::Invoke(Box::new(invoke)),
        Marker::Shutdown(shutdown),
    ]
}

/// Every key path of a JSON value as Logs Insights names it (objects by `.key`, arrays by
/// `.index`), intermediate paths included.
fn collect_paths(value: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    let mut visit = |key: String, child: &Value| {
        let path = if prefix.is_empty() {
            key
        } else {
            format!("{prefix}.{key}")
        };
        collect_paths(child, &path, out);
        out.insert(path);
    };
    match value {
        Value::Object(map) => map.iter().for_each(|(k, v)| visit(k.clone(), v)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .for_each(|(i, v)| visit(i.to_string(), v)),
        _ => {}
    }
}

/// Marker kind ("init", "invoke", "shutdown") → the field paths it carries.
fn contract_fields() -> BTreeMap<String, BTreeSet<String>> {
    example_markers()
        .iter()
        .map(|marker| {
            let json = serde_json::to_value(marker).expect("markers serialise");
            let mut paths = BTreeSet::new();
            collect_paths(&json, "", &mut paths);
            (marker.kind().to_owned(), paths)
        })
        .collect()
}

/// What a query says: the fields it reads, the aliases it defines, the marker kinds it keeps.
#[derive(Debug, Default)]
struct QueryFields {
    fields: BTreeSet<String>,
    aliases: BTreeSet<String>,
    kinds: BTreeSet<String>,
}

#[derive(Debug, PartialEq)]
enum Token {
    /// A bare or backquoted name.
    Name(String),
    Str(String),
    Punct(char),
}

/// Splits a query into tokens, dropping `#` comments, numbers (`5m`, `0.5`) and `@` builtins
/// (`@timestamp`, `@message`, ...). Regex literals are not supported: the pack uses none.
fn tokenize(query: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = query.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            '#' => while chars.next_if(|&c| c != '\n').is_some() {},
            c if c.is_whitespace() => {
                chars.next();
            }
            '"' | '\'' | '`' => {
                chars.next();
                let mut text = String::new();
                for next in chars.by_ref() {
                    if next == c {
                        break;
                    }
                    text.push(next);
                }
                tokens.push(if c == '`' {
                    Token::Name(text)
                } else {
                    Token::Str(text)
                });
            }
            '@' => {
                chars.next();
                while chars
                    .next_if(|c| c.is_alphanumeric() || *c == '_' || *c == '.')
                    .is_some()
                {}
            }
            c if c.is_ascii_digit() => {
                while chars
                    .next_if(|c| c.is_alphanumeric() || *c == '.')
                    .is_some()
                {}
            }
            c if c.is_alphabetic() || c == '_' => {
                let mut name = String::new();
                while let Some(c) = chars.next_if(|c| c.is_alphanumeric() || *c == '_' || *c == '.')
                {
                    name.push(c);
                }
                tokens.push(Token::Name(name));
            }
            other => {
                chars.next();
                tokens.push(Token::Punct(other));
            }
        }
    }
    tokens
}

fn analyse(query: &str) -> QueryFields {
    let tokens = tokenize(query);
    let mut found = QueryFields::default();
    for (i, token) in tokens.iter().enumerate() {
        let Token::Name(name) = token else { continue };
        let previous = i.checked_sub(1).map(|p| &tokens[p]);
        let next = tokens.get(i + 1);
        if KEYWORDS.contains(&name.to_ascii_lowercase().as_str()) {
            continue;
        }
        if next == Some(&Token::Punct('(')) {
            continue; // a function: count, pct, bin, ...
        }
        if matches!(previous, Some(Token::Name(p)) if p.eq_ignore_ascii_case("as")) {
            found.aliases.insert(name.clone());
            continue;
        }
        if name == "coldmark" {
            if let (Some(Token::Punct('=')), Some(Token::Str(kind))) =
                (tokens.get(i + 1), tokens.get(i + 2))
            {
                found.kinds.insert(kind.clone());
            }
        }
        found.fields.insert(name.clone());
    }
    // A later command may name an alias (`sort first_init`): that is not a log field.
    let aliases = found.aliases.clone();
    found.fields.retain(|f| !aliases.contains(f));
    found
}

fn queries_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../layer/queries")
}

fn query_files() -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(queries_dir())
        .expect("layer/queries exists")
        .map(|entry| entry.expect("readable entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "cwl"))
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&path).expect("readable query");
            (name, text)
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_field_a_query_names_is_a_marker_field() {
    let contract = contract_fields();
    let all: BTreeSet<String> = contract.values().flatten().cloned().collect();
    let files = query_files();
    assert!(!files.is_empty(), "no .cwl files in {:?}", queries_dir());

    let mut problems = Vec::new();
    for (name, text) in &files {
        let query = analyse(text);
        if query.fields.is_empty() {
            problems.push(format!("{name}: names no marker field at all"));
        }
        // A query that keeps one marker kind may only read that kind's fields.
        let allowed: BTreeSet<String> = if query.kinds.is_empty() {
            all.clone()
        } else {
            let mut allowed = BTreeSet::from(["coldmark".to_owned()]);
            for kind in &query.kinds {
                match contract.get(kind) {
                    Some(fields) => allowed.extend(fields.iter().cloned()),
                    None => problems.push(format!("{name}: no marker kind {kind:?}")),
                }
            }
            allowed
        };
        for field in query.fields.difference(&allowed) {
            let kinds = if query.kinds.is_empty() {
                "any marker".to_owned()
            } else {
                format!("{:?} markers", query.kinds)
            };
            problems.push(format!("{name}: `{field}` is not a field of {kinds}"));
        }
    }
    assert!(
        problems.is_empty(),
        "query pack drifted from the markers:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_pack_answers_every_question_and_says_which() {
    let files = query_files();
    let names: BTreeSet<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    for required in REQUIRED_QUERIES {
        assert!(
            names.contains(required),
            "layer/queries/{required} is missing"
        );
    }
    for (name, text) in &files {
        let first = text.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("# ") && first.len() > 10,
            "{name} must open with a comment saying what it answers"
        );
        let query = analyse(text);
        assert!(
            !query.kinds.is_empty(),
            "{name} must filter on a marker kind (coldmark = \"init\" | \"invoke\" | \"shutdown\")"
        );
    }
}

#[test]
fn the_parser_sees_fields_not_functions_aliases_or_builtins() {
    let query = analyse(
        "# a comment naming not_a_field\n\
         filter coldmark = \"init\" and ispresent(`extensions.0.name`)\n\
         | fields @timestamp, @message\n\
         | stats pct(init_duration_ms, 99) / 1000 as p99_s by bin(5m), function_name\n\
         | sort p99_s desc",
    );
    let fields: Vec<&str> = query.fields.iter().map(String::as_str).collect();
    assert_eq!(
        fields,
        [
            "coldmark",
            "extensions.0.name",
            "function_name",
            "init_duration_ms"
        ]
    );
    assert_eq!(query.aliases, BTreeSet::from(["p99_s".to_owned()]));
    assert_eq!(query.kinds, BTreeSet::from(["init".to_owned()]));
}

#[test]
fn a_misspelt_field_is_caught() {
    let contract = contract_fields();
    let query = analyse("filter coldmark = \"shutdown\" | stats avg(init_duration_ms) by reason");
    let shutdown = &contract["shutdown"];
    let stray: Vec<&String> = query.fields.difference(shutdown).collect();
    assert_eq!(stray, [&"init_duration_ms".to_owned()]);
}

/// What a query's `#` comments name as fields: backquoted names and snake_case words
/// (`init_phase`, `function_request_id`), minus the query's own aliases, the marker kinds (an
/// `init` marker) and file names (`config_fingerprint_timeline.cwl`). UPPER_CASE words are settings (`COLDMARK_INVOKE_MARKERS`),
/// not fields.
fn comment_names(query: &str) -> BTreeSet<String> {
    let aliases = analyse(query).aliases;
    let mut names = BTreeSet::new();
    for line in query.lines() {
        let Some(comment) = line.trim_start().strip_prefix('#') else {
            continue;
        };
        let mut quoted = comment.split('`');
        quoted.next();
        // Every second piece is inside backquotes.
        names.extend(quoted.step_by(2).map(|name| name.trim().to_owned()));
        let words = comment.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'));
        names.extend(
            words
                .map(|w| w.trim_end_matches('.'))
                .filter(|w| is_snake_case(w))
                .map(str::to_owned),
        );
    }
    names.retain(|n| {
        !n.is_empty()
            && !n.ends_with(".cwl")
            && !aliases.contains(n)
            && !MARKER_KINDS.contains(&n.as_str())
    });
    names
}

/// `init_phase`, `extensions.0.name`: lowercase words joined by `_`, at least one `_`.
fn is_snake_case(word: &str) -> bool {
    word.contains('_')
        && word.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && word
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.')
}

fn markers_md() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/markers.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The field names docs/markers.md documents: the backquoted names in the first column of each
/// table whose first header is `field` (a cell may name several: `` `duration_ms`, `seq` ``).
fn documented_fields(markdown: &str) -> BTreeSet<String> {
    let mut fields = BTreeSet::new();
    let mut in_field_table = false;
    let mut previous_was_row = false;
    for line in markdown.lines() {
        let line = line.trim();
        let is_row = line.starts_with('|');
        if is_row && !previous_was_row {
            // A table's first line is its header.
            in_field_table = line.trim_start_matches('|').trim().starts_with("field ");
        } else if is_row && in_field_table {
            let first = line.trim_start_matches('|').split('|').next().unwrap_or("");
            let mut quoted = first.split('`');
            quoted.next();
            fields.extend(quoted.step_by(2).map(str::to_owned));
        }
        previous_was_row = is_row;
    }
    fields.retain(|f| !f.is_empty() && !f.starts_with('-'));
    fields
}

/// A dotted path's first segment: Logs Insights' `_aws.Timestamp` is the documented `_aws`.
fn top_level(field: &str) -> &str {
    field.split('.').next().unwrap_or(field)
}

#[test]
fn every_field_a_query_or_its_comment_names_is_documented_in_markers_md() {
    let contract = contract_fields();
    let all: BTreeSet<String> = contract.values().flatten().cloned().collect();
    let documented = documented_fields(&markers_md());
    assert!(
        documented.len() > 20,
        "docs/markers.md's field tables were not found (read {documented:?})"
    );
    let mut problems = Vec::new();
    for (name, text) in query_files() {
        let in_comment = comment_names(&text);
        let in_query = analyse(&text).fields;
        for field in in_comment.iter().chain(&in_query) {
            let said = if in_query.contains(field) {
                "its query reads"
            } else {
                "its comment names"
            };
            if !all.contains(field) {
                problems.push(format!(
                    "layer/queries/{name}: {said} `{field}`, which no marker has"
                ));
            } else if !documented.contains(top_level(field)) {
                problems.push(format!(
                    "layer/queries/{name}: {said} `{field}`, which docs/markers.md's field tables \
                     do not document"
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "the query pack names fields the markers or their docs do not have:\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_field_markers_md_documents_is_a_marker_field() {
    let contract = contract_fields();
    let written: BTreeSet<&str> = contract.values().flatten().map(|f| top_level(f)).collect();
    let stray: Vec<String> = documented_fields(&markers_md())
        .into_iter()
        .filter(|f| !written.contains(f.as_str()))
        .collect();
    assert!(
        stray.is_empty(),
        "docs/markers.md documents fields no marker has: {stray:?}"
    );
}

#[test]
fn comment_names_are_backquoted_or_snake_case_and_not_aliases() {
    let query = "# Counts `inits` of `invoke` markers per cold_start (see other_query.cwl);\n\
                 # COLDMARK_INVOKE_MARKERS\n\
                 # must be `all`, and init_phase = \"invoke\". Plain words are prose.\n\
                 filter coldmark = \"invoke\" | stats count(*) as inits by function_name";
    let names: Vec<String> = comment_names(query).into_iter().collect();
    assert_eq!(names, ["all", "cold_start", "init_phase"]);
}

#[test]
fn documented_fields_come_from_field_tables_only() {
    let markdown = "| variable | default |\n|---|---|\n| `COLDMARK_LOG` | `warn` |\n\n\
                    | field | type | meaning |\n|---|---|---|\n| `seq` | number | `not_a_field` |\n\
                    | `duration_ms`, `billed_duration_ms` | number | … |\n";
    let fields: Vec<String> = documented_fields(markdown).into_iter().collect();
    assert_eq!(fields, ["billed_duration_ms", "duration_ms", "seq"]);
}
