//! Session directories: this process's own ([`Session`]), their on-disk
//! [`format`](mod@format), their [`lock`], and the [`sweep`] of dead processes' ones.
//!
//! A registry lives in `<root>/<prefix>-<pid>-<random>/`, mode 0700, with a
//! lock file held for the registry's whole life (see [`format`](mod@format)).
//!
//! # Invariants
//!
//! - A directory with a final session name always has its lock file, locked
//!   by a live owner or by nobody. It is made under a hidden `-init-` name,
//!   its lock is made locked, and only then is it renamed into place
//!   (refusing to replace), so a sweeper never sees a final-named session
//!   between its `mkdir` and its lock.
//! - The lock file is removed only after everything else in the directory
//!   is gone, while the lock is still held. A removal that fails part-way
//!   (a file system mounted inside, an immutable file) leaves the lock file,
//!   so that once this process ends the directory is an orphan that `ls`
//!   shows and a sweep retries.
//! - Only the process that made a session removes it: a child forked
//!   without exec (another fork generation) leaves it alone.
//! - Removal runs at most once; a second caller (a forced exit racing an
//!   orderly one) waits for the first on `removal_done`. The mutex is held
//!   only to read or set the state, never during the I/O.

pub(crate) mod format;
pub(crate) mod lock;
mod sweep;

use std::ffi::{OsStr, OsString};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};

pub use self::format::LOCK_NAME;
use self::format::{LockNote, SessionName};
use self::lock::SessionLock;
pub use self::sweep::{
    list_sessions, sweep_orphans, sweep_orphans_with, SessionInfo, SessionState, SweepOptions,
    SweepReport,
};
use crate::error::{replaced, with_path};
use crate::sys::{self, FileId, Removal};

/// Where a session's removal stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Removing {
    No,
    InProgress,
    /// Removed, or given up (kept): never again.
    Done,
}

/// One registry's private directory and the lock that says it is alive.
#[derive(Debug)]
pub(crate) struct Session {
    root: PathBuf,
    root_dir: sys::Dir,
    path: PathBuf,
    name: OsString,
    dir: sys::Dir,
    id: FileId,
    /// Held for the session's whole life; dropping it releases the lock.
    /// Behind a mutex because [`Session::in_use_by_others`] replaces it and
    /// the removal lets go of it once the lock file is gone; held only for a
    /// lock call, never with another lock of ours.
    lock: Mutex<Option<SessionLock>>,
    removal: Mutex<Removing>,
    removal_done: Condvar,
    /// The fork generation that made the session (see [`sys::fork_generation`]).
    generation: u32,
    /// Set once a file was left here on purpose (see [`Session::leave_to_user`]).
    left_to_user: AtomicBool,
}

/// The identities of this process's live session directories. A sweep in
/// this process skips them without opening their lock files: on file
/// systems where `flock` is emulated with POSIX locks (NFS), closing any fd
/// of ours to a lock file would drop our own lock on it.
static OWN_SESSIONS: Mutex<Vec<(FileId, OsString)>> = Mutex::new(Vec::new());

fn own_sessions() -> MutexGuard<'static, Vec<(FileId, OsString)>> {
    OWN_SESSIONS.lock().unwrap_or_else(|p| p.into_inner())
}

/// True if the directory `name` with identity `id` is the session directory
/// of a live registry of this process. The name (which holds a random part)
/// is compared too, so a reused inode number cannot pass for ours.
pub(crate) fn is_own_session(id: &FileId, name: &OsStr) -> bool {
    own_sessions()
        .iter()
        .any(|(own, own_name)| own.matches(id) && own_name == name)
}

/// How many names [`make_name`] tries before it gives up (as `tempfile`).
const ATTEMPTS: u32 = 1 << 16;

/// After this many clashes [`make_name`] reseeds from the system, in case
/// someone predicts the names (as `tempfile` does).
const RESEED_AFTER: u32 = 3;

/// Where [`make_name`] draws its random characters from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Names {
    /// A fork of this thread's `fastrand` generator, as `tempfile` draws
    /// them: `fastrand::seed` makes a run's temp names repeatable.
    Thread,
    /// A generator of our own, seeded from the system: nothing the caller's
    /// thread draws afterwards changes (session names).
    Private,
}

/// A seed the caller cannot predict: std's per-process random SipHash keys
/// (fresh for each `RandomState`), the clock and the pid.
fn system_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    hasher.write_u128(now.as_nanos());
    hasher.write_u32(std::process::id());
    hasher.finish()
}

/// `prefix`, `rand` random alphanumeric characters, `suffix`, made once in
/// the form the platform's calls take.
fn random_name(
    rng: &mut fastrand::Rng,
    prefix: &OsStr,
    rand: usize,
    suffix: &OsStr,
) -> io::Result<sys::Name> {
    let mut middle = [0u8; sys::NAME_MAX];
    let middle = middle.get_mut(..rand).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{rand} random characters are more than a file name can hold"),
        )
    })?;
    for byte in middle.iter_mut() {
        *byte = rng.alphanumeric() as u8;
    }
    sys::Name::build(prefix, middle, suffix)
}

/// Makes a new name in `dir` (at `dir_path`): `prefix`, `rand` random
/// alphanumeric characters, `suffix`, retried on a clash. `make` creates
/// what the name holds, and must fail with `AlreadyExists` (or, binding a
/// socket, `AddrInUse`) on a clash. With `rand` 0 there is one try.
pub(crate) fn make_name<R>(
    dir: &sys::Dir,
    dir_path: &Path,
    names: Names,
    prefix: &OsStr,
    suffix: &OsStr,
    rand: usize,
    mut make: impl FnMut(&sys::Dir, &sys::Name) -> io::Result<R>,
) -> io::Result<(R, sys::Name)> {
    let mut rng = match names {
        Names::Thread => fastrand::Rng::new(),
        Names::Private => fastrand::Rng::with_seed(system_seed()),
    };
    let attempts = if rand == 0 { 1 } else { ATTEMPTS };
    for attempt in 0..attempts {
        if attempt == RESEED_AFTER {
            rng.seed(system_seed());
        }
        let name = random_name(&mut rng, prefix, rand, suffix)?;
        match make(dir, &name) {
            Ok(made) => return Ok((made, name)),
            Err(e)
                if attempts > 1
                    && matches!(
                        e.kind(),
                        io::ErrorKind::AlreadyExists | io::ErrorKind::AddrInUse
                    ) => {}
            Err(e) => return Err(e),
        }
    }
    Err(with_path(
        io::Error::new(
            io::ErrorKind::AlreadyExists,
            "too many temporary files exist",
        ),
        "create a temp name in",
        dir_path,
    ))
}

impl Session {
    /// Makes and locks a new session directory under `root`.
    pub(crate) fn create(root: &Path, prefix: &str) -> io::Result<Session> {
        format::check_prefix(prefix)?;
        sys::watch_forks();
        let root = std::path::absolute(root).map_err(|e| with_path(e, "resolve root", root))?;
        let root_dir = sys::Dir::open(&root).map_err(|e| with_path(e, "open root", &root))?;
        let pid = std::process::id();

        let (id, init_name) = make_name(
            &root_dir,
            &root,
            Names::Private,
            OsStr::new(&format::init_prefix(prefix, pid)),
            OsStr::new(""),
            format::RANDOM_LEN,
            |dir, name| sys::create_dir(dir, name),
        )
        .map_err(|e| with_path(e, "create session directory in", &root))?;
        let init_path = root.join(&init_name);
        let undo = scopeguard::guard((), |()| {
            let _ = sys::remove_dir(&root_dir, &init_name, &id);
        });
        let mut dir = root_dir
            .open_child(&init_name)
            .map_err(|e| with_path(e, "open session directory", &init_path))?;
        if !id.matches(&dir.id().map_err(|e| with_path(e, "stat", &init_path))?) {
            return Err(replaced("open session directory", &init_path));
        }
        let lock = SessionLock::create(&dir, LockNote { pid, kept: false })
            .map_err(|e| with_path(e, "create lock file", &init_path.join(LOCK_NAME)))?;
        let ((), name) = make_name(
            &root_dir,
            &root,
            Names::Private,
            OsStr::new(&format::final_prefix(prefix, pid)),
            OsStr::new(""),
            format::RANDOM_LEN,
            |root_dir, name| sys::rename_in(root_dir, &init_name, name),
        )
        .map_err(|e| with_path(e, "name session directory in", &root))?;
        scopeguard::ScopeGuard::into_inner(undo);
        let name = name.as_os_str().to_os_string();
        dir.renamed(&root_dir, &name);
        let path = root.join(&name);
        debug_assert!(SessionName::parse(&name).is_some_and(|n| !n.init && n.pid == pid));
        own_sessions().push((id, name.clone()));
        tracing::debug!(session = %path.display(), "tempreg session created");
        Ok(Session {
            root,
            root_dir,
            path,
            name,
            dir,
            id,
            lock: Mutex::new(Some(lock)),
            removal: Mutex::new(Removing::No),
            removal_done: Condvar::new(),
            generation: sys::fork_generation(),
            left_to_user: AtomicBool::new(false),
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn dir(&self) -> &sys::Dir {
        &self.dir
    }

    /// The full path of the entry `name` inside the session.
    pub(crate) fn child(&self, name: &OsStr) -> PathBuf {
        // One allocation of the exact size, no separator logic: `name` is
        // one component, and `path` (the root joined with the session's
        // name) never ends in a separator. `join` makes two allocations.
        let dir = self.path.as_os_str();
        let mut path = OsString::with_capacity(dir.len() + 1 + name.len());
        path.push(dir);
        path.push(std::path::MAIN_SEPARATOR_STR);
        path.push(name);
        PathBuf::from(path)
    }

    /// True in the process that made the session (not in a forked child).
    pub(crate) fn is_creator(&self) -> bool {
        self.generation == sys::fork_generation()
    }

    /// Makes a new name in the session; see [`make_name`].
    pub(crate) fn make_name<R>(
        &self,
        prefix: &OsStr,
        suffix: &OsStr,
        rand: usize,
        make: impl FnMut(&sys::Dir, &sys::Name) -> io::Result<R>,
    ) -> io::Result<(R, sys::Name)> {
        make_name(
            &self.dir,
            &self.path,
            Names::Thread,
            prefix,
            suffix,
            rand,
            make,
        )
        .map_err(|e| with_path(e, "create temp entry in", &self.path))
    }

    /// Moves the entry `name` (identity `id`) out of the session into the
    /// root, where no clean-up of ours touches it: under the same name if it
    /// is free there, else that name plus `-` and six random characters.
    pub(crate) fn move_out(&self, name: &OsStr, id: &FileId) -> io::Result<PathBuf> {
        let from = self.child(name);
        let mut prefix = name.to_os_string();
        prefix.push("-");
        let attempts = [(name, 0), (prefix.as_os_str(), 6)];
        for (i, (prefix, rand)) in attempts.into_iter().enumerate() {
            let moved = make_name(
                &self.root_dir,
                &self.root,
                Names::Thread,
                prefix,
                OsStr::new(""),
                rand,
                |root, to| {
                    let target = sys::Target::In(root, to);
                    match sys::move_file(&self.dir, name, id, target, true)? {
                        Removal::Removed => Ok(()),
                        Removal::Gone => Err(io::Error::new(
                            io::ErrorKind::NotFound,
                            "it is no longer in the session directory",
                        )),
                        Removal::Replaced => Err(replaced("keep", &from)),
                    }
                },
            );
            match moved {
                Ok(((), to)) => return Ok(self.root.join(to)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && i == 0 => continue,
                Err(e) if crate::error::is_replaced_error(&e) => return Err(e),
                Err(e) => return Err(with_path(e, "keep (move into the root)", &from)),
            }
        }
        Err(with_path(
            io::Error::from(io::ErrorKind::AlreadyExists),
            "keep (move into the root)",
            &from,
        ))
    }

    fn session_lock(&self) -> MutexGuard<'_, Option<SessionLock>> {
        self.lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The error for a lock already let go (the session is being removed).
    fn no_lock(&self) -> io::Error {
        with_path(
            io::Error::new(io::ErrorKind::NotFound, "the session is being removed"),
            "lock",
            &self.path.join(LOCK_NAME),
        )
    }

    /// A lock of its own for a child process (see
    /// `ResourceRegistry::spawn_in_session`).
    pub(crate) fn inheritable_lock(&self) -> io::Result<sys::Inheritable> {
        let lock = self.session_lock();
        let lock = lock.as_ref().ok_or_else(|| self.no_lock())?;
        lock.for_child(&self.dir)
            .map_err(|e| with_path(e, "lock for a child", &self.path.join(LOCK_NAME)))
    }

    /// True while another process holds the session's lock: a child given
    /// one, or what it started. When none does, this process holds it
    /// alone from then on.
    pub(crate) fn in_use_by_others(&self) -> io::Result<bool> {
        let mut lock = self.session_lock();
        let held = lock.as_ref().ok_or_else(|| self.no_lock())?;
        let found = held
            .others_hold(&self.dir)
            .map_err(|e| with_path(e, "test the lock of", &self.path.join(LOCK_NAME)))?;
        Ok(match found {
            Some(alone) => {
                *lock = Some(alone);
                false
            }
            None => true,
        })
    }

    /// Leaves the directory for a later sweep: it is not removed when the
    /// registry ends (its lock goes with this process; whoever else holds
    /// it keeps the session live until they end).
    pub(crate) fn leave_to_sweep(&self) {
        *self.removal.lock().unwrap_or_else(|p| p.into_inner()) = Removing::Done;
    }

    /// Gives the directory up to be inspected: it will not be removed, and
    /// its lock note says `kept`, so no sweep removes it either.
    pub(crate) fn keep(&self) -> io::Result<()> {
        let pid = std::process::id();
        let lock = self.session_lock();
        lock.as_ref()
            .ok_or_else(|| self.no_lock())?
            .rewrite(LockNote { pid, kept: true })
            .map_err(|e| with_path(e, "mark kept", &self.path.join(LOCK_NAME)))?;
        *self.removal.lock().unwrap_or_else(|p| p.into_inner()) = Removing::Done;
        Ok(())
    }

    /// Removes the session directory and everything in it. Runs at most
    /// once, and only in the process that made it; a later call waits for a
    /// removal in progress on another thread, then returns `Ok(())`.
    ///
    /// Used when the registry and all its guards are gone, and by the
    /// process-wide clean-ups when the process is ending. The lock is held
    /// throughout, so no sweeper acts on the directory meanwhile.
    pub(crate) fn remove(&self) -> io::Result<()> {
        if !self.is_creator() {
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

    /// A guard whose clean-up was disabled left its file in the directory:
    /// when the registry ends, the directory is kept (marked `kept`, as
    /// [`keep`](Self::keep) does) rather than removed, if it then still
    /// holds anything but its lock file.
    pub(crate) fn leave_to_user(&self) {
        self.left_to_user.store(true, Ordering::SeqCst);
    }

    fn remove_now(&self) -> io::Result<()> {
        if self.left_to_user.load(Ordering::SeqCst) {
            let holds_more = sys::list(&self.dir).map_or(true, |names| {
                names.iter().any(|name| name != OsStr::new(LOCK_NAME))
            });
            if holds_more {
                tracing::info!(
                    session = %self.path.display(),
                    "tempreg keeps the session directory: it holds files whose clean-up was disabled"
                );
                return self.keep();
            }
        }
        let is_lock = |name: &OsStr| name == OsStr::new(LOCK_NAME);
        // On failure the lock file stays: see the module docs.
        sys::clear_dir(&self.dir, &is_lock)
            .map_err(|e| with_path(e, "clear session directory", &self.path))?;
        lock::remove(&self.dir)
            .map_err(|e| with_path(e, "remove lock file", &self.path.join(LOCK_NAME)))?;
        // Its name is gone, so no sweeper can find it any more: let go of it
        // (on Windows a file still open may keep its name until closed).
        drop(self.session_lock().take());
        match sys::remove_dir(&self.root_dir, &self.name, &self.id) {
            Ok(Removal::Removed | Removal::Gone) => {
                tracing::debug!(session = %self.path.display(), "tempreg session removed");
                Ok(())
            }
            Ok(Removal::Replaced) => Err(replaced("remove session directory", &self.path)),
            Err(e) => Err(with_path(e, "remove session directory", &self.path)),
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Err(e) = self.remove() {
            tracing::warn!(error = %e, "tempreg could not remove its session directory");
        }
        own_sessions().retain(|(id, name)| !(id.matches(&self.id) && *name == self.name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_random_name_is_the_prefix_the_random_part_and_the_suffix() {
        let mut rng = fastrand::Rng::with_seed(7);
        let name = random_name(&mut rng, OsStr::new("pre-"), 6, OsStr::new(".csv")).unwrap();
        let name = name.to_str().unwrap();
        assert_eq!(name.len(), 4 + 6 + 4, "{name}");
        assert!(name.starts_with("pre-") && name.ends_with(".csv"), "{name}");
        assert!(
            name[4..10].bytes().all(|b| b.is_ascii_alphanumeric()),
            "{name}"
        );
        let bare = random_name(&mut rng, OsStr::new(""), 0, OsStr::new("x")).unwrap();
        assert_eq!(bare.as_os_str(), "x");
    }

    #[test]
    fn a_random_part_longer_than_a_file_name_is_refused_not_a_panic() {
        let mut rng = fastrand::Rng::with_seed(7);
        for rand in [sys::NAME_MAX + 1, usize::MAX] {
            let e = random_name(&mut rng, OsStr::new("p"), rand, OsStr::new("")).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
        }
        let longest = random_name(&mut rng, OsStr::new(""), sys::NAME_MAX, OsStr::new(""));
        assert_eq!(longest.unwrap().len(), sys::NAME_MAX);
    }

    #[cfg(unix)]
    #[test]
    fn a_name_holding_a_nul_is_refused() {
        let e = sys::Name::build(OsStr::new("a\0b"), b"", OsStr::new("")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
    }

    #[test]
    fn a_child_path_is_the_session_path_joined_with_the_name() {
        let root = tempfile::tempdir().unwrap();
        let session = Session::create(root.path(), "tempreg").unwrap();
        let name = OsStr::new("tmpAbC123");
        assert_eq!(session.child(name), session.path().join(name));
    }
}
