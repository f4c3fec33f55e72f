//! [`TempOptions`]: name a temp file or dir, then create it in the session.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::PathBuf;
use std::sync::Arc;

use crate::entry::{Entry, EntryKind, Named};
use crate::error::with_path;
use crate::fsops::{self, FileId};
use crate::registry::{Inner, Ticket};
use crate::session::check_name_part;
use crate::{ResourceRegistry, TempDir, TempFile, TempPath, TrackedFile};

/// Options for one temp file or dir, from [`ResourceRegistry::temp`].
///
/// Names are `<prefix><random><suffix>`, made by `tempfile` and created with
/// `O_EXCL` (retrying on a clash), inside the session directory.
#[derive(Debug, Clone)]
#[must_use = "options do nothing until `.file()`, `.dir()` or `.file_async()` is called"]
pub struct TempOptions<'a> {
    registry: &'a ResourceRegistry,
    name: NameSpec,
}

/// The parts of a name, owned, so that async creation can move them.
#[derive(Debug, Clone)]
pub(crate) struct NameSpec {
    prefix: OsString,
    suffix: OsString,
    rand_bytes: usize,
}

impl Default for NameSpec {
    fn default() -> Self {
        NameSpec {
            prefix: OsString::from("tmp"),
            suffix: OsString::new(),
            rand_bytes: 6,
        }
    }
}

impl NameSpec {
    /// True for the default naming, which reserve files use.
    pub(crate) fn is_default(&self) -> bool {
        self.prefix == "tmp" && self.suffix.is_empty() && self.rand_bytes == 6
    }

    fn check(&self) -> io::Result<()> {
        check_name_part("prefix", &self.prefix)?;
        check_name_part("suffix", &self.suffix)?;
        if self.rand_bytes == 0 && self.prefix.is_empty() && self.suffix.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "tempreg: a temp name needs a prefix, a suffix or random characters",
            ));
        }
        Ok(())
    }

    /// Creates a new name in the session directory with `make`, which gets
    /// the directory fd and the candidate name and must fail with
    /// `AlreadyExists` on a clash (`tempfile` then retries).
    fn create<R>(
        &self,
        inner: &Inner,
        mut make: impl FnMut(BorrowedFd<'_>, &OsStr) -> io::Result<R>,
    ) -> io::Result<(R, PathBuf)> {
        let session = &inner.session;
        let made = tempfile::Builder::new()
            .prefix(&self.prefix)
            .suffix(&self.suffix)
            .rand_bytes(self.rand_bytes)
            .make_in(session.path(), |p| {
                make(session.dir(), p.file_name().unwrap_or_default())
            })
            .map_err(|e| with_path(e, "create temp file in", session.path()))?;
        let (made, path) = made.into_parts();
        // Our own removal (identity-checked) replaces tempfile's.
        let path = path.keep().map_err(|e| e.error)?;
        Ok((made, path))
    }

    /// Creates a temp file without registering it; blocking.
    pub(crate) fn create_raw_file(&self, inner: &Inner) -> io::Result<(File, PathBuf, Named)> {
        self.check()?;
        inner.check_open()?;
        let (fd, path) = self.create(inner, fsops::create_file_at)?;
        let name = path.file_name().unwrap_or_default().to_os_string();
        let file = File::from(fd);
        let unlink = scopeguard::guard(&name, |name| {
            let _ = rustix::fs::unlinkat(inner.session.dir(), name, rustix::fs::AtFlags::empty());
        });
        let id = FileId::of_fd(file.as_fd()).map_err(|e| with_path(e, "stat", &path))?;
        scopeguard::ScopeGuard::into_inner(unlink);
        Ok((file, path, Named { name, id }))
    }

    /// Creates and registers a temp file; blocking.
    pub(crate) fn create_file(&self, inner: &Arc<Inner>) -> io::Result<(File, TempPath)> {
        let (file, path, named) = self.create_raw_file(inner)?;
        let ticket = register(
            inner,
            Entry::named(EntryKind::TempFile, named.name, named.id),
        )?;
        Ok((file, TempPath::new(ticket, path)))
    }

    /// Creates and registers a temp dir.
    pub(crate) fn create_dir(&self, inner: &Arc<Inner>) -> io::Result<TempDir> {
        self.check()?;
        inner.check_open()?;
        let (id, path) = self.create(inner, fsops::create_dir_at)?;
        let name = path.file_name().unwrap_or_default().to_os_string();
        let ticket = register(inner, Entry::named(EntryKind::TempDir, name, id))?;
        Ok(TempDir::new(ticket, path))
    }
}

/// Registers a freshly created entry; if the registry was closed meanwhile,
/// removes what was created (unless a purge already took it) and fails.
pub(crate) fn register(inner: &Arc<Inner>, entry: Entry) -> io::Result<Ticket> {
    match inner.register(entry) {
        Ok(id) => Ok(Ticket {
            inner: Arc::clone(inner),
            id,
        }),
        Err((err, back)) => {
            if let Some(entry) = back {
                crate::purge::clean_quietly(inner, entry);
            }
            Err(err)
        }
    }
}

impl<'a> TempOptions<'a> {
    pub(crate) fn new(registry: &'a ResourceRegistry) -> TempOptions<'a> {
        TempOptions {
            registry,
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
        self.name.rand_bytes = n;
        self
    }

    /// Creates a named temp file (mode 0600), open for reading and writing.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a prefix or suffix holding `/` or NUL; the OS error
    /// (with the session path) if the file cannot be created; the
    /// [closed](crate::is_closed_error) error on a closed registry.
    pub fn file(&self) -> io::Result<TempFile> {
        let (file, path) = self.name.create_file(&self.registry.inner)?;
        Ok(TempFile::new(path, file))
    }

    /// Creates a temp directory (mode 0700).
    ///
    /// # Errors
    ///
    /// As for [`file`](Self::file).
    pub fn dir(&self) -> io::Result<TempDir> {
        self.name.create_dir(&self.registry.inner)
    }

    /// Creates an async temp file on tokio's blocking pool.
    ///
    /// # Errors
    ///
    /// As for [`file`](Self::file).
    pub async fn file_async(&self) -> io::Result<TrackedFile> {
        TrackedFile::create_temp(&self.registry.inner, self.name.clone()).await
    }
}
