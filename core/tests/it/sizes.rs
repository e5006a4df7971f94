//! Rule 14 (DESIGN): sizes. A run of a long chain failing at its head, a long chain of calls
//! cancelled, and drawings of a long chain finish without a deep native stack and grow
//! linearly. Each test runs on a test thread (2 MiB of stack), where recursion per task
//! overflowed at about 10^5 tasks before skip propagation and cancellation were iterative.

use legato::event::{EventKind, HookMask, SkipReason, Status};
use legato::graph::{GraphBuilder, TaskSpec};
use legato::policy::TaskOptions;
use legato::scheduler::{Command, Outcome, RunOptions, Scheduler};
use legato::{BoxError, Flow};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn chain(n: usize) -> Arc<legato::Graph> {
    let mut b = GraphBuilder::new();
    b.add(TaskSpec::new("t0")).unwrap();
    for i in 1..n {
        b.add(TaskSpec::new(format!("t{i}")).after([format!("t{}", i - 1)]))
            .unwrap();
    }
    Arc::new(b.build().unwrap())
}

/// Drives `s` to its end: every attempt fails at once; every hook returns at once.
fn drive_failing(s: &mut Scheduler<()>) -> usize {
    s.start(Duration::ZERO);
    let mut emitted = 0;
    let mut commands = Vec::new();
    loop {
        s.drain_commands(&mut commands);
        if commands.is_empty() {
            break;
        }
        for c in commands.drain(..) {
            match c {
                Command::Start { task, attempt } => s
                    .attempt_finished(task, attempt, Outcome::fail("boom"), Duration::ZERO)
                    .unwrap(),
                Command::Emit { token, .. } => {
                    emitted += 1;
                    s.hook_done(token, Duration::ZERO).unwrap();
                }
                _ => {}
            }
        }
    }
    assert!(s.is_finished());
    emitted
}

#[test]
fn a_chain_of_a_million_failing_at_its_head_skips_the_rest() {
    let n = 1_000_000;
    let graph = chain(n);
    for fail_fast in [false, true] {
        let opts = RunOptions::default().fail_fast(fail_fast);
        let mut s: Scheduler<()> = Scheduler::new(graph.clone(), &graph.all(), opts).unwrap();
        drive_failing(&mut s);
        let report = s.report();
        let counts = report.counts();
        assert_eq!(
            (counts.failed, counts.skipped),
            (1, n - 1),
            "fail_fast {fail_fast}"
        );
        let last = &report.tasks[n - 1];
        assert_eq!(last.status, Status::Skipped);
        if !fail_fast {
            assert_eq!(
                last.skip_reason.as_deref(),
                Some(&SkipReason::DependencyFailed {
                    dependency: "t0".into()
                })
            );
        }
    }
}

#[test]
fn a_long_failing_chain_with_skip_hooks_emits_one_skip_each() {
    let n = 200_000;
    let graph = chain(n);
    let opts = RunOptions::default().hooks(HookMask::NONE.with(EventKind::TaskSkip));
    let mut s: Scheduler<()> = Scheduler::new(graph.clone(), &graph.all(), opts).unwrap();
    assert_eq!(drive_failing(&mut s), n - 1);
}

/// A call chain 100,000 deep (each call calls the next and waits), cancelled from outside:
/// every call ends `cancelled`, deepest first, without recursion per call.
#[test]
fn a_deep_chain_of_calls_is_cancelled() {
    let depth = 100_000;
    let graph = Arc::new(GraphBuilder::new().build().unwrap());
    let opts = RunOptions::default().max_depth(depth as u32 + 1);
    let mut s: Scheduler<()> = Scheduler::new(graph.clone(), &graph.all(), opts).unwrap();
    let t0 = Duration::ZERO;
    s.hold();
    s.start(t0);
    let opts = Arc::new(TaskOptions::default());
    let mut caller = None;
    for i in 0..depth {
        let id = s
            .spawn(caller, format!("call{i}").into(), opts.clone(), t0)
            .unwrap();
        let Some(Command::Start { task, attempt }) = s.next_command() else {
            panic!("call {i} did not start");
        };
        assert_eq!(task, id);
        caller = Some((task, attempt));
    }
    s.cancel(t0);
    s.release(t0);
    let mut cancels = 0;
    let mut delivered = 0;
    while let Some(c) = s.next_command() {
        match c {
            Command::Cancel { .. } => cancels += 1,
            Command::Deliver { .. } => delivered += 1,
            _ => {}
        }
    }
    assert!(s.is_finished());
    assert_eq!(cancels, depth);
    assert!(delivered >= 1);
    assert_eq!(s.report().counts().cancelled, depth);
}

/// Through the Rust door: a Flow of 200,000 steps failing at its head, with a skip hook.
#[test]
fn a_flow_chain_failing_at_its_head_finishes() {
    let n = 200_000;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut flow = Flow::new();
    flow.task("t0", |_| async { Err::<(), BoxError>("boom".into()) })
        .unwrap();
    for i in 1..n {
        flow.task(format!("t{i}"), |_| async { Ok::<_, BoxError>(()) })
            .unwrap()
            .after([format!("t{}", i - 1)]);
    }
    let skips = Arc::new(AtomicUsize::new(0));
    let seen = skips.clone();
    flow.on_task_skip(move |_| {
        seen.fetch_add(1, Ordering::Relaxed);
    });
    let err = rt.block_on(flow.run()).unwrap_err();
    let report = err.report().unwrap();
    assert_eq!(report.counts().skipped, n - 1);
    assert_eq!(skips.load(Ordering::Relaxed), n - 1);
}

/// Drawings grow linearly: a long chain continues at a bounded indentation.
#[test]
fn the_drawing_of_a_long_chain_is_linear() {
    let n = 10_000;
    let graph = chain(n);
    let ascii = graph.to_ascii();
    assert!(
        ascii.len() < 100 * n,
        "{} bytes for a chain of {n}",
        ascii.len()
    );
    let longest = ascii.lines().map(|l| l.chars().count()).max().unwrap();
    assert!(longest < 200, "a line of {longest} characters");
    let drawn: std::collections::HashSet<&str> = ascii
        .lines()
        .filter_map(|l| {
            l.split(['─', '▶', ' ', '│', '└', '├'])
                .find(|w| !w.is_empty())
        })
        .collect();
    assert!((0..n).all(|i| drawn.contains(format!("t{i}").as_str())));
    assert!(graph.to_mermaid().len() < 100 * n);
    assert!(graph.to_dot().len() < 100 * n);
}
