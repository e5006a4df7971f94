//! The run history: every run of a runbook recorded in an embedded SQLite database
//! (`.legato/history.db` beside the runbook by default), listed by `legato history` and shown
//! by `legato history show ID`.
//!
//! SQLite through `rusqlite` with its bundled library: one file, no server, safe for several
//! processes at once (write-ahead log, a busy timeout, one transaction a run), and
//! `PRAGMA integrity_check` to tell a damaged file. `sqlx` would bring an async runtime of its
//! own and compile-time query checks the CLI does not need.

use legato::{RunReport, Status};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a writer waits for another process's transaction before it gives up (the
/// environment variable `LEGATO_HISTORY_BUSY_MS` sets another, in milliseconds).
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

fn busy_timeout() -> Duration {
    std::env::var("LEGATO_HISTORY_BUSY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(BUSY_TIMEOUT, Duration::from_millis)
}

/// The schema, version 1. `runs.report` is the run's JSON report (`RunReport::to_json`).
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    runbook     TEXT NOT NULL,
    targets     TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    status      TEXT NOT NULL,
    total_ms    REAL NOT NULL,
    report      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_runbook ON runs (runbook, id);
CREATE TABLE IF NOT EXISTS tasks (
    run_id      INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    status      TEXT NOT NULL,
    attempts    INTEGER NOT NULL,
    duration_ms REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_by_run ON tasks (run_id);
PRAGMA user_version = 1;
";

/// A history file that cannot be used: which file, and why.
#[derive(Debug)]
pub(crate) struct HistoryError {
    path: PathBuf,
    message: String,
}

impl fmt::Display for HistoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "run history \"{}\": {}",
            self.path.display(),
            self.message
        )
    }
}

impl std::error::Error for HistoryError {}

/// One recorded run, as listed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RunRow {
    pub(crate) id: i64,
    pub(crate) runbook: String,
    pub(crate) targets: Vec<String>,
    pub(crate) started_at: String,
    pub(crate) finished_at: String,
    pub(crate) status: String,
    pub(crate) total_ms: f64,
    /// `(succeeded, failed or timed out, skipped or cancelled)` tasks.
    pub(crate) tasks: Vec<TaskRow>,
}

/// One task of a recorded run.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TaskRow {
    pub(crate) name: String,
    pub(crate) status: String,
    pub(crate) attempts: u32,
    pub(crate) duration_ms: f64,
}

/// An open history file.
#[derive(Debug)]
pub(crate) struct History {
    conn: Connection,
    path: PathBuf,
}

/// The default history file of a runbook: `.legato/history.db` in its folder.
pub(crate) fn default_path(runbook: &Path) -> PathBuf {
    let dir = match runbook.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    dir.join(".legato").join("history.db")
}

/// How a runbook is named in the history: its absolute path, so that runs from any folder
/// match.
pub(crate) fn runbook_key(runbook: &Path) -> String {
    std::fs::canonicalize(runbook)
        .or_else(|_| std::path::absolute(runbook))
        .unwrap_or_else(|_| runbook.to_owned())
        .display()
        .to_string()
}

/// A run's status as recorded: `succeeded`, `cancelled` (stopped from outside) or `failed`.
fn run_status(report: &RunReport) -> &'static str {
    if report.ok() {
        "succeeded"
    } else if matches!(report.stop, Some(legato::event::StopReason::Cancelled)) {
        "cancelled"
    } else {
        "failed"
    }
}

impl History {
    /// Opens (creating it, and its folder, when `create`) the history file at `path`, and
    /// checks it is one: a file that is not SQLite, or a database of something else, is an
    /// error naming the file.
    pub(crate) fn open(path: &Path, create: bool) -> Result<History, HistoryError> {
        let err = |message: String| HistoryError {
            path: path.to_owned(),
            message,
        };
        if create {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .map_err(|e| err(format!("cannot create its folder: {e}")))?;
            }
        } else if !path.exists() {
            return Err(err("no such file (record runs with --history)".into()));
        }
        let flags = if create {
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE
        } else {
            OpenFlags::SQLITE_OPEN_READ_WRITE
        };
        let conn = Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .map_err(|e| err(e.to_string()))?;
        conn.busy_timeout(busy_timeout())
            .map_err(|e| err(e.to_string()))?;
        let setup = || -> rusqlite::Result<()> {
            // WAL lets readers go on while a run is recorded; it is a property of the file.
            conn.pragma_update(None, "journal_mode", "WAL")?;
            // With WAL, NORMAL syncs at checkpoints, not every commit: a crash of the machine
            // may lose the last runs recorded, never corrupt the file.
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            // Closing does not checkpoint (and sync) the log into the file each run: SQLite's
            // automatic checkpoint does it every thousand pages, in some later commit.
            conn.set_db_config(
                rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
                true,
            )?;
            conn.pragma_update(None, "foreign_keys", true)?;
            let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
            if version == 0 {
                let tables: i64 = conn.query_row(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
                    [],
                    |r| r.get(0),
                )?;
                if tables > 0 {
                    return Err(rusqlite::Error::InvalidQuery);
                }
                conn.execute_batch(&format!("BEGIN IMMEDIATE; {SCHEMA} COMMIT;"))?;
            }
            Ok(())
        };
        // Processes that open a new file at once can each hold a read lock and each want to
        // write (to make it a WAL file, or to add its tables): SQLite answers all but one at
        // once with "busy", without calling the busy handler (waiting would deadlock). Those
        // try again, until the busy timeout.
        let deadline = std::time::Instant::now() + busy_timeout();
        let mut pause = Duration::from_millis(1);
        let set_up = loop {
            match setup() {
                Err(e) if is_busy(&e) && std::time::Instant::now() < deadline => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                done => break done,
            }
        };
        set_up.map_err(|e| match e {
            rusqlite::Error::InvalidQuery => {
                err("a database of something else, not a legato run history".into())
            }
            other => err(describe(&other)),
        })?;
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(|e| err(describe(&e)))?;
        if version != 1 {
            return Err(err(format!(
                "written by another version of legato (schema {version}, this one reads 1)"
            )));
        }
        Ok(History {
            conn,
            path: path.to_owned(),
        })
    }

    fn err(&self, e: &rusqlite::Error) -> HistoryError {
        HistoryError {
            path: self.path.clone(),
            message: describe(e),
        }
    }

    /// Records a run of `runbook` (its targets, none for the whole runbook) in one transaction;
    /// returns its id.
    pub(crate) fn record(
        &mut self,
        runbook: &str,
        targets: &[String],
        report: &RunReport,
    ) -> Result<i64, HistoryError> {
        let started = report.started_at.unwrap_or_else(std::time::SystemTime::now);
        let started_at = legato::report::rfc3339(started);
        let finished_at = legato::report::rfc3339(started + report.total);
        let targets_json = serde_json::to_string(targets).unwrap_or_else(|_| "[]".into());
        let json = report.to_json();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| self_err(&self.path, &e))?;
        tx.execute(
            "INSERT INTO runs (runbook, targets, started_at, finished_at, status, total_ms, report)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                runbook,
                targets_json,
                started_at,
                finished_at,
                run_status(report),
                report.total.as_secs_f64() * 1e3,
                json
            ],
        )
        .map_err(|e| self_err(&self.path, &e))?;
        let id = tx.last_insert_rowid();
        {
            let mut insert = tx
                .prepare(
                    "INSERT INTO tasks (run_id, name, status, attempts, duration_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(|e| self_err(&self.path, &e))?;
            for t in &report.tasks {
                insert
                    .execute(params![
                        id,
                        &*t.name,
                        t.status.as_str(),
                        t.attempts,
                        t.duration().as_secs_f64() * 1e3
                    ])
                    .map_err(|e| self_err(&self.path, &e))?;
            }
        }
        tx.commit().map_err(|e| self_err(&self.path, &e))?;
        Ok(id)
    }

    /// The latest runs (of `runbook` only, when given), newest first.
    pub(crate) fn list(
        &self,
        runbook: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RunRow>, HistoryError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, runbook, targets, started_at, finished_at, status, total_ms FROM runs
                 WHERE ?1 IS NULL OR runbook = ?1 ORDER BY id DESC LIMIT ?2",
            )
            .map_err(|e| self.err(&e))?;
        let rows = stmt
            .query_map(params![runbook, limit as i64], run_row)
            .map_err(|e| self.err(&e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(&e))?;
        rows.into_iter()
            .map(|mut row| {
                row.tasks = self.tasks(row.id)?;
                Ok(row)
            })
            .collect()
    }

    fn tasks(&self, run: i64) -> Result<Vec<TaskRow>, HistoryError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT name, status, attempts, duration_ms FROM tasks WHERE run_id = ?1
                 ORDER BY rowid",
            )
            .map_err(|e| self.err(&e))?;
        let rows = stmt
            .query_map([run], |r| {
                Ok(TaskRow {
                    name: r.get(0)?,
                    status: r.get(1)?,
                    attempts: r.get(2)?,
                    duration_ms: r.get(3)?,
                })
            })
            .map_err(|e| self.err(&e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(&e));
        rows
    }

    /// The id of the latest run of `runbook` that did not succeed.
    pub(crate) fn latest_failed(&self, runbook: &str) -> Result<Option<i64>, HistoryError> {
        self.conn
            .query_row(
                "SELECT id FROM runs WHERE runbook = ?1 AND status != 'succeeded'
                 ORDER BY id DESC LIMIT 1",
                [runbook],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(&e))
    }

    /// One run and its report.
    pub(crate) fn get(&self, id: i64) -> Result<Option<(RunRow, RunReport)>, HistoryError> {
        let found = self
            .conn
            .query_row(
                "SELECT id, runbook, targets, started_at, finished_at, status, total_ms, report
                 FROM runs WHERE id = ?1",
                [id],
                |r| Ok((run_row(r)?, r.get::<_, String>(7)?)),
            )
            .optional()
            .map_err(|e| self.err(&e))?;
        let Some((mut row, json)) = found else {
            return Ok(None);
        };
        row.tasks = self.tasks(row.id)?;
        let report = RunReport::from_json(&json).map_err(|e| HistoryError {
            path: self.path.clone(),
            message: format!("run {id}: {e}"),
        })?;
        Ok(Some((row, report)))
    }
}

/// A run's row from its first seven columns (`id, runbook, targets, started_at, finished_at,
/// status, total_ms`); its tasks are read apart.
fn run_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunRow> {
    let targets: String = r.get(2)?;
    Ok(RunRow {
        id: r.get(0)?,
        runbook: r.get(1)?,
        targets: serde_json::from_str(&targets).unwrap_or_default(),
        started_at: r.get(3)?,
        finished_at: r.get(4)?,
        status: r.get(5)?,
        total_ms: r.get(6)?,
        tasks: Vec::new(),
    })
}

fn self_err(path: &Path, e: &rusqlite::Error) -> HistoryError {
    HistoryError {
        path: path.to_owned(),
        message: describe(e),
    }
}

/// Whether SQLite refused for a lock another connection holds.
fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// SQLite's error in words a user can act on.
fn describe(e: &rusqlite::Error) -> String {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) => {
            "not a SQLite database (damaged, or another kind of file)".into()
        }
        Some(rusqlite::ErrorCode::DatabaseCorrupt) => "the database is damaged".into(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => format!(
            "locked by another process for more than {}",
            legato::event::fmt_duration(busy_timeout())
        ),
        Some(rusqlite::ErrorCode::ReadOnly) => "read-only".into(),
        Some(rusqlite::ErrorCode::CannotOpen) => "cannot be opened".into(),
        _ => e.to_string(),
    }
}

/// A row's tasks counted as `3 succeeded, 1 failed, 2 skipped` (statuses with none left out).
pub(crate) fn task_counts(tasks: &[TaskRow]) -> String {
    let mut parts = Vec::new();
    for s in Status::ALL {
        let n = tasks.iter().filter(|t| t.status == s.as_str()).count();
        if n > 0 {
            parts.push(format!("{n} {}", s.as_str()));
        }
    }
    parts.join(", ")
}

/// A run as one JSON object (`legato history --json`).
pub(crate) fn row_json(row: &RunRow) -> serde_json::Value {
    serde_json::json!({
        "id": row.id,
        "runbook": row.runbook,
        "targets": row.targets,
        "status": row.status,
        "started_at": row.started_at,
        "finished_at": row.finished_at,
        "total_ms": row.total_ms,
        "tasks": row.tasks.iter().map(|t| serde_json::json!({
            "name": t.name,
            "status": t.status,
            "attempts": t.attempts,
            "duration_ms": t.duration_ms,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("legato-history-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join(".legato").join("history.db")
    }

    #[test]
    fn a_run_is_recorded_and_read_back() {
        let path = tmp("roundtrip");
        let mut h = History::open(&path, true).unwrap();
        let mut report = RunReport::default();
        let mut t =
            legato::report::TaskReport::new(legato::graph::TaskId::from_report_index(0), "build");
        t.status = Status::Failed;
        t.attempts = 2;
        t.started = Some(Duration::ZERO);
        t.finished = Some(Duration::from_millis(30));
        t.error = Some(Box::new(legato::TaskError::failed("boom")));
        report.tasks.push(t);
        report.total = Duration::from_millis(30);
        report.started_at = Some(std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        let id = h
            .record("/x/runbook.md", &["build".into()], &report)
            .unwrap();
        let rows = h.list(Some("/x/runbook.md"), 10).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].id, id);
        assert_eq!(rows[0].status, "failed");
        assert_eq!(rows[0].started_at, "2023-11-14T22:13:20.000Z");
        assert_eq!(rows[0].finished_at, "2023-11-14T22:13:20.030Z");
        assert_eq!(rows[0].targets, ["build"]);
        assert_eq!(task_counts(&rows[0].tasks), "1 failed");
        assert!(h.list(Some("/other.md"), 10).unwrap().is_empty());
        let (_, back) = h.get(id).unwrap().unwrap();
        assert_eq!(back.to_json(), report.to_json());
        assert!(h.get(id + 1).unwrap().is_none());
        std::fs::remove_dir_all(path.parent().unwrap().parent().unwrap()).unwrap();
    }

    #[test]
    fn a_file_that_is_not_a_history_is_refused_by_name() {
        let path = tmp("garbage");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, vec![b'x'; 4096]).unwrap();
        let e = History::open(&path, true).unwrap_err().to_string();
        assert!(e.starts_with("run history \""), "{e}");
        assert!(e.contains("not a SQLite database"), "{e}");
        let other = path.with_file_name("other.db");
        Connection::open(&other)
            .unwrap()
            .execute_batch("CREATE TABLE t (x)")
            .unwrap();
        let e = History::open(&other, true).unwrap_err().to_string();
        assert!(e.contains("not a legato run history"), "{e}");
        let missing = path.with_file_name("missing.db");
        let e = History::open(&missing, false).unwrap_err().to_string();
        assert!(e.contains("no such file"), "{e}");
        std::fs::remove_dir_all(path.parent().unwrap().parent().unwrap()).unwrap();
    }
}
