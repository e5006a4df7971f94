//! Definitions: task options (validated once, by the core's policy helpers), flows declared
//! on the core's [`FlowDef`] (names and their one validation, `follow` / `after` / `sync_all`,
//! the validated graph, plans and drawings), and selections for runs.
//!
//! A step crosses once when it is added ([`flow_add`]: the core refuses a duplicate or
//! invalid name there and then); the dependencies of many steps cross together
//! ([`flow_deps`]), when the flow is next used or a builder needs them in place. The JS side
//! keeps only the bodies, by position.

use crate::errors::{coded, graph_error, guard, option_error, range_error};
use legato::define::FlowDef;
use legato::graph::{validate_name, Graph, Selection, TaskSpec};
use legato::policy::{self, Backoff, TaskOptions};
use legato::render::Format;
use napi::bindgen_prelude::ObjectFinalize;
use napi::{sys, Env};
use std::cell::{Cell, RefCell};
use std::sync::Arc;

/// A slab of values addressed by `u32` ids, with a free list.
#[derive(Debug)]
pub(crate) struct Slab<T> {
    items: Vec<Option<T>>,
    free: Vec<u32>,
}

impl<T> Slab<T> {
    pub(crate) const fn new() -> Self {
        Slab {
            items: Vec::new(),
            free: Vec::new(),
        }
    }
    pub(crate) fn insert(&mut self, v: T) -> u32 {
        if let Some(i) = self.free.pop() {
            self.items[i as usize] = Some(v);
            i
        } else {
            self.items.push(Some(v));
            (self.items.len() - 1) as u32
        }
    }
    pub(crate) fn get(&self, i: u32) -> Option<&T> {
        self.items.get(i as usize).and_then(Option::as_ref)
    }
    pub(crate) fn get_mut(&mut self, i: u32) -> Option<&mut T> {
        self.items.get_mut(i as usize).and_then(Option::as_mut)
    }
    /// The number of live values.
    pub(crate) fn len(&self) -> u32 {
        (self.items.len() - self.free.len()) as u32
    }
    pub(crate) fn remove(&mut self, i: u32) -> Option<T> {
        let v = self.items.get_mut(i as usize).and_then(Option::take);
        if v.is_some() {
            self.free.push(i);
        }
        v
    }
}

/// A registered set of task options (id 0 is the default options).
#[derive(Debug)]
pub(crate) struct Registered {
    pub(crate) opts: Arc<TaskOptions>,
    /// The name given to dynamic tasks made with these options (an action's name).
    pub(crate) name: Arc<str>,
}

thread_local! {
    pub(crate) static OPTIONS: RefCell<Slab<Registered>> = const { RefCell::new(Slab::new()) };
    static FLOWS: RefCell<Slab<Def>> = const { RefCell::new(Slab::new()) };
    /// Native bytes of definitions counted but not yet told to V8 (see [`external_memory`]).
    static UNTOLD: Cell<i64> = const { Cell::new(0) };
}

/// A flow definition and the native bytes it is estimated to hold (told to V8).
#[derive(Debug)]
struct Def {
    def: FlowDef<()>,
    bytes: i64,
}

/// The estimated native bytes of one step in a definition beyond its name and dependencies:
/// its spec, its graph node and the bookkeeping of the definition's indexes.
const STEP_BYTES: i64 = 160;

/// V8 is told of a change in the native bytes held by definitions once it reaches this much.
const TELL_EVERY: i64 = 64 * 1024;

/// Counts `bytes` more (or, when negative, fewer) native bytes held by flow definitions, and
/// tells V8 (`napi_adjust_external_memory`) once the untold change reaches [`TELL_EVERY`]
/// either way. V8 weighs external memory when it decides to collect: a loop that defines
/// large flows and drops them then has them collected, and their definitions freed, as their
/// native memory grows, not only when the JS heap fills. Told totals never go below zero: a
/// definition's bytes are counted before they are uncounted. (Flows of 10,000 steps kept for
/// 20 runs, so that their handles are promoted, then dropped, 300 times: at most 47–51
/// definitions alive and 185–195 MB, against 114–121 and 269–287 MB untold.)
fn external_memory(env: sys::napi_env, bytes: i64) {
    let untold = UNTOLD.get() + bytes;
    if untold.abs() < TELL_EVERY {
        UNTOLD.set(untold);
        return;
    }
    let mut total = 0i64;
    // SAFETY: `env` is the live environment of the call or finalizer this runs in.
    if unsafe { sys::napi_adjust_external_memory(env, untold, &mut total) } == sys::Status::napi_ok
    {
        UNTOLD.set(0);
    } else {
        UNTOLD.set(untold);
    }
}

/// Validates task options and registers them; returns their id for [`graph_build`] and
/// dynamic tasks. `name` (a dynamic task's: an action's, a spawned child's) is checked as a
/// declared step's name is (`ERR_LEGATO_INVALID_NAME`). `backoff_kind`: 0 none, 1 fixed
/// (`initial_ms`), 2 exponential (`initial_ms`, `factor`, `max_ms`, `jitter`). A negative
/// `timeout_ms` means none. `uses`: the keys the task holds while it runs (`sequences` are
/// the same); `trigger`: its trigger rule's name (the core's names, an unknown one refused
/// with a did-you-mean); `cost_ms`: its cost for `critical_path` (negative: none);
/// `conditional`: it has a `when` predicate the driver evaluates ([`Command::Evaluate`](legato::scheduler::Command::Evaluate)).
/// Errors name the argument: `ERR_OUT_OF_RANGE` for a wrong value.
#[napi]
#[allow(clippy::too_many_arguments)]
pub fn options_new(
    name: String,
    retries: f64,
    backoff_kind: u32,
    initial_ms: f64,
    factor: f64,
    max_ms: f64,
    jitter: bool,
    timeout_ms: f64,
    uses: Option<Vec<String>>,
    trigger: Option<String>,
    cost_ms: Option<f64>,
    conditional: Option<bool>,
) -> napi::Result<u32, String> {
    guard(|| {
        // The core's one rule for names, as for a declared step.
        validate_name(&name).map_err(|e| graph_error(&e))?;
        // The core's one validation of options (policy): errors name the argument.
        let oe = |e: legato::policy::OptionError| option_error(&e);
        let mut o =
            TaskOptions::default().retries(policy::retries("retries", retries).map_err(oe)?);
        match backoff_kind {
            0 => {}
            1 => {
                o = o.backoff(Backoff::fixed(
                    policy::delay_millis("backoff", initial_ms).map_err(oe)?,
                ))
            }
            _ => {
                let initial = policy::delay_millis("backoff.initial", initial_ms).map_err(oe)?;
                let mut b = Backoff::exponential(initial);
                if factor.is_finite() && factor >= 1.0 {
                    b = b.factor(factor);
                } else {
                    return Err(range_error(
                        "backoff.factor",
                        format!("must be a number >= 1, got {factor}"),
                    ));
                }
                if max_ms >= 0.0 {
                    b = b.max(policy::delay_millis("backoff.max", max_ms).map_err(oe)?);
                }
                b = b.jitter(jitter);
                b.validate().map_err(oe)?;
                o = o.backoff(b);
            }
        }
        if timeout_ms >= 0.0 || timeout_ms.is_nan() {
            if let Some(d) = policy::timeout_millis("timeout", timeout_ms).map_err(oe)? {
                o = o.timeout(d);
            }
        }
        for k in uses.unwrap_or_default() {
            o = o.uses(k);
        }
        if let Some(t) = trigger {
            o = o.trigger(t.parse().map_err(oe)?);
        }
        if let Some(c) = cost_ms {
            o = o.cost(policy::delay_millis("cost", c).map_err(oe)?);
        }
        o = o.conditional(conditional.unwrap_or(false));
        o.validate().map_err(oe)?;
        let reg = Registered {
            opts: Arc::new(o),
            name: Arc::from(name),
        };
        Ok(OPTIONS.with_borrow_mut(|s| {
            if s.items.is_empty() {
                s.insert(Registered {
                    opts: Arc::new(TaskOptions::default()),
                    name: Arc::from("anonymous"),
                });
            }
            s.insert(reg)
        }))
    })
}

/// Frees registered options (a flow or orchestrator was collected).
#[napi]
pub fn options_drop(ids: Vec<u32>) {
    OPTIONS.with_borrow_mut(|s| {
        for id in ids {
            if id != 0 {
                s.remove(id);
            }
        }
    });
}

pub(crate) fn options_get(id: u32) -> Option<(Arc<str>, Arc<TaskOptions>)> {
    OPTIONS.with_borrow(|s| s.get(id).map(|r| (r.name.clone(), r.opts.clone())))
}

/// Live native objects, for tests that check finished runs and collected flows free theirs:
/// `[flows, runs, registered options, reports]`.
#[napi]
pub fn live_counts() -> Vec<u32> {
    let flows = FLOWS.with_borrow(|s| s.len());
    let options = OPTIONS.with_borrow(|s| s.len().saturating_sub(1));
    vec![
        flows,
        crate::driver::live_runs(),
        options,
        crate::report::live_reports(),
    ]
}

/// A flow definition's owner on the JS side (held by its `Flow`): the definition is freed by
/// this object's finalizer, which Node runs in a task of its own once V8 has collected it
/// (`lib/finalizers.js` makes sure such a task comes). A minor collection takes a young handle;
/// one that lived long enough to be promoted waits for a full collection, which the
/// definitions' native bytes, told to V8 as external memory ([`external_memory`]), bring on.
#[napi(custom_finalize)]
pub struct NativeFlow {
    id: u32,
}

#[napi]
impl NativeFlow {
    /// The definition's id, for the other `flow*` functions.
    #[napi(getter)]
    pub fn id(&self) -> u32 {
        self.id
    }
}

impl std::fmt::Debug for NativeFlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeFlow").field("id", &self.id).finish()
    }
}

impl ObjectFinalize for NativeFlow {
    fn finalize(self, env: Env) -> napi::Result<()> {
        // Finalizers run from the event loop, never inside a borrow of FLOWS; at the thread's
        // end FLOWS may be gone already.
        let freed = FLOWS
            .try_with(|s| {
                s.try_borrow_mut()
                    .ok()
                    .and_then(|mut s| s.remove(self.id))
                    .map_or(0, |d| d.bytes)
            })
            .unwrap_or(0);
        if freed != 0 {
            external_memory(env.raw(), -freed);
        }
        Ok(())
    }
}

/// A new, empty flow definition, owned by the returned handle (see [`NativeFlow`]).
#[napi]
pub fn flow_new() -> NativeFlow {
    NativeFlow {
        id: FLOWS.with_borrow_mut(|s| {
            s.insert(Def {
                def: FlowDef::new(),
                bytes: 0,
            })
        }),
    }
}

fn with_flow<T>(
    id: u32,
    f: impl FnOnce(&mut FlowDef<()>) -> napi::Result<T, String>,
) -> napi::Result<T, String> {
    FLOWS.with_borrow_mut(|s| {
        let d = s
            .get_mut(id)
            .ok_or_else(|| coded("ERR_LEGATO_INTERNAL", format!("no flow {id}")))?;
        f(&mut d.def)
    })
}

/// Adds a step to flow `id` with options `opts` (an id from [`options_new`], 0 for the
/// defaults) and returns its position. The core's [`FlowDef::add`] refuses a name that is
/// taken (`ERR_LEGATO_DUPLICATE_TASK`) or invalid (`ERR_LEGATO_INVALID_NAME`); nothing is
/// added then. `after`: the step's dependencies by name, NUL-joined, when all of them are
/// names (the usual case: they cross with the step instead of through [`flow_deps`]; checked
/// when the graph is built; repeats count once).
/// Registered as the raw Node-API function `flowAdd` (see [`crate::raw`]).
pub(crate) fn flow_add(
    env: sys::napi_env,
    id: u32,
    name: Arc<str>,
    opts: u32,
    description: Option<String>,
    after: Option<&str>,
) -> napi::Result<u32, String> {
    guard(|| {
        // What the step holds natively: its spec, its name, its description and an edge
        // each way per dependency.
        let bytes = STEP_BYTES
            + name.len() as i64
            + description.as_ref().map_or(0, |d| d.len() as i64)
            + after.map_or(0, |a| {
                16 * (a.bytes().filter(|&b| b == 0).count() as i64 + 1)
            });
        let mut spec = TaskSpec::from_shared(name);
        if opts != 0 {
            let o = OPTIONS
                .with_borrow(|reg| reg.get(opts).map(|r| r.opts.clone()))
                .ok_or_else(|| coded("ERR_LEGATO_INTERNAL", "unknown options"))?;
            spec = spec.options((*o).clone());
        }
        if let Some(d) = description {
            spec = spec.description(d);
        }
        // The dependencies go in with the step (`FlowDef::add_after`: each resolved to the
        // shared name of a step already added, repeated names counting once in the graph),
        // not through `FlowDef::add_deps`, which would drop repeats through a hash set first:
        // a sink after ten thousand steps pays for the names alone.
        let at = FLOWS.with_borrow_mut(|s| {
            let d = s
                .get_mut(id)
                .ok_or_else(|| coded("ERR_LEGATO_INTERNAL", format!("no flow {id}")))?;
            let at = d
                .def
                .add_after(spec, after.into_iter().flat_map(|a| a.split('\0')), ())
                .map_err(|e| graph_error(&e))?;
            d.bytes += bytes;
            Ok::<_, napi::Error<String>>(at as u32)
        })?;
        external_memory(env, bytes);
        Ok(at)
    })
}

/// Dependencies of many steps at once: `deps` holds records `[step, count, dep…]`; a `dep`
/// below `1 << 31` is a step's position, `(1 << 31) | k` the `k`-th of the NUL-joined `names`
/// (a name, checked when the graph is built). Repeats are ignored ([`FlowDef::add_deps`]).
#[napi]
pub fn flow_deps(id: u32, deps: &[u32], names: Option<String>) -> napi::Result<(), String> {
    guard(|| {
        let names: Vec<&str> = names
            .as_deref()
            .map_or_else(Vec::new, |n| n.split('\0').collect());
        with_flow(id, |def| {
            let mut at = 0usize;
            let mut list: Vec<String> = Vec::new();
            while at + 2 <= deps.len() {
                let (step, count) = (deps[at] as usize, deps[at + 1] as usize);
                at += 2;
                let ds = deps
                    .get(at..at + count)
                    .ok_or_else(|| coded("ERR_LEGATO_INTERNAL", "flow_deps: bad record"))?;
                at += count;
                if step >= def.len() {
                    return Err(coded("ERR_LEGATO_INTERNAL", "flow_deps: no such step"));
                }
                if ds
                    .iter()
                    .all(|&d| d & (1 << 31) == 0 && (d as usize) < def.len())
                {
                    // Positions only (step handles): no name looked up.
                    def.add_dep_positions(step, ds.iter().map(|&d| d as usize));
                    continue;
                }
                list.clear();
                for &d in ds {
                    let name = if d & (1 << 31) == 0 {
                        if d as usize >= def.len() {
                            return Err(coded("ERR_LEGATO_INTERNAL", "flow_deps: no such step"));
                        }
                        def.name(d as usize)
                    } else {
                        names
                            .get((d & !(1 << 31)) as usize)
                            .copied()
                            .ok_or_else(|| {
                                coded("ERR_LEGATO_INTERNAL", "flow_deps: no such name")
                            })?
                    };
                    list.push(name.to_owned());
                }
                def.add_deps(step, list.drain(..));
            }
            Ok(())
        })
    })
}

fn positions(def: &FlowDef<()>, steps: &[u32]) -> napi::Result<Vec<usize>, String> {
    steps
        .iter()
        .map(|&i| {
            if (i as usize) < def.len() {
                Ok(i as usize)
            } else {
                Err(coded("ERR_LEGATO_INTERNAL", "no such step"))
            }
        })
        .collect()
}

/// LightFlow's `Follow` ([`FlowDef::follow`]): each step of `chain` after the one before it.
#[napi]
pub fn flow_follow(id: u32, chain: &[u32]) -> napi::Result<(), String> {
    guard(|| {
        with_flow(id, |def| {
            let chain = positions(def, chain)?;
            def.follow(&chain);
            Ok(())
        })
    })
}

/// LightFlow's `SyncAll` ([`FlowDef::sync_all`]): step `step` after every step declared
/// before it.
#[napi]
pub fn flow_sync_all(id: u32, step: u32) -> napi::Result<(), String> {
    guard(|| {
        with_flow(id, |def| {
            let i = positions(def, &[step])?[0];
            def.sync_all(i);
            Ok(())
        })
    })
}

/// The validated graph of flow `id` and the selection of NUL-joined `targets` (all when
/// `None`): what a run schedules.
pub(crate) fn flow_select(
    id: u32,
    targets: Option<&str>,
) -> napi::Result<(Arc<Graph>, Selection), String> {
    with_flow(id, |def| {
        let g = def.graph().map_err(|e| graph_error(&e))?;
        let sel = select(&g, targets)?;
        Ok((g, sel))
    })
}

/// Builds (or takes the cached) graph of flow `id`, so that graph errors surface now.
#[napi]
pub fn flow_check(id: u32) -> napi::Result<(), String> {
    guard(|| flow_select(id, None).map(|_| ()))
}

/// The selection for NUL-joined `targets` (all tasks when `None`). Every part is a target, an
/// empty one too (the core refuses it as an unknown task): the facade passes `None` for no
/// targets and refuses names holding a NUL.
pub(crate) fn select(g: &Graph, targets: Option<&str>) -> napi::Result<Selection, String> {
    match targets {
        None => Ok(g.all()),
        Some(t) => g.select(t.split('\0')).map_err(|e| graph_error(&e)),
    }
}

/// The dry run: the levels that would run, in order (targets NUL-joined, or all).
#[napi]
pub fn flow_plan(id: u32, targets: Option<String>) -> napi::Result<Vec<Vec<String>>, String> {
    guard(|| {
        let (g, sel) = flow_select(id, targets.as_deref())?;
        Ok(g.plan(&sel)
            .names(&g)
            .into_iter()
            .map(|l| l.into_iter().map(str::to_owned).collect())
            .collect())
    })
}

/// Draws the flow: `format` is `ascii`, `mermaid` or `dot` (targets NUL-joined, or all).
#[napi]
pub fn flow_render(
    id: u32,
    format: String,
    targets: Option<String>,
) -> napi::Result<String, String> {
    guard(|| {
        let f: Format = format
            .parse()
            .map_err(|e: String| range_error("format", e))?;
        let (g, sel) = flow_select(id, targets.as_deref())?;
        Ok(g.render(f, &sel))
    })
}
