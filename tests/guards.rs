//! The RAII guards: what dropping, closing, persisting and keeping each one
//! does to the file on disk and to the registry's table.

mod support;

#[cfg(unix)]
use std::ffi::OsStr;
use std::ffi::OsString;
use std::io::{self, Read, Seek, SeekFrom, Write};
#[cfg(unix)]
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use support::{assert_empty_dir, assert_names_path, assert_session_holds_only_lock, registry_in};
use tempreg::{EntryKind, PersistError};

#[test]
fn dropping_each_guard_removes_its_path_and_its_entry() {
    let root = tempfile::tempdir().unwrap();
    support::block_on(async {
        let registry = registry_in(root.path());

        let mut file = registry.temp_file().unwrap();
        file.write_all(b"scratch").unwrap();
        let path_only = registry.temp_file().unwrap().into_temp_path();
        let dir = registry.temp_dir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/leaf.txt"), b"leaf").unwrap();
        let async_file = registry.temp_file_async().await.unwrap();
        assert_eq!(registry.len(), 4);

        let file_path = file.path().to_path_buf();
        drop(file);
        assert!(!file_path.exists());
        assert_eq!(registry.len(), 3);

        let only_path = path_only.to_path_buf();
        drop(path_only);
        assert!(!only_path.exists());
        assert_eq!(registry.len(), 2);

        let dir_path = dir.path().to_path_buf();
        drop(dir);
        assert!(!dir_path.exists());
        assert_eq!(registry.len(), 1);

        let async_path = async_file.path().to_path_buf();
        drop(async_file);
        assert_eq!(registry.len(), 0);
        assert!(registry.is_empty());
        assert!(registry.entries().is_empty());
        // The async temp file is unlinked on the blocking pool; purge waits for it.
        let report = registry.purge_all().await;
        assert_eq!((report.removed(), report.closed()), (0, 0), "{report}");
        assert!(!async_path.exists());

        assert_session_holds_only_lock(&registry);
        drop(registry);
    });
    // The runtime is shut down: background clean-ups are over.
    assert_empty_dir(root.path());
}

#[tokio::test]
async fn close_returns_ok_and_removes() {
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());

    let file = registry.temp_file().unwrap();
    let path_only = registry.temp_file().unwrap().into_temp_path();
    let dir = registry.temp_dir().unwrap();
    std::fs::create_dir_all(dir.path().join("a/b/c")).unwrap();
    std::fs::write(dir.path().join("a/b/c/deep.txt"), b"deep").unwrap();
    std::fs::write(dir.path().join("top.txt"), b"top").unwrap();
    let mut async_file = registry.temp_file_async().await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut async_file, b"async")
        .await
        .unwrap();
    let paths: Vec<PathBuf> = vec![
        file.path().into(),
        path_only.to_path_buf(),
        dir.path().into(),
        async_file.path().into(),
    ];

    file.close().unwrap();
    path_only.close().unwrap();
    dir.close().unwrap();
    async_file.close().await.unwrap();

    for path in &paths {
        assert!(!path.exists(), "{} should be gone", path.display());
    }
    assert_eq!(registry.len(), 0);
    assert_session_holds_only_lock(&registry);
    drop(registry);
    assert_empty_dir(root.path());
}

#[test]
fn temp_file_reads_writes_and_seeks() {
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let mut file = registry.temp_file().unwrap();

    file.write_all(b"hello, world").unwrap();
    file.flush().unwrap();
    assert_eq!(file.seek(SeekFrom::Start(7)).unwrap(), 7);
    let mut tail = String::new();
    file.read_to_string(&mut tail).unwrap();
    assert_eq!(tail, "world");

    file.seek(SeekFrom::End(-5)).unwrap();
    file.write_all(b"there").unwrap();
    file.seek(SeekFrom::Start(0)).unwrap();
    let mut all = Vec::new();
    file.read_to_end(&mut all).unwrap();
    assert_eq!(all, b"hello, there");

    // Through a shared reference, as with `&File`.
    let mut shared = &file;
    shared.seek(SeekFrom::Start(0)).unwrap();
    shared.write_all(b"HELLO").unwrap();
    shared.seek(SeekFrom::Start(0)).unwrap();
    let mut head = [0u8; 5];
    shared.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HELLO");

    assert_eq!(std::fs::read(file.path()).unwrap(), b"HELLO, there");
    drop(file);
    drop(registry);
    assert_empty_dir(root.path());
}

#[tokio::test]
async fn persist_moves_the_file_out_and_stops_tracking_it() {
    let root = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let mut file = registry.temp_file().unwrap();
    file.write_all(b"final results").unwrap();
    let temp_path = file.path().to_path_buf();
    let dest = out.path().join("results.txt");

    let mut persisted = file.persist(&dest).unwrap();
    assert!(!temp_path.exists());
    assert_eq!(std::fs::read(&dest).unwrap(), b"final results");
    assert_eq!(registry.len(), 0);
    // The returned handle is the same open file.
    persisted.seek(SeekFrom::Start(0)).unwrap();
    let mut back = String::new();
    persisted.read_to_string(&mut back).unwrap();
    assert_eq!(back, "final results");

    let report = registry.purge_all().await;
    assert_eq!(
        (report.removed(), report.already_gone()),
        (0, 0),
        "{report}"
    );
    assert!(report.is_clean());
    drop(registry);
    assert_eq!(std::fs::read(&dest).unwrap(), b"final results");
    assert_empty_dir(root.path());
}

#[test]
fn persist_replaces_an_existing_destination() {
    let root = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let dest = out.path().join("dest.txt");
    std::fs::write(&dest, b"old").unwrap();
    let mut file = registry.temp_file().unwrap();
    file.write_all(b"new").unwrap();
    file.persist(&dest).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), b"new");
    drop(registry);
    assert_empty_dir(root.path());
}

#[tokio::test]
async fn failed_persist_hands_the_tracked_file_back() {
    let root = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let mut file = registry.temp_file().unwrap();
    file.write_all(b"do not lose me").unwrap();
    let temp_path = file.path().to_path_buf();
    let dest = out.path().join("missing-dir/results.txt");

    let err: PersistError = file.persist(&dest).unwrap_err();
    assert_eq!(err.error.kind(), io::ErrorKind::NotFound);
    assert_names_path(&err.error, &dest);
    assert_names_path(&err, &temp_path);
    assert!(std::error::Error::source(&err).is_some());
    assert_eq!(err.file.path(), temp_path);
    assert_eq!(std::fs::read(&temp_path).unwrap(), b"do not lose me");
    assert_eq!(registry.len(), 1, "the file is still tracked");

    // Retry the same file somewhere that works.
    let file = err.into_file();
    let good = out.path().join("results.txt");
    let persisted = file.persist(&good).unwrap();
    drop(persisted);
    assert_eq!(std::fs::read(&good).unwrap(), b"do not lose me");

    // `?` on a PersistError gives the io::Error, and drops (removes) the file.
    let file = registry.temp_file().unwrap();
    let temp_path = file.path().to_path_buf();
    let as_io: io::Error = file.persist(&dest).unwrap_err().into();
    assert_eq!(as_io.kind(), io::ErrorKind::NotFound);
    assert_names_path(&as_io, &dest);
    assert!(!temp_path.exists());
    assert_eq!(registry.len(), 0);

    assert!(registry.purge_all().await.is_clean());
    drop(registry);
    assert_empty_dir(root.path());
}

#[test]
fn persist_noclobber_leaves_an_existing_destination_alone() {
    let root = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let dest = out.path().join("precious.txt");
    std::fs::write(&dest, b"precious").unwrap();
    let mut file = registry.temp_file().unwrap();
    file.write_all(b"scratch").unwrap();
    let temp_path = file.path().to_path_buf();

    let err = file.persist_noclobber(&dest).unwrap_err();
    assert_eq!(err.error.kind(), io::ErrorKind::AlreadyExists);
    assert_names_path(&err.error, &dest);
    assert_eq!(std::fs::read(&dest).unwrap(), b"precious");
    assert_eq!(std::fs::read(&temp_path).unwrap(), b"scratch");
    assert_eq!(registry.len(), 1);

    let fresh = out.path().join("fresh.txt");
    err.into_file().persist_noclobber(&fresh).unwrap();
    assert_eq!(std::fs::read(&fresh).unwrap(), b"scratch");
    assert_eq!(std::fs::read(&dest).unwrap(), b"precious");
    assert_eq!(registry.len(), 0);
    drop(registry);
    assert_empty_dir(root.path());
}

#[test]
fn keep_moves_each_guard_into_the_root_where_it_survives_the_registry() {
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());

    let mut file = registry.temp().prefix("kept-file-").file().unwrap();
    file.write_all(b"file contents").unwrap();
    let file_name = file.path().file_name().unwrap().to_owned();
    let (mut kept_fd, kept_file) = file.keep().unwrap();
    assert_eq!(kept_file, root.path().join(&file_name));
    kept_fd.write_all(b"!").unwrap();

    let mut tp = registry.temp().prefix("kept-path-").file().unwrap();
    tp.write_all(b"path contents").unwrap();
    let tp = tp.into_temp_path();
    let kept_path = tp.keep().unwrap();
    assert_eq!(kept_path.parent(), Some(root.path()));

    let dir = registry.temp().prefix("kept-dir-").dir().unwrap();
    std::fs::write(dir.path().join("inside.txt"), b"dir contents").unwrap();
    let kept_dir = dir.keep().unwrap();
    assert_eq!(kept_dir.parent(), Some(root.path()));

    assert_eq!(registry.len(), 0);
    let report = registry.purge_all_blocking();
    assert_eq!(report.removed(), 0, "{report}");
    let session = registry.session_dir().to_path_buf();
    drop(registry);
    drop(kept_fd);

    assert!(!session.exists());
    assert_eq!(std::fs::read(&kept_file).unwrap(), b"file contents!");
    assert_eq!(std::fs::read(&kept_path).unwrap(), b"path contents");
    assert_eq!(
        std::fs::read(kept_dir.join("inside.txt")).unwrap(),
        b"dir contents"
    );
    let mut expected: Vec<OsString> = [&kept_file, &kept_path, &kept_dir]
        .iter()
        .map(|p| p.file_name().unwrap().to_owned())
        .collect();
    expected.sort();
    assert_eq!(support::names_in(root.path()), expected);
}

#[test]
fn keep_picks_a_fresh_name_when_the_root_already_has_it() {
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let mut file = registry.temp().prefix("same").rand_bytes(0).file().unwrap();
    file.write_all(b"ours").unwrap();
    let squatter = root.path().join("same");
    std::fs::write(&squatter, b"someone else's").unwrap();

    let (_, kept) = file.keep().unwrap();
    assert_ne!(kept, squatter);
    assert_eq!(kept.parent(), Some(root.path()));
    assert_eq!(std::fs::read(&kept).unwrap(), b"ours");
    assert_eq!(std::fs::read(&squatter).unwrap(), b"someone else's");
    drop(registry);
    let mut expected = vec![OsString::from("same"), kept.file_name().unwrap().into()];
    expected.sort();
    assert_eq!(support::names_in(root.path()), expected);
}

#[test]
fn a_dropped_temp_file_is_removed_and_its_fd_closed_and_what_a_consumed_one_hands_on_lives() {
    const N: usize = 2_000;
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    #[cfg(unix)]
    let before = support::open_fd_count();

    let mut gone = Vec::with_capacity(N);
    for i in 0..N {
        let mut file = registry.temp_file().unwrap();
        write!(file, "{i}").unwrap();
        gone.push(file.path().to_path_buf());
    }
    #[cfg(unix)]
    {
        let after = support::open_fd_count();
        // As below: other tests open files meanwhile; 2,000 leaked fds would
        // dwarf that noise.
        assert!(
            after < before + 100,
            "{N} dropped temp files should hold no fds: {before} open before, {after} after"
        );
    }
    assert!(
        gone.iter().all(|path| !path.exists()),
        "a dropped temp file stayed"
    );
    assert_eq!(registry.len(), 0);

    // What a consuming method hands on is not touched by what is left of
    // the guard it came from.
    let mut file = registry.temp_file().unwrap();
    file.write_all(b"parts").unwrap();
    let (mut parts_file, parts_path) = file.into_parts();
    parts_file.write_all(b" still writable").unwrap();
    assert_eq!(
        std::fs::read_to_string(&parts_path).unwrap(),
        "parts still writable"
    );
    let mut file = registry.temp_file().unwrap();
    file.write_all(b"path").unwrap();
    let path = file.into_temp_path();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "path");
    let (mut kept_file, kept) = registry.temp_file().unwrap().keep().unwrap();
    kept_file.write_all(b"kept").unwrap();
    assert_eq!(std::fs::read_to_string(&kept).unwrap(), "kept");
    assert_eq!(registry.len(), 2, "the parts' path and the temp path");
    let (parts_path_buf, path_buf) = (parts_path.to_path_buf(), path.to_path_buf());
    // Closed first: where a deleted file keeps its name until its last
    // handle closes (Wine), the name would outlive the drop of its path.
    drop(parts_file);
    drop((parts_path, path));
    assert!(!parts_path_buf.exists() && !path_buf.exists());
    assert!(kept.exists(), "a kept file is the caller's");
    let closed = registry.temp_file().unwrap();
    let closed_path = closed.path().to_path_buf();
    closed.close().unwrap();
    assert!(!closed_path.exists());
    assert_eq!(registry.len(), 0);
}

#[test]
fn into_temp_path_keeps_tracking_and_holds_no_fd() {
    const N: usize = 2_000;
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    // Counted on Unix (/proc/self/fd); on Windows only the rest is checked.
    #[cfg(unix)]
    let before = support::open_fd_count();

    let paths: Vec<tempreg::TempPath> = (0..N)
        .map(|i| {
            let mut file = registry.temp_file().unwrap();
            write!(file, "{i}").unwrap();
            file.into_temp_path()
        })
        .collect();

    #[cfg(unix)]
    {
        let after = support::open_fd_count();
        // Other tests in this binary open files meanwhile; 2,000 leaked fds
        // would dwarf that noise.
        assert!(
            after < before + 100,
            "{N} temp paths should hold no fds: {before} open before, {after} after"
        );
    }
    assert_eq!(registry.len(), N);
    for (i, path) in paths.iter().enumerate().step_by(97) {
        assert_eq!(std::fs::read_to_string(path).unwrap(), i.to_string());
    }
    let first = paths[0].to_path_buf();
    drop(paths);
    assert!(!first.exists());
    assert_eq!(registry.len(), 0);
    assert_session_holds_only_lock(&registry);
    drop(registry);
    assert_empty_dir(root.path());
}

// Unix only: its file names are bytes (Windows' are UTF-16).
#[cfg(unix)]
#[test]
fn non_utf8_prefix_and_suffix_work() {
    let root = tempfile::tempdir().unwrap();
    support::block_on(async {
        let registry = registry_in(root.path());
        let prefix = OsStr::from_bytes(b"caf\xe9-");
        let suffix = OsStr::from_bytes(b".\xff\xfe");

        let file = registry
            .temp()
            .prefix(prefix)
            .suffix(suffix)
            .file()
            .unwrap();
        let dir = registry.temp().prefix(prefix).suffix(suffix).dir().unwrap();
        let async_file = registry
            .temp()
            .prefix(prefix)
            .suffix(suffix)
            .file_async()
            .await
            .unwrap();

        let paths: Vec<PathBuf> = vec![
            file.path().into(),
            dir.path().into(),
            async_file.path().into(),
        ];
        for path in &paths {
            let name = path.file_name().unwrap().as_bytes();
            assert!(name.starts_with(b"caf\xe9-"), "{path:?}");
            assert!(name.ends_with(b".\xff\xfe"), "{path:?}");
            assert!(support::is_present(path));
        }
        let entry_paths: Vec<PathBuf> = registry
            .entries()
            .iter()
            .map(|e| e.path().to_path_buf())
            .collect();
        assert_eq!(entry_paths, paths);

        drop((file, dir, async_file));
        assert!(registry.purge_all().await.is_clean());
        for path in &paths {
            assert!(!support::is_present(path), "{path:?}");
        }
        drop(registry);
    });
    // The runtime is shut down: background clean-ups are over.
    assert_empty_dir(root.path());
}

#[test]
fn temp_options_name_files_prefix_random_suffix() {
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());

    let csv = registry
        .temp()
        .prefix("report-")
        .suffix(".csv")
        .file()
        .unwrap();
    let name = csv.path().file_name().unwrap().to_str().unwrap();
    assert!(
        name.starts_with("report-") && name.ends_with(".csv"),
        "{name}"
    );
    assert_eq!(name.len(), "report-".len() + 6 + ".csv".len(), "{name}");
    assert_eq!(csv.path().parent(), Some(registry.session_dir()));

    let plain = registry.temp_file().unwrap();
    let plain_name = plain.path().file_name().unwrap().to_str().unwrap();
    assert!(plain_name.starts_with("tmp"), "{plain_name}");

    let exact = registry
        .temp()
        .prefix("exact")
        .rand_bytes(0)
        .file()
        .unwrap();
    assert_eq!(exact.path(), registry.session_dir().join("exact"));
    let clash = registry.temp().prefix("exact").rand_bytes(0).file();
    assert_eq!(clash.unwrap_err().kind(), io::ErrorKind::AlreadyExists);
    let clash_dir = registry.temp().prefix("exact").rand_bytes(0).dir();
    assert_eq!(clash_dir.unwrap_err().kind(), io::ErrorKind::AlreadyExists);
    assert_eq!(registry.len(), 3);

    let more = registry.temp().rand_bytes(12).dir().unwrap();
    assert_eq!(more.path().file_name().unwrap().len(), "tmp".len() + 12);

    drop((csv, plain, exact, more));
    assert_session_holds_only_lock(&registry);
    drop(registry);
    assert_empty_dir(root.path());
}

#[test]
fn entries_list_kind_and_path_oldest_first() {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    support::block_on(async {
        let registry = registry_in(root.path());

        let file = registry.temp_file().unwrap();
        let dir = registry.temp_dir().unwrap();
        let async_file = registry.temp_file_async().await.unwrap();
        let caller_path = outside.path().join("caller.log");
        let mut options = tokio::fs::OpenOptions::new();
        options.write(true).create(true);
        let caller = registry.open(&caller_path, &options).await.unwrap();
        let path_only = registry.temp_file().unwrap().into_temp_path();

        let listed: Vec<(EntryKind, PathBuf)> = registry
            .entries()
            .iter()
            .map(|e| (e.kind(), e.path().to_path_buf()))
            .collect();
        let expected = vec![
            (EntryKind::TempFile, file.path().to_path_buf()),
            (EntryKind::TempDir, dir.path().to_path_buf()),
            (EntryKind::AsyncTempFile, async_file.path().to_path_buf()),
            (EntryKind::OpenFile, caller_path.clone()),
            (EntryKind::TempFile, path_only.to_path_buf()),
        ];
        assert_eq!(listed, expected);
        assert_eq!(caller.path(), caller_path);
        let ages: Vec<_> = registry.entries().iter().map(|e| e.age()).collect();
        assert!(ages.windows(2).all(|w| w[0] >= w[1]), "{ages:?}");

        drop(dir);
        let kinds: Vec<EntryKind> = registry.entries().iter().map(|e| e.kind()).collect();
        assert_eq!(
            kinds,
            [
                EntryKind::TempFile,
                EntryKind::AsyncTempFile,
                EntryKind::OpenFile,
                EntryKind::TempFile
            ]
        );

        drop((file, async_file, caller, path_only));
        assert!(registry.purge_all().await.is_clean());
        assert!(registry.entries().is_empty());
        drop(registry);
        assert!(caller_path.exists(), "a caller's file is never deleted");
    });
    // The runtime is shut down: background clean-ups are over.
    assert_empty_dir(root.path());
}

#[test]
fn a_guard_used_from_its_path_reference() {
    // AsRef<Path> and Deref let guards go where paths go.
    fn size(path: impl AsRef<Path>) -> u64 {
        std::fs::metadata(path).unwrap().len()
    }
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let mut file = registry.temp_file().unwrap();
    file.write_all(b"12345").unwrap();
    assert_eq!(size(&file), 5);
    let tp = file.into_temp_path();
    assert_eq!(size(&tp), 5);
    assert!(tp.is_file());
    let dir = registry.temp_dir().unwrap();
    assert!(std::fs::metadata(&dir).unwrap().is_dir());
    drop((tp, dir));
    drop(registry);
    assert_empty_dir(root.path());
}

#[test]
fn persist_to_another_file_system_hands_the_file_back() {
    let mountpoint = tempfile::tempdir().unwrap();
    let Some(mount) = support::or_skip(support::Mount::tmpfs(mountpoint.path(), "1m")) else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let mut file = registry.temp_file().unwrap();
    file.write_all(b"cannot be renamed across devices").unwrap();
    let temp_path = file.path().to_path_buf();
    let dest = mount.dir.join("dest.txt");

    let err = file.persist(&dest).unwrap_err();
    assert_eq!(
        err.error.kind(),
        io::ErrorKind::CrossesDevices,
        "{}",
        err.error
    );
    assert_names_path(&err.error, &dest);
    assert!(!dest.exists());
    assert_eq!(
        std::fs::read(&temp_path).unwrap(),
        b"cannot be renamed across devices"
    );
    assert_eq!(registry.len(), 1, "still tracked");
    drop(err);
    assert!(
        !temp_path.exists(),
        "dropping the handed-back file removes it"
    );
    drop(registry);
    assert_empty_dir(root.path());
    support::assert_empty_dir(&mount.dir);
    drop(mount);
}

#[test]
fn a_failed_keep_leaves_the_file_on_disk_and_tracked() {
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let mut file = registry.temp_file().unwrap();
    file.write_all(b"path worth keeping").unwrap();
    let tp = file.into_temp_path();
    let tp_path = tp.to_path_buf();
    let mut file = registry.temp_file().unwrap();
    file.write_all(b"file worth keeping").unwrap();
    let file_path = file.path().to_path_buf();
    let Some(lock) = support::or_skip(support::Immutable::set(root.path())) else {
        return;
    };

    let tp_err = tp.keep().expect_err("the root takes no new names");
    let file_err = file.keep().expect_err("the root takes no new names");
    drop(lock);
    assert_names_path(&tp_err.error, &tp_path);
    assert_names_path(&file_err.error, &file_path);
    assert_eq!(tp_err.path.path(), tp_path, "the guard comes back");
    assert_eq!(file_err.file.path(), file_path, "the guard comes back");
    assert_eq!(
        std::fs::read(&tp_path).ok().as_deref(),
        Some(&b"path worth keeping"[..]),
        "a failed keep must not delete the file"
    );
    assert_eq!(
        std::fs::read(&file_path).ok().as_deref(),
        Some(&b"file worth keeping"[..]),
        "a failed keep must not delete the file"
    );
    assert_eq!(registry.len(), 2, "the files stay tracked");
    let report = registry.purge_all_blocking();
    assert_eq!(report.removed(), 2, "{report}");
    drop((tp_err, file_err));
    drop(registry);
    assert_empty_dir(root.path());
}

#[test]
fn a_failed_dir_keep_hands_the_dir_back_still_tracked() {
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let dir = registry.temp_dir().unwrap();
    std::fs::write(dir.path().join("result.txt"), b"kept in place").unwrap();
    let path = dir.path().to_path_buf();
    let session = registry.session_dir().to_path_buf();
    let Some(lock) = support::or_skip(support::Immutable::set(root.path())) else {
        return;
    };

    let err = dir.keep().expect_err("the root takes no new names");
    drop(lock);
    assert_names_path(&err.error, &path);
    assert_eq!(err.dir.path(), path, "the dir comes back");
    assert_eq!(registry.len(), 1, "and stays tracked");
    assert_eq!(
        std::fs::read(path.join("result.txt")).unwrap(),
        b"kept in place"
    );

    // Once the root takes names again, the same guard keeps it.
    let kept = err.dir.keep().expect("a retried keep");
    assert_eq!(kept.parent(), Some(root.path()));
    assert_eq!(registry.len(), 0, "a kept dir is no longer tracked");
    drop(registry);
    assert!(!session.exists());
    assert_eq!(
        std::fs::read(kept.join("result.txt")).unwrap(),
        b"kept in place"
    );
    assert_eq!(
        support::names_in(root.path()),
        vec![kept.file_name().unwrap().to_owned()]
    );
}

#[test]
fn a_close_that_fails_reports_the_path_and_keeps_the_entry_tracked() {
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let dir = registry.temp_dir().unwrap();
    let stuck = dir.path().join("stuck.txt");
    std::fs::write(&stuck, b"immutable").unwrap();
    let dir_path = dir.path().to_path_buf();
    let file = registry.temp_file().unwrap();
    let file_path = file.path().to_path_buf();

    // An immutable file inside the temp dir cannot be unlinked; an immutable
    // session dir lets no name in it be unlinked.
    let Some(stuck_lock) = support::or_skip(support::Immutable::set(&stuck)) else {
        return;
    };
    let err = dir.close().expect_err("the temp dir cannot be emptied");
    assert_eq!(err.kind(), io::ErrorKind::PermissionDenied, "{err}");
    assert_names_path(&err, &dir_path);
    assert!(stuck.exists());
    assert_eq!(registry.len(), 2, "the dir stays tracked");

    let session_lock = support::Immutable::set(registry.session_dir()).unwrap();
    let err = file.close().expect_err("the session dir is immutable");
    assert_eq!(err.kind(), io::ErrorKind::PermissionDenied, "{err}");
    assert_names_path(&err, &file_path);
    assert!(file_path.exists());
    assert_eq!(registry.len(), 2, "the file stays tracked");
    drop(session_lock);
    drop(stuck_lock);

    let report = registry.purge_all_blocking();
    assert_eq!(report.removed(), 2, "{report}");
    assert!(!dir_path.exists() && !file_path.exists());
    drop(registry);
    assert_empty_dir(root.path());
}
