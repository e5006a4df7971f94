//! Calls routed in the scheduler (DESIGN rules 8, 9 and 11): joins of a task that already
//! exists (a cached call), fail-fast groups, an Orchestrator's `main` as a held pseudo-task,
//! and the call depth limit. Driven by hand on a virtual clock, as a driver would.

use legato::event::{ErrorKind, EventKind, HookMask, Status, StopReason};
use legato::graph::{GraphBuilder, TaskId};
use legato::policy::TaskOptions;
use legato::scheduler::{Command, Outcome, RunOptions, Scheduler};
use std::sync::Arc;
use std::time::Duration;

const T0: Duration = Duration::ZERO;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn run(opts: RunOptions) -> Scheduler<u64> {
    let graph = Arc::new(GraphBuilder::new().build().unwrap());
    Scheduler::new(graph.clone(), &graph.all(), opts).unwrap()
}

fn opts() -> Arc<TaskOptions> {
    Arc::new(TaskOptions::default())
}

fn commands(s: &mut Scheduler<u64>) -> Vec<Command> {
    std::iter::from_fn(|| s.next_command()).collect()
}

fn started(cs: &[Command]) -> Vec<TaskId> {
    cs.iter()
        .filter_map(|c| match c {
            Command::Start { task, .. } => Some(*task),
            _ => None,
        })
        .collect()
}

/// The table row of issue 18: a cached call awaited by two callers at once under
/// `max_parallel=1`. The second caller joins the call in flight and gives its slot back, so
/// the call can run; both callers get its value.
#[test]
fn a_cached_call_awaited_twice_under_one_slot_does_not_deadlock() {
    let mut s = run(RunOptions::default().max_parallel(1));
    s.start_main(T0);
    assert!(matches!(s.next_command(), Some(Command::StartMain)));
    let a = s.spawn(None, "a".into(), opts(), T0).unwrap();
    let b = s.spawn(None, "b".into(), opts(), T0).unwrap();
    assert_eq!(started(&commands(&mut s)), [a]);
    // a calls the cached action: a new call, x.
    let x = s.spawn(Some((a, 1)), "x".into(), opts(), T0).unwrap();
    // a gave its slot back: b (ready before x) starts.
    assert_eq!(started(&commands(&mut s)), [b]);
    // b calls the same cached action: it joins x, and gives its slot to x.
    let j = s.join(Some((b, 1)), x, T0).unwrap();
    assert_eq!(started(&commands(&mut s)), [x]);
    s.attempt_finished(x, 1, Outcome::Ok(7), ms(12)).unwrap();
    // a (the caller) is woken first and holds the only slot; b waits for it.
    let cs = commands(&mut s);
    assert!(
        matches!(cs[..], [Command::Deliver { task }] if task == x),
        "{cs:?}"
    );
    assert_eq!(*s.outcome(x).unwrap().unwrap(), 7);
    s.attempt_finished(a, 1, Outcome::Ok(7), ms(12)).unwrap();
    let cs = commands(&mut s);
    assert!(
        cs.iter()
            .any(|c| matches!(c, Command::Joined { join, task } if *join == j && *task == x)),
        "{cs:?}"
    );
    assert_eq!(*s.outcome(x).unwrap().unwrap(), 7);
    s.attempt_finished(b, 1, Outcome::Ok(7), ms(12)).unwrap();
    s.main_finished(true, ms(12));
    let cs = commands(&mut s);
    assert!(matches!(cs.last(), Some(Command::Finished)), "{cs:?}");
    assert_eq!(s.report().counts().succeeded, 3);
}

/// A join of a task that is already done is answered at once; the caller keeps its slot.
#[test]
fn a_join_of_a_finished_call_is_answered_at_once() {
    let mut s = run(RunOptions::default().max_parallel(1));
    s.start_main(T0);
    let _ = commands(&mut s);
    let x = s.spawn(None, "x".into(), opts(), T0).unwrap();
    let _ = commands(&mut s);
    s.attempt_finished(x, 1, Outcome::Ok(3), T0).unwrap();
    let _ = commands(&mut s);
    let a = s.spawn(None, "a".into(), opts(), T0).unwrap();
    let _ = commands(&mut s);
    let j = s.join(Some((a, 1)), x, T0).unwrap();
    let cs = commands(&mut s);
    assert!(matches!(cs[..], [Command::Joined { join, task }] if join == j && task == x));
    assert_eq!(s.running(), 1);
    s.attempt_finished(a, 1, Outcome::Ok(3), T0).unwrap();
    let _ = commands(&mut s);
    let failed = s.spawn(None, "f".into(), opts(), T0).unwrap();
    let _ = commands(&mut s);
    s.attempt_finished(failed, 1, Outcome::fail("boom"), T0)
        .unwrap();
    let _ = commands(&mut s);
    let _ = s.join(None, failed, T0).unwrap();
    assert_eq!(s.outcome(failed).unwrap().unwrap_err().message[..], *"boom");
}

/// A fail-fast group: the first member that fails cancels the other members its caller made;
/// its outcome is delivered first; a cached call another caller made runs on.
#[test]
fn a_fail_fast_group_cancels_the_other_members() {
    let mut s = run(RunOptions::default());
    s.start_main(T0);
    let _ = commands(&mut s);
    let shared = s.spawn(None, "shared".into(), opts(), T0).unwrap();
    let p = s.spawn(None, "p".into(), opts(), T0).unwrap();
    let _ = commands(&mut s);
    let a = s.spawn(Some((p, 1)), "a".into(), opts(), T0).unwrap();
    let b = s.spawn(Some((p, 1)), "b".into(), opts(), T0).unwrap();
    let j = s.join(Some((p, 1)), shared, T0).unwrap();
    let g = s.group(Some((p, 1)), &[a, b, shared], T0).unwrap();
    let _ = commands(&mut s);
    assert_eq!(s.group_failure(g), None);
    s.attempt_finished(a, 1, Outcome::fail("down"), ms(3))
        .unwrap();
    let cs = commands(&mut s);
    let order: Vec<TaskId> = cs
        .iter()
        .filter_map(|c| match c {
            Command::Deliver { task } => Some(*task),
            _ => None,
        })
        .collect();
    assert_eq!(order, [a, b], "{cs:?}");
    assert!(cs
        .iter()
        .any(|c| matches!(c, Command::Cancel { task, .. } if *task == b)));
    assert_eq!(s.group_failure(g), Some(a));
    assert_eq!(s.status(b), Status::Cancelled);
    assert_eq!(s.status(shared), Status::Running);
    s.attempt_finished(shared, 1, Outcome::Ok(1), ms(4))
        .unwrap();
    let cs = commands(&mut s);
    assert!(cs
        .iter()
        .any(|c| matches!(c, Command::Joined { join, .. } if *join == j)));
}

/// Rule 9: `main` starts after every `process_begin` hook is done (an async one included).
#[test]
fn main_starts_after_process_begin() {
    let mut s = run(RunOptions::default().hooks(HookMask::NONE.with(EventKind::ProcessBegin)));
    s.start_main(T0);
    let cs = commands(&mut s);
    let [Command::Emit { token, .. }] = cs[..] else {
        panic!("{cs:?}")
    };
    assert!(!s.main_started());
    s.hook_done(token, ms(5)).unwrap();
    assert!(matches!(commands(&mut s)[..], [Command::StartMain]));
    assert!(s.main_started());
    s.main_finished(true, ms(6));
    assert!(matches!(commands(&mut s)[..], [Command::Finished]));
}

/// Rule 11: the run timeout stops `main`: the core cancels it and its calls, and the run
/// ends without waiting for main to return.
#[test]
fn the_run_timeout_cancels_main_and_its_calls() {
    let mut s = run(RunOptions::default().timeout(ms(100)));
    s.start_main(T0);
    let _ = commands(&mut s);
    let x = s.spawn(None, "x".into(), opts(), T0).unwrap();
    let _ = commands(&mut s);
    assert_eq!(s.next_deadline(), Some(ms(100)));
    s.advance(ms(100));
    let cs = commands(&mut s);
    assert!(cs
        .iter()
        .any(|c| matches!(c, Command::Cancel { task, .. } if *task == x)));
    assert!(
        cs.iter().any(|c| matches!(c, Command::CancelMain)),
        "{cs:?}"
    );
    assert!(matches!(cs.last(), Some(Command::Finished)), "{cs:?}");
    assert_eq!(s.stop_reason(), Some(&StopReason::TimedOut(ms(100))));
    assert_eq!(
        s.stop_reason().unwrap().to_string(),
        "run timed out after 100ms"
    );
    assert_eq!(s.status(x), Status::Cancelled);
    // main returning late changes nothing.
    s.main_finished(true, ms(900));
    assert!(commands(&mut s).is_empty());
}

/// A run stopped before `main` started (process_begin's hook raised) never starts it.
#[test]
fn a_run_stopped_in_process_begin_never_starts_main() {
    let mut s = run(RunOptions::default().hooks(HookMask::NONE.with(EventKind::ProcessBegin)));
    s.start_main(T0);
    let cs = commands(&mut s);
    let [Command::Emit { token, .. }] = cs[..] else {
        panic!("{cs:?}")
    };
    s.hook_failed(token, "no key", ms(1)).unwrap();
    let cs = commands(&mut s);
    assert!(
        !cs.iter().any(|c| matches!(c, Command::StartMain)),
        "{cs:?}"
    );
    assert!(matches!(cs.last(), Some(Command::Finished)), "{cs:?}");
    assert!(!s.main_started());
}

/// A `main` that raised cancels the calls it left running.
#[test]
fn a_main_that_raised_cancels_its_calls() {
    let mut s = run(RunOptions::default());
    s.start_main(T0);
    let _ = commands(&mut s);
    let x = s.spawn(None, "x".into(), opts(), T0).unwrap();
    let _ = commands(&mut s);
    s.main_finished(false, ms(2));
    let cs = commands(&mut s);
    assert!(!cs.iter().any(|c| matches!(c, Command::CancelMain)));
    assert!(matches!(cs.last(), Some(Command::Finished)), "{cs:?}");
    assert_eq!(s.status(x), Status::Cancelled);
    assert_eq!(s.stop_reason(), Some(&StopReason::MainFailed));
}

/// Rule 8: a call nested deeper than `max_depth` fails at once, without running.
#[test]
fn calls_deeper_than_max_depth_fail_at_once() {
    let mut s = run(RunOptions::default().max_depth(3));
    s.start_main(T0);
    let _ = commands(&mut s);
    let mut caller = None;
    let mut ids = Vec::new();
    for i in 0..4 {
        let id = s.spawn(caller, format!("f{i}").into(), opts(), T0).unwrap();
        ids.push(id);
        let cs = commands(&mut s);
        if i < 3 {
            assert_eq!(started(&cs), [id]);
            caller = Some((id, 1));
        } else {
            assert!(started(&cs).is_empty());
            assert!(
                matches!(cs[..], [Command::Deliver { task }] if task == id),
                "{cs:?}"
            );
        }
    }
    let e = s.take_outcome(ids[3]).unwrap().unwrap_err();
    assert_eq!(e.kind, ErrorKind::Depth);
    assert_eq!(&e.message[..], "call depth exceeded 3 (max_depth)");
    assert_eq!(s.status(ids[3]), Status::Failed);
    assert_eq!(s.report().tasks[ids[3].index()].attempts, 0);
    assert_eq!(RunOptions::default().get_max_depth(), 10_000);
    assert!(Scheduler::<u64>::new(
        Arc::new(GraphBuilder::new().build().unwrap()),
        &GraphBuilder::new().build().unwrap().all(),
        RunOptions::default().max_depth(0)
    )
    .is_err());
}

/// Same instant, decided once: an attempt that finishes at the instant of its deadline
/// succeeded, whether the driver gives the clock's advance before or after it in the batch.
#[test]
fn inputs_of_one_instant_in_any_order_give_the_same_run() {
    use legato::scheduler::Input;
    for advance_first in [true, false] {
        let mut s = run(RunOptions::default());
        s.start_main(T0);
        let _ = commands(&mut s);
        let mut o = TaskOptions::default();
        o.timeout = Some(ms(10));
        let x = s.spawn(None, "x".into(), Arc::new(o), T0).unwrap();
        let _ = commands(&mut s);
        assert_eq!(s.next_deadline(), Some(ms(10)));
        let done = Input::Finished {
            task: x,
            attempt: 1,
            outcome: Outcome::Ok(1),
        };
        let batch = if advance_first {
            vec![Input::Advance, done]
        } else {
            vec![done, Input::Advance]
        };
        s.handle(ms(10), batch).unwrap();
        let cs = commands(&mut s);
        assert!(
            !cs.iter().any(|c| matches!(c, Command::Cancel { .. })),
            "{cs:?}"
        );
        assert_eq!(
            s.status(x),
            Status::Succeeded,
            "advance first: {advance_first}"
        );
    }
}

/// Rule 9: the run's error for a hook that raised keeps the hook's own error object.
#[test]
fn a_hook_error_keeps_the_hooks_own_object() {
    #[derive(Debug, PartialEq)]
    struct MyHookError(&'static str);
    let mut s = run(RunOptions::default().hooks(HookMask::NONE.with(EventKind::ProcessBegin)));
    s.start_main(T0);
    let cs = commands(&mut s);
    let [Command::Emit { token, .. }] = cs[..] else {
        panic!("{cs:?}")
    };
    let raised = legato::TaskError::failed("no api key").with_source(Arc::new(MyHookError("k")));
    s.hook_raised(token, raised, T0).unwrap();
    let e = s.stop_error().unwrap();
    assert_eq!(
        e.to_string(),
        "hook for event \"process_begin\" failed: no api key"
    );
    assert_eq!(e.source_ref::<MyHookError>(), Some(&MyHookError("k")));
}

/// A run whose static tasks all have the default options reads no option (its fast path)
/// until a call brings options of its own: the call's retries and timeout then hold, and the
/// report names static and dynamic tasks alike, with the static tasks' dependencies.
#[test]
fn a_call_with_options_in_a_run_without_any_keeps_them() {
    let mut b = GraphBuilder::new();
    b.add(legato::graph::TaskSpec::new("a")).unwrap();
    b.add(legato::graph::TaskSpec::new("b").after(["a"]))
        .unwrap();
    let graph = Arc::new(b.build().unwrap());
    let mut s: Scheduler<u64> =
        Scheduler::new(graph.clone(), &graph.all(), RunOptions::default()).unwrap();
    s.hold();
    s.start(T0);
    let a = graph.resolve("a").unwrap();
    assert_eq!(started(&commands(&mut s)), [a]);
    let mut o = TaskOptions::default();
    o.retries = 1;
    o.timeout = Some(ms(10));
    let x = s.spawn(None, "x".into(), Arc::new(o), T0).unwrap();
    assert_eq!(started(&commands(&mut s)), [x]);
    assert_eq!(s.options(x).retries, 1);
    assert_eq!(s.options(a).retries, 0);
    assert_eq!(s.next_deadline(), Some(ms(10)));
    s.attempt_finished(x, 1, Outcome::fail("boom"), ms(1))
        .unwrap();
    let cs = commands(&mut s);
    assert_eq!(started(&cs), [x], "the call is retried: {cs:?}");
    s.advance(ms(11));
    assert_eq!(s.status(x), Status::TimedOut);
    s.attempt_finished(a, 1, Outcome::Ok(1), ms(11)).unwrap();
    let bt = graph.resolve("b").unwrap();
    assert_eq!(started(&commands(&mut s)), [bt]);
    s.attempt_finished(bt, 1, Outcome::Ok(2), ms(12)).unwrap();
    s.release(ms(12));
    let _ = commands(&mut s);
    assert!(s.is_finished());
    let report = s.into_report();
    let names: Vec<&str> = report.tasks.iter().map(|t| &*t.name).collect();
    assert_eq!(names, ["a", "b", "x"]);
    assert_eq!(report.tasks[1].deps.as_slice(), [a]);
    assert!(report.tasks[2].deps.is_empty());
    assert_eq!(report.tasks[2].attempts, 2);
    assert_eq!(report.tasks[2].attempt_log().len(), 2);
}
