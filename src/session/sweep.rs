//! The orphan sweep: remove what dead processes left, decided by the lock.
//!
//! A session directory is recognised by its name ([`SessionName`]) *and* by
//! its lock file ([`SessionLock::judge`]). Its owner is alive exactly while
//! some process holds the lock: the kernel drops it when the last fd to it
//! closes, however the process died. So the sweep tries the lock without
//! blocking: if it gets it, the owner is dead and the directory goes; if
//! not, the directory is left alone. The pid in the name is only shown to
//! people, never trusted (pids are reused).
//!
//! # Invariants
//!
//! - Every step goes through the platform layer's fd-relative calls from a
//!   handle on the root: a symlink where a session or a file should be is
//!   never followed, and nothing outside the root is touched; nothing found
//!   in the root can make the sweep wait (a FIFO for a lock file, say).
//! - A directory whose lock file is missing, or is not a regular file owned
//!   like the directory, is not a session: it is left alone. So is another
//!   user's session (unless we are root): it is counted, never opened.
//! - The lock is held throughout a removal; the lock file is removed only
//!   once everything else is gone, so a removal that fails part-way leaves
//!   a session the next sweep retries.
//! - A session whose owner marked it kept is never removed.

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::format::{SessionName, LOCK_NAME};
use super::lock::{self, SessionLock, Verdict};
use crate::error::{replaced, with_path};
use crate::sys::{self, Freed, Removal};

/// Options for [`sweep_orphans_with`].
#[derive(Clone, Default)]
#[must_use]
pub struct SweepOptions {
    dry_run: bool,
    prefix: Option<String>,
    progress: Option<ProgressFn>,
}

type ProgressFn = Arc<dyn Fn(&SessionInfo) + Send + Sync>;

impl fmt::Debug for SweepOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SweepOptions")
            .field("dry_run", &self.dry_run)
            .field("prefix", &self.prefix)
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

    /// Only sessions made with this prefix (see
    /// [`RegistryBuilder::prefix`](crate::RegistryBuilder::prefix)).
    pub fn prefix(mut self, prefix: &str) -> Self {
        self.prefix = Some(prefix.to_string());
        self
    }

    /// Called after each session directory is judged (and removed, unless
    /// dry-running); for progress bars.
    pub fn on_progress(mut self, f: impl Fn(&SessionInfo) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(f));
        self
    }
}

/// Where a session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SessionState {
    /// Its owner holds the lock.
    Live,
    /// Its owner is dead: a sweep removes it.
    Orphaned,
    /// Its owner is dead and gave it up to be inspected
    /// ([`keep_session_dir`](crate::ResourceRegistry::keep_session_dir),
    /// `tempreg run --keep-on-failure`): no sweep removes it; remove it by
    /// hand when done.
    Kept,
    /// It belongs to another user: not ours to judge, left alone.
    OtherUser,
}

impl fmt::Display for SessionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SessionState::Live => "live",
            SessionState::Orphaned => "orphaned",
            SessionState::Kept => "kept",
            SessionState::OtherUser => "other user",
        })
    }
}

/// One session directory under a root.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    path: PathBuf,
    pid: Option<u32>,
    state: SessionState,
    age: Option<Duration>,
    files: u64,
    bytes: u64,
}

impl SessionInfo {
    /// The session directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The owner's process id, as the owner wrote it (for people: the lock
    /// decides liveness, not this).
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// Where it stands.
    pub fn state(&self) -> SessionState {
        self.state
    }

    /// True while its owner holds the lock.
    pub fn is_live(&self) -> bool {
        self.state == SessionState::Live
    }

    /// How long ago the session was created (unknown for another user's).
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
    kept: Vec<SessionInfo>,
    other_users: Vec<SessionInfo>,
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

    /// The sessions left alone because their owner kept them.
    pub fn kept(&self) -> &[SessionInfo] {
        &self.kept
    }

    /// The sessions left alone because they belong to another user.
    pub fn other_users(&self) -> &[SessionInfo] {
        &self.other_users
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
            "{verb} {} orphaned session(s) ({} file(s), {} bytes); left {} live session(s) alone",
            self.removed.len(),
            self.files_freed(),
            self.bytes_freed(),
            self.live.len()
        )?;
        if !self.kept.is_empty() {
            write!(f, ", {} kept", self.kept.len())?;
        }
        if !self.other_users.is_empty() {
            write!(f, ", {} of other users", self.other_users.len())?;
        }
        for (path, e) in &self.failures {
            write!(f, "\n  failed: `{}`: {e}", path.display())?;
        }
        Ok(())
    }
}

/// Removes every tempreg session directory under `root` whose owner is dead
/// (its lock can be taken), and leaves every one whose lock is held alone,
/// as it leaves kept sessions and other users' sessions.
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

/// [`sweep_orphans`] with options: a dry run, a prefix, a progress callback.
///
/// # Errors
///
/// As [`sweep_orphans`].
pub fn sweep_orphans_with(root: &Path, options: &SweepOptions) -> io::Result<SweepReport> {
    let mut report = SweepReport {
        dry_run: options.dry_run,
        ..SweepReport::default()
    };
    visit(
        root,
        options.prefix.as_deref(),
        |root_dir, name, path| match judge(root_dir, name, &path, !options.dry_run) {
            Ok(Some(info)) => {
                if let Some(progress) = &options.progress {
                    progress(&info);
                }
                let list = match info.state {
                    SessionState::Live => &mut report.live,
                    SessionState::Kept => &mut report.kept,
                    SessionState::OtherUser => &mut report.other_users,
                    SessionState::Orphaned => {
                        tracing::info!(session = %info.path.display(), files = info.files, "tempreg swept orphaned session");
                        &mut report.removed
                    }
                };
                list.push(info);
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(session = %path.display(), error = %e, "tempreg sweep failed");
                report.failures.push((path, e));
            }
        },
    )?;
    Ok(report)
}

/// The tempreg session directories under `root`, in every state, with their
/// owner, age, files and bytes. Removes nothing.
///
/// # Errors
///
/// If `root` cannot be opened or listed.
pub fn list_sessions(root: &Path) -> io::Result<Vec<SessionInfo>> {
    let mut sessions = Vec::new();
    visit(root, None, |root_dir, name, path| {
        match judge(root_dir, name, &path, false) {
            Ok(Some(info)) => sessions.push(info),
            Ok(None) => {}
            Err(e) => {
                tracing::debug!(session = %path.display(), error = %e, "tempreg could not judge")
            }
        }
    })?;
    sessions.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(sessions)
}

/// Calls `f` for each name under `root` that is a session's name (with
/// `prefix`, if given). A session still being made (`-init-`) is judged too:
/// it has a lock file only once it is locked, and one whose owner died
/// before renaming it into place is an orphan like any other.
fn visit(
    root: &Path,
    prefix: Option<&str>,
    mut f: impl FnMut(&sys::Dir, &OsStr, PathBuf),
) -> io::Result<()> {
    let root_dir = sys::Dir::open(root).map_err(|e| with_path(e, "open sweep root", root))?;
    let names = sys::list(&root_dir).map_err(|e| with_path(e, "list sweep root", root))?;
    for name in &names {
        let Some(parsed) = SessionName::parse(name) else {
            continue;
        };
        if prefix.is_none_or(|p| p == parsed.prefix) {
            f(&root_dir, name, root.join(name));
        }
    }
    Ok(())
}

fn measure(dir: &sys::Dir) -> Freed {
    sys::measure(dir, &|name| name == OsStr::new(LOCK_NAME)).unwrap_or_default()
}

/// Opens the session `name`, judges it by its lock, and (if `remove` and the
/// owner is dead) removes it while holding the lock. `None`: not a session.
fn judge(
    root_dir: &sys::Dir,
    name: &OsStr,
    path: &Path,
    remove: bool,
) -> io::Result<Option<SessionInfo>> {
    let named_pid = SessionName::parse(name).map(|n| n.pid);
    let info = |state, pid: Option<u32>, age, freed: Freed| SessionInfo {
        path: path.to_path_buf(),
        pid: pid.or(named_pid),
        state,
        age,
        files: freed.files,
        bytes: freed.bytes,
    };
    // Another user's session (0700) cannot be opened: judged by its owner,
    // looked up first.
    match root_dir.child_is_ours(name) {
        Ok(None) => return Ok(None),
        Ok(Some(false)) => {
            return Ok(Some(info(
                SessionState::OtherUser,
                None,
                None,
                Freed::default(),
            )))
        }
        Ok(Some(true)) => {}
        Err(e) => return Err(with_path(e, "stat", path)),
    }
    let dir = match root_dir.open_child(name) {
        Ok(dir) => dir,
        // Gone meanwhile, a symlink, or a plain file: not a session to judge.
        Err(e) if e.kind() == io::ErrorKind::NotFound || sys::is_not_a_dir(&e) => return Ok(None),
        Err(e) => return Err(with_path(e, "open", path)),
    };
    let id = dir.id().map_err(|e| with_path(e, "stat", path))?;
    if super::is_own_session(&id, name) {
        // Ours, and alive: judged without touching its lock (see
        // `is_own_session` for why that matters on NFS).
        let pid = Some(std::process::id());
        let age = sys::age_of(&dir, OsStr::new(LOCK_NAME));
        return Ok(Some(info(SessionState::Live, pid, age, measure(&dir))));
    }
    if !dir.is_ours().map_err(|e| with_path(e, "stat", path))? {
        return Ok(Some(info(
            SessionState::OtherUser,
            None,
            None,
            Freed::default(),
        )));
    }
    let lock = match SessionLock::judge(&dir, remove).map_err(|e| with_path(e, "lock", path))? {
        Verdict::NotASession(why) => {
            tracing::debug!(dir = %path.display(), why, "tempreg sweep: not a session");
            return Ok(None);
        }
        Verdict::Ending => return Ok(None),
        Verdict::Live(lock) => {
            let pid = lock.note().map(|n| n.pid);
            return Ok(Some(info(
                SessionState::Live,
                pid,
                lock.age(),
                measure(&dir),
            )));
        }
        Verdict::Orphaned(lock) => lock,
    };
    let note = lock.note();
    let pid = note.map(|n| n.pid);
    if note.is_some_and(|n| n.kept) {
        return Ok(Some(info(
            SessionState::Kept,
            pid,
            lock.age(),
            measure(&dir),
        )));
    }
    if !remove {
        return Ok(Some(info(
            SessionState::Orphaned,
            pid,
            lock.age(),
            measure(&dir),
        )));
    }
    // The owner is dead and we hold its lock: everything but the lock file
    // goes first; if that fails, the lock file stays for the next sweep.
    let age = lock.age();
    let freed = sys::clear_dir(&dir, &|n| n == OsStr::new(LOCK_NAME))
        .map_err(|e| with_path(e, "clear", path))?;
    lock::remove(&dir).map_err(|e| with_path(e, "remove lock of", path))?;
    // Our handles go before the directory: Windows keeps a name that is
    // still open (where it cannot delete the POSIX way) until it closes.
    // A sweeper that opened the lock file before it was removed may take
    // it now; it finds nothing left to remove.
    drop(lock);
    drop(dir);
    match sys::remove_dir(root_dir, name, &id) {
        Ok(Removal::Removed | Removal::Gone) => {}
        Ok(Removal::Replaced) => return Err(replaced("remove", path)),
        Err(e) => return Err(with_path(e, "remove", path)),
    }
    Ok(Some(info(SessionState::Orphaned, pid, age, freed)))
}
