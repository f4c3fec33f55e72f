//! Error values: `io::Error` with the path in the message and the kind kept.
//!
//! Every fallible call in this crate returns `std::io::Error`. Where the error
//! comes from the operating system, its [`io::ErrorKind`] is kept as it was, and
//! the message names the operation and the path, so that a log line is enough to
//! find the file. Errors that are ours (a closed registry, a replaced file) carry
//! a typed inner value that callers can recognise with [`is_closed_error`].

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// An OS error annotated with the operation and the path it was about.
#[derive(Debug)]
struct PathError {
    op: &'static str,
    path: PathBuf,
    source: io::Error,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} `{}`: {}", self.op, self.path.display(), self.source)
    }
}

impl StdError for PathError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.source)
    }
}

/// Wraps `err` so that its message names `op` and `path`; the kind is kept.
pub(crate) fn with_path(err: impl Into<io::Error>, op: &'static str, path: &Path) -> io::Error {
    let source = err.into();
    io::Error::new(
        source.kind(),
        PathError {
            op,
            path: path.to_path_buf(),
            source,
        },
    )
}

/// The error returned when a new entry is asked of a registry that was closed
/// with [`ResourceRegistry::close`](crate::ResourceRegistry::close).
///
/// It travels inside an `io::Error` of kind [`io::ErrorKind::Other`]; use
/// [`is_closed_error`] to recognise it.
#[derive(Debug, Clone)]
pub struct RegistryClosed {
    session_dir: PathBuf,
}

impl RegistryClosed {
    pub(crate) fn error(session_dir: &Path) -> io::Error {
        io::Error::other(RegistryClosed {
            session_dir: session_dir.to_path_buf(),
        })
    }

    /// The session directory of the closed registry.
    pub fn session_dir(&self) -> &Path {
        &self.session_dir
    }
}

impl fmt::Display for RegistryClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "tempreg registry for `{}` is closed: it takes no new entries",
            self.session_dir.display()
        )
    }
}

impl StdError for RegistryClosed {}

/// True if `err` says that the registry was closed (see [`RegistryClosed`]).
///
/// # Examples
///
/// ```
/// let registry = tempreg::ResourceRegistry::new()?;
/// registry.close();
/// let err = registry.temp_file().unwrap_err();
/// assert!(tempreg::is_closed_error(&err));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn is_closed_error(err: &io::Error) -> bool {
    err.get_ref()
        .is_some_and(|inner| inner.is::<RegistryClosed>())
}

/// The error for a name that no longer points at the file we created.
pub(crate) fn replaced(op: &'static str, path: &Path) -> io::Error {
    with_path(
        io::Error::other("it was replaced by another file or a symlink, so it was left alone"),
        op,
        path,
    )
}

/// The error for a guard whose entry was already taken by a purge.
pub(crate) fn purged(path: &Path) -> io::Error {
    with_path(
        io::Error::new(io::ErrorKind::NotFound, "it was already purged"),
        "use",
        path,
    )
}
