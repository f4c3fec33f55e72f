//! The table of live entries: a `DashMap` from id to [`Entry`].
//!
//! # Invariants
//!
//! - An entry is cleaned only by whoever took it out ([`claim`](Table::claim),
//!   [`claim_all`](Table::claim_all)); `DashMap::remove` hands it to exactly
//!   one caller. A clean-up that fails puts it back
//!   ([`restore`](Table::restore)) under the same id.
//! - Registration re-checks `closed` after inserting. Paired with `close()`
//!   setting the flag before a purge takes its snapshot (both `SeqCst`),
//!   either the purge sees the new entry or the registering call sees the
//!   flag and takes its entry back, so a purge after `close()` leaves
//!   nothing.
//! - A shard lock is held only inside one `insert`, `remove`, `get` or
//!   iteration step, never across I/O, an `.await`, a guard's Drop (an
//!   `Entry` has no Drop that does anything but free memory) or a call
//!   back into the registry.
//! - **A guard that ends while a purge has its entry out is never
//!   forgotten.** A purge may put an entry back (a busy handle, an I/O
//!   error, its deadline). A guard's last act (`close`, drop) that finds its
//!   entry out while a purge holds a loan ([`lend`](Table::lend)) marks it
//!   abandoned ([`claim_or_abandon`](Table::claim_or_abandon)); the purge's
//!   [`put_back`](Table::put_back) of a marked entry hands it back to be
//!   cleaned at once instead of tracked with no guard left. Marking and
//!   putting back both run under the `abandoned` mutex, and each re-checks
//!   the map under it, so one of the two always sees the other. Marks are
//!   cleared when the last loan ends (a late mark for an entry the purge
//!   finished stays until the next loan ends: harmless, ids are never
//!   reused). Lock order: `abandoned`, then a shard.

use std::collections::HashSet;

use super::entry::{Entry, EntryInfo};
use crate::loom::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use crate::loom::{Mutex, MutexGuard};
use crate::session::Session;

#[derive(Debug)]
pub(crate) struct Table {
    map: map::Map,
    next_id: AtomicU64,
    closed: AtomicBool,
    /// Purges (and their flushes left running) that may put entries back.
    lent: AtomicUsize,
    /// Ids of entries out with a purge whose guard has ended since.
    abandoned: Mutex<HashSet<u64>>,
}

/// The map itself: a `DashMap`, or under the loom models a mutex-guarded
/// `HashMap` (the map's own locking is `dashmap`'s to test; the protocol
/// around it is ours).
mod map {
    #[cfg(not(tempreg_loom))]
    pub(super) type Map = dashmap::DashMap<u64, super::Entry, foldhash::fast::RandomState>;

    #[cfg(not(tempreg_loom))]
    pub(super) fn new() -> Map {
        Map::with_hasher(foldhash::fast::RandomState::default())
    }

    #[cfg(tempreg_loom)]
    pub(super) use self::models::{new, Map};

    #[cfg(tempreg_loom)]
    mod models {
        use std::collections::HashMap;

        use crate::loom::Mutex;
        use crate::tracking::entry::Entry;

        #[derive(Debug)]
        pub(crate) struct Map(Mutex<HashMap<u64, Entry>>);

        pub(crate) fn new() -> Map {
            Map(Mutex::new(HashMap::new()))
        }

        /// What `DashMap` offers and the table uses.
        impl Map {
            pub(crate) fn insert(&self, id: u64, entry: Entry) {
                self.0.lock().unwrap().insert(id, entry);
            }
            pub(crate) fn remove(&self, id: &u64) -> Option<(u64, Entry)> {
                self.0.lock().unwrap().remove(id).map(|e| (*id, e))
            }
            pub(crate) fn len(&self) -> usize {
                self.0.lock().unwrap().len()
            }
            pub(crate) fn capacity(&self) -> usize {
                self.0.lock().unwrap().capacity()
            }
            pub(crate) fn shrink_to_fit(&self) {
                self.0.lock().unwrap().shrink_to_fit()
            }
            pub(crate) fn ids(&self, keep: impl Fn(&Entry) -> bool) -> Vec<u64> {
                let map = self.0.lock().unwrap();
                map.iter()
                    .filter(|(_, e)| keep(e))
                    .map(|(id, _)| *id)
                    .collect()
            }
            pub(crate) fn collect<T>(&self, f: impl Fn(&Entry) -> T) -> Vec<T> {
                self.0.lock().unwrap().values().map(f).collect()
            }
            pub(crate) fn with<T>(&self, id: u64, f: impl FnOnce(&mut Entry) -> T) -> Option<T> {
                self.0.lock().unwrap().get_mut(&id).map(f)
            }
        }
    }
}

impl Table {
    pub(crate) fn new() -> Table {
        Table {
            map: map::new(),
            next_id: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            lent: AtomicUsize::new(0),
            abandoned: Mutex::new(HashSet::new()),
        }
    }

    fn abandoned(&self) -> MutexGuard<'_, HashSet<u64>> {
        self.abandoned.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A purge is about to take entries out and may put some back: until
    /// the matching [`end_loan`](Self::end_loan), guards that end meanwhile
    /// mark their entry abandoned. Called before the entries are claimed.
    pub(crate) fn lend(&self) {
        self.lent.fetch_add(1, Ordering::SeqCst);
    }

    /// The end of a [`lend`](Self::lend): once no loan is left, no entry
    /// can come back, and the marks are cleared.
    pub(crate) fn end_loan(&self) {
        if self.lent.fetch_sub(1, Ordering::SeqCst) == 1 {
            let mut abandoned = self.abandoned();
            // A loan taken since keeps its marks.
            if self.lent.load(Ordering::SeqCst) == 0 {
                abandoned.clear();
                abandoned.shrink_to_fit();
            }
        }
    }

    /// A guard's last act on its entry (`close`, drop): takes the entry out,
    /// or, if a purge has it out and may put it back, marks it abandoned so
    /// that the purge cleans it rather than putting it back. `None` if the
    /// entry is not here to take.
    pub(crate) fn claim_or_abandon(&self, id: u64) -> Option<Entry> {
        if let Some(entry) = self.claim(id) {
            return Some(entry);
        }
        // Under the lock no entry can be put back: a second look finds one
        // put back before it, and with no loan left none can come back.
        let mut abandoned = self.abandoned();
        if let Some(entry) = self.claim(id) {
            return Some(entry);
        }
        if self.lent.load(Ordering::SeqCst) > 0 {
            abandoned.insert(id);
        }
        None
    }

    /// A purge puts back an entry that stays tracked: `None` once it is
    /// back, or the entry itself if its guard has ended meanwhile, for the
    /// caller to clean (see the module invariants).
    pub(crate) fn put_back(&self, id: u64, entry: Entry) -> Option<Entry> {
        let mut abandoned = self.abandoned();
        if abandoned.remove(&id) {
            return Some(entry);
        }
        self.map.insert(id, entry);
        None
    }

    /// The ids of the entries `keep` accepts, one shard at a time.
    #[cfg(not(tempreg_loom))]
    fn ids(&self, keep: impl Fn(&Entry) -> bool) -> Vec<u64> {
        self.map
            .iter()
            .filter(|e| keep(e.value()))
            .map(|e| *e.key())
            .collect()
    }

    #[cfg(tempreg_loom)]
    fn ids(&self, keep: impl Fn(&Entry) -> bool) -> Vec<u64> {
        self.map.ids(keep)
    }

    /// Registers `entry` and returns its id. On a closed registry the entry
    /// is handed back, to be cleaned by the caller, unless a purge already
    /// took it (then `Err(None)`).
    pub(crate) fn register(&self, entry: Entry) -> Result<u64, Option<Entry>> {
        if self.is_closed() {
            return Err(Some(entry));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.map.insert(id, entry);
        if self.is_closed() {
            return Err(self.claim(id));
        }
        Ok(id)
    }

    /// Puts an entry back under its id, closed or not: it is ours to track
    /// (a clean-up, keep or persist that failed, a purge out of time).
    pub(crate) fn restore(&self, id: u64, entry: Entry) {
        self.map.insert(id, entry);
    }

    /// Takes one entry out; the caller now owns its clean-up.
    pub(crate) fn claim(&self, id: u64) -> Option<Entry> {
        self.map.remove(&id).map(|(_, e)| e)
    }

    /// Runs `f` on one entry in place, under its shard's lock: for a flag
    /// or a clone, never I/O. `None` if it is not in the table.
    #[cfg(not(tempreg_loom))]
    pub(crate) fn with<T>(&self, id: u64, f: impl FnOnce(&mut Entry) -> T) -> Option<T> {
        self.map.get_mut(&id).map(|mut e| f(e.value_mut()))
    }

    #[cfg(tempreg_loom)]
    pub(crate) fn with<T>(&self, id: u64, f: impl FnOnce(&mut Entry) -> T) -> Option<T> {
        self.map.with(id, f)
    }

    /// True if an entry that this process made has had its clean-up
    /// disabled by its guard.
    pub(crate) fn any_left_to_user(&self) -> bool {
        !self.ids(|e| e.is_born_here() && !e.cleanup).is_empty()
    }

    /// Takes every entry present now that this process made (a child forked
    /// without exec leaves its parent's alone) and whose clean-up its guard
    /// did not disable. Entries registered meanwhile stay for the next call;
    /// entries dropped meanwhile are cleaned by their guard.
    pub(crate) fn claim_all(&self) -> Vec<(u64, Entry)> {
        let ids = self.ids(|e| e.is_born_here() && e.cleanup);
        ids.into_iter()
            .filter_map(|id| self.map.remove(&id))
            .collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Gives memory back once the table is mostly empty (after a purge of
    /// many entries, a hash table keeps its capacity).
    pub(crate) fn shrink_if_sparse(&self) {
        let capacity = self.map.capacity();
        if capacity > 1024 && self.map.len() < capacity / 4 {
            self.map.shrink_to_fit();
        }
    }

    /// Refuses new entries from now on; true if this call closed it.
    pub(crate) fn close(&self) -> bool {
        !self.closed.swap(true, Ordering::SeqCst)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// A snapshot of every entry, oldest first.
    pub(crate) fn entries(&self, session: &Session) -> Vec<EntryInfo> {
        // Paths are built under each shard's read lock: no I/O, no callback.
        #[cfg(not(tempreg_loom))]
        let mut infos: Vec<EntryInfo> = self.map.iter().map(|e| e.value().info(session)).collect();
        #[cfg(tempreg_loom)]
        let mut infos: Vec<EntryInfo> = self.map.collect(|e| e.info(session));
        infos.sort_by_key(|info| std::cmp::Reverse(info.age));
        infos
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracking::entry::{EntryKind, Handle};

    #[test]
    fn a_purge_that_empties_a_large_table_gives_its_memory_back() {
        let table = Table::new();
        for _ in 0..100_000 {
            let entry = Entry::new(EntryKind::TempFile, None, Handle::None);
            table.register(entry).expect("open table");
        }
        let full = table.map.capacity();
        assert!(full >= 100_000);
        let claimed = table.claim_all();
        assert_eq!(claimed.len(), 100_000);
        table.shrink_if_sparse();
        assert!(
            table.map.capacity() < full / 100,
            "capacity {} after emptying {full}",
            table.map.capacity()
        );
        // A table in use keeps what it needs.
        for (id, entry) in claimed.into_iter().take(50_000) {
            table.restore(id, entry);
        }
        let half = table.map.capacity();
        table.shrink_if_sparse();
        assert_eq!(table.map.capacity(), half, "half full is not sparse");
    }
}
