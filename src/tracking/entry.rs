//! Entries: what the registry knows about each live resource.
//!
//! An entry is a name in the session directory (with the identity recorded
//! when it was made), a handle, or both: a temp path is a name, a caller's
//! async file a handle, a temp file both. Cleaning an entry closes its
//! handle, then removes its name ([`cleaner`](super::cleaner)).

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::async_handle::AsyncHandle;
use super::memory::MemoryHandle;
use super::sync_handle::SyncHandle;
use crate::session::Session;
use crate::sys::{self, FileId};

/// What kind of resource an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EntryKind {
    /// A named temp file in the session directory ([`TempFile`](crate::TempFile)
    /// or [`TempPath`](crate::TempPath)): unlinked on purge, its fd (if any)
    /// closed.
    TempFile,
    /// A temp directory in the session directory: removed with its contents on purge.
    TempDir,
    /// An async temp file ([`TrackedFile`](crate::TrackedFile) from
    /// `temp_file_async`): closed and unlinked on purge.
    AsyncTempFile,
    /// A caller's file opened through the registry: flushed and closed on
    /// purge, never deleted.
    OpenFile,
    /// An unnamed file: closed on purge, freed by the system.
    AnonymousFile,
    /// The bytes of a [`SpooledTempFile`](crate::SpooledTempFile) still in
    /// memory: freed on purge. (Once it rolls over to disk, it is an
    /// [`AnonymousFile`](EntryKind::AnonymousFile).)
    SpooledMemory,
}

impl fmt::Display for EntryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EntryKind::TempFile => "temp file",
            EntryKind::TempDir => "temp dir",
            EntryKind::AsyncTempFile => "async temp file",
            EntryKind::OpenFile => "open file",
            EntryKind::AnonymousFile => "anonymous file",
            EntryKind::SpooledMemory => "spooled file in memory",
        })
    }
}

/// A snapshot of one live entry, from [`ResourceRegistry::entries`](crate::ResourceRegistry::entries).
#[derive(Debug, Clone)]
pub struct EntryInfo {
    pub(crate) kind: EntryKind,
    pub(crate) path: PathBuf,
    pub(crate) age: Duration,
}

impl EntryInfo {
    /// What the entry is.
    pub fn kind(&self) -> EntryKind {
        self.kind
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How long ago it was registered.
    pub fn age(&self) -> Duration {
        self.age
    }
}

/// A name the registry made in its session directory (or adopted outside
/// it), and what it held.
#[derive(Debug, Clone)]
pub(crate) struct TrackedName {
    pub(crate) name: sys::Name,
    pub(crate) id: FileId,
    /// The directory that holds the name, when it is not the session
    /// directory: an adopted path's parent, opened anew for each removal
    /// (so an adopted path costs no fd while it waits).
    pub(crate) outside: Option<Box<Path>>,
}

/// The directory a [`TrackedName`] is in, open.
#[derive(Debug)]
pub(crate) enum NameDir<'a> {
    Session(&'a sys::Dir),
    Outside(sys::Dir),
}

impl Deref for NameDir<'_> {
    type Target = sys::Dir;
    fn deref(&self) -> &sys::Dir {
        match self {
            NameDir::Session(dir) => dir,
            NameDir::Outside(dir) => dir,
        }
    }
}

impl TrackedName {
    /// A name made in the session directory.
    pub(crate) fn in_session(name: sys::Name, id: FileId) -> TrackedName {
        TrackedName {
            name,
            id,
            outside: None,
        }
    }

    /// The name's directory, open; `None` if an adopted path's directory is
    /// gone (or is no longer a directory): then so is the name.
    pub(crate) fn dir<'a>(&self, session: &'a Session) -> io::Result<Option<NameDir<'a>>> {
        let Some(parent) = &self.outside else {
            return Ok(Some(NameDir::Session(session.dir())));
        };
        match sys::Dir::open(parent) {
            Ok(dir) => Ok(Some(NameDir::Outside(dir))),
            Err(e) if e.kind() == io::ErrorKind::NotFound || sys::is_not_a_dir(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The name's full path.
    pub(crate) fn path(&self, session: &Session) -> PathBuf {
        match &self.outside {
            None => session.child(&self.name),
            Some(parent) => parent.join(&*self.name),
        }
    }
}

/// The handle an entry holds, if any.
#[derive(Debug)]
pub(crate) enum Handle {
    None,
    /// A sync file the guard owns; a purge revokes it.
    Sync(Arc<SyncHandle>),
    /// An async file shared with the guard; a purge flushes and closes it.
    /// `path` is how it is shown (a caller's file is outside the session).
    Async {
        handle: Arc<AsyncHandle>,
        path: Box<Path>,
    },
    /// A spooled file's bytes in memory; a purge frees them.
    Memory(Arc<MemoryHandle>),
}

/// What the registry holds for one live resource.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) kind: EntryKind,
    /// The fork generation that made it: only that process cleans it.
    pub(crate) generation: u32,
    pub(crate) created: Instant,
    pub(crate) name: Option<TrackedName>,
    pub(crate) handle: Handle,
    /// False once its guard disabled clean-up: no purge takes it, and its
    /// guard's drop leaves its file (see `Ticket::set_cleanup`).
    pub(crate) cleanup: bool,
}

/// How an entry without a name of its own is shown.
pub(crate) const ANONYMOUS: &str = "(anonymous)";

/// How a spooled file's bytes in memory are shown.
pub(crate) const IN_MEMORY: &str = "(in memory)";

impl Entry {
    pub(crate) fn new(kind: EntryKind, name: Option<TrackedName>, handle: Handle) -> Entry {
        Entry {
            kind,
            generation: sys::fork_generation(),
            created: Instant::now(),
            name,
            handle,
            cleanup: true,
        }
    }

    /// True in the process that made it (not in a child forked since).
    pub(crate) fn is_born_here(&self) -> bool {
        self.generation == sys::fork_generation()
    }

    pub(crate) fn path(&self, session: &Session) -> PathBuf {
        match (&self.handle, &self.name) {
            (Handle::Async { path, .. }, _) => path.to_path_buf(),
            (Handle::Memory(_), _) => session.child(OsStr::new(IN_MEMORY)),
            (_, Some(named)) => named.path(session),
            (_, None) => session.child(OsStr::new(ANONYMOUS)),
        }
    }

    pub(crate) fn info(&self, session: &Session) -> EntryInfo {
        EntryInfo {
            kind: self.kind,
            path: self.path(session),
            age: self.created.elapsed(),
        }
    }
}
