//! A clean-up that fails is never forgotten: the entry stays tracked (the
//! next purge, the guard's drop, or the registry's end retries it, and
//! `entries()` shows it), a session whose removal failed keeps its lock file
//! so that a later sweep retries it, and every failure says what happened
//! in a way a program can test (`is_replaced_error`, `is_closed_error`).
//!
//! Failures are made real: `chattr +i` (refused even to root), a full
//! tmpfs, a read-only directory as an ordinary user (`setpriv`). A test whose
//! set-up the machine refuses says `skipped: <why>`. (On Windows neither
//! `chattr` nor tmpfs exists: those tests say `skipped:` there, and
//! `tests/windows.rs` makes the failures Windows has, a file another
//! process holds open without sharing its deletion.)

mod support;

use std::io::{self, Read, Write};
#[cfg(unix)]
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
#[cfg(unix)]
use std::process::Command;

use support::{
    assert_empty_dir, assert_names_path, names_in, or_skip, registry_in, Immutable, Mount,
};
#[cfg(unix)]
use support::{Running, RUN_TIMEOUT};
use tempreg::{
    is_closed_error, is_replaced_error, list_sessions, sweep_orphans, PurgeFailureKind,
    SessionState, LOCK_NAME,
};
use tokio::io::AsyncWriteExt;

/// A root on the disk under the crate, where `chattr` works (tmpfs has no
/// immutable flag).
fn disk_root() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("root")
}

#[test]
fn a_purge_that_fails_keeps_every_entry_and_the_next_purge_retries() {
    let root = disk_root();
    let registry = registry_in(root.path());
    let mut file = registry.temp_file().unwrap();
    file.write_all(b"still needed").unwrap();
    let path_only = registry.temp_file().unwrap().into_temp_path();
    let dir = registry.temp_dir().unwrap();
    std::fs::write(dir.path().join("inside.txt"), b"inside").unwrap();
    let paths = [
        file.path().to_path_buf(),
        path_only.to_path_buf(),
        dir.path().to_path_buf(),
    ];
    let Some(stuck) = or_skip(Immutable::set(registry.session_dir())) else {
        return;
    };

    for attempt in 0..2 {
        let report = registry.purge_all_blocking();
        assert_eq!(report.failures().len(), 3, "attempt {attempt}: {report}");
        for failure in report.failures() {
            assert_eq!(failure.kind(), PurgeFailureKind::Io, "{report}");
            let err = failure.io_error().expect("an I/O failure has its error");
            assert_eq!(err.kind(), io::ErrorKind::PermissionDenied, "{err}");
            assert_names_path(failure, failure.path());
        }
        assert_eq!(registry.len(), 3, "a failed clean-up stays tracked");
        let mut listed: Vec<_> = registry
            .entries()
            .iter()
            .map(|e| e.path().to_owned())
            .collect();
        listed.sort();
        let mut expected = paths.to_vec();
        expected.sort();
        assert_eq!(listed, expected, "entries() shows what is still on disk");
        assert!(paths.iter().all(|p| p.exists()));
    }

    drop(stuck);
    let report = support::block_on(registry.purge_all());
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.removed(), 3, "{report}");
    assert!(paths.iter().all(|p| !p.exists()));
    assert_eq!(registry.len(), 0);
    drop((file, path_only, dir, registry));
    assert_empty_dir(root.path());
}

#[test]
fn a_guard_dropped_after_a_failed_purge_removes_its_file() {
    let root = disk_root();
    let registry = registry_in(root.path());
    let path_only = registry.temp_file().unwrap().into_temp_path();
    let path = path_only.to_path_buf();
    let Some(stuck) = or_skip(Immutable::set(registry.session_dir())) else {
        return;
    };
    let report = registry.purge_all_blocking();
    assert_eq!(report.failures().len(), 1, "{report}");
    drop(stuck);

    drop(path_only);
    assert!(!path.exists(), "the guard's drop retried the removal");
    assert_eq!(registry.len(), 0);
}

#[test]
fn a_session_whose_removal_fails_keeps_its_lock_and_a_later_sweep_removes_it() {
    let root = disk_root();
    let registry = registry_in(root.path());
    let session = registry.session_dir().to_path_buf();
    let dir = registry.temp_dir().unwrap();
    let stuck_file = dir.path().join("stuck.txt");
    std::fs::write(&stuck_file, b"immutable").unwrap();
    std::fs::write(session.join("loose.txt"), b"made by someone else").unwrap();
    let Some(stuck) = or_skip(Immutable::set(&stuck_file)) else {
        return;
    };

    drop(dir);
    drop(registry);
    assert!(
        session.join(LOCK_NAME).is_file(),
        "a session that could not be emptied keeps its lock file: {:?}",
        names_in(&session)
    );
    assert!(stuck_file.exists());
    // Its owner is gone (see `judged_once_settled` for why it may look
    // live for an instant).
    let listed = support::judged_once_settled(
        || list_sessions(root.path()).unwrap(),
        |listed| listed.iter().all(|s| !s.is_live()),
    );
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].path(), session);
    assert_eq!(
        listed[0].state(),
        SessionState::Orphaned,
        "its owner is gone"
    );

    // While the file is stuck, a sweep fails on it and leaves the lock.
    let report = support::judged_once_settled(
        || sweep_orphans(root.path()).unwrap(),
        |report| report.live().is_empty(),
    );
    assert_eq!(report.failures().len(), 1, "{report}");
    assert_names_path(&report.failures()[0].1, Path::new("stuck.txt"));
    assert!(session.join(LOCK_NAME).is_file(), "still sweepable");

    drop(stuck);
    let report = support::judged_once_settled(
        || sweep_orphans(root.path()).unwrap(),
        |report| report.live().is_empty(),
    );
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.removed().len(), 1, "{report}");
    assert_empty_dir(root.path());
}

#[test]
fn a_tracked_file_whose_close_cannot_flush_stays_open_and_tracked() {
    const LEN: usize = 256 << 10;
    let mountpoint = tempfile::tempdir().unwrap();
    let Some(mount) = or_skip(Mount::tmpfs(mountpoint.path(), "64k")) else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let path = mount.dir.join("full.bin");
    let payload = support::pattern(LEN);
    support::block_on(async {
        let registry = registry_in(root.path());
        let options = {
            let mut o = tokio::fs::OpenOptions::new();
            o.create(true).write(true);
            o
        };
        let mut handle = registry.open(&path, &options).await.unwrap();
        // tokio buffers the write and reports the disk's answer later.
        let accepted = handle.write(&payload).await.unwrap();
        assert!(accepted > 0);
        let err = handle.close().await.expect_err("the disk is full");
        assert_eq!(err.kind(), io::ErrorKind::StorageFull, "{err}");
        assert_names_path(&err, &path);
        assert_eq!(registry.len(), 1, "the handle stays tracked for a retry");

        let report = registry.purge_all().await;
        assert!(report.is_clean(), "{report}");
        assert_eq!(report.closed(), 1, "{report}");
        assert_eq!(registry.len(), 0);
    });
    let kept = std::fs::read(&path).unwrap();
    assert!(!kept.is_empty() && kept.len() < LEN);
    assert!(
        kept == payload[..kept.len()],
        "the bytes that fitted are kept"
    );
    assert_empty_dir(root.path());
    drop(mount);
}

#[test]
fn a_replaced_name_is_a_typed_error_and_is_never_removed() {
    let root = tempfile::tempdir().unwrap();
    let aux = tempfile::tempdir().unwrap();
    let victim = aux.path().join("victim");
    std::fs::create_dir(&victim).unwrap();
    std::fs::write(victim.join("precious.txt"), b"precious").unwrap();
    let registry = registry_in(root.path());

    // A temp path whose name now holds someone else's file, moved into
    // place (it existed before ours was removed, so it is another inode).
    let path_only = registry.temp_file().unwrap().into_temp_path();
    let path = path_only.to_path_buf();
    let theirs = aux.path().join("theirs");
    std::fs::write(&theirs, b"someone else's").unwrap();
    std::fs::remove_file(&path).unwrap();
    std::fs::rename(&theirs, &path).unwrap();
    let err = path_only.close().unwrap_err();
    assert!(is_replaced_error(&err), "{err}");
    assert!(!is_closed_error(&err), "{err}");
    assert_names_path(&err, &path);
    assert_eq!(std::fs::read(&path).unwrap(), b"someone else's");
    assert_eq!(registry.len(), 0, "a replaced name is not ours any more");
    std::fs::remove_file(&path).unwrap();

    // A temp dir whose name is now a symlink to a victim directory.
    let dir = registry.temp_dir().unwrap();
    let dir_path = dir.path().to_path_buf();
    std::fs::remove_dir(&dir_path).unwrap();
    // (Windows lets only some users make symlinks, Wine none.)
    if or_skip(support::can_symlink()).is_some() {
        support::symlink(&victim, &dir_path).unwrap();
        let err = dir.close().unwrap_err();
        assert!(is_replaced_error(&err), "{err}");
        assert_eq!(
            std::fs::read(victim.join("precious.txt")).unwrap(),
            b"precious"
        );
        support::remove_symlink(&dir_path).unwrap();
    } else {
        drop(dir);
    }

    // An I/O error is not a replacement.
    let stuck_root = disk_root();
    let stuck_registry = registry_in(stuck_root.path());
    let tp = stuck_registry.temp_file().unwrap().into_temp_path();
    if let Some(stuck) = or_skip(Immutable::set(stuck_registry.session_dir())) {
        let err = stuck_registry.temp_file().unwrap_err();
        assert!(!is_replaced_error(&err), "{err}");
        drop(stuck);
    }
    drop((tp, stuck_registry));
    drop(registry);
    assert_empty_dir(root.path());
}

#[test]
fn every_guard_a_purge_closed_fails_its_io_with_a_closed_error() {
    let root = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    support::block_on(async {
        let registry = registry_in(root.path());
        let mut file = registry.temp_file().unwrap();
        let mut anonymous = registry.anonymous_file().unwrap();
        let mut async_file = registry.temp_file_async().await.unwrap();
        let mut opened = registry
            .open(
                out.path().join("kept.log"),
                tokio::fs::OpenOptions::new().create(true).write(true),
            )
            .await
            .unwrap();
        let report = registry.purge_all().await;
        assert!(report.is_clean(), "{report}");
        assert_eq!(report.closed(), 4, "every handle, sync ones too: {report}");

        assert!(file.is_purged() && anonymous.is_purged());
        assert!(async_file.is_purged() && opened.is_purged());
        let errors = [
            file.write_all(b"x").unwrap_err(),
            file.read(&mut [0; 4]).unwrap_err(),
            anonymous.write_all(b"x").unwrap_err(),
            anonymous.metadata().unwrap_err(),
            async_file.write_all(b"x").await.unwrap_err(),
            opened.write_all(b"x").await.unwrap_err(),
            opened.sync_data().await.unwrap_err(),
        ];
        for err in &errors {
            assert!(is_closed_error(err), "{err} ({:?})", err.kind());
        }
        // The raw file is revoked too: it reaches nothing any more. (Not
        // on Windows, which cannot swap the file behind a handle: there the
        // guard refuses I/O, and its handle stays open until it drops.)
        #[cfg(unix)]
        assert!(file.as_file().write_all(b"x").is_err());
        #[cfg(unix)]
        assert!(anonymous.as_file().write_all(b"x").is_err());
        let err = file.keep().unwrap_err();
        assert!(is_closed_error(&err.error), "{}", err.error);
        drop((err, anonymous, async_file, opened, registry));
    });
    assert_empty_dir(root.path());
}

// Unix only: a tmpfs to fill, and the space comes back because the purge
// revokes the guard's fd; Windows cannot revoke a handle (the space comes
// back when the guard drops).
#[cfg(unix)]
#[test]
fn a_purge_frees_a_held_temp_files_space_at_once() {
    // 768 KiB in a temp file on a 1 MiB tmpfs; while its guard is still
    // held, a purge must give the space back, or a second file cannot fit.
    // In a process of its own: a test thread of this binary spawning a
    // process meanwhile would hold a copy of every fd (the file's too) in
    // its child until that child execs.
    let mountpoint = tempfile::tempdir().unwrap();
    let Some(mount) = or_skip(Mount::tmpfs(mountpoint.path(), "1m")) else {
        return;
    };
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    support::child_args(
        &mut cmd,
        "child_process_entry",
        "space",
        &mount.dir,
        &mount.dir,
    );
    let output = Running::start(cmd, "the space child").output(RUN_TIMEOUT);
    let shown = support::describe(&output);
    assert!(output.status.success(), "{shown}");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("child: space freed"),
        "{shown}"
    );
    assert_empty_dir(&mount.dir);
    drop(mount);
}

#[cfg(unix)]
fn child_space(root: &Path) {
    let registry = registry_in(root);
    let chunk = vec![0x5a; 768 << 10];
    let mut first = registry.temp_file().unwrap();
    first.write_all(&chunk).unwrap();
    first.flush().unwrap();
    let report = registry.purge_all_blocking();
    assert!(report.is_clean(), "{report}");

    let mut second = registry.temp_file().unwrap();
    second
        .write_all(&chunk)
        .expect("the purged file's space was freed while its guard lives");
    drop((first, second, registry));
    println!("child: space freed");
}

// Unix only: fd numbers handed out again, and revoking by number.
#[cfg(unix)]
#[test]
fn a_purge_never_touches_a_file_that_took_a_replaced_files_descriptor_number() {
    // A guard's `File` replaced through `as_file_mut` frees the old fd
    // number; the next file the program opens (its own data) gets it. A
    // purge must leave that file working. In a process of its own, so that
    // no other test thread takes the number first.
    let root = tempfile::tempdir().unwrap();
    let aux = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    support::child_args(
        &mut cmd,
        "child_process_entry",
        "replaced-file",
        root.path(),
        aux.path(),
    );
    let output = Running::start(cmd, "the replaced-file child").output(RUN_TIMEOUT);
    let shown = support::describe(&output);
    assert!(output.status.success(), "{shown}");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("child: the other file is intact"),
        "{shown}"
    );
    assert_eq!(
        std::fs::read(aux.path().join("data.log")).unwrap(),
        b"before the purge\nafter the purge\n",
        "every byte written to the program's own file is there"
    );
    assert_empty_dir(root.path());
}

#[cfg(unix)]
fn child_replaced_file(root: &Path, aux: &Path) {
    use std::os::fd::AsRawFd;
    let registry = registry_in(root);
    let mut guard = registry.temp_file().unwrap();
    let number = guard.as_file().as_raw_fd();
    let replacement = std::fs::File::create(aux.join("replacement")).unwrap();
    // The old file is closed here: its number is free.
    *guard.as_file_mut() = replacement;
    let mut data = std::fs::File::create(aux.join("data.log")).unwrap();
    assert_eq!(
        data.as_raw_fd(),
        number,
        "the program's next file took the freed number"
    );
    data.write_all(b"before the purge\n").unwrap();

    let report = registry.purge_all_blocking();
    assert!(report.is_clean(), "{report}");
    assert!(!guard.path().exists(), "the temp file's name went");

    data.write_all(b"after the purge\n")
        .expect("the file that took the number still works");
    guard
        .write_all(b"the replacement is the caller's own")
        .expect("the replaced file is not the one tracked: it was not revoked");
    drop((data, guard, registry));
    println!("child: the other file is intact");
}

// Unix only: modes and `setpriv` (Windows' read-only files:
// tests/windows.rs).
#[cfg(unix)]
#[test]
fn a_read_only_directory_left_in_a_session_does_not_stop_its_removal() {
    // As root, permissions stop nothing: the child runs as uid 65534.
    let base = tempfile::tempdir().unwrap();
    std::fs::set_permissions(base.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let exe = base.path().join("child-test-binary");
    std::fs::copy(std::env::current_exe().unwrap(), &exe).unwrap();
    let root = base.path().join("root");
    std::fs::create_dir(&root).unwrap();
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o777)).unwrap();
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&exe)
        .current_dir(base.path());
    support::child_args(
        &mut cmd,
        "child_process_entry",
        "read-only-tree",
        &root,
        &root,
    );
    let output = match std::process::Command::new("setpriv").arg("--help").output() {
        Ok(_) => Running::start(cmd, "the unprivileged child").output(RUN_TIMEOUT),
        Err(e) => {
            println!("skipped: setpriv cannot run: {e}");
            return;
        }
    };
    let shown = support::describe(&output);
    if !output.status.success() && String::from_utf8_lossy(&output.stderr).contains("setpriv:") {
        println!("skipped: setpriv refused: {shown}");
        return;
    }
    assert!(output.status.success(), "{shown}");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("child: read-only trees removed"),
        "{shown}"
    );
    assert_empty_dir(&root);
}

/// Runs a scenario in a re-executed test binary; returns at once otherwise.
#[cfg(unix)]
#[test]
fn child_process_entry() {
    let Some((scenario, root)) = support::child_scenario() else {
        return;
    };
    match scenario.as_str() {
        #[cfg(unix)]
        "read-only-tree" => child_read_only_tree(&root),
        #[cfg(unix)]
        "space" => child_space(&root),
        #[cfg(unix)]
        "replaced-file" => child_replaced_file(&root, &support::child_aux()),
        other => panic!("unknown scenario {other}"),
    }
}

/// Leaves read-only directories (as Go's module cache does) in a temp dir
/// and in the session itself; both go.
#[cfg(unix)]
fn child_read_only_tree(root: &Path) {
    let read_only = |dir: &Path| {
        std::fs::create_dir_all(dir.join("pkg/mod")).unwrap();
        std::fs::write(dir.join("pkg/mod/go.sum"), b"h1:...").unwrap();
        for sub in ["pkg/mod", "pkg"] {
            std::fs::set_permissions(dir.join(sub), std::fs::Permissions::from_mode(0o555))
                .unwrap();
        }
    };
    let registry = registry_in(root);
    let dir = registry.temp_dir().unwrap();
    read_only(dir.path());
    let dir_path = dir.path().to_path_buf();
    dir.close()
        .expect("a temp dir with a read-only tree inside closes");
    assert!(!dir_path.exists());

    read_only(registry.session_dir());
    let session = registry.session_dir().to_path_buf();
    drop(registry);
    assert!(!session.exists(), "{:?}", names_in(&session));
    println!("child: read-only trees removed");
}
