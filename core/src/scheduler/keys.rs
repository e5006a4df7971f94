//! Keys with capacities (DESIGN "Per-key limits"): at most a key's capacity tasks holding it
//! run at once, and a task waiting for a key holds no slot. Barista's sequences are keys of
//! capacity 1.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// One key: who holds it and who waits for it, in order.
#[derive(Debug)]
struct Key {
    capacity: u32,
    /// The tasks holding it now (at most `capacity`), in the order they took it.
    holders: Vec<u32>,
    waiters: VecDeque<u32>,
}

/// The run's keys, interned: a task stores its keys as small integers.
#[derive(Debug, Default)]
pub(super) struct Keys {
    keys: Vec<Key>,
    ids: HashMap<Arc<str>, u32>,
    /// Capacities of the keys the run's `limits` name; any other key has capacity 1.
    limits: HashMap<String, u32>,
}

impl Keys {
    /// Keys whose capacities are `limits` (any other key has capacity 1).
    pub(super) fn with_limits(limits: &[(String, u32)]) -> Self {
        Keys {
            limits: limits.iter().cloned().collect(),
            ..Keys::default()
        }
    }

    /// The ids of these key names (each once), interning new ones.
    pub(super) fn intern(&mut self, names: &[String]) -> Box<[u32]> {
        let mut ids: Vec<u32> = Vec::with_capacity(names.len());
        for n in names {
            let id = match self.ids.get(n.as_str()) {
                Some(&k) => k,
                None => {
                    let k = self.keys.len() as u32;
                    self.keys.push(Key {
                        capacity: self.limits.get(n.as_str()).copied().unwrap_or(1),
                        holders: Vec::new(),
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

    /// Takes every key for `task` (all or none), or, if one is full, queues `task` on it and
    /// returns its earliest holder.
    pub(super) fn try_acquire(&mut self, task: u32, keys: &[u32]) -> Result<(), u32> {
        if let Some(&full) = keys.iter().find(|&&k| {
            let key = &self.keys[k as usize];
            key.holders.len() >= key.capacity as usize
        }) {
            let key = &mut self.keys[full as usize];
            key.waiters.push_back(task);
            return Err(key.holders[0]);
        }
        for &k in keys {
            self.keys[k as usize].holders.push(task);
        }
        Ok(())
    }

    /// Gives back the keys `task` holds; `waiter` is called for each task that waited for one
    /// of them (in the order they queued), to try again.
    pub(super) fn release(&mut self, task: u32, keys: &[u32], mut waiter: impl FnMut(u32)) {
        for &k in keys {
            let key = &mut self.keys[k as usize];
            if let Some(i) = key.holders.iter().position(|&h| h == task) {
                key.holders.remove(i);
                for w in key.waiters.drain(..) {
                    waiter(w);
                }
            }
        }
    }

    /// Who holds a key, by name, in the order they took it.
    #[cfg(test)]
    pub(super) fn holders(&self, name: &str) -> &[u32] {
        self.ids
            .get(name)
            .map_or(&[], |&k| &self.keys[k as usize].holders)
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
        assert_eq!(keys.holders("db"), [1]);
        assert_eq!(keys.try_acquire(2, &db), Err(1));
        assert_eq!(keys.try_acquire(3, &db), Err(1));
        let mut back = Vec::new();
        keys.release(1, &db, |w| back.push(w));
        assert_eq!(back, [2, 3]);
        assert_eq!(keys.holders("db"), [] as [u32; 0]);
        assert_eq!(keys.try_acquire(3, &db), Ok(()));
    }

    #[test]
    fn a_key_holds_up_to_its_capacity() {
        let mut keys = Keys::with_limits(&[("db".into(), 2)]);
        let db = keys.intern(&["db".into()]);
        let net = keys.intern(&["net".into()]);
        assert_eq!(keys.try_acquire(1, &db), Ok(()));
        assert_eq!(keys.try_acquire(2, &db), Ok(()));
        assert_eq!(keys.try_acquire(3, &db), Err(1));
        assert_eq!(keys.holders("db"), [1, 2]);
        // A key the limits do not name has capacity 1.
        assert_eq!(keys.try_acquire(4, &net), Ok(()));
        assert_eq!(keys.try_acquire(5, &net), Err(4));
        let mut back = Vec::new();
        keys.release(2, &db, |w| back.push(w));
        assert_eq!(back, [3]);
        assert_eq!(keys.try_acquire(3, &db), Ok(()));
        assert_eq!(keys.holders("db"), [1, 3]);
    }

    #[test]
    fn a_task_takes_all_its_keys_or_none() {
        let mut keys = Keys::default();
        let both = keys.intern(&["a".into(), "b".into()]);
        let b = keys.intern(&["b".into()]);
        assert_eq!(keys.try_acquire(1, &b), Ok(()));
        assert_eq!(keys.try_acquire(2, &both), Err(1));
        assert_eq!(keys.holders("a"), [] as [u32; 0]);
    }
}
