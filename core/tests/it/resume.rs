//! Resume (DESIGN "Beyond the seeds"): tasks that succeeded in the resumed run are not run
//! again, end `succeeded` with no attempt and `resumed` set, and hooks see `task_skip` with
//! reason `resumed`; the rest runs as usual.

use legato::event::{Event, HookMask, SkipReason, Status};
use legato::graph::{GraphBuilder, TaskSpec};
use legato::scheduler::{Command, Outcome, RunOptions, Scheduler};
use legato::{BoxError, Flow, FlowError, GraphError, RunReport};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[test]
fn restored_tasks_end_first_as_successes_and_hooks_see_a_resumed_skip() {
    let mut b = GraphBuilder::new();
    b.add(TaskSpec::new("a")).unwrap();
    b.add(TaskSpec::new("b").after(["a"])).unwrap();
    b.add(TaskSpec::new("c").after(["b"])).unwrap();
    let graph = Arc::new(b.build().unwrap());
    let mut s: Scheduler<u32> = Scheduler::new(
        graph.clone(),
        &graph.all(),
        RunOptions::default().hooks(HookMask::ALL),
    )
    .unwrap();
    s.restore(graph.get("a").unwrap(), Some(1)).unwrap();
    s.restore(graph.get("b").unwrap(), Some(2)).unwrap();
    s.start(Duration::ZERO);
    let mut trace = Vec::new();
    let mut now = Duration::ZERO;
    while let Some(c) = s.next_command() {
        match c {
            Command::Emit { event, token } => {
                let line = match &*event {
                    Event::TaskSkip { task, reason } => format!("skip {} {reason}", s.name(*task)),
                    Event::TaskBegin { task, .. } => format!("begin {}", s.name(*task)),
                    other => format!("{:?}", other.kind()),
                };
                trace.push(line);
                s.hook_done(token, now).unwrap();
            }
            Command::Start { task, attempt } => {
                now += Duration::from_millis(5);
                s.attempt_finished(task, attempt, Outcome::Ok(3), now)
                    .unwrap();
            }
            _ => {}
        }
    }
    assert!(s.is_finished());
    assert_eq!(
        trace,
        [
            "ProcessBegin",
            "skip a resumed",
            "skip b resumed",
            "TaskReady",
            "begin c",
            "TaskSuccess",
            "TaskCompletion",
            "ProcessCompletion"
        ]
    );
    let a = graph.get("a").unwrap();
    assert_eq!(s.value(a), Some(&1));
    let report = s.report();
    assert!(report.ok());
    let ra = report.get("a").unwrap();
    assert_eq!(
        (ra.status, ra.attempts, ra.resumed),
        (Status::Succeeded, 0, true)
    );
    assert_eq!(ra.skip_reason, None);
    assert!(!report.get("c").unwrap().resumed);
    // The JSON says so, and reads back.
    let json = report.to_json_value();
    assert_eq!(json["tasks"][0]["resumed"], true);
    assert_eq!(json["tasks"][2]["resumed"], false);
    let back = RunReport::from_json(&report.to_json()).unwrap();
    assert!(back.get("a").unwrap().resumed);
    assert_eq!(SkipReason::Resumed.to_string(), "resumed");
}

/// A flow of three steps whose bodies count their calls; `fail_c` makes the last one fail.
fn counted(fail_c: Arc<AtomicBool>) -> (Flow, Arc<[AtomicU32; 3]>) {
    let calls: Arc<[AtomicU32; 3]> = Arc::new(Default::default());
    let mut flow = Flow::new();
    for (i, name) in ["a", "b", "c"].into_iter().enumerate() {
        let calls = calls.clone();
        let fail = fail_c.clone();
        let t = flow
            .task(name, move |_| {
                calls[i].fetch_add(1, Ordering::SeqCst);
                let fail = i == 2 && fail.load(Ordering::SeqCst);
                async move {
                    if fail {
                        Err("c failed")
                    } else {
                        Ok(i as u32)
                    }
                }
            })
            .unwrap();
        if i > 0 {
            t.after([["a", "b"][i - 1]]);
        }
    }
    (flow, calls)
}

#[tokio::test(start_paused = true)]
async fn a_resumed_flow_calls_no_body_of_a_task_that_succeeded() {
    let fail = Arc::new(AtomicBool::new(true));
    let (flow, calls) = counted(fail.clone());
    let err = flow.run().await.unwrap_err();
    let failed = err.report().unwrap().clone();
    assert_eq!(failed.get("c").unwrap().status, Status::Failed);
    fail.store(false, Ordering::SeqCst);
    // In memory (results kept) and read back from JSON (no results): a and b run once.
    for report in [
        failed.clone(),
        RunReport::from_json(&failed.to_json()).unwrap(),
    ] {
        let before: Vec<u32> = calls.iter().map(|c| c.load(Ordering::SeqCst)).collect();
        let resumed = flow.run_resumed(&report).await.unwrap();
        let after: Vec<u32> = calls.iter().map(|c| c.load(Ordering::SeqCst)).collect();
        assert_eq!(after[0] - before[0], 0);
        assert_eq!(after[1] - before[1], 0);
        assert_eq!(after[2] - before[2], 1);
        assert!(resumed.get("a").unwrap().resumed);
        assert!(!resumed.get("c").unwrap().resumed);
        // Resuming a resumed run restores its restored tasks again.
        let again = flow.run_resumed(&resumed).await.unwrap();
        assert!(again.tasks.iter().all(|t| t.resumed));
    }
    // Results come back from a report in memory.
    let resumed = flow.run_resumed(&failed).await.unwrap();
    assert_eq!(resumed.result::<u32>("b"), Some(&1));
}

#[tokio::test(start_paused = true)]
async fn a_report_of_another_flow_is_refused_before_anything_runs() {
    let (flow, calls) = counted(Arc::new(AtomicBool::new(false)));
    let mut other = Flow::new();
    other
        .task("bulid", |_| async { Ok::<_, BoxError>(()) })
        .unwrap();
    let report = other.run().await.unwrap();
    let e = flow.run_resumed(&report).await.unwrap_err();
    assert!(
        matches!(&e, FlowError::Graph(GraphError::UnknownTask { name, .. }) if name == "bulid"),
        "{e}"
    );
    assert_eq!(e.to_string(), "Task \"bulid\" not found");
    assert!(calls.iter().all(|c| c.load(Ordering::SeqCst) == 0));
}

#[tokio::test(start_paused = true)]
async fn hooks_of_a_resumed_run_see_the_skips_in_order() {
    let (mut flow, _) = counted(Arc::new(AtomicBool::new(false)));
    let first = flow.run().await.unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    flow.on_task_skip(move |e| {
        s.lock()
            .unwrap()
            .push(format!("{} {:?}", e.name, e.reason.map(|r| r.to_string())))
    });
    flow.run_resumed(&first).await.unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        [
            "a Some(\"resumed\")",
            "b Some(\"resumed\")",
            "c Some(\"resumed\")"
        ]
    );
}
