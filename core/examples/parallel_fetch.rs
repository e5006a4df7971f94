//! The npm Orchestrator's parallel example, "Fetch User Profile & Shipping Options", and its
//! fail-fast variant.
//!
//! `orchestrator.parallel([getUserProfile, getShippingOptions])` calls both at once, one
//! argument each (`"user42"`, `"USA"`), and gives back both results in order: the run takes
//! as long as the slower call, not the sum. Then the shipping provider is down for another
//! destination: with fail-fast, its error comes back at once and the profile call still
//! running is cancelled (its future dropped).
//!
//! A parallel group takes actions of one type, so both return JSON here, as in the JavaScript
//! original. Calls of different types go through `tokio::join!` (all results) or
//! `tokio::try_join!` (fail-fast: dropping a call's future cancels it).
//!
//! Run it with `cargo run -p legato --example parallel_fetch`.

use legato::event::fmt_duration;
use legato::{BoxError, Orchestrator, Status};
use serde_json::json;
use std::time::Duration;
use tokio::time::sleep;

#[tokio::main]
async fn main() {
    let orchestrator = Orchestrator::new();

    let get_user_profile = orchestrator.action("getUserProfile", |user_id: String| async move {
        println!("Fetching profile for user {user_id}...");
        sleep(Duration::from_millis(150)).await; // ...call user service...
        Ok::<_, BoxError>(json!({ "userId": user_id, "name": "Alice" }))
    });

    let get_shipping_options = orchestrator.action("getShippingOptions", |to: String| async move {
        println!("Fetching shipping options for {to}...");
        sleep(Duration::from_millis(50)).await; // ...call shipping provider...
        if to == "Atlantis" {
            return Err(format!("no shipping provider serves {to}").into());
        }
        Ok::<_, BoxError>(json!(["Standard", "Express", "Overnight"]))
    });

    // Run them in parallel.
    let parallel_tasks =
        orchestrator.parallel([get_user_profile.clone(), get_shipping_options.clone()]);
    let run = orchestrator
        .run(parallel_tasks.call(vec!["user42".into(), "USA".into()]))
        .await;
    let took = run.report.total;
    let results = run.output.and_then(|r| r).unwrap();
    let [profile, shipping_methods] = &results[..] else {
        unreachable!("two actions, two results")
    };
    println!(
        "Results: {profile} {shipping_methods} (in {})\n",
        fmt_duration(took)
    );
    assert_eq!(profile["name"], "Alice");
    assert_eq!(shipping_methods[1], "Express");
    assert!(took < Duration::from_millis(200), "the calls overlapped");

    // Fail-fast: the shipping error cancels the profile call.
    let fail_fast = orchestrator
        .parallel([get_user_profile, get_shipping_options])
        .fail_fast(true);
    let run = orchestrator
        .run(fail_fast.call(vec!["user42".into(), "Atlantis".into()]))
        .await;
    let took = run.report.total;
    let error = run
        .output
        .and_then(|r| r)
        .expect_err("the shipping call fails");
    println!("Failed fast after {}: {error}", fmt_duration(took));
    for t in &run.report.tasks {
        println!("  {}: {}", t.name, t.status);
    }
    let status = |name| run.report.get(name).map(|t| t.status);
    assert_eq!(status("getShippingOptions"), Some(Status::Failed));
    assert_eq!(status("getUserProfile"), Some(Status::Cancelled));
    assert!(
        took < Duration::from_millis(150),
        "it did not wait for the profile"
    );
}
