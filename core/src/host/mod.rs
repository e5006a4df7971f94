//! The driver kit: what every door's driver needs beside the [`Scheduler`], decided once here.
//!
//! A driver keeps only host work — call a body, cancel it, arm one timer, call a hook, turn a
//! payload or an outcome into host objects. Everything it used to decide for itself is here,
//! runtime-free (no tokio, no pyo3, no napi):
//! - [`Slots`]: per-task host slots (body, `retry_if`, value, error, waiters), indexed by the
//!   ids the core hands out, growing as dynamic tasks are spawned.
//! - [`Payload`]: one neutral hook payload built from each event, with the fields DESIGN's
//!   event table lists for its kind ([`Payload::FIELDS`]): `task_completion`'s error is the
//!   last attempt's, none for a task that succeeded (after retries too) or was skipped.
//! - [`CallOutcome`]: what a caller of a task gets, as one enum: ok, failed with the host's
//!   error, timed out, cancelled, skipped with a reason, or too deep.
//! - [`code`]: numeric codes of event kinds and statuses for crossings that carry numbers.
//!
//! "Is this attempt current" is [`Scheduler::is_current_attempt`]; who a finished call wakes
//! is [`Command::Deliver`](crate::scheduler::Command::Deliver) /
//! [`Command::Joined`](crate::scheduler::Command::Joined); the run's error when it stopped
//! early is [`Scheduler::stop_error`].
//!
//! # Examples
//!
//! A driver's hook call, with the payload every door builds the same way:
//!
//! ```
//! use legato::graph::{GraphBuilder, TaskSpec};
//! use legato::event::{EventKind, HookMask};
//! use legato::host::Payload;
//! use legato::scheduler::{Command, Outcome, RunOptions, Scheduler};
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! let mut b = GraphBuilder::new();
//! b.add(TaskSpec::new("flaky").retries(1))?;
//! let graph = Arc::new(b.build()?);
//! let opts = RunOptions::default().hooks(HookMask::NONE.with(EventKind::TaskCompletion));
//! let mut s: Scheduler<&str> = Scheduler::new(graph.clone(), &graph.all(), opts)?;
//! s.start(Duration::ZERO);
//! let mut completions = Vec::new();
//! while let Some(command) = s.next_command() {
//!     match command {
//!         Command::Start { task, attempt } => {
//!             let outcome = if attempt == 1 { Outcome::fail("not yet") } else { Outcome::Ok("done") };
//!             s.attempt_finished(task, attempt, outcome, Duration::ZERO)?;
//!         }
//!         Command::Emit { event, token } => {
//!             let p = Payload::new(&s, &event);
//!             assert_eq!(Payload::<&str>::FIELDS[p.kind as usize], ["name", "duration", "status", "error", "context"]);
//!             completions.push((p.name.to_owned(), p.status, p.error.is_some()));
//!             s.hook_done(token, Duration::ZERO)?;
//!         }
//!         _ => {}
//!     }
//! }
//! assert_eq!(completions, [("flaky".to_owned(), Some(legato::Status::Succeeded), false)]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod code;
mod outcome;
mod payload;
mod slots;

pub use outcome::CallOutcome;
pub use payload::Payload;
pub use slots::Slots;

#[cfg(doc)]
use crate::scheduler::Scheduler;
