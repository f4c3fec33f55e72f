//! Removal: a name by identity, a tree through fds on one mount, and the
//! listing a large purge judges by.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use super::{is_not_a_dir, list_fd, look_up, meta_at, meta_of, Dir, FileId, Name, DIR_FLAGS};
use crate::sys::{Failures, Freed, Removal};

/// Unlinks `name` in `dir` if it still holds the file `id` (anything but a
/// directory: a regular file, a FIFO, a socket). Inlined (into
/// `sys::remove_file_closing` above all), for the reason given at
/// [`look_up`].
#[inline(always)]
pub(crate) fn remove_file(dir: &Dir, name: &Name, id: &FileId) -> io::Result<Removal> {
    let name = name.as_c_str();
    let Some(meta) = look_up(dir.fd.as_fd(), name, false)? else {
        return Ok(Removal::Gone);
    };
    if !id.matches(&meta.id) || meta.kind == FileType::Directory {
        return Ok(Removal::Replaced);
    }
    unlink(dir.fd.as_fd(), name, AtFlags::empty())
}

#[inline(always)]
pub(super) fn unlink<P: rustix::path::Arg>(
    dir: BorrowedFd<'_>,
    name: P,
    flags: AtFlags,
) -> io::Result<Removal> {
    match rustix::fs::unlinkat(dir, name, flags) {
        Ok(()) => Ok(Removal::Removed),
        Err(Errno::NOENT) => Ok(Removal::Gone),
        Err(e) => Err(e.into()),
    }
}

/// Removes the directory `name` in `dir` with everything in it, if it is
/// still the directory `id`. Symlinks inside are unlinked, never followed;
/// a mount inside is left alone and reported (see [`clear_dir`]).
pub(crate) fn remove_dir(dir: &Dir, name: &OsStr, id: &FileId) -> io::Result<Removal> {
    let child = match dir.open_child(name) {
        Ok(child) => child,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Removal::Gone),
        Err(e) if is_not_a_dir(&e) => return Ok(Removal::Replaced),
        Err(e) => return Err(e),
    };
    if !id.matches(&child.id()?) {
        return Ok(Removal::Replaced);
    }
    clear_dir(&child, &|_| false)?;
    // The name must still be our directory right before the rmdir.
    match meta_at(dir.fd.as_fd(), name)? {
        None => Ok(Removal::Gone),
        Some(meta) if !id.matches(&meta.id) => Ok(Removal::Replaced),
        Some(_) => unlink(dir.fd.as_fd(), name, AtFlags::REMOVEDIR),
    }
}

/// Runs `op` on a name in `dir`; if it fails for lack of permission on
/// `dir` (a read-only directory, as Go's module cache leaves), gives the
/// owner write and search permission on `dir` (through its fd) and tries
/// once more.
fn with_write_access(
    dir: BorrowedFd<'_>,
    mut op: impl FnMut() -> rustix::io::Result<()>,
) -> rustix::io::Result<()> {
    match op() {
        Err(e @ (Errno::ACCESS | Errno::PERM)) => {
            let Ok(meta) = meta_of(dir) else {
                return Err(e);
            };
            // `RawMode` is `u16` on macOS and the BSDs.
            #[allow(clippy::unnecessary_cast)]
            let mode = Mode::from_raw_mode(((meta.mode | 0o700) & 0o7777) as _);
            if meta.mode & 0o300 == 0o300 || rustix::fs::fchmod(dir, mode).is_err() {
                // Not a permission bit we can change (immutable, not ours).
                return Err(e);
            }
            op()
        }
        other => other,
    }
}

/// Removes everything inside `dir` but the top-level names `skip` accepts,
/// depth first, through fds only, and returns what was freed.
///
/// - A symlink is unlinked as a name, never followed.
/// - A directory on another mount (a file system mounted inside, or a bind
///   mount) is left alone, with its contents, and reported as
///   `ResourceBusy`, as `rm --one-file-system` does.
/// - A read-only directory of ours is made writable to empty it.
/// - It goes on past failures and returns the first (with its path inside
///   the tree and a count of the others) after doing all it could.
pub(crate) fn clear_dir(dir: &Dir, skip: &dyn Fn(&OsStr) -> bool) -> io::Result<Freed> {
    struct Frame {
        fd: OwnedFd,
        at: PathBuf,
        /// Names still to visit; `true` once a subdirectory was emptied and
        /// only its rmdir is left.
        names: Vec<(OsString, bool)>,
    }
    let mut freed = Freed::default();
    let mut failures = Failures::default();
    let top = dir.fd.try_clone()?;
    let mount = meta_of(top.as_fd())?.mount;
    let names = list_fd(top.as_fd())?
        .into_iter()
        .filter(|n| !skip(n))
        .map(|n| (n, false))
        .collect();
    let mut stack = vec![Frame {
        fd: top,
        at: PathBuf::new(),
        names,
    }];
    while let Some(frame) = stack.last_mut() {
        let Some((name, emptied)) = frame.names.pop() else {
            stack.pop();
            continue;
        };
        let fd = frame.fd.as_fd();
        let at = frame.at.join(&name);
        if emptied {
            match with_write_access(fd, || rustix::fs::unlinkat(fd, &name, AtFlags::REMOVEDIR)) {
                Ok(()) | Err(Errno::NOENT) => {}
                // Something inside could not go: already reported.
                Err(Errno::NOTEMPTY) if failures.first.is_some() => {}
                Err(e) => failures.note(at, e.into()),
            }
            continue;
        }
        let meta = match meta_at(fd, &name) {
            Ok(Some(meta)) => meta,
            Ok(None) => continue,
            Err(e) => {
                failures.note(at, e);
                continue;
            }
        };
        if meta.kind == FileType::Directory {
            if meta.mount != mount {
                failures.note(
                    at,
                    io::Error::new(
                        io::ErrorKind::ResourceBusy,
                        "another file system is mounted here; it was left alone",
                    ),
                );
                continue;
            }
            let opened = rustix::fs::openat(fd, &name, DIR_FLAGS | OFlags::NOFOLLOW, Mode::empty())
                .map_err(io::Error::from)
                .and_then(|child| {
                    // Still the directory we looked at, not one swapped in.
                    let same = meta_of(child.as_fd())?.id.matches(&meta.id);
                    Ok((same, child))
                })
                .and_then(|(same, child)| Ok((same, list_fd(child.as_fd())?, child)));
            match opened {
                Ok((true, children, child)) => {
                    frame.names.push((name, true));
                    stack.push(Frame {
                        fd: child,
                        at,
                        names: children.into_iter().map(|n| (n, false)).collect(),
                    });
                }
                Ok((false, ..)) => {}
                Err(e) => failures.note(at, e),
            }
            continue;
        }
        match with_write_access(fd, || rustix::fs::unlinkat(fd, &name, AtFlags::empty())) {
            Ok(()) => {
                if meta.kind == FileType::RegularFile {
                    freed.files += 1;
                    freed.bytes += meta.size;
                }
            }
            Err(Errno::NOENT) => {}
            Err(e) => failures.note(at, e.into()),
        }
    }
    failures.into_result(freed)
}

/// Counts the regular files and their bytes in the tree under `dir` (but
/// the top-level names `skip` accepts), following nothing and staying on
/// `dir`'s mount.
pub(crate) fn measure(dir: &Dir, skip: &dyn Fn(&OsStr) -> bool) -> io::Result<Freed> {
    let mut total = Freed::default();
    let top = dir.fd.try_clone()?;
    let mount = meta_of(top.as_fd())?.mount;
    let mut stack = vec![(top, true)];
    while let Some((fd, is_top)) = stack.pop() {
        for name in list_fd(fd.as_fd())? {
            if is_top && skip(&name) {
                continue;
            }
            let Ok(Some(meta)) = meta_at(fd.as_fd(), &name) else {
                continue;
            };
            match meta.kind {
                FileType::RegularFile => {
                    total.files += 1;
                    total.bytes += meta.size;
                }
                FileType::Directory if meta.mount == mount => {
                    let flags = DIR_FLAGS | OFlags::NOFOLLOW;
                    if let Ok(child) = rustix::fs::openat(&fd, &name, flags, Mode::empty()) {
                        stack.push((child, false));
                    }
                }
                _ => {}
            }
        }
    }
    Ok(total)
}

/// One listing of a directory: each name's inode and type, so that a large
/// purge can judge identities without one lookup per name.
///
/// A listing holds no device and no birth time: it judges by inode number
/// and type within the listed directory's device. Where the identity holds a
/// birth time, [`Listing::remove_file`] defers to [`remove_file`].
#[derive(Debug)]
pub(crate) struct Listing {
    dev: u64,
    names: std::collections::HashMap<OsString, (u64, FileType)>,
}

impl Listing {
    pub(crate) fn take(dir: &Dir) -> io::Result<Listing> {
        let dev = meta_of(dir.fd.as_fd())?.id.dev;
        let mut names = std::collections::HashMap::new();
        for entry in rustix::fs::Dir::read_from(&dir.fd)? {
            let entry = entry?;
            let bytes = entry.file_name().to_bytes();
            if bytes != b"." && bytes != b".." {
                names.insert(
                    OsStr::from_bytes(bytes).to_os_string(),
                    (entry.ino(), entry.file_type()),
                );
            }
        }
        Ok(Listing { dev, names })
    }

    /// Like [`remove_file`] for a regular file, judged by the listing.
    /// `None` when the listing cannot judge (no type given, or the identity
    /// holds a birth time the listing lacks): the caller asks
    /// [`remove_file`].
    pub(crate) fn remove_file(
        &self,
        dir: &Dir,
        name: &OsStr,
        id: &FileId,
    ) -> Option<io::Result<Removal>> {
        if id.knows_birth() {
            return None;
        }
        let Some(&(ino, kind)) = self.names.get(name) else {
            return Some(Ok(Removal::Gone));
        };
        if kind == FileType::Unknown {
            return None;
        }
        if id.dev != self.dev || id.ino != ino || kind != FileType::RegularFile {
            return Some(Ok(Removal::Replaced));
        }
        Some(unlink(dir.fd.as_fd(), name, AtFlags::empty()))
    }
}
