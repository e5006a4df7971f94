//! The worker pool that runs sync callables.
//!
//! Workers are threads that stay attached to the interpreter for their whole life and release
//! the GIL while idle (attaching per call costs 20–80 µs: a thread state built and torn down
//! each time). Work is handed over in batches through one queue; a worker that finishes a task
//! takes the next ready one itself (`_worker_done` returns it), so a chain of sync steps costs
//! no thread wake-up per step. The pool grows on demand: it never caps concurrency below a
//! run's `max_parallel`, and a worker blocked on a child action (an Orchestrator's sync
//! recursion) does not count.
//!
//! The threads are Python threads (`threading.Thread`, daemon) whose loop is a few lines of
//! Python (`legato._runtime.worker_loop`) around two calls into Rust: `_worker_take` (wait for
//! a job without the GIL) and `_worker_done` (report, take the next). The user's callable is
//! called from that Python loop, so no Rust frame lies under user code: when the interpreter
//! exits while a sync body still runs (a timed-out step that cannot be killed, a run left in
//! flight), CPython ends the thread the way it ends its own daemon threads, with no Rust
//! `catch_unwind` in the way (which would abort the process). An idle worker that wakes after
//! `_shutdown` (interpreter exit) parks for good instead of taking the GIL back.

use super::{helpers, lock_py, Running, Shared, CURRENT};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3::types::PyTuple;
use std::cell::Cell;
use std::collections::VecDeque;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    (cpus + 4).min(32)
}

pub(crate) fn pool() -> &'static Arc<Pool> {
    POOL.get_or_init(|| {
        Arc::new(Pool {
            m: Mutex::new(PoolState::default()),
            cv: Condvar::new(),
            base: default_size(),
        })
    })
}

fn lock(p: &Pool) -> std::sync::MutexGuard<'_, PoolState> {
    p.m.lock().unwrap_or_else(|e| e.into_inner())
}

fn start_workers(py: Python<'_>, n: usize) {
    for _ in 0..n {
        let ok = helpers(py).and_then(|h| {
            h.start_thread
                .call1(py, (&h.worker_loop, PyTuple::empty(py)))
        });
        if let Err(e) = ok {
            lock(pool()).alive -= 1;
            e.write_unraisable(py, None);
        }
    }
}

impl Pool {
    /// Queues `jobs`. `cap` is the concurrency the submitting run may reach (its `max_parallel`,
    /// or `usize::MAX`); `taker` is true when the caller is a worker that will take one itself.
    pub(crate) fn submit(&self, py: Python<'_>, jobs: Vec<Job>, cap: usize, taker: bool) {
        if jobs.is_empty() {
            return;
        }
        let mut spawn = 0;
        let (wake, all_idle) = {
            let mut g = lock(self);
            if g.shutdown {
                return;
            }
            let n = jobs.len();
            g.queue.extend(jobs);
            // Who can take them: the submitting worker, idle workers not yet woken.
            let mut need = n.saturating_sub(usize::from(taker));
            let unwoken = g.idle.saturating_sub(g.notified);
            let wake = need.min(unwoken);
            g.notified += wake;
            need -= wake;
            if need > 0 {
                let limit = if cap == usize::MAX {
                    self.base
                } else {
                    self.base.max(cap)
                };
                let working = g.alive.saturating_sub(g.blocked);
                spawn = need.min(limit.saturating_sub(working));
                if g.alive == 0 && spawn == 0 && !taker {
                    spawn = 1;
                }
                g.alive += spawn;
            }
            (wake, wake > 1 && wake == unwoken)
        };
        // Woken after the lock is let go (they take it first thing), and all at once when
        // every idle worker is wanted: one system call, not one per job (a layer of fifty
        // steps made ready together).
        if all_idle {
            self.cv.notify_all();
        } else {
            for _ in 0..wake {
                self.cv.notify_one();
            }
        }
        start_workers(py, spawn);
    }

    /// A worker is about to block on a child: make sure queued work still has a taker.
    pub(crate) fn block(&self, py: Python<'_>) {
        let spawn = {
            let mut g = lock(self);
            g.blocked += 1;
            let s = !g.queue.is_empty() && g.idle <= g.notified;
            if s {
                g.alive += 1;
            }
            usize::from(s)
        };
        start_workers(py, spawn);
    }

    pub(crate) fn unblock(&self) {
        let mut g = lock(self);
        g.blocked = g.blocked.saturating_sub(1);
    }

    /// Interpreter exit: no new work; idle workers that wake park for good.
    pub(crate) fn shutdown(&self) {
        let mut g = lock(self);
        g.shutdown = true;
        g.queue.clear();
    }

    pub(crate) fn is_shut_down(&self) -> bool {
        lock(self).shutdown
    }

    /// Queues the jobs a worker's attempt made ready, except one it keeps for itself when no
    /// other job waits (so the start order stays the scheduler's).
    pub(crate) fn submit_taking(
        &self,
        py: Python<'_>,
        mut jobs: Vec<Job>,
        cap: usize,
    ) -> Option<Job> {
        if jobs.is_empty() {
            return None;
        }
        {
            let g = lock(self);
            if g.shutdown {
                return None;
            }
            if !g.queue.is_empty() {
                drop(g);
                self.submit(py, jobs, cap, true);
                return None;
            }
        }
        let mine = jobs.remove(0);
        if !jobs.is_empty() {
            self.submit(py, jobs, cap, false);
        }
        Some(mine)
    }

    fn take_now(&self) -> Option<Job> {
        let mut g = lock(self);
        if g.shutdown {
            return None;
        }
        g.queue.pop_front()
    }

    /// Waits (without the GIL) until there is a job; `false` when the worker should exit.
    /// The job itself is taken with the GIL held, so jobs start in the order they were queued.
    fn wait(&self) -> bool {
        let mut g = lock(self);
        loop {
            if g.shutdown {
                drop(g);
                park_if_exiting();
                return false;
            }
            if !g.queue.is_empty() {
                return true;
            }
            g.idle += 1;
            let (ng, timeout) = self
                .cv
                .wait_timeout(g, Duration::from_secs(30))
                .unwrap_or_else(|e| e.into_inner());
            g = ng;
            g.idle -= 1;
            g.notified = g.notified.saturating_sub(1);
            if timeout.timed_out() && g.queue.is_empty() && g.alive > self.base && !g.shutdown {
                g.alive -= 1;
                return false;
            }
        }
    }
}

/// In a child process after `fork()`: the parent's worker threads do not exist here, so the
/// pool starts empty (workers are made again on demand).
#[pyfunction]
pub(crate) fn _after_fork() {
    if let Ok(mut g) = pool().m.try_lock() {
        *g = PoolState::default();
    }
    // Only this thread is here: the others' entries are not.
    let mine = usize::from(DEPTH.with(|d| d.get()) > 0);
    INSIDE.store(mine, Ordering::SeqCst);
}

/// A thread that must not take the GIL again (the interpreter is exiting) waits here until the
/// process ends. Called without the GIL; the thread no longer counts as inside an entry point
/// (see [`enter`]), so [`_shutdown`] does not wait for it.
pub(crate) fn park_forever() -> ! {
    leave();
    loop {
        std::thread::park();
    }
}

/// Threads with this driver's Rust frames on their stack: inside one of its entry points (a
/// function, method or callback Python calls), and not waiting without the GIL.
static INSIDE: AtomicUsize = AtomicUsize::new(0);

/// Set by [`_shutdown`] (atexit): the interpreter is exiting.
static EXITING: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// How deep this thread is in entry points (they nest: Rust calls Python calls Rust).
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// The guard of an entry point ([`enter`]): leaving it when dropped.
pub(crate) struct Entry {
    /// Dropped on the thread that made it.
    _thread: PhantomData<*const ()>,
}

/// Called first thing by every entry point of the driver (with the GIL held): the thread is
/// inside, and [`_shutdown`] waits (briefly) until no thread is. Once the interpreter exits,
/// a thread other than the main one that comes in parks for good instead (the GIL released).
/// Accessors that call no Python code (`legato.current()`, `TaskContext`'s) do not enter:
/// user code may call them holding a lock of its own (a logging filter reading the task's
/// name), which a parked thread would hold for good while `atexit` still needs it.
///
/// Why: CPython ends a daemon thread that takes the GIL back once finalization has started
/// (`pthread_exit`); that unwind aborts the process ("FATAL: exception not rethrown") when it
/// crosses Rust frames. Python code the driver calls (the loop's `call_soon`, `create_task`,
/// `call_at`, a `retry_if` predicate, an executor's `submit`, a finalizer the garbage collector
/// runs) may release the GIL; with no thread inside at finalization, none can be ended there.
pub(crate) fn enter() -> Entry {
    let first = DEPTH.with(|d| {
        let n = d.get();
        d.set(n + 1);
        n == 0
    });
    if first {
        INSIDE.fetch_add(1, Ordering::SeqCst);
        if EXITING.load(Ordering::SeqCst) && !is_main_thread() {
            // SAFETY: an entry point holds the GIL; it is never taken back (the thread parks).
            unsafe { pyo3::ffi::PyEval_SaveThread() };
            park_forever();
        }
    }
    Entry {
        _thread: PhantomData,
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        let last = DEPTH.with(|d| {
            let n = d.get();
            d.set(n.saturating_sub(1));
            n == 1
        });
        if last {
            INSIDE.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// This thread no longer counts as inside (it waits without the GIL, or parks); returns its
/// depth for [`rejoin`].
fn leave() -> u32 {
    let n = DEPTH.with(|d| d.replace(0));
    if n > 0 {
        INSIDE.fetch_sub(1, Ordering::SeqCst);
    }
    n
}

/// After a wait without the GIL ([`detached`]): inside again, or parked for good when the
/// interpreter is exiting. Call it right before taking the GIL back.
fn rejoin(depth: u32) {
    if depth > 0 {
        INSIDE.fetch_add(1, Ordering::SeqCst);
        DEPTH.with(|d| d.set(depth));
    }
    if exiting() {
        park_forever();
    }
}

/// Runs `f` (a wait) without the GIL and without counting as inside an entry point; parks
/// for good instead of taking the GIL back when the interpreter exits meanwhile.
pub(crate) fn detached<T: Send>(py: Python<'_>, f: impl FnOnce() -> T + Send) -> T {
    py.detach(|| unsent(f))
}

/// [`detached`]'s body, for code already without the GIL (inside `py.detach`).
pub(crate) fn unsent<T>(f: impl FnOnce() -> T) -> T {
    let depth = leave();
    let r = f();
    rejoin(depth);
    r
}

fn is_main_thread() -> bool {
    MAIN_THREAD
        .get()
        .is_some_and(|m| *m == std::thread::current().id())
}

/// The interpreter's main thread (recorded by `_init`, when the package is imported there).
static MAIN_THREAD: OnceLock<std::thread::ThreadId> = OnceLock::new();

/// Records the calling thread as the interpreter's main thread.
pub(crate) fn set_main_thread() {
    let _ = MAIN_THREAD.set(std::thread::current().id());
}

/// Whether this thread must not take the GIL back: the interpreter is exiting (`_shutdown`
/// ran, from `atexit`, before finalization starts) and this is not its main thread. CPython
/// ends such a thread when it takes the GIL again (`pthread_exit`), and an unwind through the
/// Rust frames under it aborts the process; the main thread runs the finalization itself and
/// must go on.
pub(crate) fn exiting() -> bool {
    EXITING.load(Ordering::SeqCst)
        && MAIN_THREAD
            .get()
            .is_none_or(|m| *m != std::thread::current().id())
}

/// Parks this thread for good if it must not take the GIL back ([`exiting`]); call it without
/// the GIL, right before taking it again.
pub(crate) fn park_if_exiting() {
    if exiting() {
        park_forever();
    }
}

/// The next job for this worker thread: `(callable, args, kwargs)`, or `None` when the worker
/// should exit. `first` is a job this worker took for itself. Waits without the GIL.
fn next_job(py: Python<'_>, mut first: Option<Job>) -> PyResult<Option<Bound<'_, PyTuple>>> {
    let p = pool();
    loop {
        match first.take().or_else(|| p.take_now()) {
            Some(job) => {
                if let Some((f, a, k)) = prepare_job(py, job) {
                    return Ok(Some(PyTuple::new(
                        py,
                        [
                            f,
                            a.into_any(),
                            k.map(|k| k.into_any()).unwrap_or_else(|| py.None()),
                        ],
                    )?));
                }
            }
            None => {
                if p.is_shut_down() || !detached(py, || p.wait()) {
                    return Ok(None);
                }
            }
        }
    }
}

/// Worker loop, first call: waits for a job.
#[pyfunction]
pub(crate) fn _worker_take(py: Python<'_>) -> PyResult<Option<Bound<'_, PyTuple>>> {
    let _entry = enter();
    next_job(py, None)
}

/// Worker loop: reports the outcome of the job this thread ran (`failed`: `value` is the
/// exception) and returns the next job — one it made ready itself when nothing else waits.
#[pyfunction]
pub(crate) fn _worker_done<'py>(
    py: Python<'py>,
    value: Bound<'py, PyAny>,
    failed: bool,
) -> PyResult<Option<Bound<'py, PyTuple>>> {
    let _entry = enter();
    let r = if failed {
        Err(PyErr::from_value(value))
    } else {
        Ok(value.unbind())
    };
    let first = finish_job(py, r);
    next_job(py, first)
}

type Prepared = (Py<PyAny>, Py<PyTuple>, Option<Py<PyDict>>);

/// Makes a job ready to call: its callable and arguments; records it as this worker's current
/// task (`legato.current()`, and the report in `_worker_done`). `None` when the attempt is no
/// longer current (cancelled meanwhile) or could not start.
pub(crate) fn prepare_job(py: Python<'_>, job: Job) -> Option<Prepared> {
    let Job { run, task, attempt } = job;
    let flag = Arc::new(AtomicBool::new(false));
    let prep = {
        let mut st = lock_py(py, &run);
        let body = match st.body(task) {
            Some(b) if st.is_current(task, attempt) => b.clone(),
            _ => {
                // Not run: no outcome will come back.
                st.live_jobs = st.live_jobs.saturating_sub(1);
                return None;
            }
        };
        st.running.insert(task, Running::Flag(flag.clone()));
        let args = run
            .call_args(py, &st, &body, task, attempt, &flag)
            .map(|(a, k)| (a.map(|a| a.unbind()), k.map(|k| k.unbind())));
        (body, args)
    };
    let (body, args) = prep;
    match args {
        Ok((a, k)) => {
            CURRENT.with(|c| *c.borrow_mut() = Some((run, task, attempt, flag)));
            let a = a.unwrap_or_else(|| PyTuple::empty(py).unbind());
            Some((body.func.clone_ref(py), a, k))
        }
        Err(e) => {
            let mut jobs = Vec::new();
            run.finish(py, task, attempt, Err(e), true, &mut jobs);
            if !jobs.is_empty() {
                pool().submit(py, jobs, run.cap, false);
            }
            None
        }
    }
}

/// Reports the outcome of the job this worker ran. Returns a job it made ready, for this same
/// worker to run next (a chain of sync steps stays on one thread); the others go to the pool.
pub(crate) fn finish_job(py: Python<'_>, r: PyResult<Py<PyAny>>) -> Option<Job> {
    let (run, task, attempt, _) = CURRENT.with(|c| c.borrow_mut().take())?;
    let mut jobs = Vec::new();
    let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run.finish(py, task, attempt, r, true, &mut jobs);
    }));
    if done.is_err() {
        let e = pyo3::panic::PanicException::new_err("legato: a panic while reporting an attempt");
        run.finish(py, task, attempt, Err(e), false, &mut jobs);
    }
    pool().submit_taking(py, jobs, run.cap)
}

/// Before a pool worker waits for a run it started (a flow run inside a sync step): the pool
/// must not count on it, or the run's own sync steps could wait for a free worker forever.
/// Returns whether this thread is a worker (then [`_unblock_worker`] follows the wait).
#[pyfunction]
pub(crate) fn _block_worker(py: Python<'_>) -> bool {
    let _entry = enter();
    let worker = CURRENT.with(|c| c.borrow().is_some());
    if worker {
        pool().block(py);
    }
    worker
}

/// The event loop of the run whose job this worker runs, if the run has one (a blocking run
/// has none): where an awaitable that a sync body returned is awaited (rule 13).
#[pyfunction]
pub(crate) fn _worker_loop(py: Python<'_>) -> Option<Py<PyAny>> {
    let _entry = enter();
    CURRENT.with(|c| {
        let c = c.borrow();
        let (run, ..) = c.as_ref()?;
        run.lp().ok().map(|lp| lp.clone_ref(py))
    })
}

/// A worker waits for (`on`), or is done waiting for, an awaitable on its run's loop (a sync
/// body that returned one, rule 13): it makes no progress while the loop is blocked by a
/// sync action's call ([`super::inline`]), which must not count on it.
#[pyfunction]
pub(crate) fn _worker_awaits_loop(py: Python<'_>, on: bool) {
    let _entry = enter();
    let run = CURRENT.with(|c| c.borrow().as_ref().map(|(r, ..)| r.clone()));
    if let Some(run) = run {
        let mut st = lock_py(py, &run);
        if on {
            st.live_waits += 1;
        } else {
            st.live_waits = st.live_waits.saturating_sub(1);
        }
    }
}

/// After the wait of [`_block_worker`].
#[pyfunction]
pub(crate) fn _unblock_worker() {
    let _entry = enter();
    pool().unblock();
}

/// How long interpreter exit waits for the threads inside the driver's entry points to come
/// out ([`enter`]): their Rust frames hold no user code but a `retry_if` predicate, a cache
/// key's `__eq__`, an exception's `__str__` or an executor's `submit`.
const EXIT_WAIT: Duration = Duration::from_secs(1);

/// Interpreter exit (atexit): idle workers exit; runs in flight are not waited for. Waits
/// (without the GIL, at most [`EXIT_WAIT`]) until no other thread is inside one of the
/// driver's entry points; from then on a thread that comes in parks for good ([`enter`]), so
/// none has Rust frames on its stack when finalization ends daemon threads.
#[pyfunction]
pub(crate) fn _shutdown(py: Python<'_>) {
    EXITING.store(true, Ordering::SeqCst);
    pool().shutdown();
    pool().cv.notify_all();
    let mine = usize::from(DEPTH.with(|d| d.get()) > 0);
    py.detach(|| {
        let until = std::time::Instant::now() + EXIT_WAIT;
        while INSIDE.load(Ordering::SeqCst) > mine && std::time::Instant::now() < until {
            std::thread::sleep(Duration::from_micros(200));
        }
    });
}
