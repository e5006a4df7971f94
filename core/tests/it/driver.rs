//! The tokio driver through the Rust API: Flow and Orchestrator, on tokio's paused clock
//! (time only advances when every task is idle, so sleeps are exact and instant).

use legato::event::ErrorKind;
use legato::{Action, Backoff, BoxError, Flow, FlowError, Orchestrator, Status};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::sleep;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Sets its flag when dropped: proves a future was dropped (cancelled for real).
struct DropFlag(Arc<AtomicBool>);
impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[tokio::test(start_paused = true)]
async fn a_chain_runs_in_order_and_passes_typed_results() {
    let mut flow = Flow::new();
    flow.task("install", |_| async {
        sleep(ms(10)).await;
        Ok::<_, BoxError>(3u32)
    })
    .unwrap();
    flow.task("build", |cx| async move {
        let n: u32 = *cx.result::<u32>("install").expect("install's result");
        Ok::<_, BoxError>(format!("built {n}"))
    })
    .unwrap()
    .after(["install"]);
    let report = flow.run().await.unwrap();
    assert!(report.ok());
    let build = report.get("build").unwrap();
    assert_eq!(build.status, Status::Succeeded);
    assert!(report.get("install").unwrap().finished <= build.started);
    assert_eq!(report.get("install").unwrap().finished, Some(ms(10)));
}

#[tokio::test(start_paused = true)]
async fn a_timeout_drops_the_future_and_is_retried() {
    let dropped = Arc::new(AtomicBool::new(false));
    let attempts = Arc::new(AtomicU32::new(0));
    let mut flow = Flow::new();
    let (d, a) = (dropped.clone(), attempts.clone());
    flow.task("slow", move |_| {
        let d = d.clone();
        let n = a.fetch_add(1, Ordering::SeqCst);
        async move {
            let _flag = DropFlag(d);
            if n == 0 {
                std::future::pending::<()>().await;
            }
            Ok::<_, BoxError>("second time lucky")
        }
    })
    .unwrap()
    .timeout(ms(50))
    .retries(1);
    let report = flow.run().await.unwrap();
    assert!(
        dropped.load(Ordering::SeqCst),
        "the hanging attempt's future was dropped"
    );
    let t = report.get("slow").unwrap();
    assert_eq!(t.attempts, 2);
    assert_eq!(
        t.attempt_log()[0].error.as_ref().unwrap().kind,
        ErrorKind::TimedOut
    );
    assert_eq!(t.attempt_log()[0].end, Some(ms(50)));
}

#[tokio::test(start_paused = true)]
async fn a_panic_is_that_task_failure_not_a_crash() {
    let mut flow = Flow::new();
    flow.task("boom", |_| async {
        if true {
            panic!("kaboom");
        }
        Ok::<_, BoxError>(())
    })
    .unwrap();
    flow.task("fine", |_| async { Ok::<_, BoxError>(()) })
        .unwrap();
    flow.task("after-boom", |_| async { Ok::<_, BoxError>(()) })
        .unwrap()
        .after(["boom"]);
    let err = flow.run().await.unwrap_err();
    let report = err.report().unwrap();
    let boom = report.get("boom").unwrap();
    assert_eq!(boom.status, Status::Failed);
    assert!(boom.error.as_ref().unwrap().is_panic());
    assert_eq!(&*boom.error.as_ref().unwrap().message, "kaboom");
    assert_eq!(report.get("fine").unwrap().status, Status::Succeeded);
    assert_eq!(report.get("after-boom").unwrap().status, Status::Skipped);
    assert_eq!(err.to_string(), "flow failed: task \"boom\" failed: kaboom");
}

#[tokio::test(start_paused = true)]
async fn fail_fast_cancels_running_siblings_for_real() {
    let dropped = Arc::new(AtomicBool::new(false));
    let mut flow = Flow::new();
    flow.fail_fast(true);
    flow.task("fails", |_| async {
        sleep(ms(5)).await;
        Err::<(), _>("bad input")
    })
    .unwrap();
    let d = dropped.clone();
    flow.task("long", move |_| {
        let d = d.clone();
        async move {
            let _flag = DropFlag(d);
            sleep(ms(10_000)).await;
            Ok::<_, BoxError>(())
        }
    })
    .unwrap();
    let started = tokio::time::Instant::now();
    let err = flow.run().await.unwrap_err();
    assert_eq!(started.elapsed(), ms(5), "the run ends at the failure");
    assert!(dropped.load(Ordering::SeqCst));
    let report = err.report().unwrap();
    assert_eq!(report.get("long").unwrap().status, Status::Cancelled);
    assert_eq!(
        err.to_string(),
        "flow failed: task \"fails\" failed: bad input"
    );
}

#[tokio::test(start_paused = true)]
async fn hooks_fire_in_order_and_share_state() {
    let mut flow = Flow::with_state(Mutex::new(Vec::<String>::new()));
    flow.task("a", |_| async { Ok::<_, BoxError>(1) })
        .unwrap()
        .retries(1);
    flow.task("b", |cx| async move {
        if cx.attempt() == 1 {
            return Err::<(), BoxError>("flaky".into());
        }
        Ok(())
    })
    .unwrap()
    .after(["a"])
    .retries(1)
    .backoff(Backoff::fixed(ms(5)));
    let log = |tag: &'static str| {
        move |e: &legato::HookEvent<'_, Mutex<Vec<String>>>| {
            let line = if e.name.is_empty() {
                tag.to_string()
            } else {
                format!("{tag} {}", e.name)
            };
            e.state.lock().unwrap().push(line);
        }
    };
    flow.on_process_begin(log("process_begin"))
        .on_task_ready(log("ready"))
        .on_task_begin(log("begin"))
        .on_task_retry(log("retry"))
        .on_task_success(log("success"))
        .on_task_failure(log("failure"))
        .on_task_completion(log("completion"))
        .on_process_completion(|e: &legato::HookEvent<'_, Mutex<Vec<String>>>| {
            assert!(e.report.expect("the report").ok());
            e.state.lock().unwrap().push("process_completion".into());
        });
    flow.run().await.unwrap();
    let got = flow.state().lock().unwrap().clone();
    assert_eq!(
        got,
        [
            "process_begin",
            "ready a",
            "begin a",
            "success a",
            "completion a",
            "ready b",
            "begin b",
            "retry b",
            "begin b",
            "success b",
            "completion b",
            "process_completion"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_failing_hook_fails_the_run_and_cancels_running_tasks() {
    let mut flow = Flow::new();
    flow.task("slow", |_| async {
        sleep(ms(100)).await;
        Ok::<_, BoxError>(())
    })
    .unwrap();
    flow.task("quick", |_| async {
        sleep(ms(1)).await;
        Ok::<_, BoxError>(())
    })
    .unwrap();
    flow.on_task_success(|e: &legato::HookEvent<'_, ()>| {
        if e.name == "quick" {
            Err("audit log unavailable")
        } else {
            Ok(())
        }
    });
    let completed = Arc::new(AtomicBool::new(false));
    let c = completed.clone();
    flow.on_process_completion(move |_: &legato::HookEvent<'_, ()>| {
        c.store(true, Ordering::SeqCst)
    });
    let err = flow.run().await.unwrap_err();
    assert!(
        completed.load(Ordering::SeqCst),
        "process_completion still fires"
    );
    assert_eq!(
        err.to_string(),
        "flow failed: hook for event \"task_success\" failed: audit log unavailable"
    );
    assert_eq!(
        err.report().unwrap().get("slow").unwrap().status,
        Status::Cancelled
    );
}

#[tokio::test(start_paused = true)]
async fn a_run_handle_cancels() {
    let mut flow = Flow::new();
    flow.task("forever", |_| async {
        std::future::pending::<()>().await;
        Ok::<_, BoxError>(())
    })
    .unwrap();
    flow.task("next", |_| async { Ok::<_, BoxError>(()) })
        .unwrap()
        .after(["forever"]);
    let handle = flow.spawn().unwrap();
    let canceller = handle.canceller();
    tokio::spawn(async move {
        sleep(ms(20)).await;
        canceller.cancel();
    });
    let err = handle.wait().await.unwrap_err();
    let report = err.report().unwrap();
    assert_eq!(report.get("forever").unwrap().status, Status::Cancelled);
    assert_eq!(report.get("next").unwrap().status, Status::Skipped);
    assert_eq!(err.to_string(), "flow failed: run cancelled");
}

#[tokio::test(start_paused = true)]
async fn graph_errors_come_before_anything_runs() {
    let mut flow = Flow::new();
    flow.task("build-app", |_| async { Ok::<_, BoxError>(()) })
        .unwrap();
    flow.task("deploy", |_| async { Ok::<_, BoxError>(()) })
        .unwrap()
        .after(["biuld-app"]);
    let err = flow.run().await.unwrap_err();
    assert!(matches!(err, FlowError::Graph(_)));
    assert_eq!(
        err.to_string(),
        "Task \"biuld-app\" referenced by \"deploy\" does not exist (did you mean \"build-app\"?)"
    );
    let dup = flow
        .task("deploy", |_| async { Ok::<_, BoxError>(()) })
        .unwrap_err();
    assert_eq!(dup.to_string(), "Task \"deploy\" is defined twice");
}

#[tokio::test(start_paused = true)]
async fn lightflow_follow_parallel_and_sync_all() {
    let mut flow = Flow::new();
    for n in ["step1", "step2", "step3", "step4", "step5"] {
        flow.task(n, |_| async { Ok::<_, BoxError>(()) }).unwrap();
    }
    flow.follow(["step3", "step4"])
        .unwrap()
        .after(["step1", "step2"]);
    let point = flow.parallel(["step1", "step2"]).unwrap().point();
    flow.get_mut("step5").unwrap().after(&point);
    assert_eq!(
        flow.plan().unwrap(),
        vec![
            vec!["step1", "step2"],
            vec!["step3", "step5"],
            vec!["step4"]
        ]
    );
    flow.task("final", |_| async { Ok::<_, BoxError>(()) })
        .unwrap();
    flow.sync_all("final").unwrap();
    let plan = flow.plan_targets(["final"]).unwrap();
    assert_eq!(plan.last().unwrap(), &vec!["final".to_string()]);
    assert_eq!(plan.iter().flatten().count(), 6);
}

#[tokio::test(start_paused = true)]
async fn orchestrator_tracks_calls_parallel_and_fail_fast() {
    let mut orch = Orchestrator::with_state(AtomicU32::new(0));
    let began = orch.state().clone();
    orch.on_task_begin(move |_: &legato::HookEvent<'_, AtomicU32>| {
        began.fetch_add(1, Ordering::SeqCst);
    });
    let profile = orch.action("getUserProfile", |id: String| async move {
        sleep(ms(30)).await;
        Ok::<_, BoxError>(format!("profile of {id}"))
    });
    let dropped = Arc::new(AtomicBool::new(false));
    let d = dropped.clone();
    let shipping = orch.action("getShippingOptions", move |country: String| {
        let d = d.clone();
        async move {
            let _flag = DropFlag(d);
            sleep(ms(50)).await;
            Ok::<_, BoxError>(format!("ship to {country}"))
        }
    });
    let failing = orch.action("failing", |_: String| async {
        sleep(ms(10)).await;
        Err::<String, _>("no route")
    });
    let both = orch.parallel([profile, shipping.clone()]).fail_fast(true);
    let run = orch
        .run(async move {
            let t0 = tokio::time::Instant::now();
            let both = both
                .call(vec!["user42".to_string(), "USA".to_string()])
                .await
                .unwrap();
            (both, t0.elapsed())
        })
        .await;
    let (both, took) = run.output.unwrap();
    assert_eq!(both, ["profile of user42", "ship to USA"]);
    assert_eq!(took, ms(50), "the two calls ran at the same time");
    assert_eq!(run.report.tasks.len(), 2);
    assert_eq!(
        orch.state().load(Ordering::SeqCst),
        2,
        "task_begin fired per call"
    );

    // Fail-fast: the failing call cancels the slow sibling, whose future is dropped.
    let group = orch.parallel([failing, shipping]).fail_fast(true);
    let run = orch
        .run(async move { group.call(vec!["x".to_string(), "EU".to_string()]).await })
        .await;
    assert_eq!(&*run.output.unwrap().unwrap_err().message, "no route");
    assert!(dropped.load(Ordering::SeqCst));
    let statuses: Vec<Status> = run.report.tasks.iter().map(|t| t.status).collect();
    assert_eq!(statuses, [Status::Failed, Status::Cancelled]);
}

#[tokio::test(start_paused = true)]
async fn recursion_under_max_parallel_one_does_not_deadlock() {
    let mut orch = Orchestrator::new();
    orch.max_parallel(1);
    let fib = orch.recursive_action("fib", |fib: Action<u64, u64>, n: u64| async move {
        if n < 2 {
            return Ok::<_, BoxError>(n);
        }
        let a = fib.call(n - 1).await?;
        let b = fib.call(n - 2).await?;
        Ok(a + b)
    });
    let run = orch.run(async { fib.call(10).await }).await;
    assert_eq!(run.output.unwrap().unwrap(), 55);
    assert_eq!(run.report.tasks.len(), 177, "uncached: one task per call");
    assert!(run.report.ok());
}

#[tokio::test(start_paused = true)]
async fn an_action_outside_a_run_is_a_plain_call() {
    let orch = Orchestrator::new();
    let double = orch.action("double", |n: u32| async move { Ok::<_, BoxError>(n * 2) });
    assert_eq!(double.call(21).await.unwrap(), 42);
}

#[tokio::test(start_paused = true)]
async fn sequences_never_overlap_in_real_runs() {
    let active = Arc::new(AtomicU32::new(0));
    let overlap = Arc::new(AtomicBool::new(false));
    let mut flow = Flow::new();
    for n in ["one", "two", "three"] {
        let (a, o) = (active.clone(), overlap.clone());
        flow.task(n, move |_| {
            let (a, o) = (a.clone(), o.clone());
            async move {
                if a.fetch_add(1, Ordering::SeqCst) > 0 {
                    o.store(true, Ordering::SeqCst);
                }
                sleep(ms(10)).await;
                a.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, BoxError>(())
            }
        })
        .unwrap()
        .sequence("shared-state");
    }
    let started = tokio::time::Instant::now();
    flow.run().await.unwrap();
    assert!(!overlap.load(Ordering::SeqCst));
    assert_eq!(started.elapsed(), ms(30));
}

#[tokio::test(start_paused = true)]
async fn async_hooks_hold_only_their_task_and_keep_registration_order() {
    use legato::{EventKind, OwnedHookEvent};
    let mut flow = Flow::with_state(Mutex::new(Vec::<String>::new()));
    for n in ["a", "b"] {
        flow.task(n, |_| async {
            sleep(ms(10)).await;
            Ok::<_, BoxError>(())
        })
        .unwrap();
    }
    flow.on_task_begin(|e: &legato::HookEvent<'_, Mutex<Vec<String>>>| {
        e.state.lock().unwrap().push(format!("sync {}", e.name));
    });
    flow.on_async(
        EventKind::TaskBegin,
        |e: OwnedHookEvent<Mutex<Vec<String>>>| async move {
            if &*e.name == "a" {
                sleep(ms(20)).await;
            }
            e.state.lock().unwrap().push(format!("async {}", e.name));
        },
    );
    let report = flow.run().await.unwrap();
    assert_eq!(
        report.get("b").unwrap().started,
        Some(ms(0)),
        "b does not wait for a's hook"
    );
    assert_eq!(
        report.get("a").unwrap().started,
        Some(ms(20)),
        "a starts after its hook"
    );
    let log = flow.state().lock().unwrap().clone();
    assert_eq!(log, ["sync a", "sync b", "async b", "async a"]);

    // A failing async hook fails the run, naming the event.
    flow.on_async(
        EventKind::TaskSuccess,
        |_e: OwnedHookEvent<Mutex<Vec<String>>>| async { Err::<(), _>("webhook down") },
    );
    let err = flow.run().await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "flow failed: hook for event \"task_success\" failed: webhook down"
    );
}

#[test]
fn the_graph_is_built_once_until_the_flow_changes() {
    let mut flow = Flow::new();
    flow.task("a", |_| async { Ok::<_, BoxError>(()) }).unwrap();
    let g1 = flow.graph().unwrap();
    assert!(Arc::ptr_eq(&g1, &flow.graph().unwrap()));
    flow.task("b", |_| async { Ok::<_, BoxError>(()) })
        .unwrap()
        .after(["a", "a"]);
    let g2 = flow.graph().unwrap();
    assert!(!Arc::ptr_eq(&g1, &g2));
    assert_eq!(g2.len(), 2);
    assert_eq!(g2.edge_count(), 1, "a repeated dependency counts once");
    flow.get_mut("a").unwrap().after(["b"]);
    assert_eq!(
        flow.graph().unwrap_err().to_string(),
        "Circular dependency detected: a → b → a"
    );
}

/// The same flow with plain functions (`task_sync`) and with async bodies (`task`): the same
/// hook events in the same order, the same results, retries, panics and skips.
#[tokio::test(start_paused = true)]
async fn a_sync_body_is_a_task_like_an_async_one() {
    type Log = Mutex<Vec<String>>;
    fn fallible(attempt: u32) -> Result<u32, BoxError> {
        if attempt == 1 {
            return Err("flaky".into());
        }
        Ok(attempt)
    }
    fn boom() -> Result<(), BoxError> {
        panic!("kaboom")
    }
    fn declare(sync: bool) -> Flow<Log> {
        let mut flow = Flow::with_state(Log::default());
        if sync {
            flow.task_sync("a", |_| Ok::<_, BoxError>(20u32)).unwrap();
            flow.task_sync("b", |cx| fallible(cx.attempt()))
                .unwrap()
                .retries(1);
            flow.task_sync("sum", |cx| {
                let a = cx.result::<u32>("a").copied().unwrap_or(0);
                let b = cx.result::<u32>("b").copied().unwrap_or(0);
                Ok::<_, BoxError>(a + b)
            })
            .unwrap()
            .after(["a", "b"]);
            flow.task_sync("boom", |_| boom()).unwrap();
        } else {
            flow.task("a", |_| async { Ok::<_, BoxError>(20u32) })
                .unwrap();
            flow.task("b", |cx| async move { fallible(cx.attempt()) })
                .unwrap()
                .retries(1);
            flow.task("sum", |cx| async move {
                let a = cx.result::<u32>("a").copied().unwrap_or(0);
                let b = cx.result::<u32>("b").copied().unwrap_or(0);
                Ok::<_, BoxError>(a + b)
            })
            .unwrap()
            .after(["a", "b"]);
            flow.task("boom", |_| async { boom() }).unwrap();
        }
        flow.task_sync("after-boom", |_| Ok::<_, BoxError>(()))
            .unwrap()
            .after(["boom"]);
        let log = |tag: &'static str| {
            move |e: &legato::HookEvent<'_, Log>| {
                e.state.lock().unwrap().push(format!("{tag} {}", e.name));
            }
        };
        flow.on_task_begin(log("begin"))
            .on_task_retry(log("retry"))
            .on_task_success(log("success"))
            .on_task_failure(log("failure"))
            .on_task_skip(log("skip"));
        flow
    }
    let mut outcomes = Vec::new();
    for sync in [true, false] {
        let flow = declare(sync);
        let err = flow.run().await.unwrap_err();
        let report = err.report().unwrap();
        let tasks: Vec<_> = ["a", "b", "sum", "boom", "after-boom"]
            .iter()
            .map(|n| {
                let t = report.get(n).unwrap();
                let error = t
                    .error
                    .as_ref()
                    .map(|e| (e.is_panic(), e.message.to_string()));
                (t.status, t.attempts, error)
            })
            .collect();
        let log = flow.state().lock().unwrap().clone();
        outcomes.push((report.result::<u32>("sum").copied(), tasks, log));
    }
    let (sum, tasks, log) = &outcomes[0];
    assert_eq!(*sum, Some(22));
    assert_eq!(tasks[1], (Status::Succeeded, 2, None));
    assert_eq!(
        tasks[3],
        (Status::Failed, 1, Some((true, "kaboom".to_owned())))
    );
    assert_eq!(tasks[4].0, Status::Skipped);
    assert!(log.contains(&"retry b".to_owned()));
    assert!(log.contains(&"skip after-boom".to_owned()));
    assert_eq!(outcomes[0], outcomes[1]);
}

/// With `fail_fast` and a condition, plain functions and async bodies end the same way: the
/// same statuses, attempts and error, and the run's error names the first failure.
#[tokio::test(start_paused = true)]
async fn sync_bodies_stop_with_fail_fast_and_skip_on_a_condition_as_async_ones_do() {
    fn declare(sync: bool) -> Flow {
        let mut flow = Flow::new();
        flow.fail_fast(true);
        let fails = || Err::<(), BoxError>("boom".into());
        let ok = || Ok::<(), BoxError>(());
        if sync {
            flow.task_sync("a", move |_| fails()).unwrap();
            flow.task_sync("b", move |_| ok()).unwrap().after(["a"]);
            flow.task_sync("c", move |_| ok())
                .unwrap()
                .when(|_: &legato::Cx| false);
        } else {
            flow.task("a", move |_| async move { fails() }).unwrap();
            flow.task("b", move |_| async move { ok() })
                .unwrap()
                .after(["a"]);
            flow.task("c", move |_| async move { ok() })
                .unwrap()
                .when(|_: &legato::Cx| false);
        }
        flow
    }
    let mut ends = Vec::new();
    for sync in [true, false] {
        let err = declare(sync).run().await.unwrap_err();
        let report = err.report().unwrap();
        let tasks: Vec<_> = ["a", "b", "c"]
            .iter()
            .map(|n| {
                let t = report.get(n).unwrap();
                (t.status, t.attempts)
            })
            .collect();
        ends.push((err.to_string(), tasks));
    }
    assert_eq!(ends[0].0, "flow failed: task \"a\" failed: boom");
    assert_eq!(ends[0].1[0], (Status::Failed, 1));
    assert_eq!(ends[0].1[1].1, 0, "b never ran");
    assert_eq!(ends[0], ends[1]);
}

/// A `task_begin` hook that raises for the sixth task stops the run before any body is
/// called: the five tasks whose hooks passed end `cancelled` with their attempt counted, as
/// the core says, and nothing of theirs runs.
#[tokio::test]
async fn a_hook_that_stops_the_run_before_the_first_body_calls_none() {
    let calls = Arc::new(AtomicU32::new(0));
    let mut flow = Flow::new();
    for i in 0..10 {
        let calls = calls.clone();
        flow.task(format!("t{i}"), move |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, BoxError>(()) }
        })
        .unwrap();
    }
    flow.on(
        legato::EventKind::TaskBegin,
        |e: &legato::HookEvent<'_, ()>| {
            if e.name == "t5" {
                return Err::<(), BoxError>("refused".into());
            }
            Ok(())
        },
    );
    let err = flow.run().await.unwrap_err();
    let report = err.report().expect("the run's report");
    assert_eq!(calls.load(Ordering::SeqCst), 0, "no body was called");
    for i in 0..5 {
        let t = report.get(&format!("t{i}")).unwrap();
        assert_eq!((t.status, t.attempts), (Status::Cancelled, 1), "t{i}");
    }
    assert_eq!(
        report.count(Status::Cancelled) + report.count(Status::Skipped),
        10
    );
}
