//! The renderers on the shared cases: the table says the cause and the evidence in words, the
//! summary adds up per function and cause (GB-seconds, money), `--json` carries the listed
//! fields, and the SVG is a well-formed picture with one lane per environment.

mod support;

use support::*;

#[test]
fn table_rows_evidence_and_summary() {
    let s = Scenario::day();
    let out = run(
        &["--price-per-gb-second", "0.0000166667"],
        s.ndjson().as_bytes(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert_eq!(out.status.code(), Some(0));
    // It fits a 120-column terminal: the evidence wraps under its column.
    for line in stdout.lines() {
        assert!(
            line.chars().count() <= 120,
            "{} wide: {line}",
            line.chars().count()
        );
    }
    assert!(stdout.contains("── 2026-11-25 ──"), "the date, once");
    // One row per init; ids a person can tell apart (both scale-outs, in full).
    let rows: Vec<&str> = stdout.lines().filter(|l| l.starts_with("10:")).collect();
    assert_eq!(rows.len(), 12, "one row per init");
    let row = |env: &str| {
        rows.iter()
            .find(|r| r.contains(env) && !r.contains("re-ran"))
            .copied()
            .unwrap_or_else(|| panic!("no row for {env}"))
    };
    let envs: std::collections::BTreeSet<&str> = rows
        .iter()
        .filter_map(|r| r.split_whitespace().nth(2))
        .collect();
    assert_eq!(
        envs.len(),
        11,
        "eleven environments, eleven ids on screen: {envs:?}"
    );
    assert!(
        row("env-config-06").contains("configuration-change configuration changed: fingerprint")
    );
    assert!(stdout.contains("1c5492cf7f84\n") && stdout.contains("→ 1402bb942569"));
    assert!(row("env-scale-02").contains("scale-out            1 environment of this"));
    assert!(row("env-scale-03").contains("2 environments of this configuration were busy"));
    assert!(
        row("env-re…ace-04").contains("none of this configuration alive; env-first-01"),
        "{}",
        row("env-re…ace-04")
    );
    assert!(stdout.contains("spun down 58.0 s before"));
    assert!(row("env-ve…ion-08").contains("version 1 first seen; before it $LATEST served"));
    assert!(row("env-first-01").contains(" 400.0 "));
    // Summary: clock has 11 inits of 400 ms at 1024 MB = 0.4 GB-s each; money and GB-seconds
    // with the digits they have.
    assert!(
        stdout.contains("clock: 11 cold starts, 4.4 s of init, 4.40 GB-s billed  $0.0000733"),
        "{stdout}"
    );
    assert!(stdout.contains("  2 scale-outs: 800.0 ms of init, 0.800 GB-s  $0.0000133"));
    assert!(stdout.contains("  1 configuration change: 400.0 ms of init, 0.400 GB-s"));
    // api: 250 ms at 128 MB = 0.03125 GB-s.
    assert!(
        stdout.contains("api: 1 cold start, 250.0 ms of init, 0.0312 GB-s billed  $0.000000521")
    );
}

#[test]
fn wide_table_has_every_column_and_whole_ids() {
    let s = Scenario::day();
    let out = run(&["--wide"], s.ndjson().as_bytes());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    let header = stdout.lines().next().unwrap();
    for column in [
        "TIME",
        "FUNCTION",
        "ENV",
        "INIT TYPE",
        "INIT ms",
        "CAUSE",
        "EVIDENCE",
    ] {
        assert!(header.contains(column), "{header}");
    }
    let rows: Vec<&str> = stdout.lines().filter(|l| l.starts_with("2026-")).collect();
    assert_eq!(rows.len(), 12);
    assert!(stdout.contains("on-demand (invoke)"));
    assert!(stdout.contains("400.0 (390.0+10.0)"));
    // Whole ids, in the column and in the evidence; one line per row.
    let replacement = rows.iter().find(|r| r.contains("replacement")).unwrap();
    assert!(replacement.contains("env-replace-04"), "{replacement}");
    assert!(replacement
        .contains("none of this configuration alive; env-first-01 spun down 58.0 s before"));
    assert!(rows.iter().any(|r| r.len() > 120));
}

#[test]
fn json_records_have_the_listed_fields() {
    let s = Scenario::day();
    let out = run(
        &["--json", "--price-per-gb-second", "2"],
        s.ndjson().as_bytes(),
    );
    let (inits, summaries) = parse_json(&out);
    for i in &inits {
        for field in [
            "function_name",
            "function_version",
            "env_id",
            "timestamp",
            "init_duration_ms",
            "cause",
            "evidence",
        ] {
            assert!(!i[field].is_null(), "{field} in {i}");
        }
    }
    let config = inits
        .iter()
        .find(|i| i["cause"] == "configuration-change")
        .unwrap();
    assert_eq!(config["details"]["previous_fingerprint"], "1c5492cf7f84");
    assert_eq!(config["timestamp"], "2026-11-25T10:03:20.000Z");
    let clock = summaries
        .iter()
        .find(|s| s["function_name"] == "clock")
        .unwrap();
    assert_eq!(clock["cold_starts"], 11);
    assert!((clock["gb_seconds"].as_f64().unwrap() - 4.4).abs() < 1e-9);
    assert!((clock["cost"].as_f64().unwrap() - 8.8).abs() < 1e-9);
    assert_eq!(clock["causes"]["scale-out"]["cold_starts"], 2);
    assert_eq!(clock["causes"]["after-failure"]["cold_starts"], 2);
}

fn lanes(doc: &roxmltree::Document) -> Vec<(String, String)> {
    doc.descendants()
        .filter(|n| n.attribute("class") == Some("lane"))
        .map(|n| {
            (
                n.attribute("data-env-id").unwrap().to_owned(),
                n.attribute("data-cause").unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn svg_timeline_has_lanes_bands_and_labels() {
    let s = Scenario::day();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("timeline.svg");
    let out = run(
        &["--svg", path.to_str().unwrap(), "--quiet"],
        s.ndjson().as_bytes(),
    );
    assert_eq!(out.status.code(), Some(0));
    let text = std::fs::read_to_string(&path).unwrap();
    let doc = roxmltree::Document::parse(&text).expect("the SVG is well-formed XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let lanes = lanes(&doc);
    assert_eq!(lanes.len(), 11, "one lane per environment");
    // The re-init inside an invocation is drawn on its environment's lane.
    let reinit = doc
        .descendants()
        .find(|n| n.attribute("class") == Some("reinit"))
        .expect("the re-init");
    assert_eq!(reinit.attribute("data-cause"), Some("after-failure"));
    assert_eq!(
        reinit
            .parent()
            .and_then(|g| g.parent())
            .and_then(|l| l.attribute("data-env-id")),
        Some("env-failed-05")
    );
    assert!(lanes.contains(&("env-config-06".into(), "configuration-change".into())));
    // Lanes are grouped by function; bands are the configuration generations of each.
    let functions: Vec<&str> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("function"))
        .map(|n| n.attribute("data-function").unwrap())
        .collect();
    assert_eq!(functions, vec!["api", "clock"]);
    let bands: Vec<(&str, &str)> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("band"))
        .map(|n| {
            (
                n.attribute("data-version").unwrap(),
                n.attribute("data-fingerprint").unwrap(),
            )
        })
        .collect();
    assert_eq!(
        bands,
        vec![
            ("$LATEST", "aaaaaaaaaaaa"),
            ("$LATEST", "1c5492cf7f84"),
            ("$LATEST", "1402bb942569"),
            ("1", "77aa00bb11cc"),
        ]
    );
    let texts: Vec<String> = doc
        .descendants()
        .filter(|n| n.is_text())
        .map(|n| n.text().unwrap().to_owned())
        .collect();
    for label in [
        "env-config-06 configuration-change",
        "spindown",
        "failure",
        "12 cold starts",
    ] {
        assert!(
            texts.iter().any(|t| t.contains(label)),
            "label {label:?} in {texts:?}"
        );
    }
    // The legend names every cause.
    let legend: Vec<&str> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("legend-label"))
        .filter_map(|n| n.text())
        .map(str::trim)
        .collect();
    let every: Vec<&str> = coldmark_explain::Cause::ALL
        .iter()
        .map(|c| c.as_str())
        .collect();
    assert_eq!(legend, every);
}

#[test]
fn svg_lanes_are_capped_and_the_rest_summarised() {
    let s = Scenario::day();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("timeline.svg");
    let out = run(
        &[
            "--svg",
            path.to_str().unwrap(),
            "--svg-lanes",
            "4",
            "--json",
        ],
        s.ndjson().as_bytes(),
    );
    assert_eq!(out.status.code(), Some(0));
    let text = std::fs::read_to_string(&path).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let drawn = lanes(&doc);
    assert_eq!(drawn.len(), 4);
    // The first four environments are two first-seen and two scale-outs; once full, rarer
    // causes take lanes from the most drawn one, so the picture still shows them.
    let causes: std::collections::BTreeSet<&str> = drawn.iter().map(|(_, c)| c.as_str()).collect();
    assert!(causes.len() >= 3, "{drawn:?}");
    let more = doc
        .descendants()
        .find(|n| n.attribute("class") == Some("more"))
        .expect("a line for the lanes not drawn");
    // 11 environments, 4 drawn (the re-init is not another environment).
    assert_eq!(more.attribute("data-count"), Some("7"));
    assert!(more.text().unwrap().contains("lanes capped at 4"));
}
