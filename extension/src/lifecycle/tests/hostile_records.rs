//! Records delivered twice or forged: they change nothing, or grow nothing without bound.

use super::*;

#[test]
fn a_redelivered_batch_changes_nothing() {
    let batch = || {
        vec![
            init_start(0, "on-demand", "init"),
            runtime_done(8),
            init_report(11, 11.0),
        ]
    };
    let mut m = subscribed(InvokeMarkers::First, "on-demand");
    let mut out = json(&feed(&mut m, batch()));
    out.extend(json(&feed(&mut m, batch())));
    out.extend(json(&m.on_invoke(invoke("r1", 12))));
    out.extend(json(&feed(&mut m, vec![report("r1", 20, Some(11.0))])));
    // Again after the markers went out.
    out.extend(json(&feed(&mut m, batch())));
    out.extend(json(&feed(&mut m, vec![report("r1", 20, Some(11.0))])));
    out.extend(json(&m.finish()));
    let inits: Vec<_> = out.iter().filter(|v| v["coldmark"] == "init").collect();
    assert_eq!(inits.len(), 1, "{out:?}");
    assert_eq!(
        out.iter().filter(|v| v["ColdStart"] == 1).count(),
        1,
        "one ColdStart metric"
    );
    assert_eq!(out.iter().filter(|v| v["coldmark"] == "invoke").count(), 1);
}

#[test]
fn forged_records_cannot_grow_the_state_without_bound() {
    let mut m = subscribed(InvokeMarkers::None, "on-demand");
    let mut out = Vec::new();
    for i in 0..1000 {
        out.extend(json(&m.on_record(Record::Extension {
            name: format!("ext-{i}"),
            state: Some("Ready".into()),
            events: vec![],
        })));
        out.extend(json(&m.on_record(init_start(i, "on-demand", "invoke"))));
    }
    out.extend(json(&m.finish()));
    // The bounds docs/security.md states, written out: a changed constant fails here.
    assert_eq!(out.len(), 16, "inits tracked");
    let listed = |v: &Value| v["extensions"].as_array().unwrap().len();
    assert!(out.iter().all(|v| listed(v) <= 32));
    assert_eq!(listed(out.last().unwrap()), 32, "extensions listed");
}
