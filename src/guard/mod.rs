//! The guards a registry hands out, one file each: [`TempFile`],
//! [`TempPath`], [`TempDir`], [`TrackedFile`], [`AnonymousFile`],
//! [`SpooledTempFile`]; the
//! [`TempOptions`] that name them; the errors that hand one back.
//!
//! Every guard holds a [`Ticket`](crate::tracking::core::Ticket) on its
//! entry and acts on it only through it (claim, act, put back on failure):
//! a guard never removes a name itself, and never keeps an entry out of the
//! table when a clean-up failed.

mod anonymous;
mod builder;
mod dir;
mod file;
mod held;
mod keep_error;
mod path;
mod spooled;
mod tracked;

pub(crate) use self::anonymous::create_in as anonymous_file_in;
pub use self::anonymous::AnonymousFile;
pub use self::builder::TempOptions;
pub use self::dir::TempDir;
pub use self::file::TempFile;
pub use self::keep_error::{DirPersistError, PathPersistError, PersistError};
pub(crate) use self::path::absolute;
pub use self::path::TempPath;
pub use self::spooled::{SpooledData, SpooledTempFile};
pub use self::tracked::TrackedFile;
