//! One way to declare a flow, for every front door: [`FlowDef`].
//!
//! A flow is tasks with names, dependencies (by name, or on a sync point: a group of tasks),
//! options and bodies. Everything about it but the bodies is the same in every host — names and
//! their one validation, LightFlow's `follow` / `parallel` / `sync_all`, the validated graph,
//! plans and drawings — so it lives here, generic over the body type `B`: the Rust door's
//! [`Flow`](crate::Flow) uses it with tokio futures, the Python package with Python callables,
//! the Node package with JavaScript functions. Each brings only its bodies and its driver.

use crate::graph::{Extra, Graph, GraphError, NameIndex, NameTable, Selection, TaskId, TaskSpec};
use crate::render::Format;
use std::fmt;
use std::sync::{Arc, Mutex};

/// The bit of [`Edge::dep`] that marks a name not declared yet: the rest is its place in
/// [`FlowDef::pending`]. (A position never has it: tasks are counted in `u32`, and a flow of
/// 2^31 tasks would need hundreds of gigabytes.)
const PENDING: u32 = 1 << 31;

/// [`Arc::make_mut`] without its atomic read-modify-write when `arc` is plainly the only
/// reference: two plain loads instead of a compare-and-swap. A declaration takes two such
/// borrows a task (the Rust door's flow, and the names), about 10 ns each.
///
/// Only for an `Arc` of which no [`Weak`](std::sync::Weak) is ever made (the private fields
/// of flows): with no `Weak`, nothing can make a second strong reference from nothing, so
/// a strong count of 1 seen through `&mut` stays 1 while the borrow lasts.
pub(crate) fn unique_mut<T: Clone>(arc: &mut Arc<T>) -> &mut T {
    if Arc::strong_count(arc) == 1 && Arc::weak_count(arc) == 0 {
        // Whatever another thread did with the value before dropping its reference (a
        // release decrement) happens before what is done with it now, as in `Arc::drop`.
        std::sync::atomic::fence(std::sync::atomic::Ordering::Acquire);
        // SAFETY: `arc` is the only reference to the value (one strong reference, ours, and
        // no weak one; see above) and it is borrowed mutably for as long as the result
        // lives, so the result is the only reference to the value, as `Arc::get_mut` would
        // give it; the pointer comes from the `Arc`'s own allocation, valid while `arc` is.
        return unsafe { &mut *Arc::as_ptr(arc).cast_mut() };
    }
    Arc::make_mut(arc)
}

/// One dependency declared late (see [`FlowDef::late`]): task `task` after `dep`, a
/// position, or the name `pending[dep & !PENDING]` when `dep` has the [`PENDING`] bit.
#[derive(Debug, Clone, Copy)]
struct Edge {
    task: u32,
    dep: u32,
}

/// Up to this many dependencies in one task's row, repeats are found by a scan.
const SCAN: usize = 16;

/// A declared flow: tasks (names, dependencies, options and bodies of type `B`) in declaration
/// order.
///
/// Names are checked as tasks are added (a duplicate or invalid name is refused at once);
/// what depends on the whole flow — missing dependencies, cycles, unknown targets — when the
/// graph is built for a plan, a drawing or a run. The validated graph is kept until the flow
/// changes, so running a flow again costs no rebuilding.
///
/// Kept lean, column by column: the names are stored once, one after the other in one string,
/// with their index (the graph built from the flow shares both; a run makes each name's shared
/// string once, for its tasks and report); a dependency is an integer, the task's position,
/// from the moment it is declared (a name not declared yet waits, and is looked up once, when
/// the graph is built); options are kept only for the tasks that have their own, every other
/// task sharing the one default.
///
/// # Examples
///
/// ```
/// use legato::define::FlowDef;
/// use legato::graph::TaskSpec;
///
/// // The body type is the host's: here, plain function pointers.
/// let mut def: FlowDef<fn() -> u32> = FlowDef::new();
/// let install = def.add(TaskSpec::new("install"), || 1)?;
/// let lint = def.add(TaskSpec::new("lint"), || 2)?;
/// let test = def.add(TaskSpec::new("test"), || 3)?;
/// let deploy = def.add(TaskSpec::new("deploy"), || 4)?;
/// def.after(&[lint, test], ["install"]); // LightFlow's Parallel(lint, test).After(install)
/// def.sync_all(deploy);                  // deploy after everything declared before it
/// assert_eq!(
///     def.plan(["deploy"])?,
///     vec![vec!["install"], vec!["lint", "test"], vec!["deploy"]]
/// );
/// assert_eq!(
///     def.add(TaskSpec::new("lint"), || 5).unwrap_err().to_string(),
///     "Task \"lint\" is defined twice"
/// );
/// assert_eq!((def.body(install))(), 1);
/// # Ok::<(), legato::graph::GraphError>(())
/// ```
pub struct FlowDef<B> {
    /// The names in declaration order and their index; the graph built from the flow shares
    /// them (copied on write if the flow changes while that graph lives).
    table: Arc<NameTable>,
    bodies: Vec<B>,
    /// The tasks whose description or options are not default, with them (shared with the
    /// graph); every other task has the one default.
    extras: std::collections::BTreeMap<usize, Arc<Extra>>,
    /// The dependencies declared while their task was the last one (as a task is declared
    /// with them, the common case), task by task, each task's in the order declared: a
    /// position, or a pending name (the [`PENDING`] bit). Repeats are dropped when the graph
    /// is built.
    deps: Vec<u32>,
    /// Per task: where its row ends in `deps` (it starts where the one before it ends).
    row_end: Vec<u32>,
    /// The dependencies declared once a later task existed (`follow`, `sync_all`, an `edit`
    /// of an earlier task), in the order declared: they come after the task's row.
    late: Vec<Edge>,
    /// Names depended on before a task of that name was declared.
    pending: Vec<Arc<str>>,
    /// Tasks whose options an [`edit`](FlowDef::edit) left invalid (`add` refuses invalid
    /// ones): the graph refuses the flow while any remains, and no other task's options are
    /// checked again when it is built.
    invalid: std::collections::BTreeSet<usize>,
    /// The validated graph, built at the first use after the last change.
    built: Mutex<Option<Arc<Graph>>>,
}

impl<B> fmt::Debug for FlowDef<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlowDef")
            .field("tasks", &self.len())
            .finish_non_exhaustive()
    }
}

/// A copy of the flow (the built graph is shared, not rebuilt). The Rust door keeps its
/// `FlowDef` in an `Arc` that runs share, and copies it only when the flow changes while a run
/// still holds it.
impl<B: Clone> Clone for FlowDef<B> {
    fn clone(&self) -> Self {
        FlowDef {
            table: self.table.clone(),
            bodies: self.bodies.clone(),
            extras: self.extras.clone(),
            deps: self.deps.clone(),
            row_end: self.row_end.clone(),
            late: self.late.clone(),
            pending: self.pending.clone(),
            invalid: self.invalid.clone(),
            built: Mutex::new(self.built.lock().unwrap_or_else(|p| p.into_inner()).clone()),
        }
    }
}

impl<B> Default for FlowDef<B> {
    fn default() -> Self {
        FlowDef::new()
    }
}

impl<B> FlowDef<B> {
    /// An empty flow.
    pub fn new() -> Self {
        FlowDef {
            table: Arc::default(),
            bodies: Vec::new(),
            extras: Default::default(),
            deps: Vec::new(),
            row_end: Vec::new(),
            late: Vec::new(),
            pending: Vec::new(),
            invalid: Default::default(),
            built: Mutex::new(None),
        }
    }

    /// The number of tasks.
    pub fn len(&self) -> usize {
        self.bodies.len()
    }

    /// Whether there are no tasks.
    pub fn is_empty(&self) -> bool {
        self.bodies.is_empty()
    }

    /// Forgets the built graph: called by every method that can change tasks.
    fn changed(&mut self) {
        *self.built.get_mut().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Adds a task and returns its position (its [`TaskId`] index in
    /// the built graph).
    ///
    /// # Errors
    ///
    /// [`GraphError::DuplicateTask`] if the name is taken, [`GraphError::InvalidName`] if it is
    /// empty or not printable on one line, [`GraphError::InvalidOption`] if the spec's
    /// options are invalid. Nothing is added then.
    pub fn add(&mut self, spec: TaskSpec, body: B) -> Result<usize, GraphError> {
        self.add_after(spec, std::iter::empty(), body)
    }

    /// Adds a task after the tasks named in `after` (besides the spec's own dependencies) and
    /// returns its position: [`add`](FlowDef::add) with `spec.after(after)`, without making a
    /// string per dependency (a dependency on a task of this flow is that task's position).
    /// Names not declared yet are checked when the graph is built; repeats count once there.
    ///
    /// # Errors
    ///
    /// As [`add`](FlowDef::add). Nothing is added then.
    pub fn add_after<'a, I>(
        &mut self,
        spec: TaskSpec,
        after: I,
        body: B,
    ) -> Result<usize, GraphError>
    where
        I: IntoIterator<Item = &'a str>,
    {
        let (name, deps, extra) = spec.into_parts();
        let i = self.add_parts(&name, extra, body)?;
        for d in deps {
            let dep = self.dep_of_shared(d);
            self.push_edge(i, dep);
        }
        for d in after {
            let dep = self.dep_of(d);
            self.push_edge(i, dep);
        }
        Ok(i)
    }

    /// Adds a task of that name without dependencies: [`add`](FlowDef::add) without a
    /// spec (the Rust door's [`Flow::task`](crate::Flow::task): its name is copied into the
    /// flow's names, no shared string is made for it).
    ///
    /// # Errors
    ///
    /// As [`add`](FlowDef::add).
    #[cfg(feature = "tokio")]
    pub(crate) fn add_named(&mut self, name: &str, body: B) -> Result<usize, GraphError> {
        self.add_parts(name, None, body)
    }

    fn add_parts(
        &mut self,
        name: &str,
        extra: Option<Arc<Extra>>,
        body: B,
    ) -> Result<usize, GraphError> {
        crate::graph::validate_name(name)?;
        // The name is hashed once: to look for a duplicate, then to index it.
        let key = NameIndex::key(name);
        if self.table.get_keyed(key, name).is_some() {
            return Err(GraphError::DuplicateTask {
                name: name.to_owned(),
            });
        }
        if !self.table.has_room_for(name) {
            return Err(crate::graph::names_too_long(name));
        }
        if let Some(e) = &extra {
            e.options()
                .validate()
                .map_err(|error| GraphError::InvalidOption {
                    task: name.to_owned(),
                    error,
                })?;
        }
        self.changed();
        let i = self.len();
        unique_mut(&mut self.table).push_keyed(key, name);
        self.bodies.push(body);
        self.row_end.push(self.deps.len() as u32);
        if let Some(e) = extra {
            self.extras.insert(i, e);
        }
        Ok(i)
    }

    /// What a dependency on `name` is stored as: the task's position, or a pending name.
    #[inline]
    fn dep_of(&mut self, name: &str) -> u32 {
        match self.table.get(name) {
            Some(j) => j,
            None => self.pend(Arc::from(name)),
        }
    }

    /// [`dep_of`](FlowDef::dep_of) for a name already shared (kept, not copied, if pending).
    fn dep_of_shared(&mut self, name: Arc<str>) -> u32 {
        match self.table.get(&name) {
            Some(j) => j,
            None => self.pend(name),
        }
    }

    fn pend(&mut self, name: Arc<str>) -> u32 {
        self.pending.push(name);
        (self.pending.len() - 1) as u32 | PENDING
    }

    /// Records that task `task` depends on `dep` (a position or a pending name): in its row
    /// if it is the last task, declared late otherwise.
    #[inline]
    fn push_edge(&mut self, task: usize, dep: u32) {
        if task + 1 == self.len() {
            self.deps.push(dep);
            self.row_end[task] = self.deps.len() as u32;
        } else {
            self.late.push(Edge {
                task: task as u32,
                dep,
            });
        }
    }

    /// The range of task `i`'s row in `deps`.
    #[inline]
    fn row_range(&self, i: usize) -> std::ops::Range<usize> {
        let start = match i {
            0 => 0,
            _ => self.row_end[i - 1] as usize,
        };
        start..self.row_end[i] as usize
    }

    /// The position of the task of that name, if there is one.
    pub fn find(&self, name: &str) -> Option<usize> {
        self.table.get(name).map(|i| i as usize)
    }

    /// The position of the task of that name.
    ///
    /// # Errors
    ///
    /// [`GraphError::UnknownTask`], with a suggestion when a close name exists.
    pub fn position(&self, name: &str) -> Result<usize, GraphError> {
        self.find(name).ok_or_else(|| self.unknown(name))
    }

    /// The positions of these tasks, in order.
    ///
    /// # Errors
    ///
    /// [`GraphError::UnknownTask`] for the first name that is not a task.
    pub fn positions<I, N>(&self, names: I) -> Result<Vec<usize>, GraphError>
    where
        I: IntoIterator<Item = N>,
        N: AsRef<str>,
    {
        names
            .into_iter()
            .map(|n| self.position(n.as_ref()))
            .collect()
    }

    fn unknown(&self, name: &str) -> GraphError {
        GraphError::UnknownTask {
            name: name.to_owned(),
            suggestion: crate::graph::did_you_mean(name, self.names()),
        }
    }

    /// The spec of task `i`: its name, its dependencies by name in the order declared (each
    /// once), its description and options. Made from the flow's columns (the names shared).
    ///
    /// # Panics
    ///
    /// If `i` is not a position this flow gave out.
    pub fn spec(&self, i: usize) -> TaskSpec {
        self.spec_with(i, true)
    }

    fn spec_with(&self, i: usize, with_deps: bool) -> TaskSpec {
        self.check_position(i);
        let deps = if with_deps {
            self.dep_names(i)
        } else {
            thin_vec::ThinVec::new()
        };
        TaskSpec::from_parts(Arc::from(self.name(i)), deps, self.extras.get(&i).cloned())
    }

    /// The dependencies of task `i` by name, in the order declared, each once.
    fn dep_names(&self, i: usize) -> thin_vec::ThinVec<Arc<str>> {
        let mut out: Vec<&str> = Vec::new();
        let mut seen: Option<hashbrown::HashSet<&str, rustc_hash::FxBuildHasher>> = None;
        for dep in self.row(i) {
            let name = self.dep_name(dep);
            let repeat = match &mut seen {
                Some(seen) => !seen.insert(name),
                None if out.len() < SCAN => out.contains(&name),
                None => {
                    let set = seen.insert(out.iter().copied().collect());
                    !set.insert(name)
                }
            };
            if !repeat {
                out.push(name);
            }
        }
        out.into_iter().map(Arc::from).collect()
    }

    /// The name a stored dependency stands for.
    fn dep_name(&self, dep: u32) -> &str {
        if dep & PENDING == 0 {
            self.table.name(dep as usize)
        } else {
            &self.pending[(dep & !PENDING) as usize]
        }
    }

    /// The dependencies of task `i`, in the order declared (repeats included).
    fn row(&self, i: usize) -> impl Iterator<Item = u32> + '_ {
        let t = i as u32;
        let late = self.late.iter().filter(move |e| e.task == t).map(|e| e.dep);
        self.deps[self.row_range(i)].iter().copied().chain(late)
    }

    /// The name of task `i`.
    ///
    /// # Panics
    ///
    /// If `i` is not a position this flow gave out.
    pub fn name(&self, i: usize) -> &str {
        self.table.name(i)
    }

    /// Changes the spec of task `i` (its name stays: the function gets the spec and must
    /// return one with the same name).
    ///
    /// # Errors
    ///
    /// [`GraphError::InvalidOption`] if the new options are invalid. The edit is made all the
    /// same, and the graph refuses the flow with that error until it is fixed, so that an
    /// invalid option is never silently dropped.
    ///
    /// # Panics
    ///
    /// If `i` is not a position this flow gave out, or `f` renames the task.
    pub fn edit(
        &mut self,
        i: usize,
        f: impl FnOnce(TaskSpec) -> TaskSpec,
    ) -> Result<(), GraphError> {
        self.edit_with(i, f, true)
    }

    /// [`edit`](FlowDef::edit) of the description and options only: `f` gets the spec without
    /// its dependencies (so a task after ten thousand others costs no list of names), and
    /// dependencies it adds are added.
    #[cfg(feature = "tokio")]
    pub(crate) fn edit_options(
        &mut self,
        i: usize,
        f: impl FnOnce(TaskSpec) -> TaskSpec,
    ) -> Result<(), GraphError> {
        self.edit_with(i, f, false)
    }

    /// [`edit_options`](FlowDef::edit_options) of the options alone: `f` gets task `i`'s
    /// options and returns its new ones, without a spec made (the Rust door's option setters,
    /// one call each).
    #[cfg(feature = "tokio")]
    pub(crate) fn edit_task_options(
        &mut self,
        i: usize,
        f: impl FnOnce(crate::policy::TaskOptions) -> crate::policy::TaskOptions,
    ) -> Result<(), GraphError> {
        self.check_position(i);
        self.changed();
        let current = self.extras.get(&i).map(|e| &**e);
        let options = f(current.map_or_else(Default::default, |e| e.options().clone()));
        let checked = options.validate();
        let extra = Extra::with_options(current, options);
        if extra.is_default() {
            self.extras.remove(&i);
        } else {
            self.extras.insert(i, Arc::new(extra));
        }
        self.options_checked(i, checked)
    }

    /// Notes whether task `i`'s options, just edited, are valid (the graph refuses the flow
    /// while any is not) and gives the edit's result.
    fn options_checked(
        &mut self,
        i: usize,
        checked: Result<(), crate::policy::OptionError>,
    ) -> Result<(), GraphError> {
        if checked.is_err() {
            self.invalid.insert(i);
        } else {
            self.invalid.remove(&i);
        }
        checked.map_err(|error| GraphError::InvalidOption {
            task: self.name(i).to_owned(),
            error,
        })
    }

    fn edit_with(
        &mut self,
        i: usize,
        f: impl FnOnce(TaskSpec) -> TaskSpec,
        with_deps: bool,
    ) -> Result<(), GraphError> {
        let before = self.spec_with(i, with_deps);
        let old_deps = before.deps().to_vec();
        self.changed();
        let (name, deps, extra) = f(before).into_parts();
        assert_eq!(&*name, self.name(i), "FlowDef::edit must keep the name");
        let checked = extra.as_ref().map_or(Ok(()), |e| e.options().validate());
        match extra {
            Some(e) => self.extras.insert(i, e),
            None => self.extras.remove(&i),
        };
        let same = deps.len() == old_deps.len() && deps.iter().zip(&old_deps).all(|(a, b)| a == b);
        if !same {
            if with_deps {
                // The new list replaces the old one.
                let t = i as u32;
                self.late.retain(|e| e.task != t);
                let row = self.row_range(i);
                let removed = row.len() as u32;
                self.deps.drain(row);
                self.row_end[i..].iter_mut().for_each(|end| *end -= removed);
            }
            for d in deps {
                let dep = self.dep_of_shared(d);
                self.push_edge(i, dep);
            }
        }
        self.options_checked(i, checked)
    }

    /// The body of task `i`.
    ///
    /// # Panics
    ///
    /// If `i` is not a position this flow gave out.
    pub fn body(&self, i: usize) -> &B {
        &self.bodies[i]
    }

    /// The body of task `i`, to change it.
    ///
    /// # Panics
    ///
    /// If `i` is not a position this flow gave out.
    pub fn body_mut(&mut self, i: usize) -> &mut B {
        &mut self.bodies[i]
    }

    /// Every body, in declaration order (the order of task ids in the built graph).
    pub fn bodies(&self) -> impl ExactSizeIterator<Item = &B> + '_ {
        self.bodies.iter()
    }

    /// Every task's name, in declaration order.
    pub fn names(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.table.names()
    }

    /// Makes task `i` depend on `dep` (a name, checked when the graph is built). Repeats are
    /// ignored.
    ///
    /// # Panics
    ///
    /// If `i` is not a position this flow gave out.
    pub fn add_dep(&mut self, i: usize, dep: &str) {
        self.add_deps(i, [dep]);
    }

    /// Makes task `i` depend on every task named in `deps`, in order; repeats — of its
    /// existing dependencies or within `deps` — are ignored (they count once in the graph and
    /// in [`spec`](FlowDef::spec)). The bulk form of [`add_dep`](FlowDef::add_dep).
    ///
    /// A dependency on a task of this flow is stored as that task's position (an integer,
    /// looked up once, now); a name no task has yet is kept as it is and looked up once, when
    /// the graph is built (so a task can depend on one declared later).
    ///
    /// # Examples
    ///
    /// ```
    /// use legato::define::FlowDef;
    /// use legato::graph::TaskSpec;
    ///
    /// let mut def: FlowDef<()> = FlowDef::new();
    /// for n in ["a", "b", "sink"] {
    ///     def.add(TaskSpec::new(n), ())?;
    /// }
    /// def.add_deps(2, ["a", "b", "a"]);
    /// def.add_deps(2, ["b"]);
    /// let deps: Vec<String> = def.spec(2).deps().iter().map(|d| d.to_string()).collect();
    /// assert_eq!(deps, ["a", "b"]);
    /// assert_eq!(def.plan(["sink"])?, vec![vec!["a", "b"], vec!["sink"]]);
    /// # Ok::<(), legato::graph::GraphError>(())
    /// ```
    ///
    /// # Panics
    ///
    /// If `i` is not a position this flow gave out.
    pub fn add_deps<I, N>(&mut self, i: usize, deps: I)
    where
        I: IntoIterator<Item = N>,
        N: AsRef<str>,
    {
        self.edges_of(i);
        for d in deps {
            let dep = self.dep_of(d.as_ref());
            self.push_edge(i, dep);
        }
    }

    /// [`add_deps`](FlowDef::add_deps) with the dependencies given by position, each a
    /// task of this flow: no look-up by name (a door that holds positions, as Node's step
    /// handles do, passes them as they are). Repeats are ignored when the graph is built.
    ///
    /// # Panics
    ///
    /// If `i` or a dependency is not a position of this flow.
    pub fn add_dep_positions<I>(&mut self, i: usize, deps: I)
    where
        I: IntoIterator<Item = usize>,
    {
        self.edges_of(i);
        for d in deps {
            self.check_position(d);
            self.push_edge(i, d as u32);
        }
    }

    /// Before edges of task `i` are pushed: `i` checked, the built graph dropped.
    fn edges_of(&mut self, i: usize) {
        self.check_position(i);
        self.changed();
    }

    fn check_position(&self, i: usize) {
        assert!(
            i < self.len(),
            "{i} is not a position of this flow ({} tasks)",
            self.len()
        );
    }

    /// LightFlow's `Follow`: each task of `chain` after the one before it.
    ///
    /// # Panics
    ///
    /// If a position was not given out by this flow.
    pub fn follow(&mut self, chain: &[usize]) {
        chain.iter().for_each(|&i| self.check_position(i));
        self.changed();
        for w in chain.windows(2) {
            self.push_edge(w[1], w[0] as u32);
        }
    }

    /// Every task of `members` after every task named in `deps` (LightFlow's
    /// `Parallel(...).After(...)`; for `Follow(...).After(...)` pass the chain's first task).
    ///
    /// # Panics
    ///
    /// If a position was not given out by this flow.
    pub fn after<I, N>(&mut self, members: &[usize], deps: I)
    where
        I: IntoIterator<Item = N>,
        N: AsRef<str>,
    {
        members.iter().for_each(|&i| self.check_position(i));
        self.changed();
        // Each name looked up once, for every member.
        let deps: Vec<u32> = deps.into_iter().map(|d| self.dep_of(d.as_ref())).collect();
        for &m in members {
            for &d in &deps {
                self.push_edge(m, d);
            }
        }
    }

    /// LightFlow's `SyncAll`: task `i` after every task declared before it.
    ///
    /// # Panics
    ///
    /// If `i` is not a position this flow gave out.
    pub fn sync_all(&mut self, i: usize) {
        self.check_position(i);
        self.changed();
        for j in 0..i {
            self.push_edge(i, j as u32);
        }
    }

    /// The validated graph (task ids are positions). It is built once and kept until the flow
    /// changes.
    ///
    /// # Errors
    ///
    /// [`GraphError`] for a missing dependency or a cycle.
    pub fn graph(&self) -> Result<Arc<Graph>, GraphError> {
        let mut built = self.built.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(g) = &*built {
            return Ok(g.clone());
        }
        let g = Arc::new(self.build()?);
        *built = Some(g.clone());
        Ok(g)
    }

    /// Builds the graph: the same checks, in the same order, as
    /// [`GraphBuilder`](crate::graph::GraphBuilder) (names, then options, task by task; then
    /// dependencies in declaration order; then cycles), from the positions the flow stored as
    /// dependencies were declared: only names that were not tasks then are looked up, once
    /// each, and the graph shares the flow's names, their index and its options.
    fn build(&self) -> Result<Graph, GraphError> {
        self.check_names_and_options()?;
        let n = self.len();
        // Each pending name looked up once: its task, or `u32::MAX`.
        let resolved: Vec<u32> = self
            .pending
            .iter()
            .map(|p| self.table.get(p).unwrap_or(u32::MAX))
            .collect();
        // Dependencies declared late, in task order, each task's in the order declared (a
        // stable sort); usually none.
        let mut late = self.late.clone();
        late.sort_by_key(|e| e.task);
        let mut dep_start = Vec::with_capacity(n + 1);
        let mut deps: Vec<TaskId> = Vec::with_capacity(self.deps.len() + late.len());
        // For rows longer than `SCAN`: per task, 1 + the last task that listed it.
        let mut listed_by: Vec<u32> = Vec::new();
        let mut at = 0;
        for t in 0..n {
            let row = deps.len();
            dep_start.push(row as u32);
            let from = at;
            while at < late.len() && late[at].task == t as u32 {
                at += 1;
            }
            let declared = &self.deps[self.row_range(t)];
            let long = declared.len() + (at - from) > SCAN;
            if long && listed_by.is_empty() {
                listed_by = vec![0; n];
            }
            for dep in declared
                .iter()
                .copied()
                .chain(late[from..at].iter().map(|e| e.dep))
            {
                let j = if dep & PENDING == 0 {
                    dep
                } else {
                    let k = (dep & !PENDING) as usize;
                    let j = resolved[k];
                    if j == u32::MAX {
                        let d = &self.pending[k];
                        return Err(GraphError::MissingDependency {
                            task: self.name(t).to_owned(),
                            dependency: d.to_string(),
                            suggestion: crate::graph::did_you_mean(d, self.names()),
                        });
                    }
                    j
                };
                if long {
                    if listed_by[j as usize] == t as u32 + 1 {
                        continue;
                    }
                    listed_by[j as usize] = t as u32 + 1;
                } else if deps[row..].contains(&TaskId(j)) {
                    continue;
                }
                deps.push(TaskId(j));
            }
        }
        dep_start.push(deps.len() as u32);
        drop(listed_by);
        let mut extras = Vec::new();
        if !self.extras.is_empty() {
            extras.resize(n, None);
            for (&t, e) in &self.extras {
                extras[t] = Some(e.clone());
            }
        }
        Graph::assemble(self.table.clone(), dep_start, deps, extras)
    }

    /// The first invalid name among the dependencies not declared when they were added, or
    /// invalid options left by an [`edit`](FlowDef::edit): task by task, a task's names before
    /// its options, as [`GraphBuilder::add`](crate::graph::GraphBuilder::add) checks them.
    fn check_names_and_options(&self) -> Result<(), GraphError> {
        // (task, pending name) of the first invalid name, in task then declaration order.
        let mut bad: Option<(u32, usize)> = None;
        if !self.pending.is_empty() {
            let invalid: Vec<bool> = self
                .pending
                .iter()
                .map(|p| crate::graph::validate_name(p).is_err())
                .collect();
            if invalid.contains(&true) {
                // Rows first (a task's row was declared before its late dependencies).
                let rows = (0..self.len()).flat_map(|t| {
                    self.deps[self.row_range(t)]
                        .iter()
                        .map(move |&dep| (t as u32, dep))
                });
                let late = self.late.iter().map(|e| (e.task, e.dep));
                for (task, dep) in rows.chain(late) {
                    if dep & PENDING != 0
                        && invalid[(dep & !PENDING) as usize]
                        && bad.is_none_or(|(t, _)| task < t)
                    {
                        bad = Some((task, (dep & !PENDING) as usize));
                    }
                }
            }
        }
        let option = self.invalid.first().copied();
        if let Some((t, k)) = bad {
            if option.is_none_or(|o| t as usize <= o) {
                return crate::graph::validate_name(&self.pending[k]);
            }
        }
        if let Some(t) = option {
            if let Some(e) = self.extras.get(&t) {
                e.options()
                    .validate()
                    .map_err(|error| GraphError::InvalidOption {
                        task: self.name(t).to_owned(),
                        error,
                    })?;
            }
        }
        Ok(())
    }

    /// The graph and the selection of these targets and their transitive dependencies (every
    /// task when `targets` is empty): what a run schedules.
    ///
    /// # Errors
    ///
    /// [`GraphError`] for an invalid graph or an unknown target.
    pub fn select<I, N>(&self, targets: I) -> Result<(Arc<Graph>, Selection), GraphError>
    where
        I: IntoIterator<Item = N>,
        N: AsRef<str>,
    {
        let g = self.graph()?;
        let sel = g.select(targets)?;
        Ok((g, sel))
    }

    /// The dry run for these targets (every task when empty): the levels that would run, in
    /// order, each in declaration order.
    ///
    /// # Errors
    ///
    /// [`GraphError`] for an invalid graph or an unknown target.
    pub fn plan<I, N>(&self, targets: I) -> Result<Vec<Vec<String>>, GraphError>
    where
        I: IntoIterator<Item = N>,
        N: AsRef<str>,
    {
        let (g, sel) = self.select(targets)?;
        Ok(g.plan(&sel)
            .names(&g)
            .into_iter()
            .map(|l| l.into_iter().map(String::from).collect())
            .collect())
    }

    /// Draws the whole flow (see [`Format`]).
    ///
    /// # Errors
    ///
    /// [`GraphError`] for an invalid graph.
    pub fn render(&self, format: Format) -> Result<String, GraphError> {
        let g = self.graph()?;
        Ok(g.render(format, &g.all()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_mut_writes_in_place_when_alone_and_copies_when_shared() {
        let mut a = Arc::new(vec![1]);
        let at = Arc::as_ptr(&a);
        unique_mut(&mut a).push(2);
        assert_eq!((Arc::as_ptr(&a), &a[..]), (at, &[1, 2][..]));
        let b = a.clone();
        unique_mut(&mut a).push(3);
        assert_eq!((&a[..], &b[..]), (&[1, 2, 3][..], &[1, 2][..]));
        assert_ne!(Arc::as_ptr(&a), Arc::as_ptr(&b));
        drop(b);
        let at = Arc::as_ptr(&a);
        unique_mut(&mut a).push(4);
        assert_eq!((Arc::as_ptr(&a), a.len()), (at, 4));
    }
    use std::time::Duration;

    #[test]
    fn follow_chains_and_graph_is_cached_until_a_change() {
        let mut def: FlowDef<()> = FlowDef::new();
        let a = def.add(TaskSpec::new("a"), ()).unwrap();
        let b = def.add(TaskSpec::new("b"), ()).unwrap();
        let c = def.add(TaskSpec::new("c"), ()).unwrap();
        def.follow(&[c, b, a]);
        let g1 = def.graph().unwrap();
        assert!(Arc::ptr_eq(&g1, &def.graph().unwrap()));
        assert_eq!(
            def.plan(["a"]).unwrap(),
            vec![vec!["c"], vec!["b"], vec!["a"]]
        );
        def.add_dep(c, "b");
        assert_eq!(
            def.graph().unwrap_err().to_string(),
            "Circular dependency detected: b → c → b"
        );
    }

    #[test]
    fn add_deps_keeps_order_and_drops_repeats_small_and_large() {
        let mut def: FlowDef<()> = FlowDef::new();
        let n = 40;
        for k in 0..n {
            def.add(TaskSpec::new(format!("t{k}")), ()).unwrap();
        }
        let sink = def.add(TaskSpec::new("sink"), ()).unwrap();
        def.add_dep(sink, "t3");
        let names: Vec<String> = (0..n).rev().map(|k| format!("t{k}")).collect();
        def.add_deps(sink, names.iter().chain(names.iter()));
        let want: Vec<String> = std::iter::once("t3".to_owned())
            .chain(names.iter().filter(|n| *n != "t3").cloned())
            .collect();
        let spec = def.spec(sink);
        let got: Vec<&str> = spec.deps().iter().map(|d| &**d).collect();
        assert_eq!(got, want);
        def.add_deps(sink, ["nope", "t0", "nope"]);
        assert_eq!(def.spec(sink).deps().len(), n + 1);
        assert_eq!(
            def.graph().unwrap_err().kind(),
            "missing_dependency",
            "the graph was rebuilt after the change"
        );
    }

    #[test]
    fn add_after_resolves_known_steps_and_keeps_the_others_pending() {
        let mut def: FlowDef<()> = FlowDef::new();
        let a = def.add(TaskSpec::new("a"), ()).unwrap();
        assert_eq!(def.find("a"), Some(a));
        let b = def
            .add_after(TaskSpec::new("b").after(["a"]), ["a", "later", "b"], ())
            .unwrap();
        let spec = def.spec(b);
        let deps: Vec<&str> = spec.deps().iter().map(|d| &**d).collect();
        // Repeats count once, as in the graph.
        assert_eq!(deps, ["a", "later", "b"]);
        assert_eq!(
            def.add_after(TaskSpec::new("a"), ["b"], ())
                .unwrap_err()
                .to_string(),
            "Task \"a\" is defined twice"
        );
        assert_eq!(def.len(), 2);
        assert_eq!(def.graph().unwrap_err().kind(), "missing_dependency");
        def.add(TaskSpec::new("later"), ()).unwrap();
        assert_eq!(def.graph().unwrap_err().kind(), "cycle");
    }

    use proptest::prelude::*;

    proptest! {
        /// A flow builds the same graph, or fails with the same error, as a `GraphBuilder`
        /// given the same specs: random names (some missing, some invalid), repeated and
        /// backward or forward dependencies, options (some invalid), cycles; some dependencies
        /// added after every task, last task first (through `add_deps`, `edit` or `after`), so
        /// that the flow's rows come out of task order.
        #[test]
        fn a_flow_builds_what_a_graph_builder_builds(
            tasks in proptest::collection::vec(
                (
                    proptest::collection::vec(0usize..12, 0..5),
                    0u32..3,
                    proptest::bool::ANY,
                    proptest::collection::vec(0usize..12, 0..3),
                    0u8..3,
                ),
                1..10,
            ),
            bad_name in proptest::option::of(0usize..12),
            bad_option in proptest::option::of(0usize..10),
        ) {
            let name = |k: usize| match bad_name {
                Some(b) if b == k => "bad\nname".to_owned(),
                _ => format!("t{k}"),
            };
            let mut def: FlowDef<()> = FlowDef::new();
            let mut b = crate::graph::GraphBuilder::new();
            // The builder refuses a bad name when the task is added; the flow when it builds.
            let mut refused = None;
            for (i, (deps, retries, timeout, later, _)) in tasks.iter().enumerate() {
                let mut spec = TaskSpec::new(format!("t{i}"))
                    .after(deps.iter().map(|&d| name(d)))
                    .retries(*retries);
                if *timeout {
                    spec = spec.timeout(Duration::from_millis(5));
                }
                def.add(spec.clone(), ()).unwrap();
                let mut spec = spec.after(later.iter().map(|&d| name(d)));
                if bad_option == Some(i) {
                    spec = spec.timeout(Duration::ZERO);
                }
                if refused.is_none() {
                    refused = b.add(spec).err();
                }
            }
            for (i, (deps, _, _, later, via)) in tasks.iter().enumerate().rev() {
                let later: Vec<String> = later.iter().map(|&d| name(d)).collect();
                match via {
                    0 => def.add_deps(i, &later),
                    1 => def.edit(i, |s| s.after(later.iter().cloned())).unwrap(),
                    _ => def.after(&[i], &later),
                }
                if bad_option == Some(i) {
                    let e = def.edit(i, |s| s.timeout(Duration::ZERO)).unwrap_err();
                    prop_assert_eq!(e.kind(), "invalid_option");
                }
                // The spec of the task: its dependencies in order, each once.
                let mut want: Vec<String> = Vec::new();
                for d in deps.iter().chain(tasks[i].3.iter()).map(|&d| name(d)) {
                    if !want.contains(&d) {
                        want.push(d);
                    }
                }
                let spec = def.spec(i);
                let got: Vec<&str> = spec.deps().iter().map(|d| &**d).collect();
                prop_assert_eq!(got, want.iter().map(String::as_str).collect::<Vec<_>>());
            }
            let built = match refused {
                Some(e) => Err(e),
                None => b.build(),
            };
            match (def.graph(), built) {
                (Ok(g), Ok(h)) => {
                    prop_assert_eq!(g.len(), h.len());
                    for id in h.ids() {
                        prop_assert_eq!(g.name(id), h.name(id));
                        prop_assert_eq!(g.deps(id), h.deps(id));
                        prop_assert_eq!(g.dependents(id), h.dependents(id));
                        prop_assert_eq!(g.level(id), h.level(id));
                        prop_assert_eq!(g.options(id), h.options(id));
                        prop_assert_eq!(g.get(h.name(id)), Some(id));
                    }
                    prop_assert_eq!(g.get("nope"), None);
                }
                (g, h) => prop_assert_eq!(
                    g.map(|_| ()).map_err(|e| e.to_string()),
                    h.map(|_| ()).map_err(|e| e.to_string())
                ),
            }
        }
    }

    /// Names short and long (a slot holds up to 15 bytes, longer ones are kept apart), ASCII
    /// or not, come back as given, and each is found by its name only.
    #[test]
    fn dependencies_by_position_build_what_dependencies_by_name_build() {
        let declare = |by_position: bool| {
            let mut def: FlowDef<()> = FlowDef::new();
            for n in ["a", "b", "c", "d"] {
                def.add(TaskSpec::new(n), ()).unwrap();
            }
            if by_position {
                def.add_dep_positions(3, [2, 0, 2]);
                def.add_dep_positions(1, [0]);
            } else {
                def.add_deps(3, ["c", "a", "c"]);
                def.add_deps(1, ["a"]);
            }
            let g = def.graph().unwrap();
            let deps = |i: usize| g.deps(g.ids().nth(i).unwrap()).to_vec();
            (deps(1), deps(3), def.plan(Vec::<String>::new()).unwrap())
        };
        assert_eq!(declare(true), declare(false));
        let (_, d, plan) = declare(true);
        assert_eq!(d.len(), 2, "a repeat counts once");
        assert_eq!(plan, vec![vec!["a", "c"], vec!["b", "d"]]);
    }

    #[test]
    fn names_of_every_length_are_kept_and_found() {
        let mut def: FlowDef<()> = FlowDef::new();
        let mut names = Vec::new();
        for len in 1..40 {
            names.push("x".repeat(len));
            names.push(format!("{}ü", "y".repeat(len)));
        }
        for (i, n) in names.iter().enumerate() {
            let deps = names[..i].iter().rev().take(2).map(String::as_str);
            assert_eq!(
                def.add_after(TaskSpec::new(n.as_str()), deps, ()).unwrap(),
                i
            );
        }
        let g = def.graph().unwrap();
        for (i, n) in names.iter().enumerate() {
            assert_eq!((def.name(i), def.find(n)), (n.as_str(), Some(i)));
            let id = g.get(n).unwrap();
            assert_eq!((id.index(), g.name(id)), (i, n.as_str()));
            assert_eq!(&*g.name_arc(id), n.as_str());
        }
        assert_eq!(def.names().collect::<Vec<_>>(), names);
        for missing in [
            "x".repeat(40),
            "y".repeat(15),
            "x".repeat(15) + "y",
            String::new(),
        ] {
            assert_eq!(def.find(&missing), None);
        }
        assert_eq!(g.edge_count(), 2 * names.len() - 3);
    }

    /// A chain of a million tasks, each after the next one (every dependency a forward
    /// reference, looked up when the graph is built, and the levels found by Kahn's
    /// algorithm), is built and validated without a deep stack (a test thread has 2 MiB), and
    /// a cycle through all of it is found.
    #[test]
    fn a_chain_of_a_million_forward_references_builds_and_its_cycle_is_found() {
        let n = 1_000_000;
        let mut def: FlowDef<()> = FlowDef::new();
        for i in 0..n {
            let next = format!("t{}", i + 1);
            let after = (i + 1 < n).then_some(next.as_str());
            def.add_after(TaskSpec::new(format!("t{i}")), after, ())
                .unwrap();
        }
        let g = def.graph().unwrap();
        assert_eq!((g.len(), g.edge_count()), (n, n - 1));
        let first = g.get("t0").unwrap();
        assert_eq!(g.level(first), n as u32 - 1);
        assert_eq!(g.deps(first), [g.get("t1").unwrap()]);
        def.add_dep(n - 1, "t0");
        let e = def.graph().unwrap_err();
        let GraphError::Cycle { path } = e else {
            panic!("not a cycle: {e}")
        };
        let t0 = "t0".to_owned();
        assert_eq!(
            (path.len(), path.first(), path.last()),
            (n + 1, Some(&t0), Some(&t0))
        );
        assert_eq!(path[n - 1], format!("t{}", n - 1));
    }

    fn legato_opts(retries: u32) -> crate::policy::TaskOptions {
        crate::policy::TaskOptions::default().retries(retries)
    }

    #[test]
    fn errors_name_what_is_wrong() {
        let mut def: FlowDef<()> = FlowDef::new();
        def.add(TaskSpec::new("build-app"), ()).unwrap();
        assert_eq!(
            def.position("biuld-app").unwrap_err().to_string(),
            "Task \"biuld-app\" not found (did you mean \"build-app\"?)"
        );
        assert!(matches!(
            def.add(TaskSpec::new(""), ()),
            Err(GraphError::InvalidName { .. })
        ));
        let e = def
            .add(TaskSpec::new("t").timeout(Duration::ZERO), ())
            .unwrap_err();
        assert_eq!(e.kind(), "invalid_option");
        assert_eq!(
            e.to_string(),
            "Task \"t\": timeout must be greater than zero"
        );
        assert_eq!(def.len(), 1);
        let i = def.position("build-app").unwrap();
        assert!(def.edit(i, |s| s.retries(u32::MAX)).is_err());
        assert_eq!(def.graph().unwrap_err().kind(), "invalid_option");
        def.edit(i, |s| s.options(legato_opts(2))).unwrap();
        assert_eq!(def.spec(i).get_options().retries, 2);
        def.add_dep(i, "nope");
        assert_eq!(
            def.plan(std::iter::empty::<&str>()).unwrap_err().kind(),
            "missing_dependency"
        );
    }
}
