//! The scheduling rules beyond the seeds (DESIGN "Beyond the seeds"), on a virtual clock: key
//! capacities, conditions and trigger rules, `critical_path` priority — with examples, W6, and
//! property tests on random graphs against a model.

use legato::event::{Event, HookMask, SkipReason, Status, StopReason, TaskError};
use legato::graph::{GraphBuilder, TaskId, TaskSpec};
use legato::policy::{Priority, TaskOptions, Trigger};
use legato::scheduler::{Command, Input, Outcome, RunOptions, Scheduler};
use legato::RunReport;
use proptest::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// What a task does in a simulated run.
#[derive(Debug, Clone)]
struct Sim {
    name: String,
    after: Vec<String>,
    /// Run time of each attempt.
    dur: u64,
    ok: bool,
    /// `Some(v)`: the task has a condition that evaluates to `v` (`None` in it: it raises).
    when: Option<Option<bool>>,
    uses: Vec<String>,
    trigger: Trigger,
    cost: Option<u64>,
}

fn sim(name: &str, after: &[&str], dur: u64) -> Sim {
    Sim {
        name: name.into(),
        after: after.iter().map(|s| s.to_string()).collect(),
        dur,
        ok: true,
        when: None,
        uses: Vec::new(),
        trigger: Trigger::AllSucceeded,
        cost: None,
    }
}

/// What a simulated run did.
#[derive(Debug)]
struct Ran {
    report: RunReport,
    /// Task names in the order they started.
    starts: Vec<String>,
    /// The most tasks that held each key at once.
    peak: HashMap<String, usize>,
    /// Conditions evaluated, in order.
    evaluated: Vec<String>,
    /// Task names whose `task_skip` was emitted, with the reason's text.
    skips: Vec<(String, String)>,
}

impl Ran {
    fn status(&self, name: &str) -> Status {
        self.report.get(name).unwrap().status
    }
    fn skip(&self, name: &str) -> String {
        self.report
            .get(name)
            .unwrap()
            .skip_reason
            .as_ref()
            .map_or(String::new(), |r| r.to_string())
    }
    fn makespan(&self) -> Duration {
        self.report.total
    }
}

/// Runs `tasks` on a virtual clock: every attempt takes its `dur`, hooks on every event are
/// acknowledged at the same instant, together (so `task_skip` is observed), and the number of running holders of
/// each key is tracked.
fn run(tasks: &[Sim], opts: RunOptions) -> Ran {
    run_hooks(tasks, opts, HookMask::ALL)
}

/// As [`run`], with hooks for the events of `hooks` only.
fn run_hooks(tasks: &[Sim], opts: RunOptions, hooks: HookMask) -> Ran {
    let mut b = GraphBuilder::new();
    for t in tasks {
        let mut o = TaskOptions::default().trigger(t.trigger);
        for k in &t.uses {
            o = o.uses(k.clone());
        }
        if t.when.is_some() {
            o = o.conditional(true);
        }
        if let Some(c) = t.cost {
            o = o.cost(ms(c));
        }
        b.add(TaskSpec::new(t.name.clone()).after(&t.after).options(o))
            .unwrap();
    }
    let graph = Arc::new(b.build().unwrap());
    let by_name: HashMap<&str, &Sim> = tasks.iter().map(|t| (t.name.as_str(), t)).collect();
    let mut s: Scheduler<()> =
        Scheduler::new(graph.clone(), &graph.all(), opts.hooks(hooks)).unwrap();
    let mut now = Duration::ZERO;
    // (end, seq, task, attempt)
    let mut running: Vec<(Duration, u64, TaskId, u32)> = Vec::new();
    let mut seq = 0u64;
    let mut holding: HashMap<String, usize> = HashMap::new();
    let mut peak: HashMap<String, usize> = HashMap::new();
    let (mut starts, mut evaluated, mut skips) = (Vec::new(), Vec::new(), Vec::new());
    let mut acks = Vec::new();
    s.start(now);
    for _ in 0..1_000_000 {
        match s.next_command() {
            Some(Command::Start { task, attempt }) => {
                let t = by_name[s.name(task)];
                starts.push(t.name.clone());
                for k in &t.uses {
                    let h = holding.entry(k.clone()).or_default();
                    *h += 1;
                    let p = peak.entry(k.clone()).or_default();
                    *p = (*p).max(*h);
                }
                seq += 1;
                running.push((now + ms(t.dur), seq, task, attempt));
            }
            Some(Command::Evaluate { task }) => {
                let t = by_name[s.name(task)];
                evaluated.push(t.name.clone());
                let v = match t.when.expect("a conditional task") {
                    Some(v) => Ok(v),
                    None => Err(TaskError::failed("the condition raised")),
                };
                s.evaluated(task, v, now).unwrap();
            }
            Some(Command::Emit { event, token }) => {
                if let Event::TaskSkip { task, reason } = &*event {
                    skips.push((s.name(*task).to_owned(), reason.to_string()));
                }
                acks.push(Input::HookDone(token));
            }
            Some(Command::Cancel { task, .. }) => {
                running.retain(|r| r.2 != task);
                release(&mut holding, by_name[s.name(task)]);
            }
            Some(Command::Finished) => break,
            Some(_) => {}
            None if !acks.is_empty() => {
                // Hooks of one instant are done together (as a driver batches them).
                s.handle(now, acks.drain(..)).unwrap();
            }
            None => {
                // The next event: an attempt's end or a deadline, whichever is first.
                running.sort_by_key(|r| (r.0, r.1));
                let next_end = running.first().map(|r| r.0);
                let deadline = s.next_deadline();
                match (next_end, deadline) {
                    (Some(e), d) if d.is_none_or(|d| e <= d) => {
                        let (end, _, task, attempt) = running.remove(0);
                        now = end;
                        let t = by_name[s.name(task)];
                        release(&mut holding, t);
                        let o = if t.ok {
                            Outcome::Ok(())
                        } else {
                            Outcome::fail("boom")
                        };
                        s.attempt_finished(task, attempt, o, now).unwrap();
                    }
                    (_, Some(d)) => {
                        now = now.max(d);
                        s.advance(now);
                    }
                    _ => panic!("the run is stuck"),
                }
            }
        }
    }
    assert!(s.is_finished(), "the run finished");
    Ran {
        report: s.into_report(),
        starts,
        peak,
        evaluated,
        skips,
    }
}

fn release(holding: &mut HashMap<String, usize>, t: &Sim) {
    for k in &t.uses {
        *holding.get_mut(k).unwrap() -= 1;
    }
}

// ----- limits --------------------------------------------------------------------------------

#[test]
fn no_more_than_capacity_holders_of_a_key_run_at_once() {
    let tasks: Vec<Sim> = (0..5)
        .map(|i| Sim {
            uses: vec!["db".into()],
            ..sim(&format!("q{i}"), &[], 10)
        })
        .collect();
    let r = run(&tasks, RunOptions::default().limit("db", 2));
    assert_eq!(r.peak["db"], 2);
    assert_eq!(r.makespan(), ms(30));
    // Waiters start in readiness order.
    assert_eq!(r.starts, ["q0", "q1", "q2", "q3", "q4"]);
    // A key the limits do not name has capacity 1 (a sequence).
    let r = run(&tasks, RunOptions::default());
    assert_eq!(r.peak["db"], 1);
    assert_eq!(r.makespan(), ms(50));
}

#[test]
fn a_waiter_holds_no_slot() {
    let db = |n: &str| Sim {
        uses: vec!["db".into()],
        ..sim(n, &[], 10)
    };
    let tasks = [db("d1"), db("d2"), sim("free", &[], 10)];
    let r = run(&tasks, RunOptions::default().max_parallel(2));
    // d2 waits for the key without a slot, so `free` starts beside d1.
    assert_eq!(r.starts, ["d1", "free", "d2"]);
    assert_eq!(r.makespan(), ms(20));
    assert!(r.report.ok());
}

#[test]
fn a_zero_capacity_is_refused_naming_the_key() {
    let g = Arc::new(GraphBuilder::new().build().unwrap());
    let e = Scheduler::<()>::new(g.clone(), &g.all(), RunOptions::default().limit("db", 0))
        .unwrap_err();
    assert_eq!(e.argument(), "limits[\"db\"]");
    assert_eq!(
        e.to_string(),
        "limits[\"db\"] must be a whole number >= 1, got 0"
    );
}

// ----- conditions and trigger rules ----------------------------------------------------------

#[test]
fn a_false_condition_skips_the_branch_and_the_run_is_ok() {
    let tasks = [
        sim("check", &[], 5),
        Sim {
            when: Some(Some(false)),
            ..sim("deploy", &["check"], 10)
        },
        sim("announce", &["deploy"], 1),
        Sim {
            when: Some(Some(true)),
            ..sim("notify", &["check"], 1)
        },
        Sim {
            trigger: Trigger::NoneFailed,
            ..sim("report", &["deploy", "notify"], 1)
        },
    ];
    let r = run(&tasks, RunOptions::default());
    assert_eq!(r.evaluated, ["deploy", "notify"]);
    assert_eq!(r.status("deploy"), Status::Skipped);
    assert_eq!(r.skip("deploy"), "condition false");
    assert_eq!(r.status("announce"), Status::Skipped);
    assert_eq!(r.skip("announce"), "trigger rule all_succeeded not met");
    assert_eq!(r.status("notify"), Status::Succeeded);
    assert_eq!(r.status("report"), Status::Succeeded);
    assert!(!r.starts.contains(&"deploy".to_string()));
    assert!(
        r.skips
            .contains(&("deploy".to_string(), "condition false".to_string())),
        "hooks see task_skip with the reason: {:?}",
        r.skips
    );
    assert!(r.report.ok(), "branches not taken leave the run ok");
    assert_eq!(r.report.failure_reason(), None);
}

#[test]
fn a_condition_that_raises_fails_the_task() {
    let tasks = [
        Sim {
            when: Some(None),
            ..sim("deploy", &[], 10)
        },
        sim("after", &["deploy"], 1),
    ];
    let r = run(&tasks, RunOptions::default());
    assert_eq!(r.status("deploy"), Status::Failed);
    let t = r.report.get("deploy").unwrap();
    assert_eq!(
        t.error.as_ref().unwrap().message.as_ref(),
        "the condition raised"
    );
    assert_eq!(t.attempts, 0);
    assert_eq!(r.skip("after"), "dependency \"deploy\" failed");
    assert!(!r.report.ok());
}

#[test]
fn cleanup_runs_after_a_failure() {
    let tasks = [
        sim("up", &[], 5),
        Sim {
            ok: false,
            ..sim("test", &["up"], 10)
        },
        sim("publish", &["test"], 1),
        Sim {
            trigger: Trigger::AllDone,
            ..sim("down", &["test", "publish"], 2)
        },
    ];
    let r = run(&tasks, RunOptions::default());
    assert_eq!(r.status("publish"), Status::Skipped);
    assert_eq!(r.status("down"), Status::Succeeded);
    assert_eq!(r.starts, ["up", "test", "down"]);
    assert!(!r.report.ok());
    assert_eq!(
        r.report.failure_reason().unwrap(),
        "task \"test\" failed: boom"
    );
}

#[test]
fn cleanup_runs_under_fail_fast_once_its_dependencies_ended() {
    let tasks = [
        Sim {
            ok: false,
            ..sim("bad", &[], 5)
        },
        sim("slow", &[], 50),
        sim("later", &["slow"], 1),
        Sim {
            trigger: Trigger::AllDone,
            ..sim("down", &["slow", "later"], 2)
        },
    ];
    let r = run(&tasks, RunOptions::default().fail_fast(true));
    assert_eq!(r.status("slow"), Status::Cancelled);
    assert_eq!(r.status("later"), Status::Skipped);
    assert_eq!(r.status("down"), Status::Succeeded);
    // It ran when fail-fast stopped the rest (at 5 ms), not after `slow`'s 50 ms.
    let down = r.report.get("down").unwrap();
    assert_eq!(down.started, Some(ms(5)));
    assert!(matches!(r.report.stop, Some(StopReason::FailFast { .. })));
}

#[test]
fn any_succeeded_needs_one_success_once_all_ended() {
    let tasks = [
        Sim {
            ok: false,
            ..sim("mirror1", &[], 5)
        },
        sim("mirror2", &[], 10),
        Sim {
            trigger: Trigger::AnySucceeded,
            ..sim("install", &["mirror1", "mirror2"], 1)
        },
        Sim {
            ok: false,
            ..sim("x", &[], 1)
        },
        Sim {
            trigger: Trigger::AnySucceeded,
            ..sim("none", &["x", "mirror1"], 1)
        },
    ];
    let r = run(&tasks, RunOptions::default());
    assert_eq!(r.status("install"), Status::Succeeded);
    assert_eq!(r.report.get("install").unwrap().started, Some(ms(10)));
    assert_eq!(r.status("none"), Status::Skipped);
    assert_eq!(r.skip("none"), "dependency \"x\" failed");
}

#[test]
fn none_failed_skips_at_the_first_failure() {
    let tasks = [
        Sim {
            ok: false,
            ..sim("a", &[], 5)
        },
        sim("b", &[], 50),
        Sim {
            trigger: Trigger::NoneFailed,
            ..sim("c", &["a", "b"], 1)
        },
    ];
    let r = run(&tasks, RunOptions::default());
    assert_eq!(r.status("c"), Status::Skipped);
    assert_eq!(r.skip("c"), "dependency \"a\" failed");
    assert_eq!(
        r.skips.iter().position(|(n, _)| n == "c"),
        Some(0),
        "skipped when a failed, before b ended"
    );
}

// ----- priority ------------------------------------------------------------------------------

/// With hooks or without: a slot freed while a higher-ranked task's `task_ready` hooks (or its
/// only dependency's outcome hooks) are out waits for it.
#[test]
fn critical_path_starts_the_longest_remaining_path_first() {
    for hooks in [HookMask::NONE, HookMask::ALL] {
        critical_path_order(|tasks, opts| run_hooks(tasks, opts, hooks));
    }
}

fn critical_path_order(run: impl Fn(&[Sim], RunOptions) -> Ran) {
    // Two slots; `short` is declared first but `long` heads a 30 ms chain.
    let tasks = [
        Sim {
            cost: Some(1),
            ..sim("short", &[], 1)
        },
        Sim {
            cost: Some(1),
            ..sim("short2", &[], 1)
        },
        Sim {
            cost: Some(10),
            ..sim("long", &[], 10)
        },
        Sim {
            cost: Some(20),
            ..sim("tail", &["long"], 20)
        },
    ];
    let fifo = run(&tasks, RunOptions::default().max_parallel(1));
    assert_eq!(fifo.starts, ["short", "short2", "long", "tail"]);
    let cp = run(
        &tasks,
        RunOptions::default()
            .max_parallel(1)
            .priority(Priority::CriticalPath),
    );
    assert_eq!(cp.starts, ["long", "tail", "short", "short2"]);
}

#[test]
fn costs_come_from_a_previous_report() {
    let run = |tasks: &[Sim], opts| run_hooks(tasks, opts, HookMask::NONE);
    let tasks = [sim("a", &[], 1), sim("b", &[], 30)];
    let first = run(&tasks, RunOptions::default().max_parallel(1));
    assert_eq!(first.starts, ["a", "b"]);
    let costs = first.report.costs();
    assert_eq!(costs["b"], ms(30));
    let second = run(
        &tasks,
        RunOptions::default()
            .max_parallel(1)
            .priority(Priority::CriticalPath)
            .costs(costs),
    );
    assert_eq!(second.starts, ["b", "a"]);
}

/// DESIGN's W6 from its LCG: 300 tasks, `max_parallel=4`, task i sleeps `1 + next() % 20` ms.
fn w6() -> Vec<Sim> {
    let mut s: u64 = 42;
    let mut next = || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        s >> 33
    };
    let mut tasks = Vec::new();
    for i in 0..300u64 {
        let mut after: Vec<String> = Vec::new();
        if i > 0 {
            let k = next() % 4;
            for _ in 0..k {
                let j = i - 1 - next() % i.min(10);
                let name = format!("t{j}");
                if !after.contains(&name) {
                    after.push(name);
                }
            }
        }
        let dur = 1 + next() % 20;
        tasks.push(Sim {
            after,
            cost: Some(dur),
            ..sim(&format!("t{i}"), &[], dur)
        });
    }
    tasks
}

#[test]
fn w6_critical_path_is_within_five_percent_of_the_bound_and_beats_fifo() {
    let run = |tasks: &[Sim], opts| run_hooks(tasks, opts, HookMask::NONE);
    let tasks = w6();
    let total: u64 = tasks.iter().map(|t| t.dur).sum();
    assert_eq!(total, 3221, "DESIGN's total work");
    let bound = ms(805) + Duration::from_micros(250);
    let fifo = run(&tasks, RunOptions::default().max_parallel(4));
    let cp = run(
        &tasks,
        RunOptions::default()
            .max_parallel(4)
            .priority(Priority::CriticalPath),
    );
    // DESIGN's simulation without overheads: fifo 951 ms, critical_path 806 ms.
    assert_eq!(fifo.makespan(), ms(951));
    assert_eq!(cp.makespan(), ms(806));
    assert!(cp.makespan().as_secs_f64() / bound.as_secs_f64() <= 1.05);
}

// ----- properties ----------------------------------------------------------------------------

/// A random task: dependencies among earlier tasks, an outcome, a condition, a trigger, keys.
fn task_case(i: usize) -> impl Strategy<Value = Sim> {
    let deps = if i == 0 {
        Just(Vec::new()).boxed()
    } else {
        proptest::collection::vec(0..i, 0..3).boxed()
    };
    (
        deps,
        1u64..20,
        prop::bool::weighted(0.8),
        prop_oneof![
            6 => Just(None),
            2 => Just(Some(Some(true))),
            2 => Just(Some(Some(false))),
            1 => Just(Some(None)),
        ],
        proptest::collection::vec(0usize..3, 0..3),
        prop_oneof![
            Just(Trigger::AllSucceeded),
            Just(Trigger::AllDone),
            Just(Trigger::AnySucceeded),
            Just(Trigger::NoneFailed),
        ],
    )
        .prop_map(move |(deps, dur, ok, when, keys, trigger)| {
            let mut after: Vec<String> = deps.iter().map(|d| format!("t{d}")).collect();
            after.dedup();
            after.sort();
            after.dedup();
            let mut uses: Vec<String> = keys.iter().map(|k| format!("k{k}")).collect();
            uses.sort();
            uses.dedup();
            Sim {
                name: format!("t{i}"),
                after,
                dur,
                ok,
                when,
                uses,
                trigger,
                cost: None,
            }
        })
}

fn cases() -> impl Strategy<Value = (Vec<Sim>, Option<usize>, u32, bool, bool)> {
    (1usize..25)
        .prop_flat_map(|n| {
            let tasks: Vec<_> = (0..n).map(task_case).collect();
            (
                tasks,
                proptest::option::of(1usize..4),
                1u32..4,
                any::<bool>(),
                any::<bool>(),
            )
        })
        .boxed()
}

/// The model of a task's end without fail-fast: each task's status from its dependencies'.
fn model(tasks: &[Sim]) -> Vec<(Status, Option<&'static str>)> {
    #[derive(Clone, Copy, PartialEq)]
    enum End {
        Ok,
        NotTaken,
        Failed,
    }
    let index: HashMap<&str, usize> = tasks
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.as_str(), i))
        .collect();
    let mut ends: Vec<End> = Vec::new();
    let mut out = Vec::new();
    for t in tasks {
        let deps: Vec<End> = t.after.iter().map(|d| ends[index[d.as_str()]]).collect();
        let failed = deps.contains(&End::Failed);
        let run = match t.trigger {
            Trigger::AllDone => Ok(true),
            Trigger::AnySucceeded if deps.is_empty() => Ok(true),
            Trigger::AnySucceeded if deps.contains(&End::Ok) => Ok(true),
            Trigger::AllSucceeded | Trigger::NoneFailed | Trigger::AnySucceeded if failed => {
                Err("failed")
            }
            Trigger::AllSucceeded if deps.iter().all(|&e| e == End::Ok) => Ok(true),
            Trigger::NoneFailed => Ok(true),
            _ => Err("not taken"),
        };
        let (status, end, why) = match run {
            Err("failed") => (Status::Skipped, End::Failed, Some("failed")),
            Err(_) => (Status::Skipped, End::NotTaken, Some("not taken")),
            Ok(_) => match t.when {
                Some(Some(false)) => (Status::Skipped, End::NotTaken, Some("condition")),
                Some(None) => (Status::Failed, End::Failed, None),
                _ if t.ok => (Status::Succeeded, End::Ok, None),
                _ => (Status::Failed, End::Failed, None),
            },
        };
        ends.push(end);
        out.push((status, why));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Whatever the graph, no key ever has more running holders than its capacity, and every
    /// task ends as the trigger-rule model says.
    #[test]
    fn keys_hold_their_capacity_and_triggers_match_the_model(
        (tasks, max_parallel, cap, limit_k0, cp) in cases()
    ) {
        let mut opts = RunOptions::default();
        if let Some(n) = max_parallel {
            opts = opts.max_parallel(n);
        }
        if limit_k0 {
            opts = opts.limit("k0", cap);
        }
        if cp {
            opts = opts.priority(Priority::CriticalPath);
        }
        let r = run(&tasks, opts);
        for (key, &peak) in &r.peak {
            let capacity = if key == "k0" && limit_k0 { cap as usize } else { 1 };
            prop_assert!(peak <= capacity, "key {key} held by {peak} > {capacity}");
        }
        let expected = model(&tasks);
        for (t, (status, why)) in tasks.iter().zip(expected) {
            let got = r.report.get(&t.name).unwrap();
            prop_assert_eq!(got.status, status, "task {}", t.name);
            if let Some(why) = why {
                let reason = got.skip_reason.as_deref().unwrap();
                match why {
                    "failed" => prop_assert!(matches!(reason, SkipReason::DependencyFailed { .. }), "{}: {}", t.name, reason),
                    "condition" => prop_assert_eq!(reason, &SkipReason::ConditionFalse),
                    _ => prop_assert!(matches!(reason, SkipReason::NotTriggered { .. }), "{}: {}", t.name, reason),
                }
            }
        }
        // A report reads back from its JSON as it was written.
        let json = r.report.to_json();
        prop_assert_eq!(RunReport::from_json(&json).unwrap().to_json(), json);
        let ok = r.report.tasks.iter().all(|t| t.status == Status::Succeeded
            || t.skip_reason.as_deref().is_some_and(SkipReason::is_not_taken));
        prop_assert_eq!(r.report.ok(), ok);
    }
}

// ----- through the Rust door -----------------------------------------------------------------

mod door {
    use legato::policy::{Priority, Trigger};
    use legato::{BoxError, Flow, FlowError, Orchestrator, Status};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    /// Counts how many bodies run at once, and the most at any time.
    #[derive(Default)]
    struct Gauge {
        now: AtomicUsize,
        peak: AtomicUsize,
    }

    impl Gauge {
        async fn hold(&self, d: Duration) {
            let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(n, Ordering::SeqCst);
            tokio::time::sleep(d).await;
            self.now.fetch_sub(1, Ordering::SeqCst);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_flow_limits_a_key() {
        let gauge = Arc::new(Gauge::default());
        let mut flow = Flow::new();
        flow.limit("db", 2);
        for i in 0..5 {
            let g = gauge.clone();
            flow.task(format!("q{i}"), move |_| {
                let g = g.clone();
                async move {
                    g.hold(Duration::from_millis(10)).await;
                    Ok::<_, BoxError>(())
                }
            })
            .unwrap()
            .uses("db");
        }
        let report = flow.run().await.unwrap();
        assert_eq!(gauge.peak.load(Ordering::SeqCst), 2);
        assert_eq!(report.total, Duration::from_millis(30));
    }

    #[tokio::test(start_paused = true)]
    async fn a_condition_reads_results_and_cleanup_runs_after_a_failure() {
        let mut flow = Flow::new();
        flow.task("check", |_| async { Ok::<_, BoxError>(false) })
            .unwrap();
        flow.task("deploy", |_| async { Ok::<_, BoxError>(()) })
            .unwrap()
            .after(["check"])
            .when(|cx| cx.result::<bool>("check").copied().unwrap_or(false));
        flow.task("skip-note", |_| async { Ok::<_, BoxError>(()) })
            .unwrap()
            .after(["deploy"])
            .trigger(Trigger::NoneFailed);
        let report = flow.run().await.unwrap();
        assert_eq!(report.get("deploy").unwrap().status, Status::Skipped);
        assert_eq!(
            report
                .get("deploy")
                .unwrap()
                .skip_reason
                .as_ref()
                .unwrap()
                .to_string(),
            "condition false"
        );
        assert_eq!(report.get("skip-note").unwrap().status, Status::Succeeded);

        let mut flow = Flow::new();
        flow.task("test", |_| async { Err::<(), _>("tests failed") })
            .unwrap();
        flow.task("teardown", |_| async { Ok::<_, BoxError>("clean") })
            .unwrap()
            .after(["test"])
            .trigger(Trigger::AllDone);
        let err = flow.run().await.unwrap_err();
        let FlowError::Failed { report, .. } = &err else {
            panic!("{err}")
        };
        assert_eq!(report.get("teardown").unwrap().status, Status::Succeeded);
        assert_eq!(
            err.to_string(),
            "flow failed: task \"test\" failed: tests failed"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn critical_path_orders_a_flow() {
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut flow = Flow::new();
        flow.max_parallel(1).priority(Priority::CriticalPath);
        for (name, ms, after) in [
            ("short", 1, None),
            ("long", 10, None),
            ("tail", 20, Some("long")),
        ] {
            let o = order.clone();
            let t = flow
                .task(name, move |cx| {
                    let o = o.clone();
                    async move {
                        o.lock().unwrap().push(cx.name().to_owned());
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                        Ok::<_, BoxError>(())
                    }
                })
                .unwrap()
                .cost(Duration::from_millis(ms));
            if let Some(a) = after {
                t.after([a]);
            }
        }
        flow.run().await.unwrap();
        assert_eq!(*order.lock().unwrap(), ["long", "tail", "short"]);
    }

    /// A report with dynamic calls (repeated names, parents) reads back from its JSON.
    #[tokio::test(start_paused = true)]
    async fn a_report_of_calls_reads_back_from_json() {
        let orch = Orchestrator::new();
        let fib =
            orch.recursive_action("fib", |fib: legato::Action<u64, u64>, n: u64| async move {
                if n < 2 {
                    return Ok::<_, BoxError>(n);
                }
                Ok(fib.call(n - 1).await? + fib.call(n - 2).await?)
            });
        let run = orch.run(async { fib.call(6).await }).await;
        assert_eq!(run.output.unwrap().unwrap(), 8);
        let json = run.report.to_json();
        let back = legato::RunReport::from_json(&json).unwrap();
        assert_eq!(back.to_json(), json);
        assert_eq!(back.tasks.len(), run.report.tasks.len());
        // The JSON names a call's parent; a repeated name is matched to the one that ran.
        let parent_name = |r: &legato::RunReport, t: &legato::report::TaskReport| {
            t.parent.and_then(|p| r.task(p)).map(|p| p.name.clone())
        };
        for (a, b) in back.tasks.iter().zip(&run.report.tasks) {
            assert_eq!(a.id, b.id);
            assert_eq!(parent_name(&back, a), parent_name(&run.report, b));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_action_limits_calls_per_argument() {
        let gauges: Arc<[Gauge; 2]> = Arc::new(Default::default());
        let orch = Orchestrator::new();
        let g = gauges.clone();
        let sync_user = orch
            .action("sync", move |user: usize| {
                let g = g.clone();
                async move {
                    g[user].hold(Duration::from_millis(10)).await;
                    Ok::<_, BoxError>(user)
                }
            })
            .uses_with(|user: &usize| vec![format!("user:{user}")]);
        let run = orch
            .run(async {
                let calls = (0..6).map(|i| sync_user.call(i % 2));
                futures_util::future::join_all(calls).await
            })
            .await;
        assert!(run.output.unwrap().iter().all(Result::is_ok));
        for g in gauges.iter() {
            assert_eq!(g.peak.load(Ordering::SeqCst), 1);
        }
        // Two users at once, three calls each, one at a time.
        assert_eq!(run.report.total, Duration::from_millis(30));
    }

    /// A cached action's call holds the keys its argument gives too.
    #[tokio::test(start_paused = true)]
    async fn a_cached_action_holds_its_keys() {
        let gauge = Arc::new(Gauge::default());
        let orch = Orchestrator::new();
        let g = gauge.clone();
        let query = orch
            .action("query", move |n: u32| {
                let g = g.clone();
                async move {
                    g.hold(Duration::from_millis(10)).await;
                    Ok::<_, BoxError>(n)
                }
            })
            .uses_with(|_: &u32| vec!["db".to_owned()])
            .cached();
        let run = orch
            .run(async { futures_util::future::join(query.call(1), query.call(2)).await })
            .await;
        let (a, b) = run.output.unwrap();
        assert_eq!((a.unwrap(), b.unwrap()), (1, 2));
        assert_eq!(gauge.peak.load(Ordering::SeqCst), 1);
        assert_eq!(run.report.total, Duration::from_millis(20));
    }
}
