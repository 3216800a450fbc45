//! One shard's map and eviction policy: S3-FIFO, bounded by bytes, in safe
//! Rust.
//!
//! S3-FIFO (Yang et al., "FIFO queues are all you need for cache
//! eviction", SOSP 2023) keeps three FIFO queues:
//!
//! - **small**, about 10% of the budget, where every new key starts;
//! - **main**, the rest, for keys that proved themselves;
//! - **ghost**, hashes only (no values), of keys recently evicted from
//!   small without a hit there (here a direct-mapped table rather than a
//!   FIFO, see [`Ghost`]).
//!
//! Each entry has a 2-bit frequency, 0..=3, raised by one per hit. A hit
//! only does that: it reads the entry and maybe bumps an `AtomicU8`, so
//! lookups need no exclusive access ([`S3Fifo::get`] takes `&self`) and
//! the shard can serve hits under a read lock. All reordering happens at
//! eviction time, under the write lock:
//!
//! - evicting from small (when small holds at least its share): the
//!   oldest entry moves to main if it was hit while in small, else it is
//!   evicted and its hash goes to the ghost table;
//! - evicting from main: the oldest entry, if its frequency is above 0,
//!   becomes main's newest with its frequency lowered by one (a second
//!   chance per hit, up to three); else it is evicted;
//! - inserting a key whose hash is in the ghost table puts it straight in
//!   main: it was evicted too soon once.
//!
//! So a burst of one-time keys (a crawler) flows through small: once it
//! fills small's share, new keys evict small's oldest, so the burst
//! displaces at most that share of main, where what gets hit repeatedly
//! lives. On skewed (Zipf-like) traffic this gives a higher hit ratio than
//! LRU, with O(1) amortised work per operation (an eviction may give each
//! entry it passes at most three second chances).
//!
//! Entries live in a slab of two parallel vectors: [`Hot`] (key, value,
//! hash, frequency; an aligned pair of cache lines per entry, all a lookup
//! reads, short keys inline) and
//! [`Cold`] (queue links, charge, expiry). Each queue is a circular doubly
//! linked list of `u32` slab indices with a head at its oldest entry, so a
//! second chance in main moves only the head (this makes main a CLOCK,
//! which is what a FIFO with reinsertion is). A [`HashTable`] maps a key's
//! hash to its slab index. The key is stored once, in the slab, and the
//! caller passes the hash it already computed to pick the shard, so a
//! lookup hashes the key exactly once. The caller also passes each entry's
//! `charge` in bytes; the sum of charges never exceeds the budget.

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Instant;

use hashbrown::HashTable;

use super::key::Key;

/// No slot: the head of an empty queue.
const NIL: u32 = u32::MAX;
/// Index of the small queue in [`S3Fifo::head`].
const SMALL: usize = 0;
/// Index of the main queue in [`S3Fifo::head`].
const MAIN: usize = 1;
/// Saturation value of an entry's hit counter.
const MAX_FREQ: u8 = 3;
/// Small queue's share of the budget, in tenths.
const SMALL_TENTHS: usize = 1;
/// Fewest slots a ghost table that is in use has.
const GHOST_MIN: usize = 16;

/// The part of a slab slot a lookup reads, alone in one aligned pair of
/// 64-byte cache lines (`None` while the slot is free); a key of up to
/// [`INLINE_KEY`](super::key::INLINE_KEY) bytes is stored here too, so a
/// hit on it reads no other line of the shard. Writers' fields are in
/// [`Cold`], at the same index of a parallel vector.
#[repr(align(128))]
pub(crate) struct Hot<V> {
    entry: Option<Entry<V>>,
}

/// A cached entry, as lookups see it. `hash` is kept so the table can grow
/// without rehashing keys, so removal by index needs no key comparison,
/// and for the ghost table.
struct Entry<V> {
    key: Key,
    value: V,
    hash: u64,
    /// Hits since insertion (or since the last second chance), saturating
    /// at [`MAX_FREQ`]. Written under a read lock, hence atomic; a racing
    /// pair of hits may count as one, which only blurs the heuristic.
    freq: AtomicU8,
    /// Which queue the entry is linked into.
    in_main: bool,
    /// Whether [`Cold::expires`] is set: lookups of entries without an
    /// expiry then read no second cache line.
    expiring: bool,
}

impl<V> Entry<V> {
    /// Records a hit.
    #[inline]
    fn touch(&self) {
        let f = self.freq.load(Ordering::Relaxed);
        // Hot entries sit at the maximum; not writing then keeps their
        // cache line shared between the cores reading it.
        if f < MAX_FREQ {
            self.freq.store(f + 1, Ordering::Relaxed);
        }
    }
}

/// The part of a slab slot only writers (and expiring lookups) read. Each
/// queue is a circular list through `next` from its oldest entry (its
/// head) to its newest, whose `next` is the head again.
#[derive(Clone, Copy)]
pub(crate) struct Cold {
    prev: u32,
    next: u32,
    charge: usize,
    expires: Option<Instant>,
}

/// Bytes of one ghost slot. The ghost table has at most twice as many
/// slots as the shard held entries at its fullest (since the last
/// `clear`), so each entry is charged two (see `Cache::ENTRY_OVERHEAD`).
pub(crate) const GHOST_SLOT_BYTES: usize = size_of::<u64>();

/// What a slab slot costs, ghost share included.
pub(crate) const fn slot_bytes<V>() -> usize {
    size_of::<Hot<V>>() + size_of::<Cold>() + 2 * GHOST_SLOT_BYTES
}

/// What [`S3Fifo::get`] found.
pub(crate) enum Lookup<'a, V> {
    /// Present and fresh; its frequency has been raised.
    Hit(&'a V),
    /// Present but past its expiry. [`S3Fifo::get`] leaves it in place (it
    /// runs under a read lock); [`S3Fifo::get_mut`] removes it.
    Expired,
    /// Not present.
    Miss,
}

/// What [`S3Fifo::insert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Inserted {
    /// False when the charge exceeds the whole budget (any old entry for the
    /// key is removed all the same, so a key never keeps a stale value).
    pub stored: bool,
    /// How many entries were evicted to make room.
    pub evicted: u64,
}

/// Hashes of keys recently evicted from the small queue without a hit: a
/// direct-mapped table, one hash per slot, a new hash overwriting whatever
/// its slot held. With at least as many slots as the shard holds entries,
/// a hash is remembered for about that many small-queue evictions (the
/// paper's ghost FIFO holds as many as main does), at the cost of one
/// memory access per eviction and per new key, and no allocation after
/// the table reaches its size. Zero marks an empty slot (a key hashing to
/// zero is never remembered).
struct Ghost {
    slots: Vec<u64>,
}

impl Ghost {
    fn new() -> Self {
        Ghost { slots: Vec::new() }
    }

    fn slot(&self, hash: u64) -> usize {
        // Low bits: the shard was picked with bits 32.., hashbrown's tag
        // uses the top 7.
        hash as usize & self.slots.len().wrapping_sub(1)
    }

    /// Whether `hash` is remembered; if so it is forgotten.
    fn take(&mut self, hash: u64) -> bool {
        let i = self.slot(hash);
        match self.slots.get_mut(i) {
            Some(s) if *s == hash && hash != 0 => {
                *s = 0;
                true
            }
            _ => false,
        }
    }

    /// Remembers `hash`, first growing the table to at least `entries`
    /// slots (a power of two).
    fn add(&mut self, hash: u64, entries: usize) {
        let want = entries.max(GHOST_MIN).next_power_of_two();
        if self.slots.len() < want {
            let old = std::mem::replace(&mut self.slots, vec![0; want]);
            for h in old.into_iter().filter(|&h| h != 0) {
                let i = self.slot(h);
                if let Some(s) = self.slots.get_mut(i) {
                    *s = h;
                }
            }
        }
        let i = self.slot(hash);
        if let Some(s) = self.slots.get_mut(i) {
            *s = hash;
        }
    }
}

/// An S3-FIFO map from `str` keys to `V`, bounded by the sum of entry
/// charges; see the module docs.
pub(crate) struct S3Fifo<V> {
    // Lookups read only `table` and `hot`; they come first.
    table: HashTable<u32>,
    hot: Vec<Hot<V>>,
    cold: Vec<Cold>,
    free: Vec<u32>,
    /// Oldest entry of small and of main, or [`NIL`].
    head: [u32; 2],
    ghost: Ghost,
    /// Sum of the charges in the small queue.
    small_bytes: usize,
    /// Sum of all charges.
    bytes: usize,
    budget: usize,
    /// From this many bytes in small on, eviction starts from small.
    small_budget: usize,
}

impl<V> S3Fifo<V> {
    /// An empty map that holds at most `budget` bytes of charges.
    pub(crate) fn new(budget: usize) -> Self {
        S3Fifo {
            table: HashTable::new(),
            hot: Vec::new(),
            cold: Vec::new(),
            free: Vec::new(),
            head: [NIL; 2],
            ghost: Ghost::new(),
            small_bytes: 0,
            bytes: 0,
            budget,
            small_budget: budget / 10 * SMALL_TENTHS,
        }
    }

    /// Sum of the charges of the entries held; never above the budget.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Number of entries held.
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    /// Looks `key` up without exclusive access; a hit raises the entry's
    /// frequency. An expired entry is reported but stays (see
    /// [`Lookup::Expired`]). `now` is called only if the entry has an
    /// expiry, so maps without TTLs never read the clock.
    #[inline]
    pub(crate) fn get(&self, hash: u64, key: &str, now: impl FnOnce() -> Instant) -> Lookup<'_, V> {
        let Some(idx) = self.find(hash, key) else {
            return Lookup::Miss;
        };
        let Some(e) = self.entry(idx) else {
            return Lookup::Miss;
        };
        if e.expiring && self.expired(idx, now) {
            return Lookup::Expired;
        }
        e.touch();
        Lookup::Hit(&e.value)
    }

    /// [`Self::get`] with exclusive access: an expired entry is removed.
    pub(crate) fn get_mut(&mut self, hash: u64, key: &str, now: impl FnOnce() -> Instant) -> Lookup<'_, V> {
        let Some(idx) = self.find(hash, key) else {
            return Lookup::Miss;
        };
        if self.entry(idx).is_some_and(|e| e.expiring) && self.expired(idx, now) {
            self.release(idx);
            return Lookup::Expired;
        }
        match self.entry(idx) {
            Some(e) => {
                e.touch();
                Lookup::Hit(&e.value)
            }
            None => Lookup::Miss,
        }
    }

    /// Removes `key` if it is present and expired at `now()`; returns
    /// whether it did. `now` is called only if the entry has an expiry.
    pub(crate) fn remove_expired(&mut self, hash: u64, key: &str, now: impl FnOnce() -> Instant) -> bool {
        let Some(idx) = self.find(hash, key) else { return false };
        if self.entry(idx).is_some_and(|e| e.expiring) && self.expired(idx, now) {
            return self.release(idx).is_some();
        }
        false
    }

    /// Whether slot `idx` has an expiry and `now()` is past it.
    fn expired(&self, idx: u32, now: impl FnOnce() -> Instant) -> bool {
        let expires = self.cold.get(idx as usize).and_then(|c| c.expires);
        expires.is_some_and(|expires| now() >= expires)
    }

    /// Stores `value` under `key`, then evicts as the policy says until the
    /// budget holds. A new key enters the small queue, or main if its hash
    /// is in the ghost table. Replacing a key keeps its queue and counts as
    /// a hit; the replaced entry itself is never evicted to make room for
    /// its new value.
    pub(crate) fn insert(
        &mut self,
        hash: u64,
        key: Key,
        value: V,
        charge: usize,
        expires: Option<Instant>,
    ) -> Inserted {
        if charge > self.budget {
            if let Some(idx) = self.find_bytes(hash, key.as_bytes()) {
                self.release(idx);
            }
            return Inserted { stored: false, evicted: 0 };
        }
        // An old entry is taken out first (keeping its queue and frequency)
        // so that making room cannot evict it.
        let old = self.find_bytes(hash, key.as_bytes()).and_then(|i| self.release(i));
        let (in_main, freq) = match old {
            Some(old) => (old.in_main, old.freq.into_inner().saturating_add(1).min(MAX_FREQ)),
            None => (self.ghost.take(hash), 0),
        };
        let evicted = self.evict_until(charge);
        let idx = self.alloc();
        let entry = Entry { key, value, hash, freq: AtomicU8::new(freq), in_main, expiring: expires.is_some() };
        if let Some(hot) = self.hot.get_mut(idx as usize) {
            hot.entry = Some(entry);
        }
        if let Some(cold) = self.cold.get_mut(idx as usize) {
            cold.charge = charge;
            cold.expires = expires;
        }
        self.link_newest(idx, usize::from(in_main));
        self.bytes += charge;
        if !in_main {
            self.small_bytes += charge;
        }
        let hot = &self.hot;
        self.table.insert_unique(hash, idx, |&i| hash_of(hot, i));
        Inserted { stored: true, evicted }
    }

    /// Removes `key`; returns its value if it was present.
    pub(crate) fn remove(&mut self, hash: u64, key: &str) -> Option<V> {
        let idx = self.find(hash, key)?;
        self.release(idx).map(|e| e.value)
    }

    /// Removes everything, the ghost table included, and gives the memory
    /// back.
    pub(crate) fn clear(&mut self) {
        *self = S3Fifo::new(self.budget);
    }

    /// Evicts until `extra` more bytes fit; returns how many entries were
    /// evicted.
    fn evict_until(&mut self, extra: usize) -> u64 {
        let mut evicted = 0;
        while self.bytes + extra > self.budget {
            if !self.evict_one() {
                break;
            }
            evicted += 1;
        }
        evicted
    }

    /// Evicts one entry; false if there is none. Each entry it passes over
    /// either leaves small or spends one unit of frequency, so the loop
    /// ends within (1 + MAX_FREQ) steps per entry held.
    fn evict_one(&mut self) -> bool {
        loop {
            let [small, main] = self.head;
            if small != NIL && (self.small_bytes >= self.small_budget || main == NIL) {
                let Some(e) = self.hot.get_mut(small as usize).and_then(|h| h.entry.as_mut()) else {
                    return false;
                };
                if *e.freq.get_mut() > 0 {
                    // Hit while in small: promoted, with a clean slate.
                    *e.freq.get_mut() = 0;
                    e.in_main = true;
                    self.unlink(small, SMALL);
                    self.small_bytes -= self.cold.get(small as usize).map_or(0, |c| c.charge);
                    self.link_newest(small, MAIN);
                    continue;
                }
                let Some(gone) = self.release(small) else { return false };
                self.ghost.add(gone.hash, self.table.len() + 1);
                return true;
            }
            if main == NIL {
                return false;
            }
            let Some(e) = self.hot.get_mut(main as usize).and_then(|h| h.entry.as_mut()) else {
                return false;
            };
            let freq = e.freq.get_mut();
            if *freq > 0 {
                // A second chance: the oldest becomes the newest, which in
                // a circular list is only a matter of moving the head.
                *freq -= 1;
                self.head[MAIN] = self.cold.get(main as usize).map_or(NIL, |c| c.next);
                continue;
            }
            return self.release(main).is_some();
        }
    }

    #[inline]
    fn find(&self, hash: u64, key: &str) -> Option<u32> {
        self.find_bytes(hash, key.as_bytes())
    }

    #[inline]
    fn find_bytes(&self, hash: u64, key: &[u8]) -> Option<u32> {
        let hot = &self.hot;
        self.table
            .find(hash, |&i| {
                // Comparing the full hash first skips the key's heap memory
                // for the rare slot whose 7-bit tag matched by chance.
                hot.get(i as usize)
                    .and_then(|h| h.entry.as_ref())
                    .is_some_and(|e| e.hash == hash && e.key.as_bytes() == key)
            })
            .copied()
    }

    #[inline]
    fn entry(&self, idx: u32) -> Option<&Entry<V>> {
        self.hot.get(idx as usize).and_then(|h| h.entry.as_ref())
    }

    /// A free slab index; grows the slab when the free list is empty.
    fn alloc(&mut self) -> u32 {
        if let Some(idx) = self.free.pop() {
            return idx;
        }
        // Indices are u32; a slab that full (billions of entries) evicts
        // an entry to reuse its slot instead of growing.
        match u32::try_from(self.hot.len()) {
            Ok(idx) if idx != NIL => {
                self.hot.push(Hot { entry: None });
                self.cold.push(Cold { prev: idx, next: idx, charge: 0, expires: None });
                idx
            }
            _ => {
                self.evict_one();
                self.free.pop().unwrap_or(NIL)
            }
        }
    }

    /// Unlinks, unindexes and frees slot `idx`; returns its entry.
    fn release(&mut self, idx: u32) -> Option<Entry<V>> {
        let entry = self.hot.get_mut(idx as usize)?.entry.take()?;
        self.unlink(idx, usize::from(entry.in_main));
        if let Ok(found) = self.table.find_entry(entry.hash, |&i| i == idx) {
            found.remove();
        }
        let charge = self.cold.get(idx as usize).map_or(0, |c| c.charge);
        self.bytes -= charge;
        if !entry.in_main {
            self.small_bytes -= charge;
        }
        self.free.push(idx);
        Some(entry)
    }

    /// Takes `idx` out of queue `q`.
    fn unlink(&mut self, idx: u32, q: usize) {
        let Some(c) = self.cold.get(idx as usize) else { return };
        let (prev, next) = (c.prev, c.next);
        if let Some(head) = self.head.get_mut(q)
            && *head == idx
        {
            *head = if next == idx { NIL } else { next };
        }
        if let Some(p) = self.cold.get_mut(prev as usize) {
            p.next = next;
        }
        if let Some(n) = self.cold.get_mut(next as usize) {
            n.prev = prev;
        }
    }

    /// Links `idx` as the newest entry of queue `q`: between the newest
    /// and the head.
    fn link_newest(&mut self, idx: u32, q: usize) {
        let Some(&head) = self.head.get(q) else { return };
        let (prev, next) = if head == NIL {
            if let Some(h) = self.head.get_mut(q) {
                *h = idx;
            }
            (idx, idx)
        } else {
            (self.cold.get(head as usize).map_or(head, |c| c.prev), head)
        };
        if let Some(c) = self.cold.get_mut(idx as usize) {
            c.prev = prev;
            c.next = next;
        }
        if let Some(p) = self.cold.get_mut(prev as usize) {
            p.next = idx;
        }
        if let Some(n) = self.cold.get_mut(next as usize) {
            n.prev = idx;
        }
    }
}

fn hash_of<V>(hot: &[Hot<V>], idx: u32) -> u64 {
    hot.get(idx as usize).and_then(|h| h.entry.as_ref()).map_or(0, |e| e.hash)
}

#[cfg(test)]
impl<V> S3Fifo<V> {
    /// Slots of queue `q`, newest first.
    fn slots(&self, q: usize) -> Vec<u32> {
        let mut out = Vec::new();
        let head = self.head[q];
        if head == NIL {
            return out;
        }
        let mut idx = self.cold[head as usize].prev;
        loop {
            out.push(idx);
            assert!(out.len() <= self.hot.len(), "queue {q} does not close");
            if idx == head {
                return out;
            }
            idx = self.cold[idx as usize].prev;
        }
    }

    /// Keys of one queue, newest first.
    fn queue(&self, main: bool) -> Vec<&str> {
        let slots = self.slots(usize::from(main));
        let key = |i| self.entry(i).map(|e| e.key.as_bytes()).expect("queued slot has an entry");
        slots.into_iter().map(|i| std::str::from_utf8(key(i)).expect("keys are UTF-8")).collect()
    }

    /// The value of `key` without counting a hit.
    fn peek(&self, hash: u64, key: &str) -> Option<&V> {
        self.find(hash, key).and_then(|i| self.entry(i)).map(|e| &e.value)
    }

    fn freq(&self, hash: u64, key: &str) -> Option<u8> {
        self.find(hash, key).and_then(|i| self.entry(i)).map(|e| e.freq.load(Ordering::Relaxed))
    }

    /// Checks the links, the table, the queue flags and the byte counts
    /// against each other.
    fn check(&self) {
        let mut bytes = [0usize; 2];
        let mut count = 0;
        for q in [SMALL, MAIN] {
            for idx in self.slots(q) {
                let c = &self.cold[idx as usize];
                assert_eq!(self.cold[c.next as usize].prev, idx, "broken link");
                let e = self.entry(idx).expect("queued slot has an entry");
                assert_eq!(e.in_main, q == MAIN, "entry in the wrong queue");
                assert_eq!(e.expiring, c.expires.is_some());
                let key = std::str::from_utf8(e.key.as_bytes()).expect("keys are UTF-8");
                assert_eq!(self.find(e.hash, key), Some(idx));
                assert!(e.freq.load(Ordering::Relaxed) <= MAX_FREQ);
                bytes[q] += c.charge;
                count += 1;
            }
        }
        assert_eq!(count, self.table.len(), "queues and table disagree");
        assert_eq!(bytes[SMALL], self.small_bytes, "small byte count drifted");
        assert_eq!(bytes[SMALL] + bytes[MAIN], self.bytes, "byte count drifted");
        assert!(self.bytes <= self.budget, "over budget");
        assert_eq!(self.hot.len(), self.cold.len());
        assert_eq!(self.free.len() + count, self.hot.len(), "leaked slots");
        let slots = self.ghost.slots.len();
        assert!(slots == 0 || slots.is_power_of_two());
        // Sized by the entry count when it grows, so at most twice the
        // slab (whose size the budget bounds).
        assert!(slots <= (2 * self.hot.len()).max(GHOST_MIN), "ghost unbounded");
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::Duration;

    use super::*;

    /// Tests may use a dumb hash: the table only needs equal keys to hash
    /// equally; collisions exercise the key comparison. (The ghost queue
    /// remembers hashes, so tests that rely on it use distinct lengths.)
    fn h(key: &str) -> u64 {
        key.len() as u64
    }

    fn put(c: &mut S3Fifo<u32>, key: &str, value: u32, charge: usize) -> Inserted {
        let r = c.insert(h(key), Key::new(key), value, charge, None);
        c.check();
        r
    }

    fn get(c: &S3Fifo<u32>, key: &str) -> Option<u32> {
        let r = match c.get(h(key), key, Instant::now) {
            Lookup::Hit(v) => Some(*v),
            Lookup::Expired | Lookup::Miss => None,
        };
        c.check();
        r
    }

    #[test]
    fn unhit_entries_leave_in_insertion_order() {
        // Budget 100, small share 10: everything sits in small until full;
        // nothing hit, so FIFO.
        let mut c = S3Fifo::new(100);
        for (i, k) in ["a", "bb", "ccc", "dddd", "eeeee"].iter().enumerate() {
            put(&mut c, k, i as u32, 20);
        }
        assert_eq!(c.queue(false), ["eeeee", "dddd", "ccc", "bb", "a"]);
        assert_eq!(put(&mut c, "ffffff", 5, 20), Inserted { stored: true, evicted: 1 });
        assert_eq!(get(&c, "a"), None, "oldest unhit entry went first");
        assert_eq!(put(&mut c, "ggggggg", 6, 40), Inserted { stored: true, evicted: 2 });
        assert_eq!(c.queue(false), ["ggggggg", "ffffff", "eeeee", "dddd"]);
        assert!(c.queue(true).is_empty());
        assert_eq!(c.bytes(), 100);
    }

    #[test]
    fn a_hit_in_small_promotes_to_main() {
        let mut c = S3Fifo::new(100);
        put(&mut c, "a", 1, 30);
        put(&mut c, "bb", 2, 30);
        put(&mut c, "ccc", 3, 30);
        assert_eq!(get(&c, "a"), Some(1));
        assert_eq!(c.freq(h("a"), "a"), Some(1));
        // Room for dddd: a (oldest, hit) moves to main with frequency 0,
        // bb (oldest unhit) is evicted.
        assert_eq!(put(&mut c, "dddd", 4, 30), Inserted { stored: true, evicted: 1 });
        assert_eq!(c.queue(true), ["a"]);
        assert_eq!(c.queue(false), ["dddd", "ccc"]);
        assert_eq!(c.freq(h("a"), "a"), Some(0));
        assert_eq!(get(&c, "bb"), None);
    }

    #[test]
    fn ghost_hit_enters_main() {
        let mut c = S3Fifo::new(100);
        put(&mut c, "a", 1, 50);
        put(&mut c, "bb", 2, 50);
        put(&mut c, "ccc", 3, 50); // evicts a (unhit) into the ghost queue
        assert_eq!(get(&c, "a"), None);
        assert!(c.queue(true).is_empty());
        put(&mut c, "a", 4, 50); // back soon: straight into main
        assert_eq!(c.queue(true), ["a"]);
        assert_eq!(c.queue(false), ["ccc"]);
        // A second return without an eviction in between is a fresh key.
        assert_eq!(c.remove(h("a"), "a"), Some(4));
        put(&mut c, "a", 5, 50);
        assert_eq!(c.queue(false), ["a", "ccc"]);
    }

    #[test]
    fn frequent_entry_survives_a_scan_of_one_time_keys() {
        // 1_000 bytes of 10-byte entries: 100 fit. One hot key is hit
        // between scan keys; 10_000 one-time keys pass through.
        let mut c = S3Fifo::new(1_000);
        put(&mut c, "hot", 0, 10);
        for i in 0..10_000u32 {
            assert_eq!(get(&c, "hot"), Some(0), "hot key lost at scan key {i}");
            let key = format!("scan-{i}");
            c.insert(u64::from(i) + 1_000, Key::new(&key), i, 10, None);
            if i % 997 == 0 {
                c.check();
            }
        }
        c.check();
        assert_eq!(c.queue(true), ["hot"], "only the hot key made it to main");
        // Main also shields it from a burst longer than the whole cache
        // with no hit in between, which would flush an exact LRU.
        for i in 0..200u32 {
            c.insert(u64::from(i) + 50_000, Key::new(&format!("burst-{i}")), i, 10, None);
        }
        assert_eq!(get(&c, "hot"), Some(0), "a burst of 200 new keys (2x capacity)");
    }

    #[test]
    fn main_gives_one_second_chance_per_hit() {
        let mut c = S3Fifo::new(100);
        // Make a and bb residents of main via the ghost queue.
        put(&mut c, "a", 1, 50);
        put(&mut c, "bb", 2, 50);
        put(&mut c, "ccc", 3, 50); // a -> ghost
        put(&mut c, "a", 1, 50); // ghost hit: main; bb -> ghost
        put(&mut c, "bb", 2, 50); // ghost hit: main; ccc -> ghost
        assert_eq!(c.queue(true), ["bb", "a"]);
        assert!(c.queue(false).is_empty());
        get(&c, "a");
        get(&c, "a");
        // Room for eeeee, small being empty: main's oldest, a (frequency
        // 2), gets a second chance and one unit less; bb (no hit) goes.
        assert_eq!(put(&mut c, "eeeee", 5, 50), Inserted { stored: true, evicted: 1 });
        assert_eq!(c.queue(true), ["a"]);
        assert_eq!(c.freq(h("a"), "a"), Some(1));
        // Small (eeeee, 50 bytes) is over its share: small goes first.
        put(&mut c, "ffffff", 6, 50);
        assert_eq!(c.queue(true), ["a"]);
        assert_eq!(c.queue(false), ["ffffff"]);
        // With small at its share again, a spends its last unit, then goes.
        c.remove(h("ffffff"), "ffffff");
        put(&mut c, "g", 7, 5);
        assert_eq!(put(&mut c, "hh", 8, 50), Inserted { stored: true, evicted: 1 });
        assert_eq!(c.queue(true), Vec::<&str>::new());
        assert_eq!(c.queue(false), ["hh", "g"]);
    }

    #[test]
    fn frequency_saturates() {
        let mut c = S3Fifo::new(100);
        put(&mut c, "a", 1, 10);
        for _ in 0..10 {
            get(&c, "a");
        }
        assert_eq!(c.freq(h("a"), "a"), Some(MAX_FREQ));
        // Replacing counts as a hit and keeps the queue.
        put(&mut c, "a", 2, 10);
        assert_eq!(c.freq(h("a"), "a"), Some(MAX_FREQ));
    }

    #[test]
    fn replace_fixes_accounting_and_never_evicts_itself() {
        let mut c = S3Fifo::new(30);
        put(&mut c, "a", 1, 10);
        put(&mut c, "b", 2, 10);
        assert_eq!(put(&mut c, "a", 7, 15), Inserted { stored: true, evicted: 0 });
        assert_eq!((c.bytes(), c.len()), (25, 2));
        assert_eq!(c.freq(h("a"), "a"), Some(1));
        // Growing the replaced entry evicts the others, never itself, even
        // though it is the oldest.
        assert_eq!(put(&mut c, "a", 8, 30), Inserted { stored: true, evicted: 1 });
        assert_eq!(c.queue(false), ["a"]);
        assert_eq!(get(&c, "a"), Some(8));
        assert_eq!(c.bytes(), 30);
    }

    #[test]
    fn oversize_is_rejected_and_drops_the_old_value() {
        let mut c = S3Fifo::new(30);
        put(&mut c, "a", 1, 10);
        put(&mut c, "b", 2, 10);
        assert_eq!(put(&mut c, "a", 9, 31), Inserted { stored: false, evicted: 0 });
        assert_eq!(get(&c, "a"), None);
        assert_eq!(c.queue(false), ["b"]);
        assert_eq!(c.bytes(), 10);
        // Exactly the budget fits.
        assert_eq!(put(&mut c, "c", 3, 30), Inserted { stored: true, evicted: 1 });
        assert_eq!(c.queue(false), ["c"]);
    }

    #[test]
    fn zero_budget_holds_nothing() {
        let mut c = S3Fifo::new(0);
        assert!(!put(&mut c, "a", 1, 1).stored);
        assert_eq!(c.len(), 0);
        // A zero charge fits a zero budget; the map is still consistent.
        assert!(put(&mut c, "z", 1, 0).stored);
        assert_eq!(get(&c, "z"), Some(1));
    }

    #[test]
    fn remove_and_clear_reuse_slots() {
        let mut c = S3Fifo::new(100);
        for (i, k) in ["a", "bb", "cc", "ddd"].iter().enumerate() {
            put(&mut c, k, i as u32, 10);
        }
        assert_eq!(c.remove(h("cc"), "cc"), Some(2));
        c.check();
        assert_eq!(c.remove(h("cc"), "cc"), None);
        assert_eq!(get(&c, "bb"), Some(1), "same hash as the removed key");
        put(&mut c, "e", 4, 10);
        assert_eq!(c.hot.len(), 4, "the freed slot was reused");
        assert_eq!(c.queue(false), ["e", "ddd", "bb", "a"]);
        c.clear();
        c.check();
        assert_eq!((c.len(), c.bytes()), (0, 0));
        assert_eq!(get(&c, "a"), None);
        put(&mut c, "a", 1, 10);
        assert_eq!(get(&c, "a"), Some(1));
    }

    #[test]
    fn expired_entries_are_reported_then_dropped_with_exclusive_access() {
        let mut c = S3Fifo::new(100);
        let t0 = Instant::now();
        let later = t0 + Duration::from_secs(10);
        c.insert(1, Key::new("a"), 1, 10, Some(later));
        c.insert(1, Key::new("b"), 2, 10, None);
        assert!(matches!(c.get(1, "a", || t0), Lookup::Hit(1)));
        assert!(matches!(c.get(1, "b", || unreachable!("no expiry, no clock")), Lookup::Hit(2)));
        assert!(matches!(c.get(1, "a", || later), Lookup::Expired));
        assert_eq!(c.len(), 2, "a shared lookup cannot remove");
        assert!(!c.remove_expired(1, "b", || later), "b has no expiry");
        assert!(!c.remove_expired(1, "a", || t0), "a is fresh at t0");
        assert!(matches!(c.get_mut(1, "a", || later), Lookup::Expired));
        c.check();
        assert!(!c.remove_expired(1, "a", || later), "already gone");
        c.insert(1, Key::new("a"), 3, 10, Some(later));
        assert!(c.remove_expired(1, "a", || later));
        c.check();
        assert!(matches!(c.get_mut(1, "a", || t0), Lookup::Miss));
        assert!(matches!(c.get_mut(1, "b", || t0), Lookup::Hit(2)));
        assert_eq!(c.bytes(), 10);
    }

    #[test]
    fn ghost_remembers_recent_hashes_in_bounded_space() {
        let mut g = Ghost::new();
        assert!(!g.take(7), "empty");
        g.add(7, 1);
        assert_eq!(g.slots.len(), GHOST_MIN);
        assert!(g.take(7));
        assert!(!g.take(7), "taken once");
        assert!(!g.take(0) && !g.take(GHOST_MIN as u64), "zero is never remembered");
        // Sized to the entry count it is told (a power of two); growing
        // keeps what it held.
        g.add(3, 10);
        g.add(100, 100);
        assert_eq!(g.slots.len(), 128);
        assert!(g.take(3) && g.take(100));
        // A newer hash for the same slot replaces the older one.
        g.add(5, 100);
        g.add(5 + 128, 100);
        assert!(!g.take(5) && g.take(5 + 128));
        // Remembers about as many recent hashes as it has slots: of the
        // last 64 of 10_000 well-spread hashes, most are still there.
        let spread = |i: u64| (i + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        for i in 0..10_000 {
            g.add(spread(i), 100);
        }
        assert_eq!(g.slots.len(), 128);
        let recent = (10_000 - 64..10_000).filter(|&i| g.take(spread(i))).count();
        assert!(recent >= 48, "{recent} of the last 64");
        assert!(!g.take(spread(0)), "the first is long gone");
    }

    #[test]
    fn many_operations_stay_consistent() {
        // A deterministic mix of inserts, gets and removes over a small key
        // space, checked after every step against a model of what each key
        // last held: a hit returns exactly that, a removed key is absent.
        let mut c = S3Fifo::new(200);
        let mut model: HashMap<String, u32> = HashMap::new();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let (mut hits, mut evictions) = (0, 0);
        for step in 0..20_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let key = format!("k{}", x % 23);
            let charge = (x >> 8) as usize % 60;
            match (x >> 20) % 4 {
                0 | 1 => {
                    let r = c.insert(h(&key), Key::new(&key), step, charge, None);
                    assert!(r.stored);
                    evictions += r.evicted;
                    model.insert(key, step);
                }
                2 => match c.get(h(&key), &key, Instant::now) {
                    Lookup::Hit(v) => {
                        assert_eq!(Some(v), model.get(&key), "{key}");
                        hits += 1;
                    }
                    Lookup::Miss => {}
                    Lookup::Expired => panic!("no expiry set"),
                },
                _ => {
                    let got = c.remove(h(&key), &key);
                    let want = model.remove(&key);
                    assert!(got.is_none() || got == want, "{key}: {got:?} vs {want:?}");
                }
            }
            c.check();
            // Whatever the cache holds, the model holds with the same value.
            for k in c.queue(false).into_iter().chain(c.queue(true)) {
                assert_eq!(c.peek(h(k), k), model.get(k), "{k}");
            }
        }
        assert!(hits > 1_000 && evictions > 1_000, "hits {hits}, evictions {evictions}");
        assert!(!c.queue(true).is_empty(), "main was used");
    }
}
