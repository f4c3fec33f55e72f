//! `tempfile::SpooledTempFile`: bytes in memory up to a size, then an
//! unnamed temp file.

use std::fs::File;
use std::io::{self, IoSlice, IoSliceMut, Read, Seek, SeekFrom, Write};
use std::path::Path;

use super::default_registry;
use crate::SpooledData;

/// A spooled temp file with at most `max_size` bytes in memory, as
/// `tempfile::spooled_tempfile`.
pub fn spooled_tempfile(max_size: usize) -> SpooledTempFile {
    SpooledTempFile::new(max_size)
}

/// A spooled temp file that rolls over into `dir`, as
/// `tempfile::spooled_tempfile_in`.
pub fn spooled_tempfile_in<P: AsRef<Path>>(max_size: usize, dir: P) -> SpooledTempFile {
    SpooledTempFile::new_in(max_size, dir)
}

/// A temp file kept in memory until it grows past `max_size` bytes, then an
/// unnamed temp file, as `tempfile::SpooledTempFile` (same rules for when it
/// rolls over). Tracked by the process-wide registry in both forms (see
/// [`crate::SpooledTempFile`]): a purge frees the memory or closes the
/// file, and later I/O fails with the
/// [closed](crate::is_closed_error) error.
#[derive(Debug)]
pub struct SpooledTempFile {
    inner: crate::SpooledTempFile,
}

impl SpooledTempFile {
    /// A spooled file rolling over into the default directory
    /// ([`env::temp_dir`](super::env::temp_dir)).
    #[must_use]
    pub fn new(max_size: usize) -> SpooledTempFile {
        SpooledTempFile::with_dir(max_size, None)
    }

    /// A spooled file rolling over into `dir` (the file is made directly in
    /// `dir`, unnamed).
    #[must_use]
    pub fn new_in<P: AsRef<Path>>(max_size: usize, dir: P) -> SpooledTempFile {
        SpooledTempFile::with_dir(max_size, Some(dir.as_ref()))
    }

    fn with_dir(max_size: usize, dir: Option<&Path>) -> SpooledTempFile {
        let dir = dir.map_or_else(super::env::temp_dir, Path::to_path_buf);
        let made = default_registry().and_then(|registry| {
            crate::SpooledTempFile::create(registry.core(), max_size, Some(dir.clone()))
        });
        let inner = made.unwrap_or_else(|e| {
            // As `tempfile`: it works in memory, and a roll fails.
            crate::SpooledTempFile::untracked(max_size, Some(dir), &e)
        });
        SpooledTempFile { inner }
    }

    /// True once the data moved to a file on disk.
    #[must_use]
    pub fn is_rolled(&self) -> bool {
        self.inner.is_rolled()
    }

    /// Moves the data to an unnamed temp file now.
    ///
    /// # Errors
    ///
    /// If the file cannot be made or written, or a purge freed the data.
    pub fn roll(&mut self) -> io::Result<()> {
        self.inner.roll()
    }

    /// Truncates or extends the data, rolling over past the maximum.
    ///
    /// # Errors
    ///
    /// As [`roll`](Self::roll) and `File::set_len`.
    pub fn set_len(&mut self, size: u64) -> Result<(), io::Error> {
        self.inner.set_len(size)
    }

    /// What it holds, no longer tracked. Bytes in memory that a purge freed
    /// come back empty.
    #[must_use]
    pub fn into_inner(self) -> SpooledData {
        self.inner
            .into_inner()
            .unwrap_or_else(|_| SpooledData::InMemory(io::Cursor::new(Vec::new())))
    }

    /// The data as a file, rolled over first if it is still in memory.
    ///
    /// # Errors
    ///
    /// As [`roll`](Self::roll).
    pub fn into_file(self) -> io::Result<File> {
        self.inner.into_file()
    }
}

impl Read for SpooledTempFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.inner.read_vectored(bufs)
    }
    fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        self.inner.read_to_end(buf)
    }
}

impl Write for SpooledTempFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.inner.write_vectored(bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl Seek for SpooledTempFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}
