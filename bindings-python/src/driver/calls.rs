//! Action calls: a new call is the core's `spawn`, a cached call already made is a `join`,
//! `parallel(fail_fast=True)` is a core `group`; the driver keeps only the cache key → task
//! lookup and the waiters the core names (asyncio futures, or slots of blocked sync callers).

use super::*;

/// The calls made at once: each one's task number and handle (an asyncio future, or the
/// slot a sync caller waits on), and the fail-fast group's number.
pub(super) type Made = (Vec<(u32, Py<PyAny>)>, Option<u32>);

/// One action call to make: its body, name, options and cache key (`hash`, key object).
pub(super) struct NewCall {
    pub(super) body: Body,
    pub(super) name: String,
    pub(super) opts: Arc<TaskOptions>,
    pub(super) cache_key: Option<(isize, Py<PyAny>)>,
}

impl Shared {
    /// Whether this thread is a pool worker running an attempt of this run.
    pub(super) fn is_own_worker(self: &Arc<Self>) -> bool {
        CURRENT.with(|c| {
            c.borrow()
                .as_ref()
                .is_some_and(|(r, ..)| Arc::ptr_eq(r, self))
        })
    }

    pub(super) fn deliver(&self, st: &mut State, w: Waiter, d: Delivery) {
        match w {
            Waiter::Future(f) => st.loop_q.push_back(LoopCmd::Resolve(f, d)),
            Waiter::Slot(n) => {
                st.blocked.insert(n, Some(d));
                self.cv.notify_all();
            }
        }
    }

    /// A dynamic task: an action call.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn call(
        self: &Arc<Self>,
        py: Python<'_>,
        body: Body,
        name: String,
        opts: Arc<TaskOptions>,
        cache_key: Option<(isize, Py<PyAny>)>,
        parent: Option<(u32, u32)>,
        future: bool,
    ) -> PyResult<(u32, Py<PyAny>)> {
        let call = NewCall {
            body,
            name,
            opts,
            cache_key,
        };
        let (mut made, _) = self.calls(py, vec![call], parent, future, false)?;
        made.pop()
            .ok_or_else(|| PyRuntimeError::new_err("legato: no call was made"))
    }

    /// Several action calls made at once (`parallel`), and with `fail_fast` made a fail-fast
    /// group of the core's: all of them are handed to the core under one lock and routed
    /// together, so no call starts (nor does any hook of one run) before the last is made —
    /// from a sync caller's thread as on the loop. Returns each call's task and handle, and
    /// the group's number.
    pub(super) fn calls(
        self: &Arc<Self>,
        py: Python<'_>,
        calls: Vec<NewCall>,
        parent: Option<(u32, u32)>,
        future: bool,
        fail_fast: bool,
    ) -> PyResult<Made> {
        let now = self.now(py);
        let mut futs = Vec::with_capacity(calls.len());
        for _ in &calls {
            futs.push(if future {
                Some(self.lp()?.call_method0(py, intern!(py, "create_future"))?)
            } else {
                None
            });
        }
        let mut jobs = Vec::new();
        let made = {
            let mut st = lock_py(py, self);
            if st.finished {
                return Err(CancelledError::new_err("the run is over"));
            }
            let made = self.make_calls(py, &mut st, calls, futs, parent, fail_fast, now);
            // Whatever was made is routed, also when a later call was refused.
            self.route(py, &mut st, &mut jobs);
            self.kick(py, &mut st);
            made
        };
        self.submit(jobs, false);
        made
    }

    #[allow(clippy::too_many_arguments)]
    fn make_calls(
        &self,
        py: Python<'_>,
        st: &mut State,
        calls: Vec<NewCall>,
        futs: Vec<Option<Py<PyAny>>>,
        parent: Option<(u32, u32)>,
        fail_fast: bool,
        now: Duration,
    ) -> PyResult<Made> {
        let caller = match parent {
            Some((p, a)) => Some((
                st.sched.task_id(p).ok_or_else(|| {
                    PyRuntimeError::new_err("the calling task is not of this run")
                })?,
                a,
            )),
            None => None,
        };
        let mut made = Vec::with_capacity(calls.len());
        for (call, fut) in calls.into_iter().zip(futs) {
            let NewCall {
                body,
                name,
                opts,
                cache_key,
            } = call;
            let (waiter, handle) = match fut {
                Some(f) => {
                    let h = f.clone_ref(py);
                    (Waiter::Future(f), h)
                }
                None => {
                    st.next_slot += 1;
                    let n = st.next_slot;
                    st.blocked.insert(n, None);
                    (Waiter::Slot(n), n.into_pyobject(py)?.into_any().unbind())
                }
            };
            // A cached call: the driver keeps only the key → task lookup (keys are Python
            // values); waiting for a call already made is the core's (a join).
            let mut hit = None;
            if let Some((h, key)) = &cache_key {
                if let Some(entries) = st.cache.get(h) {
                    for (k, t) in entries {
                        if k.bind(py).eq(key.bind(py)).unwrap_or(false) {
                            hit = Some(*t);
                            break;
                        }
                    }
                }
            }
            let spawned = match hit {
                Some(t) => {
                    let target = st.id_or_err(t)?;
                    let join = st
                        .sched
                        .join(caller, target, now)
                        .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
                    let j = join.as_u32() as usize;
                    if st.joins.len() <= j {
                        st.joins.resize_with(j + 1, || None);
                    }
                    st.joins[j] = Some(waiter);
                    t
                }
                None => {
                    // The core records the caller's attempt and suspends it; a call from an
                    // attempt that is over is cancelled (and delivered) at once.
                    let id = st
                        .sched
                        .spawn(caller, Arc::from(name.as_str()), opts, now)
                        .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
                    let slot = st.slots.slot_mut(id);
                    slot.body = Some(Arc::new(body));
                    slot.waiter = Some(waiter);
                    if let Some((h, key)) = cache_key {
                        st.cache.entry(h).or_default().push((key, id.as_u32()));
                    }
                    id.as_u32()
                }
            };
            made.push((spawned, handle));
        }
        let group = if fail_fast {
            let members: Vec<u32> = made.iter().map(|&(t, _)| t).collect();
            Some(st.make_group(caller, &members, now)?)
        } else {
            None
        };
        Ok((made, group))
    }

    /// Makes the calls `tasks` (made by `parent`, or main) a fail-fast group of the core's:
    /// the first that fails cancels the others the caller made.
    pub(super) fn group(
        self: &Arc<Self>,
        py: Python<'_>,
        tasks: &[u32],
        parent: Option<(u32, u32)>,
    ) -> PyResult<u32> {
        let now = self.now(py);
        let mut jobs = Vec::new();
        let g = {
            let mut st = lock_py(py, self);
            let caller = match parent {
                Some((p, a)) => Some((st.id_or_err(p)?, a)),
                None => None,
            };
            let g = st.make_group(caller, tasks, now)?;
            self.route(py, &mut st, &mut jobs);
            self.kick(py, &mut st);
            g
        };
        self.submit(jobs, false);
        Ok(g)
    }

    /// Blocks (without the GIL) until every slot is delivered — or, for a fail-fast group
    /// (`group`), until the member the core names as its first failure is, whose error is
    /// raised (the core cancelled the others).
    pub(super) fn wait(
        self: &Arc<Self>,
        py: Python<'_>,
        slots: &[u64],
        tasks: &[u32],
        group: Option<GroupId>,
    ) -> PyResult<Vec<Delivery>> {
        let p = pool();
        p.block(py);
        // A worker of this run that waits: it makes no progress until a call it waits for
        // ends (see [`inline`]).
        let mine = self.is_own_worker();
        let got = pool::detached(py, || {
            let mut st = lock(self);
            if mine {
                st.live_waits += 1;
            }
            let got = loop {
                if let Some((failed, got)) = take_done(&mut st, slots, tasks, group) {
                    // A slot the run dropped (it is over): the wait ends with that.
                    if failed.is_none() && got.iter().any(Option::is_none) {
                        break Err(());
                    }
                    break Ok((failed, got));
                }
                st = self.cv.wait(st).unwrap_or_else(|e| e.into_inner());
                if pool::exiting() {
                    // The interpreter is exiting: never take the GIL back.
                    drop(st);
                    pool::park_forever();
                }
            };
            if mine {
                st.live_waits = st.live_waits.saturating_sub(1);
            }
            got
        });
        p.unblock();
        let Ok((failed, got)) = got else {
            return Err(CancelledError::new_err("the run is over"));
        };
        if let Some(i) = failed {
            if let Some(Some(Delivery::Err(e))) = got.into_iter().nth(i) {
                return Err(PyErr::from_value(e.into_bound(py)));
            }
            return Err(CancelledError::new_err("cancelled"));
        }
        Ok(got
            .into_iter()
            .map(|d| d.unwrap_or_else(|| Delivery::Ok(py.None())))
            .collect())
    }
}

/// The calls' outcomes once they are due (see [`Shared::wait`]): every slot delivered, or a
/// fail-fast group's first failure; the index of that failure comes first.
pub(super) fn take_done(
    st: &mut State,
    slots: &[u64],
    tasks: &[u32],
    group: Option<GroupId>,
) -> Option<(Option<usize>, Vec<Option<Delivery>>)> {
    let failed = group
        .and_then(|g| st.sched.group_failure(g))
        .and_then(|t| tasks.iter().position(|&x| x == t.as_u32()))
        .filter(|&i| {
            slots
                .get(i)
                .is_some_and(|n| matches!(st.blocked.get(n), Some(Some(_))))
        });
    let all = slots
        .iter()
        .all(|n| !matches!(st.blocked.get(n), Some(None)));
    if !all && failed.is_none() {
        return None;
    }
    let got = slots
        .iter()
        .map(|n| st.blocked.remove(n).flatten())
        .collect();
    Some((failed, got))
}
