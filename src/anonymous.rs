//! Anonymous files: no name, so the kernel frees them however the process
//! ends, SIGKILL included.
//!
//! Made with `O_TMPFILE` in the session directory. Where the file system
//! cannot do that, a named temp file is created and unlinked at once (it has
//! a name for a moment, inside the session directory, which a sweep removes
//! if the process dies in that moment).
//!
//! # Invariants
//!
//! - A sync anonymous file's fd lives in an `Arc<File>` inside its slot. I/O
//!   clones the `Arc` under the slot lock and runs after releasing it, so no
//!   lock is held across I/O and a purge never waits: it takes the `Arc` out,
//!   and the fd closes when an operation still in flight finishes.

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use crate::entry::{Entry, EntryKind, Res};
use crate::error::with_path;
use crate::options::{register, NameSpec};
use crate::registry::{Inner, Ticket};

/// Creates an unnamed file in the session directory (blocking).
pub(crate) fn create(inner: &Inner) -> io::Result<File> {
    inner.check_open()?;
    let session = &inner.session;
    let flags = OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC;
    match rustix::fs::openat(session.dir(), ".", flags, Mode::from_raw_mode(0o600)) {
        Ok(fd) => Ok(File::from(fd)),
        // No O_TMPFILE here (old kernel, or a file system without it).
        Err(Errno::OPNOTSUPP | Errno::ISDIR | Errno::INVAL | Errno::NOENT) => {
            let (file, path, named) = NameSpec::default().create_raw_file(inner)?;
            match crate::fsops::remove_file_at(session.dir(), &named.name, named.id) {
                Ok(crate::fsops::Removal::Removed) => Ok(file),
                Ok(_) => Err(crate::error::replaced("unlink", &path)),
                Err(e) => Err(with_path(e, "unlink", &path)),
            }
        }
        Err(e) => Err(with_path(e, "create anonymous file in", session.path())),
    }
}

/// How anonymous entries are shown: the session directory and a marker.
pub(crate) fn display_path(inner: &Inner) -> PathBuf {
    inner.session.path().join("(anonymous)")
}

/// The shared state of a sync anonymous file.
#[derive(Debug)]
pub(crate) struct SyncSlot {
    file: Mutex<SyncState>,
}

#[derive(Debug)]
enum SyncState {
    Open(Arc<File>),
    Purged,
    Closed,
}

impl SyncSlot {
    fn file(&self) -> Result<Arc<File>, bool> {
        match &*self.file.lock().unwrap_or_else(|p| p.into_inner()) {
            SyncState::Open(file) => Ok(Arc::clone(file)),
            SyncState::Purged => Err(true),
            SyncState::Closed => Err(false),
        }
    }

    /// Closes the file for a purge: true if it was open. Never blocks on I/O.
    pub(crate) fn purge(&self) -> bool {
        let mut state = self.file.lock().unwrap_or_else(|p| p.into_inner());
        match std::mem::replace(&mut *state, SyncState::Purged) {
            SyncState::Open(_) => true,
            other => {
                *state = other;
                false
            }
        }
    }

    fn close(&self) {
        *self.file.lock().unwrap_or_else(|p| p.into_inner()) = SyncState::Closed;
    }
}

/// An unnamed temp file (see the module docs): `Read + Write + Seek`, freed by
/// the kernel when closed, however the process ends. Tracked, so a purge
/// closes it; afterwards its I/O fails with an error.
///
/// # Examples
///
/// ```
/// use std::io::{Read, Seek, SeekFrom, Write};
///
/// let registry = tempreg::ResourceRegistry::new()?;
/// let mut scratch = registry.anonymous_file()?;
/// scratch.write_all(b"spill")?;
/// scratch.seek(SeekFrom::Start(0))?;
/// let mut back = String::new();
/// scratch.read_to_string(&mut back)?;
/// assert_eq!(back, "spill");
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct AnonymousFile {
    ticket: Ticket,
    slot: Arc<SyncSlot>,
}

impl AnonymousFile {
    pub(crate) fn new(inner: &Arc<Inner>) -> io::Result<AnonymousFile> {
        let file = create(inner)?;
        let slot = Arc::new(SyncSlot {
            file: Mutex::new(SyncState::Open(Arc::new(file))),
        });
        let entry = Entry {
            kind: EntryKind::AnonymousFile,
            created: std::time::Instant::now(),
            res: Res::Anonymous(Arc::clone(&slot)),
        };
        let ticket = register(inner, entry)?;
        Ok(AnonymousFile { ticket, slot })
    }

    fn file(&self) -> io::Result<Arc<File>> {
        self.slot.file().map_err(|purged| {
            let why = if purged {
                "the anonymous file was closed by a tempreg purge"
            } else {
                "the anonymous file is closed"
            };
            with_path(
                io::Error::other(why),
                "use",
                &display_path(&self.ticket.inner),
            )
        })
    }

    /// True once a purge has closed it.
    pub fn is_purged(&self) -> bool {
        matches!(self.slot.file(), Err(true))
    }

    /// Sets the file's length.
    ///
    /// # Errors
    ///
    /// As `File::set_len`, or if it was purged.
    pub fn set_len(&self, len: u64) -> io::Result<()> {
        self.file()?.set_len(len)
    }

    /// The file's metadata.
    ///
    /// # Errors
    ///
    /// As `File::metadata`, or if it was purged.
    pub fn metadata(&self) -> io::Result<std::fs::Metadata> {
        self.file()?.metadata()
    }
}

impl Drop for AnonymousFile {
    fn drop(&mut self) {
        drop(self.ticket.claim());
        self.slot.close();
    }
}

impl fmt::Debug for AnonymousFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnonymousFile")
            .field("purged", &self.is_purged())
            .finish()
    }
}

impl Read for AnonymousFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self.file()?).read(buf)
    }
}

impl Write for AnonymousFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self.file()?).write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        (&*self.file()?).flush()
    }
}

impl Seek for AnonymousFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        (&*self.file()?).seek(pos)
    }
}
