//! What the user sees during a run: one line per task outcome (`✓ step1 completed`,
//! `✗ step2 failed with exit code 1`, `⊘ step3 skipped (dependency failed)`), task output
//! prefixed with the task's name, a live progress display on a terminal, and the summary.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use legato::event::{fmt_duration, ErrorKind, SkipReason, Status, TaskError};
use legato::RunReport;
use std::collections::{HashMap, VecDeque};
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

/// How many lines of a failed task's output are shown (all of them with `--verbose`). With
/// each line at most [`crate::exec::MAX_LINE`] bytes (and a marker), a task's tail is bounded.
const TAIL_LINES: usize = 20;

/// How chatty the output is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verbosity {
    /// Only failures (`--quiet`).
    Quiet,
    /// One line per task, the tail of a failed task's output, the summary.
    Normal,
    /// Also the resolution order, each attempt's start, timings and all output.
    Verbose,
}

/// What the UI knows about a task beforehand.
#[derive(Debug, Clone, Default)]
pub(crate) struct TaskInfo {
    /// `--retries`.
    pub(crate) retries: u32,
    /// `--timeout`.
    pub(crate) timeout: Option<Duration>,
}

#[derive(Debug, Default)]
struct Tail {
    lines: VecDeque<String>,
    dropped: usize,
}

#[derive(Debug)]
struct Progress {
    multi: MultiProgress,
    overall: ProgressBar,
    running: Mutex<HashMap<String, ProgressBar>>,
    echo: Mutex<Option<QuietControlKeys>>,
}

/// Turns off the terminal's echo of control keys (`^C`) while the progress display is up: the
/// display keeps its cursor at the right edge, where an echoed `^C` would wrap a line and leave
/// a stale copy of the display behind. Restores the terminal when dropped.
struct QuietControlKeys {
    saved: libc::termios,
}

impl std::fmt::Debug for QuietControlKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("QuietControlKeys")
    }
}

impl QuietControlKeys {
    fn new() -> Option<QuietControlKeys> {
        if !std::io::stdin().is_terminal() {
            return None;
        }
        // SAFETY: a zeroed termios is a valid value for tcgetattr to fill in.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: fd 0 is a terminal and `t` is a valid termios.
        if unsafe { libc::tcgetattr(libc::STDIN_FILENO, &mut t) } != 0 {
            return None;
        }
        let saved = t;
        t.c_lflag &= !libc::ECHOCTL;
        // SAFETY: as above.
        if unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &t) } != 0 {
            return None;
        }
        Some(QuietControlKeys { saved })
    }
}

impl Drop for QuietControlKeys {
    fn drop(&mut self) {
        // SAFETY: restores the settings read in `new`.
        unsafe {
            libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &self.saved);
        }
    }
}

/// The run's output. Shared by the hooks and the task bodies.
#[derive(Debug)]
pub(crate) struct Ui {
    verbosity: Verbosity,
    progress: Option<Progress>,
    tasks: HashMap<String, TaskInfo>,
    tails: Mutex<HashMap<String, Tail>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Writes a line to standard output, ignoring errors (a closed pipe must not panic).
pub(crate) fn out(line: &str) {
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "{line}");
}

impl Ui {
    /// A UI for a run of `total` tasks; with `live`, a progress display on standard output.
    pub(crate) fn new(
        verbosity: Verbosity,
        live: bool,
        total: usize,
        tasks: HashMap<String, TaskInfo>,
    ) -> Ui {
        let progress = live.then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stdout());
            let overall = multi.add(ProgressBar::new(total as u64));
            overall.set_style(
                ProgressStyle::with_template(
                    "{spinner:.green} [{bar:24.cyan/blue}] {pos}/{len} done  {elapsed:.dim}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            overall.enable_steady_tick(Duration::from_millis(120));
            Progress {
                multi,
                overall,
                running: Mutex::new(HashMap::new()),
                echo: Mutex::new(QuietControlKeys::new()),
            }
        });
        Ui {
            verbosity,
            progress,
            tasks,
            tails: Mutex::new(HashMap::new()),
        }
    }

    /// How many attempts `task` may make (`--retries` + 1), counted in a u64 so no retry count
    /// can overflow it.
    fn tries(&self, task: &str) -> u64 {
        self.tasks.get(task).map_or(0, |t| u64::from(t.retries)) + 1
    }

    /// Whether every line of output is shown as it comes (`--verbose`).
    pub(crate) fn verbose(&self) -> bool {
        self.verbosity == Verbosity::Verbose
    }

    /// Prints a line above the progress display (or plainly).
    pub(crate) fn line(&self, s: &str) {
        match &self.progress {
            Some(p) => {
                let _ = p.multi.println(s);
            }
            None => out(s),
        }
    }

    /// A line of a task's output: kept for the failure tail; shown at once with `--verbose`.
    pub(crate) fn output(&self, task: &str, line: &str) {
        if self.verbose() {
            self.line(&format!("{task} | {line}"));
            return;
        }
        let mut tails = lock(&self.tails);
        let tail = tails.entry(task.to_owned()).or_default();
        if tail.lines.len() == TAIL_LINES {
            tail.lines.pop_front();
            tail.dropped += 1;
        }
        tail.lines.push_back(line.to_owned());
    }

    /// An attempt starts: its output so far is forgotten.
    pub(crate) fn attempt_started(&self, task: &str, attempt: u32) {
        lock(&self.tails).remove(task);
        if self.verbose() {
            let tries = self.tries(task);
            if attempt > 1 {
                self.line(&format!("▶ {task} started (attempt {attempt} of {tries})"));
            } else {
                self.line(&format!("▶ {task} started"));
            }
        }
        if let Some(p) = &self.progress {
            let bar = p.multi.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("  {spinner:.cyan} {msg} {elapsed:.dim}")
                    .expect("valid template"),
            );
            bar.set_message(if attempt > 1 {
                format!("{task} (attempt {attempt})")
            } else {
                task.to_owned()
            });
            bar.enable_steady_tick(Duration::from_millis(120));
            if let Some(old) = lock(&p.running).insert(task.to_owned(), bar) {
                old.finish_and_clear();
                p.multi.remove(&old);
            }
        }
    }

    fn stop_spinner(&self, task: &str) {
        if let Some(p) = &self.progress {
            if let Some(bar) = lock(&p.running).remove(task) {
                bar.finish_and_clear();
                p.multi.remove(&bar);
            }
        }
    }

    /// How an attempt failed, as the end of `✗ <task> …`: `failed with exit code 1`,
    /// `timed out after 2s`, `cancelled`, `failed: <message>`.
    fn describe(&self, task: &str, error: Option<&TaskError>) -> String {
        let Some(e) = error else {
            return "failed".to_owned();
        };
        match e.kind {
            ErrorKind::TimedOut => match self.tasks.get(task).and_then(|t| t.timeout) {
                Some(d) => format!("timed out after {}", fmt_duration(d)),
                None => "timed out".to_owned(),
            },
            ErrorKind::Cancelled => "cancelled".to_owned(),
            _ if e.message.starts_with("exit code ") => format!("failed with {}", e.message),
            _ => format!("failed: {}", e.message),
        }
    }

    /// An attempt failed and another one follows.
    pub(crate) fn retrying(&self, task: &str, attempt: u32, error: Option<&TaskError>) {
        self.stop_spinner(task);
        if self.verbosity == Verbosity::Quiet {
            return;
        }
        let tries = self.tries(task);
        self.line(&format!(
            "↻ {task} {}, retrying (attempt {} of {tries})",
            self.describe(task, error),
            u64::from(attempt) + 1
        ));
    }

    /// A task is finished (not skipped).
    pub(crate) fn completed(&self, task: &str, status: Status, error: Option<&TaskError>) {
        self.stop_spinner(task);
        // Its tail is shown only on failure, and forgotten in any case.
        let tail = lock(&self.tails).remove(task);
        if let Some(p) = &self.progress {
            p.overall.inc(1);
        }
        match status {
            Status::Succeeded => {
                if self.verbosity != Verbosity::Quiet {
                    self.line(&format!("✓ {task} completed"));
                }
            }
            Status::Cancelled => {
                if self.verbosity != Verbosity::Quiet {
                    self.line(&format!("⊘ {task} cancelled"));
                }
            }
            _ => {
                self.line(&format!("✗ {task} {}", self.describe(task, error)));
                if let Some(tail) = tail {
                    if tail.dropped > 0 {
                        self.line(&format!(
                            "{task} | … {} earlier lines (--verbose shows all)",
                            tail.dropped
                        ));
                    }
                    for l in tail.lines {
                        self.line(&format!("{task} | {l}"));
                    }
                }
            }
        }
    }

    /// A task will not run: skipped, or resumed (it succeeded in the run being resumed).
    pub(crate) fn skipped(&self, task: &str, reason: Option<&SkipReason>) {
        if let Some(p) = &self.progress {
            p.overall.inc(1);
        }
        if self.verbosity == Verbosity::Quiet {
            return;
        }
        let why = match reason {
            // It succeeded in the run being resumed: it counts as a success, not run again.
            Some(SkipReason::Resumed) => {
                self.line(&format!(
                    "✓ {task} resumed (succeeded before, not run again)"
                ));
                return;
            }
            Some(SkipReason::DependencyFailed { .. }) | None => "dependency failed".to_owned(),
            Some(other) => other.to_string(),
        };
        self.line(&format!("⊘ {task} skipped ({why})"));
    }

    /// A signal arrived: the display is cleared (it comes back while tasks are cancelled).
    pub(crate) fn interrupted(&self) {
        if let Some(p) = &self.progress {
            let _ = p.multi.clear();
        }
    }

    /// Puts the terminal back as it was (before an early exit).
    pub(crate) fn restore_terminal(&self) {
        if let Some(p) = &self.progress {
            lock(&p.echo).take();
        }
    }

    /// The run is over: the progress display goes away and the summary is printed.
    pub(crate) fn finish(&self, report: &RunReport) {
        if let Some(p) = &self.progress {
            for (_, bar) in lock(&p.running).drain() {
                bar.finish_and_clear();
            }
            p.overall.finish_and_clear();
            let _ = p.multi.clear();
            lock(&p.echo).take();
        }
        if self.verbosity == Verbosity::Quiet {
            return;
        }
        out("");
        let summary = report.summary();
        let ran = report.tasks.iter().filter(|t| t.attempts > 0).count();
        let retries = if summary.attempts > ran as u64 {
            format!(", {} attempts", summary.attempts)
        } else {
            String::new()
        };
        out(&format!("Summary: {summary}{retries}"));
        let slowest: Vec<String> = report
            .slowest(3)
            .iter()
            .map(|t| format!("{} ({})", t.name, fmt_duration(t.duration())))
            .collect();
        if !slowest.is_empty() {
            out(&format!("Slowest: {}", slowest.join(", ")));
        }
        if self.verbose() {
            out("Timings:");
            let width = report.tasks.iter().map(|t| t.name.chars().count()).max();
            for t in &report.tasks {
                let took = match t.started {
                    Some(start) => format!(
                        "{:>8}  started at {}",
                        fmt_duration(t.duration()),
                        fmt_duration(start)
                    ),
                    None => format!("{:>8}", "-"),
                };
                let attempts = if t.attempts > 1 {
                    format!(", {} attempts", t.attempts)
                } else {
                    String::new()
                };
                out(&format!(
                    "  {:<w$}  {:<9}  {took}{attempts}",
                    t.name,
                    t.status.as_str(),
                    w = width.unwrap_or(0)
                ));
            }
            let path = report.critical_path_names();
            if !path.is_empty() {
                out(&format!("Critical path: {}", path.join(" → ")));
            }
        }
    }
}
