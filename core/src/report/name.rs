//! A report's task names and dependency lists as views of what the run already holds: the
//! graph's one name buffer and dependency array, and the dynamic tasks' names. A report of
//! `n` tasks shares one allocation for all of them (made when the report is), so a task's
//! name and dependencies cost a pointer each, never a string or a list copied: the report
//! takes its `2n` references with one atomic addition ([`Handles`]), not one each.

use crate::graph::{Graph, TaskId};
use serde::{Serialize, Serializer};
use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicUsize, Ordering};
use std::sync::Arc;

/// What [`TaskName`]s and [`TaskDeps`] point into.
enum Shared {
    /// A run's: its graph (static tasks' names and dependencies) and its dynamic tasks' names
    /// (task `graph.len() + k` is `dynamic[k]`).
    Run {
        graph: Arc<Graph>,
        dynamic: Vec<Arc<str>>,
    },
    /// One name, given by hand ([`TaskName::from`]).
    Name(Arc<str>),
    /// One dependency list, given by hand ([`TaskDeps::from`]).
    Deps(Box<[TaskId]>),
}

impl Shared {
    fn name(&self, i: u32) -> &str {
        match self {
            Shared::Run { graph, dynamic } => {
                let n = graph.len();
                let i = i as usize;
                if i < n {
                    graph.name(TaskId(i as u32))
                } else {
                    dynamic.get(i - n).map_or("", |s| s)
                }
            }
            Shared::Name(s) => s,
            Shared::Deps(_) => "",
        }
    }

    fn deps(&self, i: u32) -> &[TaskId] {
        match self {
            Shared::Run { graph, .. } if (i as usize) < graph.len() => graph.deps(TaskId(i)),
            Shared::Deps(d) => d,
            _ => &[],
        }
    }
}

/// A counted reference to a [`Shared`], as an `Arc<Shared>` is, except that many references
/// can be taken at once with one atomic addition ([`Ref::handles`]): a report of a million
/// tasks takes two million, and one atomic operation each was a third of the report's cost.
struct Ref(NonNull<Counted>);

struct Counted {
    count: AtomicUsize,
    data: Shared,
}

// SAFETY: a `Ref` gives shared access to a `Shared` (which is `Send + Sync`: strings, ids and
// a graph behind `Arc`s, checked below) and counts its owners atomically, as `Arc` does.
unsafe impl Send for Ref {}
// SAFETY: as above.
unsafe impl Sync for Ref {}

/// What `Ref`'s `Send` and `Sync` rely on.
const _: () = {
    const fn send_and_sync<T: Send + Sync>() {}
    send_and_sync::<Shared>();
};

/// More references than this means a leak (as `Arc` guards against overflow).
const MAX_REFS: usize = isize::MAX as usize;

impl Ref {
    fn new(data: Shared) -> Ref {
        let counted = Box::new(Counted {
            count: AtomicUsize::new(1),
            data,
        });
        Ref(NonNull::from(Box::leak(counted)))
    }

    fn counted(&self) -> &Counted {
        // SAFETY: the allocation lives while any `Ref` (this one included) or `Handles` counts.
        unsafe { self.0.as_ref() }
    }

    fn get(&self) -> &Shared {
        &self.counted().data
    }

    /// Up to `n` more references, taken with one atomic addition; what is left untaken goes
    /// back when the `Handles` is dropped.
    fn handles(&self, n: usize) -> Handles {
        let old = self.counted().count.fetch_add(n, Ordering::Relaxed);
        if old.saturating_add(n) > MAX_REFS {
            std::process::abort();
        }
        Handles {
            ptr: self.0,
            left: n,
        }
    }
}

impl Clone for Ref {
    fn clone(&self) -> Self {
        // As `Arc::clone`: a new reference is made from an existing one, so `Relaxed` does.
        let old = self.counted().count.fetch_add(1, Ordering::Relaxed);
        if old > MAX_REFS {
            std::process::abort();
        }
        Ref(self.0)
    }
}

impl Drop for Ref {
    #[inline]
    fn drop(&mut self) {
        release(self.0, 1);
    }
}

/// Gives back `n` references; frees the allocation when they were the last (as `Arc`'s drop).
#[inline]
fn release(ptr: NonNull<Counted>, n: usize) {
    if n == 0 {
        // No reference owned: the allocation may be gone already (not even read).
        return;
    }
    // SAFETY: the caller owns `n` (≥ 1) counted references, so the allocation is alive.
    let counted = unsafe { ptr.as_ref() };
    if counted.count.fetch_sub(n, Ordering::Release) != n {
        return;
    }
    free(ptr);
}

/// Frees the shared part once its count reached zero (kept out of line: it happens once).
#[inline(never)]
fn free(ptr: NonNull<Counted>) {
    fence(Ordering::Acquire);
    // SAFETY: the count reached zero: no other reference exists, and the allocation came from
    // `Box::leak` in `Ref::new`.
    drop(unsafe { Box::from_raw(ptr.as_ptr()) });
}

/// References counted in advance ([`Ref::handles`]), handed out without an atomic operation.
struct Handles {
    ptr: NonNull<Counted>,
    left: usize,
}

impl Handles {
    /// One of the references, or a counted clone of `fallback` once none is left.
    fn take(&mut self, fallback: &Ref) -> Ref {
        match self.left.checked_sub(1) {
            Some(left) => {
                self.left = left;
                Ref(self.ptr)
            }
            None => fallback.clone(),
        }
    }
}

impl Drop for Handles {
    fn drop(&mut self) {
        release(self.ptr, self.left);
    }
}

/// The names and dependencies of one run's tasks, for its report: each task's
/// [`TaskName`] and [`TaskDeps`] share it.
pub(crate) struct RunShape {
    /// References taken in advance, for the views the report will hold (declared first, so
    /// that the ones not taken are given back before `shared` is dropped).
    handles: Handles,
    shared: Ref,
}

impl RunShape {
    /// The shape of a run of `graph` whose dynamic tasks (ids from `graph.len()`) have these
    /// names, for a report of up to `tasks` tasks (each takes one reference for its name, and
    /// one for its dependencies when it has some; more are counted one by one).
    pub(crate) fn new(graph: Arc<Graph>, dynamic: Vec<Arc<str>>, tasks: usize) -> Self {
        let refs = tasks.saturating_add(graph.edge_count().min(tasks));
        let shared = Ref::new(Shared::Run { graph, dynamic });
        let handles = shared.handles(refs);
        RunShape { handles, shared }
    }

    /// Task `id`'s name.
    pub(crate) fn name(&mut self, id: TaskId) -> TaskName {
        TaskName {
            src: self.handles.take(&self.shared),
            i: id.0,
        }
    }

    /// Task `id`'s dependencies (none for a dynamic task).
    pub(crate) fn deps(&mut self, id: TaskId) -> TaskDeps {
        let has = match self.shared.get() {
            Shared::Run { graph, .. } => id.index() < graph.len() && !graph.deps(id).is_empty(),
            _ => false,
        };
        TaskDeps {
            src: has.then(|| self.handles.take(&self.shared)),
            i: id.0,
        }
    }
}

/// A task's name in a report: a shared view of the run's names (no copy of the string; 16
/// bytes). It reads as a `&str` (it derefs to `str`), prints as one, compares with strings,
/// serializes as a string, and converts from `&str`, `String` and `Arc<str>`.
///
/// # Examples
///
/// ```
/// use legato::report::TaskName;
///
/// let name = TaskName::from("build");
/// assert_eq!(name, "build");
/// assert_eq!(&*name, "build");
/// assert_eq!(name.len(), 5);
/// assert_eq!(format!("{name}!"), "build!");
/// let shared: std::sync::Arc<str> = name.clone().into();
/// assert_eq!(&*shared, "build");
/// ```
#[derive(Clone)]
pub struct TaskName {
    src: Ref,
    i: u32,
}

impl TaskName {
    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        self.src.get().name(self.i)
    }
}

impl Deref for TaskName {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for TaskName {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for TaskName {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for TaskName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl fmt::Debug for TaskName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq for TaskName {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for TaskName {}

impl PartialEq<str> for TaskName {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for TaskName {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for TaskName {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<TaskName> for str {
    fn eq(&self, other: &TaskName) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<TaskName> for &str {
    fn eq(&self, other: &TaskName) -> bool {
        *self == other.as_str()
    }
}

impl PartialOrd for TaskName {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for TaskName {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

/// Hashes as the `str` it reads as (so a map keyed by names is looked up with a `&str`).
impl Hash for TaskName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl From<Arc<str>> for TaskName {
    fn from(s: Arc<str>) -> Self {
        TaskName {
            src: Ref::new(Shared::Name(s)),
            i: 0,
        }
    }
}

impl From<&str> for TaskName {
    fn from(s: &str) -> Self {
        TaskName::from(Arc::<str>::from(s))
    }
}

impl From<String> for TaskName {
    fn from(s: String) -> Self {
        TaskName::from(Arc::<str>::from(s))
    }
}

impl From<&String> for TaskName {
    fn from(s: &String) -> Self {
        TaskName::from(s.as_str())
    }
}

impl From<TaskName> for Arc<str> {
    fn from(n: TaskName) -> Self {
        match n.src.get() {
            Shared::Name(s) => s.clone(),
            _ => Arc::from(n.as_str()),
        }
    }
}

impl From<&TaskName> for String {
    fn from(n: &TaskName) -> Self {
        n.as_str().to_owned()
    }
}

impl Serialize for TaskName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A task's dependencies in a report: a shared view of the run's graph (no copy of the list;
/// 16 bytes, nothing shared when there is none). It reads as a `&[TaskId]` (it derefs to the
/// slice) and converts from a `Vec`, a boxed slice, a slice or an iterator of ids.
///
/// # Examples
///
/// ```
/// use legato::graph::TaskId;
/// use legato::report::TaskDeps;
///
/// let deps: TaskDeps = [TaskId::from_report_index(0), TaskId::from_report_index(2)].into_iter().collect();
/// assert_eq!(deps.len(), 2);
/// assert_eq!(deps.iter().map(|d| d.as_u32()).collect::<Vec<_>>(), [0, 2]);
/// assert!(TaskDeps::default().is_empty());
/// ```
#[derive(Clone, Default)]
pub struct TaskDeps {
    /// `None` for no dependency.
    src: Option<Ref>,
    i: u32,
}

impl TaskDeps {
    /// The dependencies as a slice.
    pub fn as_slice(&self) -> &[TaskId] {
        self.src.as_ref().map_or(&[], |s| s.get().deps(self.i))
    }
}

impl Deref for TaskDeps {
    type Target = [TaskId];

    fn deref(&self) -> &[TaskId] {
        self.as_slice()
    }
}

impl AsRef<[TaskId]> for TaskDeps {
    fn as_ref(&self) -> &[TaskId] {
        self.as_slice()
    }
}

impl fmt::Debug for TaskDeps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_slice(), f)
    }
}

impl PartialEq for TaskDeps {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for TaskDeps {}

impl PartialEq<[TaskId]> for TaskDeps {
    fn eq(&self, other: &[TaskId]) -> bool {
        self.as_slice() == other
    }
}

impl From<Box<[TaskId]>> for TaskDeps {
    fn from(d: Box<[TaskId]>) -> Self {
        if d.is_empty() {
            return TaskDeps::default();
        }
        TaskDeps {
            src: Some(Ref::new(Shared::Deps(d))),
            i: 0,
        }
    }
}

impl From<Vec<TaskId>> for TaskDeps {
    fn from(d: Vec<TaskId>) -> Self {
        TaskDeps::from(d.into_boxed_slice())
    }
}

impl From<&[TaskId]> for TaskDeps {
    fn from(d: &[TaskId]) -> Self {
        TaskDeps::from(Box::<[TaskId]>::from(d))
    }
}

impl FromIterator<TaskId> for TaskDeps {
    fn from_iter<I: IntoIterator<Item = TaskId>>(iter: I) -> Self {
        TaskDeps::from(iter.into_iter().collect::<Box<[TaskId]>>())
    }
}

impl<'a> IntoIterator for &'a TaskDeps {
    type Item = &'a TaskId;
    type IntoIter = std::slice::Iter<'a, TaskId>;

    fn into_iter(self) -> Self::IntoIter {
        self.as_slice().iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{GraphBuilder, TaskSpec};

    fn graph() -> Arc<Graph> {
        let mut b = GraphBuilder::new();
        b.add(TaskSpec::new("a")).unwrap();
        b.add(TaskSpec::new("bb").after(["a"])).unwrap();
        Arc::new(b.build().unwrap())
    }

    #[test]
    fn views_read_the_run_s_names_and_dependencies() {
        // Room for fewer references than the views take: the rest are counted one by one.
        let mut shape = RunShape::new(graph(), vec![Arc::from("call(1)")], 1);
        let names: Vec<TaskName> = (0..3).map(|i| shape.name(TaskId(i))).collect();
        assert_eq!(names, ["a", "bb", "call(1)"]);
        assert_eq!(shape.deps(TaskId(0)).as_slice(), []);
        assert_eq!(shape.deps(TaskId(1)).as_slice(), [TaskId(0)]);
        assert_eq!(shape.deps(TaskId(2)).as_slice(), []);
        // An id past the run's tasks reads as nothing rather than panicking.
        assert_eq!(shape.name(TaskId(9)), "");
        // Names compare, hash and look up as the strings they read as.
        let mut map = std::collections::HashMap::new();
        map.insert(names[1].clone(), 1);
        assert_eq!(map.get("bb"), Some(&1));
        assert_eq!(names[1], TaskName::from(String::from("bb")));
    }

    /// The references counted in advance are given back, used or not, and the shared part
    /// (holding the graph) is freed with its last view, wherever that view went.
    #[test]
    fn every_reference_is_given_back() {
        let g = graph();
        for reserved in [0, 1, 2, 3, 10] {
            let mut shape = RunShape::new(g.clone(), Vec::new(), reserved);
            let views: Vec<(TaskName, TaskDeps)> = (0..2)
                .map(|i| (shape.name(TaskId(i)), shape.deps(TaskId(i))))
                .collect();
            drop(shape);
            assert_eq!(Arc::strong_count(&g), 2, "reserved {reserved}");
            let kept = views[1].clone();
            let moved = std::thread::spawn(move || views).join().unwrap();
            drop(moved);
            assert_eq!(kept.0, "bb");
            assert_eq!(kept.1.as_slice(), [TaskId(0)]);
            drop(kept);
            assert_eq!(Arc::strong_count(&g), 1, "reserved {reserved}");
        }
    }

    #[test]
    fn a_view_is_as_small_as_the_types_it_replaced() {
        assert_eq!(std::mem::size_of::<TaskName>(), 16);
        assert_eq!(std::mem::size_of::<TaskDeps>(), 16);
        assert_eq!(
            serde_json::to_string(&TaskName::from("x\"y")).unwrap(),
            r#""x\"y""#
        );
    }
}
