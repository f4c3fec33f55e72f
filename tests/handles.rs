//! Async handles (`TrackedFile`): a caller's file opened through the registry
//! keeps every byte written to it and is never deleted; after a purge the
//! guard fails cleanly; async temp files go on drop and on purge.

mod support;

use std::io::{self, SeekFrom};
use std::path::Path;

use support::{assert_empty_dir, assert_names_path, assert_session_holds_only_lock, registry_in};
use tempreg::{EntryKind, PurgeFailureKind, PurgeOptions, ResourceRegistry};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
#[cfg(unix)]
use tokio_test::assert_pending;

/// Several of tokio's write chunks, so that a purge finds writes in flight.
const BIG: usize = 5 << 20;

fn write_options() -> tokio::fs::OpenOptions {
    let mut options = tokio::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(true);
    options
}

fn purge_keeps_written_bytes(sync_data: bool) {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let path = outside.path().join("data.bin");
    let payload = support::pattern(BIG);
    support::block_on(async {
        let registry = registry_in(root.path());
        let mut handle = registry.open(&path, &write_options()).await.unwrap();
        handle.write_all(&payload).await.unwrap();

        let report = registry
            .purge_all_with(PurgeOptions::new().sync_data(sync_data))
            .await;
        assert_eq!((report.closed(), report.removed()), (1, 0), "{report}");
        assert!(report.is_clean(), "{report}");
        assert!(handle.is_purged());
        let on_disk = std::fs::read(&path).unwrap();
        assert_eq!(on_disk.len(), payload.len());
        assert!(
            on_disk == payload,
            "bytes on disk differ from those written"
        );
        drop(handle);
        drop(registry);
    });
    assert!(path.exists(), "a caller's file is never deleted");
    assert_empty_dir(root.path());
}

#[test]
fn bytes_written_to_a_caller_file_are_on_disk_after_purge() {
    purge_keeps_written_bytes(false);
}

#[test]
fn bytes_written_to_a_caller_file_are_on_disk_after_purge_with_sync_data() {
    purge_keeps_written_bytes(true);
}

#[test]
fn purge_all_blocking_flushes_a_finished_write() {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let path = outside.path().join("blocking.bin");
    support::block_on(async {
        let registry = registry_in(root.path());
        let mut handle = registry.open(&path, &write_options()).await.unwrap();
        handle.write_all(b"flushed by hand").await.unwrap();
        handle.flush().await.unwrap();
        let report = registry.purge_all_blocking();
        assert_eq!(report.closed(), 1, "{report}");
        assert!(report.is_clean(), "{report}");
        assert!(handle.is_purged());
        drop(handle);
        drop(registry);
    });
    assert_eq!(std::fs::read(&path).unwrap(), b"flushed by hand");
    assert_empty_dir(root.path());
}

#[test]
fn a_caller_file_is_never_deleted() {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let dropped = outside.path().join("dropped.txt");
    let closed = outside.path().join("closed.txt");
    let purged = outside.path().join("purged.txt");
    support::block_on(async {
        let registry = registry_in(root.path());
        for path in [&dropped, &closed, &purged] {
            std::fs::write(path, b"precious").unwrap();
        }
        let mut read_only = tokio::fs::OpenOptions::new();
        read_only.read(true);
        let a = registry.open(&dropped, &read_only).await.unwrap();
        let b = registry.open(&closed, &read_only).await.unwrap();
        let c = registry.open(&purged, &read_only).await.unwrap();
        assert_eq!(registry.len(), 3);
        drop(a);
        b.close().await.unwrap();
        let report = registry.purge_all().await;
        assert_eq!((report.closed(), report.removed()), (1, 0), "{report}");
        drop(c);
        assert_eq!(registry.len(), 0);
        drop(registry);
    });
    for path in [&dropped, &closed, &purged] {
        assert_eq!(std::fs::read(path).unwrap(), b"precious");
    }
    assert_empty_dir(root.path());
}

fn assert_fails_naming(result: io::Result<impl std::fmt::Debug>, path: &Path, op: &str) {
    match result {
        Ok(v) => panic!("{op} on a purged handle should fail, got Ok({v:?})"),
        Err(e) => assert_names_path(&e, path),
    }
}

#[test]
fn io_on_a_purged_handle_fails_with_an_error_naming_the_file() {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let path = outside.path().join("log.txt");
    support::block_on(async {
        let registry = registry_in(root.path());
        let mut handle = registry.open(&path, &write_options()).await.unwrap();
        handle.write_all(b"before").await.unwrap();
        assert!(!handle.is_purged());
        assert!(registry.purge_all().await.is_clean());
        assert!(handle.is_purged());

        let mut buf = [0u8; 8];
        assert_fails_naming(handle.read(&mut buf).await, &path, "read");
        assert_fails_naming(handle.write(b"after").await, &path, "write");
        assert_fails_naming(handle.write_all(b"after").await, &path, "write_all");
        assert_fails_naming(handle.flush().await, &path, "flush");
        assert_fails_naming(handle.seek(SeekFrom::Start(0)).await, &path, "seek");
        assert_fails_naming(handle.sync_data().await, &path, "sync_data");
        assert_fails_naming(handle.shutdown().await, &path, "shutdown");
        assert_eq!(handle.path(), path);
        // Closing a purged handle has nothing left to report.
        handle.close().await.unwrap();
        drop(registry);
    });
    assert_eq!(std::fs::read(&path).unwrap(), b"before");
    assert_empty_dir(root.path());
}

// Unix only: a FIFO nobody reads, for a write that blocks.
#[cfg(unix)]
#[test]
fn a_task_blocked_writing_wakes_with_an_error_when_purged() {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let fifo = outside.path().join("blocked.fifo");
    support::mkfifo(&fifo);
    support::block_on(async {
        let _drain = support::DrainFifoOnPanic(fifo.clone());
        let registry = registry_in(root.path());
        let mut handle = support::open_fifo(&registry, &fifo).await;

        // Far more than a pipe holds: the writer parks on its second chunk.
        let payload = support::pattern(8 << 20);
        let mut writer = tokio_test::task::spawn(handle.write_all(&payload));
        assert_pending!(writer.poll());
        assert!(!writer.is_woken());

        let purger = registry.clone();
        let purge = tokio::spawn(async move { purger.purge_all().await });
        let mut woken = false;
        for _ in 0..10_000 {
            if writer.is_woken() {
                woken = true;
                break;
            }
            tokio::task::yield_now().await;
        }
        assert!(woken, "taking the handle away must wake the parked writer");
        match writer.poll() {
            std::task::Poll::Ready(Err(e)) => assert_names_path(&e, &fifo),
            other => panic!("the writer should fail once purged, got {other:?}"),
        }
        drop(writer);

        // The chunk already handed to the blocking pool still gets flushed.
        let read_back = support::fifo_contents(support::read_fifo_to_end(&fifo)).await;
        assert!(!read_back.is_empty());
        assert!(read_back == payload[..read_back.len()], "FIFO bytes differ");
        let report = purge.await.unwrap();
        assert_eq!(report.closed(), 1, "{report}");
        assert!(report.is_clean(), "{report}");
        drop(handle);
        drop(registry);
    });
    assert_empty_dir(root.path());
}

#[test]
fn close_flushes_pending_writes() {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let path = outside.path().join("closed.bin");
    let payload = support::pattern(BIG);
    support::block_on(async {
        let registry = registry_in(root.path());
        let mut handle = registry.open(&path, &write_options()).await.unwrap();
        handle.write_all(&payload).await.unwrap();
        handle.close().await.unwrap();
        assert_eq!(registry.len(), 0);
        let on_disk = std::fs::read(&path).unwrap();
        assert!(on_disk == payload, "close must flush every byte");

        let report = registry.purge_all().await;
        assert_eq!((report.closed(), report.removed()), (0, 0), "{report}");
        drop(registry);
    });
    assert_empty_dir(root.path());
}

#[test]
fn sync_data_flushes_and_keeps_the_handle_usable() {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let path = outside.path().join("synced.bin");
    support::block_on(async {
        let registry = registry_in(root.path());
        let mut handle = registry.open(&path, &write_options()).await.unwrap();
        handle.write_all(b"first").await.unwrap();
        handle.sync_data().await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
        handle.write_all(b"-second").await.unwrap();
        handle.close().await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"first-second");
        drop(registry);
    });
    assert_empty_dir(root.path());
}

#[test]
fn async_temp_file_is_readable_writable_and_removed_on_close() {
    let root = tempfile::tempdir().unwrap();
    support::block_on(async {
        let registry = registry_in(root.path());
        let mut file = registry.temp_file_async().await.unwrap();
        let path = file.path().to_path_buf();
        assert!(path.starts_with(registry.session_dir()));
        assert_eq!(registry.entries()[0].kind(), EntryKind::AsyncTempFile);
        file.write_all(b"round trip").await.unwrap();
        file.seek(SeekFrom::Start(6)).await.unwrap();
        let mut tail = String::new();
        file.read_to_string(&mut tail).await.unwrap();
        assert_eq!(tail, "trip");
        file.close().await.unwrap();
        assert!(!path.exists());
        assert_eq!(registry.len(), 0);
        drop(registry);
    });
    assert_empty_dir(root.path());
}

#[test]
fn async_temp_file_is_removed_on_drop() {
    let root = tempfile::tempdir().unwrap();
    support::block_on(async {
        let registry = registry_in(root.path());
        let mut paths = Vec::new();
        for _ in 0..20 {
            let mut file = registry.temp_file_async().await.unwrap();
            file.write_all(&support::pattern(100_000)).await.unwrap();
            paths.push(file.path().to_path_buf());
            drop(file);
        }
        assert_eq!(registry.len(), 0);
        // Waits for the unlinks the drops started on the blocking pool.
        let report = registry.purge_all().await;
        assert_eq!((report.removed(), report.closed()), (0, 0), "{report}");
        for path in &paths {
            assert!(!path.exists(), "{} should be gone", path.display());
        }
        assert_session_holds_only_lock(&registry);
        drop(registry);
    });
    assert_empty_dir(root.path());
}

#[test]
fn async_temp_file_is_removed_on_purge() {
    let root = tempfile::tempdir().unwrap();
    support::block_on(async {
        let registry = registry_in(root.path());
        let mut file = registry.temp_file_async().await.unwrap();
        file.write_all(&support::pattern(BIG)).await.unwrap();
        let path = file.path().to_path_buf();

        let report = registry.purge_all().await;
        assert_eq!((report.removed(), report.closed()), (1, 1), "{report}");
        assert!(report.is_clean(), "{report}");
        assert!(!path.exists());
        assert!(file.is_purged());
        assert_fails_naming(file.write_all(b"more").await, &path, "write_all");
        drop(file);
        assert_session_holds_only_lock(&registry);
        drop(registry);
    });
    assert_empty_dir(root.path());
}

#[test]
fn session_dir_is_gone_once_the_registry_is_dropped_after_purge_waited_for_drops() {
    let rt = support::multi_thread_runtime();
    let mut stale = Vec::new();
    for _ in 0..300 {
        let root = tempfile::tempdir().unwrap();
        let session = rt.block_on(async {
            let registry = registry_in(root.path());
            drop(registry.temp_file_async().await.unwrap());
            assert!(registry.purge_all().await.is_clean());
            let session = registry.session_dir().to_path_buf();
            drop(registry);
            session
        });
        // The registry and every guard are gone, and purge_all said the
        // background clean-ups were over: nothing should hold the session.
        if session.exists() {
            stale.push(session);
        }
    }
    drop(rt);
    assert!(
        stale.is_empty(),
        "{} of 300 session directories outlived their registry",
        stale.len()
    );
}

#[test]
fn disk_full_is_reported_and_the_bytes_that_fit_are_kept() {
    const LEN: usize = 256 << 10;
    let mountpoint = tempfile::tempdir().unwrap();
    let Some(mount) = support::or_skip(support::Mount::tmpfs(mountpoint.path(), "64k")) else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let path = mount.dir.join("full.bin");
    let payload = support::pattern(LEN);
    support::block_on(async {
        let registry = registry_in(root.path());
        let mut handle = registry.open(&path, &write_options()).await.unwrap();
        let written = handle.write_all(&payload).await;
        let report = registry.purge_all().await;

        match written {
            Err(e) => {
                assert_eq!(e.kind(), io::ErrorKind::StorageFull, "{e}");
            }
            Ok(()) => {
                assert_eq!(report.failures().len(), 1, "{report}");
                let failure = &report.failures()[0];
                assert_eq!(failure.kind(), PurgeFailureKind::Io, "{report}");
                assert_eq!(failure.path(), path);
                assert_eq!(failure.entry_kind(), Some(EntryKind::OpenFile));
                let err = failure.io_error().expect("an Io failure has its error");
                assert_eq!(err.kind(), io::ErrorKind::StorageFull, "{err}");
                assert_names_path(failure, &path);
                // A failed flush leaves the handle open and tracked, for the
                // next purge (or the guard) to retry.
                assert!(!handle.is_purged());
                assert_eq!(registry.len(), 1);
                let again = registry.purge_all().await;
                assert!(again.is_clean(), "{again}");
                assert_eq!(again.closed(), 1, "{again}");
            }
        }
        assert!(handle.is_purged());
        assert_eq!(registry.len(), 0);
        drop(handle);
        drop(registry);
    });
    let on_disk = std::fs::read(&path).expect("the file is kept");
    assert!(!on_disk.is_empty(), "the bytes that fitted are kept");
    assert!(on_disk.len() < LEN);
    assert!(
        on_disk == payload[..on_disk.len()],
        "the kept bytes are the first ones written"
    );
    assert_empty_dir(root.path());
    drop(mount);
}

#[test]
fn open_returns_an_absolute_path_and_lists_the_entry() {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let path = outside.path().join("listed.txt");
    support::block_on(async {
        let registry: ResourceRegistry = registry_in(root.path());
        let handle = registry.open(&path, &write_options()).await.unwrap();
        assert!(handle.path().is_absolute());
        let entries = registry.entries();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].kind(), EntryKind::OpenFile);
        assert_eq!(entries[0].path(), path);
        drop(handle);
        assert!(registry.is_empty());
        drop(registry);
    });
    assert!(path.exists());
    assert_empty_dir(root.path());
}
