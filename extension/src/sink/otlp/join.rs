//! Which request's trace an init span joins: the request that waited for the init carries the
//! X-Ray trace header, and it is known from that request's `invoke` marker (`cold_start: true`,
//! `xray_trace_id`), which the lifecycle writes after the `init` marker (it waits for its
//! report). So a user-facing init is held here until that marker comes, then built into that
//! trace — with the init that failed before it, when Lambda ran init again inside that request
//! (both delayed it). An init no request waited for (`proactive`), or one that nothing will
//! pair (`COLDMARK_INVOKE_MARKERS=none`), goes at once into a trace of its own, and so does one
//! still held at SHUTDOWN.
//!
//! Pure: markers in, inits ready for their spans out. At most [`MAX_HELD`] inits are held.

use crate::marker::{InitMarker, Marker};

/// Inits held at once, at most: an init, and the retries Lambda ran inside the request that
/// waited for it. Beyond it the oldest goes alone.
pub(crate) const MAX_HELD: usize = 4;

/// An init ready for its spans, with the trace header of the request that waited for it.
#[derive(Debug)]
pub(crate) struct Ready {
    pub(crate) init: Box<InitMarker>,
    /// The waiting request's X-Ray header (`Root=…;Parent=…;Sampled=…`), when it had one.
    pub(crate) xray: Option<String>,
    /// The waiting request's id, when known.
    pub(crate) request_id: Option<String>,
}

/// The pairing state of one environment.
#[derive(Debug, Default)]
pub(crate) struct Join {
    /// `invoke` markers are written (`COLDMARK_INVOKE_MARKERS` is `first` or `all`): a
    /// user-facing init can wait for its request's.
    pub(crate) invoke_markers: bool,
    held: Vec<InitMarker>,
    /// A cold request whose init was not seen yet: (id, trace header).
    cold: Option<(String, Option<String>)>,
}

impl Join {
    pub(crate) fn new(invoke_markers: bool) -> Join {
        Join {
            invoke_markers,
            ..Join::default()
        }
    }

    /// Takes one marker; returns the inits whose spans can be built now.
    pub(crate) fn on_marker(&mut self, marker: &Marker) -> Vec<Ready> {
        let mut out = Vec::new();
        match marker {
            Marker::Init(init) => {
                // A new environment-level init: nothing will pair those held any more. An init
                // in the `invoke` phase is a retry inside a request: it joins them.
                if init.init_phase != "invoke" {
                    out.extend(self.release_held());
                }
                if init.proactive || !self.invoke_markers {
                    out.push(alone(init.clone()));
                } else if let Some((id, xray)) =
                    self.cold.as_ref().filter(|(id, _)| waited_for_by(init, id))
                {
                    // Kept: a retry inside the same request may follow.
                    out.push(Ready {
                        init: init.clone(),
                        xray: xray.clone(),
                        request_id: Some(id.clone()),
                    });
                } else {
                    if self.held.len() >= MAX_HELD {
                        out.push(alone(Box::new(self.held.remove(0))));
                    }
                    self.held.push((**init).clone());
                }
            }
            Marker::Invoke(invoke) if invoke.cold_start => {
                let id = invoke.function_request_id.clone();
                let xray = invoke.xray_trace_id.clone();
                // A retry inside an invocation names the request that paid for it: only that
                // request's trace is its own.
                let (paired, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.held)
                    .into_iter()
                    .partition(|init| waited_for_by(init, &id));
                self.held = kept;
                if paired.is_empty() {
                    self.cold = Some((id, xray));
                } else {
                    out.extend(paired.into_iter().map(|init| Ready {
                        init: Box::new(init),
                        xray: xray.clone(),
                        request_id: Some(id.clone()),
                    }));
                }
            }
            Marker::Invoke(_) | Marker::Shutdown(_) => {}
        }
        out
    }

    /// At SHUTDOWN: the inits still held, each in a trace of its own.
    pub(crate) fn release_held(&mut self) -> Vec<Ready> {
        self.held
            .drain(..)
            .map(|init| alone(Box::new(init)))
            .collect()
    }
}

/// Whether request `id` can be the one that waited for `init`: any request for an init of the
/// environment; for a retry inside an invocation, only the request it names.
fn waited_for_by(init: &InitMarker, id: &str) -> bool {
    init.function_request_id
        .as_deref()
        .is_none_or(|paid| paid == id)
}

fn alone(init: Box<InitMarker>) -> Ready {
    let request_id = init.function_request_id.clone();
    Ready {
        init,
        xray: None,
        request_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::marker::InvokeMarker;

    fn init(proactive: bool, phase: &str) -> Marker {
        Marker::Init(Box::new(InitMarker {
            init_phase: phase.into(),
            proactive,
            ..InitMarker::default()
        }))
    }

    /// A retry inside request `paid`.
    fn retry(paid: &str) -> Marker {
        Marker::Init(Box::new(InitMarker {
            init_phase: "invoke".into(),
            function_request_id: Some(paid.into()),
            ..InitMarker::default()
        }))
    }

    fn invoke(id: &str, cold_start: bool, xray: Option<&str>) -> Marker {
        Marker::Invoke(Box::new(InvokeMarker {
            function_request_id: id.into(),
            cold_start,
            xray_trace_id: xray.map(str::to_string),
            ..InvokeMarker::default()
        }))
    }

    const ROOT: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8";

    #[test]
    fn a_user_facing_init_waits_for_its_requests_marker() {
        let mut join = Join::new(true);
        assert!(join.on_marker(&init(false, "init")).is_empty());
        assert!(join.on_marker(&invoke("r0", false, Some("x"))).is_empty());
        let ready = join.on_marker(&invoke("r1", true, Some(ROOT)));
        assert_eq!(ready.len(), 1);
        assert_eq!(ready[0].xray.as_deref(), Some(ROOT));
        assert_eq!(ready[0].request_id.as_deref(), Some("r1"));
        assert!(join.release_held().is_empty());
    }

    #[test]
    fn the_cold_request_first_pairs_too() {
        let mut join = Join::new(true);
        assert!(join.on_marker(&invoke("r1", true, Some(ROOT))).is_empty());
        let ready = join.on_marker(&init(false, "init"));
        assert_eq!(ready[0].xray.as_deref(), Some(ROOT));
        // Its retry too; another request's retry waits for its own.
        assert_eq!(join.on_marker(&retry("r1"))[0].xray.as_deref(), Some(ROOT));
        assert!(join.on_marker(&retry("r2")).is_empty());
    }

    #[test]
    fn inits_nobody_waited_for_or_nothing_pairs_go_at_once_alone() {
        let mut join = Join::new(true);
        let ready = join.on_marker(&init(true, "init"));
        assert_eq!((ready.len(), ready[0].xray.as_deref()), (1, None));
        let mut none = Join::new(false);
        assert_eq!(none.on_marker(&init(false, "init")).len(), 1);
        assert_eq!(none.on_marker(&init(false, "invoke")).len(), 1);
    }

    #[test]
    fn a_failed_init_and_its_retry_inside_the_request_both_join_its_trace() {
        let mut join = Join::new(true);
        assert!(join.on_marker(&init(false, "init")).is_empty(), "failed");
        assert!(join.on_marker(&retry("r1")).is_empty(), "the retry");
        let ready = join.on_marker(&invoke("r1", true, Some(ROOT)));
        assert_eq!(ready.len(), 2);
        for r in &ready {
            assert_eq!(r.xray.as_deref(), Some(ROOT));
            assert_eq!(r.request_id.as_deref(), Some("r1"));
        }
    }

    #[test]
    fn a_retry_joins_only_the_request_that_paid_for_it() {
        let mut join = Join::new(true);
        assert!(join.on_marker(&retry("r7")).is_empty());
        assert!(join.on_marker(&invoke("r8", true, Some(ROOT))).is_empty());
        let ready = join.on_marker(&invoke("r7", true, None));
        assert_eq!(ready.len(), 1);
        assert_eq!(ready[0].request_id.as_deref(), Some("r7"));
    }

    #[test]
    fn a_held_init_goes_alone_at_shutdown_at_a_newer_init_or_past_the_bound() {
        let mut join = Join::new(true);
        join.on_marker(&init(false, "init"));
        let ready = join.release_held();
        assert_eq!(ready.len(), 1);
        assert!(ready[0].xray.is_none());
        join.on_marker(&init(false, "init"));
        let ready = join.on_marker(&init(true, "init"));
        assert_eq!(ready.len(), 2, "the held one, then the new one");
        join.on_marker(&init(false, "init"));
        for _ in 1..MAX_HELD {
            assert!(join.on_marker(&init(false, "invoke")).is_empty());
        }
        assert_eq!(
            join.on_marker(&init(false, "invoke")).len(),
            1,
            "the oldest"
        );
        assert_eq!(join.release_held().len(), MAX_HELD);
    }
}
