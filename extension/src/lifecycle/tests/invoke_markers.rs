//! `COLDMARK_INVOKE_MARKERS`: which invocations get a marker, and the bound on those held.

use super::*;

#[test]
fn all_mode_marks_every_invocation_and_bounds_what_it_holds() {
    let mut m = subscribed(InvokeMarkers::All, "on-demand");
    feed(
        &mut m,
        vec![init_start(0, "on-demand", "init"), init_report(5, 5.0)],
    );
    let mut written = Vec::new();
    for i in 0..200 {
        written.extend(json(&m.on_invoke(invoke(&format!("r{i}"), 10 + i * 600))));
    }
    // Invocations further apart than half the grace: never more than two held without a
    // report.
    let invokes = written.iter().filter(|v| v["coldmark"] == "invoke").count();
    assert_eq!(invokes, 198);
    written.extend(json(&m.finish()));
    let seqs: Vec<u64> = written
        .iter()
        .filter(|v| v["coldmark"] == "invoke")
        .map(|v| v["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=200).collect::<Vec<_>>());
    assert_eq!(written[0]["coldmark"], "init");
    assert_eq!(
        written.iter().filter(|v| v["cold_start"] == true).count(),
        1
    );
}

#[test]
fn a_burst_without_reports_holds_at_most_max_held() {
    let mut m = subscribed(InvokeMarkers::All, "on-demand");
    feed(
        &mut m,
        vec![init_start(0, "on-demand", "init"), init_report(5, 5.0)],
    );
    let mut written = Vec::new();
    // 2,048 held at most, as docs/security.md and docs/markers.md say: a changed bound fails.
    let burst = 2048 + 136;
    for i in 0..burst {
        // All within the report grace: only the bound releases them early.
        written.extend(json(
            &m.on_invoke(invoke(&format!("r{i}"), 10 + (i / 4) as i64)),
        ));
    }
    let invokes = written.iter().filter(|v| v["coldmark"] == "invoke").count();
    assert_eq!(invokes, 136);
    written.extend(json(&m.finish()));
    let seqs: Vec<u64> = written
        .iter()
        .filter(|v| v["coldmark"] == "invoke")
        .map(|v| v["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=burst as u64).collect::<Vec<_>>());
}

#[test]
fn none_mode_writes_only_init_and_shutdown() {
    let mut m = machine(InvokeMarkers::None, "on-demand");
    let out = m.on_invoke(invoke("r1", 1));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].kind(), "init");
}
