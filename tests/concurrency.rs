//! Many tasks (or threads) create, write and drop guards while another purges
//! over and over: every entry is cleaned exactly once, nothing is reported
//! gone or failed, and at the end nothing is left on disk.

mod support;

use std::collections::VecDeque;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use support::{assert_empty_dir, assert_session_holds_only_lock, registry_in};
use tempreg::{PurgeReport, ResourceRegistry, TempDir, TempFile, TempPath, TrackedFile};
use tokio::io::AsyncWriteExt;

const WORKERS: usize = 8;
const ROUNDS: usize = 60;
/// Guards each worker keeps alive at a time, so purges find live entries.
const HELD: usize = 6;

enum Held {
    File(TempFile),
    Path(TempPath),
    Dir(TempDir),
    Async(TrackedFile),
}

impl Held {
    fn path(&self) -> PathBuf {
        match self {
            Held::File(g) => g.path().to_path_buf(),
            Held::Path(g) => g.to_path_buf(),
            Held::Dir(g) => g.path().to_path_buf(),
            Held::Async(g) => g.path().to_path_buf(),
        }
    }

    /// Asserts that a purge took this guard's name. A sync temp file's
    /// guard still holds its file (Windows cannot revoke a handle): see
    /// `assert_gone_while_held`.
    fn assert_purged(&self) {
        let path = self.path();
        match self {
            Held::File(_) => {
                support::assert_gone_while_held(&path, "a purged temp file still held")
            }
            _ => assert!(
                !path.exists(),
                "{} survived the final purge",
                path.display()
            ),
        }
    }
}

/// Sums of every report of a run; a purge may find nothing gone and fail on
/// nothing, since each entry is claimed by exactly one cleaner.
#[derive(Default)]
struct Totals {
    purges: usize,
    removed: usize,
    closed: usize,
}

impl Totals {
    fn add(&mut self, report: &PurgeReport) {
        assert!(report.is_clean(), "a concurrent purge failed: {report}");
        assert_eq!(
            report.already_gone(),
            0,
            "a purge found an entry someone else had cleaned: {report}"
        );
        self.purges += 1;
        self.removed += report.removed();
        self.closed += report.closed();
    }
}

/// One round of sync creations; returns how many entries it made.
/// Makes one guard of each sync kind, writing into each. A purge running
/// meanwhile may take any of them first: then the write fails with a closed
/// error (or finds the dir gone), never a panic or a hang.
fn create_sync(registry: &ResourceRegistry, held: &mut VecDeque<Held>, round: usize) -> usize {
    let mut file = registry.temp_file().unwrap();
    let written = file.write_all(format!("round {round}").as_bytes());
    assert!(written.is_ok() || file.is_purged(), "{written:?}");
    held.push_back(Held::File(file));

    let mut tp = registry.temp().prefix("path-").file().unwrap();
    let written = tp.write_all(b"path");
    assert!(written.is_ok() || tp.is_purged(), "{written:?}");
    held.push_back(Held::Path(tp.into_temp_path()));

    let dir = registry.temp_dir().unwrap();
    let written = std::fs::write(dir.path().join("inside.txt"), b"inside");
    assert!(written.is_ok() || !dir.path().exists(), "{written:?}");
    held.push_back(Held::Dir(dir));

    // One more that lives for a moment only.
    drop(registry.temp_file().unwrap());
    4
}

/// Where the test and its workers meet, in this order: every worker has done
/// its rounds; the purger has stopped; every worker has made its fresh
/// guards; the final purge is over. Each is a barrier for all the workers
/// and the test.
struct Phases<B> {
    rounds_done: B,
    purger_stopped: B,
    fresh_made: B,
    final_purged: B,
}

impl<B> Phases<B> {
    /// `barrier(n)` makes a barrier for `n` parties.
    fn new(barrier: impl Fn(usize) -> B) -> Arc<Phases<B>> {
        Arc::new(Phases {
            rounds_done: barrier(WORKERS + 1),
            purger_stopped: barrier(WORKERS + 1),
            fresh_made: barrier(WORKERS + 1),
            final_purged: barrier(WORKERS + 1),
        })
    }
}

fn trim(held: &mut VecDeque<Held>) {
    while held.len() > HELD {
        drop(held.pop_front());
    }
}

#[test]
fn tasks_creating_and_dropping_while_purges_run_clean_everything_once() {
    let root = tempfile::tempdir().unwrap();
    let rt = support::multi_thread_runtime();
    rt.block_on(async {
        let registry = registry_in(root.path());
        let created = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        // Workers finish their rounds; once the purger has stopped they each
        // make one fresh guard of every kind, wait for the final purge, and
        // check that it took exactly those.
        let phases = Phases::new(tokio::sync::Barrier::new);

        let purger = {
            let registry = registry.clone();
            let stop = Arc::clone(&stop);
            tokio::spawn(async move {
                let mut totals = Totals::default();
                while !stop.load(Ordering::Acquire) {
                    totals.add(&registry.purge_all().await);
                    tokio::task::yield_now().await;
                }
                totals
            })
        };

        let mut workers = Vec::new();
        for _ in 0..WORKERS {
            let registry = registry.clone();
            let created = Arc::clone(&created);
            let phases = Arc::clone(&phases);
            workers.push(tokio::spawn(async move {
                let mut held = VecDeque::new();
                for round in 0..ROUNDS {
                    let mut made = create_sync(&registry, &mut held, round);
                    let mut file = registry.temp_file_async().await.unwrap();
                    // A purge may take the handle mid-write: that is an error
                    // for the writer, never a hang or a panic.
                    let _ = file.write_all(b"async").await;
                    held.push_back(Held::Async(file));
                    made += 1;
                    created.fetch_add(made, Ordering::Relaxed);
                    trim(&mut held);
                    tokio::task::yield_now().await;
                }
                phases.rounds_done.wait().await;
                phases.purger_stopped.wait().await;
                drop(held);
                let mut fresh = VecDeque::new();
                let made = create_sync(&registry, &mut fresh, ROUNDS);
                fresh.push_back(Held::Async(registry.temp_file_async().await.unwrap()));
                created.fetch_add(made + 1, Ordering::Relaxed);
                phases.fresh_made.wait().await;
                phases.final_purged.wait().await;
                for guard in &fresh {
                    guard.assert_purged();
                    if let Held::Async(file) = guard {
                        assert!(file.is_purged());
                    }
                }
                drop(fresh);
            }));
        }

        phases.rounds_done.wait().await;
        stop.store(true, Ordering::Release);
        let mut totals = purger.await.unwrap();
        phases.purger_stopped.wait().await;
        phases.fresh_made.wait().await;
        // Each worker holds a temp file, a temp path, a temp dir and an async
        // temp file: the final purge takes exactly those, each once.
        let final_report = registry.purge_all().await;
        totals.add(&final_report);
        assert_eq!(final_report.removed(), WORKERS * 4, "{final_report}");
        // The temp file's fd and the async handle of each.
        assert_eq!(final_report.closed(), WORKERS * 2, "{final_report}");
        assert_eq!(registry.len(), 0);
        phases.final_purged.wait().await;
        for worker in workers {
            worker.await.unwrap();
        }

        let last = registry.purge_all().await;
        totals.add(&last);
        assert_eq!((last.removed(), last.closed()), (0, 0), "{last}");
        assert_eq!(registry.len(), 0);
        assert_session_holds_only_lock(&registry);

        let created = created.load(Ordering::Relaxed);
        assert_eq!(created, WORKERS * (ROUNDS + 1) * 5);
        // Whatever the purges did not remove, a guard's drop did.
        assert!(
            totals.removed <= created,
            "{} removals reported for {created} entries",
            totals.removed
        );
        // At most the two sync temp files and the async one of each round.
        assert!(totals.closed <= WORKERS * (ROUNDS + 1) * 3);
        eprintln!(
            "{created} entries; {} purges removed {} and closed {}; drops cleaned the rest",
            totals.purges, totals.removed, totals.closed
        );
        drop(registry);
    });
    drop(rt);
    assert_empty_dir(root.path());
}

#[test]
fn threads_creating_and_dropping_while_blocking_purges_run_clean_everything_once() {
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let created = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let phases = Phases::new(std::sync::Barrier::new);

    let purger = {
        let registry = registry.clone();
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut totals = Totals::default();
            while !stop.load(Ordering::Acquire) {
                totals.add(&registry.purge_all_blocking());
                std::thread::yield_now();
            }
            totals
        })
    };

    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let registry = registry.clone();
            let created = Arc::clone(&created);
            let phases = Arc::clone(&phases);
            std::thread::spawn(move || {
                let mut held = VecDeque::new();
                for round in 0..ROUNDS {
                    let made = create_sync(&registry, &mut held, round);
                    created.fetch_add(made, Ordering::Relaxed);
                    trim(&mut held);
                }
                phases.rounds_done.wait();
                phases.purger_stopped.wait();
                drop(held);
                let mut fresh = VecDeque::new();
                let made = create_sync(&registry, &mut fresh, ROUNDS);
                created.fetch_add(made, Ordering::Relaxed);
                phases.fresh_made.wait();
                phases.final_purged.wait();
                for guard in &fresh {
                    guard.assert_purged();
                }
            })
        })
        .collect();

    phases.rounds_done.wait();
    stop.store(true, Ordering::Release);
    let mut totals = purger.join().unwrap();
    phases.purger_stopped.wait();
    phases.fresh_made.wait();
    let final_report = registry.purge_all_blocking();
    totals.add(&final_report);
    // A temp file, a temp path and a temp dir per worker; the temp file's fd.
    assert_eq!(final_report.removed(), WORKERS * 3, "{final_report}");
    assert_eq!(final_report.closed(), WORKERS, "{final_report}");
    assert_eq!(registry.len(), 0);
    phases.final_purged.wait();
    for worker in workers {
        worker.join().unwrap();
    }

    let last = registry.purge_all_blocking();
    totals.add(&last);
    assert_eq!(last.removed(), 0, "{last}");
    let created = created.load(Ordering::Relaxed);
    assert_eq!(created, WORKERS * (ROUNDS + 1) * 4);
    assert!(totals.removed <= created);
    // At most the two sync temp files of each round had their fd closed.
    assert!(totals.closed <= WORKERS * (ROUNDS + 1) * 2);
    assert_session_holds_only_lock(&registry);
    drop(registry);
    assert_empty_dir(root.path());
}

#[test]
fn close_racing_with_creators_leaves_nothing_behind() {
    // Registration re-checks `closed`, so once close() returned and a purge
    // ran, no creator can leave an entry or a file behind.
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let go = Arc::new(std::sync::Barrier::new(WORKERS + 1));
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let registry = registry.clone();
            let go = Arc::clone(&go);
            std::thread::spawn(move || {
                go.wait();
                let mut kept = Vec::new();
                loop {
                    match registry.temp_file() {
                        Ok(file) => kept.push(file.into_temp_path()),
                        Err(e) if tempreg::is_closed_error(&e) => break,
                        Err(e) => panic!("unexpected error: {e}"),
                    }
                }
                kept
            })
        })
        .collect();
    go.wait();
    std::thread::yield_now();
    assert!(registry.close());
    let report = registry.purge_all_blocking();
    assert!(report.is_clean(), "{report}");
    let kept: Vec<TempPath> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    assert_eq!(registry.len(), 0, "nothing registered after close survives");
    for path in &kept {
        assert!(!path.exists(), "{} survived", path.display());
    }
    assert_session_holds_only_lock(&registry);
    drop(kept);
    drop(registry);
    assert_empty_dir(root.path());
}
