//! Barista's serial tasks: `TaskOne` and `TaskTwo` share the sequence
//! `"mutates-shared-state"`, `NonSequencedTask` has none.
//!
//! The three tasks are independent, yet the two that write the shared state never run at the
//! same time (in no guaranteed order), while `NonSequencedTask` runs beside them. Hooks answer
//! Barista's orchestration events (run start/finish, unblocked, task start/succeed/finished);
//! the start and end times come from the report.
//!
//! Run it with `cargo run -p legato --example sequences`.

use legato::event::fmt_duration;
use legato::{BoxError, Flow};
use std::sync::Mutex;
use std::time::Duration;

/// What stands in for `/some/shared/state`: the lines written to it.
type SharedState = Mutex<Vec<String>>;

#[tokio::main]
async fn main() -> Result<(), legato::FlowError> {
    let mut flow = Flow::with_state(SharedState::default());
    for name in ["TaskOne", "TaskTwo"] {
        flow.task(name, |cx| async move {
            tokio::time::sleep(Duration::from_millis(50)).await; // File.open(…, "w")
            let line = format!("This comes from {}", cx.name());
            cx.state().lock().unwrap().push(line);
            Ok::<_, BoxError>(())
        })?
        .sequence("mutates-shared-state");
    }
    flow.task("NonSequencedTask", |_| async {
        println!("No sequences here!");
        tokio::time::sleep(Duration::from_millis(50)).await;
        Ok::<_, BoxError>(())
    })?;

    flow.on_process_begin(|_| println!("Starting to execute the tasks"))
        .on_task_ready(|e| println!("Unblocked: {}", e.name))
        .on_task_begin(|e| println!("Task {} is starting", e.name))
        .on_task_failure(|e| {
            let error = e.error.map(ToString::to_string).unwrap_or_default();
            println!("Task {} failed with exception: {error}", e.name);
        })
        .on_task_success(|e| println!("Task {} succeeded", e.name))
        .on_task_completion(|e| println!("Task {} finished", e.name))
        .on_process_completion(|_| println!("The tasks are all finished!"));

    let report = flow.run().await?;

    println!();
    for t in &report.tasks {
        let (start, end) = (t.started.unwrap(), t.finished.unwrap());
        println!(
            "{:<17} {:>5} → {:>5}",
            t.name,
            fmt_duration(start),
            fmt_duration(end)
        );
    }
    println!("shared state: {:?}", flow.state().lock().unwrap());

    let span = |name| {
        let t = report.get(name).unwrap();
        (t.started.unwrap(), t.finished.unwrap())
    };
    let (one, two, free) = (span("TaskOne"), span("TaskTwo"), span("NonSequencedTask"));
    assert!(
        one.1 <= two.0 || two.1 <= one.0,
        "TaskOne and TaskTwo overlap"
    );
    let first_end = one.1.min(two.1);
    assert!(
        free.0 < first_end,
        "NonSequencedTask waited for the serial group"
    );
    Ok(())
}
