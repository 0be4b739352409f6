//! When a marker may be written: complete (its records are in, or none will come), or overdue
//! (its records are not coming), or pushed out by the bound on what is held. The rules are in
//! the [module docs](super).

use chrono::{DateTime, Utc};

use super::init::FirstRequest;
use super::{Lifecycle, REPORT_GRACE_MS};
use crate::marker::{ms_between, Marker};

impl Lifecycle {
    /// Whether what waits for the records of invocation `since_seq` (INVOKE at `since`) has
    /// waited long enough at INVOKE `seq`, arriving at `now`: two more INVOKEs (records held
    /// up by a freeze arrive at the thaw) *and*, with telemetry, the grace (records of a burst
    /// inside one buffering window are still on their way).
    fn overdue(&self, since_seq: u64, since: DateTime<Utc>, seq: u64, now: DateTime<Utc>) -> bool {
        since_seq + 2 <= seq && (!self.telemetry || ms_between(since, now) >= REPORT_GRACE_MS)
    }

    /// At INVOKE `seq` (arriving at `now`): the init and invoke markers whose records are not
    /// coming.
    pub(super) fn release_overdue(&mut self, seq: u64, now: DateTime<Utc>) -> Vec<Marker> {
        let mut out = Vec::new();
        // An init whose first invocation is overdue: its records (and the tenant that
        // invocation's records name) are not coming. Not earlier, even if some of its records
        // are in: those of an init longer than the buffering window are split, and the rest
        // (initRuntimeDone, initReport) is held up by the freeze after the first invocation
        // until the thaw at the second INVOKE — writing then would lose the init's figures. A
        // failed init serves no invocation: the first after it (its retry's) counts.
        let overdue_inits: Vec<usize> = (0..self.inits.len())
            .filter(|&i| {
                !self.inits[i].emitted
                    && matches!(self.serving(i), Some(first) if self.overdue(first.seq, first.at, seq, now))
            })
            .collect();
        for i in overdue_inits {
            out.extend(self.emit_init(i));
        }
        let overdue: Vec<usize> = (0..self.held.len())
            .filter(|&i| {
                let h = &self.held[i];
                self.overdue(h.seq, h.invoke.at, seq, now)
            })
            .collect();
        out.extend(self.release(&overdue));
        out
    }

    /// The first invocation at or after init `idx`: its own first, or for an init that served
    /// none (a failed init, whose retry served it) the first of a later init.
    fn serving(&self, idx: usize) -> Option<&FirstRequest> {
        self.inits[idx..]
            .iter()
            .find_map(|c| c.first_request.as_ref())
    }

    /// Whether init `idx`'s marker has all it will get.
    fn init_complete(&self, idx: usize) -> bool {
        let c = &self.inits[idx];
        // A newer init began: Lambda sent all of this one's records before it, and no
        // invocation will follow this one (a failed init is run again as a new init).
        let superseded = idx + 1 < self.inits.len();
        if !self.telemetry {
            // Nothing more will come: at the first INVOKE, or (registered for SHUTDOWN only)
            // once coldmark is ready.
            return if self.invoke_events {
                c.first_request.is_some()
            } else {
                self.ready_at.is_some()
            };
        }
        if self.invoke_events {
            // Complete once the first invocation's report is in (it may carry
            // initDurationMs, and names the tenant), or once the init's own report is in
            // (nothing later changes its figures) and an invocation's record said which tenant
            // the environment serves, if any: the first `platform.start` usually, which
            // Lambda may deliver a batch after the init's records.
            c.first_request_done
                || (self.tenant_settled
                    && ((c.first_request.is_some() && c.report_time.is_some()) || superseded))
        } else {
            // No INVOKE to wait for. The init that made a SnapStart snapshot is left to the
            // restore (which drops it) or to shutdown, as with INVOKE events.
            (c.report_time.is_some() && !c.made_a_snapshot()) || superseded
        }
    }

    /// Markers whose data is now complete.
    pub(super) fn ready_markers(&mut self) -> Vec<Marker> {
        let mut out = Vec::new();
        for idx in 0..self.inits.len() {
            if !self.inits[idx].emitted && self.init_complete(idx) {
                out.extend(self.emit_init(idx));
            }
        }
        let done: Vec<usize> = (0..self.held.len())
            .filter(|&i| !self.telemetry || self.held[i].report.is_some())
            .collect();
        out.extend(self.release(&done));
        out
    }

    /// Releases held invoke markers (by index), each after its init marker and every earlier
    /// one (a failed init before its retry).
    pub(super) fn release(&mut self, indices: &[usize]) -> Vec<Marker> {
        let mut out = Vec::new();
        let mut taken = Vec::new();
        for &i in indices.iter().rev() {
            taken.push(self.held.remove(i));
        }
        taken.reverse();
        for h in taken {
            for idx in 0..=h.init {
                out.extend(self.emit_init(idx));
            }
            out.push(self.invoke_marker(&h));
            self.env_id_published = true;
        }
        out
    }
}
