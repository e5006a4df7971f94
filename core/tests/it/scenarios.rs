//! The conformance suite (`tests/scenarios/*.json`, format in `tests/README.md`) run against
//! the scheduler state machine on a virtual clock. The scenario types, `load_all`,
//! `options_of`, `Observed`, `observe_report` and `check` are shared with the runner through
//! the Rust front door (`scenarios_tokio.rs`).

use legato::event::{Event, HookMask, Status, StopReason};
use legato::graph::{Graph, GraphBuilder, TaskId, TaskSpec};
use legato::host::Payload;
use legato::policy::{Backoff, TaskOptions};
use legato::report::RunReport;
use legato::scheduler::{Command, HookToken, Input, JoinId, Outcome, RunOptions, Scheduler};
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub covers: Vec<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub tasks: Vec<TaskDef>,
    #[serde(default)]
    pub main: Vec<TaskDef>,
    #[serde(default)]
    pub main_ms: u64,
    #[serde(default)]
    pub run: RunDef,
    pub expect: Expect,
}

#[derive(Debug, Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct TaskDef {
    pub name: String,
    #[serde(default)]
    pub after: Vec<String>,
    #[serde(default)]
    pub retries: u32,
    #[serde(default)]
    pub backoff: Option<BackoffDef>,
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    #[serde(default)]
    pub sequences: Vec<String>,
    /// Keys held while an attempt runs (`sequences` are the same); for a call object, what
    /// the action's `uses` function returns for this call.
    #[serde(default)]
    pub uses: Vec<String>,
    /// The condition: `true`, `false`, or `"raise"` (the predicate raises `condition raised`).
    #[serde(default)]
    pub when: Option<Value>,
    #[serde(default)]
    pub trigger: Option<String>,
    #[serde(default)]
    pub cost_ms: Option<u64>,
    #[serde(default)]
    pub attempts: Vec<AttemptDef>,
    #[serde(default)]
    pub cached: bool,
    #[serde(default)]
    pub parallel: Vec<TaskDef>,
    #[serde(default)]
    pub fail_fast: bool,
    #[serde(default)]
    pub chain: Option<usize>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct BackoffDef {
    #[serde(default)]
    pub fixed_ms: Option<u64>,
    #[serde(default)]
    pub initial_ms: Option<u64>,
    #[serde(default)]
    pub factor: Option<f64>,
    #[serde(default)]
    pub max_ms: Option<u64>,
}

#[derive(Debug, Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct AttemptDef {
    #[serde(default)]
    pub ms: u64,
    #[serde(default)]
    pub result: Option<String>,
    #[serde(default)]
    pub value: Value,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default = "yes")]
    pub retryable: bool,
    #[serde(default)]
    pub calls: Vec<TaskDef>,
    #[serde(default)]
    pub fail_fast: bool,
    #[serde(default)]
    pub value_of: Option<String>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct RunDef {
    #[serde(default)]
    pub max_parallel: Option<usize>,
    #[serde(default)]
    pub limits: BTreeMap<String, u32>,
    #[serde(default)]
    pub priority: Option<String>,
    #[serde(default)]
    pub fail_fast: bool,
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    #[serde(default)]
    pub targets: Vec<String>,
    #[serde(default)]
    pub cancel_at_ms: Option<u64>,
    #[serde(default)]
    pub hook_failures: BTreeMap<String, String>,
    #[serde(default)]
    pub hook_ms: BTreeMap<String, u64>,
    /// The tasks that succeeded in the run this one resumes, with their results.
    #[serde(default)]
    pub resume: Option<BTreeMap<String, Value>>,
}

#[derive(Debug, Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub plan: Option<Vec<Vec<String>>>,
    #[serde(default)]
    pub ok: Option<bool>,
    #[serde(default)]
    pub status: BTreeMap<String, String>,
    #[serde(default)]
    pub counts: BTreeMap<String, usize>,
    #[serde(default)]
    pub attempts: BTreeMap<String, u32>,
    #[serde(default)]
    pub skip_reason: BTreeMap<String, String>,
    #[serde(default)]
    pub errors: BTreeMap<String, String>,
    #[serde(default)]
    pub values: BTreeMap<String, Value>,
    #[serde(default)]
    pub before: Vec<(String, String)>,
    #[serde(default)]
    pub starts_ms: BTreeMap<String, u64>,
    #[serde(default)]
    pub ends_ms: BTreeMap<String, u64>,
    #[serde(default)]
    pub total_ms: Option<u64>,
    #[serde(default)]
    pub max_running: Option<usize>,
    #[serde(default)]
    pub max_holding: BTreeMap<String, usize>,
    #[serde(default)]
    pub started_order: Option<Vec<String>>,
    #[serde(default)]
    pub trace: Option<Vec<String>>,
    #[serde(default)]
    pub stop: Option<String>,
    #[serde(default)]
    pub main_error: Option<String>,
    #[serde(default)]
    pub completion_errors: BTreeMap<String, Option<String>>,
    #[serde(default)]
    pub resumed: Option<Vec<String>>,
}

impl Expect {
    /// Whether it expects nothing at all (a scenario must expect something).
    pub fn is_empty(&self) -> bool {
        self.error.is_none()
            && self.plan.is_none()
            && self.ok.is_none()
            && self.status.is_empty()
            && self.counts.is_empty()
            && self.attempts.is_empty()
            && self.skip_reason.is_empty()
            && self.errors.is_empty()
            && self.values.is_empty()
            && self.before.is_empty()
            && self.starts_ms.is_empty()
            && self.ends_ms.is_empty()
            && self.total_ms.is_none()
            && self.max_running.is_none()
            && self.max_holding.is_empty()
            && self.started_order.is_none()
            && self.trace.is_none()
            && self.stop.is_none()
            && self.main_error.is_none()
            && self.completion_errors.is_empty()
            && self.resumed.is_none()
    }
}

pub fn scenario_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/scenarios")
}

pub fn load_all() -> Vec<Scenario> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(scenario_dir())
        .expect("tests/scenarios exists")
        .map(|e| e.expect("readable dir entry").path())
        .collect();
    paths.sort();
    // Every file of the suite is a scenario that runs: nothing is skipped silently.
    for p in &paths {
        assert!(
            p.extension().is_some_and(|e| e == "json"),
            "{}: tests/scenarios holds only .json scenarios",
            p.display()
        );
    }
    assert!(!paths.is_empty(), "tests/scenarios is empty");
    paths
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).expect("readable scenario");
            let sc: Scenario =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            assert_eq!(
                p.file_stem().and_then(|s| s.to_str()),
                Some(sc.name.as_str()),
                "a scenario's name is its file name"
            );
            assert!(
                !sc.expect.is_empty(),
                "{}: a scenario must expect something",
                p.display()
            );
            prepare(sc)
        })
        .collect()
}

/// Expands `chain`s and checks what the format allows where.
fn prepare(mut sc: Scenario) -> Scenario {
    let mut tasks = Vec::with_capacity(sc.tasks.len());
    for t in std::mem::take(&mut sc.tasks) {
        let Some(n) = t.chain else {
            tasks.push(t);
            continue;
        };
        // `NAME1` after the task's `after`, each next one after the one before.
        for i in 1..=n {
            let mut link = t.clone();
            link.chain = None;
            link.name = format!("{}{i}", t.name);
            if i > 1 {
                link.after = vec![format!("{}{}", t.name, i - 1)];
            }
            tasks.push(link);
        }
    }
    sc.tasks = tasks;
    let mut cached: HashMap<&str, String> = HashMap::new();
    let mut calls: Vec<(&TaskDef, bool)> = sc.main.iter().map(|m| (m, true)).collect();
    calls.extend(sc.tasks.iter().map(|t| (t, false)));
    while let Some((d, in_main)) = calls.pop() {
        let group = !d.parallel.is_empty();
        assert!(
            in_main || !group,
            "{}: {:?}: `parallel` is for main entries",
            sc.name,
            d.name
        );
        assert!(
            !d.fail_fast || group,
            "{}: {:?}: a call's `fail_fast` needs `parallel`",
            sc.name,
            d.name
        );
        assert!(
            !group || (d.attempts.is_empty() && !d.cached),
            "{}: {:?}: a group has members, not a script",
            sc.name,
            d.name
        );
        if d.cached {
            // Every call of a cached name runs the first call's script: write them alike.
            let text = format!("{d:?}");
            let first = cached
                .entry(d.name.as_str())
                .or_insert_with(|| text.clone());
            assert_eq!(
                *first, text,
                "{}: cached calls of {:?} differ",
                sc.name, d.name
            );
        }
        calls.extend(d.parallel.iter().map(|m| (m, false)));
        for a in &d.attempts {
            assert!(
                !a.fail_fast || !a.calls.is_empty(),
                "{}: {:?}: `fail_fast` needs `calls`",
                sc.name,
                d.name
            );
            calls.extend(a.calls.iter().map(|c| (c, false)));
        }
    }
    sc
}

pub fn options_of(t: &TaskDef) -> TaskOptions {
    let mut o = TaskOptions::default().retries(t.retries);
    if let Some(ms) = t.timeout_ms {
        o = o.timeout(Duration::from_millis(ms));
    }
    for k in &t.sequences {
        o = o.sequence(k.clone());
    }
    for k in &t.uses {
        o = o.uses(k.clone());
    }
    if let Some(rule) = &t.trigger {
        o = o.trigger(rule.parse().expect("a trigger rule's name"));
    }
    if let Some(ms) = t.cost_ms {
        o = o.cost(Duration::from_millis(ms));
    }
    if t.when.is_some() {
        o = o.conditional(true);
    }
    if let Some(b) = &t.backoff {
        let backoff = match (b.fixed_ms, b.initial_ms) {
            (Some(ms), _) => Backoff::fixed(Duration::from_millis(ms)),
            (None, Some(ms)) => {
                let mut e = Backoff::exponential(Duration::from_millis(ms));
                if let Some(f) = b.factor {
                    e = e.factor(f);
                }
                if let Some(m) = b.max_ms {
                    e = e.max(Duration::from_millis(m));
                }
                e
            }
            (None, None) => Backoff::None,
        };
        o = o.backoff(backoff);
    }
    o
}

/// The run's `limits` and `priority` on `opts`.
pub fn run_rules(run: &RunDef, mut opts: RunOptions) -> RunOptions {
    for (k, &n) in &run.limits {
        opts = opts.limit(k.clone(), n);
    }
    if let Some(p) = &run.priority {
        opts = opts.priority(p.parse().expect("a priority's name"));
    }
    opts
}

/// A scenario task's condition as its predicate gives it: `Ok(bool)`, or the error a
/// `"raise"` condition raises.
pub fn condition_of(t: &TaskDef) -> Result<bool, String> {
    match &t.when {
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s == "raise" => Err("condition raised".into()),
        other => panic!(
            "{}: `when` must be true, false or \"raise\", got {other:?}",
            t.name
        ),
    }
}

/// The keys a task's attempt holds (its `sequences` and its `uses`).
pub fn keys_of(t: &TaskDef) -> Vec<String> {
    t.sequences.iter().chain(&t.uses).cloned().collect()
}

/// Counts running holders per key and keeps each key's peak.
#[derive(Debug, Default)]
pub struct Holding {
    now: HashMap<String, usize>,
}

impl Holding {
    /// An attempt holding `keys` began.
    pub fn begin(&mut self, keys: &[String], peak: &mut HashMap<String, usize>) {
        for k in keys {
            let n = self.now.entry(k.clone()).or_default();
            *n += 1;
            let p = peak.entry(k.clone()).or_default();
            *p = (*p).max(*n);
        }
    }

    /// An attempt holding `keys` ended.
    pub fn end(&mut self, keys: &[String]) {
        for k in keys {
            if let Some(n) = self.now.get_mut(k) {
                *n = n.saturating_sub(1);
            }
        }
    }
}

/// What one run produced, in the terms scenarios are checked against.
#[derive(Debug, Default)]
pub struct Observed {
    pub error: Option<String>,
    pub plan: Vec<Vec<String>>,
    pub ok: bool,
    /// Per task (by name; dynamic tasks may repeat names — the last one wins here).
    pub status: HashMap<String, String>,
    pub counts: HashMap<String, usize>,
    pub attempts: HashMap<String, u32>,
    pub skip_reason: HashMap<String, String>,
    pub errors: HashMap<String, String>,
    pub values: HashMap<String, Value>,
    pub starts_ms: HashMap<String, u64>,
    pub ends_ms: HashMap<String, u64>,
    pub total_ms: u64,
    pub max_running: usize,
    /// Per key: the peak number of running attempts holding it.
    pub max_holding: HashMap<String, usize>,
    pub started_order: Vec<String>,
    pub trace: Vec<String>,
    pub stop: Option<String>,
    /// What `run()` raised: the error of a `main` that was stopped or raised; `None` when it
    /// returned (or for a flow).
    pub main_error: Option<String>,
    /// The error of each task's last `task_completion` payload.
    pub completion_errors: HashMap<String, Option<String>>,
    /// The tasks that ended resumed, in report order.
    pub resumed: Vec<String>,
}

/// Checks `obs` against the scenario's expectations; returns every mismatch.
pub fn check(sc: &Scenario, obs: &Observed, exact_times: bool) -> Vec<String> {
    let e = &sc.expect;
    let mut bad = Vec::new();
    let mut eq = |what: &str, want: String, got: String| {
        if want != got {
            bad.push(format!("{what}: expected {want}, got {got}"));
        }
    };
    if let Some(err) = &e.error {
        eq(
            "error",
            format!("{err:?}"),
            format!("{:?}", obs.error.as_deref().unwrap_or("")),
        );
        return bad;
    }
    if let Some(err) = &obs.error {
        return vec![format!("unexpected error: {err}")];
    }
    if let Some(plan) = &e.plan {
        eq("plan", format!("{plan:?}"), format!("{:?}", obs.plan));
    }
    if let Some(ok) = e.ok {
        eq("ok", ok.to_string(), obs.ok.to_string());
    }
    for (k, v) in &e.status {
        eq(
            &format!("status of {k}"),
            v.clone(),
            obs.status.get(k).cloned().unwrap_or_default(),
        );
    }
    for (k, v) in &e.counts {
        eq(
            &format!("count of {k}"),
            v.to_string(),
            obs.counts.get(k).copied().unwrap_or(0).to_string(),
        );
    }
    for (k, v) in &e.attempts {
        eq(
            &format!("attempts of {k}"),
            v.to_string(),
            obs.attempts.get(k).copied().unwrap_or(0).to_string(),
        );
    }
    for (k, v) in &e.skip_reason {
        eq(
            &format!("skip reason of {k}"),
            v.clone(),
            obs.skip_reason.get(k).cloned().unwrap_or_default(),
        );
    }
    for (k, v) in &e.errors {
        eq(
            &format!("error of {k}"),
            v.clone(),
            obs.errors.get(k).cloned().unwrap_or_default(),
        );
    }
    for (k, v) in &e.values {
        eq(
            &format!("value of {k}"),
            v.to_string(),
            obs.values
                .get(k)
                .cloned()
                .unwrap_or(Value::Null)
                .to_string(),
        );
    }
    for (a, b) in &e.before {
        match (obs.ends_ms.get(a), obs.starts_ms.get(b)) {
            (Some(ea), Some(sb)) if ea <= sb => {}
            other => eq(
                &format!("{a} ends before {b} starts"),
                "true".into(),
                format!("{other:?}"),
            ),
        }
    }
    if let Some(order) = &e.started_order {
        eq(
            "started order",
            format!("{order:?}"),
            format!("{:?}", obs.started_order),
        );
    }
    if let Some(m) = e.max_running {
        eq("max running", m.to_string(), obs.max_running.to_string());
    }
    for (k, v) in &e.max_holding {
        eq(
            &format!("max holding {k}"),
            v.to_string(),
            obs.max_holding.get(k).copied().unwrap_or(0).to_string(),
        );
    }
    if let Some(trace) = &e.trace {
        eq("trace", format!("{trace:#?}"), format!("{:#?}", obs.trace));
    }
    if let Some(stop) = &e.stop {
        eq("stop", stop.clone(), obs.stop.clone().unwrap_or_default());
    }
    if let Some(resumed) = &e.resumed {
        let (mut want, mut got) = (resumed.clone(), obs.resumed.clone());
        want.sort();
        got.sort();
        eq("resumed", format!("{want:?}"), format!("{got:?}"));
    }
    if !sc.main.is_empty() || e.main_error.is_some() {
        // Absent: main returned.
        eq(
            "main error",
            format!("{:?}", e.main_error),
            format!("{:?}", obs.main_error),
        );
    }
    for (k, v) in &e.completion_errors {
        eq(
            &format!("completion error of {k}"),
            format!("{v:?}"),
            obs.completion_errors
                .get(k)
                .map_or("no task_completion".into(), |x| format!("{x:?}")),
        );
    }
    if exact_times {
        for (k, v) in &e.starts_ms {
            eq(
                &format!("start of {k}"),
                v.to_string(),
                obs.starts_ms.get(k).map_or("-".into(), |x| x.to_string()),
            );
        }
        for (k, v) in &e.ends_ms {
            eq(
                &format!("end of {k}"),
                v.to_string(),
                obs.ends_ms.get(k).map_or("-".into(), |x| x.to_string()),
            );
        }
        if let Some(t) = e.total_ms {
            eq("total", t.to_string(), obs.total_ms.to_string());
        }
    }
    bad
}

/// Who gets a call's outcome.
#[derive(Debug, Clone, Copy)]
enum Waiter {
    /// A running task's attempt (one of its `calls`).
    Task(TaskId, u32),
    /// `main`, for its entry at this index.
    Main(usize),
}

/// What is due at a virtual time.
#[derive(Debug)]
enum Due {
    /// An attempt ends (as its script says, or as `decided`).
    Attempt(TaskId, u32),
    /// An async hook (`run.hook_ms`) is done, or raises this message.
    Hook(HookToken, Option<String>),
    /// `main` returns (`main_ms` after its last entry settled).
    MainReturns,
}

/// Where `main` is: the entries it has not called, and what it got.
#[derive(Default)]
struct MainSim {
    /// Returned, raised, or stopped by the run: it calls nothing more.
    over: bool,
    /// Entries not called yet (they wait for the earlier entries named in `after`).
    uncalled: Vec<usize>,
    /// Per entry: members whose outcome main has not got yet.
    left: Vec<usize>,
    /// Per entry: whether every member that settled succeeded.
    ok: Vec<bool>,
    /// Settled entries by name: whether they succeeded.
    settled: HashMap<String, bool>,
    /// Entries not settled (called or not).
    entries_left: usize,
}

/// A behaviour per task id (static first, dynamic as spawned).
struct Sim<'a> {
    sc: &'a Scenario,
    graph: Arc<Graph>,
    s: Scheduler<Value>,
    defs: Vec<TaskDef>,
    now: u64,
    seq: u64,
    due: BTreeMap<(u64, u64), Due>,
    /// Per calling attempt (task, attempt): calls whose outcome it has not got yet.
    waiting: HashMap<(TaskId, u32), usize>,
    /// Who gets each spawned call's outcome (`None`: a cached call's task, whose callers
    /// all join it).
    owner: HashMap<TaskId, Option<Waiter>>,
    /// Who waits in each join.
    joins: HashMap<JoinId, Waiter>,
    /// Cached calls by name: the task of the first call.
    memo: HashMap<String, TaskId>,
    /// Attempts whose outcome is decided before they end: `value_of` read at the start, or
    /// the error of a member of their fail-fast group.
    decided: HashMap<(TaskId, u32), Result<Value, String>>,
    main: MainSim,
    /// Running attempts' keys, and how many hold each key now.
    holders: HashMap<(TaskId, u32), Vec<String>>,
    holding: Holding,
    obs: Observed,
}

impl Sim<'_> {
    /// Attempt `attempt` of `t` no longer runs: it holds its keys no more.
    fn release_keys(&mut self, t: TaskId, attempt: u32) {
        if let Some(keys) = self.holders.remove(&(t, attempt)) {
            self.holding.end(&keys);
        }
    }

    fn now(&self) -> Duration {
        Duration::from_millis(self.now)
    }

    fn attempt_def(&self, t: TaskId, attempt: u32) -> AttemptDef {
        let d = &self.defs[t.index()];
        if d.attempts.is_empty() {
            return AttemptDef {
                retryable: true,
                ..Default::default()
            };
        }
        let i = (attempt as usize - 1).min(d.attempts.len() - 1);
        d.attempts[i].clone()
    }

    /// A new dynamic task for `def`, called by `caller`; `owner` gets its outcome.
    fn spawn(
        &mut self,
        caller: Option<(TaskId, u32)>,
        def: &TaskDef,
        owner: Option<Waiter>,
    ) -> TaskId {
        let id = self
            .s
            .spawn(
                caller,
                Arc::from(def.name.as_str()),
                Arc::new(options_of(def)),
                self.now(),
            )
            .expect("the caller is a task of the run");
        assert_eq!(id.index(), self.defs.len());
        self.defs.push(def.clone());
        self.owner.insert(id, owner);
        id
    }

    /// `w` calls `def`: a new task, or for a cached call, a join of the first call's task
    /// (made here, as the run's, if this is the first).
    fn call(&mut self, w: Waiter, def: &TaskDef) -> TaskId {
        let caller = match w {
            Waiter::Task(t, a) => Some((t, a)),
            Waiter::Main(_) => None,
        };
        if !def.cached {
            return self.spawn(caller, def, Some(w));
        }
        let x = match self.memo.get(&def.name) {
            Some(&x) => x,
            None => {
                let x = self.spawn(None, def, None);
                self.memo.insert(def.name.clone(), x);
                x
            }
        };
        let j = self
            .s
            .join(caller, x, self.now())
            .expect("tasks of the run");
        self.joins.insert(j, w);
        x
    }

    fn due_at(&mut self, at: u64, what: Due) {
        self.seq += 1;
        self.due.insert((at, self.seq), what);
    }

    /// The input reporting the end of attempt `attempt` of task `t`.
    fn finished(&mut self, t: TaskId, attempt: u32) -> Input<Value> {
        self.release_keys(t, attempt);
        let a = self.attempt_def(t, attempt);
        let outcome = match self.decided.remove(&(t, attempt)) {
            Some(Ok(v)) => Outcome::Ok(v),
            Some(Err(message)) => Outcome::fail(message),
            None => match a.result.as_deref().unwrap_or("ok") {
                "ok" => Outcome::Ok(a.value.clone()),
                "fail" => Outcome::Err {
                    error: legato::event::TaskError::failed(
                        a.error.clone().unwrap_or_else(|| "failed".into()),
                    ),
                    retryable: a.retryable,
                },
                other => panic!("unknown result {other:?}"),
            },
        };
        Input::Finished {
            task: t,
            attempt,
            outcome,
        }
    }

    /// `w` gets the outcome of finished task `task`.
    fn got(&mut self, w: Waiter, task: TaskId) {
        let out = self.s.call_outcome(task).expect("a task of the run");
        let ok = out.is_ok();
        let error = out.error().map(|e| e.message.to_string());
        match w {
            Waiter::Task(p, attempt) => {
                let n = self
                    .waiting
                    .get_mut(&(p, attempt))
                    .expect("a calling attempt");
                *n -= 1;
                let n = *n;
                if self.s.status(p) != Status::Running
                    || self.s.attempt(p) != attempt
                    || self.decided.contains_key(&(p, attempt))
                {
                    return; // the attempt is over, or its end is already due
                }
                let a = self.attempt_def(p, attempt);
                if !ok && a.fail_fast {
                    // `await` of a fail-fast group throws: the attempt fails with it at once.
                    self.decided
                        .insert((p, attempt), Err(error.unwrap_or_default()));
                    self.due_at(self.now, Due::Attempt(p, attempt));
                } else if n == 0 {
                    // The core delivers the last awaited outcome once the caller holds a
                    // slot again; then the caller works on.
                    self.due_at(self.now + a.ms, Due::Attempt(p, attempt));
                }
            }
            Waiter::Main(i) => {
                if self.main.over {
                    return;
                }
                let sc = self.sc;
                let def = &sc.main[i];
                self.main.left[i] -= 1;
                self.main.ok[i] &= ok;
                if !ok && def.fail_fast {
                    // `await group(…)` throws: main raises the member's own error. The Rust
                    // door cannot tell the core that main raised, so no door does.
                    self.main.over = true;
                    self.obs.main_error = error;
                    self.s.main_finished(true, self.now());
                    return;
                }
                if self.main.left[i] == 0 {
                    self.main.settled.insert(def.name.clone(), self.main.ok[i]);
                    self.main.entries_left -= 1;
                    self.call_main();
                }
            }
        }
    }

    fn pump(&mut self) {
        while let Some(command) = self.s.next_command() {
            self.obs.max_running = self.obs.max_running.max(self.s.running());
            let now = self.now();
            match command {
                Command::Start { task, attempt } => {
                    if attempt == 1 {
                        self.obs.started_order.push(self.s.name(task).to_owned());
                    }
                    let keys = keys_of(&self.defs[task.index()]);
                    if !keys.is_empty() {
                        self.holding.begin(&keys, &mut self.obs.max_holding);
                        self.holders.insert((task, attempt), keys);
                    }
                    let a = self.attempt_def(task, attempt);
                    if let Some(src) = &a.value_of {
                        // Rule 10: any task that succeeded by now, upstream or not.
                        let v = self.graph.get(src).and_then(|id| self.s.value(id)).cloned();
                        self.decided.insert(
                            (task, attempt),
                            v.ok_or_else(|| format!("no result for {src:?}")),
                        );
                    }
                    if !a.calls.is_empty() {
                        self.waiting.insert((task, attempt), a.calls.len());
                        let w = Waiter::Task(task, attempt);
                        let ids: Vec<TaskId> = a.calls.iter().map(|c| self.call(w, c)).collect();
                        if a.fail_fast {
                            let _ = self
                                .s
                                .group(Some((task, attempt)), &ids, now)
                                .expect("tasks of the run");
                        }
                    } else if a.result.as_deref() != Some("hang") {
                        self.due_at(self.now + a.ms, Due::Attempt(task, attempt));
                    }
                }
                Command::Cancel { task, attempt, .. } => self.release_keys(task, attempt),
                Command::Evaluate { task } => {
                    let value = condition_of(&self.defs[task.index()])
                        .map_err(legato::event::TaskError::failed);
                    self.s
                        .evaluated(task, value, now)
                        .expect("a task of the run");
                }
                Command::Deliver { task } => {
                    if let Ok(Ok(v)) = self.s.outcome(task) {
                        self.obs
                            .values
                            .insert(self.s.name(task).to_owned(), v.clone());
                    }
                    if let Some(&Some(w)) = self.owner.get(&task) {
                        self.got(w, task);
                    }
                }
                Command::Joined { join, task } => {
                    let w = self.joins[&join];
                    self.got(w, task);
                }
                Command::StartMain => self.call_main(),
                Command::CancelMain => {
                    self.main.over = true;
                    self.obs.main_error = Some(
                        self.s
                            .stop_error()
                            .map_or("run cancelled".into(), |e| e.message.to_string()),
                    );
                }
                Command::Emit { event, token } => {
                    let line = self.trace_line(&event);
                    if let Event::TaskCompletion { .. } = *event {
                        let p = Payload::new(&self.s, &event);
                        let error = p.error.map(|e| e.message.to_string());
                        self.obs.completion_errors.insert(p.name.to_owned(), error);
                    }
                    let fail = self.sc.run.hook_failures.get(&line).cloned();
                    let hook_ms = self.sc.run.hook_ms.get(&line).copied();
                    self.obs.trace.push(line);
                    match (hook_ms, fail) {
                        (Some(ms), fail) => self.due_at(self.now + ms, Due::Hook(token, fail)),
                        (None, Some(msg)) => self
                            .s
                            .hook_failed(token, msg, now)
                            .expect("a token of the run"),
                        (None, None) => self.s.hook_done(token, now).expect("a token of the run"),
                    }
                }
                Command::Finished => {}
                other => panic!("unexpected command {other:?}"),
            }
        }
    }

    /// Calls every `main` entry whose `after` entries are all settled, as `await a; b()`
    /// would: only if they all succeeded; otherwise `main` never calls it. Once every entry
    /// settled, main returns `main_ms` later.
    fn call_main(&mut self) {
        let sc = self.sc;
        while !self.main.over {
            let Some(pos) = self.main.uncalled.iter().position(|&i| {
                sc.main[i]
                    .after
                    .iter()
                    .all(|a| self.main.settled.contains_key(a))
            }) else {
                break;
            };
            let i = self.main.uncalled.remove(pos);
            let def = &sc.main[i];
            if !def.after.iter().all(|a| self.main.settled[a]) {
                self.main.settled.insert(def.name.clone(), false);
                self.main.entries_left -= 1;
                continue;
            }
            let members = if def.parallel.is_empty() {
                std::slice::from_ref(def)
            } else {
                &def.parallel[..]
            };
            self.main.left[i] = members.len();
            let ids: Vec<TaskId> = members
                .iter()
                .map(|m| self.call(Waiter::Main(i), m))
                .collect();
            if def.fail_fast {
                let _ = self
                    .s
                    .group(None, &ids, self.now())
                    .expect("tasks of the run");
            }
        }
        if !self.main.over && self.main.entries_left == 0 {
            self.main.entries_left = usize::MAX; // returns once
            self.due_at(self.now + sc.main_ms, Due::MainReturns);
        }
    }

    fn trace_line(&self, e: &Event) -> String {
        let n = |t: &TaskId| self.s.name(*t).to_owned();
        match e {
            Event::ProcessBegin => "process_begin".into(),
            Event::TaskReady { task } => format!("task_ready {}", n(task)),
            Event::TaskBegin { task, attempt } => format!("task_begin {} {attempt}", n(task)),
            Event::TaskRetry { task, attempt, .. } => format!("task_retry {} {attempt}", n(task)),
            Event::TaskSuccess { task, .. } => format!("task_success {}", n(task)),
            Event::TaskFailure { task, .. } => format!("task_failure {}", n(task)),
            Event::TaskSkip { task, .. } => format!("task_skip {}", n(task)),
            Event::TaskCompletion { task, status, .. } => {
                format!("task_completion {} {status}", n(task))
            }
            Event::ProcessCompletion { .. } => "process_completion".into(),
            other => format!("{other:?}"),
        }
    }

    /// Takes what is due at `self.now` (in the order it became due) into the run.
    fn take_due(&mut self) {
        let now = self.now();
        while let Some(entry) = self.due.first_entry() {
            if entry.key().0 > self.now {
                break;
            }
            match entry.remove() {
                Due::Attempt(t, a) => {
                    let input = self.finished(t, a);
                    self.s.handle(now, [input]).expect("a task of the run");
                }
                Due::Hook(token, None) => self.s.hook_done(token, now).expect("a token"),
                Due::Hook(token, Some(msg)) => {
                    self.s.hook_failed(token, msg, now).expect("a token")
                }
                Due::MainReturns => {
                    if !self.main.over {
                        self.main.over = true;
                        self.s.main_finished(true, now);
                    }
                }
            }
            self.pump();
        }
    }
}

/// Runs a scenario on the state machine with a virtual clock.
pub fn run_virtual(sc: &Scenario) -> Observed {
    let mut b = GraphBuilder::new();
    for t in &sc.tasks {
        let spec = TaskSpec::new(t.name.clone())
            .after(t.after.iter().cloned())
            .options(options_of(t));
        if let Err(e) = b.add(spec) {
            return Observed {
                error: Some(e.to_string()),
                ..Default::default()
            };
        }
    }
    let graph = match b.build() {
        Ok(g) => Arc::new(g),
        Err(e) => {
            return Observed {
                error: Some(e.to_string()),
                ..Default::default()
            }
        }
    };
    let sel = match graph.select(&sc.run.targets) {
        Ok(s) => s,
        Err(e) => {
            return Observed {
                error: Some(e.to_string()),
                ..Default::default()
            }
        }
    };
    let plan = graph
        .plan(&sel)
        .names(&graph)
        .into_iter()
        .map(|l| l.into_iter().map(String::from).collect())
        .collect();
    let mut opts = RunOptions::default()
        .fail_fast(sc.run.fail_fast)
        .hooks(HookMask::ALL);
    if let Some(n) = sc.run.max_parallel {
        opts = opts.max_parallel(n);
    }
    if let Some(ms) = sc.run.timeout_ms {
        opts = opts.timeout(Duration::from_millis(ms));
    }
    opts = run_rules(&sc.run, opts);
    let defs: Vec<TaskDef> = sc.tasks.clone();
    let mut sim = Sim {
        sc,
        graph: graph.clone(),
        s: Scheduler::new(graph.clone(), &sel, opts).expect("valid run options"),
        defs,
        now: 0,
        seq: 0,
        due: BTreeMap::new(),
        waiting: HashMap::new(),
        owner: HashMap::new(),
        joins: HashMap::new(),
        memo: HashMap::new(),
        decided: HashMap::new(),
        main: MainSim {
            over: false,
            uncalled: (0..sc.main.len()).collect(),
            left: vec![0; sc.main.len()],
            ok: vec![true; sc.main.len()],
            settled: HashMap::new(),
            entries_left: sc.main.len(),
        },
        holders: HashMap::new(),
        holding: Holding::default(),
        obs: Observed {
            plan,
            ..Default::default()
        },
    };
    if let Some(resume) = &sc.run.resume {
        // A resumed run (DESIGN "Resume"): a name the flow lacks is refused before anything runs.
        for (name, value) in resume_order(sc, resume) {
            match graph.resolve(name) {
                Ok(id) => sim
                    .s
                    .restore(id, Some(value.clone()))
                    .expect("a task of the run"),
                Err(e) => {
                    return Observed {
                        error: Some(e.to_string()),
                        ..Default::default()
                    }
                }
            }
        }
    }
    if sc.main.is_empty() {
        sim.s.start(Duration::ZERO);
    } else {
        // The core starts main (Command::StartMain) once process_begin's hooks are done.
        sim.s.start_main(Duration::ZERO);
    }
    let mut cancelled = false;
    let mut steps = 0u64;
    loop {
        sim.pump();
        if sim.s.is_finished() {
            break;
        }
        steps += 1;
        assert!(steps < 10_000_000, "{}: the run does not end", sc.name);
        let next_due = sim.due.keys().next().map(|(t, _)| *t);
        let next_timer = sim.s.next_deadline().map(|d| d.as_millis() as u64);
        let next_cancel = sc.run.cancel_at_ms.filter(|_| !cancelled);
        let Some(next) = [next_due, next_timer, next_cancel]
            .into_iter()
            .flatten()
            .min()
        else {
            panic!("{}: the run hangs: nothing due and not finished", sc.name);
        };
        sim.now = sim.now.max(next);
        let now = sim.now();
        if next_cancel.is_some_and(|c| c <= sim.now) {
            // The cancel and every attempt that finishes at the same instant go in as one
            // batch, the cancel first: the scheduler takes the finished attempts first.
            cancelled = true;
            let mut batch = vec![Input::Cancel];
            let ends: Vec<(u64, u64)> = sim
                .due
                .iter()
                .take_while(|((at, _), _)| *at <= sim.now)
                .filter(|(_, d)| matches!(d, Due::Attempt(..)))
                .map(|(k, _)| *k)
                .collect();
            for k in ends {
                if let Some(Due::Attempt(t, a)) = sim.due.remove(&k) {
                    batch.push(sim.finished(t, a));
                }
            }
            sim.s.handle(now, batch).expect("tasks of the run");
            sim.pump();
        }
        sim.take_due();
        sim.s.advance(now);
    }
    if !sc.main.is_empty() && sim.obs.main_error.is_none() {
        // A hook that raised after main returned fails the run too: run() raises its error.
        if let Some(StopReason::HookFailed { .. }) = sim.s.stop_reason() {
            sim.obs.main_error = sim.s.stop_error().map(|e| e.message.to_string());
        }
    }
    let report = sim.s.report();
    let mut obs = sim.obs;
    observe_report(&report, &mut obs);
    for t in &report.tasks {
        if let Some(v) = sim.s.value(t.id) {
            obs.values.insert(t.name.to_string(), v.clone());
        }
    }
    obs
}

/// Fills in what a run's report says (everything but `values`, `plan`, `trace`,
/// `started_order` and `max_running`, which a runner observes itself).
pub fn observe_report(report: &RunReport, obs: &mut Observed) {
    obs.ok = report.ok();
    obs.total_ms = report.total.as_millis() as u64;
    obs.stop = report.stop.as_ref().map(|s| s.to_string());
    for t in &report.tasks {
        let name = t.name.to_string();
        *obs.counts.entry(t.status.as_str().into()).or_default() += 1;
        obs.status.insert(name.clone(), t.status.as_str().into());
        obs.attempts.insert(name.clone(), t.attempts);
        if let Some(r) = &t.skip_reason {
            obs.skip_reason.insert(name.clone(), r.to_string());
        }
        if let Some(e) = &t.error {
            obs.errors.insert(name.clone(), e.message.to_string());
        }
        if let Some(s) = t.started {
            obs.starts_ms.insert(name.clone(), s.as_millis() as u64);
        }
        if let Some(e) = t.finished {
            obs.ends_ms.insert(name.clone(), e.as_millis() as u64);
        }
        if t.resumed {
            obs.resumed.push(name.clone());
        }
    }
}

/// The tasks of `run.resume` in the flow's declaration order (a report lists them so), then
/// those the flow does not have, with their results.
pub fn resume_order<'a>(
    sc: &'a Scenario,
    resume: &'a BTreeMap<String, Value>,
) -> Vec<(&'a str, &'a Value)> {
    let mut out: Vec<(&str, &Value)> = sc
        .tasks
        .iter()
        .filter_map(|t| resume.get_key_value(&t.name))
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    for (k, v) in resume {
        if !sc.tasks.iter().any(|t| &t.name == k) {
            out.push((k.as_str(), v));
        }
    }
    out
}

#[test]
fn every_scenario_passes_on_the_virtual_clock() {
    let all = load_all();
    let mut failures = Vec::new();
    for sc in &all {
        let obs = run_virtual(sc);
        let bad = check(sc, &obs, true);
        if !bad.is_empty() {
            failures.push(format!("{}:\n  {}", sc.name, bad.join("\n  ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} scenario(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let files = std::fs::read_dir(scenario_dir()).unwrap().count();
    assert_eq!(all.len(), files, "every file of tests/scenarios ran");
}

/// The checker is not vacuous: one scenario passes as written, and every single altered
/// expectation (one field at a time) is reported as a mismatch naming that field.
#[test]
fn the_checker_reports_altered_expectations() {
    let all = load_all();
    let sc = all
        .iter()
        .find(|s| s.name == "rules-retries-exhausted")
        .expect("the scenario exists");
    let obs = run_virtual(sc);
    assert_eq!(
        check(sc, &obs, true),
        Vec::<String>::new(),
        "the scenario passes as written"
    );

    type Alter = fn(&mut Expect);
    let alterations: &[(&str, Alter, bool)] = &[
        ("ok", |e| e.ok = Some(true), false),
        (
            "status of next",
            |e| {
                e.status.insert("next".into(), "succeeded".into());
            },
            false,
        ),
        (
            "attempts of flaky",
            |e| {
                e.attempts.insert("flaky".into(), 2);
            },
            false,
        ),
        (
            "error of flaky",
            |e| {
                e.errors.insert("flaky".into(), "e1".into());
            },
            false,
        ),
        (
            "skip reason of next",
            |e| {
                e.skip_reason
                    .insert("next".into(), "dependency \"next\" failed".into());
            },
            false,
        ),
        (
            "value of flaky",
            |e| {
                e.values.insert("flaky".into(), Value::from(1));
            },
            false,
        ),
        (
            "count of failed",
            |e| {
                e.counts.insert("failed".into(), 2);
            },
            false,
        ),
        (
            "flaky ends before next starts",
            |e| e.before.push(("flaky".into(), "next".into())),
            false,
        ),
        (
            "started order",
            |e| e.started_order = Some(vec!["next".into(), "flaky".into()]),
            false,
        ),
        ("max running", |e| e.max_running = Some(2), false),
        ("stop", |e| e.stop = Some("run cancelled".into()), false),
        ("resumed", |e| e.resumed = Some(vec!["flaky".into()]), false),
        (
            "plan",
            |e| e.plan = Some(vec![vec!["next".into()], vec!["flaky".into()]]),
            false,
        ),
        (
            "trace",
            |e| {
                if let Some(t) = &mut e.trace {
                    t.swap(3, 4);
                }
            },
            false,
        ),
        (
            "error",
            |e| e.error = Some("Task \"flaky\" is defined twice".into()),
            false,
        ),
        (
            "start of flaky",
            |e| {
                e.starts_ms.insert("flaky".into(), 1);
            },
            true,
        ),
        (
            "end of flaky",
            |e| {
                e.ends_ms.insert("flaky".into(), 12);
            },
            true,
        ),
        ("total", |e| e.total_ms = Some(14), true),
    ];
    for (what, alter, timing) in alterations {
        let mut wrong = sc.clone();
        alter(&mut wrong.expect);
        let bad = check(&wrong, &obs, true);
        assert!(
            bad.iter().any(|b| b.starts_with(what)),
            "altering {what:?} must be reported, got {bad:?}"
        );
        if *timing {
            // Exact times are only checked on a virtual clock.
            assert_eq!(
                check(&wrong, &obs, false),
                Vec::<String>::new(),
                "{what} off a virtual clock"
            );
        }
    }
}

/// Together the scenarios cover every rule of DESIGN.md's "Scheduler semantics", the error
/// texts, and every seed document.
#[test]
fn the_suite_covers_every_rule_and_seed() {
    let all = load_all();
    let mut wanted: Vec<String> = (1..=14).map(|n| format!("rule {n}")).collect();
    wanted.extend(
        [
            "errors",
            "barista",
            "lightflow",
            "spry",
            "pynenc",
            "npm",
            "limits",
            "conditions",
            "triggers",
            "priority",
            "resume",
        ]
        .map(String::from),
    );
    for sc in &all {
        assert!(!sc.covers.is_empty(), "{}: says what it covers", sc.name);
        assert!(
            !sc.description.is_empty() || sc.expect.error.is_some(),
            "{}: has a description",
            sc.name
        );
        for c in &sc.covers {
            assert!(
                wanted.contains(c),
                "{}: unknown coverage tag {c:?}",
                sc.name
            );
        }
    }
    for w in &wanted {
        let n = all.iter().filter(|s| s.covers.contains(w)).count();
        assert!(n >= 2, "only {n} scenario(s) cover {w}");
    }
}

/// A scenario that expects nothing is refused (it could never fail).
#[test]
fn a_scenario_must_expect_something() {
    let sc: Scenario =
        serde_json::from_str(r#"{ "name": "x", "tasks": [{ "name": "a" }], "expect": {} }"#)
            .unwrap();
    assert!(sc.expect.is_empty());
    let sc: Scenario = serde_json::from_str(
        r#"{ "name": "x", "tasks": [{ "name": "a" }], "expect": { "ok": true } }"#,
    )
    .unwrap();
    assert!(!sc.expect.is_empty());
}

/// The checker reads `max_holding`: an altered peak is reported, and the peak observed is the
/// key's capacity (without `run.limits`, the key has capacity 1 and the peak is 1).
#[test]
fn the_checker_reports_max_holding() {
    let all = load_all();
    let sc = all
        .iter()
        .find(|s| s.name == "limits-never-more-than-capacity")
        .expect("the scenario exists");
    let obs = run_virtual(sc);
    assert_eq!(check(sc, &obs, true), Vec::<String>::new());
    let mut wrong = sc.clone();
    wrong.expect.max_holding.insert("db".into(), 3);
    assert_eq!(
        check(&wrong, &obs, true),
        ["max holding db: expected 3, got 2"]
    );
    let mut unlimited = sc.clone();
    unlimited.run.limits.clear();
    assert_eq!(run_virtual(&unlimited).max_holding.get("db"), Some(&1));
}
