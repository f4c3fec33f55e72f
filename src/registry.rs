//! [`ResourceRegistry`]: the facade over one session's table of live
//! resources, and [`RegistryBuilder`].

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::guard::{AnonymousFile, TempDir, TempFile, TempOptions, TrackedFile};
use crate::purge::{self, PurgeFailure, PurgeOptions, PurgeReport};
use crate::session::format::DEFAULT_PREFIX;
use crate::session::Session;
use crate::sys;
use crate::tracking::core::{Core, WeakCore};
use crate::tracking::entry::EntryInfo;
use crate::tracking::reserve::{self, Reserve};

/// A concurrent registry of temp files, temp dirs and async file handles.
///
/// Every guard it hands out ([`TempFile`], [`TempPath`](crate::TempPath),
/// [`TempDir`], [`TrackedFile`], [`AnonymousFile`]) is listed in the
/// registry until it is dropped or closed, so that
/// [`purge_all`](Self::purge_all) can clean up whatever is still alive when
/// the program has to stop.
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
    core: Arc<Core>,
}

impl fmt::Debug for ResourceRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.core.fmt(f)
    }
}

/// A registry held weakly, by what must never keep one alive (the
/// process-wide hooks).
#[derive(Debug, Clone)]
pub(crate) struct WeakRegistry(WeakCore);

impl WeakRegistry {
    pub(crate) fn upgrade(&self) -> Option<ResourceRegistry> {
        self.0.upgrade().map(|core| ResourceRegistry { core })
    }

    /// True if it points at `registry`.
    pub(crate) fn is(&self, registry: &ResourceRegistry) -> bool {
        self.0.is(&registry.core)
    }

    /// True while the registry lives (a check that never upgrades, so it can
    /// never be the one that drops it).
    pub(crate) fn is_alive(&self) -> bool {
        self.0.is_alive()
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

    pub(crate) fn core(&self) -> &Arc<Core> {
        &self.core
    }

    pub(crate) fn weak(&self) -> WeakRegistry {
        WeakRegistry(WeakCore::new(&self.core))
    }

    /// Marks this registry as registered with the exit hook; false if it
    /// was already.
    pub(crate) fn mark_exit_hooked(&self) -> bool {
        !self
            .core
            .exit_hook
            .swap(true, std::sync::atomic::Ordering::SeqCst)
    }

    /// The session directory that holds this registry's temp files and dirs.
    pub fn session_dir(&self) -> &Path {
        self.core.session.path()
    }

    /// The root the session directory was made in.
    pub fn root(&self) -> &Path {
        self.core.session.root()
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
        TempOptions::new(&self.core)
    }

    /// Adopts the existing file at `path` as a [`TempPath`](crate::TempPath)
    /// of this registry: removed when the guard is dropped or closed, or
    /// when the registry is purged. Its identity (device, inode, type, birth
    /// time) is recorded now, so if the name is later replaced by another
    /// file, that file is never removed. A relative `path` is made absolute
    /// against the working directory.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for an empty path or one that names no file (`/`);
    /// `NotFound` if nothing is at `path`; `IsADirectory` for a directory;
    /// the OS error if its directory cannot be opened (each naming the
    /// path); the [closed](crate::is_closed_error) error on a closed
    /// registry.
    ///
    /// # Security
    ///
    /// See [`TempPath`](crate::TempPath#security): removal is relative to
    /// the file's directory, opened by path when it happens, and checked
    /// against the identity recorded here.
    ///
    /// ```
    /// let registry = tempreg::ResourceRegistry::new()?;
    /// let out = registry.root().join(format!("adopt-doc-{}.txt", std::process::id()));
    /// std::fs::write(&out, b"made by another tool")?;
    /// let adopted = registry.adopt(&out)?;
    /// drop(adopted);
    /// assert!(!out.exists());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn adopt(&self, path: impl AsRef<Path>) -> io::Result<crate::TempPath> {
        crate::TempPath::adopt(&self.core, path.as_ref())
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
        TrackedFile::open(&self.core, path.as_ref(), options).await
    }

    /// An unnamed temp file: the system frees it when it is closed, however
    /// the process ends, SIGKILL included (`O_TMPFILE` on Linux). Tracked, so
    /// a purge closes it. Falls back to a named file unlinked at once where
    /// the system or the file system cannot make unnamed files.
    ///
    /// # Errors
    ///
    /// If it cannot be created, or the registry is closed.
    pub fn anonymous_file(&self) -> io::Result<AnonymousFile> {
        AnonymousFile::create(&self.core)
    }

    /// A temp file kept in memory until it grows past `max_size` bytes, then
    /// moved to an unnamed temp file in the session directory; tracked in
    /// both forms, so a purge frees the memory or closes the file (see
    /// [`SpooledTempFile`](crate::SpooledTempFile)).
    ///
    /// # Errors
    ///
    /// The [closed](crate::is_closed_error) error on a closed registry.
    pub fn spooled_file(&self, max_size: usize) -> io::Result<crate::SpooledTempFile> {
        crate::SpooledTempFile::create(&self.core, max_size, None)
    }

    /// The async form of [`anonymous_file`](Self::anonymous_file): a
    /// [`TrackedFile`] (created on the blocking pool) that a purge flushes
    /// and closes.
    ///
    /// # Errors
    ///
    /// If it cannot be created, or the registry is closed.
    pub async fn anonymous_file_async(&self) -> io::Result<TrackedFile> {
        TrackedFile::create_anonymous(&self.core).await
    }

    /// How many entries are live (tracked: not yet dropped, closed, kept or
    /// cleaned; an entry whose clean-up failed still counts).
    pub fn len(&self) -> usize {
        self.core.table.len()
    }

    /// True if no entry is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The kind, path and age of each live entry, oldest first.
    pub fn entries(&self) -> Vec<EntryInfo> {
        self.core.table.entries(&self.core.session)
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
    /// next call. Blocking work runs on tokio's blocking pool. An entry whose
    /// clean-up fails (an I/O error) stays tracked: the next purge, its
    /// guard's drop, or the registry's end retries it, and
    /// [`entries`](Self::entries) shows it. With a deadline, the call returns
    /// on time and reports what was not done as timed out: unstarted entries
    /// go back into the table, and handle flushes go on in the background so
    /// that no written data is dropped.
    ///
    /// The registry stays usable afterwards; [`close`](Self::close) is what
    /// refuses new entries.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it completes leaves the entries it had
    /// handed to a task to that task (it finishes in the background); the
    /// others go back into the table.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub async fn purge_all_with(&self, options: PurgeOptions) -> PurgeReport {
        purge::purge_async(&self.core, options).await
    }

    /// The same purge with no runtime, for panic hooks, exit handlers and
    /// sync programs. It never panics and never waits for a handle in use by
    /// another thread: such a handle is reported busy and stays tracked.
    pub fn purge_all_blocking(&self) -> PurgeReport {
        purge::purge_blocking(&self.core, PurgeOptions::default())
    }

    /// [`purge_all_blocking`](Self::purge_all_blocking) with options; a
    /// deadline is checked between entries.
    pub fn purge_all_blocking_with(&self, options: PurgeOptions) -> PurgeReport {
        purge::purge_blocking(&self.core, options)
    }

    /// Refuses new entries from now on. Returns true if this call closed the
    /// registry, false if it was closed already. It closes nothing: live
    /// entries stay until they are dropped or purged.
    pub fn close(&self) -> bool {
        let changed = self.core.table.close();
        if changed {
            tracing::debug!(session = %self.session_dir().display(), "tempreg registry closed");
        }
        changed
    }

    /// True once [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.core.table.is_closed()
    }

    /// Removes the session directory now, with everything in it, after a
    /// blocking purge. For a process that is about to end without running
    /// destructors (`process::exit`, `abort`). New entries are refused.
    ///
    /// In a child forked without exec it does nothing: the files are the
    /// parent's.
    pub fn purge_and_remove_session(&self) -> PurgeReport {
        if !self.core.is_creator() {
            return PurgeReport::default();
        }
        self.close();
        let mut report = self.purge_all_blocking();
        if self.core.table.any_left_to_user() {
            // A live guard disabled its clean-up: its file stays, and so
            // does the directory around it.
            self.core.session.leave_to_user();
        }
        if let Err(e) = self.core.session.remove() {
            report.push_failure(PurgeFailure::io(self.session_dir().to_path_buf(), e));
        }
        report
    }

    /// Spawns `command` with its scratch space in this session: `TMPDIR` (on
    /// Windows `TMP` and `TEMP` too) and `TEMPREG_SESSION_DIR` point at the
    /// session directory, and the child
    /// inherits a lock of its own on the session, so that the session stays
    /// live (no sweep removes it) while the child or any process it starts
    /// (and that keeps the fd) still runs, even if this process is killed.
    /// The session directory, with whatever the child left in it, is removed
    /// when the registry ends; [`is_session_in_use`](Self::is_session_in_use)
    /// tells whether processes the child left behind still hold it.
    ///
    /// The inheritable fd exists only during the spawn; a child spawned by
    /// another thread at that moment inherits it too (keeping the session
    /// live a little longer, nothing worse).
    ///
    /// # Errors
    ///
    /// As `Command::spawn`, or if the lock cannot be copied.
    pub fn spawn_in_session(
        &self,
        command: &mut std::process::Command,
    ) -> io::Result<std::process::Child> {
        let dir = self.session_dir();
        for var in sys::TEMP_DIR_VARS {
            command.env(var, dir);
        }
        command.env("TEMPREG_SESSION_DIR", dir);
        let lock = self.core.session.inheritable_lock()?;
        let child = command.spawn();
        drop(lock);
        child
    }

    /// True while another process still holds the session's lock: a command
    /// started with [`spawn_in_session`](Self::spawn_in_session), or anything
    /// it started that kept its copy. Ask once the command has ended: then
    /// `true` means processes it left behind still use the directory (leave
    /// it to them with [`leave_session_to_sweep`](Self::leave_session_to_sweep));
    /// `false` means nobody else can hold it any more.
    ///
    /// # Errors
    ///
    /// If the lock file cannot be opened or locked.
    pub fn is_session_in_use(&self) -> io::Result<bool> {
        self.core.session.in_use_by_others()
    }

    /// Does not remove the session directory when the registry ends, and
    /// leaves it to a sweep: the session stays live while another process
    /// holds its lock (see [`is_session_in_use`](Self::is_session_in_use)),
    /// and the first sweep after those end removes it. Entries still live
    /// are still cleaned by their guards.
    pub fn leave_session_to_sweep(&self) {
        self.core.session.leave_to_sweep();
    }

    /// Gives the session directory up to be inspected: it is not removed
    /// when the registry ends, and its lock file is marked `kept`, so no
    /// sweep removes it either (`tempreg ls` shows it as kept). Entries
    /// still live are still cleaned by their guards. Returns the directory's
    /// path. For keeping a failed job's scratch.
    ///
    /// # Errors
    ///
    /// If the lock file cannot be marked.
    pub fn keep_session_dir(&self) -> io::Result<PathBuf> {
        self.core.session.keep()?;
        Ok(self.session_dir().to_path_buf())
    }
}

/// Builds a [`ResourceRegistry`] with a chosen root and prefix.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `.build()`"]
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
            async_reserve: reserve::DEFAULT_SIZE,
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
    /// be empty, start with `.`, contain `/`, `\` or NUL, or be longer than
    /// 200 bytes.
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

    /// How many async temp files to keep made ahead of demand (default 8,
    /// at most 1,024; 0 turns it off). After its first 16 async temp files,
    /// a registry keeps up to this many ready in its session directory, so
    /// that `temp_file_async` (with default naming) does not wait for a
    /// round trip to tokio's blocking pool. They are empty 0600 files, each
    /// holding an fd until it is handed out; they are given back 2 s after
    /// the last one was taken, and a purge removes them, as does the end of
    /// the registry.
    pub fn async_reserve(mut self, files: usize) -> Self {
        self.async_reserve = files;
        self
    }

    /// Creates the session directory and locks it.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a bad prefix or reserve size; `NotFound`,
    /// `NotADirectory` or `PermissionDenied` (and so on) for a root that
    /// cannot be used, with the root's path in the message.
    pub fn build(self) -> io::Result<ResourceRegistry> {
        if self.async_reserve > reserve::MAX_SIZE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "tempreg: async_reserve({}) is more than the {} files a reserve may hold",
                    self.async_reserve,
                    reserve::MAX_SIZE
                ),
            ));
        }
        let root = self.root.unwrap_or_else(std::env::temp_dir);
        if self.sweep_on_start {
            match crate::session::sweep_orphans(&root) {
                Ok(report) => tracing::info!(%report, "tempreg swept the root on start"),
                Err(e) => tracing::warn!(error = %e, "tempreg could not sweep the root on start"),
            }
        }
        let session = Session::create(&root, &self.prefix)?;
        Ok(ResourceRegistry {
            core: Core::new(session, Reserve::new(self.async_reserve)),
        })
    }
}
