//! Node.js bindings of legato: the native layer under the npm package `legato`.
//!
//! The hand-written facade (`index.js`) owns the JS idioms (classes, Promises, hooks,
//! AbortSignals); this crate owns every decision, through the core's sans-IO
//! [`Scheduler`](legato::scheduler::Scheduler), and every definition, through the core's
//! [`FlowDef`](legato::define::FlowDef). The surface is a handful of plain functions (no class
//! methods on the per-task path, which cost ~0.45 µs a call; the two per-task ones raw
//! Node-API functions) that take and return many inputs and commands per crossing in shared
//! `Uint32Array`s:
//!
//! - [`flow`]: option validation, flows declared on `FlowDef`, plans and drawings;
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

/// Rust's allocations in the addon (task specs, names, the scheduler's state, reports) go
/// through mimalloc: a flow's definition and a run's start allocate a few small blocks per
/// task, and glibc's malloc and free were a fifth of their time. It is built without
/// transparent huge pages (feature `no_thp`: with them a third of a definition's time went to
/// the kernel zeroing 2 MiB pages on first touch), and its purge delay is set to 1 s instead
/// of 10 ms when the module loads (see [`raw::raw_exports`]), so that memory freed by one run
/// is reused by the next rather than given back and faulted in again.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
