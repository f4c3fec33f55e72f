//! `purge_all` and friends: what a purge cleans, what it reports, that it
//! cleans each entry once, how `close()` refuses new entries, and that a
//! deadline bounds a purge stuck on a handle.

mod support;

use std::ffi::OsString;
use std::io::{Read, Seek, SeekFrom, Write};
use std::time::Duration;

use support::{assert_empty_dir, assert_names_path, assert_session_holds_only_lock, registry_in};
use tempreg::{is_closed_error, EntryKind, PurgeFailureKind, PurgeOptions};
use tokio::io::AsyncWriteExt;
#[cfg(unix)]
use tokio_test::assert_pending;

#[test]
fn purge_removes_temp_paths_and_closes_handles() {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let caller_path = outside.path().join("caller.log");
    support::block_on(async {
        let registry = registry_in(root.path());
        let mut file_a = registry.temp_file().unwrap();
        file_a.write_all(b"gone once purged").unwrap();
        let file_b = registry.temp_file().unwrap();
        let path_only = registry.temp_file().unwrap().into_temp_path();
        let dir = registry.temp_dir().unwrap();
        std::fs::create_dir_all(dir.path().join("x/y")).unwrap();
        std::fs::write(dir.path().join("x/y/z.txt"), b"z").unwrap();
        let mut async_file = registry.temp_file_async().await.unwrap();
        async_file.write_all(b"async").await.unwrap();
        let mut options = tokio::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        let mut caller = registry.open(&caller_path, &options).await.unwrap();
        caller.write_all(b"kept data").await.unwrap();
        assert_eq!(registry.len(), 6);

        let report = registry.purge_all().await;

        // Two temp files, a temp path, a temp dir and the async temp file.
        assert_eq!(report.removed(), 5, "{report}");
        // The two temp files' fds, the async temp file and the caller's file.
        assert_eq!(report.closed(), 4, "{report}");
        assert_eq!(report.already_gone(), 0, "{report}");
        assert!(report.is_clean(), "{report}");
        let shown = report.to_string();
        assert!(shown.contains("removed 5"), "{shown}");
        assert!(shown.contains("closed 4"), "{shown}");
        assert!(shown.contains("clean"), "{shown}");

        // The sync temp files' guards still hold their files (Windows
        // cannot revoke a handle): see `assert_gone_while_held`.
        for path in [file_a.path(), file_b.path()] {
            support::assert_gone_while_held(path, "a purged temp file still held");
        }
        for path in [&*path_only, dir.path(), async_file.path()] {
            assert!(!path.exists(), "{} should be purged", path.display());
        }
        assert_eq!(registry.len(), 0);
        support::assert_session_holds_only_lock_or_held(&registry, &[file_a.path(), file_b.path()]);
        assert!(caller.is_purged() && async_file.is_purged());
        assert_eq!(std::fs::read(&caller_path).unwrap(), b"kept data");

        // A purged TempFile's handle is closed too (its space is freed):
        // I/O through the guard fails with a closed error, and through the
        // raw file with the system's. (Not on Windows, which cannot revoke
        // a handle another owns: there only the guard refuses, and the
        // handle closes when the guard drops.)
        assert!(file_a.is_purged() && file_b.is_purged());
        let err = file_a.seek(SeekFrom::Start(0)).unwrap_err();
        assert!(tempreg::is_closed_error(&err), "{err}");
        assert_names_path(&err, file_a.path());
        let mut back = String::new();
        let err = file_a.read_to_string(&mut back).unwrap_err();
        assert!(tempreg::is_closed_error(&err), "{err}");
        assert!(file_a.write_all(b"into nothing").is_err());
        #[cfg(unix)]
        assert!(file_a.as_file().read_to_string(&mut back).is_err());
        assert!(back.is_empty());

        drop((file_a, file_b, path_only, dir, async_file, caller));
        drop(registry);
    });
    assert_eq!(std::fs::read(&caller_path).unwrap(), b"kept data");
    assert_empty_dir(root.path());
}

#[tokio::test]
async fn purge_is_idempotent_and_the_registry_stays_usable() {
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let file = registry.temp_file().unwrap();
    let dir = registry.temp_dir().unwrap();

    let first = registry.purge_all().await;
    assert_eq!(first.removed(), 2, "{first}");
    let second = registry.purge_all().await;
    assert_eq!(
        (second.removed(), second.closed(), second.already_gone()),
        (0, 0, 0),
        "{second}"
    );
    assert!(second.is_clean());
    let blocking = registry.purge_all_blocking();
    assert_eq!(blocking.removed(), 0, "{blocking}");

    let again = registry.temp_file().unwrap();
    assert!(again.path().exists());
    assert_eq!(registry.len(), 1);
    let third = registry.purge_all().await;
    assert_eq!(third.removed(), 1, "{third}");
    support::assert_gone_while_held(again.path(), "a purged temp file still held");

    drop((file, dir, again));
    drop(registry);
    assert_empty_dir(root.path());
}

#[tokio::test]
async fn guards_dropped_after_a_purge_touch_nothing_and_report_nothing() {
    // Someone makes files at the purged names while their guards live.
    if support::or_skip(support::names_go_at_once()).is_none() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let file = registry.temp_file().unwrap();
    let path_only = registry.temp_file().unwrap().into_temp_path();
    let dir = registry.temp_dir().unwrap();
    let closing = registry.temp_file().unwrap();

    let report = registry.purge_all().await;
    assert_eq!(report.removed(), 4, "{report}");

    // Someone else now uses the same names; the stale guards must not care.
    let names = [
        file.path().to_path_buf(),
        path_only.to_path_buf(),
        dir.path().to_path_buf(),
        closing.path().to_path_buf(),
    ];
    for path in &names {
        std::fs::write(path, b"someone else's").unwrap();
    }
    drop(file);
    drop(path_only);
    drop(dir);
    closing.close().unwrap();
    for path in &names {
        assert_eq!(std::fs::read(path).unwrap(), b"someone else's");
    }

    let after = registry.purge_all().await;
    assert_eq!(
        (after.removed(), after.closed(), after.already_gone()),
        (0, 0, 0),
        "{after}"
    );
    assert!(after.is_clean(), "{after}");
    for path in &names {
        std::fs::remove_file(path).unwrap();
    }
    assert_session_holds_only_lock(&registry);
    drop(registry);
    assert_empty_dir(root.path());
}

#[tokio::test]
async fn a_purged_temp_path_cannot_be_kept_or_persisted() {
    let root = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let tp = registry.temp_file().unwrap().into_temp_path();
    let file = registry.temp_file().unwrap();
    assert_eq!(registry.purge_all().await.removed(), 2);

    let tp_path = tp.to_path_buf();
    let err = tp.keep().unwrap_err();
    assert_names_path(&err.error, &tp_path);
    assert!(tempreg::is_closed_error(&err.error), "{}", err.error);
    drop(err);
    let dest = out.path().join("dest");
    let err = file.persist(&dest).unwrap_err();
    assert_names_path(&err.error, err.file.path());
    assert!(tempreg::is_closed_error(&err.error), "{}", err.error);
    assert!(!dest.exists());
    drop(err);
    drop(registry);
    assert_empty_dir(root.path());
    assert_empty_dir(out.path());
}

#[tokio::test]
async fn close_refuses_new_entries_and_creates_nothing() {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let live = registry.temp_file().unwrap();
    let live_dir = registry.temp_dir().unwrap();

    assert!(!registry.is_closed());
    assert!(registry.close());
    assert!(!registry.close(), "a second close changes nothing");
    assert!(registry.is_closed());
    assert!(registry.clone().is_closed(), "clones share the state");

    let refused = [
        registry.temp_file().map(drop),
        registry.temp().prefix("p").file().map(drop),
        registry.temp_dir().map(drop),
        registry.temp_file_async().await.map(drop),
    ];
    for result in refused {
        let err = result.expect_err("a closed registry refuses new entries");
        assert!(is_closed_error(&err), "{err}");
        assert_names_path(&err, registry.session_dir());
    }
    let caller_path = outside.path().join("never-created.log");
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create(true);
    let err = registry.open(&caller_path, &options).await.unwrap_err();
    assert!(is_closed_error(&err), "{err}");
    assert!(
        !caller_path.exists(),
        "open on a closed registry creates nothing"
    );

    // Nothing new on disk: only the lock file and the two live entries.
    // (Here `live` is not purged yet.)
    let mut expected = vec![
        OsString::from(tempreg::LOCK_NAME),
        live.path().file_name().unwrap().to_owned(),
        live_dir.path().file_name().unwrap().to_owned(),
    ];
    expected.sort();
    assert_eq!(support::names_in(registry.session_dir()), expected);
    assert_eq!(
        registry.len(),
        2,
        "live entries stay until dropped or purged"
    );
    assert!(live.path().exists() && live_dir.path().exists());

    let report = registry.purge_all().await;
    assert_eq!(report.removed(), 2, "{report}");
    assert_eq!(registry.len(), 0);
    support::assert_session_holds_only_lock_or_held(&registry, &[live.path()]);

    assert!(!is_closed_error(&std::io::Error::other("unrelated")));
    drop((live, live_dir));
    drop(registry);
    assert_empty_dir(root.path());
    assert_empty_dir(outside.path());
}

#[test]
fn purge_all_blocking_works_without_a_runtime() {
    assert!(tokio::runtime::Handle::try_current().is_err());
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let mut file = registry.temp_file().unwrap();
    file.write_all(b"x").unwrap();
    let tp = registry.temp_file().unwrap().into_temp_path();
    let dir = registry.temp_dir().unwrap();
    std::fs::write(dir.path().join("inside"), b"y").unwrap();

    let report = registry.purge_all_blocking();
    assert_eq!(report.removed(), 3, "{report}");
    assert!(report.is_clean(), "{report}");
    support::assert_gone_while_held(file.path(), "a purged temp file still held");
    assert!(!tp.exists() && !dir.path().exists());
    support::assert_session_holds_only_lock_or_held(&registry, &[file.path()]);

    let report =
        registry.purge_all_blocking_with(PurgeOptions::new().deadline(Duration::from_secs(60)));
    assert_eq!(report.removed(), 0, "{report}");
    drop((file, tp, dir));
    drop(registry);
    assert_empty_dir(root.path());
}

#[test]
fn purge_and_remove_session_leaves_nothing_and_refuses_new_entries() {
    // A temp file's guard still holds its file: where its name stays until
    // then (Wine), the session directory cannot be removed before.
    if support::or_skip(support::names_go_at_once()).is_none() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let file = registry.temp_file().unwrap();
    let dir = registry.temp_dir().unwrap();
    std::fs::write(registry.session_dir().join("stray"), b"stray").unwrap();

    let report = registry.purge_and_remove_session();
    assert_eq!(report.removed(), 2, "{report}");
    assert!(report.is_clean(), "{report}");
    assert!(!registry.session_dir().exists());
    assert_empty_dir(root.path());
    assert!(is_closed_error(&registry.temp_file().unwrap_err()));

    drop((file, dir));
    drop(registry);
    assert_empty_dir(root.path());
}

/// A FIFO that nobody reads: a 1 MiB write to it blocks in tokio's blocking
/// pool, so a purge's flush of that handle cannot finish.
// Unix only: a FIFO nobody reads, for a write that blocks.
#[cfg(unix)]
#[test]
fn deadline_bounds_a_purge_stuck_flushing_a_handle() {
    const LEN: usize = 1 << 20;
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let fifo = outside.path().join("stuck.fifo");
    support::mkfifo(&fifo);

    support::block_on_paused(async {
        let _drain = support::DrainFifoOnPanic(fifo.clone());
        let registry = registry_in(root.path());
        let mut handle = support::open_fifo(&registry, &fifo).await;
        let payload = support::pattern(LEN);
        // Accepted into tokio's buffer; the write itself blocks on the full pipe.
        handle.write_all(&payload).await.unwrap();

        let mut purge = tokio_test::task::spawn(
            registry.purge_all_with(PurgeOptions::new().deadline(Duration::from_secs(1))),
        );
        assert_pending!(purge.poll());
        // Auto-advance is off while a blocking task runs: move the clock by hand.
        tokio::time::advance(Duration::from_secs(2)).await;
        let mut report = None;
        for _ in 0..100 {
            if let std::task::Poll::Ready(r) = purge.poll() {
                report = Some(r);
                break;
            }
            tokio::task::yield_now().await;
        }
        let report = report.expect("the purge returns at its deadline");
        drop(purge);

        assert_eq!(report.failures().len(), 1, "{report}");
        let failure = &report.failures()[0];
        assert_eq!(failure.kind(), PurgeFailureKind::TimedOut, "{report}");
        assert_eq!(failure.path(), fifo);
        assert_eq!(failure.entry_kind(), Some(EntryKind::OpenFile));
        assert_names_path(&report, &fifo);
        // Its flush took the handle (on the blocking pool: at once, or about).
        let start = std::time::Instant::now();
        while !handle.is_purged() {
            assert!(start.elapsed() < Duration::from_secs(20), "never purged");
            tokio::task::yield_now().await;
        }
        assert_eq!(
            registry.len(),
            0,
            "the handle's flush goes on in the background"
        );

        // Drain the FIFO: the flush left running must deliver every byte,
        // then close the handle, which ends the reader's stream.
        let read_back = support::fifo_contents(support::read_fifo_to_end(&fifo)).await;
        assert_eq!(read_back.len(), LEN);
        assert!(read_back == payload, "the FIFO delivered other bytes");

        assert!(fifo.exists(), "a caller's file is never deleted");
        drop(handle);
        drop(registry);
    });
    assert_empty_dir(root.path());
}

#[test]
fn paths_removed_by_someone_else_are_counted_as_already_gone() {
    // The temp file is removed while its guard holds it: where its name
    // stays until then (Wine), the purge finds it and removes it.
    if support::or_skip(support::names_go_at_once()).is_none() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let file = registry.temp_file().unwrap();
    let tp = registry.temp_file().unwrap().into_temp_path();
    let dir = registry.temp_dir().unwrap();
    std::fs::remove_file(file.path()).unwrap();
    std::fs::remove_file(&tp).unwrap();
    std::fs::remove_dir(dir.path()).unwrap();

    let report = registry.purge_all_blocking();
    assert_eq!(report.already_gone(), 3, "{report}");
    assert_eq!(report.removed(), 0, "{report}");
    assert_eq!(report.closed(), 1, "the temp file's fd: {report}");
    assert!(file.is_purged());
    assert!(report.is_clean(), "{report}");
    assert!(report.to_string().contains("3 already gone"), "{report}");
    assert_eq!(registry.len(), 0);
    drop((file, tp, dir));
    drop(registry);
    assert_empty_dir(root.path());
}

#[test]
fn entries_a_deadline_cut_off_stay_tracked_for_the_next_purge() {
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let files: Vec<_> = (0..10).map(|_| registry.temp_file().unwrap()).collect();
    let dir = registry.temp_dir().unwrap();

    let report = registry.purge_all_blocking_with(PurgeOptions::new().deadline(Duration::ZERO));
    assert_eq!(report.removed(), 0, "{report}");
    assert_eq!(report.failures().len(), 11, "{report}");
    assert!(report
        .failures()
        .iter()
        .all(|f| f.kind() == PurgeFailureKind::TimedOut));
    assert_names_path(&report, dir.path());
    assert_eq!(registry.len(), 11, "cut-off entries go back into the table");
    assert!(files.iter().all(|f| f.path().exists()) && dir.path().exists());

    let report = registry.purge_all_blocking();
    assert_eq!(report.removed(), 11, "{report}");
    for file in &files {
        support::assert_gone_while_held(file.path(), "a purged temp file still held");
    }
    assert!(!dir.path().exists());
    drop((files, dir));
    drop(registry);
    assert_empty_dir(root.path());
}

#[test]
fn an_io_failure_is_reported_with_the_path_and_the_os_error() {
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let dir = registry.temp_dir().unwrap();
    let stuck = dir.path().join("stuck.txt");
    std::fs::write(&stuck, b"immutable").unwrap();
    let other = registry.temp_file().unwrap();
    let Some(lock) = support::or_skip(support::Immutable::set(&stuck)) else {
        return;
    };

    let report = registry.purge_all_blocking();
    drop(lock);
    assert_eq!(
        report.removed(),
        1,
        "the other entry is still cleaned: {report}"
    );
    assert!(!other.path().exists());
    assert_eq!(report.failures().len(), 1, "{report}");
    let failure = &report.failures()[0];
    assert_eq!(failure.kind(), PurgeFailureKind::Io, "{report}");
    assert_eq!(failure.path(), dir.path());
    assert_eq!(failure.entry_kind(), Some(EntryKind::TempDir));
    let err = failure.io_error().expect("an Io failure carries its error");
    assert_eq!(err.kind(), std::io::ErrorKind::PermissionDenied, "{err}");
    assert_names_path(&report, dir.path());
    assert!(stuck.exists(), "what could not be removed is still there");

    drop((dir, other));
    drop(registry);
    assert_empty_dir(root.path());
}

/// The blocking purge never waits on a write in flight: it reports the
/// handle busy and leaves it tracked for a later purge.
// Unix only: a FIFO nobody reads, for a write that blocks.
#[cfg(unix)]
#[test]
fn blocking_purge_reports_a_handle_mid_write_as_busy_and_keeps_it() {
    const LEN: usize = 1 << 20;
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let fifo = outside.path().join("busy.fifo");
    support::mkfifo(&fifo);
    support::block_on(async {
        let _drain = support::DrainFifoOnPanic(fifo.clone());
        let registry = registry_in(root.path());
        let scratch = registry.temp_file().unwrap();
        let mut handle = support::open_fifo(&registry, &fifo).await;
        let payload = support::pattern(LEN);
        handle.write_all(&payload).await.unwrap();

        let report = registry.purge_all_blocking();
        assert_eq!(report.removed(), 1, "{report}");
        assert_eq!(report.failures().len(), 1, "{report}");
        let failure = &report.failures()[0];
        assert_eq!(failure.kind(), PurgeFailureKind::Busy, "{report}");
        assert_eq!(failure.path(), fifo);
        assert!(!scratch.path().exists());
        assert!(!handle.is_purged());
        assert_eq!(registry.len(), 1, "the busy handle stays tracked");

        // Once the pipe drains, an async purge flushes and closes it.
        let reader = support::read_fifo_to_end(&fifo);
        let report = registry.purge_all().await;
        assert_eq!(report.closed(), 1, "{report}");
        assert!(report.is_clean(), "{report}");
        let read_back = support::fifo_contents(reader).await;
        assert!(read_back == payload, "the FIFO delivered other bytes");
        drop((scratch, handle));
        drop(registry);
    });
    assert_empty_dir(root.path());
}

#[tokio::test(start_paused = true)]
async fn deadline_not_reached_reports_nothing_timed_out() {
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let files: Vec<_> = (0..50).map(|_| registry.temp_file().unwrap()).collect();
    let report = registry
        .purge_all_with(PurgeOptions::new().deadline(Duration::from_secs(3600)))
        .await;
    assert_eq!(report.removed(), 50, "{report}");
    assert!(report.is_clean(), "{report}");
    drop(files);
    drop(registry);
    assert_empty_dir(root.path());
}

#[tokio::test(start_paused = true)]
async fn a_purge_waits_for_the_flushes_an_earlier_purge_left_running() {
    // A purge out of time leaves a handle's flush and close running in a
    // task of its own; the next purge without a deadline must finish it
    // before it says it is done.
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let mut file = registry.temp_file_async().await.unwrap();
    // A write in flight: the flush (on the blocking pool) outlives a zero
    // deadline, as a rule. Either way the second purge leaves nothing.
    file.write_all(&support::pattern(1 << 20)).await.unwrap();
    purge_out_of_time(&registry).await;
    let second = registry.purge_all().await;
    assert!(second.is_clean(), "{second}");
    assert_session_holds_only_lock(&registry);
    assert!(
        !file.path().exists(),
        "the file went with the first purge's flush"
    );
}

#[test]
fn a_guard_closed_while_a_blocking_purge_holds_its_entry_is_not_left_tracked() {
    // `close()` finds its entry out with a purge and returns at once; the
    // purge may find the handle busy (a write in flight) and put the entry
    // back. It must then clean it, not keep it tracked with no guard.
    let root = tempfile::tempdir().unwrap();
    support::multi_thread_runtime().block_on(async {
        let registry = support::registry_with_reserve(root.path(), 0);
        for round in 0..150 {
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let purger = {
                let (registry, stop) = (registry.clone(), std::sync::Arc::clone(&stop));
                tokio::task::spawn_blocking(move || {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let _ = registry.purge_all_blocking();
                    }
                })
            };
            let tasks: Vec<_> = (0..32)
                .map(|_| {
                    let registry = registry.clone();
                    tokio::spawn(async move {
                        let mut file = registry.temp_file_async().await.unwrap();
                        let _ = file.write_all(&[7; 4096]).await;
                        let _ = file.close().await;
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            purger.await.unwrap();
            assert_eq!(
                registry.len(),
                0,
                "round {round}: every guard is closed, yet tracked: {:?}",
                registry.entries()
            );
        }
        let last = registry.purge_all().await;
        assert!(last.is_clean(), "{last}");
        assert_session_holds_only_lock(&registry);
    });
}

/// Found by the `async_ops` fuzz target: the reserve's trimmer, once demand
/// stopped, took its files and was removing them on the blocking pool; a
/// purge that came meanwhile found the reserve empty and returned with
/// them still in the session directory. A purge now waits for those
/// removals as for a refill. (The trimmer and this task wake at the same
/// instant of the paused clock; one `yield_now` lets the trimmer go first.)
#[test]
fn a_purge_leaves_no_reserve_file_the_trimmer_is_removing() {
    let root = support::scratch_root();
    support::block_on_paused(async {
        for round in 0..50 {
            let registry = support::registry_with_reserve(root.path(), 8);
            // Past the warm-up (16): a take starts a refill and the trimmer.
            for _ in 0..20 {
                registry
                    .temp_file_async()
                    .await
                    .unwrap()
                    .close()
                    .await
                    .unwrap();
            }
            // The refill runs on the blocking pool: the paused clock waits.
            let start = std::time::Instant::now();
            while support::names_in(registry.session_dir()).len() < 2 {
                assert!(start.elapsed() < Duration::from_secs(20), "no refill");
                tokio::task::yield_now().await;
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
            tokio::task::yield_now().await;
            let report = registry.purge_all().await;
            assert!(report.is_clean(), "round {round}: {report}");
            assert_eq!(
                support::names_in(registry.session_dir()),
                [OsString::from(tempreg::LOCK_NAME)],
                "round {round}: after purge_all(): {report}"
            );
        }
    });
}

/// Found reading the library while modelling a fuzz finding: `close()` of
/// an async guard whose entry a purge had out (here a purge whose deadline
/// passed before its flush task ran) dropped the handle with a write in
/// flight and said `Ok` at once; the bytes landed later. Now it flushes
/// first: what was written through the guard is in the file when `close()`
/// returns `Ok`.
#[test]
fn close_flushes_a_write_in_flight_while_a_purge_has_the_entry() {
    let root = support::scratch_root();
    let outside = support::scratch_root();
    support::block_on_paused(async {
        let registry = registry_in(root.path());
        let data = support::pattern(64 * 1024);
        for round in 0..20 {
            let path = outside.path().join(format!("caller-{round}"));
            let mut options = tokio::fs::OpenOptions::new();
            options.read(true).write(true).create(true);
            let mut file = registry.open(&path, &options).await.unwrap();
            // A write in flight, then a purge whose flush of it outlives
            // its deadline (as a rule): the entry is out when close() runs.
            file.write_all(&data).await.unwrap();
            purge_out_of_time(&registry).await;
            file.close().await.unwrap();
            let len = std::fs::metadata(&path).unwrap().len();
            assert_eq!(
                (len, std::fs::read(&path).unwrap() == data),
                (data.len() as u64, true),
                "round {round}: close() said Ok before the bytes were in the file"
            );
            let report = registry.purge_all().await;
            assert!(report.is_clean(), "{report}");
        }
    });
}

/// Found by the `async_ops` fuzz target (a hang): a purge waits for the
/// flushes an earlier purge left running, which are tasks on that purge's
/// runtime. Here that runtime is a current-thread one no one drives any
/// more (it stays alive, as one kept for later `block_on` calls does), so
/// such a task never runs again. A purge now drives the flushes it waits
/// for itself (a flush's future is shared): a purge on another runtime
/// returns, and the file goes.
#[test]
fn a_purge_never_waits_on_a_runtime_no_longer_driven() {
    let root = support::scratch_root();
    let idle = support::current_thread_runtime();
    let other = support::multi_thread_runtime();
    let registry = registry_in(root.path());
    let mut file = idle.block_on(async {
        let mut file = registry.temp_file_async().await.unwrap();
        file.write_all(b"flushed by whoever gets there")
            .await
            .unwrap();
        purge_out_of_time(&registry).await;
        file
    });
    let second = other.block_on(async {
        tokio::time::timeout(Duration::from_secs(20), registry.purge_all()).await
    });
    let second = second.expect("purge_all() waited for a task that cannot run");
    assert!(second.is_clean(), "{second}");
    assert!(file.is_purged());
    assert_session_holds_only_lock(&registry);
    let err = other
        .block_on(file.write_all(b"late"))
        .expect_err("a purged guard");
    assert!(is_closed_error(&err), "{err}");
    drop(file);
    drop(idle);
}

/// A purge with a zero deadline, which leaves the flush of a handle with a
/// write in flight running (as a rule; it may also finish in time): what
/// it reports, if anything, is that one handle timed out.
async fn purge_out_of_time(registry: &tempreg::ResourceRegistry) {
    let report = registry
        .purge_all_with(PurgeOptions::new().deadline(Duration::ZERO))
        .await;
    assert!(report.failures().len() <= 1, "{report}");
    for failure in report.failures() {
        assert_eq!(failure.kind(), PurgeFailureKind::TimedOut, "{report}");
    }
}

/// Found by the `async_ops` fuzz target (a hang): a purge's flushes once ran
/// on the blocking pool, each holding a thread while its `fdatasync` (and
/// any write in flight) waited for another job of that same pool; with
/// more handles than threads, none could finish. Flushes are tasks again,
/// holding no thread while they wait: a purge with `sync_data` of many
/// handles with writes in flight finishes on a two-thread blocking pool.
#[test]
fn a_purge_of_more_handles_than_blocking_threads_finishes() {
    let root = support::scratch_root();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(2)
        .build()
        .unwrap();
    runtime.block_on(async {
        let registry = support::registry_with_reserve(root.path(), 0);
        let mut held = Vec::new();
        for _ in 0..16 {
            let mut file = registry.temp_file_async().await.unwrap();
            file.write_all(&[9; 64 * 1024]).await.unwrap();
            held.push(file);
        }
        let purge = registry.purge_all_with(PurgeOptions::new().sync_data(true));
        let report = tokio::time::timeout(Duration::from_secs(60), purge)
            .await
            .expect("a purge of 16 handles on 2 blocking threads finishes");
        assert!(report.is_clean(), "{report}");
        assert_eq!(report.closed(), 16, "{report}");
        assert!(held.iter().all(|f| f.is_purged()));
        assert_session_holds_only_lock(&registry);
    });
}
