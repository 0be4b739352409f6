//! One test per rule of the pool: state and inputs in, decisions out; no process, no socket.
//! Environments are their names.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::*;
use crate::environment::{Artifacts, FunctionConfig};

fn function() -> FunctionState {
    FunctionState {
        config: FunctionConfig {
            function_name: "clock".into(),
            version: LATEST.into(),
            memory_mb: 128,
            timeout: Duration::from_secs(3),
            handler: "bootstrap".into(),
            environment: BTreeMap::new(),
        },
        artifacts: Artifacts::default(),
        revision: 1,
        last_modified: Utc::now(),
    }
}

fn limits(max_environments: usize) -> Limits {
    Limits {
        max_environments,
        capacity: INVOCATIONS_PER_ENVIRONMENT,
        idle_reclaim: None,
        scale_ahead: false,
    }
}

fn pool(limits: Limits) -> Pool<String> {
    Pool::new(function(), limits)
}

/// A request for `qualifier`: served by a warm environment (its name, no reason) or by a new
/// one, started as `name` (with the reason it was started for).
fn serve(
    pool: &mut Pool<String>,
    qualifier: Option<&str>,
    name: &str,
    now: Instant,
) -> (String, Option<StartReason>) {
    match pool.admit(qualifier, None).expect("admitted") {
        Admission::Warm { env, .. } => (env, None),
        Admission::Start(start) => {
            assert_eq!(start.origin, Origin::OnDemand);
            assert_eq!(
                pool.started(&start, name, name.to_owned(), now),
                Release::Serving
            );
            (name.to_owned(), Some(start.reason))
        }
        Admission::Wait { .. } => panic!("on-demand pools never make a request wait"),
    }
}

/// [`serve`] for `tenant` (tenant isolation).
fn serve_tenant(
    pool: &mut Pool<String>,
    tenant: &str,
    name: &str,
    now: Instant,
) -> (String, Option<StartReason>) {
    match pool.admit(None, Some(tenant)).expect("admitted") {
        Admission::Warm { env, key } => {
            assert_eq!(key.tenant.as_deref(), Some(tenant));
            (env, None)
        }
        Admission::Start(start) => {
            assert_eq!(start.key.tenant.as_deref(), Some(tenant));
            pool.started(&start, name, name.to_owned(), now);
            (name.to_owned(), Some(start.reason))
        }
        Admission::Wait { .. } => panic!("on-demand pools never make a request wait"),
    }
}

fn update(pool: &mut Pool<String>) -> Vec<String> {
    pool.update(ConfigUpdate::default(), Utc::now()).1
}

#[test]
fn the_first_request_starts_an_environment_and_the_next_reuses_it() {
    let mut p = pool(limits(10));
    let t = Instant::now();
    assert_eq!(
        serve(&mut p, None, "a", t),
        ("a".into(), Some(StartReason::FirstSeen))
    );
    assert_eq!(p.in_flight(), 1);
    assert_eq!(p.idle(), 0);
    assert_eq!(p.release("a", true, t), Release::Idle { reclaim_at: None });
    assert_eq!((p.in_flight(), p.idle()), (0, 1));
    assert_eq!(serve(&mut p, None, "b", t), ("a".into(), None));
}

#[test]
fn an_environment_that_joined_the_pool_last_answers_before_earlier_ones() {
    let mut p = pool(limits(10));
    let t = Instant::now();
    serve(&mut p, None, "a", t);
    p.release("a", true, t);
    let provisioned = p.provision();
    p.started(&provisioned, "p", "p".into(), t);
    assert_eq!(serve(&mut p, None, "x", t).0, "p");
    assert_eq!(serve(&mut p, None, "x", t).0, "a");
}

#[test]
fn concurrent_requests_scale_out_one_environment_each() {
    let mut p = pool(limits(10));
    let t = Instant::now();
    serve(&mut p, None, "a", t);
    // "a" is busy; a request that arrives while "b" is still initialising starts a third.
    let Admission::Start(b) = p.admit(None, None).unwrap() else {
        panic!("a busy environment serves no second request")
    };
    assert_eq!(b.reason, StartReason::ScaleOut);
    assert_eq!(serve(&mut p, None, "c", t).1, Some(StartReason::ScaleOut));
    p.started(&b, "b", "b".into(), t);
    assert_eq!(p.in_flight(), 3);
}

#[test]
fn requests_beyond_the_limit_are_refused_until_one_ends() {
    let mut p = pool(limits(2));
    let t = Instant::now();
    serve(&mut p, None, "a", t);
    // An environment still initialising counts toward the limit too.
    let Admission::Start(b) = p.admit(None, None).unwrap() else {
        panic!("a new environment")
    };
    assert_eq!(
        p.admit(None, None).unwrap_err(),
        Refusal::TooManyRequests { limit: 2 }
    );
    p.started(&b, "b", "b".into(), t);
    assert_eq!(
        p.admit(None, None).unwrap_err(),
        Refusal::TooManyRequests { limit: 2 }
    );
    p.release("a", true, t);
    assert_eq!(serve(&mut p, None, "c", t), ("a".into(), None));
}

#[test]
fn the_most_recently_used_environment_answers_first() {
    let mut p = pool(limits(10));
    let t = Instant::now();
    serve(&mut p, None, "a", t);
    serve(&mut p, None, "b", t);
    p.release("b", true, t);
    p.release("a", true, t);
    assert_eq!(serve(&mut p, None, "x", t).0, "a");
    assert_eq!(serve(&mut p, None, "x", t).0, "b");
}

#[test]
fn an_update_spins_idle_environments_down_at_once_and_busy_ones_when_they_end() {
    let mut p = pool(limits(10));
    let t = Instant::now();
    serve(&mut p, None, "a", t);
    serve(&mut p, None, "b", t);
    p.release("a", true, t);
    assert_eq!(update(&mut p), ["a"], "the idle one, at once");
    assert_eq!(p.idle(), 0);
    assert_eq!(
        p.release("b", true, t),
        Release::SpinDown("b".to_owned()),
        "the busy one, when its invocation ends"
    );
    assert_eq!(
        serve(&mut p, None, "c", t),
        ("c".into(), Some(StartReason::ConfigurationChange))
    );
    assert_eq!(p.versions().latest().revision, 2);
}

#[test]
fn versions_are_served_by_their_own_environments() {
    let mut p = pool(limits(10));
    let t = Instant::now();
    serve(&mut p, None, "a", t);
    p.release("a", true, t);
    assert!(p.publish(Utc::now()).created);
    // Version 1 has the configuration of "a", but not its pool key.
    assert_eq!(
        serve(&mut p, Some("1"), "v", t),
        ("v".into(), Some(StartReason::NewVersion))
    );
    p.release("v", true, t);
    assert_eq!(serve(&mut p, Some(LATEST), "x", t).0, "a");
    p.release("a", true, t);
    assert_eq!(update(&mut p), ["a"], "the version's environment stays");
    assert_eq!(serve(&mut p, Some("1"), "x", t).0, "v");
    assert_eq!(
        p.admit(Some("2"), None).unwrap_err(),
        Refusal::UnknownVersion("2".into())
    );
}

#[test]
fn idle_environments_are_reclaimed_after_the_limit_and_replaced() {
    let mut p = pool(Limits {
        idle_reclaim: Some(Duration::from_secs(10)),
        ..limits(10)
    });
    let t = Instant::now();
    serve(&mut p, None, "a", t);
    assert!(
        p.reclaim_idle(t + Duration::from_secs(60)).is_empty(),
        "a busy environment is never reclaimed"
    );
    let done = t + Duration::from_secs(60);
    assert_eq!(
        p.release("a", true, done),
        Release::Idle {
            reclaim_at: Some(done + Duration::from_secs(10))
        }
    );
    assert!(p.reclaim_idle(done + Duration::from_secs(9)).is_empty());
    assert_eq!(p.reclaim_idle(done + Duration::from_secs(10)), ["a"]);
    assert_eq!(p.idle(), 0);
    assert_eq!(
        serve(&mut p, None, "b", done).1,
        Some(StartReason::Replacement)
    );
}

#[test]
fn a_reused_environment_is_not_reclaimed_at_an_earlier_idle_spells_deadline() {
    let mut p = pool(Limits {
        idle_reclaim: Some(Duration::from_secs(10)),
        ..limits(10)
    });
    let t = Instant::now();
    serve(&mut p, None, "a", t);
    let Release::Idle {
        reclaim_at: Some(first_deadline),
    } = p.release("a", true, t)
    else {
        panic!("idle, with a deadline")
    };
    serve(&mut p, None, "x", t + Duration::from_secs(5));
    p.release("a", true, t + Duration::from_secs(8));
    assert!(p.reclaim_idle(first_deadline).is_empty());
    assert_eq!(p.reclaim_idle(t + Duration::from_secs(18)), ["a"]);
}

#[test]
fn a_dead_environment_is_spun_down_when_its_invocation_ends() {
    let mut p = pool(limits(10));
    let t = Instant::now();
    serve(&mut p, None, "a", t);
    assert_eq!(p.release("a", false, t), Release::SpinDown("a".to_owned()));
    assert_eq!(p.in_flight(), 0);
    assert_eq!(
        serve(&mut p, None, "b", t).1,
        Some(StartReason::Replacement)
    );
}

#[test]
fn a_failed_init_frees_its_place_and_the_next_start_is_after_failure() {
    let mut p = pool(limits(1));
    let Admission::Start(start) = p.admit(None, None).unwrap() else {
        panic!("a new environment")
    };
    p.start_failed(&start);
    assert_eq!(p.in_flight(), 0);
    assert_eq!(
        serve(&mut p, None, "b", Instant::now()).1,
        Some(StartReason::AfterFailure)
    );
}

#[test]
fn closing_refuses_requests_and_spins_every_environment_down() {
    let mut p = pool(limits(10));
    let t = Instant::now();
    serve(&mut p, None, "a", t);
    serve(&mut p, None, "b", t);
    p.release("a", true, t);
    let provisioned = p.provision();
    assert_eq!(p.close(), ["a"], "idle ones at once");
    assert_eq!(p.admit(None, None).unwrap_err(), Refusal::Closed);
    assert_eq!(p.in_flight(), 1);
    assert_eq!(p.release("b", true, t), Release::SpinDown("b".to_owned()));
    assert_eq!(
        p.started(&provisioned, "c", "c".into(), t),
        Release::SpinDown("c".to_owned()),
        "an init that ends after the close"
    );
    assert_eq!(p.in_flight(), 0);
}

#[test]
fn provisioned_environments_wait_idle_and_do_not_count_toward_the_limit() {
    let mut p = pool(limits(1));
    let t = Instant::now();
    let (one, two) = (p.provision(), p.provision());
    assert_eq!(one.reason, StartReason::Provisioned);
    assert_eq!(one.origin, Origin::Provisioned);
    assert_eq!(p.in_flight(), 0, "no request waits for them");
    assert_eq!(
        p.started(&one, "p1", "p1".into(), t),
        Release::Idle { reclaim_at: None }
    );
    p.started(&two, "p2", "p2".into(), t);
    assert_eq!(p.idle(), 2);
    // Both serve, although the limit is one environment: idle ones are always used.
    assert_eq!(serve(&mut p, None, "x", t).1, None);
    assert_eq!(serve(&mut p, None, "x", t).1, None);
    assert_eq!(
        p.admit(None, None).unwrap_err(),
        Refusal::TooManyRequests { limit: 1 }
    );
}

#[test]
fn a_provisioned_environment_of_a_replaced_configuration_is_spun_down_once_started() {
    let mut p = pool(limits(10));
    let t = Instant::now();
    let old = p.provision();
    update(&mut p);
    assert_eq!(
        p.started(&old, "p1", "p1".into(), t),
        Release::SpinDown("p1".to_owned())
    );
    let new = p.provision();
    assert_eq!(new.key.revision, 2);
    p.start_failed(&new);
    assert_eq!(
        serve(&mut p, None, "a", t).1,
        Some(StartReason::AfterFailure)
    );
}

#[test]
fn an_environment_with_room_for_two_takes_a_second_request_while_busy() {
    let mut p = pool(Limits {
        capacity: 2,
        ..limits(10)
    });
    let t = Instant::now();
    serve(&mut p, None, "a", t);
    assert_eq!(serve(&mut p, None, "x", t), ("a".into(), None));
    assert_eq!(
        serve(&mut p, None, "b", t),
        ("b".into(), Some(StartReason::ScaleOut))
    );
    assert_eq!(p.in_flight(), 3);
    update(&mut p);
    assert_eq!(
        p.release("a", true, t),
        Release::Serving,
        "one more in flight"
    );
    assert_eq!(p.release("a", true, t), Release::SpinDown("a".to_owned()));
}

/// Lambda Managed Instances: `capacity` invocations per environment, started ahead of demand.
fn managed(max_environments: usize, capacity: usize) -> Limits {
    Limits {
        max_environments,
        capacity,
        idle_reclaim: None,
        scale_ahead: true,
    }
}

#[test]
fn managed_instances_start_a_batch_ahead_with_one_reason_and_fill_one_environment_first() {
    let mut p = pool(managed(10, 3));
    let t = Instant::now();
    let batch = p.start_ahead_batch(function(), 3);
    assert!(batch.iter().all(|s| s.reason == StartReason::FirstSeen));
    assert!(batch.iter().all(|s| s.origin == Origin::Provisioned));
    // Before any joined, a request waits (none of its own is started: three are coming).
    assert!(matches!(
        p.admit(None, None).unwrap(),
        Admission::Wait { scale_out: None }
    ));
    for (start, name) in batch.iter().zip(["a", "b", "c"]) {
        assert_eq!(
            p.started(start, name, name.to_owned(), t),
            Release::Idle { reclaim_at: None }
        );
    }
    // The most recently joined takes requests up to its concurrency, then the next.
    let served: Vec<String> = (0..4)
        .map(|_| match p.admit(None, None).unwrap() {
            Admission::Warm { env, .. } => env,
            other => panic!("a warm environment, not {other:?}"),
        })
        .collect();
    assert_eq!(served, ["c", "c", "c", "b"]);
    assert_eq!(p.in_flight(), 4);
    assert_eq!(p.release("c", true, t), Release::Serving);
}

#[test]
fn managed_instances_scale_out_once_when_every_environment_is_full() {
    let mut p = pool(managed(10, 2));
    let t = Instant::now();
    let first = p.start_ahead_batch(function(), 1).remove(0);
    p.started(&first, "a", "a".into(), t);
    for _ in 0..2 {
        assert!(matches!(
            p.admit(None, None).unwrap(),
            Admission::Warm { .. }
        ));
    }
    // Full: the request waits while one environment scales out; the next waits for it too.
    let Admission::Wait {
        scale_out: Some(scale_out),
    } = p.admit(None, None).unwrap()
    else {
        panic!("a full pool scales out")
    };
    assert_eq!(scale_out.reason, StartReason::ScaleOut);
    assert!(matches!(
        p.admit(None, None).unwrap(),
        Admission::Wait { scale_out: None }
    ));
    // A slot freed in "a" serves a waiting request at once.
    assert_eq!(p.release("a", true, t), Release::Serving);
    assert!(matches!(p.admit(None, None).unwrap(), Admission::Warm { env, .. } if env == "a"));
    p.started(&scale_out, "b", "b".into(), t);
    assert!(matches!(p.admit(None, None).unwrap(), Admission::Warm { env, .. } if env == "b"));
}

#[test]
fn managed_instances_throttle_only_beyond_every_environment_at_its_concurrency() {
    let mut p = pool(managed(2, 2));
    let t = Instant::now();
    for (start, name) in p.start_ahead_batch(function(), 2).iter().zip(["a", "b"]) {
        p.started(start, name, name.to_owned(), t);
    }
    // Capacity: 2 environments × 2 invocations; all four are served.
    for _ in 0..4 {
        assert!(matches!(
            p.admit(None, None).unwrap(),
            Admission::Warm { .. }
        ));
    }
    assert_eq!(
        p.admit(None, None).unwrap_err(),
        Refusal::TooManyRequests { limit: 2 }
    );
}

#[test]
fn managed_instances_start_the_new_configuration_ahead_and_requests_wait_for_it() {
    let mut p = pool(managed(10, 4));
    let t = Instant::now();
    let first = p.start_ahead_batch(function(), 1).remove(0);
    p.started(&first, "a", "a".into(), t);
    assert_eq!(update(&mut p), ["a"]);
    let next = p.versions().latest().clone();
    let batch = p.start_ahead_batch(next, 3);
    assert!(batch
        .iter()
        .all(|s| s.reason == StartReason::ConfigurationChange));
    assert!(matches!(
        p.admit(None, None).unwrap(),
        Admission::Wait { scale_out: None }
    ));
    // A start that failed leaves the others to wait for; once all failed, the next request
    // scales out again, after the failure.
    for start in &batch {
        p.start_failed(start);
    }
    let Admission::Wait {
        scale_out: Some(again),
    } = p.admit(None, None).unwrap()
    else {
        panic!("nothing is starting: scale out")
    };
    assert_eq!(again.reason, StartReason::AfterFailure);
}

#[test]
fn a_retired_environment_takes_no_more_and_leaves_with_its_last_invocation() {
    let mut p = pool(managed(10, 3));
    let t = Instant::now();
    let first = p.start_ahead_batch(function(), 1).remove(0);
    p.started(&first, "a", "a".into(), t);
    for _ in 0..2 {
        assert!(matches!(p.admit(None, None).unwrap(), Admission::Warm { env, .. } if env == "a"));
    }
    // Its runtime exited under the two invocations: the next request does not go to it.
    p.retire("a");
    let Admission::Wait {
        scale_out: Some(scale_out),
    } = p.admit(None, None).unwrap()
    else {
        panic!("a retired environment has no room")
    };
    assert_eq!(scale_out.reason, StartReason::ScaleOut);
    // Alive or not by the shell's reckoning, it leaves when its last invocation ends.
    assert_eq!(p.release("a", true, t), Release::Serving);
    assert_eq!(p.release("a", true, t), Release::SpinDown("a".into()));
}

#[test]
fn each_tenant_is_served_by_its_own_environments_only() {
    let mut p = pool(limits(10));
    let t = Instant::now();
    assert_eq!(
        serve_tenant(&mut p, "blue", "b1", t),
        ("b1".into(), Some(StartReason::NewTenant))
    );
    p.release("b1", true, t);
    // blue's environment is idle, yet green gets one of its own.
    assert_eq!(
        serve_tenant(&mut p, "green", "g1", t),
        ("g1".into(), Some(StartReason::NewTenant))
    );
    // blue's next request is warm, on blue's environment.
    assert_eq!(serve_tenant(&mut p, "blue", "x", t), ("b1".into(), None));
    // Both busy: another blue request scales out within blue.
    assert_eq!(
        serve_tenant(&mut p, "blue", "b2", t),
        ("b2".into(), Some(StartReason::ScaleOut))
    );
    p.release("g1", true, t);
    assert_eq!(serve_tenant(&mut p, "green", "x", t), ("g1".into(), None));
}

#[test]
fn the_limit_counts_every_tenants_environments() {
    let mut p = pool(limits(2));
    let t = Instant::now();
    serve_tenant(&mut p, "blue", "b1", t);
    serve_tenant(&mut p, "green", "g1", t);
    assert_eq!(
        p.admit(None, Some("red")).unwrap_err(),
        Refusal::TooManyRequests { limit: 2 }
    );
    p.release("b1", true, t);
    // An idle blue environment does not take red's request, and does not free a place under
    // the limit either: it is not busy, so red may start one.
    assert_eq!(
        serve_tenant(&mut p, "red", "r1", t),
        ("r1".into(), Some(StartReason::NewTenant))
    );
}

#[test]
fn an_update_retires_every_tenants_environments() {
    let mut p = pool(limits(10));
    let t = Instant::now();
    serve_tenant(&mut p, "blue", "b1", t);
    serve_tenant(&mut p, "green", "g1", t);
    p.release("b1", true, t);
    p.release("g1", true, t);
    let mut stale = update(&mut p);
    stale.sort();
    assert_eq!(stale, ["b1", "g1"]);
    // The first tenant on the new configuration sees the change, the next its own first.
    assert_eq!(
        serve_tenant(&mut p, "green", "g2", t).1,
        Some(StartReason::ConfigurationChange)
    );
    assert_eq!(
        serve_tenant(&mut p, "blue", "b2", t).1,
        Some(StartReason::NewTenant)
    );
}
