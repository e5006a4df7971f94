//! One run's scheduler, driven from JS in batches.
//!
//! The facade calls [`run_step`] with every input gathered since the last call (finished
//! attempts, finished hooks, spawns, cancels, "time advanced") and gets back every command the
//! scheduler has for it (start, cancel, resume, emit, settled, finished) in the same crossing.
//! Values and errors stay in JS, keyed by task id; the core sees only outcomes and messages.
//!
//! Inputs are 4-word records `[op, a, b, c]` in a `Uint32Array`:
//!
//! | op | input | a, b, c |
//! |---|---|---|
//! | 1 | attempt succeeded | task, attempt |
//! | 2 | attempt failed | task, attempt, `msg << 1 \| retryable` (msg: index in `msgs`) |
//! | 3 | hooks done | slot |
//! | 4 | a hook threw | slot, msg |
//! | 5 | time advanced | |
//! | 6 | cancel the run | |
//! | 7 | spawn a dynamic task | caller + 1 (0: none), options id, the caller's attempt |
//! | 8 | suspend (a task awaits a child) | task |
//! | 9 | resume (an awaited child is done) | task |
//! | 10 | hold the run open | |
//! | 11 | release a hold | |
//! | 12 | start the run | |
//! | 13 | cancel one task | task |
//!
//! Commands are written to `out` from index 1 as 4-word records, their count in `out[0]`:
//! `[1, task, attempt, 0]` start; `[2, task, attempt, timed_out]` cancel; `[3, task, 0, 0]`
//! resume; `[4 | kind << 8, task, attempt, slot]` emit (task `0xFFFF_FFFF` for process events;
//! details through [`run_event`]); `[5, task, status, 0]` deliver a dynamic task's outcome to
//! its caller now; `[6, 0, 0, 0]`
//! the run is finished. When `out` is full the rest waits for the next call.

use crate::errors::{coded, guard, option_error};
use crate::flow::{flow_select, options_get, Slab};
use crate::report::NativeReport;
use legato::event::{Event, EventKind, HookMask, Status, StopReason, TaskError};
use legato::graph::{Graph, GraphBuilder, TaskId};
use legato::scheduler::{Command, HookToken, Input, Outcome, ProtocolError, RunOptions, Scheduler};
use std::cell::RefCell;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, UNIX_EPOCH};

const NONE: u32 = u32::MAX;

struct Run {
    sched: Scheduler<()>,
    hooks: Slab<(HookToken, Event)>,
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

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_nanos() as f64 / 1e6
}

pub(crate) fn status_code(s: Status) -> u32 {
    match s {
        Status::Pending => 0,
        Status::Ready => 1,
        Status::Running => 2,
        Status::Succeeded => 3,
        Status::Failed => 4,
        Status::TimedOut => 5,
        Status::Skipped => 6,
        Status::Cancelled => 7,
        _ => 8,
    }
}

fn kind_of(i: u32) -> Option<EventKind> {
    Some(match i {
        0 => EventKind::ProcessBegin,
        1 => EventKind::TaskReady,
        2 => EventKind::TaskBegin,
        3 => EventKind::TaskRetry,
        4 => EventKind::TaskSuccess,
        5 => EventKind::TaskFailure,
        6 => EventKind::TaskSkip,
        7 => EventKind::TaskCompletion,
        8 => EventKind::ProcessCompletion,
        _ => return None,
    })
}

fn kind_code(k: EventKind) -> u32 {
    (0..9).find(|&i| kind_of(i) == Some(k)).unwrap_or(9)
}

/// Starts a run (not yet started: send input 12). `graph` is a flow's id from
/// [`flow_new`](crate::flow::flow_new), or -1 for an Orchestrator's run (dynamic tasks
/// only). `targets` NUL-joined or none; `max_parallel` 0 for unlimited; `timeout_ms` < 0 for
/// none; `hook_mask` bit `k` set when event kind `k` has hooks; `started_at_ms` epoch ms.
#[napi]
pub fn run_new(
    graph: i32,
    targets: Option<String>,
    max_parallel: u32,
    fail_fast: bool,
    timeout_ms: f64,
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
        for k in 0..9 {
            if hook_mask & (1 << k) != 0 {
                if let Some(kind) = kind_of(k) {
                    mask = mask.with(kind);
                }
            }
        }
        let mut o = RunOptions::default().fail_fast(fail_fast).hooks(mask);
        if max_parallel > 0 {
            o = o.max_parallel(max_parallel as usize);
        }
        if timeout_ms >= 0.0 {
            o = o.timeout(dur(timeout_ms));
        }
        let run = Run {
            sched: Scheduler::new(g, &sel, o).map_err(|e| option_error(&e))?,
            hooks: Slab::new(),
            started_at_ms,
            now: Duration::ZERO,
        };
        Ok(RUNS.with_borrow_mut(|r| r.insert(run)))
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

fn event_task(e: &Event) -> (u32, u32) {
    match e {
        Event::TaskReady { task }
        | Event::TaskSuccess { task, .. }
        | Event::TaskFailure { task, .. }
        | Event::TaskSkip { task, .. }
        | Event::TaskCompletion { task, .. } => (task.as_u32(), 0),
        Event::TaskBegin { task, attempt } | Event::TaskRetry { task, attempt, .. } => {
            (task.as_u32(), *attempt)
        }
        _ => (NONE, 0),
    }
}

fn message(msgs: &Option<Vec<String>>, i: u32) -> Arc<str> {
    msgs.as_ref()
        .and_then(|m| m.get(i as usize))
        .map_or_else(|| Arc::from("failed"), |s| Arc::from(s.as_str()))
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
                // The batch is one instant's inputs. What only the host can order (starting the
                // run, holds, spawns, suspends) is taken in the order given; everything the
                // contract orders (finished attempts, hooks, resumes, releases, cancels) goes to
                // the core as one `handle` batch, which decides their order (finished attempts
                // before an outside cancel); the clock's advance comes last, so that an attempt
                // finishing at the instant of its deadline counts as finished.
                batch.clear();
                let mut advance = false;
                for rec in input[..n * 4].chunks_exact(4) {
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
                                error: TaskError::failed(message(&msgs, c >> 1)),
                                retryable: c & 1 == 1,
                            },
                        }),
                        3 | 4 => {
                            let (token, _) = run
                                .hooks
                                .remove(a)
                                .ok_or_else(|| coded("ERR_LEGATO_INTERNAL", "unknown hook slot"))?;
                            batch.push(if rec[0] == 3 {
                                Input::HookDone(token)
                            } else {
                                Input::HookFailed(token, message(&msgs, b))
                            });
                        }
                        5 => advance = true,
                        6 => batch.push(Input::Cancel),
                        7 => {
                            let caller = if a == 0 {
                                None
                            } else {
                                Some((task_id(s, a - 1)?, c))
                            };
                            let (name, opts) = options_get(b)
                                .ok_or_else(|| coded("ERR_LEGATO_INTERNAL", "unknown options"))?;
                            s.spawn(caller, name, opts, now).map_err(protocol)?;
                        }
                        8 => s.suspend(task_id(s, a)?).map_err(protocol)?,
                        9 => batch.push(Input::Resume(task_id(s, a)?)),
                        10 => s.hold(),
                        11 => batch.push(Input::Release),
                        12 => s.start(now),
                        13 => batch.push(Input::CancelTask(task_id(s, a)?)),
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
                if advance {
                    s.advance(now);
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
                        Command::Resume { task } => [3, task.as_u32(), 0, 0],
                        Command::Emit { event, token } => {
                            let (t, att) = event_task(&event);
                            let kind = kind_code(event.kind());
                            let slot = run.hooks.insert((token, *event));
                            [4 | (kind << 8), t, att, slot]
                        }
                        Command::Deliver { task } => {
                            [5, task.as_u32(), status_code(s.status(task)), 0]
                        }
                        Command::Finished => [6, 0, 0, 0],
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

/// The details of an emitted event (for hooks whose payload needs more than the name).
#[napi(object)]
#[derive(Debug, Default)]
pub struct EventDetail {
    /// The event kind's name, e.g. `task_retry`.
    pub kind: String,
    /// Duration of the task (success, failure, completion) or of the run (process completion), ms.
    pub duration_ms: Option<f64>,
    /// The delay before the next attempt (retry), ms.
    pub delay_ms: Option<f64>,
    /// The final status (completion).
    pub status: Option<String>,
    /// The error's kind: `failed`, `timed_out`, `cancelled`, `panicked`.
    pub error_kind: Option<String>,
    /// The error's message as the core knows it.
    pub error_message: Option<String>,
    /// Why a task was skipped.
    pub reason: Option<String>,
}

fn put_error(d: &mut EventDetail, e: &TaskError) {
    d.error_kind = Some(e.kind.as_str().to_owned());
    d.error_message = Some(e.message.to_string());
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
            let mut d = EventDetail {
                kind: e.kind().as_str().to_owned(),
                ..Default::default()
            };
            match e {
                Event::TaskRetry { error, delay, .. } => {
                    d.delay_ms = Some(ms(*delay));
                    put_error(&mut d, error);
                }
                Event::TaskSuccess { duration, .. } => d.duration_ms = Some(ms(*duration)),
                Event::TaskFailure {
                    duration, error, ..
                } => {
                    d.duration_ms = Some(ms(*duration));
                    put_error(&mut d, error);
                }
                Event::TaskSkip { reason, .. } => d.reason = Some(reason.to_string()),
                Event::TaskCompletion {
                    duration,
                    status,
                    error,
                    ..
                } => {
                    d.duration_ms = Some(ms(*duration));
                    d.status = Some(status.as_str().to_owned());
                    if let Some(e) = error {
                        put_error(&mut d, e);
                    }
                }
                Event::ProcessCompletion { total } => d.duration_ms = Some(ms(*total)),
                _ => {}
            }
            Ok(d)
        })
    })
}

/// A task's error as the core knows it, `[kind, message]` (or nothing): for errors the core
/// made itself (timeouts, cancellations, skips), which have no JS error object behind them.
#[napi]
pub fn run_task_error(id: u32, task: u32) -> napi::Result<Option<Vec<String>>, String> {
    guard(|| {
        RUNS.with_borrow(|runs| {
            let run = runs.get(id).ok_or_else(|| unknown_run(id))?;
            let s = &run.sched;
            let t = task_id(s, task)?;
            if let Some(e) = s.error(t) {
                return Ok(Some(vec![
                    e.kind.as_str().to_owned(),
                    e.message.to_string(),
                ]));
            }
            if s.status(t) == Status::Skipped {
                let reason = s
                    .report()
                    .task(t)
                    .and_then(|r| r.skip_reason.as_ref().map(|r| r.to_string()))
                    .unwrap_or_else(|| "skipped".to_owned());
                return Ok(Some(vec!["skipped".to_owned(), reason]));
            }
            Ok(None)
        })
    })
}

/// Why the run stopped early, if it did: `[kind, message]`, the kind one of `fail_fast`,
/// `cancelled`, `timed_out`, `hook_failed` (`stopped` for a reason this layer does not know),
/// the message the core's text (`run timed out after 100ms`, `fail-fast: task "x" failed`, …).
#[napi]
pub fn run_stop_reason(id: u32) -> napi::Result<Option<Vec<String>>, String> {
    guard(|| {
        RUNS.with_borrow(|runs| {
            let run = runs.get(id).ok_or_else(|| unknown_run(id))?;
            Ok(run.sched.stop_reason().map(|r| {
                let kind = match r {
                    StopReason::FailFast { .. } => "fail_fast",
                    StopReason::Cancelled => "cancelled",
                    StopReason::TimedOut(_) => "timed_out",
                    StopReason::HookFailed { .. } => "hook_failed",
                    _ => "stopped",
                };
                vec![kind.to_owned(), r.to_string()]
            }))
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
                report.started_at = Some(UNIX_EPOCH + dur(run.started_at_ms));
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
            .then(|| UNIX_EPOCH + dur(run.started_at_ms));
        // The report is made when first read (most runs are only asked `ok`).
        Ok(NativeReport::finished(run.sched, run.now, started_at))
    })
}

/// Frees an abandoned run (its JS side was collected before it finished).
#[napi]
pub fn run_drop(id: u32) {
    RUNS.with_borrow_mut(|runs| runs.remove(id));
}
