//! The "full stack deployment" runbook from Spry's task-orchestration guide, run as a `Flow`.
//!
//! Fifteen tasks (database, backend, frontend, integration tests, deployment, cleanup) with
//! Spry's dependencies; each one sleeps a few milliseconds instead of running its shell
//! script. Hooks print live progress (`✓ db-start completed (40ms)`); the integration tests
//! are flaky — the first attempt fails and a retry passes. Last come the summary, the critical
//! path (the chain of tasks that decided how long the run took) and an HTML timeline of the
//! run, written to `target/legato-demo/deployment.html`.
//!
//! Run it with `cargo run -p legato --example deployment`, or `make demo`.
//! `deployment_plan` shows the same graph's dry run, drawings and error messages.

use legato::event::fmt_duration;
use legato::{Backoff, BoxError, Flow, Status};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The runbook: each task's name, its `--dep` dependencies and how long its work takes (ms).
const RUNBOOK: &[(&str, &[&str], u64)] = &[
    ("check-tools", &[], 5),
    ("db-start", &["check-tools"], 40),
    ("db-migrate", &["db-start"], 20),
    ("db-seed", &["db-migrate"], 10),
    ("backend-install", &["check-tools"], 30),
    ("backend-build", &["backend-install"], 45),
    ("backend-test", &["backend-build", "db-seed"], 25),
    ("frontend-install", &["check-tools"], 35),
    ("frontend-build", &["frontend-install"], 50),
    ("frontend-test", &["frontend-build"], 20),
    (
        "integration-test",
        &["backend-test", "frontend-test", "db-seed"],
        30,
    ),
    ("deploy-backend", &["integration-test"], 20),
    ("deploy-frontend", &["integration-test"], 15),
    ("deploy-complete", &["deploy-backend", "deploy-frontend"], 5),
    ("cleanup", &["deploy-complete"], 10),
];

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut flow = Flow::new().named("Full stack deployment");
    for &(name, deps, ms) in RUNBOOK {
        flow.task(name, move |cx| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            if cx.name() == "integration-test" && cx.attempt() == 1 {
                return Err::<(), BoxError>("2 of 48 tests failed (connection reset)".into());
            }
            Ok(())
        })?
        .after(deps);
    }
    flow.get_mut("integration-test")?
        .retries(2)
        .backoff(Backoff::fixed(Duration::from_millis(20)));

    flow.on_task_retry(|e| {
        let error = e.error.map(ToString::to_string).unwrap_or_default();
        println!(
            "↻ {} attempt {} failed: {error}; retrying in {}",
            e.name,
            e.attempt,
            fmt_duration(e.delay)
        );
    })
    .on_task_completion(|e| {
        let took = fmt_duration(e.duration);
        match e.status {
            Some(Status::Succeeded) => println!("✓ {} completed ({took})", e.name),
            _ => println!("✗ {} failed ({took})", e.name),
        }
    })
    .on_task_skip(|e| println!("⊘ {} skipped (dependency failed)", e.name));

    println!("{}: {} tasks\n", flow.name(), RUNBOOK.len());
    let report = flow.run().await?;

    let summary = report.summary();
    println!("\n{summary} ({} attempts)", summary.attempts);
    println!(
        "critical path: {}",
        report.critical_path_names().join(" → ")
    );
    let html = demo_dir()?.join("deployment.html");
    std::fs::write(&html, report.to_html(flow.name()))?;
    println!("timeline: {} (open it in a browser)", html.display());

    assert!(report.ok());
    assert_eq!(report.get("integration-test").map(|t| t.attempts), Some(2));
    let path = report.critical_path_names();
    assert_eq!(path.first(), Some(&"check-tools"));
    assert_eq!(path.last(), Some(&"cleanup"));
    Ok(())
}

/// Creates `target/legato-demo` in this workspace; returns it relative to the current
/// directory when it is below it.
fn demo_dir() -> std::io::Result<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/legato-demo");
    std::fs::create_dir_all(&dir)?;
    let dir = dir.canonicalize()?;
    let cwd = std::env::current_dir()?;
    Ok(dir
        .strip_prefix(&cwd)
        .map_or(dir.clone(), Path::to_path_buf))
}
