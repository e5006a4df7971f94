//! The scheduler workloads W1–W5 and `wide-1m`: each implementation runs each workload, the
//! median of several runs is reported beside the hand-rolled floor.

use crate::results::Row;
use crate::runners::{self, Impl};
use crate::workload::{self, Dag};
use crate::{median_ms, Line, Options};
use std::time::Duration;

/// W4's sleep per task, and its ideal makespan (four layers of one sleep each).
const W4_SLEEP: Duration = Duration::from_millis(10);
const W4_IDEAL_MS: f64 = 40.0;

/// The implementations asked for (all by default).
fn impls(options: &Options) -> Vec<Impl> {
    match options.only {
        Some(i) => vec![i],
        None => Impl::ALL.to_vec(),
    }
}

/// The median run time of `dag` for each implementation. Each gets a fresh runtime of its own
/// and one untimed warm-up run; then the timed runs go round the implementations in turn, so
/// that a slow moment of the machine falls on all of them alike.
fn measure_all(imps: &[Impl], dag: &Dag, runs: usize) -> Vec<Result<f64, String>> {
    let mut state: Vec<Result<(tokio::runtime::Runtime, Vec<Duration>), String>> = imps
        .iter()
        .map(|&imp| {
            eprintln!("  {}: warm-up …", imp.name());
            let rt = runners::runtime()?;
            runners::time_one(imp, dag, &rt)?;
            Ok((rt, Vec::with_capacity(runs)))
        })
        .collect();
    for _ in 0..runs {
        for (imp, st) in imps.iter().zip(state.iter_mut()) {
            if let Ok((rt, times)) = st {
                match runners::time_one(*imp, dag, rt) {
                    Ok(t) => times.push(t),
                    Err(e) => *st = Err(e),
                }
            }
        }
    }
    state
        .into_iter()
        .map(|st| st.map(|(_, times)| median_ms(times)))
        .collect()
}

/// What a workload reports besides milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Figure {
    /// Microseconds per task (W1–W3, W5).
    PerTask,
    /// Makespan over the ideal makespan (W4).
    Makespan,
}

/// A workload's target for legato, checked against its figures.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// legato's time at most this many times the floor's.
    VsFloor(f64),
    /// legato at most this many microseconds per task.
    PerTaskUs(f64),
    /// legato no slower than the fastest of the hand-rolled runner and dagx.
    FastestPeer,
}

/// Runs one workload with every implementation and returns its table lines.
fn workload(
    options: &Options,
    id: &str,
    label: &str,
    dag: &Dag,
    figure: Figure,
    target: Target,
) -> Vec<Line> {
    let tasks = dag.len();
    eprintln!("  {id} {label} …");
    let imps = impls(options);
    let measured: Vec<(Impl, Result<f64, String>)> = imps
        .iter()
        .copied()
        .zip(measure_all(&imps, dag, options.runs))
        .collect();
    let floor = measured
        .iter()
        .find(|(i, _)| *i == Impl::HandRolled)
        .and_then(|(_, r)| r.as_ref().ok().copied());
    let fastest_peer = measured
        .iter()
        .filter(|(i, _)| matches!(i, Impl::HandRolled | Impl::Dagx))
        .filter_map(|(i, r)| r.as_ref().ok().map(|ms| (*i, *ms)))
        .min_by(|a, b| a.1.total_cmp(&b.1));
    let mut lines = Vec::new();
    for (imp, result) in measured {
        let mut line = Line::new(format!("{id} {label}"), imp.name(), tasks);
        match result {
            Err(why) => line.note = why,
            Ok(ms) => {
                let per_task = ms * 1e3 / tasks as f64;
                let ratio = ms / W4_IDEAL_MS;
                let vs_floor = floor.map(|f| ms / f);
                line.ms = Some(ms);
                line.vs_floor = vs_floor;
                let mut row = Row::for_impl(imp.name(), id)
                    .int("tasks", tasks as u64)
                    .int("runs", options.runs as u64)
                    .float("ms", ms);
                match figure {
                    Figure::PerTask => {
                        line.per_task_us = Some(per_task);
                        row = row.float("per_task_us", per_task);
                    }
                    Figure::Makespan => {
                        line.makespan = Some(ratio);
                        row = row.float("makespan_ratio", ratio);
                    }
                }
                if let Some(v) = vs_floor {
                    row = row.float("vs_hand_rolled", v);
                }
                if imp == Impl::Legato {
                    line.note = match target {
                        Target::VsFloor(max) => match vs_floor {
                            Some(v) => verdict(v <= max, &format!("target ≤ {max}× floor")),
                            None => format!("target ≤ {max}× floor: no floor measured"),
                        },
                        Target::PerTaskUs(max) => {
                            verdict(per_task <= max, &format!("target ≤ {max} µs/task"))
                        }
                        Target::FastestPeer => match fastest_peer {
                            Some((peer, peer_ms)) => verdict(
                                ms <= peer_ms,
                                &format!(
                                    "target ≤ fastest peer ({}, {:.2}×)",
                                    peer.name(),
                                    ms / peer_ms
                                ),
                            ),
                            None => "target ≤ fastest peer: no peer measured".to_owned(),
                        },
                    };
                }
                line.row = Some(row);
            }
        }
        if imp == Impl::Dagrs && dag.max_parallel.is_some() && line.ms.is_some() {
            line.note = "max_parallel: a semaphore inside the node (dagrs has none)".to_owned();
        }
        if imp == Impl::Dagx && line.ms.is_some() {
            line.note = dagx_note(dag);
        }
        lines.push(line);
    }
    lines
}

/// What the dagx line says about how the workload had to be written for dagx.
fn dagx_note(dag: &Dag) -> String {
    let mut notes = Vec::new();
    let joins = runners::dagx_peer::joins(dag);
    if joins > 0 {
        notes.push(format!("+{joins} join tasks (≤ 8 inputs per task)"));
    }
    if dag.retries > 0 {
        notes.push("retries: a loop inside the task (dagx has none)".to_owned());
    }
    if dag.max_parallel.is_some() {
        notes.push("max_parallel: a semaphore inside the task (dagx has none)".to_owned());
    }
    notes.join("; ")
}

fn verdict(met: bool, target: &str) -> String {
    format!("{target}: {}", if met { "met" } else { "MISSED" })
}

/// W1: 10,000 independent no-op tasks and a sink.
pub(crate) fn w1(options: &Options) -> Result<Vec<Line>, String> {
    let dag = workload::wide(10_000);
    Ok(workload(
        options,
        "W1",
        "wide",
        &dag,
        Figure::PerTask,
        Target::FastestPeer,
    ))
}

/// W2: a chain of 2,000 no-op tasks.
pub(crate) fn w2(options: &Options) -> Result<Vec<Line>, String> {
    let dag = workload::chain(2_000);
    Ok(workload(
        options,
        "W2",
        "chain",
        &dag,
        Figure::PerTask,
        Target::PerTaskUs(2.0),
    ))
}

/// W3: the random DAG of 10,000 no-op tasks.
pub(crate) fn w3(options: &Options) -> Result<Vec<Line>, String> {
    let dag = workload::random_dag(10_000);
    Ok(workload(
        options,
        "W3",
        "random",
        &dag,
        Figure::PerTask,
        Target::FastestPeer,
    ))
}

/// W4: 4 layers of 50 tasks sleeping 10 ms, `max_parallel = 50`; plus, for scale, what four
/// `tokio::time::sleep(10 ms)` in a row take on the same kind of runtime (no scheduler at
/// all: tokio's timer has a resolution of 1 ms and rounds deadlines up).
pub(crate) fn w4(options: &Options) -> Result<Vec<Line>, String> {
    let dag = workload::layers(W4_SLEEP);
    let mut lines = workload(
        options,
        "W4",
        "sleep",
        &dag,
        Figure::Makespan,
        // Bounded by tokio's timer (see "4 sleeps"): judged against the hand-rolled runner.
        Target::VsFloor(1.05),
    );
    let rt = runners::runtime()?;
    let mut times = Vec::with_capacity(options.runs);
    for _ in 0..=options.runs {
        let start = std::time::Instant::now();
        rt.block_on(async {
            for _ in 0..4 {
                tokio::time::sleep(W4_SLEEP).await;
            }
        });
        times.push(start.elapsed());
    }
    times.remove(0);
    let ms = median_ms(times);
    let mut line = Line::new("W4 sleep".to_owned(), "4 sleeps", 0);
    line.ms = Some(ms);
    line.makespan = Some(ms / W4_IDEAL_MS);
    line.note = "no scheduler: 4 × sleep(10 ms) in a row, the timer's own floor".to_owned();
    lines.push(line);
    Ok(lines)
}

/// W6: 300 tasks that sleep 1–20 ms under `max_parallel` 4, run with `fifo` and with
/// `critical_path` priority (each task's cost its sleep); the figure is the makespan over the
/// lower bound (805.25 ms). The runs alternate between the two orders.
pub(crate) fn w6(options: &Options) -> Result<Vec<Line>, String> {
    use legato::policy::Priority;
    use legato::{BoxError, Flow};
    let (deps, sleeps) = workload::priority_dag();
    let build = |priority: Priority| {
        let mut flow = Flow::new();
        flow.max_parallel(4).priority(priority);
        for (i, (d, &sleep)) in deps.iter().zip(&sleeps).enumerate() {
            let after: Vec<String> = d.iter().map(|j| format!("t{j}")).collect();
            // A precise sleep (a blocking thread's): tokio's timer rounds every sleep up to
            // its next millisecond, which would add ~0.5 ms a task to what is measured here,
            // the order's quality.
            flow.task(format!("t{i}"), move |_| async move {
                tokio::task::spawn_blocking(move || std::thread::sleep(sleep)).await?;
                Ok::<_, BoxError>(())
            })
            .map_err(|e| e.to_string())?
            .after(after)
            .cost(sleep);
        }
        Ok::<_, String>(flow)
    };
    let orders = [
        ("legato-fifo", Priority::Fifo),
        ("legato-critical-path", Priority::CriticalPath),
    ];
    let flows = orders
        .iter()
        .map(|&(_, p)| build(p))
        .collect::<Result<Vec<_>, _>>()?;
    let rt = runners::runtime()?;
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); orders.len()];
    for run in 0..=options.runs {
        for (k, flow) in flows.iter().enumerate() {
            let start = std::time::Instant::now();
            rt.block_on(flow.run()).map_err(|e| e.to_string())?;
            if run > 0 {
                times[k].push(start.elapsed());
            }
        }
    }
    let mut lines = Vec::new();
    for ((name, _), t) in orders.iter().zip(times) {
        let ms = median_ms(t);
        let ratio = ms / workload::W6_BOUND_MS;
        let mut line = Line::new("W6 priority".to_owned(), name, deps.len());
        line.ms = Some(ms);
        line.makespan = Some(ratio);
        line.note = format!("makespan / {} ms (the lower bound)", workload::W6_BOUND_MS);
        line.row = Some(
            Row::for_impl(name, "W6")
                .int("tasks", deps.len() as u64)
                .int("runs", options.runs as u64)
                .float("ms", ms)
                .float("makespan_ratio", ratio),
        );
        lines.push(line);
    }
    Ok(lines)
}

/// W5: 1,000 independent tasks failing twice, retries 2, no delay.
pub(crate) fn w5(options: &Options) -> Result<Vec<Line>, String> {
    let dag = workload::retry(1_000);
    Ok(workload(
        options,
        "W5",
        "retry",
        &dag,
        Figure::PerTask,
        Target::VsFloor(1.2),
    ))
}

/// `wide-1m`: 1,000,000 no-op tasks and a sink, run once in a fresh child process per
/// implementation so that the child's peak resident set (`VmHWM`) is the run's own. dagrs is
/// left out: its sink would hold a million channels of 32 slots each.
pub(crate) fn wide_1m(options: &Options) -> Result<Vec<Line>, String> {
    let n = options.tasks.unwrap_or(1_000_000);
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let mut lines = Vec::new();
    // Each line's peak RSS in bytes, to compare with the hand-rolled runner's at the end.
    let mut rss: Vec<Option<f64>> = Vec::new();
    for imp in impls(options) {
        let mut line = Line::new("wide-1m".to_owned(), imp.name(), n + 1);
        rss.push(None);
        if imp == Impl::Dagrs {
            line.note = "not run: a sink of 1,000,000 dagrs channels".to_owned();
            lines.push(line);
            continue;
        }
        eprintln!("  wide-1m: {} (child process) …", imp.name());
        let output = std::process::Command::new(&exe)
            .args(["wide-1m-child", imp.name(), &n.to_string()])
            .stderr(std::process::Stdio::inherit())
            .output()
            .map_err(|e| format!("cannot start a child process: {e}"))?;
        let text = String::from_utf8_lossy(&output.stdout);
        let field = |key: &str| -> Option<f64> {
            text.split_whitespace()
                .find_map(|w| w.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
        };
        match (output.status.success(), field("ms"), field("hwm_kb")) {
            (true, Some(ms), Some(kb)) => {
                let bytes = kb * 1024.0;
                *rss.last_mut().expect("pushed above") = Some(bytes);
                let under = bytes < 1e9;
                let per_task = ms * 1e3 / (n + 1) as f64;
                line.ms = Some(ms);
                line.per_task_us = Some(per_task);
                line.note = format!("peak RSS {:.0} MB", bytes / 1e6);
                if let (Some(flow), Some(graph), Some(report), Some(peak)) = (
                    field("flow_b"),
                    field("graph_b"),
                    field("report_b"),
                    field("heap_peak_b"),
                ) {
                    line.note.push_str(&format!(
                        "; heap: flow {:.0}, graph {:.0}, report {:.0}, peak {:.0} MB",
                        flow / 1e6,
                        graph / 1e6,
                        report / 1e6,
                        peak / 1e6
                    ));
                }
                if imp == Impl::Dagx {
                    line.note
                        .push_str(&format!("; {}", dagx_note(&workload::wide(n))));
                }
                line.row = Some(
                    Row::for_impl(imp.name(), "wide-1m")
                        .int("tasks", (n + 1) as u64)
                        .int("runs", 1)
                        .float("ms", ms)
                        .float("per_task_us", per_task)
                        .int("peak_rss_bytes", bytes as u64)
                        .boolean("under_1gb", under),
                );
            }
            _ => {
                line.note = format!(
                    "the child process failed ({}): {}",
                    output.status,
                    text.trim()
                );
            }
        }
        lines.push(line);
    }
    // Peak RSS over the hand-rolled runner's, in the ×floor column, the JSON row and (for
    // legato) against the target of at most twice the floor.
    let floor = lines
        .iter()
        .zip(&rss)
        .find(|(l, _)| l.imp == Impl::HandRolled.name())
        .and_then(|(_, r)| *r);
    for (line, bytes) in lines.iter_mut().zip(&rss) {
        if let (Some(bytes), Some(floor)) = (bytes, floor) {
            let ratio = bytes / floor;
            line.vs_floor = Some(ratio);
            line.row = line
                .row
                .take()
                .map(|r| r.float("rss_vs_hand_rolled", ratio));
            if line.imp == Impl::Legato.name() {
                line.note = format!(
                    "{}; target peak RSS ≤ 2× floor: {}",
                    line.note,
                    if ratio <= 2.0 { "met" } else { "MISSED" }
                );
            }
        }
    }
    Ok(lines)
}

/// The child side of `wide-1m`: builds and runs the wide graph once and prints
/// `ms=… hwm_kb=…` (the run's time and the process's peak resident set, in KiB).
pub(crate) fn wide_1m_child(imp: &str, n: usize) -> Result<(), String> {
    let imp = Impl::parse(imp).ok_or_else(|| format!("unknown implementation {imp:?}"))?;
    let rt = runners::runtime()?;
    // Heap accounting (the counting allocator's live bytes, legato only): the flow as the
    // user built it, the highest point during the run, the report, and the graph the flow
    // keeps cached after the run.
    let mut heap = String::new();
    let took = match imp {
        Impl::Legato => {
            let before = crate::alloc_counter::live_bytes();
            // Built as a user would, name by name, without a description of the graph beside it.
            let mut flow = legato::Flow::new();
            for i in 0..n {
                flow.task(format!("t{i}"), |_| async {
                    Ok::<(), legato::BoxError>(())
                })
                .map_err(|e| e.to_string())?;
            }
            flow.task("sink", |_| async { Ok::<(), legato::BoxError>(()) })
                .map_err(|e| e.to_string())?
                .after((0..n).map(|i| format!("t{i}")));
            let flow_bytes = crate::alloc_counter::live_bytes() - before;
            crate::alloc_counter::track_peak();
            let start = std::time::Instant::now();
            let report = rt.block_on(flow.run());
            let took = start.elapsed();
            let peak = crate::alloc_counter::peak_bytes() - before;
            let with_report = crate::alloc_counter::live_bytes();
            let report = report.map_err(|e| e.to_string())?;
            if report.tasks.len() != n + 1 {
                return Err(format!("{} tasks ran, not {}", report.tasks.len(), n + 1));
            }
            drop(report);
            let after = crate::alloc_counter::live_bytes();
            heap = format!(
                " flow_b={flow_bytes} graph_b={} report_b={} heap_peak_b={peak}",
                after - before - flow_bytes,
                with_report - after
            );
            took
        }
        Impl::HandRolled | Impl::Dagx | Impl::Dagrs => {
            runners::time_one(imp, &workload::wide(n), &rt)?
        }
    };
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("cannot read /proc/self/status: {e}"))?;
    let hwm_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or("no VmHWM in /proc/self/status")?;
    println!("ms={} hwm_kb={hwm_kb}{heap}", took.as_secs_f64() * 1e3);
    Ok(())
}
