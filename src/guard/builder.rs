//! [`TempOptions`]: name a temp file or dir, then make it in the session.

use std::ffi::OsStr;
use std::io;
use std::sync::Arc;

use super::{TempDir, TempFile, TrackedFile};
use crate::tracking::core::Core;
use crate::tracking::naming::NameSpec;

/// Options for one temp file or dir, from
/// [`ResourceRegistry::temp`](crate::ResourceRegistry::temp).
///
/// Names are `<prefix><random><suffix>`, made by `tempfile` and created with
/// `O_EXCL` (retrying on a clash), inside the session directory.
#[derive(Debug, Clone)]
#[must_use = "options do nothing until `.file()`, `.dir()` or `.file_async()` is called"]
pub struct TempOptions<'a> {
    core: &'a Arc<Core>,
    name: NameSpec,
}

impl<'a> TempOptions<'a> {
    pub(crate) fn new(core: &'a Arc<Core>) -> TempOptions<'a> {
        TempOptions {
            core,
            name: NameSpec::default(),
        }
    }

    /// The start of the name (default `tmp`). Any bytes but `/` and NUL.
    pub fn prefix(mut self, prefix: impl AsRef<OsStr>) -> Self {
        self.name.prefix = prefix.as_ref().to_os_string();
        self
    }

    /// The end of the name (default none). Any bytes but `/` and NUL.
    pub fn suffix(mut self, suffix: impl AsRef<OsStr>) -> Self {
        self.name.suffix = suffix.as_ref().to_os_string();
        self
    }

    /// How many random characters go between prefix and suffix (default 6).
    /// With 0 the name is exactly prefix + suffix, and creation fails with
    /// `AlreadyExists` if it is taken.
    pub fn rand_bytes(mut self, n: usize) -> Self {
        self.name.rand = n;
        self
    }

    /// Creates a named temp file (mode 0600), open for reading and writing.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a name that cannot be one file name: a prefix or
    /// suffix holding `/` or NUL, more than 255 bytes in all, or an empty,
    /// `.` or `..` name; the OS error (with the session path) if the file
    /// cannot be created; the [closed](crate::is_closed_error) error on a
    /// closed registry.
    pub fn file(&self) -> io::Result<TempFile> {
        TempFile::create(self.core, &self.name)
    }

    /// Creates a temp directory (mode 0700).
    ///
    /// # Errors
    ///
    /// As for [`file`](Self::file).
    pub fn dir(&self) -> io::Result<TempDir> {
        TempDir::create(self.core, &self.name)
    }

    /// Creates an async temp file on tokio's blocking pool (or takes one
    /// made ahead of demand; see
    /// [`RegistryBuilder::async_reserve`](crate::RegistryBuilder::async_reserve)).
    ///
    /// # Errors
    ///
    /// As for [`file`](Self::file).
    pub async fn file_async(&self) -> io::Result<TrackedFile> {
        self.name.check()?;
        TrackedFile::create_temp(self.core, self.name.clone()).await
    }
}
