//! Node.js bindings of legato: the native layer under the npm package `legato`.
//!
//! The hand-written facade (`index.js`) owns the JS idioms (classes, Promises, hooks,
//! AbortSignals); this crate owns every decision, through the core's sans-IO
//! [`Scheduler`](legato::scheduler::Scheduler). The surface is a handful of plain `#[napi]`
//! functions (no class methods on the per-task path, which cost ~0.45 µs a call) that take
//! and return many inputs and commands per crossing in shared `Uint32Array`s:
//!
//! - [`flow`]: option validation, graph building, plans and drawings;
//! - [`driver`]: one run's scheduler, fed in batches (see [`driver::run_step`]);
//! - [`report`]: the finished run's report (JSON, Mermaid Gantt, HTML);
//! - [`raw`]: the two per-task entry points (`flowAdd`, `runStep`) as raw Node-API functions;
//! - [`errors`]: errors with a stable `code`, and the guard that keeps panics from crossing.
#![deny(clippy::all)]
#![warn(missing_docs)]

#[macro_use]
extern crate napi_derive;

pub mod driver;
pub mod errors;
pub mod flow;
pub mod raw;
pub mod report;
