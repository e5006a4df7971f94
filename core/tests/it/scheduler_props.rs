//! Property tests of the scheduler state machine on a virtual clock.
//!
//! A driver (in the spirit of `scenarios.rs`) plays random cases against [`Scheduler`]: random
//! DAGs with random options and scripted attempt outcomes, random run options, hooks acknowledged
//! at once or after a random delay, an optional external cancel or run timeout. It watches every
//! action and checks the contract of DESIGN.md ("Scheduler semantics", "Events and hooks") while
//! the run goes on and once it is over. A second property does the same for dynamic tasks
//! (random recursive call trees).

use legato::event::{Event, EventKind, HookMask, SkipReason, Status, StopReason, TaskError};
use legato::graph::{Graph, GraphBuilder, TaskId, TaskSpec};
use legato::policy::{Backoff, TaskOptions};
use legato::report::RunReport;
use legato::scheduler::{Command, HookToken, Outcome, RunOptions, Scheduler, Spare};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::Duration;

/// Fails the current check with a message (the drivers return `Result<_, String>` so that
/// proptest can shrink without a panic per step).
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

const STEP_LIMIT: u64 = 200_000;
const KEYS: [&str; 3] = ["k0", "k1", "k2"];

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// splitmix64, for the driver's own choices (hook acknowledgement delays).
fn next_rand(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

// ----- cases ---------------------------------------------------------------------------------

/// What one attempt does.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Step {
    /// Succeeds after `d` ms.
    Ok(u64),
    /// Fails after `d` ms; retryable or not (`retry_if`).
    Fail(u64, bool),
    /// Never reports (only with a timeout or a run-level stop).
    Hang,
}

#[derive(Debug, Clone, Copy)]
enum BackoffCase {
    None,
    Fixed(u64),
    /// initial ms, factor, cap ms.
    Exp(u64, u32, u64),
}

impl BackoffCase {
    fn policy(self) -> Backoff {
        match self {
            BackoffCase::None => Backoff::None,
            BackoffCase::Fixed(d) => Backoff::fixed(ms(d)),
            BackoffCase::Exp(i, f, m) => Backoff::exponential(ms(i)).factor(f as f64).max(ms(m)),
        }
    }
}

#[derive(Debug, Clone)]
struct TaskCase {
    /// Indices of earlier tasks (so the graph is acyclic).
    deps: Vec<usize>,
    retries: u32,
    backoff: BackoffCase,
    timeout: Option<u64>,
    keys: Vec<usize>,
    /// Attempt `a` follows `script[a - 1]` (4 entries: at most 4 attempts).
    script: Vec<Step>,
}

impl TaskCase {
    fn options(&self) -> TaskOptions {
        let mut o = TaskOptions::default()
            .retries(self.retries)
            .backoff(self.backoff.policy());
        if let Some(t) = self.timeout {
            o = o.timeout(ms(t));
        }
        for &k in &self.keys {
            o = o.sequence(KEYS[k]);
        }
        o
    }
}

/// Hooks off, or on for every event with acknowledgements at once or after a random delay.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Acks {
    Off,
    Immediate,
    Delayed,
}

#[derive(Debug, Clone)]
struct Case {
    tasks: Vec<TaskCase>,
    /// Declaration order (a permutation of task indices).
    order: Vec<usize>,
    targets: Option<Vec<usize>>,
    max_parallel: Option<usize>,
    fail_fast: bool,
    acks: Acks,
    cancel_at: Option<u64>,
    run_timeout: Option<u64>,
    seed: u64,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0u64..=8).prop_map(Step::Ok),
        2 => (0u64..=8, prop::bool::weighted(0.8)).prop_map(|(d, r)| Step::Fail(d, r)),
        1 => Just(Step::Hang),
    ]
}

fn backoff() -> impl Strategy<Value = BackoffCase> {
    prop_oneof![
        Just(BackoffCase::None),
        (0u64..=4).prop_map(BackoffCase::Fixed),
        (1u64..=3, 1u32..=3, 1u64..=10).prop_map(|(i, f, m)| BackoffCase::Exp(i, f, m)),
    ]
}

fn task_case(i: usize) -> BoxedStrategy<TaskCase> {
    let deps = if i == 0 {
        Just(Vec::new()).boxed()
    } else {
        vec(0..i, 0..=3)
            .prop_map(|mut d| {
                d.sort_unstable();
                d.dedup();
                d
            })
            .boxed()
    };
    (
        deps,
        0u32..=3,
        backoff(),
        option::weighted(0.4, 1u64..=10),
        vec(0usize..3, 0..=2),
        vec(step(), 4),
    )
        .prop_map(|(deps, retries, backoff, timeout, keys, script)| TaskCase {
            deps,
            retries,
            backoff,
            timeout,
            keys,
            script,
        })
        .boxed()
}

fn acks() -> impl Strategy<Value = Acks> {
    prop_oneof![Just(Acks::Off), Just(Acks::Immediate), Just(Acks::Delayed)]
}

fn case() -> impl Strategy<Value = Case> {
    (1usize..=30)
        .prop_flat_map(|n| {
            let tasks: Vec<BoxedStrategy<TaskCase>> = (0..n).map(task_case).collect();
            let order = Just((0..n).collect::<Vec<_>>()).prop_shuffle();
            let targets = option::weighted(0.2, vec(0..n, 1..=3));
            let run = (
                option::of(1usize..=4),
                prop::bool::weighted(0.3),
                acks(),
                option::weighted(0.25, 0u64..=40),
                option::weighted(0.1, 1u64..=40),
                any::<u64>(),
            );
            (tasks, order, targets, run)
        })
        .prop_map(
            |(
                mut tasks,
                order,
                targets,
                (max_parallel, fail_fast, acks, cancel_at, run_timeout, seed),
            )| {
                // A hanging attempt needs something to end it: its timeout or a run-level stop.
                if cancel_at.is_none() && run_timeout.is_none() {
                    for t in &mut tasks {
                        if t.timeout.is_none() {
                            for s in &mut t.script {
                                if *s == Step::Hang {
                                    *s = Step::Ok(3);
                                }
                            }
                        }
                    }
                }
                Case {
                    tasks,
                    order,
                    targets,
                    max_parallel,
                    fail_fast,
                    acks,
                    cancel_at,
                    run_timeout,
                    seed,
                }
            },
        )
}

// ----- the static driver -----------------------------------------------------------------------

/// How an attempt ended, as the driver saw it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum End {
    Ok,
    Fail { retryable: bool },
    TimedOut,
    Cancelled,
}

/// One entry of a task's trace: its events and the starts of its attempts, in order.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Ev {
    Ready,
    Begin(u32),
    Start(u32),
    Retry(u32),
    Success,
    Failure,
    Skip,
    Completion(Status),
}

#[derive(Debug, Default, Clone)]
struct Obs {
    starts: Vec<u64>,
    ends: Vec<(u64, End)>,
    running: Option<u32>,
    succeeded_at: Option<u64>,
    evs: Vec<Ev>,
    /// Hooks emitted for the task and not acknowledged yet.
    outstanding: u32,
    completion_acked: bool,
    completion_status: Option<Status>,
    completions: u32,
    skips: u32,
}

struct Driver<'c> {
    case: &'c Case,
    graph: Arc<Graph>,
    /// Task id index → case index.
    cidx: Vec<usize>,
    selected: Vec<bool>,
    hooks_on: bool,
    max_parallel: usize,
    s: Scheduler<u64>,
    now: u64,
    seq: u64,
    /// Attempt reports: (at, seq, task, attempt).
    due: BinaryHeap<Reverse<(u64, u64, u32, u32)>>,
    /// Delayed hook acknowledgements: (at, seq, token, task).
    acks: Vec<(u64, u64, HookToken, Option<u32>)>,
    rng: u64,
    log: Vec<String>,
    obs: Vec<Obs>,
    emitted: Vec<EventKind>,
    process_begin_acked: bool,
    finished: u32,
    finished_at: Option<u64>,
    stop_at: Option<u64>,
    cancelled: bool,
}

impl<'c> Driver<'c> {
    /// The id of static task number `t`.
    fn tid(&self, t: u32) -> TaskId {
        self.s.task_id(t).expect("a task of the run")
    }

    /// A driver of `case` whose scheduler is made in `spare`, the memory an earlier run left.
    fn new(case: &'c Case, spare: Spare<u64>) -> Result<Self, String> {
        let mut b = GraphBuilder::new();
        for &i in &case.order {
            let tc = &case.tasks[i];
            let spec = TaskSpec::new(format!("t{i}"))
                .after(tc.deps.iter().map(|d| format!("t{d}")))
                .options(tc.options());
            b.add(spec).map_err(|e| e.to_string())?;
        }
        let graph = Arc::new(b.build().map_err(|e| e.to_string())?);
        let cidx: Vec<usize> = graph
            .ids()
            .map(|id| graph.name(id)[1..].parse().expect("t<i>"))
            .collect();
        let sel = match &case.targets {
            Some(ts) => graph
                .select(ts.iter().map(|t| format!("t{t}")))
                .map_err(|e| e.to_string())?,
            None => graph.all(),
        };
        let selected: Vec<bool> = graph.ids().map(|id| sel.contains(id)).collect();
        let hooks_on = case.acks != Acks::Off;
        let mut opts = RunOptions::default()
            .fail_fast(case.fail_fast)
            .hooks(if hooks_on {
                HookMask::ALL
            } else {
                HookMask::NONE
            });
        if let Some(n) = case.max_parallel {
            opts = opts.max_parallel(n);
        }
        if let Some(t) = case.run_timeout {
            opts = opts.timeout(ms(t));
        }
        let n = graph.len();
        Ok(Driver {
            case,
            s: Scheduler::with_spare(graph.clone(), &sel, opts, spare).expect("valid run options"),
            graph,
            cidx,
            selected,
            hooks_on,
            max_parallel: case.max_parallel.unwrap_or(usize::MAX),
            now: 0,
            seq: 0,
            due: BinaryHeap::new(),
            acks: Vec::new(),
            rng: case.seed,
            log: Vec::new(),
            obs: vec![Obs::default(); n],
            emitted: Vec::new(),
            process_begin_acked: false,
            finished: 0,
            finished_at: None,
            stop_at: None,
            cancelled: false,
        })
    }

    fn tc(&self, t: u32) -> &'c TaskCase {
        &self.case.tasks[self.cidx[t as usize]]
    }

    fn stopped(&self) -> bool {
        self.s.stop_reason().is_some()
    }

    fn note_stop(&mut self) {
        if self.stop_at.is_none() && self.stopped() {
            self.stop_at = Some(self.now);
        }
    }

    fn running_count(&self) -> usize {
        self.obs.iter().filter(|o| o.running.is_some()).count()
    }

    fn pump(&mut self) -> Result<(), String> {
        while let Some(action) = self.s.next_command() {
            self.log.push(format!("{} {action:?}", self.now));
            ensure!(self.finished == 0, "action after Finished: {action:?}");
            match action {
                Command::Start { task, attempt } => self.on_start(task.as_u32(), attempt)?,
                Command::Cancel {
                    task,
                    attempt,
                    timed_out,
                } => self.on_cancel(task.as_u32(), attempt, timed_out)?,
                Command::Emit { event, token } => self.on_emit(*event, token)?,
                Command::Finished => {
                    self.finished += 1;
                    self.finished_at = Some(self.now);
                }
                other => return Err(format!("unexpected action {other:?}")),
            }
            self.note_stop();
        }
        self.note_stop();
        Ok(())
    }

    fn on_start(&mut self, t: u32, a: u32) -> Result<(), String> {
        let now = self.now;
        let tc = self.tc(t);
        let name = self.graph.name(self.tid(t)).to_owned();
        ensure!(
            self.selected[t as usize],
            "{name} started but is not selected"
        );
        ensure!(
            !self.hooks_on || self.process_begin_acked,
            "{name} started before process_begin was handled"
        );
        ensure!(
            !self.stopped(),
            "{name} attempt {a} started after the run stopped"
        );
        let o = &self.obs[t as usize];
        ensure!(
            a as usize == o.starts.len() + 1,
            "{name}: attempt {a} after {} starts",
            o.starts.len()
        );
        ensure!(
            o.running.is_none(),
            "{name}: attempt {a} started while another runs"
        );
        ensure!(
            a <= tc.retries + 1,
            "{name}: attempt {a} with retries = {}",
            tc.retries
        );
        for &d in self.graph.deps(self.tid(t)) {
            let dn = self.graph.name(d);
            ensure!(
                self.obs[d.index()].succeeded_at.is_some_and(|at| at <= now),
                "{name} started at {now} before its dependency {dn} succeeded"
            );
        }
        if a > 1 {
            let (end, how) = o.ends[a as usize - 2];
            ensure!(
                matches!(how, End::Fail { retryable: true } | End::TimedOut),
                "{name}: attempt {a} after {how:?}"
            );
            let delay = tc.backoff.policy().base_delay(a - 1);
            ensure!(
                ms(now) >= ms(end) + delay,
                "{name}: attempt {a} at {now}, before the backoff of {delay:?} after {end}"
            );
        }
        if self.hooks_on {
            ensure!(
                o.evs.last() == Some(&Ev::Begin(a)) && o.outstanding == 0,
                "{name}: attempt {a} started without a handled task_begin (trace {:?}, {} hooks outstanding)",
                o.evs,
                o.outstanding
            );
        }
        for (u, ou) in self.obs.iter().enumerate() {
            if ou.running.is_some() {
                let shared = self.tc(u as u32).keys.iter().find(|k| tc.keys.contains(k));
                ensure!(
                    shared.is_none(),
                    "{name} started at {now} while {} holds sequence key {}",
                    self.graph.name(self.tid(u as u32)),
                    KEYS[*shared.unwrap_or(&0)]
                );
            }
        }
        let o = &mut self.obs[t as usize];
        o.starts.push(now);
        o.running = Some(a);
        o.evs.push(Ev::Start(a));
        let running = self.running_count();
        ensure!(
            running <= self.max_parallel,
            "{running} attempts running with max_parallel {}",
            self.max_parallel
        );
        match tc.script[a as usize - 1] {
            Step::Ok(d) | Step::Fail(d, _) => {
                self.seq += 1;
                self.due.push(Reverse((now + d, self.seq, t, a)));
            }
            Step::Hang => {}
        }
        Ok(())
    }

    fn on_cancel(&mut self, t: u32, a: u32, timed_out: bool) -> Result<(), String> {
        let now = self.now;
        let tc = self.tc(t);
        let name = self.graph.name(self.tid(t)).to_owned();
        let o = &mut self.obs[t as usize];
        ensure!(
            o.running == Some(a),
            "{name}: cancel of attempt {a}, but {:?} runs",
            o.running
        );
        o.running = None;
        o.ends.push((
            now,
            if timed_out {
                End::TimedOut
            } else {
                End::Cancelled
            },
        ));
        let start = o.starts[a as usize - 1];
        if timed_out {
            let Some(limit) = tc.timeout else {
                return Err(format!("{name} timed out without a timeout"));
            };
            ensure!(
                now == start + limit,
                "{name}: attempt {a} started at {start} timed out at {now} (limit {limit})"
            );
            ensure!(
                match tc.script[a as usize - 1] {
                    Step::Hang => true,
                    Step::Ok(d) | Step::Fail(d, _) => d > limit,
                },
                "{name}: attempt {a} timed out though it ends in time"
            );
        } else {
            ensure!(
                self.stopped(),
                "{name} cancelled but the run was not stopped"
            );
        }
        Ok(())
    }

    fn on_emit(&mut self, event: Event, token: HookToken) -> Result<(), String> {
        let kind = event.kind();
        ensure!(self.hooks_on, "{kind:?} emitted with hooks off");
        ensure!(
            token.kind() == kind,
            "token kind {:?} for {kind:?}",
            token.kind()
        );
        self.emitted.push(kind);
        let task = event.task().map(|t| t.as_u32());
        match task {
            None => match kind {
                EventKind::ProcessBegin => {
                    ensure!(
                        self.emitted.len() == 1,
                        "process_begin is not the first event"
                    );
                }
                EventKind::ProcessCompletion => {
                    for (t, o) in self.obs.iter().enumerate() {
                        if self.selected[t] {
                            ensure!(
                                o.completions + o.skips == 1 && o.outstanding == 0,
                                "process_completion while {} is not finished",
                                self.graph.name(self.tid(t as u32))
                            );
                        }
                    }
                }
                other => return Err(format!("{other:?} without a task")),
            },
            Some(t) => {
                let name = self.graph.name(self.tid(t)).to_owned();
                ensure!(
                    self.selected[t as usize],
                    "{kind:?} for {name}, not selected"
                );
                ensure!(
                    self.process_begin_acked,
                    "{kind:?} for {name} before process_begin was handled"
                );
                ensure!(
                    self.obs[t as usize].outstanding == 0,
                    "{kind:?} for {name} while an earlier hook of it is not done (trace {:?})",
                    self.obs[t as usize].evs
                );
                let ev = match event {
                    Event::TaskReady { .. } => {
                        for &d in self.graph.deps(self.tid(t)) {
                            ensure!(
                                self.obs[d.index()].completion_acked,
                                "task_ready for {name} before task_completion of {} was handled",
                                self.graph.name(d)
                            );
                        }
                        Ev::Ready
                    }
                    Event::TaskBegin { attempt, .. } => Ev::Begin(attempt),
                    Event::TaskRetry { attempt, delay, .. } => {
                        let want = self.tc(t).backoff.policy().base_delay(attempt);
                        ensure!(
                            delay == want,
                            "task_retry of {name} attempt {attempt}: delay {delay:?}, want {want:?}"
                        );
                        Ev::Retry(attempt)
                    }
                    Event::TaskSuccess { .. } => Ev::Success,
                    Event::TaskFailure { .. } => Ev::Failure,
                    Event::TaskSkip { .. } => {
                        self.obs[t as usize].skips += 1;
                        Ev::Skip
                    }
                    Event::TaskCompletion { status, .. } => {
                        let o = &mut self.obs[t as usize];
                        o.completions += 1;
                        o.completion_status = Some(status);
                        Ev::Completion(status)
                    }
                    other => return Err(format!("unexpected event {other:?}")),
                };
                let o = &mut self.obs[t as usize];
                o.evs.push(ev);
                o.outstanding += 1;
            }
        }
        if self.case.acks == Acks::Immediate {
            self.ack(token, task);
        } else {
            self.seq += 1;
            let at = self.now + next_rand(&mut self.rng) % 4;
            self.acks.push((at, self.seq, token, task));
        }
        Ok(())
    }

    fn ack(&mut self, token: HookToken, task: Option<u32>) {
        match task {
            Some(t) => {
                let o = &mut self.obs[t as usize];
                o.outstanding -= 1;
                if token.kind() == EventKind::TaskCompletion {
                    o.completion_acked = true;
                }
            }
            None => {
                if token.kind() == EventKind::ProcessBegin {
                    self.process_begin_acked = true;
                }
            }
        }
        self.s
            .hook_done(token, ms(self.now))
            .expect("a token of the run");
    }

    fn deliver(&mut self, t: u32, a: u32) -> Result<(), String> {
        let now = self.now;
        let tc = self.tc(t);
        let name = self.graph.name(self.tid(t)).to_owned();
        let step = tc.script[a as usize - 1];
        let outcome = match step {
            Step::Ok(_) => Outcome::Ok(u64::from(t) * 10 + u64::from(a)),
            Step::Fail(_, retryable) => Outcome::Err {
                error: TaskError::failed(format!("{name} attempt {a} failed")),
                retryable,
            },
            Step::Hang => return Err("a hanging attempt reported".into()),
        };
        let o = &mut self.obs[t as usize];
        if o.running != Some(a) {
            // A late report of a cancelled or timed-out attempt: ignored.
            let before = self.s.status(self.tid(t));
            let id = self.tid(t);
            self.s
                .attempt_finished(id, a, outcome, ms(now))
                .map_err(|e| e.to_string())?;
            let after = self.s.next_command();
            ensure!(
                after.is_none(),
                "a late report of {name} attempt {a} caused {after:?}"
            );
            ensure!(
                self.s.status(self.tid(t)) == before,
                "a late report of {name} attempt {a} changed its status"
            );
            return Ok(());
        }
        let start = o.starts[a as usize - 1];
        if let Some(limit) = tc.timeout {
            ensure!(
                now - start <= limit,
                "{name}: attempt {a} outlived its timeout of {limit}"
            );
        }
        o.running = None;
        o.ends.push((
            now,
            match step {
                Step::Ok(_) => End::Ok,
                _ => End::Fail {
                    retryable: matches!(step, Step::Fail(_, true)),
                },
            },
        ));
        let id = self.tid(t);
        self.s
            .attempt_finished(id, a, outcome, ms(now))
            .map_err(|e| e.to_string())?;
        let status = self.s.status(self.tid(t));
        match step {
            Step::Ok(_) => {
                ensure!(
                    status == Status::Succeeded,
                    "{name} succeeded but is {status}"
                );
                self.obs[t as usize].succeeded_at = Some(now);
            }
            Step::Fail(_, retryable) => {
                // Not the last attempt: waiting for the retry, or already running it (no delay).
                let last = !retryable || a == tc.retries + 1 || self.stopped();
                let ok = if last {
                    status == Status::Failed
                } else {
                    matches!(status, Status::Ready | Status::Running)
                };
                ensure!(
                    ok,
                    "{name} attempt {a} failed (retryable {retryable}, last {last}), status {status}"
                );
            }
            Step::Hang => {}
        }
        self.pump()
    }

    /// At a quiet moment (everything due by now handled): no slot stays idle while a task
    /// could start.
    fn check_work_conserving(&self) -> Result<(), String> {
        if self.stopped() || self.finished > 0 || !self.acks.is_empty() {
            return Ok(());
        }
        if self.running_count() >= self.max_parallel {
            return Ok(());
        }
        for (t, o) in self.obs.iter().enumerate() {
            let id = self.tid(t as u32);
            if !self.selected[t] || o.running.is_some() || self.s.status(id).is_terminal() {
                continue;
            }
            let deps_ok = self
                .graph
                .deps(id)
                .iter()
                .all(|d| self.obs[d.index()].succeeded_at.is_some());
            if !deps_ok {
                continue;
            }
            let tc = self.tc(t as u32);
            if let Some(&(end, _)) = o.ends.last() {
                let delay = tc.backoff.policy().base_delay(o.ends.len() as u32);
                if ms(end) + delay > ms(self.now) {
                    continue;
                }
            }
            let key_busy = self.obs.iter().enumerate().any(|(u, ou)| {
                ou.running.is_some() && self.tc(u as u32).keys.iter().any(|k| tc.keys.contains(k))
            });
            if key_busy {
                continue;
            }
            return Err(format!(
                "at {} {} could start ({} running, max_parallel {:?}) but does not",
                self.now,
                self.graph.name(id),
                self.running_count(),
                self.case.max_parallel
            ));
        }
        Ok(())
    }

    fn run(&mut self) -> Result<(), String> {
        self.s.start(Duration::ZERO);
        let mut steps = 0u64;
        loop {
            self.pump()?;
            if self.s.is_finished() {
                break;
            }
            self.check_work_conserving()?;
            steps += 1;
            ensure!(
                steps < STEP_LIMIT,
                "the run does not end within {STEP_LIMIT} steps"
            );
            let next_due = self.due.peek().map(|Reverse((at, ..))| *at);
            let next_ack = self.acks.iter().map(|a| a.0).min();
            let next_timer = self.s.next_deadline().map(|d| d.as_millis() as u64);
            let next_cancel = self.case.cancel_at.filter(|_| !self.cancelled);
            let Some(next) = [next_due, next_ack, next_timer, next_cancel]
                .into_iter()
                .flatten()
                .min()
            else {
                return Err(format!("the run hangs at {}: nothing is due", self.now));
            };
            self.now = self.now.max(next);
            while let Some(Reverse((at, _, t, a))) = self.due.peek().copied() {
                if at > self.now {
                    break;
                }
                self.due.pop();
                self.deliver(t, a)?;
            }
            while let Some(i) = (0..self.acks.len())
                .filter(|&i| self.acks[i].0 <= self.now)
                .min_by_key(|&i| (self.acks[i].0, self.acks[i].1))
            {
                let (_, _, token, task) = self.acks.remove(i);
                self.ack(token, task);
                self.pump()?;
            }
            if next_cancel.is_some_and(|c| c <= self.now) {
                self.cancelled = true;
                self.s.cancel(ms(self.now));
                self.pump()?;
            }
            self.s.advance(ms(self.now));
        }
        ensure!(self.finished == 1, "Finished {} times", self.finished);
        ensure!(self.acks.is_empty(), "hooks still outstanding at the end");
        Ok(())
    }

    /// The checks once the run is over.
    fn check_final(&mut self) -> Result<(), String> {
        let report = self.s.report();
        let stopped = report.stop.is_some();
        let selected: Vec<usize> = (0..self.graph.len())
            .filter(|&t| self.selected[t])
            .collect();
        let listed: Vec<usize> = report.tasks.iter().map(|t| t.id.index()).collect();
        ensure!(
            listed == selected,
            "the report lists {listed:?}, the selection is {selected:?}"
        );
        if self.hooks_on {
            let n = self.emitted.len();
            ensure!(
                self.emitted.first() == Some(&EventKind::ProcessBegin)
                    && self.emitted.last() == Some(&EventKind::ProcessCompletion),
                "the events do not start with process_begin and end with process_completion"
            );
            let begins = self
                .emitted
                .iter()
                .filter(|k| **k == EventKind::ProcessBegin)
                .count();
            let ends = self
                .emitted
                .iter()
                .filter(|k| **k == EventKind::ProcessCompletion)
                .count();
            ensure!(
                begins == 1 && ends == 1 && n >= 2,
                "process_begin {begins}×, process_completion {ends}×"
            );
        }
        for t in 0..self.graph.len() {
            if !self.selected[t] {
                let o = &self.obs[t];
                ensure!(
                    o.starts.is_empty() && o.evs.is_empty(),
                    "an unselected task ran"
                );
            }
        }
        for tr in &report.tasks {
            let t = tr.id.index();
            let o = &self.obs[t];
            let tc = self.tc(t as u32);
            let name = &*tr.name;
            ensure!(tr.status.is_terminal(), "{name} ends {}", tr.status);
            ensure!(o.running.is_none(), "{name} still runs at the end");
            ensure!(
                o.ends.len() == o.starts.len(),
                "{name}: {} starts, {} ends",
                o.starts.len(),
                o.ends.len()
            );
            ensure!(
                tr.attempts as usize == o.starts.len() && tr.attempt_log().len() == o.starts.len(),
                "{name}: report says {} attempts ({} logged), the driver saw {}",
                tr.attempts,
                tr.attempt_log().len(),
                o.starts.len()
            );
            for (i, rec) in tr.attempt_log().iter().enumerate() {
                ensure!(
                    rec.start == ms(o.starts[i]) && rec.end == Some(ms(o.ends[i].0)),
                    "{name}: attempt {} logged {:?}..{:?}, seen {}..{}",
                    i + 1,
                    rec.start,
                    rec.end,
                    o.starts[i],
                    o.ends[i].0
                );
            }
            ensure!(
                tr.started == o.starts.first().map(|&s| ms(s)),
                "{name}: report start {:?}",
                tr.started
            );
            // Attempts: at most retries + 1; only a retryable failure or a timeout is retried.
            ensure!(
                o.starts.len() <= tc.retries as usize + 1,
                "{name}: {} attempts with {} retries",
                o.starts.len(),
                tc.retries
            );
            for (i, (_, how)) in o.ends.iter().enumerate().rev().skip(1) {
                ensure!(
                    matches!(how, End::Fail { retryable: true } | End::TimedOut),
                    "{name}: attempt {} ended {how:?} and yet another followed",
                    i + 1
                );
            }
            let last = o.ends.last().map(|e| e.1);
            match tr.status {
                Status::Succeeded => ensure!(
                    last == Some(End::Ok) && o.succeeded_at.is_some(),
                    "{name} succeeded, last attempt {last:?}"
                ),
                Status::Failed => ensure!(
                    matches!(last, Some(End::Fail { .. })),
                    "{name} failed, last attempt {last:?}"
                ),
                Status::TimedOut => ensure!(
                    last == Some(End::TimedOut),
                    "{name} timed out, last attempt {last:?}"
                ),
                Status::Cancelled => ensure!(stopped, "{name} cancelled in a run not stopped"),
                Status::Skipped => ensure!(
                    o.starts.is_empty() && tr.skip_reason.is_some(),
                    "{name} skipped after {} attempts",
                    o.starts.len()
                ),
                other => return Err(format!("{name} ends {other}")),
            }
            if !stopped {
                let full = o.starts.len() == tc.retries as usize + 1;
                let want = match last {
                    None => Status::Skipped,
                    Some(End::Ok) => Status::Succeeded,
                    Some(End::Fail { retryable: false }) => Status::Failed,
                    Some(End::Fail { retryable: true }) if full => Status::Failed,
                    Some(End::TimedOut) if full => Status::TimedOut,
                    Some(how) => {
                        return Err(format!(
                            "{name}: last of {} attempts ended {how:?}, no retry followed",
                            o.starts.len()
                        ))
                    }
                };
                ensure!(tr.status == want, "{name} is {}, want {want}", tr.status);
            }
            if self.hooks_on {
                if tr.status == Status::Skipped {
                    ensure!(
                        o.skips == 1 && o.completions == 0,
                        "{name} skipped: task_skip {}×, task_completion {}×",
                        o.skips,
                        o.completions
                    );
                } else {
                    ensure!(
                        o.skips == 0 && o.completions == 1,
                        "{name} {}: task_skip {}×, task_completion {}×",
                        tr.status,
                        o.skips,
                        o.completions
                    );
                    ensure!(
                        o.completion_status == Some(tr.status),
                        "{name}: task_completion says {:?}, the report {}",
                        o.completion_status,
                        tr.status
                    );
                }
                check_hook_order(name, &o.evs, stopped)
                    .map_err(|e| format!("{e} (trace {:?})", o.evs))?;
            }
        }
        ensure!(
            report.ok() == (!stopped && report.tasks.iter().all(|t| t.status == Status::Succeeded)),
            "report.ok() is {}",
            report.ok()
        );
        // Skips: without a stop, exactly the transitive dependents of failed tasks.
        if !stopped {
            for tr in &report.tasks {
                let id = tr.id;
                let name = &*tr.name;
                let failed_dep = self.graph.deps(id).iter().find(|d| {
                    matches!(
                        self.s.status(**d),
                        Status::Failed | Status::TimedOut | Status::Skipped
                    )
                });
                ensure!(
                    (tr.status == Status::Skipped) == failed_dep.is_some(),
                    "{name} is {} and its dependency {:?} is {:?}",
                    tr.status,
                    failed_dep.map(|d| self.graph.name(*d)),
                    failed_dep.map(|d| self.s.status(*d))
                );
                if let Some(reason) = tr.skip_reason.as_deref() {
                    let SkipReason::DependencyFailed { dependency } = reason else {
                        return Err(format!("{name} skipped: {reason}"));
                    };
                    let cause = self
                        .graph
                        .get(dependency)
                        .ok_or_else(|| format!("{name} skipped for unknown {dependency}"))?;
                    ensure!(
                        matches!(self.s.status(cause), Status::Failed | Status::TimedOut)
                            && self.graph.ancestors_of([id]).contains(cause),
                        "{name} skipped for {dependency}, which is {} (not a failed ancestor)",
                        self.s.status(cause)
                    );
                }
            }
        }
        match &report.stop {
            None => {}
            Some(StopReason::FailFast { task }) => {
                ensure!(self.case.fail_fast, "fail-fast stop without fail_fast");
                let id = self.graph.get(task).ok_or("fail-fast names no task")?;
                ensure!(
                    matches!(self.s.status(id), Status::Failed | Status::TimedOut),
                    "fail-fast for {task}, which is {}",
                    self.s.status(id)
                );
            }
            Some(StopReason::Cancelled) => ensure!(self.cancelled, "cancelled without cancel()"),
            Some(StopReason::TimedOut(d)) => ensure!(
                self.case.run_timeout.map(ms) == Some(*d)
                    && self.stop_at == Some(d.as_millis() as u64),
                "run timed out after {d:?} at {:?}, limit {:?}",
                self.stop_at,
                self.case.run_timeout
            ),
            Some(other) => return Err(format!("unexpected stop {other}")),
        }
        // A stopped run ends promptly: at once when hooks return at once.
        if stopped && self.case.acks != Acks::Delayed {
            ensure!(
                self.finished_at == self.stop_at,
                "stopped at {:?}, finished at {:?}",
                self.stop_at,
                self.finished_at
            );
        }
        // Late reports of cancelled attempts are ignored.
        while let Some(Reverse((at, _, t, a))) = self.due.pop() {
            self.now = self.now.max(at);
            self.deliver(t, a)?;
        }
        // (Only the run's `total` may move: it is the scheduler's clock, which any input advances.)
        let mut after = self.s.report();
        after.total = report.total;
        ensure!(after == report, "late reports changed the report");
        Ok(())
    }
}

/// A task's trace with hooks on: `task_ready → task_begin → start → (task_retry → task_begin →
/// start)* → task_success | task_failure → task_completion`, or `task_skip` alone. A stop may cut
/// it short: after `task_ready` (skip), or before an attempt starts (failure).
fn check_hook_order(name: &str, evs: &[Ev], stopped: bool) -> Result<(), String> {
    match evs.first() {
        Some(Ev::Skip) => {
            ensure!(evs.len() == 1, "{name}: events after task_skip");
            return Ok(());
        }
        Some(Ev::Ready) => {}
        other => return Err(format!("{name}: first event {other:?}")),
    }
    if evs.get(1) == Some(&Ev::Skip) {
        ensure!(
            stopped && evs.len() == 2,
            "{name}: task_skip after task_ready"
        );
        return Ok(());
    }
    let mut i = 1;
    let mut a = 1;
    loop {
        ensure!(
            evs.get(i) == Some(&Ev::Begin(a)),
            "{name}: expected task_begin {a} at {i}"
        );
        i += 1;
        match evs.get(i) {
            Some(Ev::Start(x)) if *x == a => i += 1,
            Some(Ev::Failure) => {
                ensure!(
                    stopped,
                    "{name}: task_failure after task_begin {a} without a start"
                );
                break;
            }
            other => return Err(format!("{name}: {other:?} after task_begin {a}")),
        }
        match evs.get(i) {
            Some(Ev::Retry(x)) if *x == a => {
                i += 1;
                if evs.get(i) == Some(&Ev::Failure) {
                    ensure!(stopped, "{name}: task_failure after task_retry {a}");
                    break;
                }
                a += 1;
            }
            Some(Ev::Success | Ev::Failure) => break,
            other => return Err(format!("{name}: {other:?} after attempt {a} started")),
        }
    }
    ensure!(
        matches!(evs.get(i + 1), Some(Ev::Completion(_))) && evs.len() == i + 2,
        "{name}: task_success/task_failure not followed by task_completion alone"
    );
    ensure!(
        (evs[i] == Ev::Success) == (evs[i + 1] == Ev::Completion(Status::Succeeded)),
        "{name}: outcome event and completion status disagree"
    );
    Ok(())
}

/// Runs `case` with the scheduler made in `spare` and checks the contract all along; gives
/// the log of actions, the run's final report and the memory it leaves.
fn run_case_in(
    case: &Case,
    spare: Spare<u64>,
) -> Result<(Vec<String>, RunReport, Spare<u64>), String> {
    let mut d = Driver::new(case, spare)?;
    let res = d.run().and_then(|()| d.check_final());
    match res {
        Ok(()) => {
            let (report, spare) = d.s.into_report_and_spare();
            Ok((d.log, report, spare))
        }
        Err(e) => {
            let tail: Vec<&String> = d.log.iter().rev().take(12).rev().collect();
            Err(format!("{e}\nlast actions:\n{tail:#?}"))
        }
    }
}

// ----- dynamic tasks ---------------------------------------------------------------------------

/// A call of an action: it calls its children (all at once, awaiting each), then works `ms`
/// and succeeds or fails.
#[derive(Debug, Clone)]
struct Call {
    ms: u64,
    fail: bool,
    retries: u32,
    timeout: Option<u64>,
    children: Vec<Call>,
}

fn call() -> impl Strategy<Value = Call> {
    let leaf = (
        0u64..=5,
        prop::bool::weighted(0.2),
        0u32..=1,
        option::weighted(0.1, 1u64..=12),
    )
        .prop_map(|(ms, fail, retries, timeout)| Call {
            ms,
            fail,
            retries,
            timeout,
            children: Vec::new(),
        });
    leaf.prop_recursive(4, 40, 3, |inner| {
        (
            0u64..=5,
            prop::bool::weighted(0.2),
            0u32..=2,
            option::weighted(0.25, 1u64..=20),
            vec(inner, 1..=3),
        )
            .prop_map(|(ms, fail, retries, timeout, children)| Call {
                ms,
                fail,
                retries,
                timeout,
                children,
            })
    })
}

#[derive(Debug, Clone)]
struct DynCase {
    roots: Vec<Call>,
    max_parallel: usize,
    acks: Acks,
    seed: u64,
}

fn dyn_case() -> impl Strategy<Value = DynCase> {
    (vec(call(), 1..=3), 1usize..=3, acks(), any::<u64>()).prop_map(
        |(roots, max_parallel, acks, seed)| DynCase {
            roots,
            max_parallel,
            acks,
            seed,
        },
    )
}

/// Drives call trees as any driver does: an attempt spawns its children, each `Deliver` hands
/// one outcome to its caller, and an attempt goes on when all its children are delivered, then
/// works `ms`. The core decides whom a finished child wakes and when; the driver only checks.
struct DynDriver<'c> {
    case: &'c DynCase,
    s: Scheduler<u64>,
    defs: Vec<Call>,
    /// The spawning task and its attempt.
    parent: Vec<Option<(u32, u32)>>,
    settled: Vec<u32>,
    closed: Vec<u32>,
    attempts: Vec<u32>,
    running: HashMap<u32, u32>,
    /// Per running attempt: children not handed over yet.
    awaiting: HashMap<(u32, u32), usize>,
    roots_left: usize,
    now: u64,
    seq: u64,
    due: BinaryHeap<Reverse<(u64, u64, u32, u32)>>,
    acks: Vec<(u64, u64, HookToken)>,
    rng: u64,
    finished: u32,
    log: Vec<String>,
}

impl<'c> DynDriver<'c> {
    /// The id of task number `t`.
    fn tid(&self, t: u32) -> TaskId {
        self.s.task_id(t).expect("a task of the run")
    }

    fn new(case: &'c DynCase) -> Self {
        let graph = Arc::new(GraphBuilder::new().build().expect("an empty graph"));
        let mut opts = RunOptions::default().max_parallel(case.max_parallel);
        if case.acks != Acks::Off {
            opts = opts.hooks(HookMask::ALL);
        }
        DynDriver {
            case,
            s: Scheduler::new(graph.clone(), &graph.all(), opts).expect("valid run options"),
            defs: Vec::new(),
            parent: Vec::new(),
            settled: Vec::new(),
            closed: Vec::new(),
            attempts: Vec::new(),
            running: HashMap::new(),
            awaiting: HashMap::new(),
            roots_left: case.roots.len(),
            now: 0,
            seq: 0,
            due: BinaryHeap::new(),
            acks: Vec::new(),
            rng: case.seed,
            finished: 0,
            log: Vec::new(),
        }
    }

    fn spawn(&mut self, parent: Option<(u32, u32)>, call: &Call) -> Result<(), String> {
        let mut o = TaskOptions::default().retries(call.retries);
        if let Some(t) = call.timeout {
            o = o.timeout(ms(t));
        }
        let name: Arc<str> = format!("c{}", self.defs.len()).into();
        let caller = parent.map(|(p, a)| (self.tid(p), a));
        let id = self
            .s
            .spawn(caller, name, Arc::new(o), ms(self.now))
            .map_err(|e| e.to_string())?;
        ensure!(
            id.index() == self.defs.len(),
            "spawn gave id {}",
            id.index()
        );
        self.defs.push(call.clone());
        self.parent.push(parent);
        self.settled.push(0);
        self.closed.push(0);
        self.attempts.push(0);
        Ok(())
    }

    /// Attempts that really work now (not waiting for a child).
    fn working(&self) -> usize {
        self.running
            .iter()
            .filter(|(&t, &a)| self.awaiting.get(&(t, a)).is_none_or(|&n| n == 0))
            .count()
    }

    fn check_slots(&self) -> Result<(), String> {
        let n = self.working();
        ensure!(
            n <= self.case.max_parallel && self.s.running() <= self.case.max_parallel,
            "{n} attempts work at once (scheduler: {} hold a slot), max_parallel {}",
            self.s.running(),
            self.case.max_parallel
        );
        Ok(())
    }

    fn finish_at(&mut self, t: u32, a: u32) {
        self.seq += 1;
        let at = self.now + self.defs[t as usize].ms;
        self.due.push(Reverse((at, self.seq, t, a)));
    }

    fn pump(&mut self) -> Result<(), String> {
        while let Some(action) = self.s.next_command() {
            self.log.push(format!("{} {action:?}", self.now));
            ensure!(self.finished == 0, "action after Finished: {action:?}");
            match action {
                Command::Start { task, attempt } => {
                    let t = task.as_u32();
                    ensure!(!self.running.contains_key(&t), "c{t} started twice");
                    self.attempts[t as usize] += 1;
                    ensure!(
                        self.attempts[t as usize] == attempt,
                        "c{t}: attempt {attempt}"
                    );
                    ensure!(
                        attempt <= self.defs[t as usize].retries + 1,
                        "c{t}: attempt {attempt} beyond its retries"
                    );
                    self.running.insert(t, attempt);
                    self.check_slots()?;
                    let children = self.defs[t as usize].children.clone();
                    if children.is_empty() {
                        self.finish_at(t, attempt);
                    } else {
                        self.awaiting.insert((t, attempt), children.len());
                        for c in &children {
                            self.spawn(Some((t, attempt)), c)?;
                        }
                    }
                }
                Command::Cancel { task, attempt, .. } => {
                    let t = task.as_u32();
                    ensure!(
                        self.running.remove(&t) == Some(attempt),
                        "cancel of c{t} attempt {attempt}, not running"
                    );
                }
                Command::Deliver { task } => {
                    let c = task.as_u32();
                    ensure!((c as usize) < self.defs.len(), "Deliver for unknown c{c}");
                    self.settled[c as usize] += 1;
                    ensure!(self.settled[c as usize] == 1, "c{c} delivered twice");
                    ensure!(
                        self.s.status(task).is_terminal(),
                        "c{c} delivered as {}",
                        self.s.status(task)
                    );
                    let outcome = self.s.take_outcome(task).map_err(|e| e.to_string())?;
                    ensure!(
                        outcome.is_ok() == (self.s.status(task) == Status::Succeeded),
                        "c{c}: outcome {outcome:?} for status {}",
                        self.s.status(task)
                    );
                    match self.parent[c as usize] {
                        None => {
                            self.roots_left -= 1;
                            if self.roots_left == 0 {
                                self.s.release(ms(self.now));
                            }
                        }
                        Some((p, pa)) => {
                            // Only the current attempt awaits its children (an earlier
                            // attempt's future is gone).
                            if self.running.get(&p) == Some(&pa) {
                                let n =
                                    self.awaiting.get_mut(&(p, pa)).ok_or("no awaiting entry")?;
                                ensure!(*n > 0, "c{p} handed more children than it awaits");
                                *n -= 1;
                                if *n == 0 {
                                    self.finish_at(p, pa);
                                }
                            }
                        }
                    }
                }
                Command::Emit { event, token } => {
                    ensure!(self.case.acks != Acks::Off, "an event with hooks off");
                    if let Event::TaskCompletion { task, .. } | Event::TaskSkip { task, .. } =
                        *event
                    {
                        self.closed[task.index()] += 1;
                    }
                    if self.case.acks == Acks::Immediate {
                        self.s
                            .hook_done(token, ms(self.now))
                            .map_err(|e| e.to_string())?;
                    } else {
                        self.seq += 1;
                        let at = self.now + next_rand(&mut self.rng) % 4;
                        self.acks.push((at, self.seq, token));
                    }
                }
                Command::Finished => self.finished += 1,
                other => return Err(format!("unexpected action {other:?}")),
            }
            self.check_slots()?;
        }
        Ok(())
    }

    fn deliver(&mut self, t: u32, a: u32) -> Result<(), String> {
        let outcome = if self.defs[t as usize].fail {
            Outcome::fail(format!("c{t} failed"))
        } else {
            Outcome::Ok(u64::from(t))
        };
        if self.running.get(&t) == Some(&a) {
            self.running.remove(&t);
        }
        let id = self.tid(t);
        self.s
            .attempt_finished(id, a, outcome, ms(self.now))
            .map_err(|e| e.to_string())?;
        self.pump()
    }

    fn run(&mut self) -> Result<(), String> {
        self.s.hold();
        self.s.start(Duration::ZERO);
        let roots = self.case.roots.clone();
        for r in &roots {
            self.spawn(None, r)?;
        }
        let mut steps = 0u64;
        loop {
            self.pump()?;
            if self.s.is_finished() {
                break;
            }
            steps += 1;
            ensure!(
                steps < STEP_LIMIT,
                "the run does not end within {STEP_LIMIT} steps"
            );
            let next_due = self.due.peek().map(|Reverse((at, ..))| *at);
            let next_ack = self.acks.iter().map(|a| a.0).min();
            let next_timer = self.s.next_deadline().map(|d| d.as_millis() as u64);
            let Some(next) = [next_due, next_ack, next_timer].into_iter().flatten().min() else {
                return Err(format!(
                    "the run hangs at {}: nothing is due ({} attempts running, {} working)",
                    self.now,
                    self.running.len(),
                    self.working()
                ));
            };
            self.now = self.now.max(next);
            while let Some(Reverse((at, _, t, a))) = self.due.peek().copied() {
                if at > self.now {
                    break;
                }
                self.due.pop();
                self.deliver(t, a)?;
            }
            while let Some(i) = (0..self.acks.len())
                .filter(|&i| self.acks[i].0 <= self.now)
                .min_by_key(|&i| (self.acks[i].0, self.acks[i].1))
            {
                let (_, _, token) = self.acks.remove(i);
                self.s
                    .hook_done(token, ms(self.now))
                    .map_err(|e| e.to_string())?;
                self.pump()?;
            }
            self.s.advance(ms(self.now));
        }
        ensure!(self.finished == 1, "Finished {} times", self.finished);
        ensure!(self.running.is_empty(), "attempts still running at the end");
        let report = self.s.report();
        ensure!(
            report.tasks.len() == self.defs.len(),
            "{} tasks in the report, {} spawned",
            report.tasks.len(),
            self.defs.len()
        );
        for (i, tr) in report.tasks.iter().enumerate() {
            ensure!(tr.id.index() == i, "report order");
            ensure!(tr.status.is_terminal(), "c{i} ends {}", tr.status);
            ensure!(self.settled[i] == 1, "c{i} settled {}×", self.settled[i]);
            ensure!(
                tr.parent == self.parent[i].map(|p| self.tid(p.0)),
                "c{i}: parent {:?}",
                tr.parent
            );
            ensure!(
                tr.attempts == self.attempts[i],
                "c{i}: {} attempts reported, {} seen",
                tr.attempts,
                self.attempts[i]
            );
            if self.case.acks != Acks::Off {
                ensure!(
                    self.closed[i] == 1,
                    "c{i}: task_completion/task_skip {}×",
                    self.closed[i]
                );
            }
        }
        Ok(())
    }
}

// ----- properties ------------------------------------------------------------------------------

/// `PROPTEST_CASES` when set (for a deeper search), else `n`.
fn cases(n: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(n)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(256), ..ProptestConfig::default() })]

    #[test]
    fn random_runs_keep_the_scheduler_contract(case in case(), earlier in case()) {
        let (first, report, _) =
            run_case_in(&case, Spare::default()).map_err(TestCaseError::fail)?;
        // Again, in the memory another run left (its graph of another size, its tasks in
        // other states): the same actions, the same report.
        let (_, _, spare) = run_case_in(&earlier, Spare::default()).map_err(TestCaseError::fail)?;
        let (second, again, _) = run_case_in(&case, spare).map_err(TestCaseError::fail)?;
        prop_assert!(first == second, "the same case gave different action sequences");
        prop_assert_eq!(report, again);
    }

    #[test]
    fn random_call_trees_always_finish_within_max_parallel(case in dyn_case()) {
        let mut d = DynDriver::new(&case);
        if let Err(e) = d.run() {
            let tail: Vec<&String> = d.log.iter().rev().take(40).rev().collect();
            return Err(TestCaseError::fail(format!("{e}\nlast actions:\n{tail:#?}")));
        }
    }
}

// ----- cases the properties once found -----------------------------------------------------------

fn task(retries: u32, script: [Step; 4]) -> TaskCase {
    TaskCase {
        deps: Vec::new(),
        retries,
        backoff: BackoffCase::None,
        timeout: None,
        keys: Vec::new(),
        script: script.to_vec(),
    }
}

fn run_case_of(tasks: Vec<TaskCase>) -> Case {
    Case {
        order: (0..tasks.len()).collect(),
        tasks,
        targets: None,
        max_parallel: None,
        fail_fast: false,
        acks: Acks::Immediate,
        cancel_at: None,
        run_timeout: None,
        seed: 0,
    }
}

/// t0 fails and is queued for its retry behind t1, which takes the only slot; then the run
/// times out. t0 did start: it ends cancelled (after task_failure and task_completion), not
/// skipped.
#[test]
fn a_task_queued_for_a_retry_is_cancelled_when_the_run_stops() {
    let mut case = run_case_of(vec![
        task(
            1,
            [Step::Fail(5, true), Step::Ok(1), Step::Ok(1), Step::Ok(1)],
        ),
        task(0, [Step::Hang; 4]),
    ]);
    case.max_parallel = Some(1);
    case.run_timeout = Some(5);
    let mut d = Driver::new(&case, Spare::default()).unwrap();
    d.run().and_then(|()| d.check_final()).unwrap();
    let r = d.s.report();
    let t0 = r.get("t0").unwrap();
    assert_eq!((t0.status, t0.attempts), (Status::Cancelled, 1));
    assert_eq!(r.get("t1").unwrap().status, Status::Cancelled);
}

/// A cancel while process_begin's hooks run: the tasks' events (task_skip) wait for them.
#[test]
fn a_cancel_during_process_begin_skips_tasks_after_its_hooks() {
    let mut delayed = 0;
    for seed in 0..8u64 {
        let mut case = run_case_of(vec![task(0, [Step::Ok(1); 4]), task(0, [Step::Ok(1); 4])]);
        case.acks = Acks::Delayed;
        case.cancel_at = Some(0);
        case.seed = seed;
        let mut d = Driver::new(&case, Spare::default()).unwrap();
        d.run().and_then(|()| d.check_final()).unwrap();
        assert_eq!(d.s.report().count(Status::Skipped), 2);
        if next_rand(&mut seed.clone()) % 4 > 0 {
            delayed += 1;
        }
    }
    assert!(delayed > 0, "no seed delays process_begin's hook");
}
