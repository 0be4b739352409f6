//! What makes a Telemetry API record the same record when Lambda delivers it again, and the
//! bounded memory of the records already applied.
//!
//! Lambda re-sends a batch it believes failed, so a record already applied (same type, time
//! and ids) must change nothing the second time.

use std::collections::{HashSet, VecDeque};
use std::hash::{Hash, Hasher};

use super::record::Record;

/// Record identities remembered for de-duplication (a redelivered batch comes within seconds;
/// a batch holds at most 1000 records).
pub(crate) const SEEN_RECORDS: usize = 4096;

/// The identities of the records applied so far; the oldest are forgotten first.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    set: HashSet<u64>,
    order: VecDeque<u64>,
}

impl Seen {
    /// True the first time a record is offered; false when it was already applied. Records
    /// without an identity (see [`identity`]) are always new.
    pub(crate) fn first_time(&mut self, record: &Record) -> bool {
        let Some(key) = identity(record) else {
            return true;
        };
        if !self.set.insert(key) {
            return false;
        }
        self.order.push_back(key);
        if self.order.len() > SEEN_RECORDS {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }
}

/// A record's type, time and ids, hashed. `None` for records that carry no time (applying them
/// twice changes nothing anyway).
pub(crate) fn identity(record: &Record) -> Option<u64> {
    // SipHash with fixed keys: the same record always gives the same identity.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let time = match record {
        Record::InitStart {
            time,
            phase,
            instance_id,
            ..
        } => {
            (0u8, phase, instance_id).hash(&mut h);
            time
        }
        Record::InitRuntimeDone { time, phase, .. } => {
            (1u8, phase).hash(&mut h);
            time
        }
        Record::InitReport { time, phase, .. } => {
            (2u8, phase).hash(&mut h);
            time
        }
        Record::RestoreStart {
            time, instance_id, ..
        } => {
            (3u8, instance_id).hash(&mut h);
            time
        }
        Record::RestoreRuntimeDone { time, .. } => {
            4u8.hash(&mut h);
            time
        }
        Record::RestoreReport { time, .. } => {
            5u8.hash(&mut h);
            time
        }
        Record::Start {
            time, request_id, ..
        } => {
            (6u8, request_id).hash(&mut h);
            time
        }
        Record::RuntimeDone {
            time, request_id, ..
        } => {
            (7u8, request_id).hash(&mut h);
            time
        }
        Record::Report {
            time, request_id, ..
        } => {
            (8u8, request_id).hash(&mut h);
            time
        }
        Record::Extension { .. }
        | Record::TelemetrySubscription { .. }
        | Record::LogsDropped { .. } => return None,
    };
    time.timestamp_nanos_opt().hash(&mut h);
    time.timestamp().hash(&mut h);
    Some(h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn report(request_id: &str, ms: i64) -> Record {
        Record::Report {
            time: Utc.timestamp_millis_opt(1_795_000_000_000 + ms).unwrap(),
            request_id: request_id.into(),
            metrics: Default::default(),
            tenant_id: None,
        }
    }

    #[test]
    fn a_record_is_new_once_and_its_identity_is_type_time_and_ids() {
        let mut seen = Seen::default();
        assert!(seen.first_time(&report("r1", 0)));
        assert!(!seen.first_time(&report("r1", 0)), "delivered again");
        assert!(seen.first_time(&report("r2", 0)), "another request");
        assert!(seen.first_time(&report("r1", 1)), "another time");
        let extension = Record::Extension {
            name: "coldmark".into(),
            state: None,
            events: vec![],
        };
        assert!(seen.first_time(&extension));
        assert!(seen.first_time(&extension), "no time: always applied");
    }

    #[test]
    fn the_oldest_identities_are_forgotten_past_the_bound() {
        // The bound docs/security.md states, written out: a changed constant fails here.
        assert_eq!(SEEN_RECORDS, 4096);
        let mut seen = Seen::default();
        for i in 0..=SEEN_RECORDS as i64 {
            assert!(seen.first_time(&report("r", i)));
        }
        assert_eq!(seen.set.len(), SEEN_RECORDS);
        assert_eq!(seen.order.len(), SEEN_RECORDS);
        // Every one of the last SEEN_RECORDS is still known (offering a known one changes
        // nothing), the newest and the oldest kept included ...
        for i in 1..=SEEN_RECORDS as i64 {
            assert!(
                !seen.first_time(&report("r", i)),
                "record {i} was forgotten"
            );
        }
        // ... and the one before them is not: applied again if Lambda sends it again.
        assert!(seen.first_time(&report("r", 0)), "the oldest was forgotten");
        // Remembering it again forgets the next oldest, and nothing else.
        assert!(
            seen.first_time(&report("r", 1)),
            "the next oldest made room"
        );
        assert!(!seen.first_time(&report("r", SEEN_RECORDS as i64)));
        assert_eq!(seen.set.len(), SEEN_RECORDS);
    }
}
