//! Identity-checked renames, and renames that refuse to replace.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use rustix::fs::FileType;
#[cfg(not(any(target_os = "linux", target_vendor = "apple")))]
use rustix::fs::{AtFlags, Mode};

use super::{meta_at, Dir, FileId};
use crate::sys::Removal;

/// Where [`move_file`] moves to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target<'a> {
    /// A name in an open directory.
    In(&'a Dir, &'a OsStr),
    /// A path, relative to the working directory if not absolute.
    Path(&'a Path),
}

/// Renames `name` in `dir` to `to` if it still holds `id` (checked first;
/// see the module docs for the window). With `noreplace`, fails with
/// `AlreadyExists` rather than replace what is at `to`.
pub(crate) fn move_file(
    dir: &Dir,
    name: &OsStr,
    id: &FileId,
    to: Target<'_>,
    noreplace: bool,
) -> io::Result<Removal> {
    let Some(meta) = meta_at(dir.fd.as_fd(), name)? else {
        return Ok(Removal::Gone);
    };
    if !id.matches(&meta.id) {
        return Ok(Removal::Replaced);
    }
    let (to_dir, to_name): (BorrowedFd<'_>, &Path) = match to {
        Target::In(d, n) => (d.fd.as_fd(), Path::new(n)),
        Target::Path(p) => (rustix::fs::CWD, p),
    };
    if noreplace {
        rename_noreplace(dir.fd.as_fd(), name, to_dir, to_name, meta.kind)?;
    } else {
        rustix::fs::renameat(&dir.fd, name, to_dir, to_name)?;
    }
    Ok(Removal::Removed)
}

#[cfg(any(target_os = "linux", target_vendor = "apple"))]
fn rename_noreplace(
    from_dir: BorrowedFd<'_>,
    from: &OsStr,
    to_dir: BorrowedFd<'_>,
    to: &Path,
    _kind: FileType,
) -> io::Result<()> {
    use rustix::fs::RenameFlags;
    Ok(rustix::fs::renameat_with(
        from_dir,
        from,
        to_dir,
        to,
        RenameFlags::NOREPLACE,
    )?)
}

#[cfg(not(any(target_os = "linux", target_vendor = "apple")))]
fn rename_noreplace(
    from_dir: BorrowedFd<'_>,
    from: &OsStr,
    to_dir: BorrowedFd<'_>,
    to: &Path,
    kind: FileType,
) -> io::Result<()> {
    if kind == FileType::Directory {
        // Claim the name with an empty placeholder, then replace it: a
        // directory may replace an empty directory atomically.
        rustix::fs::mkdirat(to_dir, to, Mode::from_raw_mode(0o700))?;
        if let Err(e) = rustix::fs::renameat(from_dir, from, to_dir, to) {
            let _ = rustix::fs::unlinkat(to_dir, to, AtFlags::REMOVEDIR);
            return Err(e.into());
        }
        Ok(())
    } else {
        // A hard link fails if the name is taken; then the old name goes.
        rustix::fs::linkat(from_dir, from, to_dir, to, AtFlags::empty())?;
        rustix::fs::unlinkat(from_dir, from, AtFlags::empty())?;
        Ok(())
    }
}

/// Renames `from` to `to` inside `dir`, failing with `AlreadyExists` rather
/// than replace. For names nobody else can have made (session set-up).
pub(crate) fn rename_in(dir: &Dir, from: &OsStr, to: &OsStr) -> io::Result<()> {
    let kind = meta_at(dir.fd.as_fd(), from)?
        .map(|m| m.kind)
        .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
    rename_noreplace(dir.fd.as_fd(), from, dir.fd.as_fd(), Path::new(to), kind)
}
