//! The registry: a concurrent table of live resources in one session directory.
//!
//! # Invariants
//!
//! - `Inner` is shared by the registry handle(s) and by every guard, so the
//!   session directory outlives all of them and is removed when the last one
//!   goes.
//! - The table maps an id to an [`Entry`]. An entry is cleaned only by whoever
//!   removes it from the table (see [`crate::entry`]).
//! - Registration re-checks `closed` after inserting. Paired with `close()`
//!   setting the flag before a purge takes its snapshot (both `SeqCst`),
//!   either the purge sees the new entry or the registering call sees the
//!   flag and takes its entry back, so a purge after `close()` leaves nothing.
//!
//! # Lock order
//!
//! There is one kind of lock here: a dashmap shard, held only inside a single
//! `insert`, `remove` or `iter` step. No shard is held across I/O, an
//! `.await`, a guard's Drop or a call back into the registry.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use dashmap::DashMap;

use crate::entry::{remove_named, Entry, EntryInfo, Res};
use crate::error::{with_path, RegistryClosed};
use crate::fsops::Removal;
use crate::options::TempOptions;
use crate::purge::{PurgeOptions, PurgeReport};
use crate::session::{Session, DEFAULT_PREFIX};
use crate::{TempDir, TempFile, TrackedFile};

/// The state shared by a registry and all its guards.
pub(crate) struct Inner {
    pub(crate) session: Session,
    table: DashMap<u64, Entry, RandomState>,
    next_id: AtomicU64,
    closed: AtomicBool,
    /// The process that created the registry. Process-wide clean-ups (purge
    /// from hooks, the final removal) do nothing in a forked child.
    owner_pid: u32,
    /// Clean-ups of guards dropped on a runtime; `purge_all` waits for them.
    pub(crate) reaper: Arc<crate::reaper::Reaper>,
    /// Async temp files made ahead of demand.
    pub(crate) reserve: Arc<crate::reserve::Reserve>,
    /// Set once the registry is in the exit hook's list.
    pub(crate) exit_hook: AtomicBool,
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResourceRegistry")
            .field("session_dir", &self.session.path())
            .field("entries", &self.table.len())
            .field("closed", &self.closed.load(Ordering::Relaxed))
            .finish()
    }
}

impl Inner {
    pub(crate) fn is_owner_process(&self) -> bool {
        std::process::id() == self.owner_pid
    }

    pub(crate) fn closed_error(&self) -> io::Error {
        RegistryClosed::error(self.session.path())
    }

    /// Fails fast when closed, before any file is created.
    pub(crate) fn check_open(&self) -> io::Result<()> {
        if self.closed.load(Ordering::SeqCst) {
            Err(self.closed_error())
        } else {
            Ok(())
        }
    }

    /// Registers `entry`. On a closed registry the entry is handed back, to be
    /// cleaned by the caller, unless a purge already took it (then `None`).
    pub(crate) fn register(&self, entry: Entry) -> Result<u64, (io::Error, Option<Entry>)> {
        if self.closed.load(Ordering::SeqCst) {
            return Err((self.closed_error(), Some(entry)));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.table.insert(id, entry);
        if self.closed.load(Ordering::SeqCst) {
            let back = self.table.remove(&id).map(|(_, e)| e);
            return Err((self.closed_error(), back));
        }
        Ok(id)
    }

    /// Puts an entry back under its id, closed or not: it is ours to track
    /// (a persist or keep that failed, or a purge that ran out of time).
    pub(crate) fn restore(&self, id: u64, entry: Entry) {
        self.table.insert(id, entry);
    }

    /// Takes one entry out of the table; the caller now owns its clean-up.
    pub(crate) fn claim(&self, id: u64) -> Option<Entry> {
        self.table.remove(&id).map(|(_, e)| e)
    }

    /// Takes every entry present now. Entries registered meanwhile stay for
    /// the next call; entries dropped meanwhile are cleaned by their guard.
    pub(crate) fn claim_all(&self) -> Vec<(u64, Entry)> {
        let ids: Vec<u64> = self.table.iter().map(|e| *e.key()).collect();
        ids.into_iter()
            .filter_map(|id| self.table.remove(&id))
            .collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    pub(crate) fn close(&self) -> bool {
        !self.closed.swap(true, Ordering::SeqCst)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    pub(crate) fn entries(&self) -> Vec<EntryInfo> {
        // Collect under the shard read locks, then build paths outside them.
        let mut infos: Vec<EntryInfo> = self
            .table
            .iter()
            .map(|e| e.value().info(&self.session))
            .collect();
        infos.sort_by_key(|info| std::cmp::Reverse(info.age));
        infos
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if !self.is_owner_process() {
            return;
        }
        // Every guard is gone, so anything left was forgotten (mem::forget)
        // or restored after a failed keep: the session removal takes it.
        if let Err(e) = self.session.remove() {
            tracing::warn!(error = %e, "tempreg could not remove its session directory");
        }
    }
}

/// The guard side of an entry: which registry and which id.
#[derive(Debug)]
pub(crate) struct Ticket {
    pub(crate) inner: Arc<Inner>,
    pub(crate) id: u64,
}

impl Ticket {
    pub(crate) fn claim(&self) -> Option<Entry> {
        self.inner.claim(self.id)
    }

    pub(crate) fn restore(&self, entry: Entry) {
        self.inner.restore(self.id, entry)
    }

    pub(crate) fn session(&self) -> &Session {
        &self.inner.session
    }

    /// Removes a named entry now, for `close()`: `Ok` if it is gone (or was
    /// purged already), the error otherwise. On an I/O error the entry goes
    /// back into the table, so the next purge or the final removal retries.
    pub(crate) fn close_named(&self, op: &'static str, path: &Path) -> io::Result<()> {
        let Some(entry) = self.claim() else {
            return Ok(());
        };
        let Res::Named(named) = &entry.res else {
            return Ok(());
        };
        match remove_named(self.session(), entry.kind, named) {
            Ok(Removal::Removed) | Ok(Removal::Gone) => Ok(()),
            Ok(Removal::Replaced) => Err(crate::error::replaced(op, path)),
            Err(e) => {
                self.restore(entry);
                Err(with_path(e, op, path))
            }
        }
    }

    /// Best-effort removal from a guard's Drop: never panics, logs failures.
    pub(crate) fn drop_named(&self, path: &Path) {
        if let Err(e) = self.close_named("remove", path) {
            tracing::debug!(error = %e, "tempreg guard dropped without removing its path");
        }
    }

    /// Moves a named entry out of the session directory into the root, so no
    /// clean-up of ours touches it again. On failure the entry stays tracked.
    pub(crate) fn move_out(&self, path: &Path) -> io::Result<PathBuf> {
        let Some(entry) = self.claim() else {
            return Err(crate::error::purged(path));
        };
        let Res::Named(named) = &entry.res else {
            self.restore(entry);
            return Err(io::Error::other("tempreg: not a named entry"));
        };
        match self.session().move_out(named) {
            Ok(to) => Ok(to),
            Err(e) => {
                self.restore(entry);
                Err(e)
            }
        }
    }
}

/// A concurrent registry of temp files, temp dirs and async file handles.
///
/// Every guard it hands out ([`TempFile`], [`TempPath`](crate::TempPath),
/// [`TempDir`], [`TrackedFile`]) is listed in the registry until it is dropped
/// or closed, so that [`purge_all`](Self::purge_all) can clean up whatever is
/// still alive when the program has to stop.
///
/// Clones share one registry. Temp files and dirs live in the registry's
/// session directory, `<root>/<prefix>-<pid>-<random>/` (mode 0700), which is
/// locked for the registry's whole life and removed when the registry and
/// every guard of it are gone.
///
/// # Examples
///
/// ```
/// use std::io::Write;
///
/// let registry = tempreg::ResourceRegistry::new()?;
/// let mut scratch = registry.temp_file()?;
/// scratch.write_all(b"intermediate results")?;
/// assert_eq!(registry.len(), 1);
///
/// let report = registry.purge_all_blocking();
/// assert_eq!(report.removed(), 1);
/// assert!(!scratch.path().exists());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct ResourceRegistry {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for ResourceRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl ResourceRegistry {
    /// A registry whose session directory is made in [`std::env::temp_dir`].
    ///
    /// # Errors
    ///
    /// If the session directory cannot be created or locked; the message
    /// names the directory.
    pub fn new() -> io::Result<ResourceRegistry> {
        ResourceRegistry::builder().build()
    }

    /// A builder to choose the root directory and the session prefix.
    pub fn builder() -> RegistryBuilder {
        RegistryBuilder::default()
    }

    /// The session directory that holds this registry's temp files and dirs.
    pub fn session_dir(&self) -> &Path {
        self.inner.session.path()
    }

    /// The root the session directory was made in.
    pub fn root(&self) -> &Path {
        self.inner.session.root()
    }

    /// A new named temp file (mode 0600), open for reading and writing.
    ///
    /// # Errors
    ///
    /// If the file cannot be created, or the registry is closed
    /// ([`is_closed_error`](crate::is_closed_error)).
    pub fn temp_file(&self) -> io::Result<TempFile> {
        self.temp().file()
    }

    /// A new temp directory (mode 0700).
    ///
    /// # Errors
    ///
    /// If the directory cannot be created, or the registry is closed.
    pub fn temp_dir(&self) -> io::Result<TempDir> {
        self.temp().dir()
    }

    /// Options for a temp file or dir: prefix, suffix, then `.file()`,
    /// `.dir()` or `.file_async().await`.
    ///
    /// ```
    /// let registry = tempreg::ResourceRegistry::new()?;
    /// let csv = registry.temp().prefix("report-").suffix(".csv").file()?;
    /// let name = csv.path().file_name().unwrap().to_str().unwrap();
    /// assert!(name.starts_with("report-") && name.ends_with(".csv"));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn temp(&self) -> TempOptions<'_> {
        TempOptions::new(self)
    }

    /// A new async temp file, deleted when its guard is dropped or closed, or
    /// when the registry is purged.
    ///
    /// # Errors
    ///
    /// If the file cannot be created, or the registry is closed.
    pub async fn temp_file_async(&self) -> io::Result<TrackedFile> {
        self.temp().file_async().await
    }

    /// Opens a caller's file (anywhere) and tracks the handle. A purge flushes
    /// its pending writes and closes it; it is never deleted.
    ///
    /// # Errors
    ///
    /// If the file cannot be opened (the message names it), or the registry
    /// is closed.
    pub async fn open(
        &self,
        path: impl AsRef<Path>,
        options: &tokio::fs::OpenOptions,
    ) -> io::Result<TrackedFile> {
        TrackedFile::open(self, path.as_ref(), options).await
    }

    /// An unnamed temp file (`O_TMPFILE`): the kernel frees it when it is
    /// closed, however the process ends, SIGKILL included. Tracked, so a
    /// purge closes it. Falls back to a named file unlinked at once where the
    /// file system cannot make unnamed files.
    ///
    /// # Errors
    ///
    /// If it cannot be created, or the registry is closed.
    pub fn anonymous_file(&self) -> io::Result<crate::AnonymousFile> {
        crate::AnonymousFile::new(&self.inner)
    }

    /// The async form of [`anonymous_file`](Self::anonymous_file): a
    /// [`TrackedFile`] (created on the blocking pool) that a purge flushes
    /// and closes.
    ///
    /// # Errors
    ///
    /// If it cannot be created, or the registry is closed.
    pub async fn anonymous_file_async(&self) -> io::Result<TrackedFile> {
        TrackedFile::create_anonymous(&self.inner).await
    }

    /// How many entries are live.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// True if no entry is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The kind, path and age of each live entry, oldest first.
    pub fn entries(&self) -> Vec<EntryInfo> {
        self.inner.entries()
    }

    /// Cleans every live entry: flushes and closes handles, unlinks temp
    /// files, removes temp dirs. See [`purge_all_with`](Self::purge_all_with).
    pub async fn purge_all(&self) -> PurgeReport {
        self.purge_all_with(PurgeOptions::default()).await
    }

    /// [`purge_all`](Self::purge_all) with a deadline and/or `sync_data`.
    ///
    /// Every entry present when the call starts is taken out of the table and
    /// cleaned exactly once; entries registered meanwhile are left for the
    /// next call. Blocking work runs on tokio's blocking pool. With a
    /// deadline, the call returns on time and reports what was not done as
    /// timed out: unstarted temp paths go back into the table (the next
    /// purge or the final removal takes them), and handle flushes go on in
    /// the background so that no written data is dropped.
    ///
    /// The registry stays usable afterwards; [`close`](Self::close) is what
    /// refuses new entries.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it completes leaves the entries it had
    /// taken to the tasks already started (they finish in the background);
    /// entries not yet handed to a task go back into the table.
    ///
    /// # Panics
    ///
    /// Never; it must be called within a tokio runtime.
    pub async fn purge_all_with(&self, options: PurgeOptions) -> PurgeReport {
        crate::purge::purge_async(&self.inner, options).await
    }

    /// The same sweep with no runtime, for panic hooks, exit handlers and sync
    /// programs. It never panics and never waits for a handle in use by
    /// another thread: such a handle is reported busy and stays tracked.
    pub fn purge_all_blocking(&self) -> PurgeReport {
        crate::purge::purge_blocking(&self.inner, PurgeOptions::default())
    }

    /// [`purge_all_blocking`](Self::purge_all_blocking) with options; a
    /// deadline is checked between entries.
    pub fn purge_all_blocking_with(&self, options: PurgeOptions) -> PurgeReport {
        crate::purge::purge_blocking(&self.inner, options)
    }

    /// Refuses new entries from now on. Returns true if this call closed the
    /// registry, false if it was closed already. Live entries stay until
    /// they are dropped or purged.
    pub fn close(&self) -> bool {
        let changed = self.inner.close();
        if changed {
            tracing::debug!(session = %self.session_dir().display(), "tempreg registry closed");
        }
        changed
    }

    /// True once [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Chains a panic hook that purges this registry when a panic will end
    /// the process: in a `panic = "abort"` build, or on the main thread. A
    /// panic on another thread leaves files alone, since the process goes on
    /// using them. When it purges, it also removes the session directory.
    ///
    /// See [`install_panic_hook_with`](Self::install_panic_hook_with) to
    /// purge on every panic.
    pub fn install_panic_hook(&self) {
        crate::panic_hook::install(self, crate::PanicPolicy::WhenEnding);
    }

    /// Chains a panic hook with the given policy.
    pub fn install_panic_hook_with(&self, policy: crate::PanicPolicy) {
        crate::panic_hook::install(self, policy);
    }

    /// Removes the session directory now, with everything in it, after a
    /// blocking purge. For a process that is about to end without running
    /// destructors (`process::exit`, `abort`). New entries are refused.
    ///
    /// In a child forked without exec it does nothing: the files are the
    /// parent's.
    pub fn purge_and_remove_session(&self) -> PurgeReport {
        if !self.inner.is_owner_process() {
            return PurgeReport::default();
        }
        self.close();
        let mut report = self.purge_all_blocking();
        if let Err(e) = self.inner.session.remove() {
            report.push_failure(crate::purge::PurgeFailure::io(
                self.session_dir().to_path_buf(),
                e,
            ));
        }
        report
    }

    /// Purges this registry and removes its session directory when the
    /// process calls `exit` (`std::process::exit`, or a return from `main`)
    /// with the registry still alive, for example in a `static`, or leaked
    /// by an `exit` that skips destructors.
    ///
    /// Registers one `atexit` handler per process, on first use; calling it
    /// again for the same registry does nothing (returns false). The handler
    /// runs at most once, and does nothing in a child forked without exec
    /// (it compares the process id), so a child's `exit` never purges its
    /// parent's files.
    ///
    /// It cannot help on SIGKILL or `abort` (no code runs; see
    /// [`sweep_orphans`](crate::sweep_orphans)) or on `_exit`.
    pub fn purge_on_exit(&self) -> bool {
        crate::exit::register(self)
    }

    /// Spawns `command` with its scratch space in this session: `TMPDIR` and
    /// `TEMPREG_SESSION_DIR` point at the session directory, and the child
    /// inherits a duplicate of the session's lock fd, so that the session
    /// stays live (no sweep removes it) while the child or any process it
    /// starts still runs, even if this process is killed. The session
    /// directory, with whatever the child left in it, is removed when the
    /// registry ends.
    ///
    /// The duplicate fd exists only during the spawn; a child spawned by
    /// another thread at that moment inherits it too (keeping the session
    /// live a little longer, nothing worse).
    ///
    /// # Errors
    ///
    /// As `Command::spawn`, or if the lock fd cannot be duplicated.
    pub fn spawn_in_session(
        &self,
        command: &mut std::process::Command,
    ) -> io::Result<std::process::Child> {
        let dir = self.session_dir();
        command.env("TMPDIR", dir).env("TEMPREG_SESSION_DIR", dir);
        let lock = self.inner.session.inheritable_lock()?;
        let child = command.spawn();
        drop(lock);
        child
    }

    /// Gives the session directory up: it is not removed when the registry
    /// ends, and its lock file is removed now so that no sweep removes it
    /// either. Entries still live are still cleaned by their guards. Returns
    /// the directory's path. For keeping a failed job's scratch to inspect.
    ///
    /// # Errors
    ///
    /// If the lock file cannot be removed.
    pub fn keep_session_dir(&self) -> io::Result<PathBuf> {
        self.inner.session.abandon()?;
        Ok(self.session_dir().to_path_buf())
    }

    pub(crate) fn weak(&self) -> std::sync::Weak<Inner> {
        Arc::downgrade(&self.inner)
    }
}

/// Builds a [`ResourceRegistry`] with a chosen root and prefix.
#[derive(Debug, Clone)]
pub struct RegistryBuilder {
    root: Option<PathBuf>,
    prefix: String,
    sweep_on_start: bool,
    async_reserve: usize,
}

impl Default for RegistryBuilder {
    fn default() -> Self {
        RegistryBuilder {
            root: None,
            prefix: DEFAULT_PREFIX.to_string(),
            sweep_on_start: false,
            async_reserve: crate::reserve::DEFAULT_SIZE,
        }
    }
}

impl RegistryBuilder {
    /// The directory to make the session directory in (default:
    /// [`std::env::temp_dir`]). It must exist and be writable.
    pub fn root(mut self, dir: impl AsRef<Path>) -> Self {
        self.root = Some(dir.as_ref().to_path_buf());
        self
    }

    /// The session directory's name prefix (default `tempreg`). It must not
    /// be empty or contain `/` or NUL.
    pub fn prefix(mut self, prefix: &str) -> Self {
        self.prefix = prefix.to_string();
        self
    }

    /// Sweep the root for sessions left by dead processes before creating
    /// this one (see [`sweep_orphans`](crate::sweep_orphans)). A failed sweep
    /// is logged and does not stop the build.
    pub fn sweep_orphans_on_start(mut self, sweep: bool) -> Self {
        self.sweep_on_start = sweep;
        self
    }

    /// How many async temp files to keep made ahead of demand (default 32;
    /// 0 turns it off). After its first 16 async temp files, a registry keeps
    /// up to this many ready in its session directory, so that
    /// `temp_file_async` (with default naming) does not wait for a round trip
    /// to tokio's blocking pool. They are empty 0600 files, each holding an
    /// fd; a purge removes them, and so does the end of the registry.
    pub fn async_reserve(mut self, files: usize) -> Self {
        self.async_reserve = files;
        self
    }

    /// Creates the session directory and locks it.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a bad prefix; `NotFound`, `NotADirectory` or
    /// `PermissionDenied` (and so on) for a root that cannot be used, with
    /// the root's path in the message.
    pub fn build(self) -> io::Result<ResourceRegistry> {
        let root = self.root.unwrap_or_else(std::env::temp_dir);
        if self.sweep_on_start {
            match crate::sweep::sweep_orphans(&root) {
                Ok(report) => tracing::info!(%report, "tempreg swept the root on start"),
                Err(e) => tracing::warn!(error = %e, "tempreg could not sweep the root on start"),
            }
        }
        let session = Session::create(&root, &self.prefix)?;
        Ok(ResourceRegistry {
            inner: Arc::new(Inner {
                session,
                table: DashMap::with_hasher(RandomState::new()),
                next_id: AtomicU64::new(0),
                closed: AtomicBool::new(false),
                owner_pid: std::process::id(),
                reaper: Arc::default(),
                reserve: Arc::new(crate::reserve::Reserve::new(self.async_reserve)),
                exit_hook: AtomicBool::new(false),
            }),
        })
    }
}
