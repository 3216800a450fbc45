//! Single-flight: one render per key at a time, its result shared with
//! every caller that asked for the key meanwhile.
//!
//! Each shard keeps a [`Flights`] map (under the shard lock) from key to the
//! [`Flight`] in progress. A caller that finds a flight clones its `Arc`,
//! releases the shard lock and blocks on the flight's own mutex and condvar,
//! so no shard lock is ever held while rendering or waiting. Because waiters
//! hold the `Arc`, a flight that is detached from the map (by `remove` or
//! `clear`) still delivers its result to them.

use std::sync::Arc;
use std::thread::{self, ThreadId};

use hashbrown::HashTable;
use parking_lot::{Condvar, Mutex};

use super::key::Key;

/// One render in progress: a slot for its result and the waiters' condvar.
pub(crate) struct Flight<T> {
    result: Mutex<Option<T>>,
    done: Condvar,
    leader: ThreadId,
}

impl<T: Clone> Flight<T> {
    /// A flight led by the calling thread.
    pub(crate) fn new() -> Self {
        Flight { result: Mutex::new(None), done: Condvar::new(), leader: thread::current().id() }
    }

    /// The thread rendering; a waiter on the same thread would wait for
    /// itself forever (a render that asks for its own key).
    pub(crate) fn leader(&self) -> ThreadId {
        self.leader
    }

    /// Publishes the result and wakes every waiter. The first result wins;
    /// later calls are ignored.
    pub(crate) fn complete(&self, value: T) {
        let mut slot = self.result.lock();
        if slot.is_none() {
            *slot = Some(value);
        }
        drop(slot);
        self.done.notify_all();
    }

    /// Blocks until the result is published, then returns a copy.
    pub(crate) fn wait(&self) -> T {
        let mut slot = self.result.lock();
        loop {
            if let Some(value) = slot.as_ref() {
                return value.clone();
            }
            self.done.wait(&mut slot);
        }
    }
}

/// The flights of one shard, keyed like the shard's map (same hash).
pub(crate) struct Flights<T> {
    table: HashTable<(u64, Key, Arc<Flight<T>>)>,
}

impl<T: Clone> Flights<T> {
    pub(crate) fn new() -> Self {
        Flights { table: HashTable::new() }
    }

    /// The flight in progress for `key`, if any.
    pub(crate) fn find(&self, hash: u64, key: &str) -> Option<Arc<Flight<T>>> {
        self.table.find(hash, |(_, k, _)| k.is(key)).map(|(_, _, f)| Arc::clone(f))
    }

    /// Registers a new flight for `key`, led by the calling thread. The
    /// caller has checked that none is in progress.
    pub(crate) fn start(&mut self, hash: u64, key: &str) -> Arc<Flight<T>> {
        let flight = Arc::new(Flight::new());
        self.table.insert_unique(hash, (hash, Key::new(key), Arc::clone(&flight)), |e| e.0);
        flight
    }

    /// Detaches `flight` if it is still the one registered for `key` and
    /// returns the stored key (for reuse as the cached entry's key). `None`
    /// means it was detached earlier (by `remove` or `clear`): its result
    /// must not be cached.
    pub(crate) fn finish(&mut self, hash: u64, key: &str, flight: &Arc<Flight<T>>) -> Option<Key> {
        let entry = self.table.find_entry(hash, |(_, k, f)| k.is(key) && Arc::ptr_eq(f, flight));
        entry.ok().map(|e| e.remove().0.1)
    }

    /// Detaches whatever flight is registered for `key`; its waiters still
    /// get its result, later callers start a new render.
    pub(crate) fn remove(&mut self, hash: u64, key: &str) -> bool {
        match self.table.find_entry(hash, |(_, k, _)| k.is(key)) {
            Ok(entry) => {
                entry.remove();
                true
            }
            Err(_) => false,
        }
    }

    /// Detaches every flight.
    pub(crate) fn clear(&mut self) {
        self.table = HashTable::new();
    }

    /// Number of renders in progress.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn every_waiter_gets_the_result() {
        let flight = Arc::new(Flight::<u32>::new());
        thread::scope(|s| {
            let waiters: Vec<_> = (0..4).map(|_| s.spawn(|| flight.wait())).collect();
            thread::sleep(Duration::from_millis(10));
            flight.complete(7);
            flight.complete(8);
            for w in waiters {
                assert_eq!(w.join().ok(), Some(7));
            }
        });
        assert_eq!(flight.wait(), 7, "a late waiter returns at once");
    }

    #[test]
    fn finish_only_detaches_its_own_flight() {
        let mut flights = Flights::<u32>::new();
        let a = flights.start(1, "k");
        assert!(flights.find(1, "k").is_some_and(|f| Arc::ptr_eq(&f, &a)));
        assert!(flights.find(1, "other").is_none());
        assert!(flights.remove(1, "k"));
        let b = flights.start(1, "k");
        assert!(flights.finish(1, "k", &a).is_none(), "a was detached by remove");
        assert_eq!(flights.len(), 1);
        assert!(flights.finish(1, "k", &b).is_some_and(|k| k.is("k")));
        assert_eq!(flights.len(), 0);
        assert_eq!(a.leader(), thread::current().id());
    }
}
