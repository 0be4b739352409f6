//! Puts observations back in time order, within a bounded window.
//!
//! Logs are almost, not quite, in marker-time order: an init marker carries the time its init
//! *began* but is written at the first invocation, CloudWatch interleaves streams, and export
//! files are not sorted. The buffer holds observations until the input has moved `window_ms`
//! past them (or until it holds `capacity` of them), then releases them oldest first, so
//! memory stays bounded whatever the input's size. Anything later than that is still used,
//! at once, and counted as late.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use crate::attribute::Observation;

pub struct Reorder {
    window_ms: i64,
    capacity: usize,
    /// Observations that came in order (the common case): appended, never sorted.
    in_order: VecDeque<(i64, Observation)>,
    /// The others, boxed so that the heap moves pointers, not markers.
    out_of_order: BinaryHeap<Reverse<Entry>>,
    seq: u64,
    newest_ms: i64,
    released_ms: i64,
    late: u64,
}

struct Entry {
    at_ms: i64,
    seq: u64,
    observation: Box<Observation>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at_ms, self.seq) == (other.at_ms, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at_ms, self.seq).cmp(&(other.at_ms, other.seq))
    }
}

impl Reorder {
    pub fn new(window_ms: i64, capacity: usize) -> Reorder {
        Reorder {
            window_ms,
            capacity: capacity.max(1),
            in_order: VecDeque::new(),
            out_of_order: BinaryHeap::new(),
            seq: 0,
            newest_ms: i64::MIN,
            released_ms: i64::MIN,
            late: 0,
        }
    }

    /// Observations that arrived after later ones had already been released.
    pub fn late(&self) -> u64 {
        self.late
    }

    fn held(&self) -> usize {
        self.in_order.len() + self.out_of_order.len()
    }

    /// The earliest held observation's time, and whether it is in the in-order queue. Ties go
    /// to the in-order queue: it holds what arrived first.
    fn earliest(&self) -> Option<(i64, bool)> {
        let a = self.in_order.front().map(|(at, _)| *at);
        let b = self.out_of_order.peek().map(|Reverse(e)| e.at_ms);
        match (a, b) {
            (Some(a), Some(b)) => Some(if a <= b { (a, true) } else { (b, false) }),
            (Some(a), None) => Some((a, true)),
            (None, Some(b)) => Some((b, false)),
            (None, None) => None,
        }
    }

    fn pop(&mut self, from_in_order: bool) -> Option<(i64, Observation)> {
        if from_in_order {
            self.in_order.pop_front()
        } else {
            self.out_of_order
                .pop()
                .map(|Reverse(e)| (e.at_ms, *e.observation))
        }
    }

    /// Adds one; hands every observation now due, in order, to `ready`.
    pub fn push(&mut self, observation: Observation, mut ready: impl FnMut(Observation)) {
        let at_ms = observation.at_ms();
        if at_ms < self.released_ms {
            self.late += 1;
            ready(observation);
            return;
        }
        if self.in_order.back().is_none_or(|(last, _)| *last <= at_ms) {
            self.in_order.push_back((at_ms, observation));
        } else {
            self.seq += 1;
            self.out_of_order.push(Reverse(Entry {
                at_ms,
                seq: self.seq,
                observation: Box::new(observation),
            }));
        }
        self.newest_ms = self.newest_ms.max(at_ms);
        let due = self.newest_ms.saturating_sub(self.window_ms);
        while let Some((at, from_in_order)) = self.earliest() {
            if at > due && self.held() <= self.capacity {
                break;
            }
            let Some((at, observation)) = self.pop(from_in_order) else {
                break;
            };
            self.released_ms = at;
            ready(observation);
        }
    }

    /// The input is over: releases the rest in order.
    pub fn finish(&mut self, mut ready: impl FnMut(Observation)) {
        while let Some((_, from_in_order)) = self.earliest() {
            let Some((at, observation)) = self.pop(from_in_order) else {
                break;
            };
            self.released_ms = at;
            ready(observation);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn act(at_ms: i64) -> Observation {
        Observation::Activity {
            stream: "s".into(),
            at_ms,
        }
    }

    #[test]
    fn sorts_within_the_window_and_counts_what_comes_later() {
        let mut r = Reorder::new(100, 1000);
        let mut out = Vec::new();
        for t in [50, 10, 30, 200, 20, 400, 5] {
            r.push(act(t), |o| out.push(o.at_ms()));
        }
        r.finish(|o| out.push(o.at_ms()));
        // 20 came after 50 was released (window passed at 200): late but used.
        assert_eq!(out, vec![10, 30, 50, 20, 200, 5, 400]);
        assert_eq!(r.late(), 2);
    }

    #[test]
    fn capacity_bounds_memory() {
        let mut r = Reorder::new(i64::MAX / 2, 3);
        let mut out = Vec::new();
        for t in [5, 4, 3, 2, 1] {
            r.push(act(t), |o| out.push(o.at_ms()));
        }
        assert_eq!(out.len(), 2);
        assert!(r.held() <= 3);
    }
}
