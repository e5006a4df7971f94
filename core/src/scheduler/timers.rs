//! The run's timers: per-attempt timeouts, backoff waits and the run timeout, in one heap.
//!
//! The scheduler owns no clock: a driver asks [`Timers::next_deadline`] (through
//! [`Scheduler::next_deadline`](super::Scheduler::next_deadline)) and arms one host timer for
//! it. A timer whose task has moved on stays in the heap and is ignored when it fires.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

/// What a timer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Timer {
    /// The run's own timeout.
    Run,
    /// An attempt's timeout.
    Timeout { task: u32, attempt: u32 },
    /// The end of a backoff wait before the next attempt.
    Backoff { task: u32, attempt: u32 },
}

/// A min-heap of timers, ties broken by the order they were set.
#[derive(Debug, Default)]
pub(super) struct Timers {
    heap: BinaryHeap<Reverse<(Duration, u64, Timer)>>,
    seq: u64,
}

impl Timers {
    /// Sets `timer` to fire `after` from `now`. A deadline beyond what the clock can count
    /// never comes: no timer is set (a limit that long means none).
    pub(super) fn set(&mut self, now: Duration, after: Duration, timer: Timer) {
        if let Some(at) = now.checked_add(after) {
            self.seq += 1;
            self.heap.push(Reverse((at, self.seq, timer)));
        }
    }

    /// The earliest deadline, if any.
    pub(super) fn next_deadline(&self) -> Option<Duration> {
        self.heap.peek().map(|Reverse((d, _, _))| *d)
    }

    /// Takes the earliest timer if it is due at `now`.
    pub(super) fn pop_due(&mut self, now: Duration) -> Option<Timer> {
        match self.heap.peek() {
            Some(Reverse((at, _, _))) if *at <= now => self.heap.pop().map(|Reverse((_, _, t))| t),
            _ => None,
        }
    }

    /// Drops every timer (the run is over).
    pub(super) fn clear(&mut self) {
        self.heap.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_in_deadline_order_and_overflow_means_never() {
        let mut t = Timers::default();
        let ms = Duration::from_millis;
        t.set(ms(10), ms(5), Timer::Run);
        t.set(
            ms(0),
            ms(7),
            Timer::Timeout {
                task: 1,
                attempt: 1,
            },
        );
        t.set(
            ms(1),
            Duration::MAX,
            Timer::Backoff {
                task: 2,
                attempt: 1,
            },
        );
        assert_eq!(t.next_deadline(), Some(ms(7)));
        assert_eq!(t.pop_due(ms(6)), None);
        assert_eq!(
            t.pop_due(ms(20)),
            Some(Timer::Timeout {
                task: 1,
                attempt: 1
            })
        );
        assert_eq!(t.pop_due(ms(20)), Some(Timer::Run));
        assert_eq!(t.pop_due(Duration::MAX), None);
        assert_eq!(t.next_deadline(), None);
    }
}
