//! One way to declare a flow, for every front door: [`FlowDef`].
//!
//! A flow is tasks with names, dependencies (by name, or on a sync point: a group of tasks),
//! options and bodies. Everything about it but the bodies is the same in every host — names and
//! their one validation, LightFlow's `follow` / `parallel` / `sync_all`, the validated graph,
//! plans and drawings — so it lives here, generic over the body type `B`: the Rust door's
//! [`Flow`](crate::Flow) uses it with tokio futures, the Python package with Python callables,
//! the Node package with JavaScript functions. Each brings only its bodies and its driver.

use crate::graph::{Graph, GraphError, NameIndex, Selection, TaskSpec};
use crate::render::Format;
use std::fmt;
use std::sync::{Arc, Mutex};

#[derive(Clone)]
struct Entry<B> {
    spec: TaskSpec,
    body: B,
}

/// A declared flow: tasks (specs and bodies of type `B`) in declaration order.
///
/// Names are checked as tasks are added (a duplicate or invalid name is refused at once);
/// what depends on the whole flow — missing dependencies, cycles, unknown targets — when the
/// graph is built for a plan, a drawing or a run. The validated graph is kept until the flow
/// changes, so running a flow again costs no rebuilding.
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
    entries: Vec<Entry<B>>,
    /// Name → position in `entries`; the graph built from the flow shares it (copied on
    /// write if the flow changes while that graph lives).
    index: Arc<NameIndex>,
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
            .field("tasks", &self.entries.len())
            .finish_non_exhaustive()
    }
}

/// A copy of the flow (the built graph is shared, not rebuilt). The Rust door keeps its
/// `FlowDef` in an `Arc` that runs share, and copies it only when the flow changes while a run
/// still holds it.
impl<B: Clone> Clone for FlowDef<B> {
    fn clone(&self) -> Self {
        FlowDef {
            entries: self.entries.clone(),
            index: self.index.clone(),
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
            entries: Vec::new(),
            index: Arc::default(),
            invalid: Default::default(),
            built: Mutex::new(None),
        }
    }

    /// The number of tasks.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no tasks.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Forgets the built graph: called by every method that can change tasks.
    fn changed(&mut self) {
        *self.built.get_mut().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Adds a task and returns its position (its [`TaskId`](crate::graph::TaskId) index in
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
    /// string per dependency (a dependency on a task of this flow shares that task's name).
    /// Names are checked when the graph is built; repeats count once there.
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
        crate::graph::validate_name(spec.name())?;
        // The name is hashed once: to look for a duplicate, then to index it.
        let hash = NameIndex::hash(spec.name());
        if self.find_hashed(hash, spec.name()).is_some() {
            return Err(GraphError::DuplicateTask {
                name: spec.name().to_owned(),
            });
        }
        spec.get_options()
            .validate()
            .map_err(|error| GraphError::InvalidOption {
                task: spec.name().to_owned(),
                error,
            })?;
        self.changed();
        let i = self.entries.len();
        let mut spec = spec;
        // Dependencies on tasks of this flow share those tasks' names.
        let shared =
            |def: &Self, d: &str| def.find(d).map(|j| def.entries[j].spec.name_arc().clone());
        if !spec.deps().is_empty() {
            for d in spec.take_deps() {
                let d = shared(self, &d).unwrap_or(d);
                spec.push_dep(d);
            }
        }
        for d in after {
            let d = shared(self, d).unwrap_or_else(|| Arc::from(d));
            spec.push_dep(d);
        }
        self.entries.push(Entry { spec, body });
        let entries = &self.entries;
        Arc::make_mut(&mut self.index)
            .insert_hashed(hash, i as u32, |j| entries[j as usize].spec.name());
        Ok(i)
    }

    fn find_hashed(&self, hash: u64, name: &str) -> Option<usize> {
        self.index
            .get_hashed(hash, name, |i| self.entries[i as usize].spec.name())
            .map(|i| i as usize)
    }

    /// The position of the task of that name, if there is one.
    pub fn find(&self, name: &str) -> Option<usize> {
        self.index
            .get(name, |i| self.entries[i as usize].spec.name())
            .map(|i| i as usize)
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
            suggestion: crate::graph::did_you_mean(
                name,
                self.entries.iter().map(|e| e.spec.name()),
            ),
        }
    }

    /// The spec of task `i`.
    ///
    /// # Panics
    ///
    /// If `i` is not a position this flow gave out.
    pub fn spec(&self, i: usize) -> &TaskSpec {
        &self.entries[i].spec
    }

    /// The name of task `i`.
    ///
    /// # Panics
    ///
    /// If `i` is not a position this flow gave out.
    pub fn name(&self, i: usize) -> &str {
        self.entries[i].spec.name()
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
        self.changed();
        let e = &mut self.entries[i];
        let name = e.spec.name().to_owned();
        e.spec = f(std::mem::replace(&mut e.spec, TaskSpec::new("")));
        assert_eq!(e.spec.name(), name, "FlowDef::edit must keep the name");
        let checked = e.spec.get_options().validate();
        if checked.is_err() {
            self.invalid.insert(i);
        } else {
            self.invalid.remove(&i);
        }
        checked.map_err(|error| GraphError::InvalidOption { task: name, error })
    }

    /// The body of task `i`.
    ///
    /// # Panics
    ///
    /// If `i` is not a position this flow gave out.
    pub fn body(&self, i: usize) -> &B {
        &self.entries[i].body
    }

    /// The body of task `i`, to change it.
    ///
    /// # Panics
    ///
    /// If `i` is not a position this flow gave out.
    pub fn body_mut(&mut self, i: usize) -> &mut B {
        &mut self.entries[i].body
    }

    /// Every body, in declaration order (the order of task ids in the built graph).
    pub fn bodies(&self) -> impl ExactSizeIterator<Item = &B> + '_ {
        self.entries.iter().map(|e| &e.body)
    }

    /// Every task's name, in declaration order.
    pub fn names(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.entries.iter().map(|e| e.spec.name())
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

    /// Makes task `i` depend on every task named in `deps` (names checked when the graph is
    /// built), in order; repeats — of its existing dependencies or within `deps` — are
    /// ignored. The bulk form of [`add_dep`](FlowDef::add_dep): a host that hands over many
    /// dependencies at once (a sink after ten thousand tasks) pays for a hash set, not a
    /// scan per dependency.
    ///
    /// A dependency on a task of this flow is stored as that task's own name (a shared
    /// string): a sink after a million tasks costs 16 bytes per dependency, not a string each.
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
    /// let deps: Vec<&str> = def.spec(2).deps().iter().map(|d| &**d).collect();
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
        /// Up to this many dependencies, repeats are found by a scan (nearly every task).
        const SCAN: usize = 16;
        self.changed();
        // Past `SCAN`: the dependencies so far, by name.
        let mut seen: Option<hashbrown::HashSet<Arc<str>, rustc_hash::FxBuildHasher>> = None;
        for dep in deps {
            let dep = dep.as_ref();
            let have = self.entries[i].spec.deps();
            let repeat = match &mut seen {
                Some(seen) => seen.contains(dep),
                None if have.len() < SCAN => have.iter().any(|d| &**d == dep),
                None => {
                    let set = seen.insert(have.iter().cloned().collect());
                    set.contains(dep)
                }
            };
            if repeat {
                continue;
            }
            let shared = match self.find(dep) {
                Some(j) => self.entries[j].spec.name_arc().clone(),
                None => Arc::from(dep),
            };
            if let Some(seen) = &mut seen {
                seen.insert(shared.clone());
            }
            self.entries[i].spec.push_dep(shared);
        }
    }

    /// LightFlow's `Follow`: each task of `chain` after the one before it.
    ///
    /// # Panics
    ///
    /// If a position was not given out by this flow.
    pub fn follow(&mut self, chain: &[usize]) {
        for w in chain.windows(2) {
            let prev = self.entries[w[0]].spec.name_arc().clone();
            self.add_deps(w[1], [prev]);
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
        let deps: Vec<Arc<str>> = deps.into_iter().map(|d| Arc::from(d.as_ref())).collect();
        for &m in members {
            self.add_deps(m, &deps);
        }
    }

    /// LightFlow's `SyncAll`: task `i` after every task declared before it.
    ///
    /// # Panics
    ///
    /// If `i` is not a position this flow gave out.
    pub fn sync_all(&mut self, i: usize) {
        let before: Vec<Arc<str>> = self.entries[..i]
            .iter()
            .map(|e| e.spec.name_arc().clone())
            .collect();
        self.add_deps(i, before);
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
    /// dependencies in declaration order; then cycles), but from positions this flow already
    /// knows, sharing its names and its name index rather than hashing every name again.
    fn build(&self) -> Result<Graph, GraphError> {
        for (t, e) in self.entries.iter().enumerate() {
            for d in e.spec.deps() {
                crate::graph::validate_name(d)?;
            }
            if self.invalid.contains(&t) {
                e.spec
                    .get_options()
                    .validate()
                    .map_err(|error| GraphError::InvalidOption {
                        task: e.spec.name().to_owned(),
                        error,
                    })?;
            }
        }
        let n = self.entries.len();
        let edges = self.entries.iter().map(|e| e.spec.deps().len()).sum();
        let mut dep_start = Vec::with_capacity(n + 1);
        let mut deps = Vec::with_capacity(edges);
        // Per task: 1 + the last task that listed it (repeats count once).
        let mut listed_by = vec![0u32; n];
        for (t, e) in self.entries.iter().enumerate() {
            dep_start.push(deps.len() as u32);
            for d in e.spec.deps() {
                let Some(j) = self.find(d) else {
                    return Err(GraphError::MissingDependency {
                        task: e.spec.name().to_owned(),
                        dependency: d.to_string(),
                        suggestion: crate::graph::did_you_mean(d, self.names()),
                    });
                };
                if listed_by[j] != t as u32 + 1 {
                    listed_by[j] = t as u32 + 1;
                    deps.push(crate::graph::TaskId(j as u32));
                }
            }
        }
        dep_start.push(deps.len() as u32);
        drop(listed_by);
        Graph::assemble(
            self.entries
                .iter()
                .map(|e| e.spec.name_arc().clone())
                .collect(),
            self.index.clone(),
            dep_start,
            deps,
            self.entries.iter().map(|e| e.spec.graph_extra()).collect(),
        )
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
        let got: Vec<&str> = def.spec(sink).deps().iter().map(|d| &**d).collect();
        assert_eq!(got, want);
        // A dependency on a task of the flow is that task's own name, not a copy.
        let t3 = def.position("t3").unwrap();
        assert!(Arc::ptr_eq(
            &def.spec(sink).deps()[0],
            def.spec(t3).name_arc()
        ));
        def.add_deps(sink, ["nope", "t0", "nope"]);
        assert_eq!(def.spec(sink).deps().len(), n + 1);
        assert_eq!(
            def.graph().unwrap_err().kind(),
            "missing_dependency",
            "the graph was rebuilt after the change"
        );
    }

    #[test]
    fn add_after_shares_the_names_of_known_steps() {
        let mut def: FlowDef<()> = FlowDef::new();
        let a = def.add(TaskSpec::new("a"), ()).unwrap();
        let b = def
            .add_after(TaskSpec::new("b").after(["a"]), ["a", "later", "b"], ())
            .unwrap();
        let deps: Vec<&str> = def.spec(b).deps().iter().map(|d| &**d).collect();
        assert_eq!(deps, ["a", "a", "later", "b"]);
        assert!(Arc::ptr_eq(&def.spec(b).deps()[0], def.spec(a).name_arc()));
        assert!(Arc::ptr_eq(&def.spec(b).deps()[1], def.spec(a).name_arc()));
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
        /// backward or forward dependencies, options, cycles.
        #[test]
        fn a_flow_builds_what_a_graph_builder_builds(
            tasks in proptest::collection::vec(
                (proptest::collection::vec(0usize..12, 0..5), 0u32..3, proptest::bool::ANY),
                1..10,
            ),
            bad_name in proptest::option::of(0usize..12),
        ) {
            let name = |k: usize| match bad_name {
                Some(b) if b == k => "bad\nname".to_owned(),
                _ => format!("t{k}"),
            };
            let mut def: FlowDef<()> = FlowDef::new();
            let mut b = crate::graph::GraphBuilder::new();
            // The builder refuses a bad name when the task is added; the flow when it builds.
            let mut refused = None;
            for (i, (deps, retries, timeout)) in tasks.iter().enumerate() {
                let mut spec = TaskSpec::new(format!("t{i}"))
                    .after(deps.iter().map(|&d| name(d)))
                    .retries(*retries);
                if *timeout {
                    spec = spec.timeout(Duration::from_millis(5));
                }
                def.add(spec.clone(), ()).unwrap();
                if refused.is_none() {
                    refused = b.add(spec).err();
                }
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
