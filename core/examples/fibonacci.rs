//! Pynenc's automatic orchestration sample: a recursive Fibonacci task.
//!
//! `fibonacci(n)` calls `fibonacci(n - 1)` and `fibonacci(n - 2)` as tasks of the run and
//! waits for their results. The orchestrator allows one running task at a time
//! (`max_parallel(1)`), yet nothing deadlocks: a task that waits for its children gives its
//! slot back and takes it again when they are done — Pynenc's "pause and resume".
//!
//! First `fibonacci(3)` with the sample's log lines, then `fibonacci(20)` twice: uncached,
//! every call is a task (21,891 of them); cached, identical calls within the run share one
//! task, so there is one per distinct `n` (21).
//!
//! Run it with `cargo run -p legato --example fibonacci`.

use legato::event::fmt_duration;
use legato::{Action, BoxError, Orchestrator};

/// The recursive task; `log` prints the sample's `Calculating …` / `Result of …` lines.
fn fibonacci(orchestrator: &Orchestrator, log: bool) -> Action<u64, u64> {
    orchestrator.recursive_action(
        "fibonacci",
        move |fibonacci: Action<u64, u64>, n: u64| async move {
            if log {
                println!("Calculating fibonacci({n})");
            }
            let result = if n <= 1 {
                n
            } else {
                fibonacci.call(n - 1).await? + fibonacci.call(n - 2).await?
            };
            if log {
                println!("Result of fibonacci({n}) is {result}");
            }
            Ok::<_, BoxError>(result)
        },
    )
}

#[tokio::main]
async fn main() {
    let mut orchestrator = Orchestrator::new();
    orchestrator.max_parallel(1);

    let fib = fibonacci(&orchestrator, true);
    let run = orchestrator.run(fib.call(3)).await;
    assert_eq!(run.report.tasks.len(), 5);
    println!("Result: {}\n", run.into_output().unwrap());

    let uncached = fibonacci(&orchestrator, false);
    let cached = fibonacci(&orchestrator, false).cached();
    for (label, fib, tasks) in [("uncached", uncached, 21_891), ("cached", cached, 21)] {
        let run = orchestrator.run(fib.call(20)).await;
        let result = run.output.and_then(|r| r).unwrap();
        let took = fmt_duration(run.report.total);
        println!(
            "fibonacci(20) {label:>8}: {result}, {} tasks in {took}",
            run.report.tasks.len()
        );
        assert_eq!(result, 6765);
        assert_eq!(run.report.tasks.len(), tasks);
        assert!(run.report.ok());
    }
}
