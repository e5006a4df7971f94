//! Regressions of issue 7 ("the core as one protocol, hardened against bad input"): the
//! scheduler's protocol refuses what it does not know, options are validated once, and the
//! Rust door's defects found by a demanding user stay fixed. On tokio's paused clock.

use legato::event::{ErrorKind, Status};
use legato::graph::{GraphBuilder, TaskId};
use legato::policy::TaskOptions;
use legato::scheduler::{Command, Input, Outcome, ProtocolError, RunOptions, Scheduler};
use legato::{Backoff, BoxError, Flow, FlowError, Orchestrator};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::{sleep, timeout};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn empty_run(opts: RunOptions) -> Scheduler<u32> {
    let graph = Arc::new(GraphBuilder::new().build().unwrap());
    Scheduler::new(graph.clone(), &graph.all(), opts).unwrap()
}

#[test]
fn an_id_from_another_run_is_an_error_not_a_panic() {
    let mut big = empty_run(RunOptions::default());
    big.hold();
    big.start(Duration::ZERO);
    let opts = Arc::new(TaskOptions::default());
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(
            big.spawn(None, format!("c{i}").into(), opts.clone(), Duration::ZERO)
                .unwrap(),
        );
    }
    let mut small = empty_run(RunOptions::default());
    small.start(Duration::ZERO);
    let foreign = ids[2];
    assert_eq!(small.task_id(foreign.as_u32()), None);
    assert_eq!(big.task_id(foreign.as_u32()), Some(foreign));
    assert_eq!(
        small.attempt_finished(foreign, 1, Outcome::Ok(7), ms(1)),
        Err(ProtocolError::UnknownTask(2))
    );
    assert_eq!(
        small.cancel_task(foreign, ms(1)),
        Err(ProtocolError::UnknownTask(2))
    );
    assert_eq!(small.suspend(foreign), Err(ProtocolError::UnknownTask(2)));
    assert_eq!(
        small.take_outcome(foreign).unwrap_err().kind(),
        "unknown_task"
    );
    assert!(small
        .spawn(Some((foreign, 1)), "x".into(), opts, ms(1))
        .is_err());
    // A batch takes its valid inputs and reports the first invalid one.
    assert!(small
        .handle(ms(2), [Input::Resume(foreign), Input::Cancel])
        .is_err());
    assert!(small.is_finished(), "the valid cancel was taken");
}

/// Queries never panic: an id from another, bigger run (or `TaskId::NONE`) reads as a task
/// that never ran, with the same signatures the drivers use.
#[test]
fn queries_of_an_id_from_another_run_read_as_unknown() {
    let mut big = empty_run(RunOptions::default());
    big.hold();
    big.start(Duration::ZERO);
    let opts = Arc::new(TaskOptions::default().retries(3).timeout(ms(50)));
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(
            big.spawn(None, format!("c{i}").into(), opts.clone(), Duration::ZERO)
                .unwrap(),
        );
    }
    let started: Vec<_> = std::iter::from_fn(|| big.next_command()).collect();
    assert_eq!(started.len(), 3);
    big.attempt_finished(ids[2], 1, Outcome::fail("boom"), ms(1))
        .unwrap();
    assert_eq!(big.attempt(ids[2]), 2, "retried at once: no backoff");
    assert_eq!(big.parent(ids[2]), None);

    let small = empty_run(RunOptions::default());
    for foreign in [ids[2], TaskId::NONE] {
        assert_eq!(small.task_id(foreign.as_u32()), None);
        assert_eq!(small.name(foreign), "");
        assert_eq!(&**small.name_arc(foreign), "");
        assert_eq!(small.status(foreign), Status::Pending);
        assert_eq!(small.attempt(foreign), 0);
        assert_eq!(small.options(foreign), &TaskOptions::default());
        assert!(small.value(foreign).is_none());
        assert!(small.error(foreign).is_none());
        assert_eq!(small.parent(foreign), None);
        assert!(small.skip_reason(foreign).is_none());
        assert!(!small.is_current_attempt(foreign, 1));
        assert_eq!(
            small.outcome(foreign).unwrap_err(),
            ProtocolError::UnknownTask(foreign.as_u32())
        );
    }
    assert_eq!(big.task_id(u32::MAX), None);
    assert_eq!(big.status(TaskId::NONE), Status::Pending);
}

#[test]
fn invalid_run_options_are_refused_when_the_run_is_made() {
    let graph = Arc::new(GraphBuilder::new().build().unwrap());
    let e = Scheduler::<()>::new(
        graph.clone(),
        &graph.all(),
        RunOptions::default().max_parallel(0),
    )
    .unwrap_err();
    assert_eq!(e.kind(), legato::policy::OptionErrorKind::InvalidValue);
    assert_eq!(e.argument(), "max_parallel");
    let e = Scheduler::<()>::new(
        graph.clone(),
        &graph.all(),
        RunOptions::default().timeout(Duration::ZERO),
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "timeout must be greater than zero");
}

/// A call made by an attempt that is over (a sync body that ignored its cancel) is cancelled
/// at once and its outcome delivered, so a blocked caller is never left waiting.
#[test]
fn a_call_from_an_attempt_that_is_over_is_cancelled_and_delivered() {
    let mut s = empty_run(RunOptions::default());
    s.hold();
    s.start(Duration::ZERO);
    let opts = Arc::new(TaskOptions::default().retries(1));
    let parent = s
        .spawn(None, "parent".into(), opts.clone(), Duration::ZERO)
        .unwrap();
    assert!(matches!(
        s.next_command(),
        Some(Command::Start { attempt: 1, .. })
    ));
    s.attempt_finished(parent, 1, Outcome::fail("boom"), ms(1))
        .unwrap();
    assert!(matches!(
        s.next_command(),
        Some(Command::Start { attempt: 2, .. })
    ));
    // Attempt 1's body calls now: it is not the current attempt.
    let child = s
        .spawn(
            Some((parent, 1)),
            "late".into(),
            Arc::new(TaskOptions::default()),
            ms(2),
        )
        .unwrap();
    assert!(matches!(s.next_command(), Some(Command::Deliver { task }) if task == child));
    let outcome = s.take_outcome(child).unwrap().unwrap_err();
    assert_eq!(outcome.kind, ErrorKind::Cancelled);
    assert_eq!(s.status(child), Status::Cancelled);
    // The current attempt was not suspended by it: it can finish, and the run with it.
    s.attempt_finished(parent, 2, Outcome::Ok(1), ms(3))
        .unwrap();
    assert!(matches!(s.next_command(), Some(Command::Deliver { task }) if task == parent));
    s.release(ms(3));
    assert!(matches!(s.next_command(), Some(Command::Finished)));
}

/// Durations too long for the clock mean "no limit" instead of panicking with "overflow when
/// adding duration to instant" (a task timeout, a run timeout, an orchestrator's run timeout).
#[tokio::test(start_paused = true)]
async fn durations_that_overflow_mean_no_limit() {
    let mut flow = Flow::new();
    flow.timeout(Duration::MAX);
    flow.task("slow", |_| async {
        sleep(ms(30)).await;
        Ok::<_, BoxError>(())
    })
    .unwrap()
    .timeout(Duration::MAX);
    assert!(flow.run().await.unwrap().ok());

    let mut orch = Orchestrator::new();
    orch.timeout(Duration::MAX);
    let a = orch
        .action("a", |n: u32| async move { Ok::<_, BoxError>(n + 1) })
        .timeout(Duration::MAX);
    let run = orch.run(async { a.call(1).await }).await;
    assert_eq!(run.into_output().unwrap(), 2);
}

#[tokio::test(start_paused = true)]
async fn bad_options_are_errors_with_a_kind() {
    let mut flow = Flow::new();
    flow.max_parallel(0);
    flow.task("a", |_| async { Ok::<_, BoxError>(()) }).unwrap();
    let e = flow.run().await.unwrap_err();
    assert!(matches!(e, FlowError::InvalidOption(_)));
    assert_eq!(e.kind(), "invalid_value");
    assert_eq!(
        e.to_string(),
        "max_parallel must be a whole number >= 1, got 0"
    );

    let mut flow = Flow::new();
    flow.task("a", |_| async { Ok::<_, BoxError>(()) })
        .unwrap()
        .backoff(Backoff::exponential(ms(1)).factor(0.5));
    let e = flow.plan().unwrap_err();
    assert_eq!(e.kind(), "invalid_option");
    assert_eq!(
        e.to_string(),
        "Task \"a\": backoff factor must be a finite number >= 1, got 0.5"
    );
    let mut flow = Flow::new();
    flow.task("z", |_| async { Ok::<_, BoxError>(()) })
        .unwrap()
        .timeout(Duration::ZERO);
    assert_eq!(flow.run().await.unwrap_err().kind(), "invalid_option");
}

/// A run timeout cancels everything, main included (it used to return `Ok` after main's 3 s).
#[tokio::test(start_paused = true)]
async fn an_orchestrator_run_timeout_cancels_main() {
    let mut orch = Orchestrator::new();
    orch.timeout(ms(100));
    let started = tokio::time::Instant::now();
    let run = orch
        .run(async {
            sleep(Duration::from_secs(3)).await;
            "main finished"
        })
        .await;
    assert_eq!(started.elapsed(), ms(100));
    let error = run.output.unwrap_err();
    assert_eq!(error.kind, ErrorKind::TimedOut);
    assert_eq!(error.to_string(), "run timed out after 100ms");

    // Its calls in flight are cancelled with it.
    let a = orch.action("slow", |_: ()| async {
        sleep(Duration::from_secs(3)).await;
        Ok::<_, BoxError>(())
    });
    let run = orch.run(async { a.call(()).await }).await;
    assert!(run.output.is_err());
    assert_eq!(run.report.tasks[0].status, Status::Cancelled);
}

/// Dropping `flow.run()` part-way ends the run on the spot: the sync hooks see every task's
/// end and `process_completion`.
#[tokio::test(start_paused = true)]
async fn a_dropped_run_still_fires_process_completion() {
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut flow = Flow::new();
    flow.task("fast", |_| async { Ok::<_, BoxError>(()) })
        .unwrap();
    flow.task("slow", |_| async {
        sleep(Duration::from_secs(10)).await;
        Ok::<_, BoxError>(())
    })
    .unwrap();
    flow.task("after", |_| async { Ok::<_, BoxError>(()) })
        .unwrap()
        .after(["slow"]);
    let s = seen.clone();
    flow.on_task_completion(move |e| {
        s.lock()
            .unwrap()
            .push(format!("{} {}", e.name, e.status.unwrap()));
    });
    let s = seen.clone();
    flow.on_task_skip(move |e| s.lock().unwrap().push(format!("{} skipped", e.name)));
    let s = seen.clone();
    flow.on_process_completion(move |e| {
        let r = e.report.unwrap();
        s.lock()
            .unwrap()
            .push(format!("process_completion ok={}", r.ok()));
    });
    assert!(
        timeout(ms(50), flow.run()).await.is_err(),
        "the run was dropped"
    );
    assert_eq!(
        *seen.lock().unwrap(),
        [
            "fast succeeded",
            "slow cancelled",
            "after skipped",
            "process_completion ok=false"
        ]
    );
}

/// Two runs of one orchestrator at once keep their own memos: a later call in the first run
/// still hits its memo (it used to be cleared by the second run).
#[tokio::test(start_paused = true)]
async fn concurrent_runs_keep_their_own_memos() {
    let calls = Arc::new(AtomicU32::new(0));
    let orch = Orchestrator::new();
    let c = calls.clone();
    let square = orch
        .action("square", move |n: u64| {
            let c = c.clone();
            async move {
                c.fetch_add(1, Ordering::SeqCst);
                sleep(ms(10)).await;
                Ok::<_, BoxError>(n * n)
            }
        })
        .cached();
    let first = orch.run(async {
        let a = square.call(3).await?;
        sleep(ms(30)).await;
        let b = square.call(3).await?;
        Ok::<_, legato::TaskError>(a + b)
    });
    let second = orch.run(async {
        sleep(ms(5)).await;
        square.call(3).await
    });
    let (first, second) = tokio::join!(first, second);
    assert_eq!(
        first.report.tasks.len(),
        1,
        "the second call hit the run's memo"
    );
    assert_eq!(second.report.tasks.len(), 1);
    assert_eq!(first.into_output().unwrap(), 18);
    assert_eq!(second.into_output().unwrap(), 9);
    assert_eq!(calls.load(Ordering::SeqCst), 2, "one call per run");
}

/// When the first caller of a memoized call gives up, the others still waiting get its result
/// (they used to get "cancelled"); when the last one gives up, the call is cancelled.
#[tokio::test(start_paused = true)]
async fn a_memoized_call_runs_while_anyone_waits_for_it() {
    let orch = Orchestrator::new();
    let fetch = orch
        .action("fetch", |n: u64| async move {
            sleep(ms(20)).await;
            Ok::<_, BoxError>(n + 100)
        })
        .cached();
    let run = orch
        .run(async {
            let impatient = timeout(ms(5), fetch.call(1));
            let patient = async {
                sleep(ms(1)).await;
                fetch.call(1).await
            };
            let (gave_up, got) = tokio::join!(impatient, patient);
            (gave_up.is_err(), got)
        })
        .await;
    let (gave_up, got) = run.output.unwrap();
    assert!(gave_up);
    assert_eq!(got.unwrap(), 101);
    assert_eq!(run.report.tasks.len(), 1);
    assert_eq!(run.report.tasks[0].status, Status::Succeeded);

    let run = orch
        .run(async {
            let a = timeout(ms(5), fetch.call(2));
            let b = timeout(ms(8), fetch.call(2));
            let (a, b) = tokio::join!(a, b);
            a.is_err() && b.is_err()
        })
        .await;
    assert!(run.output.unwrap(), "both gave up");
    assert_eq!(run.report.tasks[0].status, Status::Cancelled);
    assert_eq!(run.report.tasks[0].finished, Some(ms(8)));
}

/// A task's own error type comes back through the report (the error's source), for Flow and
/// Orchestrator alike.
#[tokio::test(start_paused = true)]
async fn a_task_error_keeps_the_users_error() {
    #[derive(Debug, thiserror::Error)]
    #[error("quota exceeded: {0}")]
    struct Quota(u32);

    let orch = Orchestrator::new();
    let call = orch.action("upload", |n: u32| async move { Err::<(), _>(Quota(n)) });
    let run = orch.run(async { call.call(7).await }).await;
    let error = run.output.unwrap().unwrap_err();
    assert_eq!(error.to_string(), "quota exceeded: 7");
    let source = std::error::Error::source(&error).unwrap();
    assert_eq!(source.downcast_ref::<Quota>().unwrap().0, 7);
    let reported = run.report.tasks[0].error.as_ref().unwrap();
    assert!(std::error::Error::source(reported).is_some());
}

/// The critical path counts a wait for a sequence key: a task that waited 600 ms for `db`
/// follows the task that held it (it used to show alone).
#[tokio::test(start_paused = true)]
async fn the_critical_path_goes_through_a_sequence_wait() {
    let mut flow = Flow::new();
    flow.task("setup", |_| async {
        sleep(ms(10)).await;
        Ok::<_, BoxError>(())
    })
    .unwrap();
    flow.task("migrate", |_| async {
        sleep(ms(600)).await;
        Ok::<_, BoxError>(())
    })
    .unwrap()
    .after(["setup"])
    .sequence("db");
    flow.task("seed", |_| async {
        sleep(ms(50)).await;
        Ok::<_, BoxError>(())
    })
    .unwrap()
    .after(["setup"])
    .sequence("db");
    let report = flow.run().await.unwrap();
    let seed = report.get("seed").unwrap();
    assert_eq!(seed.started, Some(ms(610)), "seed waited for the db key");
    assert_eq!(seed.waited_for, Some(report.get("migrate").unwrap().id));
    assert_eq!(report.critical_path_names(), ["setup", "migrate", "seed"]);
    assert_eq!(report.to_json_value()["tasks"][2]["waited_for"], "migrate");
}

/// A task that succeeded after a failed attempt reports no error (the failed attempt's error
/// stays in its attempt log), in the report and in its JSON.
#[tokio::test(start_paused = true)]
async fn a_task_that_succeeded_on_retry_has_no_error() {
    let tries = Arc::new(AtomicU32::new(0));
    let mut flow = Flow::new();
    let t = tries.clone();
    flow.task("flaky", move |_| {
        let t = t.clone();
        async move {
            if t.fetch_add(1, Ordering::SeqCst) == 0 {
                return Err::<(), BoxError>("first try fails".into());
            }
            Ok(())
        }
    })
    .unwrap()
    .retries(1);
    // Rule 12: `task_completion`'s error is the last attempt's, none after a success.
    let completions = Arc::new(Mutex::new(Vec::new()));
    let seen = completions.clone();
    flow.on_task_completion(move |e| {
        seen.lock()
            .unwrap()
            .push((e.status, e.error.map(|x| x.to_string())));
    });
    let report = flow.run().await.unwrap();
    assert_eq!(
        completions.lock().unwrap()[..],
        [(Some(Status::Succeeded), None)]
    );
    let flaky = report.get("flaky").unwrap();
    assert_eq!(flaky.status, Status::Succeeded);
    assert!(flaky.error.is_none());
    assert_eq!(
        flaky.attempt_log()[0].error.as_ref().unwrap().to_string(),
        "first try fails"
    );
    let json = report.to_json_value();
    assert!(json["tasks"][0]["error"].is_null());
    assert_eq!(
        json["tasks"][0]["attempt_log"][0]["error"]["message"],
        "first try fails"
    );
}

/// A run shares its flow's task bodies instead of copying them; a flow changed while a
/// spawned run is in progress is copied first, so the run goes on with the flow as it was.
#[tokio::test(start_paused = true)]
async fn a_flow_changed_during_a_run_does_not_change_that_run() {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let rx = Arc::new(Mutex::new(Some(rx)));
    let mut flow = Flow::new();
    flow.task("wait", move |_| {
        let rx = rx.lock().unwrap().take();
        async move {
            if let Some(rx) = rx {
                rx.await.ok();
            }
            Ok::<_, BoxError>("first")
        }
    })
    .unwrap();
    let run = flow.spawn().unwrap();
    tokio::task::yield_now().await;
    flow.task("later", |_| async { Ok::<_, BoxError>(()) })
        .unwrap()
        .after(["wait"]);
    tx.send(()).unwrap();
    let report = run.wait().await.unwrap();
    let names: Vec<&str> = report.tasks.iter().map(|t| &*t.name).collect();
    assert_eq!(names, ["wait"]);
    assert_eq!(report.result::<&str>("wait"), Some(&"first"));
    let again = flow.run().await.unwrap();
    let names: Vec<&str> = again.tasks.iter().map(|t| &*t.name).collect();
    assert_eq!(names, ["wait", "later"]);
}

/// Results of tasks that return `()` (kept as one bit each) and of tasks that return values
/// read back alike.
#[tokio::test(start_paused = true)]
async fn unit_and_other_results_read_back() {
    let mut flow = Flow::new();
    flow.task("setup", |_| async { Ok::<_, BoxError>(()) })
        .unwrap();
    flow.task("build", |cx| async move {
        // What the body sees of its dependency's result, as the report does below.
        assert_eq!(cx.result::<()>("setup"), Some(&()));
        assert_eq!(cx.result::<String>("setup"), None);
        Ok::<_, BoxError>(String::from("app.tar"))
    })
    .unwrap()
    .after(["setup"]);
    flow.task("ship", |cx| async move {
        let tar: &String = cx.result("build").ok_or("no build result")?;
        Ok::<_, BoxError>(tar.len())
    })
    .unwrap()
    .after(["build"]);
    flow.task("fails", |_| async { Err::<(), BoxError>("no".into()) })
        .unwrap();
    let report = match flow.run().await {
        Err(FlowError::Failed { report, .. }) => report,
        other => panic!("expected a failed run, got {other:?}"),
    };
    assert_eq!(report.result::<()>("setup"), Some(&()));
    assert_eq!(report.result::<String>("setup"), None);
    assert_eq!(
        report.result::<String>("build").map(String::as_str),
        Some("app.tar")
    );
    assert_eq!(report.result::<()>("build"), None);
    assert_eq!(report.result::<()>("fails"), None);
    assert_eq!(report.result::<()>("missing"), None);
    assert_eq!(report.result::<usize>("ship"), Some(&7));
}

/// A wide graph does not queue a command per ready task at once: `dispatch` stops after a
/// burst and goes on as the driver takes commands. Every task still starts at the same
/// instant, in declaration order, with or without hooks, through either way of taking commands.
#[test]
fn thousands_of_ready_tasks_start_at_once_in_order() {
    use legato::event::{EventKind, HookMask};
    let n = 5000;
    let mut b = GraphBuilder::new();
    for i in 0..n {
        b.add(legato::graph::TaskSpec::new(format!("t{i}")))
            .unwrap();
    }
    let graph = Arc::new(b.build().unwrap());
    for (hooks, drain) in [
        (HookMask::NONE, false),
        (HookMask::NONE, true),
        (HookMask::NONE.with(EventKind::TaskBegin), false),
        (HookMask::NONE.with(EventKind::TaskBegin), true),
    ] {
        let opts = RunOptions::default().hooks(hooks);
        let mut s: Scheduler<()> = Scheduler::new(graph.clone(), &graph.all(), opts).unwrap();
        s.start(Duration::ZERO);
        let mut started = Vec::new();
        let mut begins = 0;
        let mut commands = Vec::new();
        loop {
            if drain {
                s.drain_commands(&mut commands);
            } else {
                commands.extend(std::iter::from_fn(|| s.next_command()));
            }
            if commands.is_empty() {
                break;
            }
            for c in commands.drain(..) {
                match c {
                    Command::Start { task, .. } => started.push(task.index()),
                    Command::Emit { token, .. } => {
                        begins += 1;
                        s.hook_done(token, Duration::ZERO).unwrap();
                    }
                    _ => {}
                }
            }
        }
        assert_eq!(
            started,
            (0..n).collect::<Vec<_>>(),
            "hooks {hooks:?}, drain {drain}"
        );
        let expect_begins = if hooks == HookMask::NONE { 0 } else { n };
        assert_eq!(begins, expect_begins);
        assert_eq!(s.report().counts().running, n);
    }
}

/// Rule 9 (issue 18): an async `process_begin` hook finishes before main starts, so main
/// reads what it set (the npm orchestrator README's `apiKey` example).
#[tokio::test(start_paused = true)]
async fn main_starts_after_an_async_process_begin_hook() {
    use legato::EventKind;
    let mut orch = Orchestrator::with_state(Mutex::new(None::<&'static str>));
    orch.on_async(EventKind::ProcessBegin, |e| async move {
        sleep(ms(20)).await;
        *e.state.lock().unwrap() = Some("secret");
        Ok::<_, BoxError>(())
    });
    let state = orch.state().clone();
    let run = orch.run(async move { *state.lock().unwrap() }).await;
    assert_eq!(run.output.unwrap(), Some("secret"));
}

/// Rule 11 (issue 18): fail-fast and a hook that raised stop main too, with the run's error.
#[tokio::test(start_paused = true)]
async fn fail_fast_stops_main_with_the_failed_calls_error() {
    let mut orch = Orchestrator::new();
    orch.fail_fast(true);
    let bad = orch.action("bad", |_: ()| async {
        sleep(ms(5)).await;
        Err::<(), BoxError>("bad input".into())
    });
    let started = tokio::time::Instant::now();
    let run = orch
        .run(async move {
            // Main goes on with something slow of its own beside the call.
            let _ = tokio::join!(bad.call(()), sleep(Duration::from_secs(3)));
            "main finished"
        })
        .await;
    assert_eq!(started.elapsed(), ms(5));
    assert_eq!(run.output.unwrap_err().to_string(), "bad input");
}

/// Rule 9 (issue 18): a hook's own error is the run error's source, in a Flow and in an
/// Orchestrator run (where it fails the run even after main returned).
#[tokio::test(start_paused = true)]
async fn a_hook_error_is_the_cause_of_the_run_error() {
    #[derive(Debug, thiserror::Error)]
    #[error("audit log unreachable")]
    struct AuditDown;

    let mut flow = Flow::new();
    flow.task("a", |_| async { Ok::<_, BoxError>(()) }).unwrap();
    flow.on_task_success(|_| Err::<(), _>(AuditDown));
    let e = flow.run().await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "flow failed: hook for event \"task_success\" failed: audit log unreachable"
    );
    let source = std::error::Error::source(&e).expect("the hook's error");
    let hook = source.downcast_ref::<legato::TaskError>().unwrap();
    assert!(std::error::Error::source(hook)
        .unwrap()
        .downcast_ref::<AuditDown>()
        .is_some());

    let mut orch = Orchestrator::new();
    orch.on_process_completion(|_| Err::<(), _>(AuditDown));
    let run = orch.run(async { 42 }).await;
    let e = run.output.unwrap_err();
    assert_eq!(
        e.to_string(),
        "hook for event \"process_completion\" failed: audit log unreachable"
    );
    assert!(std::error::Error::source(&e)
        .unwrap()
        .downcast_ref::<AuditDown>()
        .is_some());
}

/// Rule 8 (issue 18): a runaway recursion ends with the depth error, not a hang or a crash.
#[tokio::test(start_paused = true)]
async fn a_runaway_recursion_fails_with_the_depth_error() {
    use legato::Action;
    let mut orch = Orchestrator::new();
    orch.max_depth(50);
    let forever = orch.recursive_action("forever", |me: Action<u64, u64>, n: u64| async move {
        me.call(n + 1).await
    });
    let run = orch.run(async { forever.call(0).await }).await;
    let e = run.output.unwrap().unwrap_err();
    assert_eq!(e.kind, ErrorKind::Depth);
    assert_eq!(e.to_string(), "call depth exceeded 50 (max_depth)");
    assert_eq!(run.report.tasks.len(), 51);
}

/// Rule 8 (issue 18): the driver hands control back between batches, so the run timeout
/// still fires during a runaway recursion deeper than any test would wait for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_timeout_fires_during_a_runaway_recursion() {
    use legato::Action;
    let mut orch = Orchestrator::new();
    orch.max_depth(u32::MAX).timeout(ms(100));
    let forever = orch.recursive_action("forever", |me: Action<u64, u64>, n: u64| async move {
        me.call(n + 1).await
    });
    // A hang guard only: the run ends with the run timeout's error.
    let run = timeout(
        Duration::from_secs(60),
        orch.run(async { forever.call(0).await }),
    )
    .await
    .expect("the run ends");
    let e = run.output.unwrap_err();
    assert_eq!(e.kind, ErrorKind::TimedOut);
    assert_eq!(e.to_string(), "run timed out after 100ms");
    assert!(run.report.tasks.len() > 1);
}

/// The report's JSON has the keys every door's report shares (`tests/report-keys.json`), at
/// every level: a key dropped or renamed here fails this test, as it fails the Python and Node
/// doors' tests against the same list.
#[test]
fn report_json_has_the_keys_every_door_shares() {
    use legato::graph::TaskSpec;
    let keys: serde_json::Value =
        serde_json::from_str(include_str!("../../../tests/report-keys.json")).unwrap();
    let list = |k: &str| -> Vec<String> {
        keys[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    let sorted = |v: &serde_json::Value| -> Vec<String> {
        let mut ks: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        ks.sort();
        ks
    };
    let mut b = GraphBuilder::new();
    b.add(TaskSpec::new("flaky").options(TaskOptions::default().retries(1)))
        .unwrap();
    b.add(TaskSpec::new("bad")).unwrap();
    b.add(TaskSpec::new("after_bad").after(["bad"])).unwrap();
    let graph = Arc::new(b.build().unwrap());
    let (flaky, bad) = (graph.get("flaky").unwrap(), graph.get("bad").unwrap());
    let mut s: Scheduler<u32> =
        Scheduler::new(graph.clone(), &graph.all(), RunOptions::default()).unwrap();
    s.start(Duration::ZERO);
    let mut t = 0;
    while let Some(c) = s.next_command() {
        if let Command::Start { task, attempt } = c {
            t += 1;
            let outcome = if task == bad || (task == flaky && attempt == 1) {
                Outcome::fail("boom")
            } else {
                Outcome::Ok(1)
            };
            s.attempt_finished(task, attempt, outcome, ms(t)).unwrap();
        }
    }
    let v = s.report().to_json_value();
    assert_eq!(sorted(&v), list("report"));
    assert_eq!(sorted(&v["counts"]), list("counts"));
    let tasks = v["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 3);
    for task in tasks {
        assert_eq!(sorted(task), list("task"), "{}", task["name"]);
        for a in task["attempt_log"].as_array().unwrap() {
            assert_eq!(sorted(a), list("attempt"));
            if !a["error"].is_null() {
                assert_eq!(sorted(&a["error"]), list("error"));
            }
        }
        if !task["error"].is_null() {
            assert_eq!(sorted(&task["error"]), list("error"));
        }
    }
    assert_eq!(tasks[0]["attempt_log"].as_array().unwrap().len(), 2);
    assert_eq!(tasks[2]["skip_reason"], "dependency \"bad\" failed");
}
