//! Numeric codes of event kinds and statuses, for crossings that carry numbers (a Node
//! `Uint32Array`, a Python int): one table, so no door keeps its own.
//!
//! ```
//! use legato::host::code;
//! use legato::{EventKind, Status};
//!
//! assert_eq!(code::kind(EventKind::TaskRetry), 3);
//! assert_eq!(code::kind_from(3), Some(EventKind::TaskRetry));
//! assert_eq!(code::status(Status::Cancelled), 7);
//! assert_eq!(code::status_from(7), Some(Status::Cancelled));
//! assert_eq!(code::status_from(99), None);
//! ```

use crate::event::{EventKind, Status};

/// An event kind's code: its place in [`EventKind::ALL`] (lifecycle order, 0–8).
pub fn kind(k: EventKind) -> u32 {
    EventKind::ALL
        .iter()
        .position(|&x| x == k)
        .unwrap_or(EventKind::ALL.len()) as u32
}

/// The event kind of a code, if it is one.
pub fn kind_from(code: u32) -> Option<EventKind> {
    EventKind::ALL.get(code as usize).copied()
}

/// A status's code: its place in [`Status::ALL`] (lifecycle order, 0–7).
pub fn status(s: Status) -> u32 {
    Status::ALL
        .iter()
        .position(|&x| x == s)
        .unwrap_or(Status::ALL.len()) as u32
}

/// The status of a code, if it is one.
pub fn status_from(code: u32) -> Option<Status> {
    Status::ALL.get(code as usize).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for (i, &k) in EventKind::ALL.iter().enumerate() {
            assert_eq!(kind(k), i as u32);
            assert_eq!(kind_from(i as u32), Some(k));
        }
        for (i, &s) in Status::ALL.iter().enumerate() {
            assert_eq!(status(s), i as u32);
            assert_eq!(status_from(i as u32), Some(s));
        }
        assert_eq!(kind_from(9), None);
    }
}
