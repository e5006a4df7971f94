//! The worker pool that runs sync callables.
//!
//! Rust threads that attach to the interpreter once, for their whole life, and release the GIL
//! while idle (attaching per call costs 20–80 µs: a thread state built and torn down each time).
//! Work is handed over in batches through one queue; a worker that finishes a task takes the
//! next ready one itself, so a chain of sync steps costs no thread wake-up per step. The pool
//! grows on demand: it never caps concurrency below a run's `max_parallel`, and a worker that
//! blocks on a child action (an Orchestrator's sync recursion) does not count.

use crate::run::{run_job, Shared};
use pyo3::prelude::*;
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

/// One attempt of a sync body to run.
pub(crate) struct Job {
    pub(crate) run: Arc<Shared>,
    pub(crate) task: u32,
    pub(crate) attempt: u32,
}

#[derive(Default)]
struct PoolState {
    queue: VecDeque<Job>,
    /// Workers waiting for work.
    idle: usize,
    /// Workers alive.
    alive: usize,
    /// Workers blocked on a child (they hold no work the pool can use).
    blocked: usize,
    /// Wake-ups sent and not yet taken.
    notified: usize,
    shutdown: bool,
}

pub(crate) struct Pool {
    m: Mutex<PoolState>,
    cv: Condvar,
    base: usize,
}

static POOL: OnceLock<Arc<Pool>> = OnceLock::new();

/// ThreadPoolExecutor's default size: `min(32, cpu_count + 4)`.
fn default_size() -> usize {
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    (cpus + 4).min(32)
}

pub(crate) fn pool() -> &'static Arc<Pool> {
    POOL.get_or_init(|| {
        Arc::new(Pool { m: Mutex::new(PoolState::default()), cv: Condvar::new(), base: default_size() })
    })
}

fn lock(p: &Pool) -> std::sync::MutexGuard<'_, PoolState> {
    p.m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Pool {
    /// Queues `jobs`. `cap` is the concurrency the submitting run may reach (its `max_parallel`,
    /// or `usize::MAX`); `taker` is true when the caller is a worker that will take one itself.
    pub(crate) fn submit(self: &Arc<Self>, jobs: Vec<Job>, cap: usize, taker: bool) {
        if jobs.is_empty() {
            return;
        }
        let mut spawn = 0;
        {
            let mut g = lock(self);
            if g.shutdown {
                return;
            }
            let n = jobs.len();
            g.queue.extend(jobs);
            // Who can take them: the submitting worker, idle workers not yet woken.
            let mut need = n.saturating_sub(usize::from(taker));
            let wake = need.min(g.idle.saturating_sub(g.notified));
            g.notified += wake;
            for _ in 0..wake {
                self.cv.notify_one();
            }
            need -= wake;
            if need > 0 {
                let limit = self.base.max(if cap == usize::MAX { self.base } else { cap });
                let working = g.alive.saturating_sub(g.blocked);
                spawn = need.min(limit.saturating_sub(working));
                if g.alive == 0 && spawn == 0 {
                    spawn = 1;
                }
                g.alive += spawn;
            }
        }
        for _ in 0..spawn {
            let p = self.clone();
            let ok = std::thread::Builder::new()
                .name("legato-worker".into())
                .spawn(move || worker(p.clone()));
            if ok.is_err() {
                lock(self).alive -= 1;
            }
        }
    }

    /// A worker is about to block on a child: make sure queued work still has a taker.
    pub(crate) fn block(self: &Arc<Self>) {
        let spawn = {
            let mut g = lock(self);
            g.blocked += 1;
            let s = !g.queue.is_empty() && g.idle <= g.notified;
            if s {
                g.alive += 1;
            }
            s
        };
        if spawn {
            let p = self.clone();
            if std::thread::Builder::new().name("legato-worker".into()).spawn(move || worker(p)).is_err() {
                lock(self).alive -= 1;
            }
        }
    }

    pub(crate) fn unblock(&self) {
        lock(self).blocked -= 1;
    }

    /// Asks every worker to exit once idle (interpreter exit).
    pub(crate) fn shutdown(&self) {
        let mut g = lock(self);
        g.shutdown = true;
        g.queue.clear();
        self.cv.notify_all();
    }

    fn take_now(&self) -> Option<Job> {
        lock(self).queue.pop_front()
    }

    /// Waits (without the GIL) until there is a job; `false` when the worker should exit.
    /// The job itself is taken with the GIL held, so jobs start in the order they were queued.
    fn wait(&self) -> bool {
        let mut g = lock(self);
        loop {
            if g.shutdown {
                g.alive -= 1;
                return false;
            }
            if !g.queue.is_empty() {
                return true;
            }
            g.idle += 1;
            let (ng, timeout) = self.cv.wait_timeout(g, Duration::from_secs(30)).unwrap_or_else(|e| e.into_inner());
            g = ng;
            g.idle -= 1;
            g.notified = g.notified.saturating_sub(1);
            if timeout.timed_out() && g.queue.is_empty() && g.alive > self.base {
                g.alive -= 1;
                return false;
            }
        }
    }
}

fn worker(pool: Arc<Pool>) {
    // Attached once for the thread's whole life; the GIL is released while waiting.
    let _ = Python::try_attach(|py| loop {
        match pool.take_now() {
            Some(job) => run_job(py, job),
            None => {
                if !py.detach(|| pool.wait()) {
                    break;
                }
            }
        }
    });
}
