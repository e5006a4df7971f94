//! Sequence keys (Barista's sequences): two tasks that share a key never overlap, and a task
//! waiting for a key holds no slot.

use super::task::NONE;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// One key: who holds it and who waits for it, in order.
#[derive(Debug)]
struct Key {
    holder: u32,
    waiters: VecDeque<u32>,
}

/// The run's keys, interned: a task stores its keys as small integers.
#[derive(Debug, Default)]
pub(super) struct Keys {
    keys: Vec<Key>,
    ids: HashMap<Arc<str>, u32>,
}

impl Keys {
    /// The ids of these key names (each once), interning new ones.
    pub(super) fn intern(&mut self, names: &[String]) -> Box<[u32]> {
        let mut ids: Vec<u32> = Vec::with_capacity(names.len());
        for n in names {
            let id = match self.ids.get(n.as_str()) {
                Some(&k) => k,
                None => {
                    let k = self.keys.len() as u32;
                    self.keys.push(Key {
                        holder: NONE,
                        waiters: VecDeque::new(),
                    });
                    self.ids.insert(Arc::from(n.as_str()), k);
                    k
                }
            };
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        ids.into_boxed_slice()
    }

    /// Takes every key for `task`, or, if one is held, queues `task` on it and returns the
    /// holder.
    pub(super) fn try_acquire(&mut self, task: u32, keys: &[u32]) -> Result<(), u32> {
        if let Some(&busy) = keys.iter().find(|&&k| self.keys[k as usize].holder != NONE) {
            let key = &mut self.keys[busy as usize];
            key.waiters.push_back(task);
            return Err(key.holder);
        }
        for &k in keys {
            self.keys[k as usize].holder = task;
        }
        Ok(())
    }

    /// Gives back the keys `task` holds; `waiter` is called for each task that waited for one
    /// of them (in the order they queued), to try again.
    pub(super) fn release(&mut self, task: u32, keys: &[u32], mut waiter: impl FnMut(u32)) {
        for &k in keys {
            let key = &mut self.keys[k as usize];
            if key.holder == task {
                key.holder = NONE;
                for w in key.waiters.drain(..) {
                    waiter(w);
                }
            }
        }
    }

    /// Who holds each key, by name (for the critical path's waits).
    #[cfg(test)]
    pub(super) fn holder(&self, name: &str) -> Option<u32> {
        let k = *self.ids.get(name)?;
        let h = self.keys[k as usize].holder;
        (h != NONE).then_some(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_waiter_gets_the_key_back_in_order() {
        let mut keys = Keys::default();
        let db = keys.intern(&["db".into(), "db".into()]);
        assert_eq!(db.len(), 1);
        assert_eq!(keys.try_acquire(1, &db), Ok(()));
        assert_eq!(keys.holder("db"), Some(1));
        assert_eq!(keys.try_acquire(2, &db), Err(1));
        assert_eq!(keys.try_acquire(3, &db), Err(1));
        let mut back = Vec::new();
        keys.release(1, &db, |w| back.push(w));
        assert_eq!(back, [2, 3]);
        assert_eq!(keys.holder("db"), None);
        assert_eq!(keys.try_acquire(3, &db), Ok(()));
    }
}
