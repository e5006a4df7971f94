//! The npm Orchestrator's lifecycle hooks with a shared context ("API Integration with
//! Context").
//!
//! The orchestrator's state is the `ProcessContext` (request count, errors, API key, session
//! data), shared by the hooks and the actions. `process_begin` fetches the API key (an async
//! hook), `task_begin` counts requests, `task_completion` reports them, `process_completion`
//! (async too) logs the metrics and clears the key. Main fetches and updates two users; the
//! second one does not exist, so its fetch fails, records the error in the context, and main
//! carries on.
//!
//! Run it with `cargo run -p legato --example hooks_context`.

use legato::event::fmt_duration;
use legato::report::rfc3339;
use legato::{BoxError, EventKind, Orchestrator, Status};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

#[derive(Debug, Default)]
struct ProcessContext {
    request_count: u32,
    errors: Vec<String>,
    api_key: Option<String>,
    session_data: Option<SystemTime>,
}

type Context = Mutex<ProcessContext>;

#[derive(Debug, Clone)]
struct User {
    id: String,
    name: String,
}

#[tokio::main]
async fn main() {
    let mut orchestrator = Orchestrator::with_state(Context::default());
    orchestrator
        .on_async(EventKind::ProcessBegin, |e| async move {
            let api_key = fetch_api_key().await; // set up API authentication
            e.state.lock().unwrap().api_key = Some(api_key);
            println!("Process started at {} with API key", rfc3339(e.time));
        })
        .on_task_begin(|e| {
            let mut ctx = e.state.lock().unwrap();
            ctx.request_count += 1;
            println!("Starting {}, request #{}", e.name, ctx.request_count);
        })
        .on_task_failure(|e| {
            let error = e.error.map(ToString::to_string).unwrap_or_default();
            println!("{} failed: {error}", e.name);
        })
        .on_task_completion(|e| {
            let ctx = e.state.lock().unwrap();
            let took = fmt_duration(e.duration);
            println!(
                "Completed {} in {took}, total requests: {}",
                e.name, ctx.request_count
            );
        })
        .on_async(EventKind::ProcessCompletion, |e| async move {
            let (requests, errors) = {
                let ctx = e.state.lock().unwrap();
                (ctx.request_count, ctx.errors.len())
            };
            log_metrics(requests, errors, e.duration).await;
            e.state.lock().unwrap().api_key = None; // clear sensitive data
        });

    let state = orchestrator.state().clone();
    let fetch_user_data = orchestrator.action("fetchUserData", move |user_id: String| {
        let state = state.clone();
        async move {
            let _bearer = state.lock().unwrap().api_key.clone().ok_or("no API key")?;
            tokio::time::sleep(Duration::from_millis(20)).await; // GET /api/users/{id}, Bearer key
            if user_id != "user123" {
                let error = format!("Failed to fetch user {user_id}: 404 Not Found");
                state.lock().unwrap().errors.push(error.clone());
                return Err(error.into());
            }
            Ok::<_, BoxError>(User {
                id: user_id,
                name: "Alice".into(),
            })
        }
    });

    let state = orchestrator.state().clone();
    let update_profile =
        orchestrator.action("updateProfile", move |(id, name): (String, String)| {
            let state = state.clone();
            async move {
                state.lock().unwrap().session_data = Some(SystemTime::now()); // lastUpdate
                tokio::time::sleep(Duration::from_millis(10)).await; // PUT /api/users/{id}
                Ok::<_, BoxError>(format!("{id}: {name}, lastLogin now"))
            }
        });

    let run = orchestrator
        .run(async {
            for user_id in ["user123", "user999"] {
                let updated = async {
                    let user = fetch_user_data.call(user_id.to_string()).await?;
                    update_profile.call((user.id, user.name)).await
                };
                if let Err(err) = updated.await {
                    println!("Operation failed: {err}"); // already tracked in the context
                }
            }
            let errors = orchestrator.state().lock().unwrap().errors.len();
            println!("Process completed with {errors} errors");
        })
        .await;

    let ctx = orchestrator.state().lock().unwrap();
    assert_eq!(ctx.request_count, 3);
    assert_eq!(ctx.errors.len(), 1);
    assert!(ctx.api_key.is_none() && ctx.session_data.is_some());
    let statuses: Vec<Status> = run.report.tasks.iter().map(|t| t.status).collect();
    assert_eq!(
        statuses,
        [Status::Succeeded, Status::Succeeded, Status::Failed]
    );
}

async fn fetch_api_key() -> String {
    tokio::time::sleep(Duration::from_millis(5)).await;
    "sk-demo-1234".into()
}

async fn log_metrics(requests: u32, errors: usize, took: Duration) {
    tokio::time::sleep(Duration::from_millis(5)).await;
    println!(
        "Metrics: {requests} requests, {errors} errors in {}",
        fmt_duration(took)
    );
}
