//! Per-task host slots.

use crate::graph::TaskId;

/// What a driver holds for each task of a run, indexed by the ids the core hands out: the
/// body to call, the `retry_if` predicate, the last value and error as host objects, and the
/// host's waiters of a call (a future, a promise's resolvers). It grows as dynamic tasks are
/// spawned; a slot never read is `None`. Indexing never panics: an id the slots do not
/// reach reads as empty.
///
/// ```
/// use legato::graph::{GraphBuilder, TaskSpec};
/// use legato::host::Slots;
///
/// let mut b = GraphBuilder::new();
/// b.add(TaskSpec::new("a"))?;
/// b.add(TaskSpec::new("fetch"))?;
/// let g = b.build()?;
/// let (a, t) = (g.get("a").unwrap(), g.get("fetch").unwrap());
/// let mut s: Slots<&str, (), i32, String, u8> = Slots::default();
/// s.slot_mut(t).body = Some("fetch");
/// s.slot_mut(t).waiter = Some(7);
/// assert_eq!(s.slot(t).and_then(|x| x.body), Some("fetch"));
/// assert_eq!(s.take_waiter(t), Some(7));
/// assert_eq!(s.take_waiter(t), None);
/// assert!(s.slot(a).is_some_and(|x| x.body.is_none()));
/// # Ok::<(), legato::GraphError>(())
/// ```
#[derive(Debug)]
pub struct Slots<B, P, V, E, W> {
    slots: Vec<Slot<B, P, V, E, W>>,
}

/// One task's host objects.
#[derive(Debug)]
pub struct Slot<B, P, V, E, W> {
    /// The body to call for each attempt.
    pub body: Option<B>,
    /// The task's retry predicate, if any.
    pub retry_if: Option<P>,
    /// The value the task's last attempt produced.
    pub value: Option<V>,
    /// The host's error object of the task's last failed attempt.
    pub error: Option<E>,
    /// Who waits for the call's outcome.
    pub waiter: Option<W>,
}

impl<B, P, V, E, W> Default for Slot<B, P, V, E, W> {
    fn default() -> Self {
        Slot {
            body: None,
            retry_if: None,
            value: None,
            error: None,
            waiter: None,
        }
    }
}

impl<B, P, V, E, W> Default for Slots<B, P, V, E, W> {
    fn default() -> Self {
        Slots { slots: Vec::new() }
    }
}

impl<B, P, V, E, W> Slots<B, P, V, E, W> {
    /// Slots with room for `n` tasks.
    pub fn with_capacity(n: usize) -> Self {
        Slots {
            slots: Vec::with_capacity(n),
        }
    }

    /// The slot of `task`, if it has one.
    pub fn slot(&self, task: TaskId) -> Option<&Slot<B, P, V, E, W>> {
        self.slots.get(task.index())
    }

    /// The slot of `task`, made (empty) if needed.
    pub fn slot_mut(&mut self, task: TaskId) -> &mut Slot<B, P, V, E, W> {
        let i = task.index();
        if i >= self.slots.len() {
            self.slots.resize_with(i + 1, Slot::default);
        }
        &mut self.slots[i]
    }

    /// Takes the waiter of `task`'s call, if any.
    pub fn take_waiter(&mut self, task: TaskId) -> Option<W> {
        self.slots.get_mut(task.index())?.waiter.take()
    }

    /// How many slots there are.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}
