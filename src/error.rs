//! Error values: `io::Error` with the path in the message and the kind kept.
//!
//! Every fallible call in this crate returns `std::io::Error` (or an error
//! that hands a guard back and converts into one). Where the error comes
//! from the operating system, its [`io::ErrorKind`] is kept as it was, and
//! the message names the operation and the path, so that a log line is
//! enough to find the file. The message includes the OS's reason, so
//! `source()` does not return it again (an error chain prints it once).
//!
//! The crate's own outcomes carry typed inner values, recognised by
//! [`is_closed_error`] (a closed registry, or a guard a purge closed) and
//! [`is_replaced_error`] (a name that no longer holds the file we made).

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
        // Our message already holds the wrapped error's; skip to its cause.
        self.source.source()
    }
}

/// Wraps `err` so that its message names `op` and `path`; the kind is kept.
/// Errors of ours that already name their path pass through unchanged.
pub(crate) fn with_path(err: impl Into<io::Error>, op: &'static str, path: &Path) -> io::Error {
    let source = err.into();
    if is_ours(&source) {
        return source;
    }
    io::Error::new(
        source.kind(),
        PathError {
            op,
            path: path.to_path_buf(),
            source,
        },
    )
}

fn is_ours(err: &io::Error) -> bool {
    err.get_ref().is_some_and(|inner| {
        inner.is::<RegistryClosed>() || inner.is::<Purged>() || inner.is::<Replaced>()
    })
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

/// A guard whose entry a purge took: its handle is closed, its path gone.
#[derive(Debug)]
struct Purged {
    op: &'static str,
    path: PathBuf,
}

impl fmt::Display for Purged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} `{}`: it was closed and cleaned up by a tempreg purge",
            self.op,
            self.path.display()
        )
    }
}

impl StdError for Purged {}

/// The error for a guard whose entry a purge already took.
pub(crate) fn purged(kind: io::ErrorKind, op: &'static str, path: &Path) -> io::Error {
    io::Error::new(
        kind,
        Purged {
            op,
            path: path.to_path_buf(),
        },
    )
}

/// A name that no longer holds the file we created.
#[derive(Debug)]
struct Replaced {
    op: &'static str,
    path: PathBuf,
}

impl fmt::Display for Replaced {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} `{}`: it was replaced by another file or a symlink, so it was left alone",
            self.op,
            self.path.display()
        )
    }
}

impl StdError for Replaced {}

/// The error for a name that no longer holds the file we created.
pub(crate) fn replaced(op: &'static str, path: &Path) -> io::Error {
    io::Error::other(Replaced {
        op,
        path: path.to_path_buf(),
    })
}

/// True if `err` says that the registry was closed (see [`RegistryClosed`]),
/// or that the guard it came from was closed by a purge: its handle's I/O,
/// `keep` and `persist` fail this way once a purge took it.
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
        .is_some_and(|inner| inner.is::<RegistryClosed>() || inner.is::<Purged>())
}

/// True if `err` says that a name no longer held the file tempreg created
/// (it was moved away and replaced, or turned into a symlink), so it was
/// left alone: the crate's promise never to delete what it did not create,
/// kept.
///
/// # Examples
///
/// ```
/// let registry = tempreg::ResourceRegistry::new()?;
/// let scratch = registry.temp_file()?;
/// let path = scratch.path().to_path_buf();
/// std::fs::remove_file(&path)?;
/// std::fs::write(&path, b"someone else's")?;
/// let err = scratch.close().unwrap_err();
/// assert!(tempreg::is_replaced_error(&err));
/// assert_eq!(std::fs::read(&path)?, b"someone else's");
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn is_replaced_error(err: &io::Error) -> bool {
    err.get_ref().is_some_and(|inner| inner.is::<Replaced>())
}
