//! `tempfile::Builder`: names and options, then a temp file, directory or
//! anything a closure makes, in a registry's session directory.

use std::ffi::OsStr;
use std::fs::Permissions;
use std::io;
use std::path::Path;

use super::{env, with_registry, NamedTempFile, TempDir, TempPath};
use crate::{ResourceRegistry, TempOptions};

/// Options for a temp file or directory, as `tempfile::Builder`: prefix
/// (default `.tmp`), suffix, number of random characters (6), append mode,
/// permissions, clean-up disabled. What it makes lives in the session
/// directory of the process-wide registry of the directory it is asked for
/// (see the [module docs](super)).
#[derive(Debug, Clone, Eq, PartialEq)]
pub struct Builder<'a, 'b> {
    random_len: usize,
    prefix: &'a OsStr,
    suffix: &'b OsStr,
    append: bool,
    permissions: Option<Permissions>,
    disable_cleanup: bool,
}

impl Default for Builder<'_, '_> {
    fn default() -> Self {
        Builder {
            random_len: 6,
            prefix: OsStr::new(".tmp"),
            suffix: OsStr::new(""),
            append: false,
            permissions: None,
            disable_cleanup: false,
        }
    }
}

impl<'a, 'b> Builder<'a, 'b> {
    /// A builder with the defaults.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The start of the name (default `.tmp`). Unlike `tempfile`, a `/` or
    /// a NUL byte in it is refused (`InvalidInput` at creation; on Windows
    /// a `\\` or `:` too): a name is one path component inside the session
    /// directory.
    pub fn prefix<S: AsRef<OsStr> + ?Sized>(&mut self, prefix: &'a S) -> &mut Self {
        self.prefix = prefix.as_ref();
        self
    }

    /// The end of the name (default empty); the same rule as the prefix.
    pub fn suffix<S: AsRef<OsStr> + ?Sized>(&mut self, suffix: &'b S) -> &mut Self {
        self.suffix = suffix.as_ref();
        self
    }

    /// How many random characters go between prefix and suffix (default 6).
    pub fn rand_bytes(&mut self, rand: usize) -> &mut Self {
        self.random_len = rand;
        self
    }

    /// Opens the file in append mode (default false). Ignored by
    /// [`make`](Self::make).
    pub fn append(&mut self, append: bool) -> &mut Self {
        self.append = append;
        self
    }

    /// The permissions of the new file or directory, less the umask
    /// (default 0600 for a file, and, unlike `tempfile`'s 0777, 0700 for a
    /// directory). The session directory around it is 0700 whatever they
    /// say. Ignored by [`make`](Self::make).
    pub fn permissions(&mut self, permissions: Permissions) -> &mut Self {
        self.permissions = Some(permissions);
        self
    }

    /// Makes it with clean-up disabled: dropping the guard leaves it where
    /// it is, and no purge removes it; the session directory around it is
    /// then kept when the process ends, unless it is gone by then. Prefer
    /// `keep`, which moves it out of the session directory.
    pub fn disable_cleanup(&mut self, disable_cleanup: bool) -> &mut Self {
        self.disable_cleanup = disable_cleanup;
        self
    }

    /// Deprecated alias for [`disable_cleanup`](Self::disable_cleanup).
    #[deprecated = "Use Builder::disable_cleanup"]
    pub fn keep(&mut self, keep: bool) -> &mut Self {
        self.disable_cleanup(keep)
    }

    fn options<'r>(&self, registry: &'r ResourceRegistry) -> TempOptions<'r> {
        let mut options = registry
            .temp()
            .prefix(self.prefix)
            .suffix(self.suffix)
            .rand_bytes(self.random_len)
            .disable_cleanup(self.disable_cleanup);
        if let Some(permissions) = &self.permissions {
            options = options.permissions(permissions.clone());
        }
        options
    }

    /// A named temp file in the default directory's registry
    /// ([`env::temp_dir`]).
    ///
    /// # Errors
    ///
    /// If the registry's session directory or the file cannot be made.
    pub fn tempfile(&self) -> io::Result<NamedTempFile> {
        self.tempfile_in(env::temp_dir())
    }

    /// A named temp file in the registry of `dir`: in its session directory,
    /// one level below `dir`.
    ///
    /// # Errors
    ///
    /// If the registry's session directory or the file cannot be made.
    pub fn tempfile_in<P: AsRef<Path>>(&self, dir: P) -> io::Result<NamedTempFile> {
        with_registry(dir.as_ref(), |registry| {
            let file = self.options(registry).append(self.append).file()?;
            let (file, path) = file.into_parts();
            Ok(NamedTempFile::from_parts(file, TempPath::tracked(path)))
        })
    }

    /// A temp directory in the default directory's registry.
    ///
    /// # Errors
    ///
    /// If the registry's session directory or the directory cannot be made.
    pub fn tempdir(&self) -> io::Result<TempDir> {
        self.tempdir_in(env::temp_dir())
    }

    /// A temp directory in the registry of `dir`: in its session directory,
    /// one level below `dir`.
    ///
    /// # Errors
    ///
    /// If the registry's session directory or the directory cannot be made.
    pub fn tempdir_in<P: AsRef<Path>>(&self, dir: P) -> io::Result<TempDir> {
        with_registry(dir.as_ref(), |registry| {
            Ok(TempDir::from(self.options(registry).dir()?))
        })
    }

    /// Makes a temp path through `f`, given a fresh path in the default
    /// directory's registry (see [`make_in`](Self::make_in)).
    ///
    /// # Errors
    ///
    /// As [`make_in`](Self::make_in).
    pub fn make<F, R>(&self, f: F) -> io::Result<NamedTempFile<R>>
    where
        F: FnMut(&Path) -> io::Result<R>,
    {
        self.make_in(env::temp_dir(), f)
    }

    /// Makes a temp path through `f`, given a fresh path in the session
    /// directory of `dir`'s registry (one level below `dir`): a Unix socket,
    /// a FIFO, a file opened its own way. `AlreadyExists` or `AddrInUse`
    /// from `f` tries another name. What the name holds when `f` returns is
    /// recorded, and removed (identity-checked) with the returned guard; see
    /// [`TempOptions::make`].
    ///
    /// # Errors
    ///
    /// `f`'s own error, other than a clash; `NotFound` if `f` made nothing
    /// at the path; or if the registry's session directory cannot be made.
    pub fn make_in<F, R, P>(&self, dir: P, mut f: F) -> io::Result<NamedTempFile<R>>
    where
        F: FnMut(&Path) -> io::Result<R>,
        P: AsRef<Path>,
    {
        with_registry(dir.as_ref(), |registry| {
            let (made, path) = self.options(registry).make(&mut f)?;
            Ok(NamedTempFile::from_parts(made, TempPath::tracked(path)))
        })
    }
}
