//! An exact LRU list bounded by bytes, in safe Rust.
//!
//! Entries live in a slab (`Vec<Node>`) linked by `u32` indices into a
//! circular doubly linked list through a sentinel at index 0; a
//! [`HashTable`] maps a key's hash to its slab index. Every operation is
//! O(1) (amortised for slab and table growth). The key is stored once, in
//! the node, and the caller passes the hash it already computed to pick the
//! shard, so a lookup hashes the key exactly once.
//!
//! The list does not know what a value weighs: the caller passes each
//! entry's `charge` in bytes, and the list evicts from the least recently
//! used end until the sum of charges fits the budget.

use std::time::Instant;

use hashbrown::HashTable;

/// Index of the sentinel node: `nodes[0].next` is the most recently used
/// entry, `nodes[0].prev` the least recently used one.
const SENTINEL: u32 = 0;

/// One slab slot: list links plus the entry, `None` while the slot is free
/// (or for the sentinel).
pub(crate) struct Node<V> {
    prev: u32,
    next: u32,
    entry: Option<Entry<V>>,
}

/// A cached entry. `hash` is kept so the table can grow without rehashing
/// keys and so removal by index needs no key comparison.
struct Entry<V> {
    key: Box<str>,
    value: V,
    hash: u64,
    charge: usize,
    expires: Option<Instant>,
}

/// What [`Lru::get`] found.
pub(crate) enum Lookup<'a, V> {
    /// Present and fresh; now the most recently used entry.
    Hit(&'a V),
    /// Present but past its expiry; it has been removed.
    Expired,
    /// Not present.
    Miss,
}

/// What [`Lru::insert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Inserted {
    /// False when the charge exceeds the whole budget (any old entry for the
    /// key is removed all the same, so a key never keeps a stale value).
    pub stored: bool,
    /// How many least recently used entries were evicted to make room.
    pub evicted: u64,
}

/// An LRU map from `str` keys to `V`, bounded by the sum of entry charges.
pub(crate) struct Lru<V> {
    nodes: Vec<Node<V>>,
    free: Vec<u32>,
    table: HashTable<u32>,
    bytes: usize,
    budget: usize,
}

impl<V> Lru<V> {
    /// An empty list that holds at most `budget` bytes of charges.
    pub(crate) fn new(budget: usize) -> Self {
        Lru {
            nodes: vec![Node { prev: SENTINEL, next: SENTINEL, entry: None }],
            free: Vec::new(),
            table: HashTable::new(),
            bytes: 0,
            budget,
        }
    }

    /// Sum of the charges of the entries held; never above [`Self::budget`].
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Number of entries held.
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    /// Looks `key` up; a hit becomes the most recently used entry. `now` is
    /// called only if the entry has an expiry, so lists without TTLs never
    /// read the clock.
    #[inline]
    pub(crate) fn get(
        &mut self,
        hash: u64,
        key: &str,
        now: impl FnOnce() -> Instant,
    ) -> Lookup<'_, V> {
        let Some(idx) = self.find(hash, key) else {
            return Lookup::Miss;
        };
        if let Some(expires) = self.entry(idx).and_then(|e| e.expires) {
            if now() >= expires {
                self.release(idx);
                return Lookup::Expired;
            }
        }
        self.promote(idx);
        match self.entry(idx) {
            Some(e) => Lookup::Hit(&e.value),
            None => Lookup::Miss,
        }
    }

    /// Stores `value` under `key`, replacing any old value (whose charge is
    /// given back), then evicts least recently used entries until the
    /// budget holds. `key` may be an owned `Box<str>` the caller already
    /// has, which then becomes the stored key without another allocation.
    pub(crate) fn insert<K>(
        &mut self,
        hash: u64,
        key: K,
        value: V,
        charge: usize,
        expires: Option<Instant>,
    ) -> Inserted
    where
        K: AsRef<str> + Into<Box<str>>,
    {
        if charge > self.budget {
            self.remove(hash, key.as_ref());
            return Inserted { stored: false, evicted: 0 };
        }
        if let Some(idx) = self.find(hash, key.as_ref()) {
            if let Some(e) = self.nodes.get_mut(idx as usize).and_then(|n| n.entry.as_mut()) {
                self.bytes = self.bytes - e.charge + charge;
                e.value = value;
                e.charge = charge;
                e.expires = expires;
            }
            self.promote(idx);
            // The replaced entry is at the front and fits the budget on its
            // own, so this only ever evicts other entries.
            let evicted = self.evict_until(0);
            return Inserted { stored: true, evicted };
        }
        let evicted = self.evict_until(charge);
        let idx = self.alloc();
        let entry = Entry { key: key.into(), value, hash, charge, expires };
        if let Some(node) = self.nodes.get_mut(idx as usize) {
            node.entry = Some(entry);
        }
        self.push_front(idx);
        self.bytes += charge;
        let nodes = &self.nodes;
        self.table.insert_unique(hash, idx, |&i| hash_of(nodes, i));
        Inserted { stored: true, evicted }
    }

    /// Removes `key`; returns its value if it was present.
    pub(crate) fn remove(&mut self, hash: u64, key: &str) -> Option<V> {
        let idx = self.find(hash, key)?;
        self.release(idx).map(|e| e.value)
    }

    /// Removes everything and gives the slab's and table's memory back.
    pub(crate) fn clear(&mut self) {
        *self = Lru::new(self.budget);
    }

    /// Evicts least recently used entries until `extra` more bytes fit;
    /// returns how many were evicted.
    fn evict_until(&mut self, extra: usize) -> u64 {
        let mut evicted = 0;
        while self.bytes + extra > self.budget {
            let tail = self.nodes.first().map_or(SENTINEL, |s| s.prev);
            if tail == SENTINEL || self.release(tail).is_none() {
                break;
            }
            evicted += 1;
        }
        evicted
    }

    #[inline]
    fn find(&self, hash: u64, key: &str) -> Option<u32> {
        let nodes = &self.nodes;
        self.table
            .find(hash, |&i| {
                // Comparing the full hash first skips the key's heap memory
                // for the rare slot whose 7-bit tag matched by chance.
                nodes
                    .get(i as usize)
                    .and_then(|n| n.entry.as_ref())
                    .is_some_and(|e| e.hash == hash && &*e.key == key)
            })
            .copied()
    }

    #[inline]
    fn entry(&self, idx: u32) -> Option<&Entry<V>> {
        self.nodes.get(idx as usize).and_then(|n| n.entry.as_ref())
    }

    /// A free slab index; grows the slab when the free list is empty.
    fn alloc(&mut self) -> u32 {
        if let Some(idx) = self.free.pop() {
            return idx;
        }
        // Indices are u32; a slab that full (billions of entries) recycles
        // its least recently used slot instead of growing.
        match u32::try_from(self.nodes.len()) {
            Ok(idx) if idx != u32::MAX => {
                self.nodes.push(Node { prev: SENTINEL, next: SENTINEL, entry: None });
                idx
            }
            _ => {
                let tail = self.nodes.first().map_or(SENTINEL, |s| s.prev);
                self.release(tail);
                self.free.pop().unwrap_or(SENTINEL)
            }
        }
    }

    /// Unlinks, unindexes and frees slot `idx`; returns its entry.
    fn release(&mut self, idx: u32) -> Option<Entry<V>> {
        if idx == SENTINEL {
            return None;
        }
        let entry = self.nodes.get_mut(idx as usize)?.entry.take()?;
        self.unlink(idx);
        if let Ok(found) = self.table.find_entry(entry.hash, |&i| i == idx) {
            found.remove();
        }
        self.bytes -= entry.charge;
        self.free.push(idx);
        Some(entry)
    }

    /// Makes `idx` the most recently used entry. Hot keys usually already
    /// are; skipping the relink then saves writes to three other nodes.
    #[inline]
    fn promote(&mut self, idx: u32) {
        if self.nodes.first().is_some_and(|s| s.next != idx) {
            self.unlink(idx);
            self.push_front(idx);
        }
    }

    fn unlink(&mut self, idx: u32) {
        let Some(node) = self.nodes.get(idx as usize) else { return };
        let (prev, next) = (node.prev, node.next);
        if let Some(p) = self.nodes.get_mut(prev as usize) {
            p.next = next;
        }
        if let Some(n) = self.nodes.get_mut(next as usize) {
            n.prev = prev;
        }
    }

    fn push_front(&mut self, idx: u32) {
        let first = self.nodes.first().map_or(SENTINEL, |s| s.next);
        if let Some(node) = self.nodes.get_mut(idx as usize) {
            node.prev = SENTINEL;
            node.next = first;
        }
        if let Some(f) = self.nodes.get_mut(first as usize) {
            f.prev = idx;
        }
        if let Some(s) = self.nodes.first_mut() {
            s.next = idx;
        }
    }
}

fn hash_of<V>(nodes: &[Node<V>], idx: u32) -> u64 {
    nodes.get(idx as usize).and_then(|n| n.entry.as_ref()).map_or(0, |e| e.hash)
}

#[cfg(test)]
impl<V> Lru<V> {
    /// Keys from most to least recently used.
    fn keys(&self) -> Vec<&str> {
        let mut out = Vec::new();
        let mut idx = self.nodes[0].next;
        while idx != SENTINEL {
            let node = &self.nodes[idx as usize];
            out.push(&*node.entry.as_ref().expect("linked node has an entry").key);
            idx = node.next;
        }
        out
    }

    /// Checks the links, the table and the byte count against each other.
    fn check(&self) {
        let keys = self.keys();
        assert_eq!(keys.len(), self.table.len(), "list and table disagree");
        let mut bytes = 0;
        let mut idx = self.nodes[0].next;
        let mut prev = SENTINEL;
        while idx != SENTINEL {
            let node = &self.nodes[idx as usize];
            assert_eq!(node.prev, prev, "broken back link");
            let e = node.entry.as_ref().expect("linked node has an entry");
            assert_eq!(self.find(e.hash, &e.key), Some(idx));
            bytes += e.charge;
            prev = idx;
            idx = node.next;
        }
        assert_eq!(self.nodes[0].prev, prev, "sentinel does not point at the tail");
        assert_eq!(bytes, self.bytes, "byte count drifted");
        assert!(self.bytes <= self.budget, "over budget");
        assert_eq!(self.free.len() + self.keys().len() + 1, self.nodes.len(), "leaked slots");
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Tests may use a dumb hash: the table only needs equal keys to hash
    /// equally; collisions exercise the key comparison.
    fn h(key: &str) -> u64 {
        key.len() as u64
    }

    fn put(lru: &mut Lru<u32>, key: &str, value: u32, charge: usize) -> Inserted {
        let r = lru.insert(h(key), key, value, charge, None);
        lru.check();
        r
    }

    fn get(lru: &mut Lru<u32>, key: &str) -> Option<u32> {
        let r = match lru.get(h(key), key, Instant::now) {
            Lookup::Hit(v) => Some(*v),
            Lookup::Expired | Lookup::Miss => None,
        };
        lru.check();
        r
    }

    #[test]
    fn evicts_least_recently_used_first() {
        let mut lru = Lru::new(30);
        put(&mut lru, "a", 1, 10);
        put(&mut lru, "b", 2, 10);
        put(&mut lru, "c", 3, 10);
        assert_eq!(lru.keys(), ["c", "b", "a"]);
        assert_eq!(get(&mut lru, "a"), Some(1));
        assert_eq!(lru.keys(), ["a", "c", "b"]);
        assert_eq!(put(&mut lru, "d", 4, 10), Inserted { stored: true, evicted: 1 });
        assert_eq!(get(&mut lru, "b"), None);
        assert_eq!(lru.keys(), ["d", "a", "c"]);
        assert_eq!(put(&mut lru, "e", 5, 25), Inserted { stored: true, evicted: 3 });
        assert_eq!(lru.keys(), ["e"]);
        assert_eq!(lru.bytes(), 25);
    }

    #[test]
    fn replace_fixes_accounting_and_recency() {
        let mut lru = Lru::new(30);
        put(&mut lru, "a", 1, 10);
        put(&mut lru, "b", 2, 10);
        assert_eq!(put(&mut lru, "a", 7, 15), Inserted { stored: true, evicted: 0 });
        assert_eq!(lru.bytes(), 25);
        assert_eq!(lru.len(), 2);
        assert_eq!(lru.keys(), ["a", "b"]);
        // Growing the replaced entry evicts the others, never itself.
        assert_eq!(put(&mut lru, "a", 8, 30), Inserted { stored: true, evicted: 1 });
        assert_eq!(lru.keys(), ["a"]);
        assert_eq!(get(&mut lru, "a"), Some(8));
        assert_eq!(lru.bytes(), 30);
    }

    #[test]
    fn oversize_is_rejected_and_drops_the_old_value() {
        let mut lru = Lru::new(30);
        put(&mut lru, "a", 1, 10);
        put(&mut lru, "b", 2, 10);
        assert_eq!(put(&mut lru, "a", 9, 31), Inserted { stored: false, evicted: 0 });
        assert_eq!(get(&mut lru, "a"), None);
        assert_eq!(lru.keys(), ["b"]);
        assert_eq!(lru.bytes(), 10);
        // Exactly the budget fits.
        assert!(put(&mut lru, "c", 3, 30).stored);
        assert_eq!(lru.keys(), ["c"]);
    }

    #[test]
    fn zero_budget_holds_nothing() {
        let mut lru = Lru::new(0);
        assert!(!put(&mut lru, "a", 1, 1).stored);
        assert_eq!(lru.len(), 0);
        // A zero charge fits a zero budget; the list is still consistent.
        assert!(put(&mut lru, "z", 1, 0).stored);
        assert_eq!(get(&mut lru, "z"), Some(1));
    }

    #[test]
    fn remove_and_clear_reuse_slots() {
        let mut lru = Lru::new(100);
        for (i, k) in ["a", "bb", "cc", "ddd"].iter().enumerate() {
            put(&mut lru, k, i as u32, 10);
        }
        assert_eq!(lru.remove(h("cc"), "cc"), Some(2));
        lru.check();
        assert_eq!(lru.remove(h("cc"), "cc"), None);
        assert_eq!(get(&mut lru, "bb"), Some(1), "same hash as the removed key");
        put(&mut lru, "e", 4, 10);
        assert_eq!(lru.nodes.len(), 5, "the freed slot was reused");
        assert_eq!(lru.keys(), ["e", "bb", "ddd", "a"]);
        lru.clear();
        lru.check();
        assert_eq!((lru.len(), lru.bytes()), (0, 0));
        assert_eq!(get(&mut lru, "a"), None);
        put(&mut lru, "a", 1, 10);
        assert_eq!(get(&mut lru, "a"), Some(1));
    }

    #[test]
    fn expired_entries_are_dropped_on_get() {
        let mut lru = Lru::new(100);
        let t0 = Instant::now();
        lru.insert(1, "a", 1, 10, Some(t0 + Duration::from_secs(10)));
        lru.insert(1, "b", 2, 10, None);
        assert!(matches!(lru.get(1, "a", || t0), Lookup::Hit(1)));
        assert!(matches!(lru.get(1, "b", || unreachable!("no expiry, no clock")), Lookup::Hit(2)));
        assert!(matches!(lru.get(1, "a", || t0 + Duration::from_secs(10)), Lookup::Expired));
        lru.check();
        assert!(matches!(lru.get(1, "a", || t0), Lookup::Miss));
        assert_eq!(lru.bytes(), 10);
    }

    #[test]
    fn many_operations_stay_consistent() {
        // A deterministic mix of inserts, gets and removes over a small key
        // space, checked against a naive model after every step.
        let mut lru = Lru::new(200);
        let mut model: Vec<(String, u32, usize)> = Vec::new(); // MRU first
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for step in 0..5_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let key = format!("k{}", x % 23);
            let charge = (x >> 8) as usize % 60;
            match (x >> 20) % 4 {
                0 | 1 => {
                    let r = lru.insert(h(&key), key.as_str(), step, charge, None);
                    model.retain(|(k, _, _)| *k != key);
                    let mut evicted = 0;
                    if charge <= 200 {
                        model.insert(0, (key.clone(), step, charge));
                        while model.iter().map(|m| m.2).sum::<usize>() > 200 {
                            model.pop();
                            evicted += 1;
                        }
                    }
                    assert_eq!(r, Inserted { stored: true, evicted });
                }
                2 => {
                    let want = model.iter().position(|m| m.0 == key).map(|p| {
                        let m = model.remove(p);
                        let v = m.1;
                        model.insert(0, m);
                        v
                    });
                    let got = match lru.get(h(&key), &key, Instant::now) {
                        Lookup::Hit(v) => Some(*v),
                        _ => None,
                    };
                    assert_eq!(got, want);
                }
                _ => {
                    let want = model.iter().position(|m| m.0 == key).map(|p| model.remove(p).1);
                    assert_eq!(lru.remove(h(&key), &key), want);
                }
            }
            lru.check();
            let keys: Vec<&str> = model.iter().map(|m| m.0.as_str()).collect();
            assert_eq!(lru.keys(), keys);
        }
    }
}
