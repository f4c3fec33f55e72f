//! Identity-checked, fd-relative file-system operations.
//!
//! This module owns every deletion the crate makes. It never deletes by an
//! absolute path: each name is resolved relative to an open directory fd, with
//! symlinks never followed.
//!
//! # Invariants
//!
//! - A name is unlinked only after `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`
//!   returned the `(st_dev, st_ino)` recorded when we created it, and the file
//!   type we created. A name that now holds another file or a symlink is left
//!   alone and reported as [`Removal::Replaced`].
//! - A directory tree is removed through fds opened with `O_NOFOLLOW |
//!   O_DIRECTORY`, so a symlink inside it is unlinked as a name and never
//!   followed out of the tree.
//! - Nothing here takes a lock or touches the registry: callers hold no map
//!   shard while calling in.
//!
//! - A purge of many temp files may check identity against one listing of
//!   the session directory (`getdents64`: name, inode, type) taken after
//!   the entries were claimed, instead of one `fstatat` per name
//!   ([`DirSnapshot`]). The check is the same (inode, regular file, and the
//!   directory's device, since a listing holds only names in it); the window
//!   between check and unlink is the purge's length instead of two syscalls.
//!
//! # What the check cannot see
//!
//! Between the identity check and the unlink, another process of the same user
//! could swap the name. Our session directory is mode 0700, so only such a
//! process (or root) can act inside it at all. Where the guard keeps the file
//! open, the inode cannot be freed and its number cannot be reused; a guard
//! without an fd ([`TempPath`](crate::TempPath)) does not pin it.

use std::ffi::{CStr, OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags, RenameFlags, Stat};
use rustix::io::Errno;

/// The identity of a file: `(st_dev, st_ino)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct FileId {
    pub(crate) dev: u64,
    pub(crate) ino: u64,
}

impl FileId {
    pub(crate) fn of_stat(st: &Stat) -> FileId {
        FileId {
            dev: st.st_dev,
            ino: st.st_ino,
        }
    }

    /// The identity of the file behind an open fd.
    pub(crate) fn of_fd(fd: impl AsFd) -> io::Result<FileId> {
        Ok(FileId::of_stat(&rustix::fs::fstat(fd)?))
    }
}

/// What a checked removal found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Removal {
    /// The name held our file and it was removed.
    Removed,
    /// The name no longer existed: someone removed or moved it already.
    Gone,
    /// The name now holds another file or a symlink; it was left alone.
    Replaced,
}

/// What was freed by a tree removal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Freed {
    pub(crate) files: u64,
    pub(crate) bytes: u64,
}

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// Opens the directory `name` relative to `dir`, never following a symlink.
pub(crate) fn open_dir_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat(dir, name, DIR_FLAGS, Mode::empty())?)
}

/// Opens a directory by path (for roots given by the user); follows symlinks
/// in the path, as a user naming a root expects.
pub(crate) fn open_dir(path: &std::path::Path) -> io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    Ok(rustix::fs::openat(
        rustix::fs::CWD,
        path,
        flags,
        Mode::empty(),
    )?)
}

/// Creates a new regular file `name` in `dir` with `O_EXCL` and mode 0600.
pub(crate) fn create_file_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<OwnedFd> {
    let flags = OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    Ok(rustix::fs::openat(
        dir,
        name,
        flags,
        Mode::from_raw_mode(0o600),
    )?)
}

/// Creates a new directory `name` in `dir` with mode 0700 and returns its identity.
pub(crate) fn create_dir_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<FileId> {
    rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(0o700))?;
    let st = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
    Ok(FileId::of_stat(&st))
}

/// Renames `from` in `from_dir` to `to` in `to_dir`; with `noreplace`, fails
/// with `AlreadyExists` rather than replace an existing `to`.
pub(crate) fn rename_at(
    from_dir: BorrowedFd<'_>,
    from: &OsStr,
    to_dir: BorrowedFd<'_>,
    to: &std::path::Path,
    noreplace: bool,
) -> io::Result<()> {
    let flags = if noreplace {
        RenameFlags::NOREPLACE
    } else {
        RenameFlags::empty()
    };
    Ok(rustix::fs::renameat_with(
        from_dir, from, to_dir, to, flags,
    )?)
}

/// Looks `name` up in `dir` without following symlinks; `None` if it is gone.
fn lookup(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<Option<Stat>> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Unlinks the regular file `name` in `dir` if it is still the file `id`.
pub(crate) fn remove_file_at(dir: BorrowedFd<'_>, name: &OsStr, id: FileId) -> io::Result<Removal> {
    let Some(st) = lookup(dir, name)? else {
        return Ok(Removal::Gone);
    };
    if FileId::of_stat(&st) != id || FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Ok(Removal::Replaced);
    }
    match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) => Ok(Removal::Removed),
        Err(Errno::NOENT) => Ok(Removal::Gone),
        Err(e) => Err(e.into()),
    }
}

/// Removes the directory `name` in `dir` and everything in it, if it is still
/// the directory `id`. Symlinks inside are unlinked, never followed.
pub(crate) fn remove_dir_at(dir: BorrowedFd<'_>, name: &OsStr, id: FileId) -> io::Result<Removal> {
    let fd = match open_dir_at(dir, name) {
        Ok(fd) => fd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Removal::Gone),
        // ELOOP: a symlink; ENOTDIR: a file. Neither is our directory.
        Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP) | Some(libc::ENOTDIR)) => {
            return Ok(Removal::Replaced)
        }
        Err(e) => return Err(e),
    };
    if FileId::of_fd(&fd)? != id {
        return Ok(Removal::Replaced);
    }
    remove_contents(fd, None)?;
    // Check again right before the rmdir: the name must still be our directory.
    match lookup(dir, name)? {
        None => return Ok(Removal::Gone),
        Some(st) if FileId::of_stat(&st) != id => return Ok(Removal::Replaced),
        Some(_) => {}
    }
    match rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR) {
        Ok(()) => Ok(Removal::Removed),
        Err(Errno::NOENT) => Ok(Removal::Gone),
        Err(e) => Err(e.into()),
    }
}

/// Removes everything inside the directory open as `top`, depth first,
/// through fds only. With `skip`, the top-level names it accepts are kept.
///
/// Returns what was freed (regular files and their sizes). Continues past
/// errors and returns the first one after doing all it could.
pub(crate) fn remove_contents(
    top: OwnedFd,
    skip: Option<&dyn Fn(&OsStr) -> bool>,
) -> io::Result<Freed> {
    let mut freed = Freed::default();
    let mut first_err: Option<io::Error> = None;
    let note = |e: io::Error, first: &mut Option<io::Error>| {
        if first.is_none() {
            *first = Some(e);
        }
    };
    // Each frame: the open directory and the names still to visit in it. A
    // name is pushed back after its subdirectory is emptied, to be rmdir'ed.
    struct Frame {
        fd: OwnedFd,
        names: Vec<(OsString, bool)>,
    }
    let names = list(&top)?
        .into_iter()
        .filter(|name| skip.is_none_or(|skip| !skip(name)))
        .map(|n| (n, false))
        .collect();
    let mut stack = vec![Frame { fd: top, names }];
    while let Some(frame) = stack.last_mut() {
        let Some((name, emptied)) = frame.names.pop() else {
            stack.pop();
            continue;
        };
        let dir = frame.fd.as_fd();
        if emptied {
            if let Err(e) = rustix::fs::unlinkat(dir, &name, AtFlags::REMOVEDIR) {
                if e != Errno::NOENT {
                    note(e.into(), &mut first_err);
                }
            }
            continue;
        }
        let st = match lookup(dir, &name) {
            Ok(Some(st)) => st,
            Ok(None) => continue,
            Err(e) => {
                note(e, &mut first_err);
                continue;
            }
        };
        if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
            match open_dir_at(dir, &name).and_then(|fd| Ok((list(&fd)?, fd))) {
                Ok((children, fd)) => {
                    frame.names.push((name, true));
                    stack.push(Frame {
                        fd,
                        names: children.into_iter().map(|n| (n, false)).collect(),
                    });
                }
                Err(e) => note(e, &mut first_err),
            }
            continue;
        }
        match rustix::fs::unlinkat(dir, &name, AtFlags::empty()) {
            Ok(()) => {
                if FileType::from_raw_mode(st.st_mode) == FileType::RegularFile {
                    freed.files += 1;
                    freed.bytes += st.st_size as u64;
                }
            }
            Err(Errno::NOENT) => {}
            Err(e) => note(e.into(), &mut first_err),
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(freed),
    }
}

/// One listing of a directory: each name's inode and type. Lets a large purge
/// check identities without one `fstatat` per name.
#[derive(Debug)]
pub(crate) struct DirSnapshot {
    dev: u64,
    names: std::collections::HashMap<OsString, (u64, FileType)>,
}

impl DirSnapshot {
    pub(crate) fn take(dir: BorrowedFd<'_>) -> io::Result<DirSnapshot> {
        let dev = rustix::fs::fstat(dir)?.st_dev;
        let mut names = std::collections::HashMap::new();
        for entry in Dir::read_from(dir)? {
            let entry = entry?;
            let bytes = entry.file_name().to_bytes();
            if bytes == b"." || bytes == b".." {
                continue;
            }
            names.insert(
                OsStr::from_bytes(bytes).to_os_string(),
                (entry.ino(), entry.file_type()),
            );
        }
        Ok(DirSnapshot { dev, names })
    }

    /// Like [`remove_file_at`], judging identity by the listing. `None` when
    /// the listing cannot tell (the file system gave no type): then the
    /// caller checks with `fstatat`.
    pub(crate) fn remove_file_at(
        &self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        id: FileId,
    ) -> Option<io::Result<Removal>> {
        let Some(&(ino, file_type)) = self.names.get(name) else {
            return Some(Ok(Removal::Gone));
        };
        if file_type == FileType::Unknown {
            return None;
        }
        if id.dev != self.dev || id.ino != ino || file_type != FileType::RegularFile {
            return Some(Ok(Removal::Replaced));
        }
        Some(match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
            Ok(()) => Ok(Removal::Removed),
            Err(Errno::NOENT) => Ok(Removal::Gone),
            Err(e) => Err(e.into()),
        })
    }
}

/// The names in a directory, without `.` and `..`.
pub(crate) fn list(dir: &OwnedFd) -> io::Result<Vec<OsString>> {
    let mut names = Vec::new();
    for entry in Dir::read_from(dir)? {
        let entry = entry?;
        let name: &CStr = entry.file_name();
        let bytes = name.to_bytes();
        if bytes == b"." || bytes == b".." {
            continue;
        }
        names.push(OsStr::from_bytes(bytes).to_os_string());
    }
    Ok(names)
}
