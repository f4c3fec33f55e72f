//! The orphan sweep: remove what dead processes left, decided by the lock.
//!
//! A session directory is recognised by its name (`<prefix>-<pid>-<random>`,
//! or `.<prefix>-init-<pid>-<random>` while being created) *and* by the
//! [`LOCK_NAME`] file inside it. Its owner is alive exactly while some process
//! holds the `flock` on that file: the kernel drops the lock when the last fd
//! to it closes, however the process died. So the sweep takes the lock with
//! `LOCK_NB`: if it gets it, the owner is dead and the directory goes; if not,
//! the directory is left alone. The pid in the name is only shown to people,
//! never trusted (pids are reused).
//!
//! # Invariants
//!
//! - Every step goes through fds opened with `O_NOFOLLOW`, starting from an
//!   fd of the root: a symlink where a session or a file should be is never
//!   followed, and nothing outside the root is touched.
//! - The lock is held throughout the removal; the lock file is unlinked
//!   last, then the directory, after checking it is still the one opened.
//! - A directory without a lock file is not ours to judge and is left alone.

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rustix::fs::{AtFlags, FlockOperation, Mode, OFlags};
use rustix::io::Errno;

use crate::error::with_path;
use crate::fsops::{self, FileId, Freed};
use crate::session::LOCK_NAME;

/// Options for [`sweep_orphans_with`].
#[derive(Clone, Default)]
#[must_use]
pub struct SweepOptions {
    dry_run: bool,
    progress: Option<ProgressFn>,
}

type ProgressFn = Arc<dyn Fn(&SessionInfo) + Send + Sync>;

impl fmt::Debug for SweepOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SweepOptions")
            .field("dry_run", &self.dry_run)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

impl SweepOptions {
    /// Sweep for real (the default).
    pub fn new() -> SweepOptions {
        SweepOptions::default()
    }

    /// Report what would be removed, and remove nothing.
    pub fn dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }

    /// Called after each session directory is judged (and removed, unless
    /// dry-running); for progress bars.
    pub fn on_progress(mut self, f: impl Fn(&SessionInfo) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(f));
        self
    }
}

/// One session directory under a root.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    path: PathBuf,
    pid: Option<u32>,
    live: bool,
    age: Option<Duration>,
    files: u64,
    bytes: u64,
}

impl SessionInfo {
    /// The session directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The owner's process id, as written by the owner (for people: the lock
    /// decides liveness, not this).
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// True while its owner holds the lock.
    pub fn is_live(&self) -> bool {
        self.live
    }

    /// How long ago the session was created.
    pub fn age(&self) -> Option<Duration> {
        self.age
    }

    /// Regular files inside (for a removed session: the files freed).
    pub fn files(&self) -> u64 {
        self.files
    }

    /// Their total size in bytes.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

/// What a sweep did.
#[derive(Debug, Default)]
#[must_use = "a sweep report says what could not be removed"]
pub struct SweepReport {
    dry_run: bool,
    removed: Vec<SessionInfo>,
    live: Vec<SessionInfo>,
    failures: Vec<(PathBuf, io::Error)>,
}

impl SweepReport {
    /// The orphaned sessions removed (or, dry-running, that would be).
    pub fn removed(&self) -> &[SessionInfo] {
        &self.removed
    }

    /// The sessions left alone because their owner is alive.
    pub fn live(&self) -> &[SessionInfo] {
        &self.live
    }

    /// Files freed (or that would be).
    pub fn files_freed(&self) -> u64 {
        self.removed.iter().map(|s| s.files).sum()
    }

    /// Bytes freed (or that would be).
    pub fn bytes_freed(&self) -> u64 {
        self.removed.iter().map(|s| s.bytes).sum()
    }

    /// What could not be removed, and why.
    pub fn failures(&self) -> &[(PathBuf, io::Error)] {
        &self.failures
    }

    /// True if this was a dry run.
    pub fn is_dry_run(&self) -> bool {
        self.dry_run
    }

    /// True if nothing failed.
    pub fn is_clean(&self) -> bool {
        self.failures.is_empty()
    }
}

impl fmt::Display for SweepReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.dry_run {
            "would remove"
        } else {
            "removed"
        };
        write!(
            f,
            "{verb} {} orphaned session(s) ({} file(s), {}); left {} live session(s) alone",
            self.removed.len(),
            self.files_freed(),
            human_bytes(self.bytes_freed()),
            self.live.len()
        )?;
        for (path, e) in &self.failures {
            write!(f, "\n  failed: `{}`: {e}", path.display())?;
        }
        Ok(())
    }
}

/// `1.5 MiB`-style sizes.
pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// Removes every tempreg session directory under `root` whose owner is dead
/// (its lock can be taken), and leaves every one whose lock is held alone.
///
/// # Errors
///
/// If `root` cannot be opened or listed. Failures on single sessions are in
/// the report.
///
/// # Examples
///
/// ```
/// let root = tempfile::tempdir()?;
/// let live = tempreg::ResourceRegistry::builder().root(root.path()).build()?;
/// let report = tempreg::sweep_orphans(root.path())?;
/// assert_eq!(report.live().len(), 1); // its owner (us) holds the lock
/// assert!(report.removed().is_empty());
/// assert!(live.session_dir().exists());
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn sweep_orphans(root: &Path) -> io::Result<SweepReport> {
    sweep_orphans_with(root, &SweepOptions::default())
}

/// [`sweep_orphans`] with options: a dry run, a progress callback.
///
/// # Errors
///
/// As [`sweep_orphans`].
pub fn sweep_orphans_with(root: &Path, options: &SweepOptions) -> io::Result<SweepReport> {
    let mut report = SweepReport {
        dry_run: options.dry_run,
        ..SweepReport::default()
    };
    visit(root, |root_fd, name, path| {
        match judge(root_fd, name, &path, !options.dry_run) {
            Ok(Some(info)) => {
                if let Some(progress) = &options.progress {
                    progress(&info);
                }
                if info.live {
                    report.live.push(info);
                } else {
                    tracing::info!(session = %info.path.display(), files = info.files, "tempreg swept orphaned session");
                    report.removed.push(info);
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(session = %path.display(), error = %e, "tempreg sweep failed");
                report.failures.push((path, e));
            }
        }
    })?;
    Ok(report)
}

/// The tempreg session directories under `root`, live and orphaned, with
/// their owner, age, files and bytes. Removes nothing.
///
/// # Errors
///
/// If `root` cannot be opened or listed.
pub fn list_sessions(root: &Path) -> io::Result<Vec<SessionInfo>> {
    let mut sessions = Vec::new();
    visit(root, |root_fd, name, path| {
        if let Ok(Some(info)) = judge(root_fd, name, &path, false) {
            sessions.push(info);
        }
    })?;
    sessions.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(sessions)
}

/// Calls `f` for each name under `root` that looks like a session directory.
fn visit(root: &Path, mut f: impl FnMut(&OwnedFd, &OsStr, PathBuf)) -> io::Result<()> {
    let root_fd = fsops::open_dir(root).map_err(|e| with_path(e, "open sweep root", root))?;
    let names = fsops::list(&root_fd).map_err(|e| with_path(e, "list", root))?;
    for name in names.iter().filter(|n| looks_like_session(n)) {
        f(&root_fd, name, root.join(name));
    }
    Ok(())
}

/// `<prefix>-<digits>-<8 alphanumerics>` or `.<prefix>-init-<digits>-<8 alphanumerics>`.
pub(crate) fn looks_like_session(name: &OsStr) -> bool {
    let bytes = name.as_bytes();
    let mut parts = bytes.rsplitn(3, |&b| b == b'-');
    let (Some(random), Some(pid), Some(prefix)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    random.len() == 8
        && random.iter().all(u8::is_ascii_alphanumeric)
        && !pid.is_empty()
        && pid.iter().all(u8::is_ascii_digit)
        && !prefix.is_empty()
}

/// Opens the session `name`, tests its lock, and (if `remove` and the owner
/// is dead) removes it while holding the lock. `None`: not a session.
fn judge(
    root_fd: &OwnedFd,
    name: &OsStr,
    path: &Path,
    remove: bool,
) -> io::Result<Option<SessionInfo>> {
    let dir = match fsops::open_dir_at(root_fd.as_fd(), name) {
        Ok(fd) => fd,
        // Gone meanwhile, a symlink, or a plain file: not a session to judge.
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::ENOENT | libc::ELOOP | libc::ENOTDIR)
            ) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(with_path(e, "open", path)),
    };
    let id = FileId::of_fd(&dir).map_err(|e| with_path(e, "stat", path))?;
    if crate::session::is_own_session(id, name) {
        // Ours, and alive: judged without touching its lock (see
        // `is_own_session` for why that matters on NFS).
        let measured = measure(&dir).unwrap_or_default();
        let age = rustix::fs::statat(&dir, LOCK_NAME, AtFlags::SYMLINK_NOFOLLOW)
            .ok()
            .and_then(|st| age_of(&st));
        return Ok(Some(SessionInfo {
            path: path.to_path_buf(),
            pid: Some(std::process::id()),
            live: true,
            age,
            files: measured.files,
            bytes: measured.bytes,
        }));
    }
    let lock = match rustix::fs::openat(
        &dir,
        LOCK_NAME,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::NOENT) | Err(Errno::LOOP) => return Ok(None),
        Err(e) => return Err(with_path(e, "open lock of", path)),
    };
    let op = if remove {
        FlockOperation::NonBlockingLockExclusive
    } else {
        FlockOperation::NonBlockingLockShared
    };
    let live = match rustix::fs::flock(&lock, op) {
        Ok(()) => false,
        Err(Errno::WOULDBLOCK) => true,
        Err(e) => return Err(with_path(e, "lock", path)),
    };
    let lock_stat = rustix::fs::fstat(&lock).map_err(|e| with_path(e, "stat lock of", path))?;
    if !live && lock_stat.st_nlink == 0 {
        // Its owner unlinked the lock while ending: the session is being
        // removed by its owner, not orphaned.
        return Ok(None);
    }
    let pid = read_pid(&lock);
    let age = age_of(&lock_stat);
    let mut info = SessionInfo {
        path: path.to_path_buf(),
        pid,
        live,
        age,
        files: 0,
        bytes: 0,
    };
    if live || !remove {
        let measured = measure(&dir).unwrap_or_default();
        info.files = measured.files;
        info.bytes = measured.bytes;
        return Ok(Some(info));
    }
    // The owner is dead and we hold its lock: remove everything, the lock
    // file last, then the directory if it is still the one we opened.
    let top = rustix::fs::openat(
        &dir,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| with_path(e, "open", path))?;
    let skip = |n: &OsStr| n == OsStr::new(LOCK_NAME);
    let freed =
        fsops::remove_contents(top, Some(&skip)).map_err(|e| with_path(e, "clear", path))?;
    info.files = freed.files;
    info.bytes = freed.bytes;
    match rustix::fs::unlinkat(&dir, LOCK_NAME, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => {}
        Err(e) => return Err(with_path(e, "remove lock of", path)),
    }
    match rustix::fs::statat(root_fd, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) if FileId::of_stat(&st) == id => {
            match rustix::fs::unlinkat(root_fd, name, AtFlags::REMOVEDIR) {
                Ok(()) | Err(Errno::NOENT) => {}
                Err(e) => return Err(with_path(e, "remove", path)),
            }
        }
        Ok(_) => return Err(crate::error::replaced("remove", path)),
        Err(Errno::NOENT) => {}
        Err(e) => return Err(with_path(e, "stat", path)),
    }
    drop(lock);
    Ok(Some(info))
}

/// How long ago a lock file was written (its owner wrote the pid at creation).
fn age_of(st: &rustix::fs::Stat) -> Option<Duration> {
    let created = SystemTime::UNIX_EPOCH + Duration::from_secs(st.st_mtime.max(0) as u64);
    SystemTime::now().duration_since(created).ok()
}

/// The pid the owner wrote into its lock file.
fn read_pid(lock: &OwnedFd) -> Option<u32> {
    let mut buf = [0u8; 16];
    let n = rustix::io::pread(lock, &mut buf, 0).ok()?;
    std::str::from_utf8(&buf[..n]).ok()?.trim().parse().ok()
}

/// Counts regular files and bytes in a tree, through fds, following nothing.
fn measure(dir: &OwnedFd) -> io::Result<Freed> {
    let mut total = Freed::default();
    let top = rustix::fs::openat(
        dir,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut stack: Vec<(OwnedFd, bool)> = vec![(top, true)];
    while let Some((fd, is_top)) = stack.pop() {
        for name in fsops::list(&fd)? {
            if is_top && name == OsStr::new(LOCK_NAME) {
                continue;
            }
            let Ok(st) = rustix::fs::statat(&fd, &name, AtFlags::SYMLINK_NOFOLLOW) else {
                continue;
            };
            match rustix::fs::FileType::from_raw_mode(st.st_mode) {
                rustix::fs::FileType::RegularFile => {
                    total.files += 1;
                    total.bytes += st.st_size as u64;
                }
                rustix::fs::FileType::Directory => {
                    if let Ok(child) = fsops::open_dir_at(fd.as_fd(), &name) {
                        stack.push((child, false));
                    }
                }
                _ => {}
            }
        }
    }
    Ok(total)
}
