//! The platform layer: every system call the crate makes goes through here,
//! and this is the only code that names `rustix`, `libc` or `windows-sys`.
//!
//! Everything above calls a short list of verbs and never sees a `cfg`:
//!
//! | verb | what it guarantees |
//! |---|---|
//! | [`Name`] | a temp entry's name, made once in the form the calls take (NUL-terminated on Unix), so that creating, checking and unlinking it copy nothing |
//! | [`Dir::open`], [`Dir::open_child`] | a handle on a directory; a child is opened without following a symlink |
//! | [`create_file`], [`create_dir`] | a new name (`O_EXCL`, mode 0600 / 0700) and the identity of what was made, from one call |
//! | [`create_file_with`], [`create_dir_with`] | the same, with the permissions (and append mode) the caller chose; a read-only one is `Unsupported` on Windows, as in `tempfile` |
//! | [`identify`], [`reopen_file`] | what a name holds now, without following a link; a file opened again by its name only if it still is the one recorded |
//! | [`remove_file`], [`remove_dir`] | **every deletion the crate makes**: the name is removed only if it still holds the identity recorded at creation; a tree is removed without following symlinks and without crossing into another mount ([`remove_file_closing`] is `remove_file` then the close of the file's own handle, in one frame) |
//! | [`clear_dir`] | the contents of a directory we hold open, with the same rules |
//! | [`move_file`] | an identity-checked rename, optionally refusing to replace |
//! | [`list`], [`Listing`], [`measure`] | names in a directory; one listing that judges many identities; files and bytes in a tree |
//! | [`create_lock`], [`probe_lock`] | a session's lock file, made locked; another's judged without blocking |
//! | [`sync_data`] | data on stable storage |
//! | [`anonymous_file`] | a file with no name, where the system can make one |
//! | [`revoke`] | the open file behind a handle we do not own swapped for a dead one |
//! | [`watch_forks`], [`fork_generation`] | which process we are in (a fork without exec is another) |
//! | [`at_exit`] | a function run by `exit` |
//! | [`SignalListener`], [`die_by`], [`default_action_switch`], [`is_catchable_signal`], [`signal_name`] | stop requests (Unix signals; Windows console control events) heard on a thread, the default action stepped aside for and back, dying the way the request asked |
//!
//! An identity is `(st_dev, st_ino)` on Unix, with the birth time where the
//! file system records it (from the same lookup: `statx` on Linux,
//! `st_birthtime` on macOS and FreeBSD), so that an inode number reused by
//! a new file after ours was removed does not pass for ours. On Windows it
//! is the volume serial number, the file index and the creation time.
//!
//! # What the identity check cannot see
//!
//! On Unix there is no call that means "unlink this name only if it is inode
//! X": between the check and the unlink another process of the same user
//! could swap the name. Our session directory is mode 0700, so only such a
//! process (or root) can act inside it at all.
//!
//! # Invariants
//!
//! - Nothing here takes a lock of the crate or calls back into it.
//! - Errors keep the kind the system gave; callers add the path.
//! - A capability a platform lacks returns `ErrorKind::Unsupported` (or
//!   `None` where the caller has a fallback), never a silent no-op.

#[cfg_attr(unix, path = "unix/mod.rs")]
#[cfg_attr(windows, path = "windows/mod.rs")]
mod imp;

pub(crate) use self::imp::*;

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::ops::Deref;
use std::path::{Path, PathBuf};

// What a `Name` is on every system (each platform says how it is held).

impl Name {
    /// `name` as it is; `InvalidInput` if it cannot be a file name's form.
    pub(crate) fn new(name: &OsStr) -> io::Result<Name> {
        Name::build(name, b"", OsStr::new(""))
    }
}

impl Deref for Name {
    type Target = OsStr;
    fn deref(&self) -> &OsStr {
        self.as_os_str()
    }
}

impl AsRef<OsStr> for Name {
    fn as_ref(&self) -> &OsStr {
        self.as_os_str()
    }
}

impl AsRef<Path> for Name {
    fn as_ref(&self) -> &Path {
        Path::new(self.as_os_str())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_os_str().fmt(f)
    }
}

/// [`remove_file`], then closes `file` (the removed file's own handle, held
/// open through the check so that its inode cannot be reused), whatever the
/// removal came to, before returning: the check, the unlink and the close
/// in one frame, as `remove_file` is inlined here. On Unix the first return
/// after a system call to a caller from before it is slow (see `look_up` in
/// `unix/mod.rs`), and a drop that returned between its unlink and its
/// close would pay it twice.
pub(crate) fn remove_file_closing(
    dir: &Dir,
    name: &Name,
    id: &FileId,
    file: std::fs::File,
) -> io::Result<Removal> {
    let removal = remove_file(dir, name, id);
    drop(file);
    removal
}

/// The most bytes a file name may have (`NAME_MAX` on Linux, macOS and the
/// BSDs; Windows counts 255 UTF-16 units).
pub(crate) const NAME_MAX: usize = 255;

/// What an identity-checked removal found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Removal {
    /// The name held our file (or tree), and it is gone now.
    Removed,
    /// The name no longer existed: someone removed or moved it already.
    Gone,
    /// The name now holds another file or a symlink; it was left alone.
    Replaced,
}

/// What a tree removal freed, or what a tree holds: regular files and their
/// sizes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Freed {
    pub(crate) files: u64,
    pub(crate) bytes: u64,
}

/// A failure inside a tree, named by its path relative to the tree's top.
#[derive(Debug)]
struct TreeError {
    at: PathBuf,
    source: io::Error,
    more: usize,
}

impl fmt::Display for TreeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.at.display(), self.source)?;
        if self.more > 0 {
            write!(f, " (and {} more failure(s))", self.more)?;
        }
        Ok(())
    }
}

impl std::error::Error for TreeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.source()
    }
}

/// The first failure of a tree walk that goes on past failures, and how
/// many followed: one error, with the kind the system gave and the path.
#[derive(Default)]
pub(crate) struct Failures {
    first: Option<(PathBuf, io::Error)>,
    more: usize,
}

impl Failures {
    pub(crate) fn note(&mut self, at: PathBuf, e: io::Error) {
        if self.first.is_none() {
            self.first = Some((at, e));
        } else {
            self.more += 1;
        }
    }

    pub(crate) fn into_result<T>(self, ok: T) -> io::Result<T> {
        match self.first {
            None => Ok(ok),
            Some((at, source)) => Err(io::Error::new(
                source.kind(),
                TreeError {
                    at,
                    source,
                    more: self.more,
                },
            )),
        }
    }
}

/// What [`probe_lock`] found at a lock file's name.
#[derive(Debug)]
pub(crate) enum LockProbe {
    /// No such name.
    Missing,
    /// Something that is not a lock we may judge: a symlink, a FIFO, a
    /// directory, a file owned by another user. Left alone.
    NotALock(&'static str),
    /// A lock file whose lock a live process holds.
    Held(LockFile),
    /// A lock file whose lock we now hold: its owner is dead.
    Free(LockFile),
}
