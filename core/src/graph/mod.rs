//! The task graph: task specs, building and validation, selections and plans.
//!
//! A [`GraphBuilder`] collects [`TaskSpec`]s (duplicates and bad names are refused as they are
//! added), then [`GraphBuilder::build`] resolves dependencies by name and checks the whole graph
//! (missing dependencies, cycles). A [`Graph`] is immutable: it stores adjacency in both
//! directions as compact arrays, and each task's level (the length of the longest dependency
//! chain above it), so plans of any selection come out in linear time.
//!
//! # Examples
//!
//! ```
//! use legato::graph::{GraphBuilder, TaskSpec};
//!
//! let mut b = GraphBuilder::new();
//! b.add(TaskSpec::new("install"))?;
//! b.add(TaskSpec::new("lint").after(["install"]))?;
//! b.add(TaskSpec::new("build").after(["install"]))?;
//! b.add(TaskSpec::new("deploy").after(["lint", "build"]))?;
//! let graph = b.build()?;
//!
//! let plan = graph.plan(&graph.select(["build"])?);
//! assert_eq!(plan.names(&graph), vec![vec!["install"], vec!["build"]]);
//! assert_eq!(graph.plan(&graph.all()).names(&graph), vec![
//!     vec!["install"], vec!["lint", "build"], vec!["deploy"],
//! ]);
//! # Ok::<(), legato::graph::GraphError>(())
//! ```

mod error;

pub(crate) use error::did_you_mean;
pub use error::{validate_name, GraphError};

use crate::policy::TaskOptions;
use std::collections::HashMap as StdHashMap;
use std::sync::{Arc, OnceLock};

/// The index of a task in its graph, in declaration order (the first task added is 0); in a
/// run, dynamic tasks follow the graph's.
///
/// Only the core makes one: a driver gets ids from the graph or the scheduler, and an id that
/// crossed a foreign-function boundary as a number comes back through
/// [`Scheduler::task_id`](crate::scheduler::Scheduler::task_id), which refuses one the run does
/// not know, so a wrong id is an error, never an out-of-bounds panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskId(pub(crate) u32);

impl TaskId {
    /// The id of no task in any run: every input of a
    /// [`Scheduler`](crate::scheduler::Scheduler) refuses it
    /// ([`ProtocolError::UnknownTask`](crate::scheduler::ProtocolError::UnknownTask)) and
    /// every query reads it as a task the run does not know. A driver's fallback when a
    /// number it got back names no task ([`Scheduler::task_id`](crate::scheduler::Scheduler::task_id)
    /// gave `None`).
    ///
    /// # Examples
    ///
    /// ```
    /// use legato::event::Status;
    /// use legato::graph::{GraphBuilder, TaskId};
    /// use legato::scheduler::{RunOptions, Scheduler};
    /// use std::sync::Arc;
    ///
    /// let graph = Arc::new(GraphBuilder::new().build()?);
    /// use std::time::Duration;
    ///
    /// let mut s: Scheduler<()> = Scheduler::new(graph.clone(), &graph.all(), RunOptions::default())?;
    /// let id = s.task_id(7).unwrap_or(TaskId::NONE);
    /// assert_eq!((s.name(id), s.status(id), s.attempt(id)), ("", Status::Pending, 0));
    /// assert!(s.cancel_task(id, Duration::ZERO).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub const NONE: TaskId = TaskId(u32::MAX);

    /// The index as a `usize`, for indexing per-task arrays.
    #[inline]
    pub fn index(self) -> usize {
        self.0 as usize
    }

    /// The index as a `u32`, to hand to a host (Python, JavaScript) and back.
    #[inline]
    pub fn as_u32(self) -> u32 {
        self.0
    }

    /// The id of the task at position `index` of a report, for a report rebuilt from a
    /// serialized form (a pickled Python report). Not for drivers: an id that comes back from
    /// a host comes through [`Scheduler::task_id`](crate::scheduler::Scheduler::task_id) (or
    /// falls back to [`TaskId::NONE`]). A scheduler refuses an id it did not hand out
    /// ([`ProtocolError`](crate::scheduler::ProtocolError)), so such an id can name a
    /// report's task but never reach into a run.
    #[inline]
    pub fn from_report_index(index: u32) -> TaskId {
        TaskId(index)
    }
}

/// The declaration of one task: its name, the names of its dependencies, a description and options.
///
/// # Examples
///
/// ```
/// use legato::graph::TaskSpec;
/// use std::time::Duration;
///
/// let spec = TaskSpec::new("db-migrate")
///     .after(["db-start"])
///     .description("Run database migrations")
///     .retries(2)
///     .timeout(Duration::from_secs(60))
///     .sequence("db");
/// assert_eq!(spec.name(), "db-migrate");
/// assert_eq!(&*spec.deps()[0], "db-start");
/// ```
#[derive(Debug, Clone)]
pub struct TaskSpec {
    /// Shared (a host that has its names as shared strings hands them over as they are).
    name: Arc<str>,
    /// A thin vector (8 bytes, nothing allocated while empty). A
    /// [`FlowDef`](crate::define::FlowDef) keeps no spec: it stores a dependency on one of its
    /// tasks as that task's position, and makes a spec from its columns when asked for one.
    deps: thin_vec::ThinVec<Arc<str>>,
    /// Description and options, allocated only when one is set (most tasks have neither);
    /// shared with the flow and the graph that keep them (copied on write).
    extra: Option<Arc<Extra>>,
}

impl PartialEq for TaskSpec {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.deps == other.deps
            && self.get_description() == other.get_description()
            && self.get_options() == other.get_options()
    }
}

impl TaskSpec {
    /// A task with no dependencies and default options.
    #[must_use]
    pub fn new(name: impl Into<String>) -> Self {
        TaskSpec {
            name: Arc::from(name.into()),
            deps: thin_vec::ThinVec::new(),
            extra: None,
        }
    }

    /// [`new`](TaskSpec::new) with a name already shared (kept as it is, not copied).
    #[must_use]
    pub fn from_shared(name: Arc<str>) -> Self {
        TaskSpec {
            name,
            deps: thin_vec::ThinVec::new(),
            extra: None,
        }
    }

    fn extra_mut(&mut self) -> &mut Extra {
        Arc::make_mut(self.extra.get_or_insert_with(Default::default))
    }

    /// A spec from its parts (a [`FlowDef`](crate::define::FlowDef)'s view of one task).
    pub(crate) fn from_parts(
        name: Arc<str>,
        deps: thin_vec::ThinVec<Arc<str>>,
        extra: Option<Arc<Extra>>,
    ) -> Self {
        TaskSpec { name, deps, extra }
    }

    /// Its parts: the name, the dependencies as declared, the description and options when
    /// not default.
    pub(crate) fn into_parts(self) -> (Arc<str>, thin_vec::ThinVec<Arc<str>>, Option<Arc<Extra>>) {
        let extra = self.extra.filter(|e| !e.is_default());
        (self.name, self.deps, extra)
    }

    /// Adds dependencies by name. Repeated names count once.
    #[must_use]
    pub fn after<I, S>(mut self, deps: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.deps
            .extend(deps.into_iter().map(|d| Arc::from(d.into())));
        self
    }

    /// Sets the human-readable description.
    #[must_use]
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.extra_mut().description = Some(text.into());
        self
    }

    /// Replaces all options at once.
    #[must_use]
    pub fn options(mut self, options: TaskOptions) -> Self {
        if options.is_default() && self.get_description().is_none() {
            self.extra = None;
        } else {
            self.extra_mut().options = options;
        }
        self
    }

    /// Sets the number of retries.
    #[must_use]
    pub fn retries(mut self, n: u32) -> Self {
        self.extra_mut().options.retries = n;
        self
    }

    /// Sets the backoff between attempts.
    #[must_use]
    pub fn backoff(mut self, b: crate::policy::Backoff) -> Self {
        self.extra_mut().options.backoff = b;
        self
    }

    /// Sets the per-attempt timeout.
    #[must_use]
    pub fn timeout(mut self, d: std::time::Duration) -> Self {
        self.extra_mut().options.timeout = Some(d);
        self
    }

    /// Adds a mutual-exclusion key.
    #[must_use]
    pub fn sequence(mut self, key: impl Into<String>) -> Self {
        self.extra_mut().options.uses.push(key.into());
        self
    }

    /// The task's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The names of its dependencies, as declared.
    pub fn deps(&self) -> &[Arc<str>] {
        &self.deps
    }

    /// Its description, if any.
    pub fn get_description(&self) -> Option<&str> {
        self.extra.as_ref().and_then(|e| e.description.as_deref())
    }

    /// Its options.
    pub fn get_options(&self) -> &TaskOptions {
        match &self.extra {
            Some(e) => &e.options,
            None => default_options(),
        }
    }
}

impl Extra {
    /// Its options.
    pub(crate) fn options(&self) -> &TaskOptions {
        &self.options
    }
}

/// What a task keeps besides its name and edges; stored out of line, and only when not default.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Extra {
    description: Option<String>,
    options: TaskOptions,
}

impl Extra {
    /// This one with other options (its description kept).
    #[cfg(feature = "tokio")]
    pub(crate) fn with_options(this: Option<&Extra>, options: TaskOptions) -> Extra {
        Extra {
            description: this.and_then(|e| e.description.clone()),
            options,
        }
    }

    pub(crate) fn is_default(&self) -> bool {
        self.description.is_none() && self.options.is_default()
    }
}

static DEFAULT_OPTIONS: std::sync::OnceLock<TaskOptions> = std::sync::OnceLock::new();

/// The default options, one value shared by every task that has no options of its own.
pub(crate) fn default_options() -> &'static TaskOptions {
    DEFAULT_OPTIONS.get_or_init(TaskOptions::default)
}

/// A name → index map that stores only the indices and a name's first bytes: the names live
/// in the owner's buffer, so each entry costs 12 bytes (the index, the name's first 7 bytes
/// and its length) instead of a second copy of the name. A name of up to 7 bytes (most task
/// names: `t12345`, `build`, `deploy`) is found from the entry alone, without reading the
/// owner's buffer: in a flow of 100,000 tasks, that buffer and its offsets are two cache misses
/// a look-up. Memory is what a large flow pays most for (each new page is a page fault), so the
/// entry holds no hash: the table grows by hashing the keys again, reading only the names
/// longer than 7 bytes.
#[derive(Debug, Clone, Default)]
pub(crate) struct NameIndex {
    table: hashbrown::HashTable<Slot>,
}

/// A [`NameIndex`] grows fourfold while that keeps it within this many entries, twofold
/// after (so a large index holds at most twice the room it needs, as before).
const GROW_FAST_BELOW: usize = 1 << 16;

/// One entry of a [`NameIndex`]: a name's [`NameKey`], in two halves so that the entry is
/// 12 bytes, and its index.
#[derive(Debug, Clone, Copy)]
struct Slot {
    key: [u32; 2],
    index: u32,
}

const _: () = assert!(std::mem::size_of::<Slot>() == 12);

impl Slot {
    #[inline]
    fn key(&self) -> NameKey {
        NameKey(u64::from(self.key[0]) | u64::from(self.key[1]) << 32)
    }
}

/// What an entry stores of a name, as [`NameIndex::key`] gives it: its first 7 bytes,
/// zero-padded, and its length (up to 255) in the top byte. Two names of up to 7 bytes are
/// the same exactly when their keys are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NameKey(u64);

/// The longest name a [`NameKey`] holds whole.
const HEAD: usize = 7;

impl NameKey {
    /// Whether the key holds its whole name.
    #[inline]
    fn is_whole(self) -> bool {
        (self.0 >> 56) as usize <= HEAD
    }

    /// The table's hash of a name, from its key when that holds the whole name, and from the
    /// name itself otherwise.
    #[inline]
    fn hash(self, name: impl FnOnce() -> u64) -> u64 {
        use std::hash::BuildHasher;
        if self.is_whole() {
            rustc_hash::FxBuildHasher.hash_one(self.0)
        } else {
            name()
        }
    }

    fn slot(self, index: u32) -> Slot {
        Slot {
            key: [self.0 as u32, (self.0 >> 32) as u32],
            index,
        }
    }
}

/// The hash of a name longer than [`HEAD`] bytes.
#[inline]
fn long_hash(name: &str) -> u64 {
    use std::hash::BuildHasher;
    rustc_hash::FxBuildHasher.hash_one(name)
}

/// The first [`HEAD`] bytes of `b`, little-endian, zero-padded: two loads at most, not a copy
/// of a variable length.
#[inline]
fn head_of(b: &[u8]) -> u64 {
    let n = b.len();
    let word = |at: usize| u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    if n >= 4 {
        // Two overlapping words: the bytes both hold are the same in each.
        let m = n.min(HEAD);
        u64::from(word(0)) | u64::from(word(m - 4)) << ((m - 4) * 8)
    } else {
        b.iter()
            .enumerate()
            .fold(0, |h, (i, &c)| h | u64::from(c) << (i * 8))
    }
}

impl NameIndex {
    /// The key of `name`: computed once where a name is both looked up and added.
    #[inline]
    pub(crate) fn key(name: &str) -> NameKey {
        let b = name.as_bytes();
        NameKey(head_of(b) | (b.len().min(255) as u64) << 56)
    }

    pub(crate) fn with_capacity(n: usize) -> Self {
        NameIndex {
            table: hashbrown::HashTable::with_capacity(n),
        }
    }

    /// The index of `name`, where `name_of(i)` gives the name at index `i`.
    #[inline]
    pub(crate) fn get<'a>(&self, name: &str, name_of: impl Fn(u32) -> &'a str) -> Option<u32> {
        self.get_keyed(Self::key(name), name, name_of)
    }

    /// [`get`](NameIndex::get) for a name whose [`key`](NameIndex::key) is known.
    #[inline]
    pub(crate) fn get_keyed<'a>(
        &self,
        key: NameKey,
        name: &str,
        name_of: impl Fn(u32) -> &'a str,
    ) -> Option<u32> {
        let whole = key.is_whole();
        self.table
            .find(key.hash(|| long_hash(name)), |s| {
                s.key() == key && (whole || name_of(s.index) == name)
            })
            .map(|s| s.index)
    }

    /// Records that `name`, whose [`key`](NameIndex::key) is `key`, is at index `i` (the name
    /// must not be in the map yet); `name_of` gives the names already in it (read when the
    /// table grows, for those longer than 7 bytes).
    #[inline]
    pub(crate) fn insert_keyed<'a>(
        &mut self,
        key: NameKey,
        name: &str,
        i: u32,
        name_of: impl Fn(u32) -> &'a str,
    ) {
        let rehash = |s: &Slot| s.key().hash(|| long_hash(name_of(s.index)));
        let len = self.table.len();
        if len == self.table.capacity() && 4 * len <= GROW_FAST_BELOW {
            // A small index grows fourfold: a flow of 10,000 tasks is rehashed about a
            // third as much as growing twofold (each growth reads every entry again).
            self.table.reserve(3 * len.max(4), rehash);
        }
        self.table
            .insert_unique(key.hash(|| long_hash(name)), key.slot(i), rehash);
    }

    /// Replaces every stored index `i` by `f(i)`; `f` must keep each index's name.
    fn remap(&mut self, f: impl Fn(u32) -> u32) {
        for s in self.table.iter_mut() {
            s.index = f(s.index);
        }
    }
}

/// Task names in task order, one after the other in one string, and the index of them: what
/// a [`Graph`] shares with the [`FlowDef`](crate::define::FlowDef) it was built from (copied
/// on write if the flow changes while the graph lives).
#[derive(Debug, Clone, Default)]
pub(crate) struct NameTable {
    /// Every name, one after the other.
    buf: String,
    /// Per name: where it ends in `buf` (it starts where the one before it ends).
    ends: Vec<u32>,
    index: NameIndex,
}

/// Name `i` of a [`NameTable`]'s buffer and ends.
#[inline]
fn name_at<'a>(buf: &'a str, ends: &[u32], i: usize) -> &'a str {
    let start = match i {
        0 => 0,
        _ => ends[i - 1] as usize,
    };
    &buf[start..ends[i] as usize]
}

/// The most bytes the names of one graph take together: their ends are kept in 32 bits.
pub(crate) const NAME_BYTES: usize = u32::MAX as usize;

/// The error for the name that would take the names of one graph past [`NAME_BYTES`].
pub(crate) fn names_too_long(name: &str) -> GraphError {
    GraphError::InvalidName {
        name: name.to_owned(),
        reason: "the names of one flow must take less than 4 GiB together",
    }
}

impl NameTable {
    /// The number of names.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// Name `i`.
    #[inline]
    pub(crate) fn name(&self, i: usize) -> &str {
        name_at(&self.buf, &self.ends, i)
    }

    /// Every name, in order.
    pub(crate) fn names(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        (0..self.len()).map(|i| self.name(i))
    }

    /// The position of `name`.
    #[inline]
    pub(crate) fn get(&self, name: &str) -> Option<u32> {
        self.index.get(name, |i| self.name(i as usize))
    }

    /// [`get`](NameTable::get) for a name whose key is known.
    #[inline]
    pub(crate) fn get_keyed(&self, key: NameKey, name: &str) -> Option<u32> {
        self.index.get_keyed(key, name, |i| self.name(i as usize))
    }

    /// Whether `name` still fits: the names take at most [`NAME_BYTES`] together.
    #[inline]
    pub(crate) fn has_room_for(&self, name: &str) -> bool {
        self.buf.len() + name.len() <= NAME_BYTES
    }

    /// Adds a name (not in the table yet, and [room for it](NameTable::has_room_for)) at the
    /// next position.
    #[inline]
    pub(crate) fn push_keyed(&mut self, key: NameKey, name: &str) {
        let (buf, ends) = (&self.buf, &self.ends);
        self.index.insert_keyed(key, name, ends.len() as u32, |i| {
            name_at(buf, ends, i as usize)
        });
        self.buf.push_str(name);
        self.ends.push(self.buf.len() as u32);
    }
}

/// Interns names: each distinct name (defined or only referenced so far) gets one slot.
#[derive(Debug, Default)]
struct Names {
    ids: NameIndex,
    names: Vec<Arc<str>>,
    /// For each slot, the task index that defines it, or `u32::MAX` while only referenced.
    defined_as: Vec<u32>,
    /// For each slot, 1 + the index of the last task that listed it as a dependency: finds
    /// repeated dependencies in O(1) however long the list.
    listed_by: Vec<u32>,
}

impl Names {
    /// The slot of `name`, made if new (keeping this shared string, not a copy).
    fn slot(&mut self, name: &Arc<str>) -> u32 {
        let names = &self.names;
        let key = NameIndex::key(name);
        if let Some(s) = self.ids.get_keyed(key, name, |i| &names[i as usize]) {
            return s;
        }
        let s = self.names.len() as u32;
        self.ids.insert_keyed(key, name, s, |i| &names[i as usize]);
        self.names.push(name.clone());
        self.defined_as.push(u32::MAX);
        self.listed_by.push(0);
        s
    }

    fn get(&self, name: &str) -> Option<u32> {
        self.ids.get(name, |i| &self.names[i as usize])
    }
}

/// Collects tasks, then builds a validated [`Graph`].
///
/// # Examples
///
/// ```
/// use legato::graph::{GraphBuilder, TaskSpec};
///
/// let mut b = GraphBuilder::new();
/// b.add(TaskSpec::new("build"))?;
/// let err = b.add(TaskSpec::new("build")).unwrap_err();
/// assert_eq!(err.to_string(), "Task \"build\" is defined twice");
/// # Ok::<(), legato::graph::GraphError>(())
/// ```
#[derive(Debug, Default)]
pub struct GraphBuilder {
    names: Names,
    /// Per task: its name slot.
    task_slot: Vec<u32>,
    /// Per task: the range of its dependency slots in `dep_slots`.
    dep_start: Vec<u32>,
    dep_slots: Vec<u32>,
    extras: Vec<Option<Arc<Extra>>>,
}

impl GraphBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty builder with room for `tasks` tasks and `edges` dependencies.
    pub fn with_capacity(tasks: usize, edges: usize) -> Self {
        GraphBuilder {
            names: Names {
                ids: NameIndex::with_capacity(tasks),
                names: Vec::with_capacity(tasks),
                defined_as: Vec::with_capacity(tasks),
                listed_by: Vec::with_capacity(tasks),
            },
            task_slot: Vec::with_capacity(tasks),
            dep_start: Vec::with_capacity(tasks + 1),
            dep_slots: Vec::with_capacity(edges),
            extras: Vec::with_capacity(tasks),
        }
    }

    /// The number of tasks added so far.
    pub fn len(&self) -> usize {
        self.task_slot.len()
    }

    /// Whether no task was added yet.
    pub fn is_empty(&self) -> bool {
        self.task_slot.is_empty()
    }

    /// Whether a task of that name was added.
    pub fn contains(&self, name: &str) -> bool {
        self.names
            .get(name)
            .is_some_and(|s| self.names.defined_as[s as usize] != u32::MAX)
    }

    /// Adds a task and returns its id.
    ///
    /// # Errors
    ///
    /// [`GraphError::DuplicateTask`] if a task of that name was already added;
    /// [`GraphError::InvalidName`] if the task's name or a dependency's name is not valid;
    /// [`GraphError::InvalidOption`] if its options are not (see [`TaskOptions::validate`]).
    /// Nothing is added when an error is returned.
    pub fn add(&mut self, spec: TaskSpec) -> Result<TaskId, GraphError> {
        let TaskSpec { name, deps, extra } = spec;
        let extra = extra.filter(|e| !e.is_default());
        self.add_parts(&name, &deps, extra)
    }

    /// Adds a task from a borrowed spec (only its description and non-default options are
    /// copied). Same rules as [`GraphBuilder::add`].
    ///
    /// # Errors
    ///
    /// As [`GraphBuilder::add`].
    pub fn add_ref(&mut self, spec: &TaskSpec) -> Result<TaskId, GraphError> {
        let extra = spec.extra.clone().filter(|e| !e.is_default());
        self.add_parts(&spec.name, &spec.deps, extra)
    }

    fn add_parts(
        &mut self,
        name: &Arc<str>,
        deps: &[Arc<str>],
        extra: Option<Arc<Extra>>,
    ) -> Result<TaskId, GraphError> {
        validate_name(name)?;
        for d in deps {
            validate_name(d)?;
        }
        if let Some(e) = &extra {
            e.options
                .validate()
                .map_err(|error| GraphError::InvalidOption {
                    task: name.to_string(),
                    error,
                })?;
        }
        let slot = self.names.slot(name);
        if self.names.defined_as[slot as usize] != u32::MAX {
            return Err(GraphError::DuplicateTask {
                name: name.to_string(),
            });
        }
        let id = self.task_slot.len() as u32;
        self.names.defined_as[slot as usize] = id;
        self.task_slot.push(slot);
        self.dep_start.push(self.dep_slots.len() as u32);
        for d in deps {
            let s = self.names.slot(d);
            // Repeated dependencies count once.
            if self.names.listed_by[s as usize] != id + 1 {
                self.names.listed_by[s as usize] = id + 1;
                self.dep_slots.push(s);
            }
        }
        self.extras.push(extra);
        Ok(TaskId(id))
    }

    /// Resolves dependencies and validates the whole graph.
    ///
    /// # Errors
    ///
    /// [`GraphError::MissingDependency`] for the first dependency (in declaration order) that
    /// names no task, with a suggestion when a close name exists; [`GraphError::Cycle`] if the
    /// dependencies form a cycle (one real cycle is reported, the same one every time).
    pub fn build(self) -> Result<Graph, GraphError> {
        let n = self.task_slot.len();
        let GraphBuilder {
            names,
            task_slot,
            mut dep_start,
            dep_slots,
            extras,
        } = self;
        dep_start.push(dep_slots.len() as u32);

        // Dependencies: name slots -> task ids.
        let mut deps = Vec::with_capacity(dep_slots.len());
        for t in 0..n {
            for &s in &dep_slots[dep_start[t] as usize..dep_start[t + 1] as usize] {
                let target = names.defined_as[s as usize];
                if target == u32::MAX {
                    let dependency = names.names[s as usize].to_string();
                    let suggestion = did_you_mean(
                        &dependency,
                        task_slot.iter().map(|&ts| &*names.names[ts as usize]),
                    );
                    return Err(GraphError::MissingDependency {
                        task: names.names[task_slot[t] as usize].to_string(),
                        dependency,
                        suggestion,
                    });
                }
                deps.push(TaskId(target));
            }
        }
        drop(dep_slots);

        // Name table in task order; drop slots that were only ever referenced (none remain
        // here, since a missing dependency returned above).
        let slot_name = |s: u32| &*names.names[s as usize];
        let mut buf = String::with_capacity(task_slot.iter().map(|&s| slot_name(s).len()).sum());
        let mut ends = Vec::with_capacity(n);
        for &s in &task_slot {
            let name = slot_name(s);
            if buf.len() + name.len() > NAME_BYTES {
                return Err(names_too_long(name));
            }
            buf.push_str(name);
            ends.push(buf.len() as u32);
        }
        // Every slot is a defined task here (a missing dependency returned above): the index
        // now maps names to task ids.
        let mut index = names.ids;
        index.remap(|s| names.defined_as[s as usize]);
        let mut extras = extras;
        extras.shrink_to_fit();
        Graph::assemble(
            Arc::new(NameTable { buf, ends, index }),
            dep_start,
            deps,
            extras,
        )
    }
}

impl Graph {
    /// A graph from resolved parts: names in task order and the index of them, each task's
    /// dependencies as rows (`dep_start` has `n + 1` entries, no repeats within a row),
    /// options. Adds the reverse edges and levels, and refuses a cycle.
    pub(crate) fn assemble(
        table: Arc<NameTable>,
        mut dep_start: Vec<u32>,
        deps: Vec<TaskId>,
        extras: Vec<Option<Arc<Extra>>>,
    ) -> Result<Graph, GraphError> {
        let n = table.len();
        // Dependents (reverse edges), as compressed rows, each in declaration order: how many
        // tasks depend on each task, summed into where each row ends; then every row filled
        // from its end, task by task from the last, so that the ends move back to where the
        // rows start.
        let mut rdep_start = vec![0u32; n + 1];
        for d in &deps {
            rdep_start[d.index()] += 1;
        }
        let mut sum = 0;
        for c in &mut rdep_start {
            sum += *c;
            *c = sum;
        }
        let mut dependents = vec![TaskId(0); deps.len()];
        for t in (0..n).rev() {
            for d in &deps[dep_start[t] as usize..dep_start[t + 1] as usize] {
                let at = &mut rdep_start[d.index()];
                *at -= 1;
                dependents[*at as usize] = TaskId(t as u32);
            }
        }

        // The vectors may have grown by doubling; the graph keeps them for its lifetime.
        dep_start.shrink_to_fit();
        let extras = if extras.iter().all(Option::is_none) {
            Vec::new()
        } else {
            extras
        };
        let mut graph = Graph {
            table,
            arcs: OnceLock::new(),
            dep_start,
            deps,
            rdep_start,
            dependents,
            level: Vec::new(),
            extras,
        };
        graph.level = match graph.levels_in_order() {
            Some(level) => level,
            None => graph.compute_levels()?,
        };
        Ok(graph)
    }
}

/// A validated, immutable task graph (a DAG).
///
/// Tasks are identified by [`TaskId`], their declaration index. Dependencies and dependents of
/// each task are kept in declaration order.
#[derive(Debug, Clone)]
pub struct Graph {
    /// Names and their index; shared with the flow the graph was built from, when it was.
    table: Arc<NameTable>,
    /// The names as shared strings, for a run's hook events: made the first time one is asked
    /// for (a run's tasks and report hold no name of their own).
    arcs: OnceLock<Vec<Arc<str>>>,
    dep_start: Vec<u32>,
    deps: Vec<TaskId>,
    rdep_start: Vec<u32>,
    dependents: Vec<TaskId>,
    level: Vec<u32>,
    /// Per task: its description and options when not default; empty when no task has any.
    extras: Vec<Option<Arc<Extra>>>,
}

impl Graph {
    /// The number of tasks.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether the graph has no task.
    pub fn is_empty(&self) -> bool {
        self.table.len() == 0
    }

    /// The number of dependency edges.
    pub fn edge_count(&self) -> usize {
        self.deps.len()
    }

    /// All task ids, in declaration order.
    pub fn ids(&self) -> impl ExactSizeIterator<Item = TaskId> + '_ {
        (0..self.len() as u32).map(TaskId)
    }

    /// The name of a task.
    ///
    /// # Panics
    ///
    /// Panics if `id` is not a task of this graph.
    pub fn name(&self, id: TaskId) -> &str {
        self.table.name(id.index())
    }

    /// The name of a task as a shared string (no copy: the graph makes every name's once, the
    /// first time one is asked for: a run asks only for hooks, a graph only planned or drawn
    /// never).
    #[cfg(test)]
    pub(crate) fn name_arc(&self, id: TaskId) -> Arc<str> {
        self.name_arc_ref(id).clone()
    }

    /// [`Graph::name_arc`], borrowed.
    pub(crate) fn name_arc_ref(&self, id: TaskId) -> &Arc<str> {
        &self
            .arcs
            .get_or_init(|| self.table.names().map(Arc::from).collect())[id.index()]
    }

    /// The task of that name, if any.
    pub fn get(&self, name: &str) -> Option<TaskId> {
        self.table.get(name).map(TaskId)
    }

    /// The task of that name.
    ///
    /// # Errors
    ///
    /// [`GraphError::UnknownTask`], with a suggestion when a close name exists.
    pub fn resolve(&self, name: &str) -> Result<TaskId, GraphError> {
        self.get(name).ok_or_else(|| GraphError::UnknownTask {
            name: name.to_owned(),
            suggestion: did_you_mean(name, self.table.names()),
        })
    }

    /// The direct dependencies of a task, in declaration order.
    pub fn deps(&self, id: TaskId) -> &[TaskId] {
        let i = id.index();
        &self.deps[self.dep_start[i] as usize..self.dep_start[i + 1] as usize]
    }

    /// The tasks that depend directly on a task, in declaration order.
    pub fn dependents(&self, id: TaskId) -> &[TaskId] {
        let i = id.index();
        &self.dependents[self.rdep_start[i] as usize..self.rdep_start[i + 1] as usize]
    }

    /// The task's level: 0 without dependencies, else one more than its deepest dependency.
    pub fn level(&self, id: TaskId) -> u32 {
        self.level[id.index()]
    }

    /// The task's description, if any.
    pub fn description(&self, id: TaskId) -> Option<&str> {
        self.extra(id).and_then(|e| e.description.as_deref())
    }

    /// The task's description and options, when not default.
    fn extra(&self, id: TaskId) -> Option<&Extra> {
        assert!(
            id.index() < self.len(),
            "{id:?} is not a task of this graph"
        );
        self.extras.get(id.index())?.as_deref()
    }

    /// The task's options.
    pub fn options(&self, id: TaskId) -> &TaskOptions {
        match self.extra(id) {
            Some(e) => &e.options,
            None => default_options(),
        }
    }

    /// Every task.
    pub fn all(&self) -> Selection {
        Selection {
            mask: vec![true; self.len()],
            ids: self.ids().collect(),
        }
    }

    /// The given targets plus all their transitive dependencies.
    ///
    /// An empty list of targets selects every task.
    ///
    /// # Errors
    ///
    /// [`GraphError::UnknownTask`] for the first target that names no task.
    pub fn select<I, S>(&self, targets: I) -> Result<Selection, GraphError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut stack = Vec::new();
        for t in targets {
            stack.push(self.resolve(t.as_ref())?);
        }
        if stack.is_empty() {
            return Ok(self.all());
        }
        Ok(self.ancestors_of(stack))
    }

    /// The given tasks plus all their transitive dependencies.
    pub fn ancestors_of(&self, targets: impl IntoIterator<Item = TaskId>) -> Selection {
        let mut mask = vec![false; self.len()];
        let mut stack: Vec<TaskId> = Vec::new();
        for t in targets {
            if !mask[t.index()] {
                mask[t.index()] = true;
                stack.push(t);
            }
        }
        while let Some(t) = stack.pop() {
            for &d in self.deps(t) {
                if !mask[d.index()] {
                    mask[d.index()] = true;
                    stack.push(d);
                }
            }
        }
        let ids = self.ids().filter(|t| mask[t.index()]).collect();
        Selection { mask, ids }
    }

    /// The levels in which a selection would run: each level's tasks depend only on tasks of
    /// earlier levels. Within a level, tasks keep declaration order.
    ///
    /// Levels are those of the whole graph, so a selection that is not closed under
    /// dependencies (see [`Graph::select`]) may have empty levels removed but keeps its order.
    pub fn plan(&self, selection: &Selection) -> Plan {
        let mut levels: Vec<Vec<TaskId>> = Vec::new();
        for &t in &selection.ids {
            let l = self.level[t.index()] as usize;
            if levels.len() <= l {
                levels.resize_with(l + 1, Vec::new);
            }
            levels[l].push(t);
        }
        levels.retain(|l| !l.is_empty());
        Plan { levels }
    }

    /// A topological order of every task: the plan's levels, one after the other.
    pub fn topo_order(&self) -> Vec<TaskId> {
        self.plan(&self.all())
            .levels
            .into_iter()
            .flatten()
            .collect()
    }

    /// The levels in one pass when every task depends only on tasks declared before it (no
    /// cycle is possible then: the usual case of a flow declared in order); `None` otherwise.
    fn levels_in_order(&self) -> Option<Vec<u32>> {
        let n = self.len();
        let mut level = Vec::with_capacity(n);
        for t in 0..n {
            let mut l = 0;
            for &d in &self.deps[self.dep_start[t] as usize..self.dep_start[t + 1] as usize] {
                // Before `t`: its level is known. At or after it: not this pass.
                let dl: &u32 = level.get(d.index())?;
                l = l.max(dl + 1);
            }
            level.push(l);
        }
        Some(level)
    }

    /// Kahn's algorithm: levels of every task, or the cycle that prevents them.
    fn compute_levels(&self) -> Result<Vec<u32>, GraphError> {
        let n = self.len();
        let mut pending: Vec<u32> = (0..n)
            .map(|i| self.deps(TaskId(i as u32)).len() as u32)
            .collect();
        let mut level = vec![0u32; n];
        let mut queue: Vec<TaskId> = self.ids().filter(|t| pending[t.index()] == 0).collect();
        let mut head = 0;
        while head < queue.len() {
            let t = queue[head];
            head += 1;
            let next = level[t.index()] + 1;
            for &d in self.dependents(t) {
                let di = d.index();
                if level[di] < next {
                    level[di] = next;
                }
                pending[di] -= 1;
                if pending[di] == 0 {
                    queue.push(d);
                }
            }
        }
        if queue.len() == n {
            return Ok(level);
        }
        Err(self.find_cycle(&pending))
    }

    /// Finds one cycle among the tasks Kahn's algorithm could not order (`pending > 0`).
    ///
    /// Every such task has a dependency that is also unordered, so walking first unordered
    /// dependencies from the first unordered task must come back to a task already seen.
    /// The cycle is rotated to start at its earliest-declared task.
    fn find_cycle(&self, pending: &[u32]) -> GraphError {
        let start = self
            .ids()
            .find(|t| pending[t.index()] > 0)
            .expect("a cycle exists when Kahn's algorithm stops early");
        let mut seen_at: StdHashMap<TaskId, usize> = StdHashMap::new();
        let mut walk = Vec::new();
        let mut t = start;
        loop {
            if let Some(&at) = seen_at.get(&t) {
                let mut cycle: Vec<TaskId> = walk[at..].to_vec();
                let min = (0..cycle.len()).min_by_key(|&i| cycle[i]).unwrap_or(0);
                cycle.rotate_left(min);
                let mut path: Vec<String> =
                    cycle.iter().map(|&c| self.name(c).to_owned()).collect();
                path.push(path[0].clone());
                return GraphError::Cycle { path };
            }
            seen_at.insert(t, walk.len());
            walk.push(t);
            t = *self
                .deps(t)
                .iter()
                .find(|d| pending[d.index()] > 0)
                .expect("an unordered task has an unordered dependency");
        }
    }
}

/// A set of tasks of one graph, kept in declaration order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    mask: Vec<bool>,
    ids: Vec<TaskId>,
}

impl Selection {
    /// Whether the task is selected.
    pub fn contains(&self, id: TaskId) -> bool {
        self.mask.get(id.index()).copied().unwrap_or(false)
    }

    /// The selected tasks in declaration order.
    pub fn ids(&self) -> &[TaskId] {
        &self.ids
    }

    /// How many tasks are selected.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether nothing is selected.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// A dry run: the levels that would run, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Each level's tasks, in declaration order.
    pub levels: Vec<Vec<TaskId>>,
}

impl Plan {
    /// The levels as task names.
    pub fn names<'g>(&self, graph: &'g Graph) -> Vec<Vec<&'g str>> {
        self.levels
            .iter()
            .map(|l| l.iter().map(|&t| graph.name(t)).collect())
            .collect()
    }

    /// Every planned task, level after level.
    pub fn order(&self) -> impl Iterator<Item = TaskId> + '_ {
        self.levels.iter().flatten().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(specs: &[(&str, &[&str])]) -> Result<Graph, GraphError> {
        let mut b = GraphBuilder::new();
        for (name, deps) in specs {
            b.add(TaskSpec::new(*name).after(deps.iter().copied()))?;
        }
        b.build()
    }

    #[test]
    fn spry_cycle_message() {
        let e = graph(&[("task-a", &["task-b"]), ("task-b", &["task-a"])]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Circular dependency detected: task-a → task-b → task-a"
        );
    }

    #[test]
    fn self_cycle_and_downstream_of_cycle() {
        let e = graph(&[("a", &["a"])]).unwrap_err();
        assert_eq!(e.to_string(), "Circular dependency detected: a → a");
        // `x` is only downstream of the cycle: it must not appear in the path.
        let e = graph(&[("x", &["c"]), ("b", &["c"]), ("c", &["b"])]).unwrap_err();
        assert_eq!(e.to_string(), "Circular dependency detected: b → c → b");
    }

    #[test]
    fn missing_dependency_with_and_without_suggestion() {
        let e = graph(&[("deploy", &["build"])]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Task \"build\" referenced by \"deploy\" does not exist"
        );
        let e = graph(&[("build-app", &[]), ("deploy", &["biuld-app"])]).unwrap_err();
        assert_eq!(e.kind(), "missing_dependency");
        assert_eq!(
            e.to_string(),
            "Task \"biuld-app\" referenced by \"deploy\" does not exist (did you mean \"build-app\"?)"
        );
    }

    #[test]
    fn forward_references_resolve() {
        let g = graph(&[("deploy", &["build"]), ("build", &[])]).unwrap();
        assert_eq!(g.deps(TaskId(0)), [TaskId(1)]);
        assert_eq!(g.dependents(TaskId(1)), [TaskId(0)]);
        assert_eq!(g.topo_order(), vec![TaskId(1), TaskId(0)]);
    }

    #[test]
    fn unknown_target() {
        let g = graph(&[("build-app", &[]), ("deploy", &["build-app"])]).unwrap();
        let e = g.select(["biuld-app"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Task \"biuld-app\" not found (did you mean \"build-app\"?)"
        );
        assert_eq!(e.kind(), "unknown_task");
    }

    #[test]
    fn duplicate_and_invalid_names_are_refused_when_added() {
        let mut b = GraphBuilder::new();
        b.add(TaskSpec::new("a")).unwrap();
        assert_eq!(
            b.add(TaskSpec::new("a")).unwrap_err().kind(),
            "duplicate_task"
        );
        assert_eq!(b.add(TaskSpec::new("")).unwrap_err().kind(), "invalid_name");
        assert_eq!(
            b.add(TaskSpec::new("b").after([" a"])).unwrap_err().kind(),
            "invalid_name"
        );
        assert_eq!(b.len(), 1);
        // A name only referenced is not "defined": adding it later works.
        b.add(TaskSpec::new("c").after(["d"])).unwrap();
        assert!(!b.contains("d"));
        b.add(TaskSpec::new("d")).unwrap();
        assert!(b.build().is_ok());
    }

    #[test]
    fn repeated_dependencies_count_once() {
        let g = graph(&[("a", &[]), ("b", &["a", "a"])]).unwrap();
        assert_eq!(g.deps(TaskId(1)), [TaskId(0)]);
        assert_eq!(g.edge_count(), 1);
    }

    #[test]
    fn plan_levels_and_selection() {
        let g = graph(&[
            ("install-deps", &[]),
            ("compile-ts", &["install-deps"]),
            ("compile-sass", &["install-deps"]),
            ("run-tests", &["compile-ts"]),
            ("build-bundle", &["compile-ts", "compile-sass"]),
            ("deploy", &["run-tests", "build-bundle"]),
            ("docs", &[]),
        ])
        .unwrap();
        assert_eq!(
            g.plan(&g.all()).names(&g),
            vec![
                vec!["install-deps", "docs"],
                vec!["compile-ts", "compile-sass"],
                vec!["run-tests", "build-bundle"],
                vec!["deploy"],
            ]
        );
        let sel = g.select(["run-tests"]).unwrap();
        assert_eq!(
            g.plan(&sel).names(&g),
            vec![vec!["install-deps"], vec!["compile-ts"], vec!["run-tests"]]
        );
        assert!(!sel.contains(g.get("docs").unwrap()));
        assert_eq!(g.select(Vec::<String>::new()).unwrap().len(), 7);
    }

    #[test]
    fn options_and_descriptions_are_kept() {
        let mut b = GraphBuilder::new();
        b.add(
            TaskSpec::new("a")
                .description("first")
                .retries(2)
                .sequence("db"),
        )
        .unwrap();
        b.add(TaskSpec::new("b")).unwrap();
        let g = b.build().unwrap();
        assert_eq!(g.description(TaskId(0)), Some("first"));
        assert_eq!(g.options(TaskId(0)).retries, 2);
        assert_eq!(g.options(TaskId(0)).uses, ["db"]);
        assert_eq!(g.description(TaskId(1)), None);
        assert!(g.options(TaskId(1)).is_default());
    }

    #[test]
    fn empty_graph() {
        let g = GraphBuilder::new().build().unwrap();
        assert!(g.is_empty());
        assert!(g.plan(&g.all()).levels.is_empty());
    }

    /// A name table finds every name it holds, at its index, and nothing else: names of every
    /// length around the 7 bytes an entry holds whole, names that share their first 7 bytes,
    /// a name and the same bytes with a NUL or a character more (the same key but for the
    /// length), across growth (which hashes long names again from the buffer).
    mod name_index {
        use super::*;
        use proptest::prelude::*;

        fn table(names: &[String]) -> NameTable {
            let mut t = NameTable::default();
            for n in names {
                let key = NameIndex::key(n);
                assert_eq!(t.get_keyed(key, n), None, "{n:?} is new");
                t.push_keyed(key, n);
            }
            t
        }

        proptest! {
            #[test]
            fn finds_each_name_and_no_other(
                names in proptest::collection::hash_set("[a-c]{0,3}[ü\\x00-]?[a-c]{0,9}", 1..200),
                probes in proptest::collection::vec("[a-c]{0,3}[ü\\x00-]?[a-c]{0,9}", 0..50),
            ) {
                let names: Vec<String> = names.into_iter().collect();
                let t = table(&names);
                for (i, n) in names.iter().enumerate() {
                    prop_assert_eq!(t.get(n), Some(i as u32));
                    prop_assert_eq!(t.name(i), n.as_str());
                    for other in [format!("{n}\0"), format!("{n}a"), format!("a{n}")] {
                        prop_assert_eq!(t.get(&other), names.iter().position(|m| *m == other).map(|j| j as u32));
                    }
                }
                for p in &probes {
                    prop_assert_eq!(t.get(p), names.iter().position(|m| m == p).map(|j| j as u32));
                }
            }
        }

        #[test]
        fn long_names_sharing_their_head_survive_growth() {
            let names: Vec<String> = (0..5000).map(|i| format!("service-{i}-build")).collect();
            let t = table(&names);
            for (i, n) in names.iter().enumerate() {
                assert_eq!(t.get(n), Some(i as u32));
            }
            assert_eq!(t.get("service-"), None);
            assert_eq!(t.get("service-5000-build"), None);
        }

        /// The index grows fourfold while small and twofold once large: its room never
        /// passes four times what it holds, nor twice once past `GROW_FAST_BELOW`; and every
        /// name is found across both kinds of growth.
        #[test]
        fn the_index_grows_fourfold_while_small_then_twofold() {
            let mut t = NameTable::default();
            let mut growths = Vec::new();
            for i in 0..200_000u32 {
                let name = format!("t{i}");
                let before = t.index.table.capacity();
                t.push_keyed(NameIndex::key(&name), &name);
                let (len, room) = (t.index.table.len(), t.index.table.capacity());
                if room != before {
                    growths.push((len, before, room));
                }
                assert!(room <= 4 * len.max(4), "{room} slots for {len} names");
                if len > GROW_FAST_BELOW {
                    assert!(room <= 2 * len, "{room} slots for {len} names");
                }
            }
            let fourfold = growths
                .iter()
                .filter(|(_, b, r)| *b > 0 && *r >= 4 * b)
                .count();
            let twofold = growths
                .iter()
                .filter(|(_, b, r)| *b > 0 && *r < 4 * b)
                .count();
            assert!(fourfold >= 4 && twofold >= 2, "{growths:?}");
            for i in (0..200_000u32).step_by(997) {
                assert_eq!(t.get(&format!("t{i}")), Some(i));
            }
        }
    }
}
