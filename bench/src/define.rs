//! What a user pays (issue 23): declaring a flow by name, running it and taking its report
//! (`w1-define`, `w3-define`), and where that time goes, phase by phase (`phases`).
//!
//! The W1–W3 rows of [`crate::sched`] time `flow.run()` alone, on a flow declared beforehand.
//! A user also pays for declaring it: here the clock starts before the first `Flow::task` and
//! stops when `flow.run()` has returned the report. That is what C++ Taskflow's benchmarks call
//! "construction + names + run".

use crate::results::Row;
use crate::runners::{self, legato_runner, Impl};
use crate::workload::{self, Dag};
use crate::{median_ms, Line, Options};
use legato::driver::Value;
use legato::scheduler::{Command, Input, Outcome, RunOptions, Scheduler};
use legato::{BoxError, Cx, Flow, RunReport, Status};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Declares `dag` as a user does: every task by name (`format!("t{i}")`; W1's last task is
/// `"sink"`) with a no-op async body, then `.after(...)` with the names of its dependencies
/// (borrowed from the workload's name table, as [`legato_runner::flow`] does). A task without
/// dependencies gets no `.after` call, and no option is set (W1 and W3 have none).
///
/// # Errors
///
/// The flow's error for a name it refuses (none of the workloads' names is refused).
pub(crate) fn declare(dag: &Dag) -> Result<Flow, String> {
    declare_with(dag, Bodies::Async)
}

/// The bodies a declared flow's tasks get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bodies {
    /// `Flow::task` with a no-op async body (what W1–W3 run, as the tokio peers do).
    Async,
    /// `Flow::task_sync` with a no-op plain function (what C++ Taskflow's tasks are).
    Sync,
}

/// [`declare`] with the given kind of bodies.
fn declare_with(dag: &Dag, bodies: Bodies) -> Result<Flow, String> {
    let noop = |_: Cx| async { Ok::<(), BoxError>(()) };
    let noop_sync = |_: Cx| Ok::<(), BoxError>(());
    let err = |e: legato::GraphError| e.to_string();
    let mut flow = Flow::new();
    for (i, deps) in dag.deps.iter().enumerate() {
        let name = if dag.names[i] == "sink" {
            "sink".to_owned()
        } else {
            format!("t{i}")
        };
        let task = match bodies {
            Bodies::Async => flow.task(name, noop).map_err(err)?,
            Bodies::Sync => flow.task_sync(name, noop_sync).map_err(err)?,
        };
        if !deps.is_empty() {
            task.after(deps.iter().map(|&j| dag.names[j as usize].as_str()));
        }
    }
    Ok(flow)
}

/// One timed "declare + run + report" of `dag` on `rt` (checking the report and dropping it
/// and the flow are not timed).
fn time_define(
    dag: &Dag,
    rt: &tokio::runtime::Runtime,
    bodies: Bodies,
) -> Result<Duration, String> {
    let start = Instant::now();
    let flow = declare_with(dag, bodies)?;
    let report = rt.block_on(flow.run());
    let took = start.elapsed();
    legato_runner::check(dag, report)?;
    drop(black_box(flow));
    Ok(took)
}

/// `w1-define` / `w3-define`: the median of `runs` timed "declare + run + report" of the
/// workload, after one warm-up, twice: with no-op async bodies (`Flow::task`, row `legato`)
/// and with no-op plain functions (`Flow::task_sync`, row `legato-sync`: what C++ Taskflow's
/// tasks are). Each is followed by a run of an already declared flow (legato's W1/W3 row), so
/// the note says how much of the whole declaring adds, and, when it is built, by one run of
/// C++ Taskflow's "construction + names + run" of the same graph in its own process
/// ([`TaskflowPeer`]): they take turns, run by run, so that a slow moment of the machine falls
/// on all of them alike. legato's time over Taskflow's is checked against issue 23's target
/// (≤ 2×).
fn define_workload(options: &Options, id: &str, dag: &Dag) -> Result<Vec<Line>, String> {
    let tasks = dag.len();
    let workload = format!("{id}-define");
    let mut line = Line::new(workload.clone(), Impl::Legato.name(), tasks);
    if options.only.is_some_and(|i| i != Impl::Legato) {
        line.note = "legato only".to_owned();
        return Ok(vec![line]);
    }
    eprintln!("  {workload}: warm-up …");
    let rt = runners::runtime()?;
    time_define(dag, &rt, Bodies::Async)?;
    time_define(dag, &rt, Bodies::Sync)?;
    runners::time_one(Impl::Legato, dag, &rt)?;
    // The peer, unless only legato was asked for.
    let mut peer_state = match (options.only, taskflow_program()) {
        (Some(_), _) => Err(String::new()),
        (None, Some(program)) => TaskflowPeer::start(&program, &id.to_lowercase()),
        (None, None) => Err(TASKFLOW_NOT_BUILT.to_owned()),
    };
    let mut define = Vec::with_capacity(options.runs);
    let mut define_sync = Vec::with_capacity(options.runs);
    let mut run_only = Vec::with_capacity(options.runs);
    let mut peer_times = Vec::with_capacity(options.runs);
    let mut peer_constructs = Vec::with_capacity(options.runs);
    for _ in 0..options.runs {
        // Each takes its turn warm: an untimed run first (Taskflow's program does the same).
        time_define(dag, &rt, Bodies::Async)?;
        define.push(time_define(dag, &rt, Bodies::Async)?);
        time_define(dag, &rt, Bodies::Sync)?;
        define_sync.push(time_define(dag, &rt, Bodies::Sync)?);
        run_only.push(runners::time_one(Impl::Legato, dag, &rt)?);
        if let Ok(peer) = &mut peer_state {
            match peer.run_once() {
                Ok((total, construct)) => {
                    peer_times.push(total);
                    peer_constructs.push(construct);
                }
                Err(e) => peer_state = Err(e),
            }
        }
    }
    let (ms, sync_ms, run_ms) = (
        median_ms(define),
        median_ms(define_sync),
        median_ms(run_only),
    );
    let per_task = |ms: f64| ms * 1e3 / tasks as f64;
    line.ms = Some(ms);
    line.per_task_us = Some(per_task(ms));
    line.note = format!(
        "declare + run + report, async no-op bodies (Flow::task); flow.run() alone {:.3} \
         µs/task in the same runs",
        per_task(run_ms)
    );
    let mut row = Row::for_impl(Impl::Legato.name(), &workload)
        .int("tasks", tasks as u64)
        .int("runs", options.runs as u64)
        .float("ms", ms)
        .float("per_task_us", per_task(ms))
        .float("run_only_per_task_us", per_task(run_ms));
    let mut sync_line = Line::new(workload.clone(), "legato-sync", tasks);
    sync_line.ms = Some(sync_ms);
    sync_line.per_task_us = Some(per_task(sync_ms));
    sync_line.note = "declare + run + report, no-op plain functions (Flow::task_sync)".to_owned();
    let mut sync_row = Row::for_impl("legato-sync", &workload)
        .int("tasks", tasks as u64)
        .int("runs", options.runs as u64)
        .float("ms", sync_ms)
        .float("per_task_us", per_task(sync_ms));

    let mut peer = Line::new(workload.clone(), "taskflow", tasks);
    match peer_state.and_then(TaskflowPeer::finish) {
        Ok(graph) if graph != (tasks, dag.checksum()) => peer.note = other_graph(graph, dag),
        Ok(_) => {
            let (tf_ms, construct_ms) = (median_ms(peer_times), median_ms(peer_constructs));
            peer.ms = Some(tf_ms);
            peer.per_task_us = Some(per_task(tf_ms));
            peer.note = format!(
                "C++ Taskflow: construction + names + run (bench/taskflow); construction + \
                 names alone {:.3} µs/task",
                per_task(construct_ms)
            );
            peer.row = Some(
                Row::for_impl("taskflow", &workload)
                    .int("tasks", tasks as u64)
                    .int("runs", options.runs as u64)
                    .float("ms", tf_ms)
                    .float("per_task_us", per_task(tf_ms))
                    .float("construct_ms", construct_ms),
            );
            let against = |line: &mut Line, ms: f64| {
                let ratio = ms / tf_ms;
                line.note = format!(
                    "{}; {ratio:.2}× Taskflow, target ≤ 2× (issue 23): {}",
                    line.note,
                    if ratio <= 2.0 { "met" } else { "MISSED" }
                );
                ratio
            };
            row = row.float("vs_taskflow", against(&mut line, ms));
            sync_row = sync_row.float("vs_taskflow", against(&mut sync_line, sync_ms));
        }
        Err(why) => peer.note = why,
    }
    line.row = Some(row);
    sync_line.row = Some(sync_row);
    let mut lines = vec![line, sync_line];
    if options.only.is_none() {
        lines.push(peer);
    }
    Ok(lines)
}

/// Why a figure of Taskflow's program is not reported: it ran another graph than `dag`.
fn other_graph((tasks, checksum): (usize, u64), dag: &Dag) -> String {
    format!(
        "taskflow-bench ran another graph: {tasks} tasks, checksum {checksum}, not {} and {}",
        dag.len(),
        dag.checksum()
    )
}

/// What the taskflow line says when its program is not built.
const TASKFLOW_NOT_BUILT: &str =
    "not built: C++ Taskflow's headers not found (make -C bench/taskflow; bench/README.md)";

/// Where `taskflow-bench` (bench/taskflow, built by `make -C bench/taskflow` into
/// `target/taskflow/`) is: `$LEGATO_TASKFLOW_BENCH`, else `taskflow/taskflow-bench` in a
/// directory above this program (`target/release/legato-bench`, or a test binary in
/// `target/debug/deps/`), if it is there.
fn taskflow_program() -> Option<std::path::PathBuf> {
    if let Some(path) = std::env::var_os("LEGATO_TASKFLOW_BENCH") {
        return Some(path.into());
    }
    let exe = std::env::current_exe().ok()?;
    exe.ancestors()
        .skip(1)
        .map(|dir| dir.join("taskflow").join("taskflow-bench"))
        .find(|path| path.is_file())
}

/// C++ Taskflow's program for one workload, started as `taskflow-bench <w1|w3> serve`: after
/// its warm-up it says `ready tasks=N checksum=H` (its graph's size and [`Dag::checksum`]),
/// then does one (warm) timed run per line it reads and answers `ms=M construct_ms=C`.
#[derive(Debug)]
struct TaskflowPeer {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: std::io::BufReader<std::process::ChildStdout>,
    tasks: usize,
    /// The fingerprint of its graph ([`Dag::checksum`]).
    checksum: u64,
}

impl TaskflowPeer {
    /// Starts the program at `program` for `workload` (`w1` or `w3`) and waits until it is
    /// ready.
    ///
    /// # Errors
    ///
    /// It cannot be started, or it ended or said something else before it was ready.
    fn start(program: &std::path::Path, workload: &str) -> Result<Self, String> {
        use std::process::{Command, Stdio};
        let mut child = Command::new(program)
            .args([workload, "serve"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err("taskflow-bench: no pipes".to_owned());
        };
        let mut peer = TaskflowPeer {
            child,
            stdin,
            stdout: std::io::BufReader::new(stdout),
            tasks: 0,
            checksum: 0,
        };
        let line = peer.answer()?;
        let ready = line.strip_prefix("ready ").and_then(|rest| {
            let field = |key: &str| {
                rest.split_whitespace()
                    .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
            };
            Some((
                field("tasks")?.parse().ok()?,
                field("checksum")?.parse().ok()?,
            ))
        });
        (peer.tasks, peer.checksum) =
            ready.ok_or_else(|| format!("taskflow-bench said {line:?}, not ready"))?;
        Ok(peer)
    }

    /// The next line the program writes.
    fn answer(&mut self) -> Result<String, String> {
        use std::io::BufRead;
        let mut line = String::new();
        match self.stdout.read_line(&mut line) {
            Ok(0) => Err(format!(
                "taskflow-bench ended ({})",
                self.child
                    .wait()
                    .map_or_else(|e| e.to_string(), |s| s.to_string())
            )),
            Ok(_) => Ok(line.trim_end().to_owned()),
            Err(e) => Err(format!("taskflow-bench: {e}")),
        }
    }

    /// One timed run: its whole time, and that of its construction + names alone.
    fn run_once(&mut self) -> Result<(Duration, Duration), String> {
        use std::io::Write;
        writeln!(self.stdin, "run").map_err(|e| format!("taskflow-bench: {e}"))?;
        let line = self.answer()?;
        let field = |key: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
                .and_then(|ms| ms.parse::<f64>().ok())
                .filter(|ms| ms.is_finite() && *ms >= 0.0)
                .map(|ms| Duration::from_secs_f64(ms / 1e3))
        };
        match (field("ms"), field("construct_ms")) {
            (Some(total), Some(construct)) => Ok((total, construct)),
            _ => Err(format!("taskflow-bench said {line:?}, not its times")),
        }
    }

    /// Ends the program (the end of its input) and returns how many tasks its graph had, and
    /// its fingerprint.
    ///
    /// # Errors
    ///
    /// It failed.
    fn finish(self) -> Result<(usize, u64), String> {
        let TaskflowPeer {
            mut child,
            stdin,
            tasks,
            checksum,
            ..
        } = self;
        drop(stdin);
        match child.wait() {
            Ok(status) if status.success() => Ok((tasks, checksum)),
            Ok(status) => Err(format!("taskflow-bench failed ({status})")),
            Err(e) => Err(format!("taskflow-bench: {e}")),
        }
    }
}

/// `w1-define`: W1 declared by name, run, report.
pub(crate) fn w1_define(options: &Options) -> Result<Vec<Line>, String> {
    define_workload(options, "W1", &workload::wide(10_000))
}

/// `w3-define`: W3 declared by name, run, report.
pub(crate) fn w3_define(options: &Options) -> Result<Vec<Line>, String> {
    define_workload(options, "W3", &workload::random_dag(10_000))
}

/// The phases of "declare + run + report", in the order the table lists them.
const PHASES: [(&str, &str); N_PHASES] = [
    ("declare", "declare (Flow::task + after)"),
    ("graph", "graph build + validation (Flow::graph)"),
    ("scheduler_new", "Scheduler::new"),
    ("run_loop", "run loop (run - new - report)"),
    ("state_machine", "  of it: state machine alone"),
    ("report", "report (take values + into_report)"),
    ("run", "flow.run(), graph built before"),
    ("drop", "drop (report + flow), not in run"),
    ("run_again", "flow.run() again, same flow (memory reused)"),
];

/// How many phases [`PHASES`] lists.
const N_PHASES: usize = 9;

/// One sample of every phase of `dag`, in the order of [`PHASES`] (the derived `run_loop`
/// is left at zero, computed from the medians).
///
/// In the tokio runtime `rt`: the flow is declared ([`declare`]); `flow.graph()` builds and
/// validates its graph (kept by the flow); `flow.run()` runs it on that graph and returns the
/// report; then the report and the flow are dropped. Beside it, by hand, through the
/// scheduler's public protocol on the same graph: `Scheduler::new` (what the driver makes
/// first); the state machine alone (`start`, then every `Start` command answered by an
/// `Input::Finished` with an `Ok` outcome, the completions of one round in one `handle` call
/// as the tokio driver hands them, until `Finished`); and the report (every value taken, then
/// `into_report`, as the driver ends a run). Last, `flow.run()` of the same flow once more
/// (`run_again`), in the memory its first run left.
fn sample(dag: &Dag, rt: &tokio::runtime::Runtime) -> Result<[Duration; N_PHASES], String> {
    let mut t = [Duration::ZERO; N_PHASES];

    let start = Instant::now();
    let flow = declare(dag)?;
    t[0] = start.elapsed();

    let start = Instant::now();
    let graph = flow.graph().map_err(|e| e.to_string())?;
    t[1] = start.elapsed();

    let start = Instant::now();
    let report = rt.block_on(flow.run());
    t[6] = start.elapsed();
    let report = report.map_err(|e| e.to_string())?;
    check(dag, &report)?;
    drop(black_box(report));

    // The same flow again: the scheduler's and the driver's per-task memory is the last
    // run's, kept by the flow (issue 23, item 4).
    let start = Instant::now();
    let report = rt.block_on(flow.run());
    t[8] = start.elapsed();
    let report = report.map_err(|e| e.to_string())?;
    check(dag, &report)?;

    let start = Instant::now();
    drop(black_box(report));
    drop(black_box(flow));
    t[7] = start.elapsed();

    let selection = graph.all();
    let start = Instant::now();
    let scheduler: Scheduler<Value> =
        Scheduler::new(graph.clone(), &selection, RunOptions::default())
            .map_err(|e| e.to_string())?;
    t[2] = start.elapsed();
    let mut scheduler = black_box(scheduler);

    let start = Instant::now();
    let started = drive_by_hand(&mut scheduler);
    t[4] = start.elapsed();
    if started != dag.len() {
        return Err(format!(
            "the scheduler started {started} tasks, not {}",
            dag.len()
        ));
    }

    let start = Instant::now();
    for id in graph.ids() {
        drop(black_box(scheduler.take_value(id)));
    }
    let report = scheduler.into_report();
    t[5] = start.elapsed();
    check(dag, &report)?;
    Ok(t)
}

/// Runs a started-from-scratch scheduler to its end, every attempt succeeding at once, and
/// returns how many attempts it started.
fn drive_by_hand(s: &mut Scheduler<Value>) -> usize {
    let unit: Value = Arc::new(());
    let mut started = 0;
    let mut batch = Vec::new();
    s.start(Duration::ZERO);
    loop {
        let mut finished = false;
        while let Some(command) = s.next_command() {
            match command {
                Command::Start { task, attempt } => batch.push((task, attempt)),
                Command::Finished => finished = true,
                _ => {}
            }
        }
        if finished || batch.is_empty() {
            return started;
        }
        started += batch.len();
        let inputs = batch.drain(..).map(|(task, attempt)| Input::Finished {
            task,
            attempt,
            outcome: Outcome::Ok(unit.clone()),
        });
        // The ids came from the scheduler's own commands.
        let _ = s.handle(Duration::ZERO, inputs);
    }
}

/// Checks that a report has every task of `dag`, each succeeded.
fn check(dag: &Dag, report: &RunReport) -> Result<(), String> {
    if report.tasks.len() != dag.len() {
        return Err(format!(
            "the report has {} tasks, not {}",
            report.tasks.len(),
            dag.len()
        ));
    }
    match report.tasks.iter().find(|t| t.status != Status::Succeeded) {
        Some(t) => Err(format!("task {} ended {:?}", t.name, t.status)),
        None => Ok(()),
    }
}

/// The median of every phase of each of `dags` over `runs` samples after one warm-up, in
/// nanoseconds per task, in the order of [`PHASES`]; `run_loop` is
/// `run - scheduler_new - report`. The samples go round the workloads in turn (W1, W3, W1, …),
/// so that a slow moment of the machine falls on both alike; after each, the workload's
/// Taskflow peer in `peers` (if it is there) takes its turn, and its medians come back as
/// `(construction + names, run)` in nanoseconds a task, or why there are none.
#[allow(clippy::type_complexity)]
fn phase_medians(
    dags: &[&Dag],
    runs: usize,
    rt: &tokio::runtime::Runtime,
    mut peers: Vec<Result<TaskflowPeer, String>>,
) -> Result<(Vec<[f64; N_PHASES]>, Vec<Result<(f64, f64), String>>), String> {
    for dag in dags {
        sample(dag, rt)?;
    }
    let mut samples: Vec<Vec<[Duration; N_PHASES]>> = vec![Vec::with_capacity(runs); dags.len()];
    let mut peer_samples: Vec<Vec<(Duration, Duration)>> = vec![Vec::new(); dags.len()];
    for _ in 0..runs {
        for (k, dag) in dags.iter().enumerate() {
            samples[k].push(sample(dag, rt)?);
            if let Some(Ok(peer)) = peers.get_mut(k) {
                match peer.run_once() {
                    Ok(t) => peer_samples[k].push(t),
                    Err(e) => peers[k] = Err(e),
                }
            }
        }
    }
    let legato = dags
        .iter()
        .zip(samples)
        .map(|(dag, samples)| {
            let mut ns = [0.0; N_PHASES];
            for (k, v) in ns.iter_mut().enumerate() {
                let ms = median_ms(samples.iter().map(|s| s[k]).collect());
                *v = ms * 1e6 / dag.len() as f64;
            }
            ns[3] = ns[6] - ns[2] - ns[5];
            ns
        })
        .collect();
    let taskflow = dags
        .iter()
        .zip(peers)
        .zip(peer_samples)
        .map(|((dag, peer), times)| {
            let graph = peer.and_then(TaskflowPeer::finish)?;
            if graph != (dag.len(), dag.checksum()) {
                return Err(other_graph(graph, dag));
            }
            let per_task = |ms: f64| ms * 1e6 / dag.len() as f64;
            let total = per_task(median_ms(times.iter().map(|t| t.0).collect()));
            let construct = per_task(median_ms(times.iter().map(|t| t.1).collect()));
            Ok((construct, total - construct))
        })
        .collect();
    Ok((legato, taskflow))
}

/// `phases`: where the time of "declare + run + report" goes for W1 and W3, in nanoseconds a
/// task, each phase the median of `runs` samples (see [`sample`]); beside it, when its
/// program is built, C++ Taskflow's construction + names and its run, taking turns. Prints
/// one table, W1 and W3 side by side, and returns one line (and row) per workload and phase.
pub(crate) fn phases(options: &Options) -> Result<Vec<Line>, String> {
    let workloads = [
        ("W1", workload::wide(10_000)),
        ("W3", workload::random_dag(10_000)),
    ];
    let rt = runners::runtime()?;
    eprintln!("  phases W1, W3 …");
    let dags: Vec<&Dag> = workloads.iter().map(|(_, dag)| dag).collect();
    let peers = workloads
        .iter()
        .map(|(id, _)| match (options.only, taskflow_program()) {
            (Some(_), _) => Err("legato only".to_owned()),
            (None, Some(program)) => TaskflowPeer::start(&program, &id.to_lowercase()),
            (None, None) => Err(TASKFLOW_NOT_BUILT.to_owned()),
        })
        .collect();
    let (medians, taskflow) = phase_medians(&dags, options.runs, &rt, peers)?;
    println!(
        "\nphases (ns a task, median of {} runs after one warm-up; tokio multi-thread runtime, \
         2 workers; Taskflow: 2 workers, turns taken after legato's)\n",
        options.runs
    );
    let tf = |w: usize, pick: fn(&(f64, f64)) -> f64| match &taskflow[w] {
        Ok(t) => format!("{:.0}", pick(t)),
        Err(_) => "-".to_owned(),
    };
    println!(
        "{:<42} {:>8} {:>8} {:>8} {:>8}",
        "phase", "W1", "W3", "TF W1", "TF W3"
    );
    for (k, (phase, label)) in PHASES.iter().enumerate() {
        let (a, b) = match *phase {
            "declare" => (tf(0, |t| t.0), tf(1, |t| t.0)),
            "run" => (tf(0, |t| t.1), tf(1, |t| t.1)),
            _ => (String::new(), String::new()),
        };
        let row = format!(
            "{label:<42} {:>8.0} {:>8.0} {a:>8} {b:>8}",
            medians[0][k], medians[1][k]
        );
        println!("{}", row.trim_end());
    }
    let sum = |m: &[f64; N_PHASES]| m[0] + m[1] + m[6];
    println!(
        "{:<42} {:>8.0} {:>8.0} {:>8} {:>8}",
        "declare + graph + run",
        sum(&medians[0]),
        sum(&medians[1]),
        tf(0, |t| t.0 + t.1),
        tf(1, |t| t.0 + t.1)
    );
    if let Some(Err(why)) = taskflow.iter().find(|t| t.is_err()) {
        println!("Taskflow: {why}");
    } else {
        println!(
            "Taskflow: on the declare row its construction + names, on the run row \
             executor.run(taskflow).wait()"
        );
    }

    let mut lines = Vec::new();
    for (((id, dag), ns), tf) in workloads.iter().zip(&medians).zip(&taskflow) {
        for ((phase, label), &v) in PHASES.iter().zip(ns) {
            let ms = v * dag.len() as f64 / 1e6;
            let mut line = Line::new(format!("{id}-phases {phase}"), "legato", dag.len());
            line.ms = Some(ms);
            line.per_task_us = Some(v / 1e3);
            line.note = format!("{v:.0} ns/task: {}", label.trim());
            line.row = Some(
                Row::new(&format!("{id}-phases"), phase)
                    .int("tasks", dag.len() as u64)
                    .int("runs", options.runs as u64)
                    .float("ms", ms)
                    .float("ns_per_task", v),
            );
            lines.push(line);
        }
        if let Ok((construct, run)) = tf {
            for (phase, v, what) in [
                ("declare", *construct, "construction + names"),
                ("run", *run, "executor.run(taskflow).wait()"),
            ] {
                let ms = v * dag.len() as f64 / 1e6;
                let mut line = Line::new(format!("{id}-phases {phase}"), "taskflow", dag.len());
                line.ms = Some(ms);
                line.per_task_us = Some(v / 1e3);
                line.note = format!("{v:.0} ns/task: C++ Taskflow's {what}");
                line.row = Some(
                    Row::for_impl("taskflow", &format!("{id}-phases"))
                        .str("phase", phase)
                        .int("tasks", dag.len() as u64)
                        .int("runs", options.runs as u64)
                        .float("ms", ms)
                        .float("ns_per_task", v),
                );
                lines.push(line);
            }
        }
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declare_gives_every_task_its_name_and_dependencies() {
        let flows = [workload::wide(5), workload::random_dag(50)]
            .into_iter()
            .flat_map(|dag| {
                [
                    (declare(&dag), dag.clone()),
                    (declare_with(&dag, Bodies::Sync), dag),
                ]
            });
        for (flow, dag) in flows {
            let flow = flow.unwrap();
            let def = flow.def();
            let names: Vec<&str> = def.names().collect();
            assert_eq!(
                names,
                dag.names.iter().map(String::as_str).collect::<Vec<_>>()
            );
            for (i, deps) in dag.deps.iter().enumerate() {
                let spec = def.spec(i);
                let declared: Vec<&str> = spec.deps().iter().map(|d| &**d).collect();
                let expected: Vec<&str> = deps
                    .iter()
                    .map(|&j| dag.names[j as usize].as_str())
                    .collect();
                assert_eq!(declared, expected, "task {i}");
            }
        }
    }

    fn options(runs: usize) -> Options {
        Options {
            tasks: None,
            runs,
            only: None,
            json: None,
            detail: false,
        }
    }

    #[test]
    fn a_define_row_times_declare_run_and_report_per_task() {
        let dag = workload::random_dag(200);
        let lines = define_workload(&options(3), "W3", &dag).unwrap();
        let [line, sync, peer] = &lines[..] else {
            panic!("{lines:?}")
        };
        assert_eq!(
            (sync.workload.as_str(), sync.imp, sync.tasks),
            ("W3-define", "legato-sync", 200)
        );
        assert!(sync.ms.is_some_and(|ms| ms > 0.0) && sync.row.is_some());
        assert_eq!(
            (peer.workload.as_str(), peer.imp),
            ("W3-define", "taskflow")
        );
        // Taskflow's figure, when its program is built (bench/taskflow), is of another graph
        // size (W3's 10,000 tasks): refused, not reported as this one's.
        assert!(peer.ms.is_none() && peer.row.is_none(), "{peer:?}");
        assert_eq!(
            (line.workload.as_str(), line.imp, line.tasks),
            ("W3-define", "legato", 200)
        );
        let (ms, per_task) = (line.ms.unwrap(), line.per_task_us.unwrap());
        assert!(ms > 0.0 && (per_task - ms * 1e3 / 200.0).abs() < 1e-9);
        assert!(line.row.is_some());
        // Another implementation alone: nothing is measured.
        let mut only = options(1);
        only.only = Some(Impl::HandRolled);
        let lines = define_workload(&only, "W3", &dag).unwrap();
        assert!(lines[0].ms.is_none() && lines[0].row.is_none());
    }

    /// A program at a fresh path in a directory of its own in the temporary directory,
    /// running `script` with `sh`.
    fn fake_program(name: &str, script: &str) -> std::path::PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let dir =
            std::env::temp_dir().join(format!("legato-bench-tf-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn taskflow_takes_turns_run_by_run_and_a_failure_is_said() {
        let ok = fake_program(
            "ok",
            r#"[ "$1 $2" = "w3 serve" ] || exit 2
echo "ready tasks=10000 checksum=42"
n=0
while read line; do n=$((n + 1)); echo "ms=$n.5 construct_ms=0.25"; done"#,
        );
        let mut peer = TaskflowPeer::start(&ok, "w3").unwrap();
        assert_eq!((peer.tasks, peer.checksum), (10_000, 42));
        let quarter = Duration::from_micros(250);
        assert_eq!(peer.run_once(), Ok((Duration::from_micros(1500), quarter)));
        assert_eq!(peer.run_once(), Ok((Duration::from_micros(2500), quarter)));
        assert_eq!(peer.finish(), Ok((10_000, 42)));
        let err = TaskflowPeer::start(&ok, "w1").unwrap_err();
        assert!(err.starts_with("taskflow-bench ended"), "{err}");
        let bad = fake_program(
            "bad",
            "echo ready tasks=5 checksum=7; read line; echo oops; exit 1",
        );
        let mut peer = TaskflowPeer::start(&bad, "w3").unwrap();
        assert_eq!((peer.tasks, peer.checksum), (5, 7));
        assert_eq!(
            peer.run_once(),
            Err("taskflow-bench said \"oops\", not its times".to_owned())
        );
        assert!(peer
            .finish()
            .unwrap_err()
            .starts_with("taskflow-bench failed"));
        let unready = fake_program("unready", "echo ready tasks=5; read line");
        let err = TaskflowPeer::start(&unready, "w3").unwrap_err();
        assert_eq!(err, "taskflow-bench said \"ready tasks=5\", not ready");
        let missing = ok.with_file_name("missing");
        let err = TaskflowPeer::start(&missing, "w3").unwrap_err();
        assert!(err.starts_with("cannot run"), "{err}");
        for program in [ok, bad, unready] {
            std::fs::remove_dir_all(program.parent().unwrap()).unwrap();
        }
        // The real program, when it is built: the same graphs as legato's.
        if let Some(program) = taskflow_program() {
            let mut peer = TaskflowPeer::start(&program, "w3").unwrap();
            let (total, construct) = peer.run_once().unwrap();
            assert!(construct > Duration::ZERO && total > construct);
            let w3 = workload::random_dag(10_000);
            assert_eq!(peer.finish(), Ok((w3.len(), w3.checksum())));
            let w1 = workload::wide(10_000);
            let peer = TaskflowPeer::start(&program, "w1").unwrap();
            assert_eq!(peer.finish(), Ok((w1.len(), w1.checksum())));
        }
    }

    #[test]
    fn every_phase_is_sampled_and_the_hand_driven_run_starts_every_task() {
        let rt = runners::runtime().unwrap();
        for dag in [workload::wide(100), workload::random_dag(100)] {
            let t = sample(&dag, &rt).unwrap();
            for (k, (phase, _)) in PHASES.iter().enumerate() {
                // `run_loop` is derived from the medians, not sampled.
                assert_eq!(t[k].is_zero(), *phase == "run_loop", "{phase}: {:?}", t[k]);
            }
        }
        let (w1, w3) = (workload::wide(100), workload::random_dag(100));
        let peers = vec![Err("none".to_owned()), Err("none".to_owned())];
        let (medians, taskflow) = phase_medians(&[&w1, &w3], 3, &rt, peers).unwrap();
        for ns in &medians {
            assert_eq!(ns[3], ns[6] - ns[2] - ns[5]);
        }
        assert_eq!(
            taskflow,
            vec![Err("none".to_owned()), Err("none".to_owned())]
        );
        // A peer takes its turn after each sample: its medians, per task, split into
        // construction + names and run; a peer of another graph size is refused.
        let fake = fake_program(
            "phases",
            r#"echo "ready tasks=101 checksum=1"
while read line; do echo "ms=1.01 construct_ms=0.303"; done"#,
        );
        let start = |dag: &Dag| {
            let mut peer = TaskflowPeer::start(&fake, "w1").unwrap();
            peer.checksum = dag.checksum();
            Ok(peer)
        };
        // The second peer says it has 101 tasks, and W1's fingerprint: not W3's graph.
        let peers = vec![start(&w1), start(&w1)];
        let (_, taskflow) = phase_medians(&[&w1, &w3], 3, &rt, peers).unwrap();
        let (construct, run) = taskflow[0].clone().unwrap();
        assert!((construct - 3000.0).abs() < 1e-6, "{construct}");
        assert!((run - 7000.0).abs() < 1e-6, "{run}");
        assert_eq!(
            taskflow[1],
            Err(format!(
                "taskflow-bench ran another graph: 101 tasks, checksum {}, not 100 and {}",
                w1.checksum(),
                w3.checksum()
            ))
        );
        std::fs::remove_dir_all(fake.parent().unwrap()).unwrap();
    }

    #[test]
    fn the_hand_driven_scheduler_starts_and_finishes_every_task() {
        let dag = workload::random_dag(300);
        let mut b = legato::GraphBuilder::new();
        for spec in dag.specs() {
            b.add(spec).unwrap();
        }
        let graph = Arc::new(b.build().unwrap());
        let mut s: Scheduler<Value> =
            Scheduler::new(graph.clone(), &graph.all(), RunOptions::default()).unwrap();
        assert_eq!(drive_by_hand(&mut s), 300);
        assert!(s.is_finished());
        let report = s.into_report();
        check(&dag, &report).unwrap();
    }
}
