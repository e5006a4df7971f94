//! One run's scheduler, driven from JS in batches.
//!
//! The facade calls [`run_step`] with every input gathered since the last call (finished
//! attempts, finished hooks, spawns, joins, groups, cancels, "time advanced", main's end) and
//! gets back every command the scheduler has for it (start, cancel, emit, deliver, joined,
//! start main, cancel main, finished) in the same crossing. Values and errors stay in JS,
//! keyed by task id; the core sees only outcomes and messages. This layer decides nothing: the
//! inputs of one batch go to the core as one [`Scheduler::handle`] batch, which orders them
//! (the clock's advance last); payloads are the kit's [`Payload`], codes the kit's [`code`],
//! outcomes the kit's [`CallOutcome`] (see [`outcome_code`]).
//!
//! Inputs are 4-word records `[op, a, b, c]` in a `Uint32Array`:
//!
//! | op | input | a, b, c |
//! |---|---|---|
//! | 1 | attempt succeeded | task, attempt |
//! | 2 | attempt failed | task, attempt, `msg << 1 \| retryable` (msg: index in `msgs`) |
//! | 3 | hooks done | slot |
//! | 4 | a hook threw | slot, msg, the JS hook error's number (see [`JsError::Hook`]) |
//! | 5 | time advanced | |
//! | 6 | cancel the run | |
//! | 7 | spawn a dynamic task | caller + 1 (0: main or none), options id, the caller's attempt |
//! | 12 | start the run | |
//! | 14 | start a run with a `main` ([`Scheduler::start_main`]) | |
//! | 15 | `main` ended | 1 if it returned, 0 if it threw |
//! | 16 | join a task that exists (a cached call) | caller + 1 (0: main), the caller's attempt, the task |
//! | 17 | a fail-fast group of `n` members | caller + 1 (0: main), the caller's attempt, `n`; then `ceil(n / 4)` records of member ids (padding `0xFFFF_FFFF`) |
//! | 18 | a condition's value ([`Command::Evaluate`]) | task, 0 false / 1 true / 2 the predicate threw, msg (when it threw) |
//! | 19 | spawn a dynamic task holding keys of its own (an action's `uses` function) | as 7; then one record `[first, count, 0, 0]`: the keys are `msgs[first..first + count]` |
//!
//! Commands are written to `out` from index 1 as 4-word records, their count in `out[0]`:
//! `[1, task, attempt, 0]` start; `[2, task, attempt, timed_out]` cancel;
//! `[4 | kind << 8, task, attempt, slot]` emit (task `0xFFFF_FFFF` for process events; kind
//! [`code::kind`]; details through [`run_event`]); `[5, task, outcome, 0]` deliver a dynamic
//! task's outcome to its caller now (outcome: [`outcome_code`]; the message of a core-made
//! error through [`run_call_error`]); `[6, 0, 0, 0]` the run is finished; `[7, join, task,
//! outcome]` hand `task`'s outcome to the waiter of join `join` (joins numbered from 0 in the
//! order op 16 gave them); `[8, 0, 0, 0]` start `main`; `[9, 0, 0, 0]` cancel `main` (do not
//! wait for it; the run's error is [`run_stop_error`]'s); `[10, task, 0, 0]` evaluate `task`'s
//! condition now and report it with input 18. When `out` is full the rest waits for the next
//! call.

use crate::errors::{coded, graph_error, guard, option_error};
use crate::flow::{flow_select, options_get, Slab};
use crate::report::NativeReport;
use legato::event::{ErrorKind, Event, HookMask, StopReason, TaskError};
use legato::graph::{Graph, GraphBuilder, Selection, TaskId};
use legato::host::{code, CallOutcome, Payload};
use legato::policy::{self, OptionError};
use legato::scheduler::{
    Command, GroupId, HookToken, Input, Outcome, ProtocolError, RunOptions, Scheduler,
};
use napi::bindgen_prelude::{Unknown, ValueType};
use std::cell::RefCell;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const NONE: u32 = u32::MAX;

struct Run {
    sched: Scheduler<()>,
    /// The tasks this run selected (its targets and their dependencies), until it starts:
    /// what [`run_restore`] may restore.
    selection: Option<Selection>,
    hooks: Slab<(HookToken, Event)>,
    /// The fail-fast groups made by input 17, in order: the JS side numbers them from 0.
    groups: Vec<GroupId>,
    started_at_ms: f64,
    /// The time of the latest input (the run's total once it is finished).
    now: Duration,
}

thread_local! {
    static RUNS: RefCell<Slab<Run>> = const { RefCell::new(Slab::new()) };
    /// The inputs of one `handle` call, shared by every run on this thread and kept between
    /// runs: a run's batches reuse the memory of the runs before it, instead of growing a
    /// vector of their own from nothing (a W1-sized burst: ten thousand pushes, each doubling
    /// copying the lot and touching fresh pages).
    static BATCH: RefCell<Vec<Input<()>>> = const { RefCell::new(Vec::new()) };
}

/// The most inputs [`BATCH`] keeps room for between batches.
const BATCH_KEEP: usize = 1 << 16;

fn empty_graph() -> Arc<Graph> {
    // Graph is Send + Sync; one empty graph serves every Orchestrator run.
    static G: OnceLock<Arc<Graph>> = OnceLock::new();
    G.get_or_init(|| {
        Arc::new(
            GraphBuilder::new()
                .build()
                .expect("an empty graph is valid"),
        )
    })
    .clone()
}

fn dur(ms: f64) -> Duration {
    if ms.is_finite() && ms > 0.0 {
        // Rounded to the nearest ns (`ms > 0`: no libm call for `round`).
        Duration::from_nanos((ms * 1e6 + 0.5) as u64)
    } else {
        Duration::ZERO
    }
}

/// The wall-clock time `epoch_ms` (`Date.now()`: epoch milliseconds). Whole milliseconds
/// are taken apart from the fraction: `epoch_ms * 1e6` ns is beyond an `f64`'s exact
/// integers, and rounding it made a report's `started_at` 1 ms early about half the time.
pub(crate) fn epoch(epoch_ms: f64) -> SystemTime {
    let whole = epoch_ms.floor();
    UNIX_EPOCH + Duration::from_millis(whole as u64) + dur(epoch_ms - whole)
}

/// Epoch milliseconds of `at` (a `Date`'s time; negative before 1970), exact to the
/// millisecond (see [`epoch`]).
pub(crate) fn epoch_ms(at: SystemTime) -> f64 {
    let exact = |d: Duration| d.as_millis() as f64 + f64::from(d.subsec_nanos() % 1_000_000) / 1e6;
    match at.duration_since(UNIX_EPOCH) {
        Ok(d) => exact(d),
        Err(e) => -exact(e.duration()),
    }
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_nanos() as f64 / 1e6
}

/// Which JS error object a core error stands for: the source the driver attaches to the
/// errors it reports, so that the core's choice of the run's error ([`Scheduler::stop_error`])
/// comes back as the JS object itself.
#[derive(Debug, Clone, Copy)]
enum JsError {
    /// What task `n`'s body threw (its last failed attempt's).
    Task(u32),
    /// The `n`th hook error of the run (the JS side keeps them in order).
    Hook(u32),
}

/// Outcome codes of [`CallOutcome`], as the JS driver turns them into errors (`errorFor` in
/// `lib/driver.js`), and of a [`TaskError`]'s kind ([`error_code`]).
pub(crate) mod outcome {
    /// Succeeded: the value JS holds.
    pub const OK: u32 = 0;
    /// Failed: what the body threw, as thrown.
    pub const FAILED: u32 = 1;
    /// Timed out: `TaskTimeoutError`.
    pub const TIMED_OUT: u32 = 2;
    /// Cancelled: `CancelledError`.
    pub const CANCELLED: u32 = 3;
    /// Skipped: `CancelledError` naming the reason.
    pub const SKIPPED: u32 = 4;
    /// Nested deeper than `max_depth`: `RangeError` with code `ERR_LEGATO_DEPTH`.
    pub const DEPTH: u32 = 5;
}

/// The code of a caller's outcome: one exhaustive match over the kit's [`CallOutcome`].
pub(crate) fn outcome_code<V>(o: &CallOutcome<V>) -> u32 {
    match o {
        CallOutcome::Ok(_) => outcome::OK,
        CallOutcome::Failed(_) => outcome::FAILED,
        CallOutcome::TimedOut(_) => outcome::TIMED_OUT,
        CallOutcome::Cancelled(_) => outcome::CANCELLED,
        CallOutcome::Skipped { .. } => outcome::SKIPPED,
        CallOutcome::Depth(_) => outcome::DEPTH,
    }
}

/// The outcome code of an error of the core (a payload's, the run's).
pub(crate) fn error_code(e: &TaskError) -> u32 {
    match e.kind {
        ErrorKind::TimedOut => outcome::TIMED_OUT,
        ErrorKind::Cancelled => outcome::CANCELLED,
        ErrorKind::Depth => outcome::DEPTH,
        _ => outcome::FAILED,
    }
}

/// Run options, checked by the core's one validation (see [`run_options`]).
#[napi(object)]
#[derive(Debug)]
pub struct CheckedRunOptions {
    /// The concurrency limit; 0 for none.
    pub max_parallel: f64,
    /// Whether fail-fast is on.
    pub fail_fast: bool,
    /// The run timeout in ms; -1 for none.
    pub timeout_ms: f64,
    /// The call depth limit.
    pub max_depth: u32,
    /// Keys with a capacity (`limits`), beside `limit_caps`.
    pub limit_keys: Option<Vec<String>>,
    /// The capacity of each key of `limit_keys`.
    pub limit_caps: Option<Vec<u32>>,
    /// The priority order: 0 `fifo`, 1 `critical_path`.
    pub priority: u32,
    /// Tasks whose cost is known from a previous report (`costs`), beside `cost_ms`.
    pub cost_names: Option<Vec<String>>,
    /// The known cost of each task of `cost_names`, ms.
    pub cost_ms: Option<Vec<f64>>,
}

/// How a key is named in an error about `options.limits`: `options.limits.db`, or
/// `options.limits["user:1"]` for a key that is not an identifier.
fn limit_argument(key: &str) -> String {
    let ident = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if ident {
        format!("options.limits.{key}")
    } else {
        format!("options.limits[{key:?}]")
    }
}

fn describe(v: &Unknown<'_>) -> String {
    match v.get_type() {
        Ok(ValueType::String) => "a string".to_owned(),
        Ok(ValueType::Boolean) => "a boolean".to_owned(),
        Ok(ValueType::Null) => "null".to_owned(),
        Ok(ValueType::Object) => "an object".to_owned(),
        Ok(ValueType::Function) => "a function".to_owned(),
        Ok(ValueType::BigInt) => "a bigint".to_owned(),
        Ok(ValueType::Symbol) => "a symbol".to_owned(),
        _ => "another type".to_owned(),
    }
}

/// A number option, or `None` when not given. Anything else is the core's type error.
fn number_of(argument: &'static str, v: &Option<Unknown<'_>>) -> Result<Option<f64>, OptionError> {
    let Some(v) = v else { return Ok(None) };
    match v.get_type() {
        Ok(ValueType::Undefined) => Ok(None),
        Ok(ValueType::Number) => Ok(Some(unsafe { v.cast::<f64>() }.unwrap_or(f64::NAN))),
        _ => Err(OptionError::type_error(
            argument,
            format!("must be a number, got {}", describe(v)),
        )),
    }
}

/// Checks a Flow's or an Orchestrator's run options (`maxParallel`, `failFast`, `timeout`,
/// `maxDepth`, each as given, `undefined` when left out) with the core's one validation
/// ([`policy`], [`RunOptions::validate`]): a wrong type is a `TypeError`
/// (`ERR_INVALID_ARG_TYPE`), a wrong value a `RangeError` (`ERR_OUT_OF_RANGE`), each naming
/// the option. `maxParallel: Infinity` means no limit; `maxDepth` defaults to 10,000.
/// `limit_keys` / `limit_values`: `limits`' keys and capacities (each a whole number >= 1,
/// refused as `options.limits.db: must be a whole number >= 1, got 0`); `priority`: its name
/// (an unknown one refused with the core's did-you-mean); `cost_names` / `cost_ms`: a
/// previous report's durations (`costs`).
#[napi]
#[allow(clippy::too_many_arguments)]
pub fn run_options(
    max_parallel: Option<Unknown<'_>>,
    fail_fast: Option<Unknown<'_>>,
    timeout: Option<Unknown<'_>>,
    max_depth: Option<Unknown<'_>>,
    limit_keys: Option<Vec<String>>,
    limit_values: Option<Vec<f64>>,
    priority: Option<String>,
    cost_names: Option<Vec<String>>,
    cost_ms: Option<Vec<f64>>,
) -> napi::Result<CheckedRunOptions, String> {
    guard(|| {
        let check = || -> Result<(CheckedRunOptions, RunOptions), OptionError> {
            let mut o = RunOptions::default();
            let mut max_parallel_n = 0.0;
            if let Some(n) = number_of("options.maxParallel", &max_parallel)? {
                if n != f64::INFINITY {
                    let n = policy::max_parallel("options.maxParallel", n)?;
                    o = o.max_parallel(n);
                    max_parallel_n = (n as f64).min(f64::from(u32::MAX));
                }
            }
            let mut ff = false;
            if let Some(v) = &fail_fast {
                match v.get_type() {
                    Ok(ValueType::Undefined) => {}
                    Ok(ValueType::Boolean) => ff = unsafe { v.cast::<bool>() }.unwrap_or(false),
                    _ => {
                        return Err(OptionError::type_error(
                            "options.failFast",
                            format!("must be a boolean, got {}", describe(v)),
                        ))
                    }
                }
            }
            o = o.fail_fast(ff);
            let mut timeout_ms = -1.0;
            if let Some(t) = number_of("options.timeout", &timeout)? {
                if let Some(d) = policy::timeout_millis("options.timeout", t)? {
                    o = o.timeout(d);
                    timeout_ms = ms(d);
                }
            }
            let mut depth = o.get_max_depth();
            if let Some(n) = number_of("options.maxDepth", &max_depth)? {
                // A whole number >= 1, checked as the run checks it.
                depth = policy::max_depth("options.maxDepth", n)?;
                o = o.max_depth(depth);
            }
            let mut caps = Vec::new();
            let keys = limit_keys.unwrap_or_default();
            let values = limit_values.unwrap_or_default();
            for (k, &n) in keys.iter().zip(values.iter()) {
                let c = policy::capacity(k, n)
                    .map_err(|e| OptionError::value(limit_argument(k), e.message().to_owned()))?;
                o = o.limit(k.clone(), c);
                caps.push(c);
            }
            let mut prio = 0;
            if let Some(p) = &priority {
                let p: policy::Priority = p.parse().map_err(|e: OptionError| {
                    OptionError::value("options.priority", e.message().to_owned())
                })?;
                o = o.priority(p);
                prio = u32::from(p == policy::Priority::CriticalPath);
            }
            let (cost_names, cost_ms) = match (cost_names, cost_ms) {
                (Some(n), Some(c)) if !n.is_empty() => (Some(n), Some(c)),
                _ => (None, None),
            };
            o.validate()?;
            Ok((
                CheckedRunOptions {
                    max_parallel: max_parallel_n,
                    fail_fast: ff,
                    timeout_ms,
                    max_depth: depth,
                    limit_keys: (!keys.is_empty()).then_some(keys),
                    limit_caps: (!caps.is_empty()).then_some(caps),
                    priority: prio,
                    cost_names,
                    cost_ms,
                },
                o,
            ))
        };
        check().map(|(c, _)| c).map_err(|e| option_error(&e))
    })
}

/// Starts a run (not yet started: send input 12, or 14 for a run with a `main`). `graph` is
/// a flow's id from [`flow_new`](crate::flow::flow_new), or -1 for an Orchestrator's run
/// (dynamic tasks only). `targets` NUL-joined or none; `options` as [`run_options`] gave
/// them; `hook_mask` bit `k` set when event kind `k` ([`code::kind`]) has hooks;
/// `started_at_ms` epoch ms.
#[napi]
pub fn run_new(
    graph: i32,
    targets: Option<String>,
    options: CheckedRunOptions,
    hook_mask: u32,
    started_at_ms: f64,
) -> napi::Result<u32, String> {
    guard(|| {
        let (g, sel) = if graph < 0 {
            let g = empty_graph();
            let sel = g.all();
            (g, sel)
        } else {
            flow_select(graph as u32, targets.as_deref())?
        };
        let mut mask = HookMask::NONE;
        for k in 0..32 {
            if hook_mask & (1 << k) != 0 {
                if let Some(kind) = code::kind_from(k) {
                    mask = mask.with(kind);
                }
            }
        }
        let mut o = RunOptions::default()
            .fail_fast(options.fail_fast)
            .hooks(mask)
            .max_depth(options.max_depth);
        if options.max_parallel >= 1.0 {
            o = o.max_parallel(options.max_parallel as usize);
        }
        if options.timeout_ms > 0.0 {
            o = o.timeout(dur(options.timeout_ms));
        }
        if let (Some(keys), Some(caps)) = (&options.limit_keys, &options.limit_caps) {
            for (k, &c) in keys.iter().zip(caps.iter()) {
                o = o.limit(k.clone(), c);
            }
        }
        if options.priority == 1 {
            o = o.priority(policy::Priority::CriticalPath);
        }
        if let (Some(names), Some(costs)) = (&options.cost_names, &options.cost_ms) {
            let known = names
                .iter()
                .zip(costs.iter())
                .map(|(n, &c)| (Arc::<str>::from(n.as_str()), dur(c)))
                .collect();
            o = o.costs(known);
        }
        let run = Run {
            sched: Scheduler::new(g, &sel, o).map_err(|e| option_error(&e))?,
            selection: Some(sel),
            hooks: Slab::new(),
            groups: Vec::new(),
            started_at_ms,
            now: Duration::ZERO,
        };
        Ok(RUNS.with_borrow_mut(|r| r.insert(run)))
    })
}

/// Resumes the run `report` tells of (DESIGN "Resume"), before run `id` starts: each step of
/// the flow that succeeded there is restored ([`Scheduler::restore`]): it will not run again,
/// it ends `succeeded` with no attempt, and hooks see `task_skip` with reason `resumed`. The
/// report's calls (tasks with a parent) are not resumed, and a step the run's targets leave
/// out is not restored. Returns `[task, reported, …]`: each restored task's id in this run
/// beside its id in `report` (the facade hands the result it held on to the new run).
///
/// # Errors
///
/// `ERR_LEGATO_UNKNOWN_TASK` with the core's text (`Task "x" not found (did you mean "y"?)`)
/// for a task of the report that the flow does not have (a report of another flow): nothing
/// is restored and nothing has run.
#[napi]
pub fn run_restore(id: u32, report: &mut NativeReport) -> napi::Result<Vec<u32>, String> {
    guard(|| {
        RUNS.with_borrow_mut(|runs| {
            let run = runs.get_mut(id).ok_or_else(|| unknown_run(id))?;
            let report = report.report();
            let graph = run.sched.graph().clone();
            // Every name is checked before anything is restored.
            let restored: Vec<(TaskId, u32)> = report
                .restorable(&graph)
                .map_err(|e| graph_error(&e))?
                .into_iter()
                .map(|(task, i)| (task, report.tasks[i].id.as_u32()))
                .collect();
            let selection = run.selection.take().ok_or_else(|| {
                coded(
                    "ERR_LEGATO_INTERNAL",
                    "a run is restored once, before it starts",
                )
            })?;
            let mut out = Vec::with_capacity(restored.len() * 2);
            for (task, reported) in restored {
                if !selection.contains(task) {
                    continue;
                }
                run.sched.restore(task, Some(())).map_err(protocol)?;
                out.push(task.as_u32());
                out.push(reported);
            }
            Ok(out)
        })
    })
}

pub(crate) fn live_runs() -> u32 {
    RUNS.with_borrow(|r| r.len())
}

fn unknown_run(id: u32) -> napi::Error<String> {
    coded("ERR_LEGATO_INTERNAL", format!("no run {id}"))
}

fn task_id(s: &Scheduler<()>, t: u32) -> napi::Result<TaskId, String> {
    s.task_id(t)
        .ok_or_else(|| coded("ERR_LEGATO_INTERNAL", format!("no task {t} in this run")))
}

fn protocol(e: ProtocolError) -> napi::Error<String> {
    coded("ERR_LEGATO_INTERNAL", e.to_string())
}

fn message(msgs: &Option<Vec<String>>, i: u32) -> Arc<str> {
    msgs.as_ref()
        .and_then(|m| m.get(i as usize))
        .map_or_else(|| Arc::from("failed"), |s| Arc::from(s.as_str()))
}

fn caller_of(
    s: &Scheduler<()>,
    a: u32,
    attempt: u32,
) -> napi::Result<Option<(TaskId, u32)>, String> {
    Ok(if a == 0 {
        None
    } else {
        Some((task_id(s, a - 1)?, attempt))
    })
}

fn js_error(e: &TaskError) -> Option<JsError> {
    e.source_ref::<JsError>().copied()
}

/// Feeds `n_in` inputs to run `id` at `now_ms` (milliseconds since the run started, read from
/// the JS clock), then writes the commands into `out` (see the module docs). Returns the next
/// deadline in ms since the start, or -1 when there is none.
/// Registered as the raw Node-API function `runStep` (see [`crate::raw`]).
pub(crate) fn run_step(
    id: u32,
    now_ms: f64,
    input: &[u32],
    n_in: u32,
    msgs: Option<Vec<String>>,
    out: &mut [u32],
) -> napi::Result<f64, String> {
    guard(|| {
        RUNS.with_borrow_mut(|runs| {
            BATCH.with_borrow_mut(|batch| {
                let run = runs.get_mut(id).ok_or_else(|| unknown_run(id))?;
                let now = dur(now_ms);
                run.now = run.now.max(now);
                let s = &mut run.sched;
                let n = (n_in as usize).min(input.len() / 4);
                // The batch is one instant's inputs. What makes a call (starting the run,
                // spawns, joins, groups, main's end, a hook's own error) is taken in the order
                // given; the rest goes to the core as one `handle` batch, which orders it
                // (the clock's advance last: see the scheduler's module docs).
                batch.clear();
                let mut i = 0;
                while i < n {
                    let rec = &input[i * 4..i * 4 + 4];
                    i += 1;
                    let (a, b, c) = (rec[1], rec[2], rec[3]);
                    match rec[0] {
                        1 => batch.push(Input::Finished {
                            task: task_id(s, a)?,
                            attempt: b,
                            outcome: Outcome::Ok(()),
                        }),
                        2 => batch.push(Input::Finished {
                            task: task_id(s, a)?,
                            attempt: b,
                            outcome: Outcome::Err {
                                error: TaskError::failed(message(&msgs, c >> 1))
                                    .with_source(Arc::new(JsError::Task(a))),
                                retryable: c & 1 == 1,
                            },
                        }),
                        3 => {
                            let (token, _) = run
                                .hooks
                                .remove(a)
                                .ok_or_else(|| coded("ERR_LEGATO_INTERNAL", "unknown hook slot"))?;
                            batch.push(Input::HookDone(token));
                        }
                        4 => {
                            let (token, _) = run
                                .hooks
                                .remove(a)
                                .ok_or_else(|| coded("ERR_LEGATO_INTERNAL", "unknown hook slot"))?;
                            // The hook's own error object stays the run error's source; the
                            // core has no batch input that carries one, so it is taken here.
                            let e = TaskError::failed(message(&msgs, b))
                                .with_source(Arc::new(JsError::Hook(c)));
                            s.hook_raised(token, e, now).map_err(protocol)?;
                        }
                        5 => batch.push(Input::Advance),
                        6 => batch.push(Input::Cancel),
                        7 => {
                            let caller = caller_of(s, a, c)?;
                            let (name, opts) = options_get(b)
                                .ok_or_else(|| coded("ERR_LEGATO_INTERNAL", "unknown options"))?;
                            s.spawn(caller, name, opts, now).map_err(protocol)?;
                        }
                        18 => {
                            let task = task_id(s, a)?;
                            let value = match b {
                                0 => Ok(false),
                                1 => Ok(true),
                                _ => Err(TaskError::failed(message(&msgs, c))
                                    .with_source(Arc::new(JsError::Task(a)))),
                            };
                            batch.push(Input::Evaluated(task, value));
                        }
                        19 => {
                            let caller = caller_of(s, a, c)?;
                            let (name, opts) = options_get(b)
                                .ok_or_else(|| coded("ERR_LEGATO_INTERNAL", "unknown options"))?;
                            let keys = input.get(i * 4..i * 4 + 4).ok_or_else(|| {
                                coded("ERR_LEGATO_INTERNAL", "a call's keys are missing")
                            })?;
                            i += 1;
                            let (first, count) = (keys[0] as usize, keys[1] as usize);
                            let list = msgs
                                .as_ref()
                                .and_then(|m| m.get(first..first + count))
                                .ok_or_else(|| {
                                    coded("ERR_LEGATO_INTERNAL", "a call's keys are missing")
                                })?;
                            let mut o = (*opts).clone();
                            for k in list {
                                o = o.uses(k.clone());
                            }
                            s.spawn(caller, name, Arc::new(o), now).map_err(protocol)?;
                        }
                        12 => {
                            run.selection = None;
                            s.start(now);
                        }
                        14 => s.start_main(now),
                        15 => s.main_finished(a == 1, now),
                        16 => {
                            let caller = caller_of(s, a, b)?;
                            let target = task_id(s, c)?;
                            s.join(caller, target, now).map_err(protocol)?;
                        }
                        17 => {
                            let caller = caller_of(s, a, b)?;
                            let count = c as usize;
                            let words = count.div_ceil(4) * 4;
                            let from = i * 4;
                            let ids = input.get(from..from + words).ok_or_else(|| {
                                coded("ERR_LEGATO_INTERNAL", "a group's members are missing")
                            })?;
                            let members = ids[..count]
                                .iter()
                                .map(|&m| task_id(s, m))
                                .collect::<Result<Vec<_>, _>>()?;
                            i += words / 4;
                            let g = s.group(caller, &members, now).map_err(protocol)?;
                            run.groups.push(g);
                        }
                        op => {
                            return Err(coded("ERR_LEGATO_INTERNAL", format!("unknown input {op}")))
                        }
                    }
                }
                if !batch.is_empty() {
                    let handled = s.handle(now, batch.drain(..)).map_err(protocol);
                    if batch.capacity() > BATCH_KEEP {
                        batch.shrink_to(BATCH_KEEP);
                    }
                    handled?;
                }
                let cap = out.len().saturating_sub(1) / 4;
                let mut k = 0usize;
                while k < cap {
                    let Some(command) = s.next_command() else {
                        break;
                    };
                    let at = 1 + k * 4;
                    let rec: [u32; 4] = match command {
                        Command::Start { task, attempt } => [1, task.as_u32(), attempt, 0],
                        Command::Cancel {
                            task,
                            attempt,
                            timed_out,
                        } => [2, task.as_u32(), attempt, timed_out as u32],
                        Command::Emit { event, token } => {
                            let p = Payload::new(s, &event);
                            let (t, att) = (p.task.map_or(NONE, |t| t.as_u32()), p.attempt);
                            let kind = code::kind(p.kind);
                            let slot = run.hooks.insert((token, *event));
                            [4 | (kind << 8), t, att, slot]
                        }
                        Command::Deliver { task } => {
                            let o = s.call_outcome(task).map_err(protocol)?;
                            [5, task.as_u32(), outcome_code(&o), 0]
                        }
                        Command::Joined { join, task } => {
                            let o = s.call_outcome(task).map_err(protocol)?;
                            [7, join.as_u32(), task.as_u32(), outcome_code(&o)]
                        }
                        Command::StartMain => [8, 0, 0, 0],
                        Command::CancelMain => [9, 0, 0, 0],
                        Command::Finished => [6, 0, 0, 0],
                        Command::Evaluate { task } => [10, task.as_u32(), 0, 0],
                        // Resume answers `suspend`, which this driver never sends.
                        _ => continue,
                    };
                    out[at..at + 4].copy_from_slice(&rec);
                    k += 1;
                }
                if let Some(o) = out.first_mut() {
                    *o = k as u32;
                }
                Ok(s.next_deadline().map_or(-1.0, ms))
            })
        })
    })
}

/// The details of an emitted event (for hooks whose payload needs more than the name), from
/// the kit's one neutral [`Payload`]: only the fields its kind has ([`Payload::FIELDS`]).
#[napi(object)]
#[derive(Debug, Default)]
pub struct EventDetail {
    /// Duration of the task (success, failure, completion) or of the run (process completion), ms.
    pub duration_ms: Option<f64>,
    /// The delay before the next attempt (retry), ms.
    pub delay_ms: Option<f64>,
    /// The final status (completion), as the core names it (`succeeded`, `failed`, ...).
    pub status: Option<String>,
    /// The error's outcome code (see `errorFor` in lib/driver.js): 1 failed (the task's own),
    /// 2 timed out, 3 cancelled, 5 too deep. Left out when the payload has no error
    /// (`task_completion` of a task that succeeded, after retries too, or was skipped).
    pub error_code: Option<u32>,
    /// The error's message as the core knows it.
    pub error_message: Option<String>,
    /// Why a task was skipped.
    pub reason: Option<String>,
}

/// The details of the event in hook slot `slot` of run `id`.
#[napi]
pub fn run_event(id: u32, slot: u32) -> napi::Result<EventDetail, String> {
    guard(|| {
        RUNS.with_borrow(|runs| {
            let run = runs.get(id).ok_or_else(|| unknown_run(id))?;
            let (_, e) = run
                .hooks
                .get(slot)
                .ok_or_else(|| coded("ERR_LEGATO_INTERNAL", "unknown hook slot"))?;
            let p = Payload::new(&run.sched, e);
            Ok(EventDetail {
                duration_ms: p.duration.map(ms),
                delay_ms: p.delay.map(ms),
                status: p.status.map(|s| s.as_str().to_owned()),
                error_code: p.error.map(error_code),
                error_message: p.error.map(|e| e.message.to_string()),
                reason: p.reason.map(|r| r.to_string()),
            })
        })
    })
}

/// The message of the error a caller of `task` gets, when the core made it (a cancellation,
/// a skip naming its reason, a call too deep, a timeout): what [`CallOutcome`] holds.
#[napi]
pub fn run_call_error(id: u32, task: u32) -> napi::Result<Option<String>, String> {
    guard(|| {
        RUNS.with_borrow(|runs| {
            let run = runs.get(id).ok_or_else(|| unknown_run(id))?;
            let s = &run.sched;
            let o = s.call_outcome(task_id(s, task)?).map_err(protocol)?;
            Ok(o.error().map(|e| e.message.to_string()))
        })
    })
}

/// The run's error when it stopped early ([`Scheduler::stop_error`], decided by the core):
/// `[code, ref, message]`, `code` an outcome code ([`error_code`]), `ref` the JS error it
/// stands for — `task << 1` for what task `task` threw (or, on a fail-fast stop, the task whose
/// timeout stopped it), `n << 1 | 1` for the run's `n`th hook error, `0xFFFF_FFFF` for none — and `message` the core's text (`run timed out after
/// 100ms`, `run cancelled`, `hook for event "task_begin" failed: boom`). Null when the run
/// did not stop early, or stopped because `main` threw (main's own error is the run's).
#[napi]
pub fn run_stop_error(id: u32) -> napi::Result<Option<(u32, u32, String)>, String> {
    guard(|| {
        RUNS.with_borrow(|runs| {
            let run = runs.get(id).ok_or_else(|| unknown_run(id))?;
            Ok(run.sched.stop_error().map(|e| {
                let r = match js_error(&e) {
                    Some(JsError::Task(t)) => t << 1,
                    Some(JsError::Hook(h)) => (h << 1) | 1,
                    // A fail-fast stop on a timeout: the task that timed out (its error, the
                    // one its AbortSignal fired with, is held in JS).
                    None => match run.sched.stop_reason() {
                        Some(StopReason::FailFast { .. }) => {
                            run.sched.first_failure().map_or(NONE, |t| t.as_u32() << 1)
                        }
                        _ => NONE,
                    },
                };
                (error_code(&e), r, e.message.to_string())
            }))
        })
    })
}

/// The member of fail-fast group `group` (numbered from 0 in the order input 17 made them)
/// that failed first, if one did, and its outcome code ([`outcome_code`]): `[task, outcome]`,
/// the group's outcome.
#[napi]
pub fn run_group_failure(id: u32, group: u32) -> napi::Result<Option<(u32, u32)>, String> {
    guard(|| {
        RUNS.with_borrow(|runs| {
            let run = runs.get(id).ok_or_else(|| unknown_run(id))?;
            let g = run
                .groups
                .get(group as usize)
                .ok_or_else(|| coded("ERR_LEGATO_INTERNAL", format!("no group {group}")))?;
            let Some(t) = run.sched.group_failure(*g) else {
                return Ok(None);
            };
            let o = run.sched.call_outcome(t).map_err(protocol)?;
            Ok(Some((t.as_u32(), outcome_code(&o))))
        })
    })
}

/// A snapshot of run `id`'s report (for `process_completion`'s payload, before the run ends).
#[napi]
pub fn run_report(id: u32) -> napi::Result<NativeReport, String> {
    guard(|| {
        RUNS.with_borrow(|runs| {
            let run = runs.get(id).ok_or_else(|| unknown_run(id))?;
            let mut report = run.sched.report();
            if run.started_at_ms.is_finite() && run.started_at_ms >= 0.0 {
                report.started_at = Some(epoch(run.started_at_ms));
            }
            Ok(NativeReport::new(report))
        })
    })
}

/// Ends run `id` and hands over its report (the run's state is freed).
#[napi]
pub fn run_finish(id: u32) -> napi::Result<NativeReport, String> {
    guard(|| {
        let run = RUNS
            .with_borrow_mut(|runs| runs.remove(id))
            .ok_or_else(|| unknown_run(id))?;
        let started_at = (run.started_at_ms.is_finite() && run.started_at_ms >= 0.0)
            .then(|| epoch(run.started_at_ms));
        // The report is made when first read (most runs are only asked `ok`).
        Ok(NativeReport::finished(run.sched, run.now, started_at))
    })
}

/// Frees an abandoned run (its JS side was collected before it finished).
#[napi]
pub fn run_drop(id: u32) {
    RUNS.with_borrow_mut(|runs| runs.remove(id));
}
