//! A registry in a given root, scratch roots, and what is on disk: listings,
//! snapshots, modes, and the assertions every suite makes about them; plus
//! test payloads and this process's open file descriptors.

use std::ffi::OsString;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tempreg::ResourceRegistry;

/// A registry whose session directory lives in `root`.
pub fn registry_in(root: &Path) -> ResourceRegistry {
    ResourceRegistry::builder()
        .root(root)
        .build()
        .unwrap_or_else(|e| panic!("cannot build a registry in {}: {e}", root.display()))
}

/// A fresh scratch root, removed at the end of the test.
pub fn scratch_root() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("crash-root-")
        .tempdir()
        .expect("scratch root")
}

/// The names in `dir`, sorted.
pub fn names_in(dir: &Path) -> Vec<OsString> {
    let mut names: Vec<OsString> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("read_dir entry").file_name())
        .collect();
    names.sort();
    names
}

/// Asserts that `dir` exists and holds nothing.
pub fn assert_empty_dir(dir: &Path) {
    let names = names_in(dir);
    assert!(
        names.is_empty(),
        "{} should be empty but holds {names:?}",
        dir.display()
    );
}

/// Asserts that the session directory holds only its lock file.
pub fn assert_session_holds_only_lock(registry: &ResourceRegistry) {
    assert_eq!(
        names_in(registry.session_dir()),
        vec![OsString::from(tempreg::LOCK_NAME)],
        "session directory {} should hold only its lock file",
        registry.session_dir().display()
    );
}

/// Every path under `dir`, relative to it, sorted.
pub fn tree(dir: &Path) -> Vec<PathBuf> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            out.push(path.strip_prefix(base).unwrap_or(&path).to_path_buf());
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                walk(base, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Every path under `dir` (relative) with, for regular files, their content.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, Option<Vec<u8>>)> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(PathBuf, Option<Vec<u8>>)>) {
        for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
            let path = entry.path();
            let rel = path.strip_prefix(base).unwrap_or(&path).to_path_buf();
            let kind = entry.file_type().expect("file_type");
            if kind.is_dir() {
                out.push((rel, None));
                walk(base, &path, out);
            } else if kind.is_file() {
                out.push((rel, Some(std::fs::read(&path).expect("read"))));
            } else {
                out.push((rel, None));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// True if something (even a dangling symlink) is at `path`.
pub fn is_present(path: &Path) -> bool {
    match std::fs::symlink_metadata(path) {
        Ok(_) => true,
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => panic!("cannot stat {}: {e}", path.display()),
    }
}

/// `mode & 0o777` of `path`, without following a symlink.
pub fn mode_of(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("cannot stat {}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Asserts that an error message names `path`.
pub fn assert_names_path(err: &dyn std::fmt::Display, path: &Path) {
    let message = err.to_string();
    let shown = path.display().to_string();
    assert!(
        message.contains(&shown),
        "error message `{message}` should name `{shown}`"
    );
}

/// A payload whose every offset is distinguishable from its neighbours.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// How many file descriptors this process has open.
pub fn open_fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

/// `flock(LOCK_EX | LOCK_NB)` on `file` (what `File::try_lock` does, for
/// toolchains older than 1.89): `WouldBlock` while another holds the lock.
pub fn try_flock_exclusive(file: &std::fs::File) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: flock(2) on an fd `file` keeps open for the call's duration.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
