//! [`SpooledTempFile`]: bytes kept in memory up to a size, then an unnamed
//! temp file, tracked all along so that a purge frees either.

use std::fmt;
use std::fs::File;
use std::io::{self, Cursor, IoSlice, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::Arc;

use super::anonymous::Untracks;
use super::AnonymousFile;
use crate::error::purged;
use crate::tracking::core::Core;
use crate::tracking::entry::{Entry, EntryKind, Handle, IN_MEMORY};
use crate::tracking::memory::MemoryHandle;

/// What a [`SpooledTempFile`] holds, from
/// [`into_inner`](SpooledTempFile::into_inner): its bytes in memory, or the
/// file they rolled over to (as `tempfile`'s `SpooledData`).
#[derive(Debug)]
pub enum SpooledData {
    /// Still in memory.
    InMemory(Cursor<Vec<u8>>),
    /// Rolled over to an unnamed temp file.
    OnDisk(File),
}

/// A temp file that stays in memory until it grows past `max_size` bytes (or
/// [`roll`](Self::roll) is called), then moves to an unnamed temp file
/// ([`AnonymousFile`]), from
/// [`ResourceRegistry::spooled_file`](crate::ResourceRegistry::spooled_file).
/// `Read + Write + Seek`, with `tempfile`'s `SpooledTempFile` rules: a write
/// that would end past `max_size` rolls it over first, and so does
/// [`set_len`](Self::set_len) past it.
///
/// # Purges
///
/// It is tracked in both forms. A purge frees the bytes in memory (or, on
/// disk, revokes the file as it does an [`AnonymousFile`]), so the memory or
/// the disk space comes back at once, as for every handle a purge closes;
/// afterwards every read, write, seek, `set_len` or `roll` fails with an
/// error for which [`is_closed_error`](crate::is_closed_error) is true, and
/// [`is_purged`](Self::is_purged) says so. A blocking purge that finds the
/// bytes in use on another thread reports them busy and leaves them.
///
/// # Resource leaking
///
/// None on disk: the rolled-over file has no name (where the system makes
/// unnamed files; see [`AnonymousFile`]), so the kernel frees it however the
/// process ends.
///
/// # Examples
///
/// ```
/// use std::io::{Read, Seek, SeekFrom, Write};
///
/// let registry = tempreg::ResourceRegistry::new()?;
/// let mut spool = registry.spooled_file(16)?;
/// spool.write_all(b"small")?;
/// assert!(!spool.is_rolled());
/// spool.write_all(b" and then more than sixteen bytes")?;
/// assert!(spool.is_rolled());
/// spool.seek(SeekFrom::Start(0))?;
/// let mut back = String::new();
/// spool.read_to_string(&mut back)?;
/// assert_eq!(back, "small and then more than sixteen bytes");
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct SpooledTempFile {
    max_size: usize,
    registry: Registry,
    /// Where a roll makes the file: the session directory when `None`.
    dir: Option<PathBuf>,
    state: Spool,
}

/// The registry that tracks it; for `compat`'s constructors, which cannot
/// fail, the error that kept one from being made (a roll then fails with
/// it, as `tempfile`'s would in an unusable temp directory).
enum Registry {
    Tracked(Arc<Core>),
    Unavailable(io::ErrorKind, String),
}

enum Spool {
    Memory {
        bytes: Arc<MemoryHandle>,
        // Dropped (untracked) with the bytes; `None` with no registry.
        _entry: Option<Untracks>,
    },
    Disk(AnonymousFile),
}

impl SpooledTempFile {
    pub(crate) fn create(
        core: &Arc<Core>,
        max_size: usize,
        dir: Option<PathBuf>,
    ) -> io::Result<SpooledTempFile> {
        core.check_open()?;
        let bytes = MemoryHandle::new();
        let entry = Entry::new(
            EntryKind::SpooledMemory,
            None,
            Handle::Memory(Arc::clone(&bytes)),
        );
        let ticket = core.track(entry)?;
        Ok(SpooledTempFile {
            max_size,
            registry: Registry::Tracked(Arc::clone(core)),
            dir,
            state: Spool::Memory {
                bytes,
                _entry: Some(Untracks(ticket)),
            },
        })
    }

    /// One that no registry tracks, because none could be made (`error`):
    /// it works in memory, and fails with that error when it must roll.
    pub(crate) fn untracked(
        max_size: usize,
        dir: Option<PathBuf>,
        error: &io::Error,
    ) -> SpooledTempFile {
        SpooledTempFile {
            max_size,
            registry: Registry::Unavailable(error.kind(), error.to_string()),
            dir,
            state: Spool::Memory {
                bytes: MemoryHandle::new(),
                _entry: None,
            },
        }
    }

    fn closed(&self) -> io::Error {
        let shown = match &self.registry {
            Registry::Tracked(core) => core.session.child(IN_MEMORY.as_ref()),
            Registry::Unavailable(..) => PathBuf::from(IN_MEMORY),
        };
        purged(io::ErrorKind::Other, "use", &shown)
    }

    /// Runs `f` on the bytes in memory; `None` once on disk.
    fn in_memory<T>(
        &self,
        f: impl FnOnce(&mut Cursor<Vec<u8>>) -> io::Result<T>,
    ) -> Option<io::Result<T>> {
        let Spool::Memory { bytes, .. } = &self.state else {
            return None;
        };
        let mut held = bytes.lock();
        Some(match held.as_mut() {
            Some(cursor) => f(cursor),
            None => Err(self.closed()),
        })
    }

    /// True once the data moved to a file on disk.
    pub fn is_rolled(&self) -> bool {
        matches!(self.state, Spool::Disk(_))
    }

    /// True once a purge freed the bytes in memory, or closed the file.
    pub fn is_purged(&self) -> bool {
        match &self.state {
            Spool::Memory { bytes, .. } => bytes.is_freed(),
            Spool::Disk(file) => file.is_purged(),
        }
    }

    /// The size past which a write rolls it over to disk.
    pub fn max_size(&self) -> usize {
        self.max_size
    }

    /// Moves the data to an unnamed temp file now (nothing if it is there
    /// already), keeping the position.
    ///
    /// # Errors
    ///
    /// If the file cannot be made or written (the data stays in memory), or
    /// a purge freed the data.
    pub fn roll(&mut self) -> io::Result<()> {
        let Spool::Memory { bytes, .. } = &self.state else {
            return Ok(());
        };
        // Out of the handle (a purge meanwhile finds nothing to free), so
        // that no lock is held across the file's I/O.
        let Some(cursor) = bytes.lock().take() else {
            return Err(self.closed());
        };
        match self.spill(&cursor) {
            Ok(file) => {
                self.state = Spool::Disk(file);
                Ok(())
            }
            Err(e) => {
                *bytes.lock() = Some(cursor);
                Err(e)
            }
        }
    }

    fn spill(&self, cursor: &Cursor<Vec<u8>>) -> io::Result<AnonymousFile> {
        let core = match &self.registry {
            Registry::Tracked(core) => core,
            Registry::Unavailable(kind, message) => {
                return Err(io::Error::new(*kind, message.clone()));
            }
        };
        let mut file = match &self.dir {
            Some(dir) => AnonymousFile::create_in(core, dir)?,
            None => AnonymousFile::create(core)?,
        };
        file.write_all(cursor.get_ref())?;
        file.seek(SeekFrom::Start(cursor.position()))?;
        Ok(file)
    }

    /// Truncates or extends the data to `size` bytes (zeros), rolling over
    /// first if `size` is past the maximum. The position does not move.
    ///
    /// # Errors
    ///
    /// As [`roll`](Self::roll) and `File::set_len`, or if it was purged.
    pub fn set_len(&mut self, size: u64) -> io::Result<()> {
        if size > self.max_size as u64 {
            self.roll()?;
        }
        if let Some(done) = self.in_memory(|cursor| {
            let size = usize::try_from(size).map_err(io::Error::other)?;
            cursor.get_mut().resize(size, 0);
            Ok(())
        }) {
            return done;
        }
        match &self.state {
            Spool::Disk(file) => file.set_len(size),
            Spool::Memory { .. } => unreachable!("in memory was handled above"),
        }
    }

    /// Stops tracking it and returns what it holds.
    ///
    /// # Errors
    ///
    /// The [closed](crate::is_closed_error) error if a purge freed the
    /// bytes in memory (on disk, the revoked file is returned, and fails
    /// every read and write).
    pub fn into_inner(self) -> io::Result<SpooledData> {
        let closed = self.closed();
        match self.state {
            Spool::Memory { bytes, _entry } => {
                let taken = bytes.lock().take();
                drop(_entry);
                taken.map(SpooledData::InMemory).ok_or(closed)
            }
            Spool::Disk(file) => Ok(SpooledData::OnDisk(file.into_file())),
        }
    }

    /// Stops tracking it and returns it as a file, rolling it over first if
    /// it is still in memory.
    ///
    /// # Errors
    ///
    /// As [`roll`](Self::roll).
    pub fn into_file(mut self) -> io::Result<File> {
        self.roll()?;
        match self.into_inner()? {
            SpooledData::OnDisk(file) => Ok(file),
            SpooledData::InMemory(_) => unreachable!("rolled over above"),
        }
    }

    /// True if writing `len` bytes at the current position would end past
    /// the maximum while in memory.
    fn outgrows(&self, len: u64) -> io::Result<bool> {
        let max = self.max_size as u64;
        Ok(self
            .in_memory(|cursor| Ok(cursor.position().saturating_add(len) > max))
            .transpose()?
            .unwrap_or(false))
    }

    fn disk(&mut self) -> &mut AnonymousFile {
        match &mut self.state {
            Spool::Disk(file) => file,
            Spool::Memory { .. } => unreachable!("called once on disk"),
        }
    }
}

impl fmt::Debug for SpooledTempFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpooledTempFile")
            .field("max_size", &self.max_size)
            .field("rolled", &self.is_rolled())
            .field("purged", &self.is_purged())
            .finish()
    }
}

impl Read for SpooledTempFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.in_memory(|cursor| cursor.read(buf)) {
            Some(read) => read,
            None => self.disk().read(buf),
        }
    }
    fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        match self.in_memory(|cursor| cursor.read_to_end(buf)) {
            Some(read) => read,
            None => self.disk().read_to_end(buf),
        }
    }
}

impl Write for SpooledTempFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.outgrows(buf.len() as u64)? {
            self.roll()?;
        }
        match self.in_memory(|cursor| cursor.write(buf)) {
            Some(written) => written,
            None => self.disk().write(buf),
        }
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let len = bufs
            .iter()
            .fold(0u64, |n, b| n.saturating_add(b.len() as u64));
        if self.outgrows(len)? {
            self.roll()?;
        }
        match self.in_memory(|cursor| cursor.write_vectored(bufs)) {
            Some(written) => written,
            None => self.disk().write_vectored(bufs),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self.in_memory(|cursor| cursor.flush()) {
            Some(flushed) => flushed,
            None => self.disk().flush(),
        }
    }
}

impl Seek for SpooledTempFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        match self.in_memory(|cursor| cursor.seek(pos)) {
            Some(at) => at,
            None => self.disk().seek(pos),
        }
    }
}
