//! legato — a task-orchestration engine.
//!
//! One Rust core, used from Rust directly, from Python and Node through bindings, and by the
//! `legato` CLI that runs Markdown runbooks. This crate holds the host-independent parts:
//!
//! - [`graph`]: task specs, graph building and validation (cycles, missing dependencies with
//!   did-you-mean suggestions, duplicates), selections of targets and plans (levels).
//! - [`policy`]: per-task options — retries, backoff, timeouts, sequences.
//! - [`render`]: drawings of a graph as ASCII (for terminals), Mermaid and Graphviz DOT.
//!
//! # Examples
//!
//! ```
//! use legato::graph::{GraphBuilder, TaskSpec};
//!
//! let mut b = GraphBuilder::new();
//! b.add(TaskSpec::new("install"))?;
//! b.add(TaskSpec::new("build").after(["install"]))?;
//! b.add(TaskSpec::new("test").after(["build"]))?;
//! let graph = b.build()?;
//! assert_eq!(graph.plan(&graph.all()).names(&graph), vec![vec!["install"], vec!["build"], vec!["test"]]);
//! println!("{}", graph.to_mermaid());
//! # Ok::<(), legato::graph::GraphError>(())
//! ```
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod define;
#[cfg(feature = "tokio")]
pub mod driver;
pub mod event;
#[cfg(feature = "tokio")]
pub mod flow;
pub mod graph;
#[cfg(feature = "tokio")]
pub mod orchestrator;
pub mod policy;
pub mod render;
pub mod report;
pub mod scheduler;

pub use define::FlowDef;
#[cfg(feature = "tokio")]
pub use driver::{BoxError, Canceller, Cx, HookEvent, OwnedHookEvent};
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
