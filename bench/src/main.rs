//! `legato-bench`: legato's benchmark harness.
//!
//! One subcommand per workload (or `all`); each prints one table and, with `--json PATH`,
//! merges its rows into a results file shared with the other front doors and the peers.
//!
//! ```text
//! legato-bench <workload|all> [--runs N] [--tasks N] [--impl NAME] [--json PATH]
//! ```
//!
//! Workloads (see bench/README.md and DESIGN.md, "Workloads (bench/)"):
//!
//! - `w1` … `w5`: DESIGN.md's scheduler workloads, run by legato, by a hand-rolled tokio
//!   runner (the floor), by the `dagx` crate (with the `dagx` feature) and by the `dagrs` crate
//!   (with the `dagrs` feature), side by side.
//! - `wide-1m`: 1,000,000 no-op tasks and a sink, in a child process; its peak RSS.
//! - `w1-define`, `w3-define`: what a user pays for W1 and W3: every task declared by name
//!   with its dependencies, the run, the report (issue 23).
//! - `graph-scale`: build, validate and plan a random DAG of 100,000 tasks and 299,994 edges,
//!   and measure the memory the built graph holds; also declare it by name in a `Flow` and
//!   build its graph (`define+build`, ns an edge).
//! - `phases`: where the time of W1's and W3's "declare + run + report" goes, phase by phase,
//!   in nanoseconds a task.

mod define;
mod runners;
mod sched;
mod workload;

use legato::graph::{Graph, GraphBuilder};
use results::Row;
use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// The counting allocator behind every allocation of this binary.
#[global_allocator]
static ALLOC: alloc_counter::Counting = alloc_counter::Counting;

/// A workload, run by the subcommand of its name.
#[derive(Debug)]
struct Workload {
    /// The subcommand.
    name: &'static str,
    /// One line for the usage text.
    summary: &'static str,
    /// Runs the workload and returns its table lines (with their result rows).
    run: fn(&Options) -> Result<Vec<Line>, String>,
}

/// Every workload, in the order the usage text lists them and `all` runs them.
const WORKLOADS: &[Workload] = &[
    Workload {
        name: "w1",
        summary: "wide: 10,000 independent no-op tasks and a sink",
        run: sched::w1,
    },
    Workload {
        name: "w2",
        summary: "chain: 2,000 no-op tasks, each after the previous one",
        run: sched::w2,
    },
    Workload {
        name: "w3",
        summary: "random DAG: 10,000 no-op tasks, 1-3 dependencies each",
        run: sched::w3,
    },
    Workload {
        name: "w1-define",
        summary: "W1 declared task by task by name, run, report (what a user pays)",
        run: define::w1_define,
    },
    Workload {
        name: "w3-define",
        summary: "W3 declared task by task by name, run, report (what a user pays)",
        run: define::w3_define,
    },
    Workload {
        name: "w4",
        summary: "sleep: 4 layers of 50 tasks sleeping 10 ms, max_parallel 50",
        run: sched::w4,
    },
    Workload {
        name: "w5",
        summary: "retry: 1,000 tasks failing twice, retries 2, no delay",
        run: sched::w5,
    },
    Workload {
        name: "w6",
        summary: "priority: 300 tasks sleeping 1-20 ms, max_parallel 4, fifo vs critical_path",
        run: sched::w6,
    },
    Workload {
        name: "wide-1m",
        summary: "1,000,000 no-op tasks and a sink in a child process; peak RSS",
        run: sched::wide_1m,
    },
    Workload {
        name: "graph-scale",
        summary: "build, validate and plan a DAG of 100,000 tasks, 299,994 edges; memory",
        run: graph_scale,
    },
    Workload {
        name: "phases",
        summary: "W1 and W3 declare + run + report, phase by phase, ns a task",
        run: define::phases,
    },
];

/// Options shared by every workload.
#[derive(Debug, Clone)]
struct Options {
    /// How many tasks the workload's graph has, when the workload lets it be changed
    /// (`graph-scale`, `wide-1m`).
    tasks: Option<usize>,
    /// How many timed runs to take the median of.
    runs: usize,
    /// Only this implementation (all by default).
    only: Option<runners::Impl>,
    /// Where to merge the result rows, if anywhere.
    json: Option<String>,
    /// Print a workload's own detailed figures (when it runs alone).
    detail: bool,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(command) = args.first() else {
        eprint!("{}", usage());
        return ExitCode::from(2);
    };
    if command == "-h" || command == "--help" || command == "help" {
        print!("{}", usage());
        return ExitCode::SUCCESS;
    }
    if command == "wide-1m-child" {
        // Internal: the child process of `wide-1m`, which measures its heap from the start.
        alloc_counter::counting(true);
        let n = args
            .get(2)
            .and_then(|n| n.parse().ok())
            .unwrap_or(1_000_000);
        return match sched::wide_1m_child(args.get(1).map_or("", String::as_str), n) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("legato-bench wide-1m (child): {message}");
                ExitCode::FAILURE
            }
        };
    }
    let selected: Vec<&Workload> = if command == "all" {
        WORKLOADS.iter().collect()
    } else {
        match WORKLOADS.iter().find(|w| w.name == command) {
            Some(w) => vec![w],
            None => {
                eprint!("legato-bench: unknown workload {command:?}\n\n{}", usage());
                return ExitCode::from(2);
            }
        }
    };
    let mut options = match parse_options(&args[1..]) {
        Ok(options) => options,
        Err(message) => {
            eprint!("legato-bench {command}: {message}\n\n{}", usage());
            return ExitCode::from(2);
        }
    };
    options.detail = selected.len() == 1;
    let mut lines = Vec::new();
    for workload in &selected {
        eprintln!("legato-bench: {} …", workload.name);
        match (workload.run)(&options) {
            Ok(more) => lines.extend(more),
            Err(message) => {
                eprintln!("legato-bench {}: {message}", workload.name);
                return ExitCode::FAILURE;
            }
        }
    }
    print_table(&options, &lines);
    if let Some(path) = &options.json {
        let rows: Vec<Row> = lines.iter().filter_map(|l| l.row.clone()).collect();
        if let Err(message) = results::merge_into(path, &rows) {
            eprintln!("legato-bench: cannot write {path}: {message}");
            return ExitCode::FAILURE;
        }
        println!("\n{} rows merged into {path}", rows.len());
    }
    ExitCode::SUCCESS
}

/// The usage text, listing every workload.
fn usage() -> String {
    let mut text = String::from(
        "usage: legato-bench <workload|all> [--runs N] [--tasks N] [--impl NAME] [--json PATH]\n\n\
         workloads:\n",
    );
    for w in WORKLOADS {
        text.push_str(&format!("  {:<14} {}\n", w.name, w.summary));
    }
    text.push_str(&format!(
        "  {:<14} every workload above, in one table\n",
        "all"
    ));
    text.push_str(
        "\noptions:\n  \
         --runs N       timed runs after one warm-up; the median is reported (default 5)\n  \
         --tasks N      tasks in the graph of graph-scale (100,000) or wide-1m (1,000,000)\n  \
         --impl NAME    only legato, hand-rolled, dagx or dagrs (default: all four; for w1-define,\n                 \
         w3-define and phases, any NAME leaves C++ Taskflow out)\n  \
         --json PATH    merge the result rows into the JSON file at PATH\n",
    );
    text
}

/// Parses the options after the workload name.
fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        tasks: None,
        runs: 5,
        only: None,
        json: None,
        detail: false,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| {
            args.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        let count = |flag: &str, v: String| match v.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("{flag} needs a positive whole number, not {v:?}")),
        };
        match arg.as_str() {
            "--tasks" => options.tasks = Some(count(arg, value(arg)?)?),
            "--runs" => options.runs = count(arg, value(arg)?)?,
            "--impl" => {
                let name = value(arg)?;
                options.only = Some(
                    runners::Impl::parse(&name)
                        .ok_or_else(|| format!("--impl: no implementation {name:?}"))?,
                );
            }
            "--json" => options.json = Some(value(arg)?),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(options)
}

/// One line of the table, and the result row it stands for (none when nothing was measured).
#[derive(Debug, Clone)]
struct Line {
    workload: String,
    imp: &'static str,
    tasks: usize,
    ms: Option<f64>,
    per_task_us: Option<f64>,
    makespan: Option<f64>,
    vs_floor: Option<f64>,
    note: String,
    row: Option<Row>,
}

impl Line {
    fn new(workload: String, imp: &'static str, tasks: usize) -> Self {
        Line {
            workload,
            imp,
            tasks,
            ms: None,
            per_task_us: None,
            makespan: None,
            vs_floor: None,
            note: String::new(),
            row: None,
        }
    }
}

/// Prints every line as one table.
fn print_table(options: &Options, lines: &[Line]) {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "\nlegato-bench (door: rust): median of {} runs after one warm-up; tokio multi-thread \
         runtime, 2 workers; {cpus} CPUs\n\
         ×ideal: makespan / 40 ms (W6: / its lower bound, 805.25 ms); ×floor: time / the hand-rolled runner's time \
         (wide-1m: peak RSS / the hand-rolled runner's)\n",
        options.runs
    );
    let opt = |v: Option<f64>, digits: usize| match v {
        Some(v) => format!("{v:.digits$}"),
        None => "-".to_owned(),
    };
    println!(
        "{:<24} {:<20} {:>8} {:>10} {:>9} {:>7} {:>7}  notes",
        "workload", "impl", "tasks", "ms", "µs/task", "×ideal", "×floor"
    );
    let mut previous = "";
    for l in lines {
        let group = l.workload.split(' ').next().unwrap_or_default();
        if !previous.is_empty() && previous != group {
            println!();
        }
        previous = group;
        let line = format!(
            "{:<24} {:<20} {:>8} {:>10} {:>9} {:>7} {:>7}  {}",
            l.workload,
            l.imp,
            if l.tasks == 0 {
                "-".to_owned()
            } else {
                l.tasks.to_string()
            },
            opt(l.ms, 2),
            opt(l.per_task_us, 3),
            opt(l.makespan, 3),
            opt(l.vs_floor, 2),
            l.note
        );
        println!("{}", line.trim_end());
    }
}

/// `graph-scale`: how long building, validating and planning a large graph takes, and how
/// much memory the built graph holds.
///
/// The graph is [`workload::scale_dag`] at 100,000 tasks: like DESIGN.md's random DAG, but
/// with exactly three distinct dependencies per task from `t3` on (299,994 edges), so that it
/// meets the foundation issue's 100,000 tasks / 300,000 edges. Three phases are timed, each as
/// the median of `runs` runs: adding the specs to a `GraphBuilder::new()` (no capacity hint,
/// as the front doors add tasks one by one) plus `build()` (validation and levels included;
/// making the specs is not timed), `plan` of every task, and `select` of the last task plus
/// its `plan`. Memory is the allocator's live bytes after the build minus before it, with the
/// specs and the builder gone, so exactly what the `Graph` holds; it is reported per task, in
/// total and beyond the bytes of the names themselves.
fn graph_scale(options: &Options) -> Result<Vec<Line>, String> {
    // Memory is measured here: allocations are counted while this workload runs.
    alloc_counter::counting(true);
    let lines = graph_scale_counted(options);
    alloc_counter::counting(false);
    lines
}

/// [`graph_scale`], with allocations counted.
fn graph_scale_counted(options: &Options) -> Result<Vec<Line>, String> {
    let n = options.tasks.unwrap_or(100_000);
    let dag = workload::scale_dag(n);
    let name_bytes: usize = dag.names.iter().map(String::len).sum();
    let last = format!("t{}", n - 1);

    let mut build = Vec::with_capacity(options.runs);
    let mut plan_all = Vec::with_capacity(options.runs);
    let mut select_plan = Vec::with_capacity(options.runs);
    let mut define_build = Vec::with_capacity(options.runs);
    let mut define_only = Vec::with_capacity(options.runs);
    let mut graph_bytes = usize::MAX;
    let mut shape = (0, 0, 0);
    for _ in 0..options.runs {
        let before = alloc_counter::live_bytes();
        let specs = dag.specs();

        let start = Instant::now();
        let mut builder = GraphBuilder::new();
        for spec in specs {
            builder.add(spec).map_err(|e| e.to_string())?;
        }
        let graph = builder.build().map_err(|e| e.to_string())?;
        build.push(start.elapsed());
        // The specs and the builder are gone: what is still allocated is the graph.
        graph_bytes = graph_bytes.min(alloc_counter::live_bytes().wrapping_sub(before));

        let start = Instant::now();
        let plan = graph.plan(&graph.all());
        plan_all.push(start.elapsed());
        shape = (graph.len(), graph.edge_count(), plan.levels.len());
        drop(black_box(plan));

        let start = Instant::now();
        let selection = graph.select([&last]).map_err(|e| e.to_string())?;
        let plan = graph.plan(&selection);
        select_plan.push(start.elapsed());
        drop(black_box((selection, plan)));

        drop(black_box::<Graph>(graph));

        // What a user pays: the flow declared by name, task by task, and its graph built
        // (allocations not counted: no memory is measured here).
        alloc_counter::counting(false);
        let start = Instant::now();
        let flow = define::declare(&dag)?;
        let declared = start.elapsed();
        let graph = flow.graph().map_err(|e| e.to_string())?;
        define_build.push(start.elapsed());
        define_only.push(declared);
        if graph.edge_count() != dag.deps.iter().map(Vec::len).sum::<usize>() {
            return Err(format!("the flow's graph has {} edges", graph.edge_count()));
        }
        drop(black_box((graph, flow)));
        alloc_counter::counting(true);
    }

    let (tasks, edges, levels) = shape;
    let per_task = graph_bytes as f64 / tasks as f64;
    let beyond_names = graph_bytes.saturating_sub(name_bytes) as f64 / tasks as f64;
    let [build, plan_all, select_plan, define_build, define_only] =
        [build, plan_all, select_plan, define_build, define_only].map(median_ms);
    let ns_per_edge = define_build * 1e6 / edges as f64;

    if options.detail {
        println!(
            "graph-scale: {tasks} tasks, {edges} edges, {levels} levels (3 dependencies per \
             task, LCG seed 42)\nmedian of {} runs\n",
            options.runs
        );
        println!("{:<34} {:>10}", "phase", "ms");
        println!("{:<34} {:>10.2}", "build (add specs + build())", build);
        println!("{:<34} {:>10.2}", "plan (every task)", plan_all);
        println!(
            "{:<34} {:>10.2}",
            format!("select {last} + plan"),
            select_plan
        );
        println!(
            "{:<34} {:>10.2}  ({ns_per_edge:.0} ns an edge)",
            "define (Flow::task + after) + build", define_build
        );
        println!();
        println!("{:<34} {:>10}", "memory held by the Graph", "bytes");
        println!("{:<34} {:>10}", "total", graph_bytes);
        println!("{:<34} {:>10}", "names (sum of lengths)", name_bytes);
        println!("{:<34} {:>10.1}", "per task", per_task);
        println!("{:<34} {:>10.1}", "per task beyond its name", beyond_names);
    }

    let line = |phase: &'static str, ms: f64, note: String| {
        let mut line = Line::new(format!("graph-scale {phase}"), "legato", tasks);
        line.ms = Some(ms);
        line.note = note;
        line.row = Some(
            Row::new("graph-scale", phase)
                .int("tasks", tasks as u64)
                .int("edges", edges as u64)
                .int("runs", options.runs as u64)
                .float("ms", ms),
        );
        line
    };
    let mut build_line = line(
        "build",
        build,
        format!("{edges} edges, {levels} levels; the Graph holds {per_task:.0} B/task"),
    );
    build_line.row = build_line.row.map(|row| {
        row.int("graph_bytes", graph_bytes as u64)
            .float("bytes_per_task", per_task)
            .float("bytes_per_task_beyond_names", beyond_names)
    });
    let mut define_line = line(
        "define+build",
        define_build,
        format!(
            "{ns_per_edge:.0} ns/edge: Flow::task(format!(\"t{{i}}\")) + after(names) + Flow::graph(); \
             target ≤ 100 ns/edge (issue 23): {}",
            if ns_per_edge <= 100.0 { "met" } else { "MISSED" }
        ),
    );
    define_line.row = define_line.row.map(|row| {
        row.float("ns_per_edge", ns_per_edge)
            .float("declare_ms", define_only)
    });
    Ok(vec![
        build_line,
        line("plan", plan_all, "plan of every task".to_owned()),
        line("select_plan", select_plan, format!("select {last} + plan")),
        define_line,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_scale_declares_and_builds_by_name_in_ns_an_edge() {
        let options = Options {
            tasks: Some(1000),
            runs: 1,
            only: None,
            json: None,
            detail: false,
        };
        let lines = graph_scale(&options).unwrap();
        let line = lines
            .iter()
            .find(|l| l.workload == "graph-scale define+build")
            .expect("a define+build line");
        assert!(line.ms.unwrap() > 0.0 && line.row.is_some());
        assert!(line.note.contains("ns/edge"), "{}", line.note);
    }
}

/// The median of some durations, in milliseconds.
fn median_ms(mut runs: Vec<Duration>) -> f64 {
    runs.sort();
    runs[runs.len() / 2].as_secs_f64() * 1e3
}

/// A global allocator that counts the bytes currently allocated, and on demand their peak.
pub(crate) mod alloc_counter {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};

    /// Bytes allocated and not yet freed, by anyone in this process.
    static LIVE: AtomicUsize = AtomicUsize::new(0);
    /// The highest `LIVE` seen since [`track_peak`] (only while tracking).
    static PEAK: AtomicUsize = AtomicUsize::new(0);
    static TRACKING: AtomicBool = AtomicBool::new(false);
    /// Whether allocations are counted now: only while a workload measures memory
    /// (graph-scale, `wide-1m`'s child). Off, the counter costs a plain load a call, not an
    /// atomic read-modify-write, which the rows that time "what a user pays" (and C++
    /// Taskflow's program beside them) do not pay.
    static COUNTING: AtomicBool = AtomicBool::new(false);

    /// The system allocator, counting live bytes while [`counting`] is on (one relaxed atomic
    /// add per call, plus a relaxed `fetch_max` while the peak is tracked).
    #[derive(Debug)]
    pub(crate) struct Counting;

    /// Counts allocations from now on (`true`) or stops (`false`). [`live_bytes`] are then
    /// those counted: compare two readings taken while counting, around what they measure.
    pub(crate) fn counting(on: bool) {
        COUNTING.store(on, Relaxed);
    }

    /// Bytes currently allocated through the global allocator.
    pub(crate) fn live_bytes() -> usize {
        LIVE.load(Relaxed)
    }

    /// Starts tracking the peak of [`live_bytes`] from now on (only `wide-1m`'s child does).
    pub(crate) fn track_peak() {
        PEAK.store(LIVE.load(Relaxed), Relaxed);
        TRACKING.store(true, Relaxed);
    }

    /// The highest [`live_bytes`] since [`track_peak`].
    pub(crate) fn peak_bytes() -> usize {
        PEAK.load(Relaxed)
    }

    fn grew(by: usize) {
        if !COUNTING.load(Relaxed) {
            return;
        }
        let now = LIVE.fetch_add(by, Relaxed).wrapping_add(by);
        if TRACKING.load(Relaxed) {
            PEAK.fetch_max(now, Relaxed);
        }
    }

    fn shrank(by: usize) {
        if COUNTING.load(Relaxed) {
            LIVE.fetch_sub(by, Relaxed);
        }
    }

    // SAFETY: every call is forwarded to `System` with the caller's own arguments, so
    // `System`'s guarantees hold; the counter only observes sizes.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: forwarded as is; the caller upholds `alloc`'s contract.
            let p = unsafe { System.alloc(layout) };
            if !p.is_null() {
                grew(layout.size());
            }
            p
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            // SAFETY: forwarded as is; the caller upholds `alloc_zeroed`'s contract.
            let p = unsafe { System.alloc_zeroed(layout) };
            if !p.is_null() {
                grew(layout.size());
            }
            p
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: forwarded as is; `ptr` came from this allocator with this layout.
            unsafe { System.dealloc(ptr, layout) };
            shrank(layout.size());
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            // SAFETY: forwarded as is; the caller upholds `realloc`'s contract.
            let p = unsafe { System.realloc(ptr, layout, new_size) };
            if !p.is_null() {
                if new_size >= layout.size() {
                    grew(new_size - layout.size());
                } else {
                    shrank(layout.size() - new_size);
                }
            }
            p
        }
    }
}

/// Result rows and the JSON results file, by hand so the harness needs no dependencies.
///
/// The file is a flat list of flat objects, one per line:
///
/// ```text
/// [
///   {"door": "rust", "impl": "legato", "workload": "graph-scale", "phase": "build", "ms": 61.2, ...},
///   ...
/// ]
/// ```
///
/// Merging replaces the rows with the same `door`, `impl`, `workload` and `phase` and keeps
/// every other row (other front doors, peer libraries) as it was.
pub(crate) mod results {
    use std::fmt::Write as _;

    /// One measurement, as an ordered list of JSON fields.
    #[derive(Debug, Clone)]
    pub(crate) struct Row {
        /// Each field's key and its value as JSON text.
        fields: Vec<(String, String)>,
    }

    /// The fields that identify a row; a new row replaces an old one with the same values.
    const KEY: [&str; 4] = ["door", "impl", "workload", "phase"];

    impl Row {
        /// A row of this harness (door `rust`, impl `legato`) for one phase of a workload.
        pub(crate) fn new(workload: &str, phase: &str) -> Self {
            Row { fields: Vec::new() }
                .str("door", "rust")
                .str("impl", "legato")
                .str("workload", workload)
                .str("phase", phase)
        }

        /// A row of this harness (door `rust`) for one implementation on a workload that has
        /// no phases.
        pub(crate) fn for_impl(imp: &str, workload: &str) -> Self {
            Row { fields: Vec::new() }
                .str("door", "rust")
                .str("impl", imp)
                .str("workload", workload)
        }

        /// Adds a `true` or `false` field.
        pub(crate) fn boolean(mut self, key: &str, value: bool) -> Self {
            self.fields.push((key.to_owned(), value.to_string()));
            self
        }

        /// Adds a string field.
        pub(crate) fn str(mut self, key: &str, value: &str) -> Self {
            self.fields.push((key.to_owned(), quote(value)));
            self
        }

        /// Adds a whole-number field.
        pub(crate) fn int(mut self, key: &str, value: u64) -> Self {
            self.fields.push((key.to_owned(), value.to_string()));
            self
        }

        /// Adds a number field, rounded to four decimals (`null` if not finite).
        pub(crate) fn float(mut self, key: &str, value: f64) -> Self {
            let text = if value.is_finite() {
                let rounded = (value * 1e4).round() / 1e4;
                format!("{rounded}")
            } else {
                "null".to_owned()
            };
            self.fields.push((key.to_owned(), text));
            self
        }

        /// The row's identity: the decoded values of its [`KEY`] fields.
        fn key(&self) -> [Option<String>; 4] {
            KEY.map(|k| {
                self.fields
                    .iter()
                    .find(|(f, _)| f == k)
                    .and_then(|(_, v)| unquote(v))
            })
        }

        /// The row as one line of JSON.
        fn to_json(&self) -> String {
            let mut out = String::from("{");
            for (i, (k, v)) in self.fields.iter().enumerate() {
                let sep = if i == 0 { "" } else { ", " };
                let _ = write!(out, "{sep}{}: {v}", quote(k));
            }
            out.push('}');
            out
        }
    }

    /// Merges `rows` into the results file at `path` (created if missing), replacing rows
    /// with the same key; written to a temporary file first, then renamed into place.
    pub(crate) fn merge_into(path: &str, rows: &[Row]) -> Result<(), String> {
        let mut all = match std::fs::read_to_string(path) {
            Ok(text) => parse(&text).map_err(|e| format!("it is not a results file: {e}"))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e.to_string()),
        };
        for row in rows {
            match all.iter_mut().find(|old| old.key() == row.key()) {
                Some(old) => *old = row.clone(),
                None => all.push(row.clone()),
            }
        }
        let mut text = String::from("[\n");
        for (i, row) in all.iter().enumerate() {
            let sep = if i + 1 == all.len() { "" } else { "," };
            let _ = writeln!(text, "  {}{sep}", row.to_json());
        }
        text.push_str("]\n");
        let tmp = format!("{path}.tmp");
        std::fs::write(&tmp, text).map_err(|e| e.to_string())?;
        std::fs::rename(&tmp, path).map_err(|e| e.to_string())
    }

    /// JSON text of a string.
    fn quote(s: &str) -> String {
        let mut out = String::with_capacity(s.len() + 2);
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 => {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                }
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }

    /// The string that JSON text stands for, if it is a string.
    fn unquote(json: &str) -> Option<String> {
        let mut p = Parser { s: json, at: 0 };
        let s = p.string().ok()?;
        (p.at == json.len()).then_some(s)
    }

    /// Parses a results file: an array of objects. Values are kept as their JSON text, so rows
    /// written by other tools survive a merge unchanged (up to white space).
    fn parse(text: &str) -> Result<Vec<Row>, String> {
        let mut p = Parser { s: text, at: 0 };
        let mut rows = Vec::new();
        p.expect('[')?;
        if !p.eat(']') {
            loop {
                p.expect('{')?;
                let mut fields = Vec::new();
                if !p.eat('}') {
                    loop {
                        p.ws();
                        let key = p.string()?;
                        p.expect(':')?;
                        p.ws();
                        let start = p.at;
                        p.value()?;
                        fields.push((key, p.s[start..p.at].to_owned()));
                        if p.eat('}') {
                            break;
                        }
                        p.expect(',')?;
                    }
                }
                rows.push(Row { fields });
                if p.eat(']') {
                    break;
                }
                p.expect(',')?;
            }
        }
        p.ws();
        if p.at != text.len() {
            return Err(p.error("end of file"));
        }
        Ok(rows)
    }

    /// A minimal JSON reader over `s`, at byte offset `at`.
    struct Parser<'a> {
        s: &'a str,
        at: usize,
    }

    impl Parser<'_> {
        fn peek(&self) -> Option<char> {
            self.s[self.at..].chars().next()
        }

        fn ws(&mut self) {
            while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
                self.at += 1;
            }
        }

        fn error(&self, expected: &str) -> String {
            format!("expected {expected} at byte {}", self.at)
        }

        /// Skips white space, then consumes `c` if it comes next.
        fn eat(&mut self, c: char) -> bool {
            self.ws();
            if self.peek() == Some(c) {
                self.at += c.len_utf8();
                true
            } else {
                false
            }
        }

        fn expect(&mut self, c: char) -> Result<(), String> {
            if self.eat(c) {
                Ok(())
            } else {
                Err(self.error(&format!("{c:?}")))
            }
        }

        /// A string, decoded.
        fn string(&mut self) -> Result<String, String> {
            if self.peek() != Some('"') {
                return Err(self.error("a string"));
            }
            self.at += 1;
            let mut out = String::new();
            loop {
                let c = self.peek().ok_or_else(|| self.error("a closing quote"))?;
                self.at += c.len_utf8();
                match c {
                    '"' => return Ok(out),
                    '\\' => {
                        let e = self.peek().ok_or_else(|| self.error("an escape"))?;
                        self.at += 1;
                        out.push(match e {
                            'n' => '\n',
                            'r' => '\r',
                            't' => '\t',
                            'b' => '\u{8}',
                            'f' => '\u{c}',
                            'u' => {
                                let hex = self.s.get(self.at..self.at + 4);
                                let code = hex.and_then(|h| u32::from_str_radix(h, 16).ok());
                                self.at += 4;
                                code.and_then(char::from_u32).unwrap_or('\u{fffd}')
                            }
                            '"' | '\\' | '/' => e,
                            _ => return Err(self.error("a valid escape")),
                        });
                    }
                    c => out.push(c),
                }
            }
        }

        /// Skips any value: a string, a number or literal, an array or an object.
        fn value(&mut self) -> Result<(), String> {
            match self.peek() {
                Some('"') => self.string().map(drop),
                Some(open @ ('[' | '{')) => {
                    let close = if open == '[' { ']' } else { '}' };
                    self.at += 1;
                    if self.eat(close) {
                        return Ok(());
                    }
                    loop {
                        self.ws();
                        if open == '{' {
                            self.string()?;
                            self.expect(':')?;
                            self.ws();
                        }
                        self.value()?;
                        if self.eat(close) {
                            return Ok(());
                        }
                        self.expect(',')?;
                    }
                }
                _ => {
                    let start = self.at;
                    while self
                        .peek()
                        .is_some_and(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                    {
                        self.at += 1;
                    }
                    if self.at == start {
                        Err(self.error("a value"))
                    } else {
                        Ok(())
                    }
                }
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn merge_replaces_same_key_and_keeps_the_rest() {
            let dir = std::env::temp_dir().join(format!("legato-bench-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join("results.json");
            let path = path.to_str().unwrap();
            std::fs::write(
                path,
                r#"[{"door":"python","impl":"legato","workload":"w1","ms":1.5,"tags":["a",{"b":null}]},
                    {"door":"rust","impl":"legato","workload":"graph-scale","phase":"build","ms":9}]"#,
            )
            .unwrap();
            let row = Row::new("graph-scale", "build").float("ms", 2.0 / 3.0);
            merge_into(path, &[row]).unwrap();
            let text = std::fs::read_to_string(path).unwrap();
            assert_eq!(
                text,
                "[\n  \
                 {\"door\": \"python\", \"impl\": \"legato\", \"workload\": \"w1\", \"ms\": 1.5, \"tags\": [\"a\",{\"b\":null}]},\n  \
                 {\"door\": \"rust\", \"impl\": \"legato\", \"workload\": \"graph-scale\", \"phase\": \"build\", \"ms\": 0.6667}\n\
                 ]\n"
            );
            assert_eq!(parse(&text).unwrap().len(), 2);
            std::fs::remove_dir_all(&dir).unwrap();
        }

        #[test]
        fn strings_round_trip_and_bad_files_are_refused() {
            let s = "a \"q\" \\ \n é";
            assert_eq!(unquote(&quote(s)).as_deref(), Some(s));
            assert!(parse("[").is_err());
            assert!(parse("{}").is_err());
            assert!(parse("[] x").is_err());
            assert_eq!(parse(" [ ] ").unwrap().len(), 0);
        }
    }
}
