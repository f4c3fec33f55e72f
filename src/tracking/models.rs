//! Model checks of the protocols that exact-once cleaning rests on, run by
//! `loom` over the real code (see [`crate::loom`]):
//!
//! ```text
//! RUSTFLAGS="--cfg tempreg_loom" cargo test --lib --release models -- --test-threads=1
//! ```
//!
//! Each model explores every interleaving of a few threads (bounded by
//! `LOOM_MAX_PREEMPTIONS`, 3 by default here) and checks an invariant the
//! crate's promises need:
//!
//! - the table's register / close handshake against a purge's claim: after
//!   `close()`, a purge leaves nothing, and an entry is never lost;
//! - a guard's claim (drop, close) against a purge's claim, with a failed
//!   clean-up putting the entry back: one owner at a time, nothing lost;
//! - a guard's last act against a purge that puts its entry back: exactly
//!   one of them cleans it, and it is never left tracked with no guard;
//! - the reaper's backlog: no item left queued with no job to run it, at
//!   most one job, and the pending count returns to zero;
//! - the reserve's refill against a purge's take: a file made by a refill
//!   that was running when the purge began goes to that purge;
//! - the reserve's trimmer against a purge's take: files the trimmer took
//!   are removed before the purge takes the rest;
//! - a sync handle's revoke against the guard's drop and `into_parts`: the
//!   guard's fd is never closed while a revoke swaps it, and every fd ends
//!   closed.

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;

use super::entry::{Entry, EntryKind, Handle};
use super::reaper::Backlog;
use super::reserve::{Stock, Trim, WARMUP};
use super::sync_handle::SyncHandle;
use super::table::Table;
use crate::sys;

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder.check(f);
}

fn entry() -> Entry {
    Entry::new(EntryKind::TempFile, None, Handle::None)
}

#[test]
fn a_purge_after_close_leaves_nothing_and_loses_nothing() {
    model(|| {
        let table = Arc::new(Table::new());
        let registrar = {
            let table = Arc::clone(&table);
            thread::spawn(move || table.register(entry()).map_err(|back| back.is_some()))
        };
        assert!(table.close());
        let claimed = table.claim_all();
        match registrar.join().unwrap() {
            // Registered before it could see the close: the purge has it.
            Ok(id) => assert!(claimed.iter().any(|(got, _)| *got == id)),
            // It saw the close and took its entry back itself...
            Err(true) => assert!(claimed.is_empty()),
            // ...or the purge took it first.
            Err(false) => assert_eq!(claimed.len(), 1),
        }
        assert_eq!(table.len(), 0, "nothing is left after close() and a purge");
    });
}

#[test]
fn a_guard_ending_while_a_purge_has_its_entry_is_never_left_tracked() {
    model(|| {
        let table = Arc::new(Table::new());
        let id = table.register(entry()).expect("open");
        let cleaned = Arc::new(AtomicUsize::new(0));
        let purge = {
            let (table, cleaned) = (Arc::clone(&table), Arc::clone(&cleaned));
            thread::spawn(move || {
                // A purge whose clean-up fails (a busy handle): it puts the
                // entry back, or cleans it if its guard ended meanwhile.
                table.lend();
                for (id, entry) in table.claim_all() {
                    if table.put_back(id, entry).is_some() {
                        cleaned.fetch_add(1, Ordering::SeqCst);
                    }
                }
                table.end_loan();
            })
        };
        // The guard's last act (close, drop).
        if table.claim_or_abandon(id).is_some() {
            cleaned.fetch_add(1, Ordering::SeqCst);
        }
        purge.join().unwrap();
        // Exactly one of the two cleaned it, and nothing stays tracked
        // with no guard left.
        assert_eq!(cleaned.load(Ordering::SeqCst), 1);
        assert_eq!(table.len(), 0);
    });
}

#[test]
fn a_guard_and_a_purge_never_own_an_entry_at_once() {
    model(|| {
        let table = Arc::new(Table::new());
        let id = table.register(entry()).expect("open");
        let owners = Arc::new(AtomicUsize::new(0));
        let guard = {
            let (table, owners) = (Arc::clone(&table), Arc::clone(&owners));
            thread::spawn(move || {
                // A close that fails: claim, clean (and fail), put back.
                if let Some(entry) = table.claim(id) {
                    assert_eq!(owners.fetch_add(1, Ordering::SeqCst), 0, "two owners");
                    owners.fetch_sub(1, Ordering::SeqCst);
                    table.restore(id, entry);
                }
            })
        };
        let purged = table.claim_all();
        if !purged.is_empty() {
            assert_eq!(owners.fetch_add(1, Ordering::SeqCst), 0, "two owners");
            owners.fetch_sub(1, Ordering::SeqCst);
        }
        guard.join().unwrap();
        assert_eq!(
            purged.len() + table.len(),
            1,
            "the entry is either the purge's or back in the table"
        );
    });
}

#[test]
fn the_backlog_never_strands_an_item_and_runs_one_job() {
    model(|| {
        let backlog = Arc::new(Backlog::<u32>::default());
        let worked = Arc::new(AtomicUsize::new(0));
        let busy = Arc::new(AtomicUsize::new(0));
        let producer = |item: u32| {
            let (backlog, worked, busy) =
                (Arc::clone(&backlog), Arc::clone(&worked), Arc::clone(&busy));
            thread::spawn(move || {
                if !backlog.push(item) {
                    return;
                }
                // This thread starts the job (it runs inline here). Two jobs
                // must never work on batches at once.
                while let Some(batch) = backlog.next_batch() {
                    assert_eq!(busy.fetch_add(1, Ordering::SeqCst), 0, "two jobs at once");
                    worked.fetch_add(batch.len(), Ordering::SeqCst);
                    busy.fetch_sub(1, Ordering::SeqCst);
                    backlog.done(batch.len());
                }
            })
        };
        let a = producer(1);
        let b = producer(2);
        a.join().unwrap();
        b.join().unwrap();
        assert_eq!(worked.load(Ordering::SeqCst), 2, "an item was stranded");
        assert_eq!(backlog.pending(), 0);
        assert!(backlog.next_batch().is_none());
    });
}

#[test]
fn a_refill_running_when_a_purge_begins_goes_to_that_purge() {
    model(|| {
        let stock = Arc::new(Stock::<u32>::new(4));
        for _ in 0..WARMUP {
            assert_eq!(stock.take(true), (None, false));
        }
        let (first, refill) = stock.take(true);
        assert!(
            first.is_none() && refill,
            "an empty stock asks for a refill"
        );
        let refiller = {
            let stock = Arc::clone(&stock);
            thread::spawn(move || {
                let wanted = stock.wanted();
                stock.finish((0..wanted as u32).collect());
            })
        };
        // The purge: waits for the refill in progress, then takes it all.
        let purged = loop {
            if let Some(files) = stock.take_all_if_idle() {
                break files;
            }
            thread::yield_now();
        };
        refiller.join().unwrap();
        assert_eq!(purged.len(), 4, "the refill's files went to the purge");
        assert!(stock.take_all_now().is_empty(), "none appeared after it");
    });
}

#[test]
fn files_the_trimmer_took_are_removed_before_a_purge_takes_the_rest() {
    model(|| {
        let stock = Arc::new(Stock::<u32>::new(4));
        for _ in 0..WARMUP {
            stock.take(true);
        }
        let (_, refill) = stock.take(true);
        assert!(refill, "an empty stock asks for a refill");
        stock.finish((0..4).collect());
        let removed = Arc::new(AtomicUsize::new(0));
        let trimmer = {
            let (stock, removed) = (Arc::clone(&stock), Arc::clone(&removed));
            thread::spawn(move || {
                if let Trim::Idle(files) = stock.trim_if_idle(std::time::Duration::ZERO) {
                    // The removal, on the blocking pool in the crate.
                    removed.fetch_add(files.len(), Ordering::SeqCst);
                }
                stock.stop_trimming();
            })
        };
        let purged = loop {
            if let Some(files) = stock.take_all_if_idle() {
                break files;
            }
            thread::yield_now();
        };
        assert_eq!(
            purged.len() + removed.load(Ordering::SeqCst),
            4,
            "a file the trimmer took was still there when the purge returned"
        );
        trimmer.join().unwrap();
    });
}

#[test]
fn a_revoke_never_races_the_guard_closing_its_fd() {
    model(|| {
        let file = tempfile::tempfile().expect("a file to revoke");
        let raw = sys::RawFile::of(&file, None);
        let handle = SyncHandle::new(&file, None);
        let purge = {
            let handle = std::sync::Arc::clone(&handle);
            thread::spawn(move || handle.revoke().expect("revoke"))
        };
        handle.release(file);
        let revoked = purge.join().unwrap();
        assert_eq!(handle.is_revoked(), revoked);
        assert!(!sys::is_open(raw), "every fd ends closed, none leaked");
    });
}

#[test]
fn a_guard_taking_its_file_waits_for_a_revoke_in_progress() {
    model(|| {
        let file = tempfile::tempfile().expect("a file to revoke");
        let handle = SyncHandle::new(&file, None);
        let purge = {
            let handle = std::sync::Arc::clone(&handle);
            thread::spawn(move || handle.revoke().expect("revoke"))
        };
        let revoked_before = handle.detach();
        let revoked = purge.join().unwrap();
        // Either the guard took the file first (the purge then left it) or
        // the purge revoked it first (and the guard waited for that).
        assert_eq!(revoked_before, revoked);
        use std::io::Write;
        let mut file = file;
        assert_eq!(file.write_all(b"x").is_ok(), !revoked);
    });
}
