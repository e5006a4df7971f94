//! The npm Orchestrator's quick example, "Inventory Check & Team Notification", with a retry
//! and a timeout.
//!
//! `checkInventory` looks a SKU up in a stock database that is slow to answer the first time:
//! the first attempt hits the 100 ms timeout (its future is dropped), the retry answers. The
//! SKU is out of stock, so main calls `notifyTeam`. Both calls are tracked tasks of the run;
//! the report shows the attempts.
//!
//! Run it with `cargo run -p legato --example inventory`.

use legato::{BoxError, Orchestrator, Status};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
struct Stock {
    sku: String,
    in_stock: bool,
}

#[tokio::main]
async fn main() {
    let mut orchestrator = Orchestrator::new();
    orchestrator.on_task_retry(|e| {
        let error = e.error.map(ToString::to_string).unwrap_or_default();
        println!("↻ attempt {}: {error}; retrying", e.attempt);
    });

    let lookups = Arc::new(AtomicU32::new(0));
    let db = lookups.clone();
    let check_inventory = orchestrator
        .action("checkInventory", move |sku: String| {
            let lookup = db.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                println!("Checking inventory for SKU: {sku}");
                // ...lookup stock in DB: the first lookup hangs until the timeout...
                let wait = if lookup == 1 { 10_000 } else { 20 };
                tokio::time::sleep(Duration::from_millis(wait)).await;
                Ok::<_, BoxError>(Stock {
                    sku,
                    in_stock: false,
                })
            }
        })
        .retries(2)
        .timeout(Duration::from_millis(100));

    let notify_team = orchestrator.action("notifyTeam", |sku: String| async move {
        println!("Notifying team about low stock for SKU: {sku}");
        // ...send Slack or email alert...
        Ok::<_, BoxError>(true)
    });

    let run = orchestrator
        .run(async {
            let result = check_inventory.call("ABC123".to_string()).await?;
            if !result.in_stock {
                notify_team.call(result.sku.clone()).await?;
            }
            Ok::<_, legato::TaskError>(result)
        })
        .await;

    let stock = run
        .output
        .and_then(|r| r)
        .expect("the inventory check succeeds on its retry");
    println!("\n{stock:?}");
    for t in &run.report.tasks {
        println!("{}: {} after {} attempt(s)", t.name, t.status, t.attempts);
    }

    let check = run
        .report
        .get("checkInventory")
        .expect("checkInventory ran");
    assert_eq!((check.status, check.attempts), (Status::Succeeded, 2));
    assert_eq!(check.attempt_log()[0].status(), Status::TimedOut);
    assert_eq!(
        run.report.get("notifyTeam").map(|t| t.status),
        Some(Status::Succeeded)
    );
    assert_eq!(lookups.load(Ordering::SeqCst), 2);
}
