//! The session directory: one private directory per registry, locked for life.
//!
//! A registry lives in `<root>/<prefix>-<pid>-<random>/`, mode 0700. Inside it
//! is a lock file, [`LOCK_NAME`], opened `O_CLOEXEC` and held with an exclusive
//! `flock` for as long as the registry (or any guard of it) lives. A later
//! process that can take that lock knows the owner is dead, whatever the pid in
//! the name says: that is how [`sweep_orphans`](crate::sweep_orphans) decides.
//!
//! # Invariants
//!
//! - A directory with a final session name always has its lock file, locked
//!   by a live owner or by nobody. The directory is made under a hidden
//!   `.<prefix>-init-…` name, the lock is taken, and only then is it renamed
//!   into place (`RENAME_NOREPLACE`), so a sweeper never sees a final-named
//!   session between its `mkdir` and its `flock`.
//! - The lock fd is never inherited across `exec` (`O_CLOEXEC`). A child
//!   forked without exec shares the open file description and so the lock,
//!   which is what keeps the session live while that child runs.
//! - Removal goes through the directory's fd and is checked against the
//!   identity recorded at creation; the lock file is unlinked last, then the
//!   directory, while the lock is still held.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

use rustix::fs::{AtFlags, FlockOperation, Mode, OFlags, RenameFlags};

use crate::entry::Named;
use crate::error::with_path;
use crate::fsops::{self, FileId, Removal};

/// The name of the lock file inside every session directory.
pub const LOCK_NAME: &str = ".tempreg.lock";

/// Where a session's removal stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Removing {
    No,
    InProgress,
    Done,
}

/// Where the lock file is made and locked before it is renamed to [`LOCK_NAME`].
const LOCK_NEW_NAME: &str = ".tempreg.lock.new";

/// The prefix used when none is given.
pub(crate) const DEFAULT_PREFIX: &str = "tempreg";

/// One registry's private directory and the lock that says it is alive.
#[derive(Debug)]
pub(crate) struct Session {
    root: PathBuf,
    root_fd: OwnedFd,
    path: PathBuf,
    name: OsString,
    dir: OwnedFd,
    id: FileId,
    /// Held for the session's whole life; dropping it releases the flock.
    lock: OwnedFd,
    /// Where the removal stands. A second caller (a forced exit racing an
    /// orderly one) waits on `removal_done` for the removal in progress
    /// instead of returning before it is finished; the mutex itself is never
    /// held during the I/O.
    removal: Mutex<Removing>,
    removal_done: Condvar,
    /// The process that made the session: a child forked without exec must
    /// never remove its parent's directory.
    owner_pid: u32,
    /// Names moved out of reach of the final removal (a `keep` whose move to
    /// the root failed). Rarely non-empty.
    kept: Mutex<HashSet<OsString>>,
}

/// The identities of this process's live session directories. A sweep in
/// this process skips them without opening their lock files: on file
/// systems where `flock` is emulated with POSIX locks (NFS), closing any fd
/// of ours to a lock file would drop our own lock on it.
static OWN_SESSIONS: Mutex<Vec<(FileId, OsString)>> = Mutex::new(Vec::new());

fn own_sessions() -> std::sync::MutexGuard<'static, Vec<(FileId, OsString)>> {
    OWN_SESSIONS.lock().unwrap_or_else(|p| p.into_inner())
}

/// True if the directory `name` with identity `id` is the session directory
/// of a live registry of this process. The name (which holds a random part)
/// is compared too, so a reused inode number cannot pass for ours.
pub(crate) fn is_own_session(id: FileId, name: &OsStr) -> bool {
    own_sessions()
        .iter()
        .any(|(own, own_name)| *own == id && own_name == name)
}

/// Checks a user-supplied name part (prefix or suffix).
pub(crate) fn check_name_part(what: &str, part: &OsStr) -> io::Result<()> {
    let bytes = part.as_bytes();
    if bytes.contains(&b'/') || bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "tempreg: {what} {:?} must not contain `/` or a NUL byte",
                part
            ),
        ));
    }
    Ok(())
}

impl Session {
    /// Creates and locks a new session directory under `root`.
    pub(crate) fn create(root: &Path, prefix: &str) -> io::Result<Session> {
        check_name_part("prefix", OsStr::new(prefix))?;
        if prefix.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "tempreg: prefix must not be empty",
            ));
        }
        let root = std::path::absolute(root).map_err(|e| with_path(e, "resolve root", root))?;
        let root_fd = fsops::open_dir(&root).map_err(|e| with_path(e, "open root", &root))?;
        let pid = std::process::id();

        // Made under a hidden name, locked, then renamed into place.
        let init_prefix = format!(".{prefix}-init-{pid}-");
        let init = tempfile::Builder::new()
            .prefix(&init_prefix)
            .rand_bytes(8)
            .make_in(&root, |p| {
                let name = p.file_name().unwrap_or_default();
                fsops::create_dir_at(root_fd.as_fd(), name)
            })
            .map_err(|e| with_path(e, "create session directory in", &root))?;
        let (id, init_path) = init.into_parts();
        // The path is ours to manage from here; tempfile must not remove it.
        let init_path = init_path.keep().map_err(|e| e.error)?;
        let init_name = init_path.file_name().unwrap_or_default().to_os_string();
        let undo = scopeguard::guard((), |()| {
            let _ = fsops::remove_dir_at(root_fd.as_fd(), &init_name, id);
        });

        let dir = fsops::open_dir_at(root_fd.as_fd(), &init_name)
            .map_err(|e| with_path(e, "open session directory", &init_path))?;
        if FileId::of_fd(&dir).map_err(|e| with_path(e, "stat", &init_path))? != id {
            return Err(crate::error::replaced("open session directory", &init_path));
        }
        // The lock file is made and locked under a temporary name, then
        // renamed into place: whoever sees `LOCK_NAME` sees it locked.
        let lock = rustix::fs::openat(
            &dir,
            LOCK_NEW_NAME,
            OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| with_path(e, "create lock file", &init_path.join(LOCK_NEW_NAME)))?;
        rustix::fs::flock(&lock, FlockOperation::NonBlockingLockExclusive)
            .map_err(|e| with_path(e, "lock", &init_path.join(LOCK_NEW_NAME)))?;
        // The owner's pid, for `tempreg ls`; the lock, not this, decides liveness.
        let mut lock_file = std::fs::File::from(lock);
        let _ = writeln!(lock_file, "{pid}");
        let lock = OwnedFd::from(lock_file);
        rustix::fs::renameat_with(&dir, LOCK_NEW_NAME, &dir, LOCK_NAME, RenameFlags::NOREPLACE)
            .map_err(|e| with_path(e, "name lock file", &init_path.join(LOCK_NAME)))?;

        let final_prefix = format!("{prefix}-{pid}-");
        let done = tempfile::Builder::new()
            .prefix(&final_prefix)
            .rand_bytes(8)
            .make_in(&root, |p| {
                fsops::rename_at(
                    root_fd.as_fd(),
                    &init_name,
                    root_fd.as_fd(),
                    Path::new(p.file_name().unwrap_or_default()),
                    true,
                )
            })
            .map_err(|e| with_path(e, "name session directory in", &root))?;
        let (_, path) = done.into_parts();
        let path = path.keep().map_err(|e| e.error)?;
        scopeguard::ScopeGuard::into_inner(undo);
        let name = path.file_name().unwrap_or_default().to_os_string();
        own_sessions().push((id, name.clone()));
        tracing::debug!(session = %path.display(), "tempreg session created");
        Ok(Session {
            root,
            root_fd,
            path,
            name,
            dir,
            id,
            lock,
            removal: Mutex::new(Removing::No),
            removal_done: Condvar::new(),
            owner_pid: pid,
            kept: Mutex::new(HashSet::new()),
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn dir(&self) -> BorrowedFd<'_> {
        self.dir.as_fd()
    }

    pub(crate) fn root_fd(&self) -> BorrowedFd<'_> {
        self.root_fd.as_fd()
    }

    /// The full path of an entry named `name` inside the session.
    pub(crate) fn child(&self, name: &OsStr) -> PathBuf {
        self.path.join(name)
    }

    /// Marks `name` as kept in place: the final removal leaves it (and so the
    /// session directory, without its lock file) alone.
    pub(crate) fn mark_kept(&self, name: &OsStr) {
        self.kept
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_os_string());
    }

    /// Moves `named` from the session directory into the root, under the
    /// same name if it is free, else under that name plus a random suffix.
    /// The identity is checked first: a replaced name is not moved.
    pub(crate) fn move_out(&self, named: &Named) -> io::Result<PathBuf> {
        let from = self.child(&named.name);
        match rustix::fs::statat(&self.dir, &named.name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if FileId::of_stat(&st) == named.id => {}
            Ok(_) => return Err(crate::error::replaced("keep", &from)),
            Err(e) => return Err(with_path(e, "keep", &from)),
        }
        let mut prefix = named.name.clone();
        prefix.push("-");
        for rand in [0, 6] {
            let mut builder = tempfile::Builder::new();
            if rand == 0 {
                builder.prefix(&named.name).rand_bytes(0);
            } else {
                builder.prefix(&prefix).rand_bytes(rand);
            }
            let moved = builder.make_in(&self.root, |to| {
                let to_name = Path::new(to.file_name().unwrap_or_default());
                fsops::rename_at(self.dir(), &named.name, self.root_fd(), to_name, true)
            });
            match moved {
                Ok(done) => {
                    let (_, path) = done.into_parts();
                    return path.keep().map_err(|e| e.error);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && rand == 0 => continue,
                Err(e) => return Err(with_path(e, "keep (move into the root)", &from)),
            }
        }
        Err(with_path(
            io::Error::from(io::ErrorKind::AlreadyExists),
            "keep (move into the root)",
            &from,
        ))
    }

    /// An inheritable duplicate of the lock fd (no `O_CLOEXEC`), for a child
    /// process that should keep the session live while it runs.
    pub(crate) fn inheritable_lock(&self) -> io::Result<OwnedFd> {
        Ok(rustix::io::dup(&self.lock)?)
    }

    /// Gives the directory up: it will not be removed, and its lock file is
    /// unlinked now so that no sweep removes it either.
    pub(crate) fn abandon(&self) -> io::Result<()> {
        *self.removal.lock().unwrap_or_else(|p| p.into_inner()) = Removing::Done;
        match rustix::fs::unlinkat(&self.dir, LOCK_NAME, AtFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
            Err(e) => Err(with_path(e, "remove lock file", &self.path.join(LOCK_NAME))),
        }
    }

    /// Removes the session directory and everything in it, but what was
    /// marked kept. Runs at most once; a later call waits for a removal in
    /// progress on another thread (a forced exit racing an orderly one), then
    /// returns `Ok(())`. Nothing in it panics, so the wait cannot be on the
    /// caller's own thread.
    ///
    /// Used when the registry and all its guards are gone, and by the panic
    /// and exit hooks when the process is ending. The lock is still held
    /// throughout, so no sweeper acts on the directory meanwhile.
    pub(crate) fn remove(&self) -> io::Result<()> {
        if std::process::id() != self.owner_pid {
            return Ok(());
        }
        {
            let mut state = self.removal.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                match *state {
                    Removing::No => break,
                    Removing::Done => return Ok(()),
                    Removing::InProgress => {
                        state = self
                            .removal_done
                            .wait(state)
                            .unwrap_or_else(|p| p.into_inner());
                    }
                }
            }
            *state = Removing::InProgress;
        }
        let result = self.remove_now();
        *self.removal.lock().unwrap_or_else(|p| p.into_inner()) = Removing::Done;
        self.removal_done.notify_all();
        result
    }

    fn remove_now(&self) -> io::Result<()> {
        let kept = self
            .kept
            .lock()
            .map(|k| k.clone())
            .unwrap_or_else(|p| p.into_inner().clone());
        let top = rustix::fs::openat(
            &self.dir,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| with_path(e, "open session directory", &self.path))?;
        let skip = |name: &OsStr| name == OsStr::new(LOCK_NAME) || kept.contains(name);
        let contents = fsops::remove_contents(top, Some(&skip));
        let lock = rustix::fs::unlinkat(&self.dir, LOCK_NAME, AtFlags::empty());
        if !kept.is_empty() {
            tracing::warn!(
                session = %self.path.display(),
                kept = kept.len(),
                "tempreg session directory left in place: it holds kept entries"
            );
            return contents
                .map(drop)
                .map_err(|e| with_path(e, "clear session directory", &self.path));
        }
        contents.map_err(|e| with_path(e, "clear session directory", &self.path))?;
        if let Err(e) = lock {
            if e != rustix::io::Errno::NOENT {
                return Err(with_path(e, "remove lock file", &self.path.join(LOCK_NAME)));
            }
        }
        match fsops::remove_dir_at(self.root_fd.as_fd(), &self.name, self.id) {
            Ok(Removal::Removed) | Ok(Removal::Gone) => {
                tracing::debug!(session = %self.path.display(), "tempreg session removed");
                Ok(())
            }
            Ok(Removal::Replaced) => Err(crate::error::replaced(
                "remove session directory",
                &self.path,
            )),
            Err(e) => Err(with_path(e, "remove session directory", &self.path)),
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Err(e) = self.remove() {
            tracing::warn!(error = %e, "tempreg could not remove its session directory");
        }
        own_sessions().retain(|(id, _)| *id != self.id);
    }
}
