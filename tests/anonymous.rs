//! Anonymous (`O_TMPFILE`) files: usable like any file, never visible by
//! name, closed by a purge, and freed by the kernel even on SIGKILL.

mod support;

use std::io::{Read, Seek, SeekFrom, Write};

use support::{assert_empty_dir, names_in, registry_in, scratch_root, start_hold};
use tempreg::{EntryKind, LOCK_NAME};

/// Asserts that `e` is the error of a purged anonymous file.
fn assert_purged_error(e: &std::io::Error, op: &str) {
    let text = e.to_string();
    assert!(
        text.contains("(anonymous)") && text.contains("purge"),
        "{op} after a purge: {text}"
    );
}

#[test]
fn an_anonymous_file_reads_writes_and_seeks() {
    let root = scratch_root();
    let registry = registry_in(root.path());
    let mut file = registry.anonymous_file().expect("anonymous file");
    file.write_all(b"spill to disk").expect("write");
    file.flush().expect("flush");
    assert_eq!(file.seek(SeekFrom::End(0)).expect("seek end"), 13);
    assert_eq!(file.metadata().expect("metadata").len(), 13);
    file.seek(SeekFrom::Start(6)).expect("seek");
    let mut back = String::new();
    file.read_to_string(&mut back).expect("read");
    assert_eq!(back, "to disk");

    file.set_len(5).expect("set_len");
    file.seek(SeekFrom::Start(0)).expect("rewind");
    back.clear();
    file.read_to_string(&mut back).expect("read");
    assert_eq!(back, "spill");
    assert!(!file.is_purged());
}

/// True where an anonymous file has no name while open: Unix, and Windows
/// where POSIX delete semantics take its name away at once; not under Wine,
/// which has none (there its name goes when it is closed: a `skipped:` line
/// says so).
fn no_names_here() -> bool {
    support::or_skip(support::names_go_at_once()).is_some()
}

#[test]
fn anonymous_files_have_no_name() {
    let root = scratch_root();
    let registry = registry_in(root.path());
    let mut files: Vec<_> = (0..3)
        .map(|_| registry.anonymous_file().expect("anonymous file"))
        .collect();
    for file in &mut files {
        file.write_all(&[1; 4096]).expect("write");
    }
    if no_names_here() {
        assert_eq!(names_in(registry.session_dir()), [LOCK_NAME]);
    }
    assert_eq!(registry.len(), 3);
    for entry in registry.entries() {
        assert_eq!(entry.kind(), EntryKind::AnonymousFile);
        assert!(entry.path().ends_with("(anonymous)"), "{entry:?}");
    }
    drop(files);
    assert!(registry.is_empty());
    drop(registry);
    assert_empty_dir(root.path());
}

#[test]
fn a_purge_closes_an_anonymous_file() {
    let root = scratch_root();
    let registry = registry_in(root.path());
    let mut file = registry.anonymous_file().expect("anonymous file");
    file.write_all(b"scratch").expect("write");

    let report = registry.purge_all_blocking();
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.closed(), 1, "{report}");
    assert_eq!(report.removed(), 0, "nothing had a name: {report}");
    assert!(file.is_purged());
    assert!(registry.is_empty());
    if no_names_here() {
        assert_eq!(names_in(registry.session_dir()), [LOCK_NAME]);
    }

    assert_purged_error(&file.write_all(b"more").expect_err("write"), "write");
    assert_purged_error(&file.read(&mut [0; 4]).expect_err("read"), "read");
    assert_purged_error(&file.seek(SeekFrom::Start(0)).expect_err("seek"), "seek");
    assert_purged_error(&file.metadata().expect_err("metadata"), "metadata");
    assert_purged_error(&file.set_len(0).expect_err("set_len"), "set_len");

    // A second purge finds nothing; the registry still makes new ones.
    let again = registry.purge_all_blocking();
    assert_eq!((again.closed(), again.removed()), (0, 0), "{again}");
    let mut fresh = registry.anonymous_file().expect("a new anonymous file");
    fresh.write_all(b"ok").expect("write to the new one");
}

#[tokio::test]
async fn an_async_purge_closes_a_sync_anonymous_file() {
    let root = scratch_root();
    let registry = registry_in(root.path());
    let mut file = registry.anonymous_file().expect("anonymous file");
    let report = registry.purge_all().await;
    assert!(report.is_clean(), "{report}");
    assert_eq!((report.closed(), report.removed()), (1, 0), "{report}");
    assert!(file.is_purged());
    assert_purged_error(&file.write_all(b"x").expect_err("write"), "write");
}

#[tokio::test]
async fn an_async_anonymous_file_round_trips_and_is_closed_by_a_purge() {
    use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

    let root = scratch_root();
    let registry = registry_in(root.path());
    let mut file = registry
        .anonymous_file_async()
        .await
        .expect("async anonymous file");
    assert!(file.path().ends_with("(anonymous)"), "{:?}", file.path());
    file.write_all(b"async spill").await.expect("write");
    file.flush().await.expect("flush");
    file.seek(SeekFrom::Start(6)).await.expect("seek");
    let mut back = String::new();
    file.read_to_string(&mut back).await.expect("read");
    assert_eq!(back, "spill");
    if no_names_here() {
        assert_eq!(names_in(registry.session_dir()), [LOCK_NAME]);
    }
    assert_eq!(registry.entries()[0].kind(), EntryKind::AnonymousFile);

    let report = registry.purge_all().await;
    assert!(report.is_clean(), "{report}");
    assert_eq!((report.closed(), report.removed()), (1, 0), "{report}");
    assert!(file.is_purged());
    assert!(registry.is_empty());
    let e = file
        .write_all(b"more")
        .await
        .expect_err("write after purge");
    assert_purged_error(&e, "async write");
    let e = file.read(&mut [0; 4]).await.expect_err("read after purge");
    assert_purged_error(&e, "async read");
    assert_eq!(names_in(registry.session_dir()), [LOCK_NAME]);
}

#[test]
fn a_killed_child_leaves_no_name_for_its_anonymous_files() {
    let root = scratch_root();
    let (mut child, held) = start_hold(root.path());
    // The child holds two named files and a temp dir (`held` counts their
    // regular files), plus three anonymous files of 4 KiB each that must
    // show up nowhere.
    if no_names_here() {
        let names = names_in(&child.session);
        assert_eq!(names.len(), 4, "lock, two files and a dir: {names:?}");
        let listed = tempreg::list_sessions(root.path()).expect("list");
        assert_eq!(
            (listed[0].files(), listed[0].bytes()),
            (held.files, held.bytes)
        );
    }

    child.process.kill_hard();
    let report = tempreg::sweep_orphans(root.path()).expect("sweep");
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.removed().len(), 1, "{report}");
    assert_eq!(report.files_freed(), held.files);
    assert_eq!(report.bytes_freed(), held.bytes);
    assert_empty_dir(root.path());
}
