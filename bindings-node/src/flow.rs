//! Definitions: task options (validated once, here), graphs built from a whole flow in one
//! crossing, plans and drawings.
//!
//! The facade keeps a flow's steps in JS while it is being defined and hands the whole
//! definition over in one call when it is run or planned: names joined by NUL, dependencies
//! as one `Uint32Array`. Built graphs are cached by id until the facade drops them.

use crate::errors::{coded, graph_error, guard, option_error, range_error};
use legato::graph::{Graph, GraphBuilder, Selection, TaskSpec};
use legato::policy::{self, Backoff, TaskOptions};
use legato::render::Format;
use std::cell::RefCell;
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
    static GRAPHS: RefCell<Slab<Arc<Graph>>> = const { RefCell::new(Slab::new()) };
}

/// Validates task options and registers them; returns their id for [`graph_build`] and
/// dynamic tasks. `backoff_kind`: 0 none, 1 fixed (`initial_ms`), 2 exponential
/// (`initial_ms`, `factor`, `max_ms`, `jitter`). A negative `timeout_ms` means none.
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
    sequences: Option<Vec<String>>,
) -> napi::Result<u32, String> {
    guard(|| {
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
        for s in sequences.unwrap_or_default() {
            o = o.sequence(s);
        }
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

fn split(joined: &str, n: usize) -> Vec<&str> {
    if n == 0 {
        Vec::new()
    } else {
        joined.split('\0').collect()
    }
}

/// Builds and validates a graph from a whole flow; returns the graph's id.
///
/// - `names`: the `n` task names joined by NUL;
/// - `deps`: for each task, its dependency count then the dependencies: an index `< n` is a
///   task, `n + k` is the `k`-th name of `extra` (a name no step has: a missing dependency);
/// - `opts`: per task, an id from [`options_new`] (0 for the defaults);
/// - `descriptions`: per task joined by NUL (empty for none), or nothing when none has one.
///
/// Errors: the core's graph errors (cycle, missing dependency, duplicate, invalid name) with
/// codes `ERR_LEGATO_*` and the exact texts.
#[napi]
pub fn graph_build(
    n: u32,
    names: String,
    deps: &[u32],
    extra: String,
    opts: &[u32],
    descriptions: Option<String>,
) -> napi::Result<u32, String> {
    guard(|| {
        let n = n as usize;
        let names = split(&names, n);
        let extra: Vec<&str> = if extra.is_empty() {
            Vec::new()
        } else {
            extra.split('\0').collect()
        };
        let descriptions = descriptions.as_deref().map(|d| split(d, n));
        if names.len() != n || opts.len() < n {
            return Err(coded("ERR_LEGATO_INTERNAL", "graph_build: bad arguments"));
        }
        let mut b = GraphBuilder::with_capacity(n, deps.len().saturating_sub(n));
        let mut at = 0usize;
        let name_of = |i: u32| -> Option<&str> {
            let i = i as usize;
            if i < n {
                Some(names[i])
            } else {
                extra.get(i - n).copied()
            }
        };
        OPTIONS.with_borrow(|reg| -> napi::Result<(), String> {
            for (i, name) in names.iter().enumerate() {
                let count = *deps.get(at).unwrap_or(&0) as usize;
                at += 1;
                let ds = deps.get(at..at + count).unwrap_or(&[]);
                at += count;
                let mut spec = TaskSpec::new(*name).after(ds.iter().filter_map(|&d| name_of(d)));
                if opts[i] != 0 {
                    if let Some(r) = reg.get(opts[i]) {
                        spec = spec.options((*r.opts).clone());
                    }
                }
                if let Some(d) = descriptions.as_ref().and_then(|d| d.get(i)) {
                    if !d.is_empty() {
                        spec = spec.description(*d);
                    }
                }
                b.add(spec).map_err(|e| graph_error(&e))?;
            }
            Ok(())
        })?;
        let g = b.build().map_err(|e| graph_error(&e))?;
        Ok(GRAPHS.with_borrow_mut(|s| s.insert(Arc::new(g))))
    })
}

/// Frees a graph built by [`graph_build`].
#[napi]
pub fn graph_drop(id: u32) {
    GRAPHS.with_borrow_mut(|s| s.remove(id));
}

pub(crate) fn graph_get(id: u32) -> napi::Result<Arc<Graph>, String> {
    GRAPHS
        .with_borrow(|s| s.get(id).cloned())
        .ok_or_else(|| coded("ERR_LEGATO_INTERNAL", format!("no graph {id}")))
}

/// The selection for NUL-joined `targets` (all tasks when `None`).
pub(crate) fn select(g: &Graph, targets: Option<&str>) -> napi::Result<Selection, String> {
    match targets {
        None => Ok(g.all()),
        Some(t) => g
            .select(t.split('\0').filter(|s| !s.is_empty()))
            .map_err(|e| graph_error(&e)),
    }
}

/// The dry run: the levels that would run, in order (targets NUL-joined, or all).
#[napi]
pub fn graph_plan(id: u32, targets: Option<String>) -> napi::Result<Vec<Vec<String>>, String> {
    guard(|| {
        let g = graph_get(id)?;
        let sel = select(&g, targets.as_deref())?;
        Ok(g.plan(&sel)
            .names(&g)
            .into_iter()
            .map(|l| l.into_iter().map(str::to_owned).collect())
            .collect())
    })
}

/// Draws the graph: `format` is `ascii`, `mermaid` or `dot`.
#[napi]
pub fn graph_render(
    id: u32,
    format: String,
    targets: Option<String>,
) -> napi::Result<String, String> {
    guard(|| {
        let g = graph_get(id)?;
        let sel = select(&g, targets.as_deref())?;
        let f: Format = format
            .parse()
            .map_err(|e: String| range_error("format", e))?;
        Ok(g.render(f, &sel))
    })
}
