//! The conformance suite (`tests/scenarios/*.json`, format in `tests/README.md`) run through
//! the Rust front door: `Flow` and `Orchestrator` on the tokio driver, checked with the same
//! `check` as the virtual-clock runner (`scenarios.rs`).
//!
//! How a scenario becomes Rust code:
//!
//! - `tasks` → a [`Flow`]: each task's body follows its scripted attempts (picked with
//!   `cx.attempt()`): `ms` is a `tokio::time::sleep`, `fail` an `Err(error)`, `hang` a
//!   `std::future::pending()`, `value` the returned `serde_json::Value`. `retryable: false` is
//!   a `retry_if` that reads a per-task flag the body sets just before it returns that error
//!   (the driver asks the predicate as soon as the attempt's future is ready, so the flag is
//!   never stale).
//! - `calls` → [`Action`]s (an `Orchestrator` serves as the action factory), one per child
//!   definition, whose bodies follow the child's script; the parent's body calls them all at
//!   once (`join_all`), then works `ms` more and ends with its own result. A child action
//!   counts its attempts per call (each call passes a fresh id), since actions get no `Cx`.
//!   With the attempt's `fail_fast` they are one [`Orchestrator::parallel`] group with
//!   `fail_fast(true)`, whose error the body returns. A `cached` call is [`Action::cached`]:
//!   one action per name, always called with the same argument. `value_of` reads
//!   `cx.result::<Value>` as the body is made.
//! - `main` → [`Orchestrator::run`] with a main that calls every entry at once, an entry with
//!   `after` only once those entries have succeeded (`await a; b()`), never if one failed; a
//!   group entry is an [`Orchestrator::parallel`] (`call_settled`; with `fail_fast` its error
//!   ends main), then main sleeps `main_ms`. `main_error` is the run's output error.
//! - `hook_ms` → an async hook ([`Orchestrator::on_async`], [`Flow::on_async`]) after the
//!   recording one, for the kinds listed, that sleeps for the listed lines.
//! - a task's `uses` → `TaskMut::uses`, `when` → `TaskMut::when` (a predicate giving the
//!   scenario's value, or `Err("condition raised")`), `trigger` and `cost_ms` likewise; a call
//!   object's `uses` → [`Action::uses_with`] (the keys as a function of the call's argument).
//! - `run` → `max_parallel`, `fail_fast`, `timeout`, `limits` (`limit`), `priority` on the
//!   flow / orchestrator; `targets` →
//!   `run_targets`; `cancel_at_ms` → `Flow::spawn`, a sleep, `RunHandle::cancel`; `resume` →
//!   a report read back with [`RunReport::from_json`] from a JSON that lists those tasks as
//!   succeeded with their results, resumed with [`Flow::spawn_resumed`];
//!   `hook_failures` → every event has a hook that records the trace line and returns
//!   `Err(message)` when its line is listed.
//!
//! What is observed: the report (status, attempts, errors, skip reasons, times, stop), the
//! hooks (trace; values from `task_success`'s result), the bodies (`started_order`: first
//! attempts in the order their bodies are called, which is the order the driver starts them;
//! `max_running`: bodies holding a slot at once — a body counts from the moment the driver
//! calls it until its future ends or is dropped, except while it awaits its children, which is
//! when the scheduler takes its slot back. Counting runs slightly behind the scheduler (a body
//! leaves before its slot is freed and a resumed parent comes back after it got its slot), so
//! it can never overstate the peak); `max_holding`: per key, the bodies holding a slot whose
//! task holds that key, counted alike).
//!
//! Every scenario runs twice:
//! - on tokio's paused clock (current-thread runtime, `start_paused`): time only moves when
//!   every task is idle, so sleeps are exact and every expectation is checked, exact times
//!   included;
//! - on the real clock (multi-thread runtime, real milliseconds — the suite takes a few seconds):
//!   everything but exact times, except in scenarios whose outcome hinges on two things
//!   happening at the same instant ([`SAME_INSTANT`]), which only the paused clock can order.
//!   A real-clock mismatch is run again (up to [`REAL_CLOCK_TRIES`] runs in all) before it is
//!   reported, so a starved test machine does not fail the suite; the paused-clock run is the
//!   deterministic one.

use super::scenarios::{
    check, condition_of, keys_of, load_all, observe_report, resume_order, AttemptDef,
    Holding as KeyCount, Observed, RunDef, Scenario, TaskDef,
};
use futures_util::future::{join_all, try_join_all, BoxFuture, FutureExt, Shared};
use legato::{
    Action, EventKind, Flow, FlowError, HookEvent, Orchestrator, OwnedHookEvent, Parallel,
    RunReport, TaskError,
};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Scenarios whose expectations cannot hold on this front door, with the reason. Empty: every
/// scenario runs through the Rust API.
const SKIP_ON_TOKIO: &[(&str, &str)] = &[];

/// Scenarios not checked on the real clock: their expectations rest on the timing rules'
/// same-instant order (completions, then the external cancel, then timers), and on a real
/// clock two things are never at the same instant — which comes first is a race.
const SAME_INSTANT: &[(&str, &str)] = &[
    (
        "rules-cancel-after-finish",
        "cancel() is due the instant the last task ends",
    ),
    (
        "rules-cancel-same-instant",
        "cancel() is due the instant finisher ends",
    ),
    (
        "rules-timeout-is-retried",
        "on-the-edge ends exactly at its timeout",
    ),
    (
        "rules-ready-order-same-instant",
        "a and b end at the same instant; their order decides the next starts",
    ),
];

/// Runs of one scenario on the real clock before a mismatch is reported.
const REAL_CLOCK_TRIES: usize = 3;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The argument of every call of a cached action: one task per name and run.
const CACHED_ARG: u64 = u64::MAX;

/// What the hooks and bodies of one run record.
#[derive(Default)]
struct Rec {
    hook_failures: BTreeMap<String, String>,
    hook_ms: BTreeMap<String, u64>,
    trace: Mutex<Vec<String>>,
    values: Mutex<HashMap<String, Value>>,
    completion_errors: Mutex<HashMap<String, Option<String>>>,
    started: Mutex<Vec<String>>,
    running: AtomicUsize,
    peak: AtomicUsize,
    /// Bodies holding each key now, and each key's peak.
    keys: Mutex<(KeyCount, HashMap<String, usize>)>,
    next_call: AtomicU64,
}

impl Rec {
    fn new(sc: &Scenario) -> Arc<Rec> {
        Arc::new(Rec {
            hook_failures: sc.run.hook_failures.clone(),
            hook_ms: sc.run.hook_ms.clone(),
            ..Rec::default()
        })
    }

    fn call_id(&self) -> u64 {
        self.next_call.fetch_add(1, Ordering::Relaxed)
    }

    /// What a run observed: the report's view plus the hooks' and bodies'.
    fn observed(&self, report: &RunReport, plan: Vec<Vec<String>>) -> Observed {
        let mut obs = Observed {
            plan,
            ..Observed::default()
        };
        observe_report(report, &mut obs);
        obs.values = self.values.lock().unwrap().clone();
        obs.completion_errors = self.completion_errors.lock().unwrap().clone();
        obs.trace = self.trace.lock().unwrap().clone();
        obs.started_order = self.started.lock().unwrap().clone();
        obs.max_running = self.peak.load(Ordering::SeqCst);
        obs.max_holding = self.keys.lock().unwrap().1.clone();
        obs
    }
}

/// A body holding a slot (counted in `Rec::running`) and its keys while it exists, unless
/// released.
struct Holding {
    rec: Arc<Rec>,
    keys: Vec<String>,
    held: bool,
}

impl Holding {
    fn take(rec: Arc<Rec>, keys: Vec<String>) -> Holding {
        let mut h = Holding {
            rec,
            keys,
            held: false,
        };
        h.retake();
        h
    }

    fn retake(&mut self) {
        if !self.held {
            self.held = true;
            let now = self.rec.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.rec.peak.fetch_max(now, Ordering::SeqCst);
            if !self.keys.is_empty() {
                let mut k = self.rec.keys.lock().unwrap();
                let (count, peak) = &mut *k;
                count.begin(&self.keys, peak);
            }
        }
    }

    fn release(&mut self) {
        if self.held {
            self.held = false;
            self.rec.running.fetch_sub(1, Ordering::SeqCst);
            if !self.keys.is_empty() {
                self.rec.keys.lock().unwrap().0.end(&self.keys);
            }
        }
    }
}

impl Drop for Holding {
    fn drop(&mut self) {
        self.release();
    }
}

/// Builds the actions of one run: cached ones once per name, since an action's memo is its
/// own.
struct Build<'a> {
    orch: &'a Orchestrator,
    rec: Arc<Rec>,
    cached: HashMap<String, Action<u64, Value>>,
}

impl Build<'_> {
    /// One call of `def`: its action and the argument it is called with.
    fn call(&mut self, def: &TaskDef) -> Call {
        let action = match self.cached.get(&def.name) {
            Some(a) if def.cached => a.clone(),
            _ => {
                let a = action_of(self, def);
                if def.cached {
                    self.cached.insert(def.name.clone(), a.clone());
                }
                a
            }
        };
        Call {
            action,
            cached: def.cached,
        }
    }
}

/// A call a body or main makes.
#[derive(Clone)]
struct Call {
    action: Action<u64, Value>,
    cached: bool,
}

impl Call {
    /// The argument: a fresh id per call, except for a cached action (one task per run).
    fn arg(&self, rec: &Rec) -> u64 {
        if self.cached {
            CACHED_ARG
        } else {
            rec.call_id()
        }
    }
}

/// The calls of one attempt: made at once; with `fail_fast`, as one fail-fast `parallel`.
struct Calls {
    each: Vec<Call>,
    group: Option<Parallel<u64, Value>>,
}

/// A task definition made runnable: its script, its children as actions (per attempt), and
/// the flag its `retry_if` reads.
struct Node {
    def: TaskDef,
    refuse_retry: AtomicBool,
    calls: Vec<Calls>,
}

impl Node {
    fn new(b: &mut Build<'_>, def: &TaskDef) -> Arc<Node> {
        let calls = def
            .attempts
            .iter()
            .map(|a| {
                let each: Vec<Call> = a.calls.iter().map(|c| b.call(c)).collect();
                let group = a.fail_fast.then(|| {
                    b.orch
                        .parallel(each.iter().map(|c| c.action.clone()))
                        .fail_fast(true)
                });
                Calls { each, group }
            })
            .collect();
        Arc::new(Node {
            def: def.clone(),
            refuse_retry: AtomicBool::new(false),
            calls,
        })
    }

    /// The script of attempt `n` (from 1; the last entry repeats; none: succeed with null).
    fn attempt(&self, n: u32) -> (AttemptDef, Option<&Calls>) {
        let a = &self.def.attempts;
        if a.is_empty() {
            return (
                AttemptDef {
                    retryable: true,
                    ..AttemptDef::default()
                },
                None,
            );
        }
        let i = (n as usize - 1).min(a.len() - 1);
        (a[i].clone(), Some(&self.calls[i]))
    }
}

/// One attempt of a task, as its body: called by the driver when the attempt starts. `read`
/// is what the attempt's `value_of` found as it started (`None` without `value_of`).
fn attempt_body(
    node: Arc<Node>,
    rec: Arc<Rec>,
    attempt: u32,
    read: Option<Result<Value, String>>,
) -> impl Future<Output = Result<Value, String>> + Send + 'static {
    if attempt == 1 {
        rec.started.lock().unwrap().push(node.def.name.clone());
    }
    let mut slot = Holding::take(rec.clone(), keys_of(&node.def));
    async move {
        let (a, calls) = node.attempt(attempt);
        if let Some(calls) = calls.filter(|c| !c.each.is_empty()) {
            // The scheduler takes the slot back while the children run.
            slot.release();
            let args = calls.each.iter().map(|c| c.arg(&rec)).collect();
            match &calls.group {
                Some(group) => {
                    if let Err(e) = group.call_settled(args).await {
                        // `await` of a fail-fast group throws: the attempt fails with it.
                        return Err(e.to_string());
                    }
                }
                None => {
                    join_all(
                        calls
                            .each
                            .iter()
                            .zip(args)
                            .map(|(c, arg)| c.action.call(arg)),
                    )
                    .await;
                }
            }
            slot.retake();
        }
        if a.result.as_deref() == Some("hang") {
            std::future::pending::<()>().await;
        }
        if a.ms > 0 {
            tokio::time::sleep(ms(a.ms)).await;
        }
        drop(slot);
        if let Some(read) = read {
            return read;
        }
        match a.result.as_deref().unwrap_or("ok") {
            "ok" => Ok(a.value),
            "fail" => {
                node.refuse_retry.store(!a.retryable, Ordering::SeqCst);
                Err(a.error.unwrap_or_else(|| "failed".into()))
            }
            other => panic!("unknown result {other:?}"),
        }
    }
}

/// A dynamic task definition (a child in `calls`, or a `main` entry) as an action.
fn action_of(b: &mut Build<'_>, def: &TaskDef) -> Action<u64, Value> {
    let node = Node::new(b, def);
    let attempts: Arc<Mutex<HashMap<u64, u32>>> = Arc::default();
    let (n, r) = (node.clone(), b.rec.clone());
    let mut action = b.orch.action(&def.name, move |call: u64| {
        let attempt = {
            let mut a = attempts.lock().unwrap();
            let k = a.entry(call).or_default();
            *k += 1;
            *k
        };
        attempt_body(n.clone(), r.clone(), attempt, None)
    });
    let o = super::scenarios::options_of(def);
    action = action.retries(o.retries).backoff(o.backoff);
    if let Some(t) = o.timeout {
        action = action.timeout(t);
    }
    for k in &def.sequences {
        action = action.sequence(k.clone());
    }
    if !def.uses.is_empty() {
        // A call's keys, as the action's `uses` function gives them for its argument.
        let keys = def.uses.clone();
        action = action.uses_with(move |_: &u64| keys.clone());
    }
    if def.cached {
        action = action.cached();
    }
    action.retry_if(move |_: &TaskError| !node.refuse_retry.load(Ordering::SeqCst))
}

/// An event's trace line.
fn trace_line<S>(e: &HookEvent<'_, S>) -> String {
    match e.kind {
        EventKind::ProcessBegin => "process_begin".to_owned(),
        EventKind::TaskReady => format!("task_ready {}", e.name),
        EventKind::TaskBegin => format!("task_begin {} {}", e.name, e.attempt),
        EventKind::TaskRetry => format!("task_retry {} {}", e.name, e.attempt),
        EventKind::TaskSuccess => format!("task_success {}", e.name),
        EventKind::TaskFailure => format!("task_failure {}", e.name),
        EventKind::TaskSkip => format!("task_skip {}", e.name),
        EventKind::TaskCompletion => format!(
            "task_completion {} {}",
            e.name,
            e.status.expect("task_completion has a status")
        ),
        EventKind::ProcessCompletion => "process_completion".to_owned(),
        other => format!("{other:?}"),
    }
}

/// The hook registered for every event: records the trace line (and a succeeded task's
/// value, a completed task's error) and fails when the scenario lists the line.
fn hook(
    rec: Arc<Rec>,
) -> impl Fn(&HookEvent<'_, ()>) -> Result<(), String> + Clone + Send + Sync + 'static {
    move |e| {
        let line = trace_line(e);
        if e.kind == EventKind::TaskSuccess {
            let v = e.result.and_then(|r| r.downcast_ref::<Value>()).cloned();
            rec.values
                .lock()
                .unwrap()
                .insert(e.name.to_owned(), v.unwrap_or(Value::Null));
        }
        if e.kind == EventKind::TaskCompletion {
            rec.completion_errors
                .lock()
                .unwrap()
                .insert(e.name.to_owned(), e.error.map(|e| e.message.to_string()));
        }
        let fail = rec.hook_failures.get(&line).cloned();
        rec.trace.lock().unwrap().push(line);
        fail.map_or(Ok(()), Err)
    }
}

/// Registers the recording hook for every event and, for the kinds `run.hook_ms` names, an
/// async hook after it that takes that long for the listed lines.
macro_rules! register_hooks {
    ($door:expr, $rec:expr) => {{
        let h = hook($rec.clone());
        for kind in EventKind::ALL {
            $door.on(kind, h.clone());
            let slow = $rec
                .hook_ms
                .keys()
                .any(|line| line.split(' ').next() == Some(&format!("{kind}")[..]));
            if slow {
                let rec = $rec.clone();
                $door.on_async(kind, move |e: OwnedHookEvent<()>| {
                    let wait = rec.hook_ms.get(&trace_line(&e.view())).copied();
                    async move {
                        if let Some(n) = wait {
                            tokio::time::sleep(ms(n)).await;
                        }
                    }
                });
            }
        }
    }};
}

/// The run's `limits` and `priority` on a flow or an orchestrator.
macro_rules! run_rules {
    ($door:expr, $run:expr) => {{
        let run: &RunDef = $run;
        for (k, &n) in &run.limits {
            $door.limit(k.clone(), n);
        }
        if let Some(p) = &run.priority {
            $door.priority(p.parse().expect("a priority's name"));
        }
    }};
}

fn graph_error(e: impl ToString) -> Observed {
    Observed {
        error: Some(e.to_string()),
        ..Observed::default()
    }
}

/// Runs a scenario through the Rust API on the current tokio runtime.
async fn run_tokio(sc: &Scenario) -> Observed {
    if sc.main.is_empty() {
        run_flow(sc).await
    } else {
        run_main(sc).await
    }
}

async fn run_flow(sc: &Scenario) -> Observed {
    let rec = Rec::new(sc);
    let factory = Orchestrator::new();
    let mut b = Build {
        orch: &factory,
        rec: rec.clone(),
        cached: HashMap::new(),
    };
    let mut flow = Flow::new();
    for t in &sc.tasks {
        let node = Node::new(&mut b, t);
        let (n, r) = (node.clone(), rec.clone());
        let task = match flow.task(t.name.clone(), move |cx| {
            let attempt = cx.attempt();
            // Rule 10: any task that succeeded by now, upstream or not.
            let read = n.attempt(attempt).0.value_of.map(|src| {
                cx.result::<Value>(&src)
                    .cloned()
                    .ok_or_else(|| format!("no result for {src:?}"))
            });
            attempt_body(n.clone(), r.clone(), attempt, read)
        }) {
            Ok(task) => task,
            Err(e) => return graph_error(e),
        };
        let o = super::scenarios::options_of(t);
        let task = task
            .after(&t.after)
            .retries(o.retries)
            .backoff(o.backoff)
            .retry_if(move |_: &TaskError| !node.refuse_retry.load(Ordering::SeqCst));
        let mut task = match o.timeout {
            Some(d) => task.timeout(d),
            None => task,
        };
        for k in &t.sequences {
            task = task.sequence(k.clone());
        }
        for k in &t.uses {
            task = task.uses(k.clone());
        }
        task = task.trigger(o.trigger);
        if let Some(c) = o.cost {
            task = task.cost(c);
        }
        if t.when.is_some() {
            let value = condition_of(t);
            task.when(move |_| value.clone());
        }
    }
    let plan = match flow.plan_targets(&sc.run.targets) {
        Ok(p) => p,
        Err(e) => return graph_error(e),
    };
    if let Some(n) = sc.run.max_parallel {
        flow.max_parallel(n);
    }
    flow.fail_fast(sc.run.fail_fast);
    if let Some(t) = sc.run.timeout_ms {
        flow.timeout(ms(t));
    }
    run_rules!(flow, &sc.run);
    register_hooks!(flow, rec);
    let resumed = sc.run.resume.as_ref().map(|r| resumed_report(sc, r));
    let result = match (sc.run.cancel_at_ms, &resumed) {
        (None, None) => flow.run_targets(&sc.run.targets).await,
        (at, resumed) => {
            let handle = match resumed {
                Some(report) => flow.spawn_resumed(&sc.run.targets, report),
                None => flow.spawn_targets(&sc.run.targets),
            };
            let handle = match handle {
                Ok(h) => h,
                Err(e) => return graph_error(e), // a report naming a task the flow lacks
            };
            if let Some(at) = at {
                tokio::time::sleep(ms(at)).await;
                handle.cancel();
            }
            handle.wait().await
        }
    };
    let report = match result {
        Ok(r) => r,
        Err(FlowError::Failed { report, .. }) => *report,
        Err(e) => return graph_error(e),
    };
    rec.observed(&report, plan)
}

/// The report of a run in which the tasks of `run.resume` succeeded with those results, read
/// back from its JSON as a report file would be.
fn resumed_report(sc: &Scenario, resume: &BTreeMap<String, Value>) -> RunReport {
    let tasks: Vec<Value> = resume_order(sc, resume)
        .into_iter()
        .enumerate()
        .map(|(i, (name, result))| {
            serde_json::json!({ "id": i, "name": name, "status": "succeeded", "attempts": 1, "result": result })
        })
        .collect();
    let json = serde_json::json!({ "total_ms": 0.0, "tasks": tasks });
    RunReport::from_json(&json.to_string()).expect("a report's JSON")
}

/// What main's `await` of one entry gives: whether it succeeded, or the error a fail-fast
/// group threw (then main raises it).
type EntryFuture = Shared<BoxFuture<'static, Result<bool, TaskError>>>;

async fn run_main(sc: &Scenario) -> Observed {
    let rec = Rec::new(sc);
    let mut orch = Orchestrator::new();
    if let Some(n) = sc.run.max_parallel {
        orch.max_parallel(n);
    }
    orch.fail_fast(sc.run.fail_fast);
    if let Some(t) = sc.run.timeout_ms {
        orch.timeout(ms(t));
    }
    run_rules!(orch, &sc.run);
    register_hooks!(orch, rec);
    let mut b = Build {
        orch: &orch,
        rec: rec.clone(),
        cached: HashMap::new(),
    };
    // Each entry's call, shared so that later entries can await it.
    let mut calls: HashMap<&str, EntryFuture> = HashMap::new();
    let mut all = Vec::new();
    for def in &sc.main {
        let members: Vec<Call> = if def.parallel.is_empty() {
            vec![b.call(def)]
        } else {
            def.parallel.iter().map(|m| b.call(m)).collect()
        };
        let group = (!def.parallel.is_empty()).then(|| {
            b.orch
                .parallel(members.iter().map(|c| c.action.clone()))
                .fail_fast(def.fail_fast)
        });
        let after: Vec<_> = def
            .after
            .iter()
            .map(|a| {
                calls
                    .get(a.as_str())
                    .unwrap_or_else(|| panic!("{}: main entry {a:?} is not earlier", sc.name))
                    .clone()
            })
            .collect();
        let r = rec.clone();
        let call = async move {
            for a in after {
                if !a.await? {
                    return Ok(false); // the `await` threw: the call is never made
                }
            }
            let args: Vec<u64> = members.iter().map(|c| c.arg(&r)).collect();
            match group {
                // `parallel` without fail_fast gives every result; with it, throws the first error.
                Some(group) => Ok(group.call_settled(args).await?.iter().all(Result::is_ok)),
                None => Ok(members[0].action.call(args[0]).await.is_ok()),
            }
        }
        .boxed()
        .shared();
        calls.insert(&def.name, call.clone());
        all.push(call);
    }
    let main_ms = sc.main_ms;
    let run = orch
        .run(async move {
            try_join_all(all).await?;
            // main works on outside any action.
            tokio::time::sleep(ms(main_ms)).await;
            Ok::<(), TaskError>(())
        })
        .await;
    let mut obs = rec.observed(&run.report, Vec::new());
    obs.main_error = run.into_output().err().map(|e| e.to_string());
    obs
}

fn skipped(sc: &Scenario, table: &[(&str, &str)]) -> bool {
    table.iter().any(|(n, _)| *n == sc.name)
}

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime")
}

#[test]
fn every_scenario_passes_through_the_rust_api_on_the_paused_clock() {
    let all = load_all();
    let mut failures = Vec::new();
    let mut ran = 0;
    for sc in &all {
        if skipped(sc, SKIP_ON_TOKIO) {
            continue;
        }
        ran += 1;
        let obs = paused_runtime().block_on(run_tokio(sc));
        let bad = check(sc, &obs, true);
        if !bad.is_empty() {
            failures.push(format!("{}:\n  {}", sc.name, bad.join("\n  ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} scenario(s) failed on the paused clock:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(ran + SKIP_ON_TOKIO.len(), all.len());
}

#[test]
fn every_scenario_passes_through_the_rust_api_on_the_real_clock() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("a runtime");
    let all = load_all();
    let mut failures = Vec::new();
    // The first run on a fresh runtime pays for starting its threads: warm up off the record.
    rt.block_on(run_tokio(&all[0]));
    let started = Instant::now();
    let mut ran = 0;
    let mut excluded = 0;
    for sc in &all {
        if skipped(sc, SKIP_ON_TOKIO) || skipped(sc, SAME_INSTANT) {
            excluded += 1;
            continue;
        }
        ran += 1;
        let mut tries = Vec::new();
        for _ in 0..REAL_CLOCK_TRIES {
            let obs = rt.block_on(run_tokio(sc));
            let bad = check(sc, &obs, false);
            if bad.is_empty() {
                break;
            }
            tries.push(bad.join("\n  "));
        }
        if tries.len() == REAL_CLOCK_TRIES {
            failures.push(format!("{}:\n  {}", sc.name, tries.join("\n  then\n  ")));
        } else if !tries.is_empty() {
            eprintln!(
                "{}: passed on the real clock at try {}; before:\n  {}",
                sc.name,
                tries.len() + 1,
                tries.join("\n  ")
            );
        }
    }
    assert!(
        failures.is_empty(),
        "{} scenario(s) failed on the real clock:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(
        ran + excluded,
        all.len(),
        "every scenario ran on the real clock but the listed exceptions"
    );
    assert_eq!(excluded, SKIP_ON_TOKIO.len() + SAME_INSTANT.len());
    eprintln!("real-clock runs took {:?}", started.elapsed());
}

/// The skip tables name real scenarios, each with a reason.
#[test]
fn the_skip_tables_name_scenarios_of_the_suite() {
    let all = load_all();
    for (name, why) in SKIP_ON_TOKIO.iter().chain(SAME_INSTANT) {
        assert!(
            all.iter().any(|s| s.name == *name),
            "{name} is not a scenario"
        );
        assert!(!why.is_empty(), "{name}: says why");
    }
}
