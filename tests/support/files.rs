//! A registry in a given root, scratch roots, and what is on disk: listings,
//! snapshots, modes, and the assertions every suite makes about them; plus
//! test payloads and this process's open file descriptors.

use std::ffi::OsString;
use std::io;
#[cfg(unix)]
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

/// A registry in `root` that keeps `reserve` async temp files ready (see
/// `RegistryBuilder::async_reserve`; 0 turns the reserve off).
pub fn registry_with_reserve(root: &Path, reserve: usize) -> ResourceRegistry {
    ResourceRegistry::builder()
        .root(root)
        .async_reserve(reserve)
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

/// Makes a symlink at `link` pointing at `target`; on Windows a directory's
/// symlink if `target` is a directory, a file's otherwise (a dangling one
/// included). Windows lets only some users make symlinks: a test checks
/// [`can_symlink`] first.
pub fn symlink(target: impl AsRef<Path>, link: impl AsRef<Path>) -> io::Result<()> {
    let (target, link) = (target.as_ref(), link.as_ref());
    #[cfg(unix)]
    return std::os::unix::fs::symlink(target, link);
    #[cfg(windows)]
    if target.is_dir() {
        std::os::windows::fs::symlink_dir(target, link)
    } else {
        std::os::windows::fs::symlink_file(target, link)
    }
}

/// Removes the symlink at `link` itself (on Windows a directory's symlink
/// is removed as a directory).
pub fn remove_symlink(link: &Path) -> io::Result<()> {
    #[cfg(windows)]
    {
        use std::os::windows::fs::FileTypeExt;
        if std::fs::symlink_metadata(link)?
            .file_type()
            .is_symlink_dir()
        {
            return std::fs::remove_dir(link);
        }
    }
    std::fs::remove_file(link)
}

/// `Ok` if this process can make symlinks: always on Unix; on Windows only
/// with the privilege (or developer mode). The error says why not, for
/// [`or_skip`](super::or_skip).
pub fn can_symlink() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| format!("a scratch dir: {e}"))?;
    let target = dir.path().join("target");
    std::fs::write(&target, b"t").map_err(|e| format!("a scratch file: {e}"))?;
    let link = dir.path().join("link");
    symlink(&target, &link).map_err(|e| format!("this user cannot make symlinks: {e}"))?;
    match std::fs::symlink_metadata(&link) {
        Ok(meta) if meta.file_type().is_symlink() => Ok(()),
        Ok(_) => Err("a symlink made here is not a symlink when looked at".into()),
        Err(e) => Err(format!("a symlink made here cannot be looked at: {e}")),
    }
}

/// `mode & 0o777` of `path`, without following a symlink.
#[cfg(unix)]
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
#[cfg(unix)]
pub fn open_fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

/// `flock(LOCK_EX | LOCK_NB)` on `file` (what `File::try_lock` does, for
/// toolchains older than 1.89): `WouldBlock` while another holds the lock.
/// On Windows `File::try_lock` itself (`LockFileEx` on the whole range).
#[cfg(unix)]
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

/// `LockFileEx(LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY)` on
/// every byte of `file` on Windows (what `File::try_lock` does there):
/// `WouldBlock` while another holds a lock on any byte of it.
#[cfg(windows)]
pub fn try_flock_exclusive(file: &std::fs::File) -> std::io::Result<()> {
    use std::os::windows::io::AsRawHandle;
    use windows_sys::Win32::Foundation::ERROR_LOCK_VIOLATION;
    use windows_sys::Win32::Storage::FileSystem::{
        LockFileEx, LOCKFILE_EXCLUSIVE_LOCK, LOCKFILE_FAIL_IMMEDIATELY,
    };
    use windows_sys::Win32::System::IO::OVERLAPPED;
    let mut overlapped = OVERLAPPED::default();
    // SAFETY: the handle is open for the call (borrowed from `file`), and
    // `overlapped` is a valid OVERLAPPED (offset 0) that outlives it; the
    // handle is synchronous, so the call completes before it returns.
    let ok = unsafe {
        LockFileEx(
            file.as_raw_handle() as _,
            LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY,
            0,
            u32::MAX,
            u32::MAX,
            &mut overlapped,
        )
    };
    if ok != 0 {
        return Ok(());
    }
    let e = std::io::Error::last_os_error();
    if e.raw_os_error() == Some(ERROR_LOCK_VIOLATION as i32) {
        Err(std::io::ErrorKind::WouldBlock.into())
    } else {
        Err(e)
    }
}

/// `path` opened the way another program often holds a file on Windows:
/// reading, sharing reads and writes but not deletion, so that nobody can
/// delete it (`ERROR_SHARING_VIOLATION`) while this handle is open.
#[cfg(windows)]
pub fn open_unshared(path: &Path) -> std::fs::File {
    use std::os::windows::fs::OpenOptionsExt;
    const FILE_SHARE_READ: u32 = 1;
    const FILE_SHARE_WRITE: u32 = 2;
    std::fs::OpenOptions::new()
        .read(true)
        .share_mode(FILE_SHARE_READ | FILE_SHARE_WRITE)
        .open(path)
        .unwrap_or_else(|e| panic!("open {} without sharing deletion: {e}", path.display()))
}

/// `Ok` if deleting a file that another handle holds open takes its name
/// away at once, as on Unix: on Windows, where the file system has POSIX
/// delete semantics (`FileDispositionInfoEx`, Windows 10 1709 and later on
/// NTFS). Wine has none (the call fails with `ERROR_INVALID_PARAMETER`):
/// there a purged temp file keeps its name until its guard drops the
/// handle, an anonymous file has a name while open, and a directory holding
/// such a name cannot be removed until then. The error says so, for
/// [`or_skip`](super::or_skip) around the assertions that need it.
pub fn names_go_at_once() -> Result<(), String> {
    #[cfg(unix)]
    return Ok(());
    #[cfg(windows)]
    {
        static ANSWER: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
        ANSWER.get_or_init(probe_posix_delete).clone()
    }
}

/// Deletes a file held open, through a second handle with POSIX semantics,
/// and looks whether the name went.
#[cfg(windows)]
fn probe_posix_delete() -> Result<(), String> {
    use std::os::windows::fs::OpenOptionsExt;
    use std::os::windows::io::AsRawHandle;
    use windows_sys::Win32::Storage::FileSystem::{
        FileDispositionInfoEx, SetFileInformationByHandle, DELETE, FILE_DISPOSITION_FLAG_DELETE,
        FILE_DISPOSITION_FLAG_POSIX_SEMANTICS, FILE_DISPOSITION_INFO_EX,
    };
    let dir = tempfile::tempdir().map_err(|e| format!("a scratch dir: {e}"))?;
    let path = dir.path().join("probe");
    let held = std::fs::File::create(&path).map_err(|e| format!("a scratch file: {e}"))?;
    let deleter = std::fs::OpenOptions::new()
        .access_mode(DELETE)
        .open(&path)
        .map_err(|e| format!("open for deletion: {e}"))?;
    let info = FILE_DISPOSITION_INFO_EX {
        Flags: FILE_DISPOSITION_FLAG_DELETE | FILE_DISPOSITION_FLAG_POSIX_SEMANTICS,
    };
    // SAFETY: the handle is open (borrowed from `deleter`), `info` is the
    // structure the class expects, of the size given.
    let ok = unsafe {
        SetFileInformationByHandle(
            deleter.as_raw_handle() as _,
            FileDispositionInfoEx,
            (&info as *const FILE_DISPOSITION_INFO_EX).cast(),
            std::mem::size_of::<FILE_DISPOSITION_INFO_EX>() as u32,
        )
    };
    let refused = (ok == 0).then(std::io::Error::last_os_error);
    drop(deleter);
    let gone = !is_present(&path);
    drop(held);
    match (refused, gone) {
        (None, true) => Ok(()),
        (Some(e), _) => Err(format!(
            "no POSIX delete semantics here (FileDispositionInfoEx: {e}): a file deleted \
             while a handle holds it keeps its name until that handle closes"
        )),
        (None, false) => Err("a POSIX delete left the name of a file held open".into()),
    }
}

/// `Ok` if a file's identity tells it from a later file made at the same
/// name once it is removed (which may get the same inode or file index):
/// on Unix by the birth time where the file system records one; on Windows
/// by the creation time. Wine has no stable creation time: it reports one
/// that moves with every write (measured: a file's creation time changed
/// when it was written), so tempreg leaves it out of the identity there and
/// such a file passes for the one removed. The error says so, for
/// [`or_skip`](super::or_skip).
pub fn identity_survives_reuse() -> Result<(), String> {
    #[cfg(unix)]
    return Ok(());
    #[cfg(windows)]
    {
        static ANSWER: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
        ANSWER.get_or_init(probe_creation_time).clone()
    }
}

/// Writes a file a moment after making it, and looks whether its creation
/// time moved.
#[cfg(windows)]
fn probe_creation_time() -> Result<(), String> {
    use std::io::Write;
    let dir = tempfile::tempdir().map_err(|e| format!("a scratch dir: {e}"))?;
    let path = dir.path().join("probe");
    let mut file = std::fs::File::create(&path).map_err(|e| format!("a scratch file: {e}"))?;
    let created = |file: &std::fs::File| file.metadata().and_then(|m| m.created());
    let before = created(&file).map_err(|e| format!("its creation time: {e}"))?;
    std::thread::sleep(std::time::Duration::from_millis(20));
    file.write_all(b"later")
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("write: {e}"))?;
    let after = created(&file).map_err(|e| format!("its creation time: {e}"))?;
    if before == after {
        Ok(())
    } else {
        Err(format!(
            "no stable creation time here (it moved from {before:?} to {after:?} with a \
             write): a file made at a removed name passes for the one removed"
        ))
    }
}

/// Asserts that nothing is at `path`, a name removed while a guard still
/// holds its file open (a purge, a removal by someone else), where the
/// system takes such a name away at once ([`names_go_at_once`]). Where it
/// stays until the handle closes (Wine), asserts nothing: `what` says what
/// was not checked, on a `skipped:` line.
pub fn assert_gone_while_held(path: &Path, what: &str) {
    match names_go_at_once() {
        Ok(()) => assert!(
            !is_present(path),
            "{what}: {} should be gone",
            path.display()
        ),
        Err(why) => println!("skipped: {what}: {why}"),
    }
}

/// [`assert_session_holds_only_lock`] where names removed while held go at
/// once ([`names_go_at_once`]); elsewhere (Wine) only that every other name
/// in it is one of `held`, names whose files are still open.
pub fn assert_session_holds_only_lock_or_held(registry: &ResourceRegistry, held: &[&Path]) {
    if names_go_at_once().is_ok() {
        return assert_session_holds_only_lock(registry);
    }
    let lock = OsString::from(tempreg::LOCK_NAME);
    for name in names_in(registry.session_dir()) {
        assert!(
            name == lock || held.iter().any(|p| p.file_name() == Some(name.as_os_str())),
            "session directory {} holds {name:?}, neither its lock nor a file still held",
            registry.session_dir().display()
        );
    }
}
