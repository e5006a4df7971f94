//! The "full stack deployment" runbook from Spry's task-orchestration guide, as a legato graph.
//!
//! Builds and validates the graph of fifteen tasks (database, backend, frontend, integration
//! tests, deployment, cleanup), then prints what a dry run would do — the plan, level by
//! level — and two drawings of the graph: ASCII for a terminal and Mermaid for a Markdown page.
//!
//! Last, it shows the messages users see for the three classic mistakes: a typo in a target,
//! a circular dependency and a dependency on a task that does not exist.
//!
//! Run it with `cargo run -p legato --example deployment_plan`, or `make demo`.

use legato::graph::{Graph, GraphBuilder, GraphError, TaskSpec};
use std::fmt::Debug;

/// The runbook: each task's name, its `--dep` dependencies and its `--descr` description.
const RUNBOOK: &[(&str, &[&str], Option<&str>)] = &[
    ("check-tools", &[], Some("Verify required tools")),
    (
        "db-start",
        &["check-tools"],
        Some("Start database container"),
    ),
    ("db-migrate", &["db-start"], Some("Run database migrations")),
    ("db-seed", &["db-migrate"], Some("Seed initial data")),
    ("backend-install", &["check-tools"], None),
    ("backend-build", &["backend-install"], None),
    ("backend-test", &["backend-build", "db-seed"], None),
    ("frontend-install", &["check-tools"], None),
    ("frontend-build", &["frontend-install"], None),
    ("frontend-test", &["frontend-build"], None),
    (
        "integration-test",
        &["backend-test", "frontend-test", "db-seed"],
        None,
    ),
    ("deploy-backend", &["integration-test"], None),
    ("deploy-frontend", &["integration-test"], None),
    (
        "deploy-complete",
        &["deploy-backend", "deploy-frontend"],
        None,
    ),
    ("cleanup", &["deploy-complete"], None),
];

fn main() -> Result<(), GraphError> {
    let graph = deployment()?;
    println!(
        "Full stack deployment: {} tasks, {} dependencies",
        graph.len(),
        graph.edge_count()
    );

    heading("Plan (what `--dry-run` would run, level by level)");
    let plan = graph.plan(&graph.all());
    for (i, level) in plan.names(&graph).iter().enumerate() {
        println!("level {}: {}", i + 1, level.join(", "));
    }

    heading("ASCII");
    print!("{}", graph.to_ascii());

    heading("Mermaid");
    print!("{}", graph.to_mermaid());

    heading("Three classic mistakes");
    show_error(
        "A typo in a target:",
        r#"graph.select(["deploy-complet"])"#,
        graph.select(["deploy-complet"]),
    );
    show_error(
        "A circular dependency:",
        "task-a --dep task-b, task-b --dep task-a",
        tiny(&[("task-a", &["task-b"]), ("task-b", &["task-a"])]),
    );
    show_error(
        "A dependency that does not exist:",
        "deploy --dep build, and no task named build",
        tiny(&[("deploy", &["build"])]),
    );
    Ok(())
}

/// Builds and validates the runbook's graph.
fn deployment() -> Result<Graph, GraphError> {
    let mut builder = GraphBuilder::new();
    for &(name, deps, description) in RUNBOOK {
        let mut spec = TaskSpec::new(name).after(deps.iter().copied());
        if let Some(text) = description {
            spec = spec.description(text);
        }
        builder.add(spec)?;
    }
    builder.build()
}

/// Builds a small graph from `(name, dependencies)` pairs.
fn tiny(tasks: &[(&str, &[&str])]) -> Result<Graph, GraphError> {
    let mut builder = GraphBuilder::new();
    for &(name, deps) in tasks {
        builder.add(TaskSpec::new(name).after(deps.iter().copied()))?;
    }
    builder.build()
}

/// Prints a section heading.
fn heading(title: &str) {
    println!("\n== {title} ==\n");
}

/// Prints a mistake, the code that makes it, and the error a user sees.
fn show_error<T: Debug>(what: &str, code: &str, result: Result<T, GraphError>) {
    let err = result.expect_err("this mistake must be refused");
    println!("{what}\n    {code}\nError: {err}\n");
}
