//! The `legato` binary on the runbooks in `tests/fixtures/`: what it prints, its exit codes,
//! and what its tasks leave behind. Tasks write their side effects under `$OUT`, a fresh
//! folder per test. Nothing here measures wall-clock time.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A fresh, empty folder for one test's side effects.
fn out_dir(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("legato-cli")
        .join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn legato(out: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_legato"));
    cmd.env("OUT", out).stdin(Stdio::null());
    cmd
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(out: &Path, args: &[&str]) -> Run {
    let o: Output = legato(out).args(args).output().unwrap();
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8(o.stdout).unwrap(),
        stderr: String::from_utf8(o.stderr).unwrap(),
    }
}

fn run_fixture(test: &str, name: &str, args: &[&str]) -> (Run, PathBuf) {
    let out = out_dir(test);
    let f = fixture(name);
    let mut all = args.to_vec();
    all.push("-f");
    all.push(f.to_str().unwrap());
    (run(&out, &all), out)
}

/// The lines before the blank line that opens the summary.
fn task_lines(stdout: &str) -> Vec<&str> {
    stdout.lines().take_while(|l| !l.is_empty()).collect()
}

fn read(path: impl AsRef<Path>) -> String {
    std::fs::read_to_string(path.as_ref())
        .unwrap_or_else(|e| panic!("{}: {e}", path.as_ref().display()))
}

/// Whether a process is gone (or a zombie nobody reaped yet: it runs no more).
fn process_gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
        // No /proc (not Linux): ask kill(pid, 0).
        Err(_) if !Path::new("/proc/self").exists() => {
            // SAFETY: signal 0 only checks that the process exists.
            unsafe { libc::kill(pid, 0) != 0 }
        }
        Err(_) => true,
    }
}

/// Polls `cond` every 20 ms, up to 30 s; panics with `what` if it never holds.
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..1500 {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out waiting for {what}");
}

fn assert_pids_gone(out: &Path, files: &[&str]) {
    for f in files {
        let pid: i32 = read(out.join(f)).trim().parse().unwrap();
        // The kill is synchronous, but the kernel may take a moment to tear a process down.
        wait_until(&format!("process {pid} ({f}) to end"), || process_gone(pid));
    }
}

#[test]
fn a_chain_runs_in_order() {
    let (r, out) = run_fixture("chain", "chain.md", &["runbook"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        task_lines(&r.stdout),
        ["✓ a completed", "✓ b completed", "✓ c completed"]
    );
    assert!(
        r.stdout.contains("\nSummary: 3 succeeded in "),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("\nSlowest: "), "{}", r.stdout);
    // Output of tasks that succeed is not shown without --verbose.
    assert!(!r.stdout.contains("a runs"));
    assert_eq!(read(out.join("order")), "a\nb\nc\n");
    assert_eq!(r.stderr, "");
}

#[test]
fn a_target_runs_with_its_dependencies_only() {
    let (r, out) = run_fixture("target", "chain.md", &["task", "b"]);
    assert_eq!(r.code, 0);
    assert_eq!(task_lines(&r.stdout), ["✓ a completed", "✓ b completed"]);
    assert_eq!(read(out.join("order")), "a\nb\n");
}

#[test]
fn fan_out_and_fan_in() {
    let (r, out) = run_fixture("fanout", "fanout.md", &["task", "join"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let lines = task_lines(&r.stdout);
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[0], "✓ root completed");
    let mut middle = lines[1..4].to_vec();
    middle.sort();
    assert_eq!(
        middle,
        [
            "✓ left completed",
            "✓ middle completed",
            "✓ right completed"
        ]
    );
    assert_eq!(lines[4], "✓ join completed");
    assert_eq!(read(out.join("joined")), "left\nmiddle\nright\n");
}

#[test]
fn a_failure_skips_its_dependents_and_independent_tasks_go_on() {
    let (r, out) = run_fixture("failure", "failure.md", &["runbook"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let lines = task_lines(&r.stdout);
    let own: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| !l.contains("other"))
        .collect();
    assert_eq!(
        own,
        [
            "✓ step1 completed",
            "✗ step2 failed with exit code 1",
            "step2 | about to fail",
            "step2 | to stderr",
            "⊘ step3 skipped (dependency failed)",
        ]
    );
    assert!(lines.contains(&"✓ other completed"), "{}", r.stdout);
    assert!(r
        .stdout
        .contains("\nSummary: 2 succeeded, 1 failed, 1 skipped in "));
    assert!(out.join("other").exists());
    assert!(!out.join("step3").exists());
}

#[test]
fn quiet_prints_only_failures() {
    let (r, _) = run_fixture("quiet", "failure.md", &["runbook", "--quiet"]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stdout,
        "✗ step2 failed with exit code 1\nstep2 | about to fail\nstep2 | to stderr\n"
    );
}

#[test]
fn verbose_shows_the_order_all_output_and_timings() {
    let (r, _) = run_fixture("verbose", "chain.md", &["task", "c", "--verbose"]);
    assert_eq!(r.code, 0);
    let s = &r.stdout;
    assert!(
        s.starts_with(
            "Resolution order: 3 tasks in 3 levels\n  level 1: a\n  level 2: b\n  level 3: c\n"
        ),
        "{s}"
    );
    for l in [
        "▶ a started",
        "a | a runs",
        "✓ a completed",
        "b | b runs",
        "c | c runs",
        "Timings:",
        "Critical path: a → b → c",
    ] {
        assert!(s.lines().any(|x| x == l), "missing {l:?} in\n{s}");
    }
    assert!(s.lines().any(|x| x.starts_with("  b  succeeded ")), "{s}");
}

#[test]
fn the_tail_of_a_long_failure() {
    let (r, _) = run_fixture("noisy", "noisy.md", &["runbook"]);
    assert_eq!(r.code, 1);
    let lines = task_lines(&r.stdout);
    assert_eq!(lines[0], "✗ noisy failed with exit code 1");
    assert_eq!(lines[1], "noisy | … 10 earlier lines (--verbose shows all)");
    assert_eq!(lines[2], "noisy | line 11");
    assert_eq!(lines[21], "noisy | line 30");
    assert_eq!(lines.len(), 22);
}

/// The largest resident set, in KiB, of any child process of this test binary waited for so
/// far (legato, and the processes it waited for).
fn children_max_rss_kib() -> i64 {
    // SAFETY: a zeroed rusage is a valid value for getrusage to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable rusage.
    assert_eq!(
        unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) },
        0
    );
    usage.ru_maxrss
}

#[test]
fn a_huge_line_of_output_is_cut_and_memory_stays_bounded() {
    const BYTES: usize = 64 << 20;
    let out = out_dir("huge-line");
    let o = legato(&out)
        .env("BYTES", BYTES.to_string())
        .args(["runbook", "-f"])
        .arg(fixture("huge_line.md"))
        .output()
        .unwrap();
    let stdout = String::from_utf8(o.stdout).unwrap();
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // The whole line used to be kept (and copied) to print it as the failure's tail.
    assert!(stdout.len() < 8 * 1024, "{} bytes printed", stdout.len());
    assert_eq!(
        task_lines(&stdout),
        [
            "✗ huge failed with exit code 1".to_owned(),
            "huge | before".to_owned(),
            format!(
                "huge | {} … [truncated, {BYTES} bytes in all]",
                "x".repeat(4096)
            ),
            "huge | after".to_owned(),
        ]
    );
    // Far less than the line: it was never held whole (it used to cost twice its size).
    let rss_mib = children_max_rss_kib() / 1024;
    assert!(rss_mib < 48, "peak RSS of a child: {rss_mib} MiB");
}

#[test]
fn verbose_shows_a_long_line_whole_in_pieces() {
    let out = out_dir("long-line-verbose");
    let o = legato(&out)
        .env("BYTES", "10000")
        .args(["runbook", "--verbose", "-f"])
        .arg(fixture("huge_line.md"))
        .output()
        .unwrap();
    let stdout = String::from_utf8(o.stdout).unwrap();
    assert_eq!(o.status.code(), Some(1));
    let pieces: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("huge | x"))
        .collect();
    // Every byte is shown, 4096 bytes a line at most.
    assert_eq!(
        pieces.iter().map(|p| p.len() + 1).collect::<Vec<_>>(),
        [4096, 4096, 1808]
    );
    assert!(stdout.contains("huge | before\n") && stdout.contains("huge | after\n"));
    assert!(!stdout.contains("truncated"), "{stdout}");
}

#[test]
fn fail_fast_kills_running_tasks() {
    let (r, out) = run_fixture("failfast", "failfast.md", &["runbook", "--fail-fast"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        task_lines(&r.stdout),
        [
            "✗ boom failed with exit code 1",
            "⊘ slow cancelled",
            "⊘ after skipped (fail-fast: task \"boom\" failed)",
        ]
    );
    assert!(r.stdout.contains("(fail-fast: task \"boom\" failed)\n"));
    assert_pids_gone(&out, &["slow.pid", "sleep.pid"]);
    assert!(!out.join("after").exists());
}

#[test]
fn a_cycle_is_refused() {
    let (r, out) = run_fixture("cycle", "cycle.md", &["runbook"]);
    assert_eq!(r.code, 2);
    // DESIGN's text first, then where each task on the cycle is (as for a missing dependency).
    let f = fixture("cycle.md");
    let expected = format!(
        "Error: Circular dependency detected: task-a → task-b → task-a\n  \
         (task \"task-a\" is at {f}:3)\n  \
         (task \"task-b\" is at {f}:7)\n",
        f = f.display()
    );
    assert_eq!(r.stderr, expected);
    assert_eq!(r.stdout, "");
    assert!(!out.join("a").exists() && !out.join("b").exists());
    let (r, _) = run_fixture("cycle-dag", "cycle.md", &["runbook", "--show-dag"]);
    assert_eq!(r.code, 2);
    assert_eq!(r.stderr, expected);
    let (r, _) = run_fixture("cycle-target", "cycle.md", &["task", "task-b", "--dry-run"]);
    assert_eq!(r.code, 2);
    assert_eq!(r.stderr, expected);
}

#[test]
fn a_missing_dependency_is_refused() {
    let (r, _) = run_fixture("missing", "missing.md", &["task", "deploy"]);
    assert_eq!(r.code, 2);
    let first = r.stderr.lines().next().unwrap();
    assert_eq!(
        first,
        "Error: Task \"build\" referenced by \"deploy\" does not exist"
    );
    assert_eq!(
        r.stderr.lines().nth(1).unwrap(),
        format!(
            "  (task \"deploy\" is at {}:3)",
            fixture("missing.md").display()
        )
    );
}

#[test]
fn a_task_defined_twice_is_refused() {
    let (r, out) = run_fixture("duplicate", "duplicate.md", &["runbook"]);
    assert_eq!(r.code, 2);
    // DESIGN's exact text first, then both places.
    assert_eq!(
        r.stderr,
        format!(
            "Error: Task \"build\" is defined twice\n  \
             (task \"build\" is at {f}:3 and again at {f}:7)\n",
            f = fixture("duplicate.md").display()
        )
    );
    assert_eq!(r.stdout, "");
    assert!(std::fs::read_dir(&out).unwrap().next().is_none());
    let (r, _) = run_fixture("duplicate-list", "duplicate.md", &["list"]);
    assert_eq!(r.code, 2);
    assert!(r
        .stderr
        .starts_with("Error: Task \"build\" is defined twice\n"));
}

#[test]
fn typos_get_a_suggestion() {
    let (r, out) = run_fixture("typo-dep", "typo.md", &["runbook"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.starts_with(
        "Error: Task \"biuld-app\" referenced by \"deploy\" does not exist (did you mean \"build-app\"?)\n"
    ), "{}", r.stderr);
    assert!(!out.join("build").exists());

    let (r, out) = run_fixture("typo-target", "chain.md", &["task", "c", "bb"]);
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr,
        "Error: Task \"bb\" not found (did you mean \"b\"?)\n"
    );
    assert!(!out.join("order").exists());
    let (r, _) = run_fixture("typo-target2", "fanout.md", &["task", "jion"]);
    assert_eq!(
        r.stderr,
        "Error: Task \"jion\" not found (did you mean \"join\"?)\n"
    );
}

#[test]
fn a_dry_run_runs_nothing() {
    let (r, out) = run_fixture("dry", "fanout.md", &["runbook", "--dry-run"]);
    assert_eq!(r.code, 0);
    assert_eq!(
        r.stdout,
        "Dry run: 5 tasks in 3 levels would run (nothing executed):\n  \
         level 1: root\n  level 2: left, middle, right\n  level 3: join\n"
    );
    assert!(std::fs::read_dir(&out).unwrap().next().is_none());
    let (r, _) = run_fixture("dry-target", "chain.md", &["task", "b", "--dry-run"]);
    assert_eq!(
        r.stdout,
        "Dry run: 2 tasks in 2 levels would run (nothing executed):\n  level 1: a\n  level 2: b\n"
    );
}

#[test]
fn show_dag_draws_the_graph() {
    let (r, out) = run_fixture("dag", "fanout.md", &["runbook", "--show-dag"]);
    assert_eq!(r.code, 0);
    assert_eq!(
        r.stdout,
        "root\n├─▶ left\n│   └─▶ join\n├─▶ middle\n│   └─▶ join (*)\n└─▶ right\n    └─▶ join (*)\n\
         (*) already drawn above\n"
    );
    assert!(std::fs::read_dir(&out).unwrap().next().is_none());
    let (r, _) = run_fixture(
        "dag-mermaid",
        "chain.md",
        &["task", "b", "--show-dag", "--format", "mermaid"],
    );
    assert_eq!(r.code, 0);
    assert!(r.stdout.starts_with("flowchart TD\n"), "{}", r.stdout);
    assert!(r.stdout.contains("\"a\"") && !r.stdout.contains("\"c\""));
    let (r, _) = run_fixture("dag-dot", "chain.md", &["runbook", "--format", "dot"]);
    assert!(r.stdout.starts_with("digraph legato {\n"), "{}", r.stdout);
    assert!(r.stdout.contains("\"b\" -> \"c\";"));
}

#[test]
fn mermaid_drawings_escape_task_names() {
    let (r, _) = run_fixture(
        "dag-markup",
        "markup.md",
        &["runbook", "--format", "mermaid"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "flowchart TD\n    \
         t0[\"#lt;img src=x onerror=alert(1)#gt;\"]\n    \
         t1[\"#quot;quoted#quot; #amp; #35;35;\"]\n    \
         t0 --> t1\n"
    );
}

#[test]
fn a_timeout_kills_the_process_group() {
    let (r, out) = run_fixture("timeout", "timeout.md", &["runbook"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        task_lines(&r.stdout),
        [
            "✗ slow timed out after 1s",
            "slow | sleeping",
            "⊘ after skipped (dependency failed)",
        ]
    );
    assert!(r.stdout.contains("\nSummary: 1 timed_out, 1 skipped in "));
    assert_pids_gone(&out, &["slow.pid", "sleep.pid"]);
}

#[test]
fn a_task_that_ends_kills_what_it_left_in_the_background() {
    let (r, out) = run_fixture("background", "background.md", &["runbook", "--verbose"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("✓ holds-the-output completed\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("✓ detached-output completed\n"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("holds-the-output | left one behind\n"));
    // legato has exited: the sleeps must be gone (or dead and waiting for init to reap them).
    assert_pids_gone(&out, &["holds-the-output.pid", "detached-output.pid"]);
}

#[test]
fn a_flaky_task_succeeds_on_retry() {
    let (r, out) = run_fixture("flaky", "flaky.md", &["task", "flaky"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        task_lines(&r.stdout),
        [
            "↻ flaky failed with exit code 1, retrying (attempt 2 of 3)",
            "✓ flaky completed"
        ]
    );
    assert_eq!(read(out.join("flaky.attempts")), "attempt 1\nattempt 2\n");
    let summary = r
        .stdout
        .lines()
        .find(|l| l.starts_with("Summary: "))
        .unwrap();
    assert!(
        summary.starts_with("Summary: 1 succeeded in ") && summary.ends_with(", 2 attempts"),
        "{summary}"
    );

    let (r, out) = run_fixture("hopeless", "flaky.md", &["task", "hopeless"]);
    assert_eq!(r.code, 1);
    assert_eq!(
        task_lines(&r.stdout),
        [
            "↻ hopeless failed with exit code 3, retrying (attempt 2 of 2)",
            "✗ hopeless failed with exit code 3"
        ]
    );
    assert_eq!(
        read(out.join("hopeless.attempts")),
        "attempt 1\nattempt 2\n"
    );
}

#[test]
fn tasks_of_a_sequence_never_overlap() {
    let (r, out) = run_fixture("sequence", "sequence.md", &["runbook"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let mut log: Vec<String> = read(out.join("log")).lines().map(String::from).collect();
    log.sort();
    assert_eq!(log, ["one", "three", "two"]);
}

#[test]
fn max_parallel_one_runs_one_at_a_time() {
    let (r, out) = run_fixture(
        "max-parallel",
        "lock.md",
        &["runbook", "--max-parallel", "1"],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    // Declaration order breaks ties between ready tasks.
    assert_eq!(read(out.join("log")), "one\ntwo\nthree\n");
    assert_eq!(
        task_lines(&r.stdout),
        ["✓ one completed", "✓ two completed", "✓ three completed"]
    );
}

/// Starts `legato` on `ctrlc.md`, waits for the sleeper task to start, and sends `sig`.
fn interrupt(test: &str, sig: libc::c_int) -> (i32, String, PathBuf) {
    let out = out_dir(test);
    let mut child: Child = legato(&out)
        .args(["runbook", "-f"])
        .arg(fixture("ctrlc.md"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = out.join("sleeper.started");
    wait_until("the sleeper task to start", || started.exists());
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
    let mut status = None;
    wait_until("legato to exit", || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    let o = child.wait_with_output().unwrap();
    (
        status.unwrap().code().unwrap_or(-1),
        String::from_utf8(o.stdout).unwrap(),
        out,
    )
}

#[test]
fn ctrl_c_kills_running_tasks_and_prints_the_summary() {
    let (code, stdout, out) = interrupt("ctrl-c", libc::SIGINT);
    assert_eq!(code, 130, "{stdout}");
    assert_eq!(
        task_lines(&stdout),
        ["⊘ sleeper cancelled", "⊘ later skipped (run cancelled)"]
    );
    assert!(
        stdout.contains("\nSummary: 1 skipped, 1 cancelled in ")
            && stdout.contains("(run cancelled)\n"),
        "{stdout}"
    );
    assert_pids_gone(&out, &["sleeper.pid", "sleep.pid"]);
    assert!(!out.join("later").exists());
}

#[test]
fn sigterm_cancels_too() {
    let (code, stdout, out) = interrupt("sigterm", libc::SIGTERM);
    assert_eq!(code, 143, "{stdout}");
    assert!(stdout.contains("⊘ sleeper cancelled\n"));
    assert_pids_gone(&out, &["sleeper.pid", "sleep.pid"]);
}

#[test]
fn reports_json_and_html() {
    let out = out_dir("reports");
    let json = out.join("run.json");
    let html = out.join("run.html");
    let r = run(
        &out,
        &[
            "runbook",
            "-f",
            fixture("failure.md").to_str().unwrap(),
            "--report",
            json.to_str().unwrap(),
            "--html",
            html.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("Report written to "), "{}", r.stdout);
    assert!(r.stdout.contains("Timeline written to "), "{}", r.stdout);
    let v: serde_json::Value = serde_json::from_str(&read(&json)).unwrap();
    let text = v.to_string();
    for (task, status) in [
        ("step1", "succeeded"),
        ("step2", "failed"),
        ("step3", "skipped"),
        ("other", "succeeded"),
    ] {
        let found = v["tasks"]
            .as_array()
            .unwrap_or_else(|| panic!("no tasks array in {text}"))
            .iter()
            .any(|t| t["name"] == task && t["status"] == status);
        assert!(found, "{task} {status} in {text}");
    }
    let page = read(&html);
    assert!(page.contains("<svg") && page.contains("step2"), "{page}");
}

#[test]
fn unwritable_report_paths_are_refused_before_anything_runs() {
    let out = out_dir("report-paths");
    let chain = fixture("chain.md");
    let missing = out.join("missing-dir");
    for (flag, what, path, why) in [
        (
            "--report",
            "report",
            missing.join("r.json"),
            format!("folder \"{}\" does not exist", missing.display()),
        ),
        (
            "--html",
            "timeline",
            missing.join("t.html"),
            format!("folder \"{}\" does not exist", missing.display()),
        ),
        (
            "--report",
            "report",
            out.clone(),
            "that is a folder, not a file".to_owned(),
        ),
        (
            "--html",
            "timeline",
            chain.join("t.html"),
            format!("\"{}\" is not a folder", chain.display()),
        ),
    ] {
        let r = run(
            &out,
            &[
                "runbook",
                "-f",
                chain.to_str().unwrap(),
                flag,
                path.to_str().unwrap(),
            ],
        );
        assert_eq!(
            r.code,
            2,
            "{flag} {}: {}{}",
            path.display(),
            r.stdout,
            r.stderr
        );
        assert_eq!(
            r.stderr,
            format!(
                "Error: cannot write the {what} to \"{}\": {why} (nothing was run)\n",
                path.display()
            )
        );
        assert_eq!(r.stdout, "");
        assert!(!out.join("order").exists(), "a task ran");
    }
    // A good path next to a bad one: still nothing runs.
    let r = run(
        &out,
        &[
            "runbook",
            "-f",
            chain.to_str().unwrap(),
            "--report",
            out.join("ok.json").to_str().unwrap(),
            "--html",
            missing.join("t.html").to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 2);
    assert!(!out.join("order").exists() && !out.join("ok.json").exists());
    assert!(!missing.exists());
    // An existing file is checked without being changed, then overwritten after the run.
    let existing = out.join("old.json");
    std::fs::write(&existing, "old").unwrap();
    let r = run(
        &out,
        &[
            "runbook",
            "-f",
            chain.to_str().unwrap(),
            "--report",
            existing.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(read(&existing).starts_with('{'));
    assert_eq!(read(out.join("order")), "a\nb\nc\n");
}

#[test]
fn extras_env_and_cwd() {
    let (r, out) = run_fixture("env-cwd", "env_cwd.md", &["runbook"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(read(out.join("greeting")), "hello world\n");
    assert_eq!(read(out.join("empty")), "[]\n");
    assert_eq!(read(out.join("task")), "where\n");
    // --cwd is relative to the runbook's folder (tests/fixtures/..).
    let pwd = PathBuf::from(read(out.join("pwd")).trim());
    let expected = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    assert_eq!(
        pwd.canonicalize().unwrap(),
        expected.canonicalize().unwrap()
    );
}

#[test]
fn python_tasks() {
    let has_python = Command::new("python3")
        .args(["-c", "pass"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_python {
        eprintln!("python3 not found: skipping");
        return;
    }
    let (r, out) = run_fixture("python", "python.md", &["runbook", "--verbose"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert_eq!(read(out.join("py")), "from python\n");
    assert!(r.stdout.contains("report | to stdout\n"));
    assert!(r.stdout.contains("report | to stderr\n"));
    assert!(r.stdout.contains("✓ report completed\n"));
    assert!(r.stdout.contains("✗ broken failed with exit code 4\n"));
}

#[test]
fn list_shows_tasks_and_descriptions() {
    let (r, _) = run_fixture("list", "fanout.md", &["list"]);
    assert_eq!(r.code, 0);
    let f = fixture("fanout.md");
    assert_eq!(
        r.stdout,
        format!(
            "Tasks in {}:\n  \
             root    Prepare the folder\n  \
             left    (after root)\n  \
             middle  (after root)\n  \
             right   (after root)\n  \
             join    Put the parts together  (after left, middle, right)\n",
            f.display()
        )
    );
}

#[test]
fn the_default_runbook_is_in_the_current_folder() {
    let out = out_dir("default");
    let o = legato(&out)
        .args(["task", "hello"])
        .current_dir(fixture("default"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(read(out.join("hello")), "hello\n");
    let o = legato(&out).arg("list").current_dir(&out).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        String::from_utf8(o.stderr).unwrap(),
        "Error: runbook \"runbook.md\" not found (name another file with -f)\n"
    );
}

#[test]
fn parse_errors_name_the_file_and_line() {
    let (r, _) = run_fixture("bad-option", "bad_option.md", &["runbook"]);
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr,
        format!(
            "Error: {}:3: unknown option \"--deps\" for task \"build\" (did you mean \"--dep\"?)\n",
            fixture("bad_option.md").display()
        )
    );
}

#[test]
fn timeouts_that_do_not_fit_are_parse_errors() {
    // Used to panic (exit 101) adding the timeout to an instant.
    let (r, out) = run_fixture("huge-timeout", "huge_timeout.md", &["runbook"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        r.stderr,
        format!(
            "Error: {}:7: invalid value \"4000000000000000h\" for --timeout of task \"forever\": \
             too long a timeout (at most 876000h, 100 years)\n",
            fixture("huge_timeout.md").display()
        )
    );
    assert_eq!(r.stdout, "");
    assert!(!out.join("fine").exists() && !out.join("forever").exists());

    let (r, out) = run_fixture("zero-timeout", "zero_timeout.md", &["runbook"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        r.stderr,
        format!(
            "Error: {}:3: invalid value \"0\" for --timeout of task \"instant\": \
             a timeout of zero is meaningless (every attempt would time out at once); \
             give a duration of at least 1ms, like 30s\n",
            fixture("zero_timeout.md").display()
        )
    );
    assert!(!out.join("instant").exists());
}

#[test]
fn retry_counts_whose_attempts_do_not_fit_are_parse_errors() {
    // Used to print "attempt 2 of 0" and retry forever.
    let (r, out) = run_fixture("huge-retries", "huge_retries.md", &["runbook"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        r.stderr,
        format!(
            "Error: {}:3: invalid value \"4294967295\" for --retries of task \"hopeless\": \
             too many retries (at most 4294967294)\n",
            fixture("huge_retries.md").display()
        )
    );
    assert_eq!(r.stdout, "");
    assert!(!out.join("hopeless").exists());
}

#[test]
fn unreadable_runbooks_exit_2() {
    let out = out_dir("unreadable");
    let bad = out.join("latin1.md");
    std::fs::write(&bad, b"# Caf\xe9\n```bash a\ntrue\n```\n").unwrap();
    let r = run(&out, &["runbook", "-f", bad.to_str().unwrap()]);
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr,
        format!(
            "Error: {}:1: the runbook is not valid UTF-8 text\n",
            bad.display()
        )
    );
    let r = run(&out, &["list", "-f", out.join("nope.md").to_str().unwrap()]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("nope.md\" not found"), "{}", r.stderr);
    let r = run(&out, &["runbook", "-f", out.to_str().unwrap()]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.starts_with("Error: cannot read runbook"),
        "{}",
        r.stderr
    );
}

#[test]
fn only_regular_files_of_at_most_16_mib_are_read() {
    let out = out_dir("not-a-file");
    // Used to read /dev/zero forever.
    let r = run(&out, &["list", "-f", "/dev/zero"]);
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr,
        "Error: cannot read runbook \"/dev/zero\": it is a character device, not a regular file\n"
    );

    // A FIFO with no writer: opening it used to block for ever. Waited for with a bound.
    let fifo = out.join("runbook.fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let mut child = legato(&out)
        .args(["runbook", "-f"])
        .arg(&fifo)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut status = None;
    wait_until("legato to give up on the FIFO", || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    let o = child.wait_with_output().unwrap();
    assert_eq!(status.unwrap().code(), Some(2));
    assert_eq!(
        String::from_utf8(o.stderr).unwrap(),
        format!(
            "Error: cannot read runbook \"{}\": it is a FIFO, not a regular file\n",
            fifo.display()
        )
    );

    // Over 16 MiB (a sparse file: nothing is written).
    let big = out.join("big.md");
    std::fs::File::create(&big)
        .unwrap()
        .set_len((16 << 20) + 1)
        .unwrap();
    let r = run(&out, &["runbook", "-f", big.to_str().unwrap()]);
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr,
        format!(
            "Error: cannot read runbook \"{}\": it is larger than 16 MiB\n",
            big.display()
        )
    );
}

#[test]
fn usage_errors_exit_2() {
    let out = out_dir("usage");
    for args in [
        &[][..],
        &["task"][..],
        &["frobnicate"][..],
        &["runbook", "--max-parallel", "0"][..],
        &["runbook", "--format", "png"][..],
        &["runbook", "--quiet", "--verbose"][..],
    ] {
        let r = run(&out, args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
    }
    assert_eq!(run(&out, &["--help"]).code, 0);
}

#[test]
fn usage_lines_show_only_what_is_required() {
    let out = out_dir("usage-lines");
    let usage = |stderr: &str| -> String {
        let start = stderr.find("Usage: ").unwrap_or_else(|| panic!("{stderr}"));
        let rest = &stderr[start..];
        rest[..rest.find("\n\n").unwrap()].to_owned()
    };
    // clap's own usage listed the options given as if they were required:
    // `legato task --file <RUNBOOK> --format <FORMAT> <NAME>...`.
    let task = "Usage: legato task [-f <RUNBOOK>] [OPTIONS] <TASK>...\n       \
                legato task [-f <RUNBOOK>] --show-dag [--format <FORMAT>] <TASK>...";
    for args in [
        &["task", "a", "-f", "x.md", "--format", "dot", "--bogus"][..],
        &["task", "-f", "x.md"][..],
        &["task", "a", "--quiet", "--verbose", "-f", "x.md"][..],
    ] {
        let r = run(&out, args);
        assert_eq!(r.code, 2, "{args:?}");
        assert_eq!(usage(&r.stderr), task, "{args:?}");
    }
    let r = run(
        &out,
        &[
            "runbook",
            "--format",
            "dot",
            "-f",
            "x.md",
            "--fail-fast",
            "--bogus",
        ],
    );
    assert_eq!(
        usage(&r.stderr),
        "Usage: legato runbook [-f <RUNBOOK>] [OPTIONS]\n       \
         legato runbook [-f <RUNBOOK>] --show-dag [--format <FORMAT>]"
    );
    let r = run(&out, &["list", "-f", "x.md", "--bogus"]);
    assert_eq!(usage(&r.stderr), "Usage: legato list [-f <RUNBOOK>]");
    let r = run(&out, &["-f", "x.md", "--bogus"]);
    assert_eq!(usage(&r.stderr), "Usage: legato [-f <RUNBOOK>] <COMMAND>");
    // The same lines in --help.
    let r = run(&out, &["task", "--help"]);
    assert_eq!(r.code, 0);
    assert_eq!(usage(&r.stdout), task);
}

#[test]
fn the_release_demo_runs() {
    let out = out_dir("release-demo");
    let runbook = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/runbooks/release.md");
    let html = out.join("release.html");
    let o = legato(&out)
        .env("BUILD", out.join("build"))
        .args(["runbook", "-f"])
        .arg(&runbook)
        .arg("--html")
        .arg(&html)
        .output()
        .unwrap();
    let stdout = String::from_utf8(o.stdout).unwrap();
    assert_eq!(o.status.code(), Some(0), "{stdout}");
    let lines = task_lines(&stdout);
    assert!(lines.contains(&"↻ publish failed with exit code 1, retrying (attempt 2 of 3)"));
    assert_eq!(lines.last(), Some(&"✓ publish completed"));
    assert_eq!(lines.len(), 9, "{stdout}");
    assert!(stdout.contains("\nSummary: 8 succeeded in "), "{stdout}");
    assert!(stdout.contains("Timeline written to "), "{stdout}");
    assert!(read(&html).contains("<svg"));
    assert!(out.join("build/app-1.0.0.tar.gz").exists());
}

#[test]
fn the_readme_example_is_a_valid_runbook() {
    let readme = read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"));
    let section = &readme[readme
        .find("## CLI: Markdown runbooks")
        .expect("CLI section")..];
    let start = section.find("````markdown\n").expect("example") + "````markdown\n".len();
    let end = start + section[start..].find("\n````").expect("end of example");
    let out = out_dir("readme");
    let runbook = out.join("runbook.md");
    std::fs::write(&runbook, &section[start..end]).unwrap();
    let r = run(
        &out,
        &[
            "task",
            "deploy",
            "--dry-run",
            "-f",
            runbook.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "Dry run: 3 tasks in 3 levels would run (nothing executed):\n  \
         level 1: install\n  level 2: build\n  level 3: deploy [uses prod-lock]\n"
    );
}

#[test]
fn a_terminal_gets_live_progress() {
    // util-linux `script` runs legato on a pseudo-terminal.
    let has_script = Command::new("script")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_script {
        eprintln!("script (util-linux) not found: skipping");
        return;
    }
    let out = out_dir("tty");
    let cmd = format!(
        "'{}' runbook -f '{}'",
        env!("CARGO_BIN_EXE_legato"),
        fixture("sequence.md").display()
    );
    let o = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("OUT", &out)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let screen = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{screen}");
    assert!(screen.contains("/3 done"), "{screen}");
    for l in [
        "✓ one completed",
        "✓ two completed",
        "✓ three completed",
        "Summary: 3 succeeded",
    ] {
        assert!(screen.contains(l), "missing {l:?} in {screen}");
    }
    assert_eq!(read(out.join("log")).lines().count(), 3);
}

#[test]
fn limits_conditions_and_cleanup() {
    let (r, out) = run_fixture("rules", "rules.md", &["runbook"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let counts: Vec<u32> = read(out.join("counts"))
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    assert_eq!(counts.len(), 4);
    assert!(
        counts.iter().all(|&c| c <= 2),
        "never more than 2 on the db: {counts:?}"
    );
    let lines = task_lines(&r.stdout);
    assert!(
        lines.contains(&"⊘ seed skipped (condition false)"),
        "{}",
        r.stdout
    );
    assert!(lines.contains(&"✓ teardown completed"), "{}", r.stdout);
    assert!(!out.join("seeded").exists());
    assert!(out.join("torn-down").exists());

    // The condition holds: the seed runs.
    let out = out_dir("rules-seeded");
    std::fs::write(out.join("seed-wanted"), "").unwrap();
    let r = run(
        &out,
        &["runbook", "-f", fixture("rules.md").to_str().unwrap()],
    );
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(out.join("seeded").exists());
    assert!(task_lines(&r.stdout).contains(&"✓ seed completed"));
}

#[test]
fn a_bad_limit_or_trigger_is_refused_with_its_line() {
    let out = out_dir("bad-rules");
    let f = out.join("bad.md");
    std::fs::write(&f, "---\nlimits:\n  db: 0\n---\n```bash a\ntrue\n```\n").unwrap();
    let r = run(&out, &["runbook", "-f", f.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("bad.md:3: limits[\"db\"] must be a whole number >= 1, got 0"),
        "{}",
        r.stderr
    );
    std::fs::write(&f, "```bash a --trigger alldone\ntrue\n```\n").unwrap();
    let r = run(&out, &["runbook", "-f", f.to_str().unwrap()]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("(did you mean \"all_done\"?)"),
        "{}",
        r.stderr
    );
}

#[test]
fn critical_path_priority_from_the_command_line() {
    let out = out_dir("priority");
    let f = out.join("p.md");
    std::fs::write(
        &f,
        "```bash short --cost 1s\necho short >> \"$OUT/order\"\n```\n\
         ```bash long --cost 5s\necho long >> \"$OUT/order\"\n```\n\
         ```bash tail --dep long --cost 5s\necho tail >> \"$OUT/order\"\n```\n",
    )
    .unwrap();
    let args = ["runbook", "--max-parallel", "1", "-f", f.to_str().unwrap()];
    let r = run(&out, &args);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(read(out.join("order")), "short\nlong\ntail\n");
    std::fs::remove_file(out.join("order")).unwrap();
    let mut args = args.to_vec();
    args.extend(["--priority", "critical_path"]);
    let r = run(&out, &args);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(read(out.join("order")), "long\ntail\nshort\n");
}

#[test]
fn a_dry_run_shows_keys_conditions_and_trigger_rules() {
    let (r, _) = run_fixture("rules-dry", "rules.md", &["runbook", "--dry-run"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("  level 1: m1 [uses db], m2 [uses db], m3 [uses db], m4 [uses db]\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("  level 2: seed [when], test\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("  level 3: teardown [trigger all_done]\n"),
        "{}",
        r.stdout
    );
}

#[test]
fn the_readme_limits_example_runs_its_cleanup() {
    let readme = read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"));
    let section = &readme[readme
        .find("**Limits, conditions and cleanup.**")
        .expect("the limits example")..];
    let start = section.find("````markdown\n").expect("example") + "````markdown\n".len();
    let end = start + section[start..].find("\n````").expect("end of example");
    let out = out_dir("readme-limits");
    let runbook = out.join("runbook.md");
    std::fs::write(&runbook, &section[start..end]).unwrap();
    let r = run(&out, &["runbook", "-f", runbook.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let lines = task_lines(&r.stdout);
    assert!(
        lines.contains(&"⊘ seed skipped (condition false)"),
        "{}",
        r.stdout
    );
    assert!(
        lines.contains(&"✗ test failed with exit code 1"),
        "{}",
        r.stdout
    );
    assert!(lines.contains(&"✓ teardown completed"), "{}", r.stdout);
    // With the file, the seed runs.
    std::fs::write(out.join("seed.sql"), "").unwrap();
    let r = run(&out, &["runbook", "-f", runbook.to_str().unwrap()]);
    assert!(
        task_lines(&r.stdout).contains(&"✓ seed completed"),
        "{}",
        r.stdout
    );
}

/// A runbook of one quick task, in `out`.
fn one_task_runbook(out: &Path) -> PathBuf {
    let f = out.join("rb.md");
    std::fs::write(&f, "```bash ok\ntrue\n```\n").unwrap();
    f
}

#[test]
fn runs_are_recorded_listed_and_shown() {
    let out = out_dir("history");
    let copy = out.join("rules.md");
    std::fs::copy(fixture("rules.md"), &copy).unwrap();
    let f = copy.to_str().unwrap();
    // The default file: .legato/history.db beside the runbook.
    for _ in 0..2 {
        let r = run(&out, &["runbook", "-f", f, "--history"]);
        assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
        assert!(r.stdout.contains("Recorded as run "), "{}", r.stdout);
    }
    let hist = out.join(".legato/history.db");
    assert!(hist.is_file());
    let h = hist.to_str().unwrap();
    let r = run(&out, &["history", "-f", f]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout.lines().count(), 3, "{}", r.stdout);
    let r = run(&out, &["history", "-f", f, "--history", h]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", r.stdout);
    assert!(lines[0].contains("status"));
    assert!(
        lines[1].trim_start().starts_with("2 "),
        "newest first: {}",
        r.stdout
    );
    assert!(lines[1].contains("failed") && lines[1].contains("5 succeeded, 1 failed, 1 skipped"));
    let r = run(
        &out,
        &["history", "-f", f, "--history", h, "--json", "--limit", "1"],
    );
    let runs: Vec<serde_json::Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(runs.len(), 1);
    for key in [
        "id",
        "runbook",
        "status",
        "started_at",
        "finished_at",
        "tasks",
    ] {
        assert!(runs[0].get(key).is_some(), "{key} in {}", runs[0]);
    }
    assert_eq!(runs[0]["id"], 2);
    assert_eq!(runs[0]["status"], "failed");
    assert_eq!(runs[0]["tasks"].as_array().unwrap().len(), 7);
    let page = out.join("run1.html");
    let r = run(
        &out,
        &[
            "history",
            "--history",
            h,
            "show",
            "1",
            "--html",
            page.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("Summary: 5 succeeded, 1 failed, 1 skipped"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("  skipped    seed (condition false)"),
        "{}",
        r.stdout
    );
    assert!(read(&page).contains("<svg"));
    let r = run(&out, &["history", "--history", h, "show", "9"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("no run 9 in"), "{}", r.stderr);
    // Another runbook's runs are not this one's.
    let other = one_task_runbook(&out);
    let r = run(
        &out,
        &["history", "-f", other.to_str().unwrap(), "--history", h],
    );
    assert!(r.stdout.starts_with("No runs recorded"), "{}", r.stdout);
}

#[test]
fn four_processes_recording_at_once_lose_no_run() {
    let out = out_dir("history-concurrent");
    let f = one_task_runbook(&out);
    let h = out.join("h.db");
    let children: Vec<Child> = (0..4)
        .map(|_| {
            let script = format!(
                "for i in $(seq 50); do \"$LEGATO\" runbook -q -f '{}' --history '{}' || exit 1; done",
                f.display(),
                h.display()
            );
            Command::new("sh")
                .arg("-c")
                .arg(script)
                .env("LEGATO", env!("CARGO_BIN_EXE_legato"))
                .stdin(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(
            o.stderr.is_empty(),
            "no warning: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let db = rusqlite::Connection::open(&h).unwrap();
    let runs: i64 = db
        .query_row("SELECT count(*) FROM runs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(runs, 200);
    let tasks: i64 = db
        .query_row("SELECT count(*) FROM tasks", [], |r| r.get(0))
        .unwrap();
    assert_eq!(tasks, 200);
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}

#[test]
fn a_corrupt_or_locked_history_is_a_warning_and_the_run_still_works() {
    let out = out_dir("history-bad");
    let f = one_task_runbook(&out);
    let f = f.to_str().unwrap();
    let bad = out.join("bad.db");
    std::fs::write(&bad, vec![b'z'; 8192]).unwrap();
    let r = run(
        &out,
        &["runbook", "-f", f, "--history", bad.to_str().unwrap()],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("✓ ok completed"));
    assert!(
        r.stderr
            .contains("warning: the run was not recorded: run history \"")
            && r.stderr.contains("not a SQLite database"),
        "{}",
        r.stderr
    );
    let r = run(
        &out,
        &["history", "-f", f, "--history", bad.to_str().unwrap()],
    );
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("not a SQLite database"), "{}", r.stderr);

    // Another process holds the file's write lock for longer than the run waits.
    let locked = out.join("locked.db");
    let r = run(
        &out,
        &[
            "runbook",
            "-q",
            "-f",
            f,
            "--history",
            locked.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let holder = rusqlite::Connection::open(&locked).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let o = legato(&out)
        .env("LEGATO_HISTORY_BUSY_MS", "200")
        .args(["runbook", "-f", f, "--history", locked.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("locked by another process for more than 200ms"),
        "{stderr}"
    );
    holder.execute_batch("ROLLBACK").unwrap();
}
