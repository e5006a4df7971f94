//! `legato`: runs Markdown runbooks of shell tasks.
//!
//! ```text
//! legato task deploy [-f runbook.md] [--dry-run] [--show-dag] [--verbose] [--fail-fast] ...
//! legato runbook [-f runbook.md]
//! legato list [-f runbook.md]
//! ```
//!
//! Exit codes: 0 all tasks succeeded; 1 a task failed; 2 a usage, parse or graph error;
//! 130 interrupted (Ctrl-C); 143 and 129 after SIGTERM and SIGHUP, which also cancel the run.
#![warn(missing_debug_implementations, unreachable_pub)]
#![deny(unsafe_op_in_unsafe_fn)]

mod exec;
mod history;
mod runbook;
mod ui;

use clap::{Args, Parser, Subcommand};
use legato::render::Format;
use legato::{Flow, FlowError, GraphError, RunReport};
use runbook::Runbook;
use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use ui::{out, TaskInfo, Ui, Verbosity};

/// Every task succeeded.
const EXIT_OK: u8 = 0;
/// A task failed, timed out or was cancelled by fail-fast.
const EXIT_FAILED: u8 = 1;
/// A usage, parse or graph error: nothing ran.
const EXIT_USAGE: u8 = 2;
/// Interrupted by Ctrl-C (128 + SIGINT).
const EXIT_INTERRUPTED: u8 = 130;
/// Terminated by SIGTERM (128 + SIGTERM).
const EXIT_TERMINATED: u8 = 143;
/// Its terminal went away (128 + SIGHUP).
const EXIT_HANGUP: u8 = 129;

#[derive(Debug, Parser)]
#[command(
    name = "legato",
    version,
    about = "Run Markdown runbooks of shell tasks",
    override_usage = "legato [-f <RUNBOOK>] <COMMAND>",
    long_about = "Run Markdown runbooks of shell tasks.\n\n\
        A fenced block whose info string is `bash <name> [--dep <task>]... [--descr \"<text>\"]` \
        (or `sh`, `python`) is a task; other blocks are documentation.\n\n\
        Each task runs in its own process group, killed when the task ends: a process it \
        leaves in the background does not outlive it (start a daemon with `setsid` to keep it).\n\n\
        Exit codes: 0 all succeeded, 1 a task failed, 2 usage, parse or graph error, \
        130 interrupted."
)]
struct Cli {
    /// The runbook to read
    #[arg(
        short = 'f',
        long = "file",
        global = true,
        value_name = "RUNBOOK",
        default_value = "runbook.md"
    )]
    file: PathBuf,

    #[command(subcommand)]
    command: Command,
}

// Usage lines are written out: clap's own, in an error, lists the options the user gave as if
// they were required (`legato task --file <RUNBOOK> --format <FORMAT> <NAME>...`).
#[derive(Debug, Subcommand)]
enum Command {
    /// Run tasks and everything they depend on
    #[command(
        override_usage = "legato task [-f <RUNBOOK>] [OPTIONS] <TASK>...\n       \
                                legato task [-f <RUNBOOK>] --show-dag [--format <FORMAT>] <TASK>..."
    )]
    Task {
        /// The tasks to run
        #[arg(required = true, value_name = "TASK")]
        names: Vec<String>,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Run every task of the runbook
    #[command(override_usage = "legato runbook [-f <RUNBOOK>] [OPTIONS]\n       \
                                legato runbook [-f <RUNBOOK>] --show-dag [--format <FORMAT>]")]
    Runbook {
        #[command(flatten)]
        run: RunArgs,
    },
    /// List the runbook's tasks with their descriptions
    #[command(override_usage = "legato list [-f <RUNBOOK>]")]
    List,
    /// List the runbook's recorded runs (see --history), newest first
    #[command(
        override_usage = "legato history [-f <RUNBOOK>] [--history <PATH>] [--limit <N>] [--json]\n       \
                                legato history show <ID> [--html <FILE>]"
    )]
    History {
        #[command(subcommand)]
        show: Option<HistoryCommand>,
        /// The history file (default: .legato/history.db beside the runbook)
        #[arg(long = "history", value_name = "PATH", global = true)]
        path: Option<PathBuf>,
        /// How many runs to list
        #[arg(long, value_name = "N", default_value_t = 20)]
        limit: usize,
        /// One JSON object a run, a line each
        #[arg(long)]
        json: bool,
        /// Runs of every runbook recorded in the file, not only this one's
        #[arg(long)]
        all: bool,
    },
}

#[derive(Debug, Subcommand)]
enum HistoryCommand {
    /// A recorded run: its summary and tasks; --html writes its timeline
    Show {
        /// The run's id (see `legato history`)
        id: i64,
        /// Write the run's timeline (a self-contained HTML page) to FILE
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Print the levels that would run, in order; run nothing
    #[arg(long)]
    dry_run: bool,
    /// Draw the dependency graph; run nothing
    #[arg(long)]
    show_dag: bool,
    /// The drawing's format (implies --show-dag)
    #[arg(long, value_name = "FORMAT", value_parser = ["ascii", "mermaid", "dot"])]
    format: Option<String>,
    /// Show the resolution order, each task's full output and timings
    #[arg(short, long)]
    verbose: bool,
    /// Print only failures
    #[arg(short, long, conflicts_with = "verbose")]
    quiet: bool,
    /// Run at most N tasks at once
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_parallel: Option<u32>,
    /// Stop everything at the first failure (default: only its dependents are skipped)
    #[arg(long)]
    fail_fast: bool,
    /// The order ready tasks start in when slots are short: fifo, or critical_path (the
    /// longest remaining path first, by each task's --cost)
    #[arg(long, value_name = "ORDER", value_parser = ["fifo", "critical_path"])]
    priority: Option<String>,
    /// Write the run's report as JSON to FILE
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Write the run's timeline (a self-contained HTML page) to FILE
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Record the run in the run history: PATH, or .legato/history.db beside the runbook
    #[arg(long, value_name = "PATH", num_args = 0..=1)]
    history: Option<Option<PathBuf>>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match &cli.command {
        Command::List => list(&cli.file),
        Command::History {
            show,
            path,
            limit,
            json,
            all,
        } => history_command(
            &cli.file,
            show.as_ref(),
            path.as_deref(),
            *limit,
            *json,
            *all,
        ),
        Command::Task { names, run } => run_command(&cli.file, names, run),
        Command::Runbook { run } => run_command(&cli.file, &[], run),
    };
    ExitCode::from(code)
}

fn error(message: impl std::fmt::Display) -> u8 {
    eprintln!("Error: {message}");
    EXIT_USAGE
}

fn list(file: &Path) -> u8 {
    let rb = match Runbook::load(file) {
        Ok(rb) => rb,
        Err(e) => return error(e),
    };
    if rb.tasks.is_empty() {
        out(&format!("No tasks in {}", file.display()));
        return EXIT_OK;
    }
    out(&format!("Tasks in {}:", file.display()));
    let width = rb.tasks.iter().map(|t| t.name.chars().count()).max();
    for t in &rb.tasks {
        let mut line = format!("  {:<w$}", t.name, w = width.unwrap_or(0));
        if let Some(d) = &t.description {
            line.push_str("  ");
            line.push_str(d);
        }
        if !t.deps.is_empty() {
            line.push_str(&format!("  (after {})", t.deps.join(", ")));
        }
        out(line.trim_end());
    }
    EXIT_OK
}

/// The flow of a runbook: one task per block, its body running the block's script.
fn build_flow(rb: &Runbook, ui: &Arc<std::sync::OnceLock<Arc<Ui>>>) -> Result<Flow, String> {
    let name = rb
        .path
        .file_name()
        .map_or_else(|| "runbook".into(), |n| n.to_string_lossy().into_owned());
    let mut flow = Flow::new().named(name);
    for (key, capacity) in &rb.limits {
        flow.limit(key.clone(), *capacity);
    }
    let base = rb.dir();
    for t in &rb.tasks {
        let script = Arc::new(exec::Script::new(t, &base));
        let condition_script = script.clone();
        let ui = ui.clone();
        let task_name: Arc<str> = Arc::from(t.name.as_str());
        let at = |e: GraphError| format!("{}:{}: {e}", rb.path.display(), t.line);
        let mut tm = flow
            .task(&t.name, move |cx| {
                let script = script.clone();
                let ui = ui.clone();
                let task_name = task_name.clone();
                async move {
                    let ui = ui.get().cloned();
                    if let Some(ui) = &ui {
                        ui.attempt_started(&task_name, cx.attempt());
                    }
                    // `--verbose` shows every byte (a long line in pieces); otherwise only the
                    // tail of a failure is shown, and a long line is cut.
                    let long_lines = match &ui {
                        Some(ui) if ui.verbose() => exec::LongLines::Split,
                        _ => exec::LongLines::Truncate,
                    };
                    exec::run(&script, cx.attempt(), long_lines, |line| {
                        if let Some(ui) = &ui {
                            ui.output(&task_name, line);
                        }
                    })
                    .await
                }
            })
            .map_err(at)?
            .after(&t.deps)
            .retries(t.retries);
        if let Some(d) = t.timeout {
            tm = tm.timeout(d);
        }
        for key in &t.uses {
            tm = tm.uses(key.clone());
        }
        tm = tm.trigger(t.trigger);
        if let Some(d) = t.cost {
            tm = tm.cost(d);
        }
        if let Some(command) = &t.when {
            let command = command.clone();
            tm = tm.when(move |_| exec::condition(&condition_script, &command));
        }
        if let Some(d) = &t.description {
            tm.description(d.clone());
        }
    }
    Ok(flow)
}

/// Prints the levels, each task with its keys, condition and trigger rule (`render::marks`).
fn print_levels(flow: &Flow, levels: &[Vec<String>]) {
    let graph = flow.graph().ok();
    let shown = |name: &String| {
        let marks = graph.as_ref().and_then(|g| {
            let id = g.get(name)?;
            legato::render::marks(g.options(id))
        });
        match marks {
            Some(m) => format!("{name} [{m}]"),
            None => name.clone(),
        }
    };
    for (i, level) in levels.iter().enumerate() {
        let names: Vec<String> = level.iter().map(shown).collect();
        out(&format!("  level {}: {}", i + 1, names.join(", ")));
    }
}

/// Prints a graph error (its contract text first), then where the tasks it names are defined:
/// the task with a missing dependency, every task on a cycle.
fn graph_error(rb: &Runbook, e: &GraphError) -> u8 {
    let code = error(e);
    let named: &[String] = match e {
        GraphError::MissingDependency { task, .. } => std::slice::from_ref(task),
        // The path ends with its first task again.
        GraphError::Cycle { path } => &path[..path.len().saturating_sub(1)],
        _ => &[],
    };
    for name in named {
        if let Some(t) = rb.tasks.iter().find(|t| &t.name == name) {
            eprintln!("  (task \"{name}\" is at {}:{})", rb.path.display(), t.line);
        }
    }
    code
}

fn run_command(file: &Path, targets: &[String], args: &RunArgs) -> u8 {
    let rb = match Runbook::load(file) {
        Ok(rb) => rb,
        Err(e) => return error(e),
    };
    let ui_cell = Arc::new(std::sync::OnceLock::new());
    let mut flow = match build_flow(&rb, &ui_cell) {
        Ok(f) => f,
        Err(e) => return error(e),
    };
    let levels = match flow.plan_targets(targets) {
        Ok(l) => l,
        Err(e) => return graph_error(&rb, &e),
    };
    let total: usize = levels.iter().map(Vec::len).sum();

    if args.show_dag || args.format.is_some() {
        let format: Format = args
            .format
            .as_deref()
            .unwrap_or("ascii")
            .parse()
            .expect("clap checked the format");
        let drawing = flow
            .graph()
            .and_then(|g| Ok(g.render(format, &g.select(targets)?)));
        match drawing {
            Ok(d) => {
                use std::io::Write;
                let _ = std::io::stdout().lock().write_all(d.as_bytes());
            }
            Err(e) => return graph_error(&rb, &e),
        }
    }
    if args.dry_run {
        out(&format!(
            "Dry run: {total} task{} in {} level{} would run (nothing executed):",
            plural(total),
            levels.len(),
            plural(levels.len())
        ));
        print_levels(&flow, &levels);
    }
    if args.dry_run || args.show_dag || args.format.is_some() {
        return EXIT_OK;
    }
    if total == 0 {
        out(&format!("No tasks in {}", file.display()));
        return EXIT_OK;
    }
    // Files written after the run must be writable before it: a typo in a path must not cost
    // a whole run.
    let outputs = [(&args.report, "report"), (&args.html, "timeline")];
    for (path, what) in outputs {
        if let Some(path) = path {
            if let Err(e) = check_writable(path) {
                return error(format!(
                    "cannot write the {what} to \"{}\": {e} (nothing was run)",
                    path.display()
                ));
            }
        }
    }

    let verbosity = if args.quiet {
        Verbosity::Quiet
    } else if args.verbose {
        Verbosity::Verbose
    } else {
        Verbosity::Normal
    };
    if verbosity == Verbosity::Verbose {
        out(&format!(
            "Resolution order: {total} task{} in {} level{}",
            plural(total),
            levels.len(),
            plural(levels.len())
        ));
        print_levels(&flow, &levels);
    }
    let infos: HashMap<String, TaskInfo> = rb
        .tasks
        .iter()
        .map(|t| {
            (
                t.name.clone(),
                TaskInfo {
                    retries: t.retries,
                    timeout: t.timeout,
                },
            )
        })
        .collect();
    let live = verbosity != Verbosity::Quiet && std::io::stdout().is_terminal();
    let ui = Arc::new(Ui::new(verbosity, live, total, infos));
    let _ = ui_cell.set(ui.clone());

    if let Some(n) = args.max_parallel {
        flow.max_parallel(n as usize);
    }
    flow.fail_fast(args.fail_fast);
    if let Some(p) = &args.priority {
        // clap checked the name.
        flow.priority(p.parse().unwrap_or_default());
    }
    {
        let ui = ui.clone();
        flow.on_task_retry(move |e| ui.retrying(e.name, e.attempt, e.error));
    }
    {
        let ui = ui.clone();
        flow.on_task_completion(move |e| {
            if let Some(status) = e.status {
                ui.completed(e.name, status, e.error);
            }
        });
    }
    {
        let ui = ui.clone();
        flow.on_task_skip(move |e| ui.skipped(e.name, e.reason));
    }

    let (report, signal) = match execute(&flow, targets, &ui) {
        Ok(r) => r,
        Err(e) => return error(e),
    };
    ui.finish(&report);
    let mut code = match signal {
        Some(sig) => sig,
        None if report.ok() => EXIT_OK,
        None => EXIT_FAILED,
    };
    if let Some(path) = &args.report {
        code = write_file(path, &report.to_json(), "Report", verbosity, code);
    }
    if let Some(path) = &args.html {
        let title = format!("legato: {}", flow.name());
        code = write_file(path, &report.to_html(&title), "Timeline", verbosity, code);
    }
    if let Some(path) = &args.history {
        record(file, targets, &report, path.as_deref(), verbosity);
    }
    code
}

/// Records a run in the history file (`--history`). A history that cannot be written is a
/// warning: the run itself went as it went, and its exit code stays.
fn record(
    file: &Path,
    targets: &[String],
    report: &RunReport,
    path: Option<&Path>,
    verbosity: Verbosity,
) {
    let path = path.map_or_else(|| history::default_path(file), Path::to_owned);
    let recorded = history::History::open(&path, true)
        .and_then(|mut h| h.record(&history::runbook_key(file), targets, report));
    match recorded {
        Ok(id) if verbosity != Verbosity::Quiet => {
            out(&format!("Recorded as run {id} in {}", path.display()));
        }
        Ok(_) => {}
        Err(e) => eprintln!("warning: the run was not recorded: {e}"),
    }
}

/// `legato history`: the runbook's latest runs as a table (or JSON lines), or one run.
fn history_command(
    file: &Path,
    show: Option<&HistoryCommand>,
    path: Option<&Path>,
    limit: usize,
    json: bool,
    all: bool,
) -> u8 {
    let path = path.map_or_else(|| history::default_path(file), Path::to_owned);
    let h = match history::History::open(&path, false) {
        Ok(h) => h,
        Err(e) => return error(e),
    };
    if let Some(HistoryCommand::Show { id, html }) = show {
        let (row, report) = match h.get(*id) {
            Ok(Some(found)) => found,
            Ok(None) => return error(format!("no run {id} in {}", path.display())),
            Err(e) => return error(e),
        };
        out(&format!(
            "Run {} of {} ({})",
            row.id, row.runbook, row.status
        ));
        out(&format!(
            "Started {}, finished {}",
            row.started_at, row.finished_at
        ));
        if !row.targets.is_empty() {
            out(&format!("Targets: {}", row.targets.join(", ")));
        }
        out(&format!("Summary: {}", report.summary()));
        for t in &report.tasks {
            let detail = match (&t.error, &t.skip_reason) {
                (Some(e), _) => format!(" ({})", e.message),
                (None, Some(r)) => format!(" ({r})"),
                _ => String::new(),
            };
            out(&format!("  {:<10} {}{detail}", t.status.as_str(), t.name));
        }
        if let Some(file) = html {
            let title = format!("legato: run {} of {}", row.id, row.runbook);
            return write_file(
                file,
                &report.to_html(&title),
                "Timeline",
                Verbosity::Normal,
                EXIT_OK,
            );
        }
        return EXIT_OK;
    }
    let key = history::runbook_key(file);
    let rows = match h.list((!all).then_some(key.as_str()), limit) {
        Ok(rows) => rows,
        Err(e) => return error(e),
    };
    if json {
        for row in &rows {
            out(&history::row_json(row).to_string());
        }
        return EXIT_OK;
    }
    if rows.is_empty() {
        out(&format!("No runs recorded in {}", path.display()));
        return EXIT_OK;
    }
    out(&format!(
        "{:>5}  {:<24}  {:<9}  {:>10}  tasks",
        "id", "started", "status", "duration"
    ));
    for row in &rows {
        let mut line = format!(
            "{:>5}  {:<24}  {:<9}  {:>10}  {}",
            row.id,
            row.started_at,
            row.status,
            legato::event::fmt_duration(std::time::Duration::from_secs_f64(row.total_ms / 1e3)),
            history::task_counts(&row.tasks)
        );
        if all {
            line.push_str(&format!("  {}", row.runbook));
        }
        out(&line);
    }
    EXIT_OK
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Whether `path` can be written: its folder exists and the file can be opened for writing
/// (an existing file, left as it is) or created (then removed again). Nothing is left behind.
fn check_writable(path: &Path) -> Result<(), String> {
    use std::io::ErrorKind;
    if path.is_dir() || path.as_os_str().to_string_lossy().ends_with('/') {
        return Err("that is a folder, not a file".into());
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(if dir.exists() {
            format!("\"{}\" is not a folder", dir.display())
        } else {
            format!("folder \"{}\" does not exist", dir.display())
        });
    }
    let mut open = std::fs::OpenOptions::new();
    open.write(true);
    match open.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => match open.create_new(true).open(path) {
            Ok(file) => {
                drop(file);
                let _ = std::fs::remove_file(path);
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        },
        Err(e) => Err(e.to_string()),
    }
}

fn write_file(path: &Path, text: &str, what: &str, verbosity: Verbosity, code: u8) -> u8 {
    match std::fs::write(path, text) {
        Ok(()) => {
            if verbosity != Verbosity::Quiet {
                let shown = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
                out(&format!("{what} written to {}", shown.display()));
            }
            code
        }
        Err(e) => {
            eprintln!("Error: cannot write {}: {e}", path.display());
            code.max(EXIT_FAILED)
        }
    }
}

/// Runs the flow on a tokio runtime; Ctrl-C (or SIGTERM) cancels it. Returns the report and,
/// when the run was interrupted, the exit code that says so.
fn execute(flow: &Flow, targets: &[String], ui: &Ui) -> Result<(RunReport, Option<u8>), String> {
    use tokio::signal::unix::{signal, SignalKind};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    rt.block_on(async {
        // Registered before any task starts, so a signal is never missed.
        let listen =
            |kind: SignalKind| signal(kind).map_err(|e| format!("cannot listen for signals: {e}"));
        let mut sigint = listen(SignalKind::interrupt())?;
        let mut sigterm = listen(SignalKind::terminate())?;
        let mut sighup = listen(SignalKind::hangup())?;
        let handle = flow.spawn_targets(targets).map_err(|e| e.to_string())?;
        let canceller = handle.canceller();
        let mut wait = std::pin::pin!(handle.wait());
        let mut interrupted: Option<u8> = None;
        let result = loop {
            let code = tokio::select! {
                r = &mut wait => break r,
                _ = sigint.recv() => EXIT_INTERRUPTED,
                _ = sigterm.recv() => EXIT_TERMINATED,
                _ = sighup.recv() => EXIT_HANGUP,
            };
            if interrupted.is_some() && code == EXIT_INTERRUPTED {
                // A second Ctrl-C: leave at once.
                ui.restore_terminal();
                std::process::exit(i32::from(EXIT_INTERRUPTED));
            }
            if interrupted.is_none() {
                interrupted = Some(code);
                ui.interrupted();
                canceller.cancel();
            }
        };
        let report = match result {
            Ok(report) => report,
            Err(FlowError::Failed { report, .. }) => *report,
            Err(e) => return Err(e.to_string()),
        };
        Ok((report, interrupted))
    })
}
