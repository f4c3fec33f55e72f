//! Names made the caller's way: a file or directory with the permission
//! bits (and append mode) the caller chose; what a name made by someone
//! else's code, or adopted, holds now; a file opened again by its name.
//!
//! Each compares or records the same identity as the rest of the layer
//! ([`FileId`]: device, inode, type and birth time), from one lookup that
//! never follows a symlink.

use std::ffi::OsStr;
use std::fs::{File, Permissions};
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;

use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;

use super::{meta_at, meta_of, Dir, FileId};

impl FileId {
    /// True if the identity is a directory's.
    pub(crate) fn is_dir(&self) -> bool {
        self.kind == FileType::Directory
    }
}

/// The mode bits of `permissions`, or `default` (0600 for a file, 0700 for
/// a directory) when the caller chose none.
fn mode(permissions: Option<&Permissions>, default: u32) -> Mode {
    Mode::from_raw_mode(permissions.map_or(default, |p| p.mode() & 0o7777) as _)
}

/// Creates the regular file `name` in `dir` (`O_EXCL`, never through a
/// symlink) with `permissions` (less the umask, as `open` does; 0600 when
/// `None`), in append mode if asked, and returns it open for reading and
/// writing with its identity.
pub(crate) fn create_file_with(
    dir: &Dir,
    name: &OsStr,
    permissions: Option<&Permissions>,
    append: bool,
) -> io::Result<(File, FileId)> {
    let mut flags =
        OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    if append {
        flags |= OFlags::APPEND;
    }
    let fd = rustix::fs::openat(&dir.fd, name, flags, mode(permissions, 0o600))?;
    match meta_of(fd.as_fd()) {
        Ok(meta) => Ok((File::from(fd), meta.id)),
        Err(e) => {
            let _ = rustix::fs::unlinkat(&dir.fd, name, rustix::fs::AtFlags::empty());
            Err(e)
        }
    }
}

/// Creates the directory `name` in `dir` with `permissions` (less the
/// umask, as `mkdir` does; 0700 when `None`) and returns its identity.
pub(crate) fn create_dir_with(
    dir: &Dir,
    name: &OsStr,
    permissions: Option<&Permissions>,
) -> io::Result<FileId> {
    rustix::fs::mkdirat(&dir.fd, name, mode(permissions, 0o700))?;
    match meta_at(dir.fd.as_fd(), name)? {
        Some(meta) if meta.kind == FileType::Directory => Ok(meta.id),
        _ => Err(io::Error::other("the new directory was replaced at once")),
    }
}

/// The identity of what `name` in `dir` holds now, looked up without
/// following a symlink (a symlink's own identity); `None` if there is no
/// such name. For a name the caller's code made (a socket, a FIFO) or a
/// path adopted as it is: what is recorded is what is there at this call.
pub(crate) fn identify(dir: &Dir, name: &OsStr) -> io::Result<Option<FileId>> {
    Ok(meta_at(dir.fd.as_fd(), name)?.map(|meta| meta.id))
}

/// Opens the file `name` in `dir` again, for reading and writing, without
/// following a symlink and without creating it, if it still is the file
/// `id`: `None` if the name holds something else (another file, a
/// symlink). `NotFound` if the name is gone.
pub(crate) fn reopen_file(dir: &Dir, name: &OsStr, id: &FileId) -> io::Result<Option<File>> {
    let flags = OFlags::RDWR | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY;
    let fd = match rustix::fs::openat(&dir.fd, name, flags, Mode::empty()) {
        Ok(fd) => fd,
        // A symlink at the name (`O_NOFOLLOW`), or a directory.
        Err(Errno::LOOP | Errno::ISDIR) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if id.matches(&meta_of(fd.as_fd())?.id) {
        Ok(Some(File::from(fd)))
    } else {
        Ok(None)
    }
}
