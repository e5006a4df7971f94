//! The "full stack deployment" runbook from Spry's task-orchestration guide, as a legato graph.
//!
//! Builds and validates the graph of fifteen tasks (database, backend, frontend, integration
//! tests, deployment, cleanup), then prints what a dry run would do — the plan, level by
//! level — and two drawings of the graph: ASCII for a terminal and Mermaid for a Markdown page.
//!
//! Last, it shows the messages users see for the three classic mistakes: a typo in a target,
//! a circular dependency and a dependency on a task that does not exist.
//!
//! It asserts what it shows (the plan's levels, the drawings, the exact error texts), so
//! `make examples` fails if any of them changes.
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

/// The plan: what can run together, level by level.
const LEVELS: &[&[&str]] = &[
    &["check-tools"],
    &["db-start", "backend-install", "frontend-install"],
    &["db-migrate", "backend-build", "frontend-build"],
    &["db-seed", "frontend-test"],
    &["backend-test"],
    &["integration-test"],
    &["deploy-backend", "deploy-frontend"],
    &["deploy-complete"],
    &["cleanup"],
];

/// The ASCII drawing: each task under the tasks it waits for, a task reached again marked.
const ASCII: &str = "\
check-tools
├─▶ db-start
│   └─▶ db-migrate
│       └─▶ db-seed
│           ├─▶ backend-test
│           │   └─▶ integration-test
│           │       ├─▶ deploy-backend
│           │       │   └─▶ deploy-complete
│           │       │       └─▶ cleanup
│           │       └─▶ deploy-frontend
│           │           └─▶ deploy-complete (*)
│           └─▶ integration-test (*)
├─▶ backend-install
│   └─▶ backend-build
│       └─▶ backend-test (*)
└─▶ frontend-install
    └─▶ frontend-build
        └─▶ frontend-test
            └─▶ integration-test (*)
(*) already drawn above
";

fn main() -> Result<(), GraphError> {
    let graph = deployment()?;
    println!(
        "Full stack deployment: {} tasks, {} dependencies",
        graph.len(),
        graph.edge_count()
    );
    assert_eq!(graph.len(), RUNBOOK.len());
    let deps: usize = RUNBOOK.iter().map(|(_, deps, _)| deps.len()).sum();
    assert_eq!(graph.edge_count(), deps);
    assert_eq!(graph.edge_count(), 18);

    heading("Plan (what `--dry-run` would run, level by level)");
    let plan = graph.plan(&graph.all()).names(&graph);
    for (i, level) in plan.iter().enumerate() {
        println!("level {}: {}", i + 1, level.join(", "));
    }
    assert_eq!(plan, LEVELS);

    heading("ASCII");
    let ascii = graph.to_ascii();
    print!("{ascii}");
    assert_eq!(ascii, ASCII);

    heading("Mermaid");
    let mermaid = graph.to_mermaid();
    print!("{mermaid}");
    assert!(mermaid.starts_with("flowchart TD\n    t0[\"check-tools\"]\n"));
    // One node per task, in declaration order, and one arrow per dependency.
    for (i, (name, _, _)) in RUNBOOK.iter().enumerate() {
        assert!(
            mermaid.contains(&format!("\n    t{i}[\"{name}\"]\n")),
            "{name}"
        );
    }
    assert_eq!(mermaid.matches(" --> ").count(), 18);
    for edge in ["t0 --> t1", "t3 --> t10", "t12 --> t13", "t13 --> t14"] {
        assert!(mermaid.contains(&format!("\n    {edge}\n")), "{edge}");
    }

    heading("Three classic mistakes");
    show_error(
        "A typo in a target:",
        r#"graph.select(["deploy-complet"])"#,
        graph.select(["deploy-complet"]),
        "unknown_task",
        r#"Task "deploy-complet" not found (did you mean "deploy-complete"?)"#,
    );
    show_error(
        "A circular dependency:",
        "task-a --dep task-b, task-b --dep task-a",
        tiny(&[("task-a", &["task-b"]), ("task-b", &["task-a"])]),
        "cycle",
        "Circular dependency detected: task-a → task-b → task-a",
    );
    show_error(
        "A dependency that does not exist:",
        "deploy --dep build, and no task named build",
        tiny(&[("deploy", &["build"])]),
        "missing_dependency",
        r#"Task "build" referenced by "deploy" does not exist"#,
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

/// Prints a mistake, the code that makes it, and the error a user sees; asserts the error's
/// kind and its exact text (part of legato's contract).
fn show_error<T: Debug>(
    what: &str,
    code: &str,
    result: Result<T, GraphError>,
    kind: &str,
    text: &str,
) {
    let err = result.expect_err("this mistake must be refused");
    println!("{what}\n    {code}\nError: {err}\n");
    assert_eq!(err.kind(), kind);
    assert_eq!(err.to_string(), text);
}
