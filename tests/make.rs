//! `TempOptions::make`: whatever a closure makes at a fresh name in the
//! session directory (a socket, a FIFO, a directory) is tracked by its
//! identity, removed with its guard or by a purge, and never confused with
//! what replaced it.

mod support;

use std::fs::File;
use std::io;
#[cfg(unix)]
use std::os::unix::fs::FileTypeExt;
#[cfg(unix)]
use std::os::unix::net::UnixListener;
use std::path::Path;

use support::{assert_session_holds_only_lock, registry_in};
use tempreg::is_replaced_error;

/// Something only a closure makes: a FIFO on Unix; on Windows (no FIFOs in
/// the file system) a file made by hand.
fn make_special(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: mkfifo(3) on a NUL-terminated path we own.
        match unsafe { libc::mkfifo(c.as_ptr(), 0o600) } {
            0 => Ok(()),
            _ => Err(io::Error::last_os_error()),
        }
    }
    #[cfg(windows)]
    File::create_new(path).map(drop)
}

/// A listener at a fresh name: a Unix socket; on Windows (whose `std` has
/// none) an open file.
#[cfg(unix)]
fn listen(path: &Path) -> io::Result<UnixListener> {
    UnixListener::bind(path)
}
#[cfg(windows)]
fn listen(path: &Path) -> io::Result<File> {
    File::create_new(path)
}

// Unix sockets in the file system are Unix's.
#[cfg(unix)]
#[test]
fn a_socket_made_by_a_closure_is_tracked_and_removed_with_its_guard() {
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let (listener, socket) = registry
        .temp()
        .prefix("sock-")
        .suffix(".sock")
        .make(|path| UnixListener::bind(path))
        .unwrap();
    let path = socket.to_path_buf();
    assert_eq!(path.parent(), Some(registry.session_dir()));
    let name = path.file_name().unwrap().to_str().unwrap();
    assert!(
        name.starts_with("sock-") && name.ends_with(".sock"),
        "{name}"
    );
    assert!(std::fs::symlink_metadata(&path)
        .unwrap()
        .file_type()
        .is_socket());
    assert_eq!(registry.len(), 1);
    drop(listener);
    drop(socket);
    assert!(!path.exists());
    assert_session_holds_only_lock(&registry);
}

#[test]
fn a_purge_removes_what_a_closure_made() {
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let (_, fifo) = registry.temp().make(make_special).unwrap();
    let (dir_made, dir) = registry
        .temp()
        .make(|path| std::fs::create_dir(path).map(|()| "made"))
        .unwrap();
    assert_eq!(dir_made, "made");
    std::fs::write(dir.join("inside.txt"), b"x").unwrap();
    let report = registry.purge_all_blocking();
    assert_eq!(report.removed(), 2, "{report}");
    assert!(report.is_clean(), "{report}");
    assert!(!fifo.exists() && !dir.exists());
    assert_session_holds_only_lock(&registry);
}

#[test]
fn a_clash_tries_another_name_and_other_errors_come_back() {
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let mut calls = 0;
    let (file, path) = registry
        .temp()
        .make(|path| {
            calls += 1;
            if calls < 3 {
                return Err(io::Error::from(io::ErrorKind::AlreadyExists));
            }
            File::create_new(path)
        })
        .unwrap();
    assert_eq!(calls, 3);
    drop(file);
    assert!(path.is_file());

    let err = registry
        .temp()
        .make(|_| -> io::Result<()> { Err(io::Error::other("no")) })
        .unwrap_err();
    assert!(err.to_string().ends_with(": no"), "{err}");
    assert_eq!(err.kind(), io::ErrorKind::Other);
    let err = registry.temp().make(|_| Ok(())).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
    assert_eq!(registry.len(), 1, "failures track nothing");
}

#[test]
fn what_replaced_a_made_name_is_left_alone() {
    if support::or_skip(support::identity_survives_reuse()).is_none() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let (listener, socket) = registry.temp().make(listen).unwrap();
    drop(listener);
    let path = socket.to_path_buf();
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, b"someone else's").unwrap();
    let err = socket.close().unwrap_err();
    assert!(is_replaced_error(&err), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), b"someone else's");
    std::fs::remove_file(&path).unwrap();
}
