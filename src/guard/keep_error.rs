//! The errors of `persist` and `keep`: what went wrong, and the guard back,
//! still tracked, so that nothing is lost (as `tempfile`'s `PersistError`).
//!
//! `Display` names the guard's path; `source()` is the error, which names
//! the operation and the other path: a chain prints each once.

use std::error::Error as StdError;
use std::fmt;
use std::io;

use super::{TempDir, TempFile, TempPath};

macro_rules! keep_error {
    ($(#[$doc:meta])* $name:ident, $field:ident: $guard:ty, $what:literal) => {
        $(#[$doc])*
        pub struct $name {
            /// What went wrong; the message names the paths.
            pub error: io::Error,
            #[doc = concat!("The ", $what, ", unchanged and still tracked (unless a purge took it, or its name no longer held it).")]
            pub $field: $guard,
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("error", &self.error)
                    .field(stringify!($field), &self.$field)
                    .finish()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!("failed to keep ", $what, " `{}`"), self.$field.path().display())
            }
        }

        impl StdError for $name {
            fn source(&self) -> Option<&(dyn StdError + 'static)> {
                // `Display` names the guard only; the cause is the error.
                Some(&self.error)
            }
        }

        impl From<$name> for io::Error {
            /// The error; the guard is dropped, which removes it, as a `?`
            /// caller of `tempfile` expects. Keep the guard from the error
            /// instead to retry.
            fn from(e: $name) -> io::Error {
                e.error
            }
        }
    };
}

keep_error!(
    /// A failed [`TempFile::persist`] or [`TempFile::keep`]: the error, and
    /// the file back.
    PersistError,
    file: TempFile,
    "temp file"
);

impl PersistError {
    /// The temp file back, to retry or to drop.
    pub fn into_file(self) -> TempFile {
        self.file
    }
}

keep_error!(
    /// A failed [`TempPath::keep`]: the error, and the path back.
    PathPersistError,
    path: TempPath,
    "temp path"
);

keep_error!(
    /// A failed [`TempDir::keep`]: the error, and the directory back.
    DirPersistError,
    dir: TempDir,
    "temp dir"
);
