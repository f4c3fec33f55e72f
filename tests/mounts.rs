//! Removal stays on the file system of the directory being removed, as
//! `rm --one-file-system` does: a file system mounted inside a temp dir, or
//! inside an orphaned session being swept, is left alone with everything in
//! it, and reported; the entry (or the session's lock) stays, so the
//! removal can be retried once it is unmounted.
//!
//! Mounting needs root; where the machine refuses, each test says
//! `skipped: <why>`.

// Unix only: mounts inside a tree (Windows' volume mount points are
// reparse points, deleted as links: see sys/windows/tree.rs).
#![cfg(unix)]

mod support;

use std::io;

use support::{assert_empty_dir, dead_hold_child, or_skip, registry_in, scratch_root, Mount};
use tempreg::{sweep_orphans, PurgeFailureKind, LOCK_NAME};

#[test]
fn a_file_system_mounted_in_a_temp_dir_is_left_alone_and_reported() {
    let root = scratch_root();
    let registry = registry_in(root.path());
    let dir = registry.temp_dir().unwrap();
    std::fs::write(dir.path().join("ours.txt"), b"ours").unwrap();
    let mountpoint = dir.path().join("mnt");
    std::fs::create_dir(&mountpoint).unwrap();
    let Some(mount) = or_skip(Mount::tmpfs(&mountpoint, "1m")) else {
        return;
    };
    std::fs::write(mountpoint.join("precious.txt"), b"on another file system").unwrap();

    let report = registry.purge_all_blocking();
    assert_eq!(report.failures().len(), 1, "{report}");
    let failure = &report.failures()[0];
    assert_eq!(failure.kind(), PurgeFailureKind::Io, "{report}");
    let err = failure.io_error().unwrap();
    assert_eq!(err.kind(), io::ErrorKind::ResourceBusy, "{err}");
    assert!(err.to_string().contains("`mnt`"), "names the mount: {err}");
    assert_eq!(
        std::fs::read(mountpoint.join("precious.txt")).unwrap(),
        b"on another file system",
        "nothing on the mounted file system was touched"
    );
    assert!(!dir.path().join("ours.txt").exists(), "the rest went");
    assert_eq!(registry.len(), 1, "the dir stays tracked");

    let precious = std::fs::read(mountpoint.join("precious.txt")).unwrap();
    assert!(mount.unmount(), "umount");
    assert_eq!(precious, b"on another file system");
    dir.close().expect("once unmounted, the dir goes");
    drop(registry);
    assert_empty_dir(root.path());
}

#[test]
fn a_bind_mount_of_the_same_file_system_is_left_alone() {
    // Same device number, another mount: only the mount id tells.
    let root = scratch_root();
    let aux = tempfile::tempdir().unwrap();
    std::fs::write(aux.path().join("victim.txt"), b"not ours").unwrap();
    let registry = registry_in(root.path());
    let dir = registry.temp_dir().unwrap();
    let mountpoint = dir.path().join("bound");
    std::fs::create_dir(&mountpoint).unwrap();
    let Some(mount) = or_skip(Mount::bind(aux.path(), &mountpoint)) else {
        return;
    };

    let report = registry.purge_all_blocking();
    assert_eq!(report.failures().len(), 1, "{report}");
    let err = report.failures()[0].io_error().unwrap();
    assert_eq!(err.kind(), io::ErrorKind::ResourceBusy, "{err}");
    assert!(
        err.to_string().contains("`bound`"),
        "names the mount: {err}"
    );
    assert_eq!(
        std::fs::read(aux.path().join("victim.txt")).unwrap(),
        b"not ours",
        "nothing seen through the bind mount was touched"
    );
    assert!(mount.unmount(), "umount");
    assert_eq!(
        std::fs::read(aux.path().join("victim.txt")).unwrap(),
        b"not ours"
    );
    let report = registry.purge_all_blocking();
    assert!(report.is_clean(), "{report}");
    drop(dir);
    drop(registry);
    assert_empty_dir(root.path());
}

#[test]
fn a_sweep_stops_at_a_mount_inside_an_orphaned_session() {
    let root = scratch_root();
    let (child, _held) = dead_hold_child(root.path());
    let mountpoint = child.session.join("mnt");
    std::fs::create_dir(&mountpoint).unwrap();
    let Some(mount) = or_skip(Mount::tmpfs(&mountpoint, "1m")) else {
        return;
    };
    std::fs::write(mountpoint.join("precious.txt"), b"on another file system").unwrap();

    let report = sweep_orphans(root.path()).unwrap();
    assert_eq!(report.failures().len(), 1, "{report}");
    let (path, err) = &report.failures()[0];
    assert_eq!(path, &child.session);
    assert_eq!(err.kind(), io::ErrorKind::ResourceBusy, "{err}");
    assert!(report.removed().is_empty(), "{report}");
    assert_eq!(
        std::fs::read(mountpoint.join("precious.txt")).unwrap(),
        b"on another file system"
    );
    assert!(
        child.session.join(LOCK_NAME).is_file(),
        "the lock file stays, so the next sweep retries"
    );

    assert!(mount.unmount(), "umount");
    let report = sweep_orphans(root.path()).unwrap();
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.removed().len(), 1, "{report}");
    assert_empty_dir(root.path());
}
