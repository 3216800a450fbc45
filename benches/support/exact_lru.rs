//! An exact LRU list bounded by bytes, in safe Rust: the benchmark's
//! baseline. It was `thumbnail::Cache`'s per-shard policy before S3-FIFO
//! replaced it (the history has it, with its unit tests, as
//! src/cache/lru.rs); the bench keeps it to show the hit ratio a plain LRU
//! gets at the same budget, and how fast a mutex-per-shard LRU serves.
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
    pub(crate) fn get(&mut self, hash: u64, key: &str, now: impl FnOnce() -> Instant) -> Lookup<'_, V> {
        let Some(idx) = self.find(hash, key) else {
            return Lookup::Miss;
        };
        if let Some(expires) = self.entry(idx).and_then(|e| e.expires)
            && now() >= expires
        {
            self.release(idx);
            return Lookup::Expired;
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
    pub(crate) fn insert<K>(&mut self, hash: u64, key: K, value: V, charge: usize, expires: Option<Instant>) -> Inserted
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
                nodes.get(i as usize).and_then(|n| n.entry.as_ref()).is_some_and(|e| e.hash == hash && &*e.key == key)
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
