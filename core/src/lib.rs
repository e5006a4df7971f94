//! legato — a task-orchestration engine.
//!
//! Declare tasks and their dependencies, or wrap functions as actions that call each other,
//! and legato runs them: in parallel where the graph allows, within a concurrency limit, with
//! retries and backoff, timeouts that really cancel, mutual-exclusion sequences, lifecycle hooks
//! over a shared state, and a report of every attempt. One Rust core serves Rust (this crate),
//! Python and Node (bindings that bring their own drivers) and the `legato` CLI, which runs
//! Markdown runbooks of shell tasks.
//!
//! # Flow: a declared DAG
//!
//! ```
//! use legato::{BoxError, Flow};
//! use std::time::Duration;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let mut flow = Flow::new();
//! flow.max_parallel(4);
//! flow.task("install", |_| async { Ok::<_, BoxError>(()) })?;
//! flow.task("build", |_| async { Ok::<_, BoxError>("dist/app.tar") })?
//!     .after(["install"])
//!     .retries(3)
//!     .timeout(Duration::from_secs(30));
//! flow.task("test", |_| async { Ok::<_, BoxError>(()) })?.after(["build"]);
//! flow.task("lint", |_| async { Ok::<_, BoxError>(()) })?.after(["install"]);
//! flow.task("deploy", |cx| async move {
//!     let artifact: &&str = cx.result("build").expect("build ran");
//!     Ok::<_, BoxError>(format!("deployed {artifact}"))
//! })?.after(["test", "lint"]);
//!
//! assert_eq!(flow.plan()?, vec![vec!["install"], vec!["build", "lint"], vec!["test"], vec!["deploy"]]);
//! let report = flow.run().await?;
//! assert!(report.ok());
//! println!("{}", report.summary());
//! # Ok::<(), legato::FlowError>(())
//! # }).unwrap();
//! ```
//!
//! # Orchestrator: actions calling actions
//!
//! ```
//! use legato::{Action, BoxError, Orchestrator};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let mut orch = Orchestrator::new();
//! orch.max_parallel(1); // a caller waiting for its calls gives its slot back: no deadlock
//! let fib = orch.recursive_action("fib", |fib: Action<u64, u64>, n: u64| async move {
//!     if n < 2 {
//!         return Ok::<_, BoxError>(n);
//!     }
//!     Ok(fib.call(n - 1).await? + fib.call(n - 2).await?)
//! }).cached();
//! let run = orch.run(async { fib.call(30).await }).await;
//! assert_eq!(run.report.tasks.len(), 31); // one tracked task per distinct call
//! assert_eq!(run.into_output().unwrap(), 832_040);
//! # });
//! ```
//!
//! # Modules
//!
//! The front door for Rust (feature `tokio`, on by default):
//! - [`flow`]: [`Flow`], a declared DAG of async tasks; runs, plans, drawings, run handles.
//! - [`orchestrator`]: [`Orchestrator`], [`Action`]s and [`Parallel`] groups.
//! - [`driver`]: the tokio driver that runs both, and the task context [`Cx`] and hook events.
//!
//! The core every front door shares (no async runtime: build with `default-features = false`):
//! - [`scheduler`]: the sans-IO state machine that makes every scheduling decision, and the
//!   protocol a driver follows (inputs, [`Command`](scheduler::Command)s, queries).
//! - [`define`]: [`FlowDef`], one way to declare a flow (names, dependencies, sync points,
//!   validation, plans, drawings), generic over the host's body type.
//! - [`host`]: the driver kit every door's driver uses beside the scheduler: per-task host
//!   slots, one hook payload per event, one outcome enum for callers, numeric codes.
//! - [`graph`]: task specs, graph building and validation (cycles, missing dependencies with
//!   did-you-mean suggestions, duplicates), selections of targets and plans.
//! - [`policy`]: per-task options — retries, backoff, timeouts, sequences — and their one
//!   validation ([`OptionError`](policy::OptionError)).
//! - [`event`]: lifecycle events, statuses, task errors (which keep the host's own error).
//! - [`report`]: run reports — JSON, critical path, summaries, Mermaid Gantt, an HTML timeline.
//! - [`render`]: drawings of a graph as ASCII (for terminals), Mermaid and Graphviz DOT.
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod define;
#[cfg(feature = "tokio")]
pub mod driver;
pub mod event;
#[cfg(feature = "tokio")]
pub mod flow;
pub mod graph;
pub mod host;
#[cfg(feature = "tokio")]
pub mod orchestrator;
pub mod policy;
pub mod render;
pub mod report;
pub mod scheduler;

pub use define::FlowDef;
#[cfg(feature = "tokio")]
pub use driver::{BoxError, Canceller, ConditionValue, Cx, HookEvent, OwnedHookEvent};
pub use event::{EventKind, Status, TaskError};
#[cfg(feature = "tokio")]
pub use flow::{Flow, FlowError, RunHandle, SyncPoint};
pub use graph::{Graph, GraphBuilder, GraphError, Plan, Selection, TaskId, TaskSpec};
#[cfg(feature = "tokio")]
pub use orchestrator::{Action, Orchestrator, Parallel, Run};
pub use policy::{Backoff, TaskOptions};
pub use report::RunReport;

#[doc = include_str!("../../README.md")]
#[cfg(all(doctest, feature = "tokio"))]
pub struct ReadmeDoctests;
