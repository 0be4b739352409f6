//! Which request's trace an init span joins: the request that waited for the init carries the
//! X-Ray trace header, and it is known from that request's `invoke` marker (`cold_start: true`,
//! `xray_trace_id`), which the lifecycle writes after the `init` marker (it waits for its
//! report). So a user-facing init is held here until that marker comes, then built into that
//! trace; an init no request waited for (`proactive`), or one that nothing will pair
//! (`COLDMARK_INVOKE_MARKERS=none`, or an init inside an invocation), goes at once into a trace
//! of its own, and so does one still held at SHUTDOWN.
//!
//! Pure: markers in, inits ready for their spans out. At most one init is held.

use crate::marker::{InitMarker, Marker};

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
    held: Option<Box<InitMarker>>,
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
                // A newer init: nothing will pair the one held any more.
                out.extend(self.release_held());
                let waited = !init.proactive && init.init_phase == "init";
                if !waited || !self.invoke_markers {
                    out.push(alone(init.clone()));
                } else if let Some((id, xray)) = self.cold.take() {
                    out.push(Ready {
                        init: init.clone(),
                        xray,
                        request_id: Some(id),
                    });
                } else {
                    self.held = Some(init.clone());
                }
            }
            Marker::Invoke(invoke) if invoke.cold_start => {
                let pair = (
                    invoke.function_request_id.clone(),
                    invoke.xray_trace_id.clone(),
                );
                match self.held.take() {
                    Some(init) => out.push(Ready {
                        init,
                        xray: pair.1,
                        request_id: Some(pair.0),
                    }),
                    None => self.cold = Some(pair),
                }
            }
            Marker::Invoke(_) | Marker::Shutdown(_) => {}
        }
        out
    }

    /// At SHUTDOWN: the init still held, in a trace of its own.
    pub(crate) fn release_held(&mut self) -> Option<Ready> {
        self.held.take().map(alone)
    }
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
        assert!(join.release_held().is_none());
    }

    #[test]
    fn the_cold_request_first_pairs_too() {
        let mut join = Join::new(true);
        assert!(join.on_marker(&invoke("r1", true, Some(ROOT))).is_empty());
        let ready = join.on_marker(&init(false, "init"));
        assert_eq!(ready[0].xray.as_deref(), Some(ROOT));
    }

    #[test]
    fn inits_nobody_waited_for_or_nothing_pairs_go_at_once_alone() {
        let mut join = Join::new(true);
        let ready = join.on_marker(&init(true, "init"));
        assert_eq!((ready.len(), ready[0].xray.as_deref()), (1, None));
        let ready = join.on_marker(&init(false, "invoke"));
        assert_eq!(ready.len(), 1);
        let mut none = Join::new(false);
        assert_eq!(none.on_marker(&init(false, "init")).len(), 1);
    }

    #[test]
    fn a_held_init_goes_alone_at_shutdown_or_at_a_newer_init() {
        let mut join = Join::new(true);
        join.on_marker(&init(false, "init"));
        let ready = join.release_held().unwrap();
        assert!(ready.xray.is_none());
        join.on_marker(&init(false, "init"));
        let ready = join.on_marker(&init(true, "init"));
        assert_eq!(ready.len(), 2, "the held one, then the new one");
    }
}
