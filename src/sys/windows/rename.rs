//! Identity-checked renames, and renames that refuse to replace.

use std::ffi::OsStr;
use std::io;
use std::os::windows::ffi::OsStrExt;
use std::path::Path;

use windows_sys::Win32::Storage::FileSystem::{MoveFileExW, MOVEFILE_REPLACE_EXISTING};

use super::{meta_of, open_entry, Dir, FileId};
use crate::sys::Removal;

/// Where [`move_file`] moves to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target<'a> {
    /// A name in an open directory.
    In(&'a Dir, &'a OsStr),
    /// A path, relative to the working directory if not absolute.
    Path(&'a Path),
}

fn wide(path: &Path) -> Vec<u16> {
    path.as_os_str().encode_wide().chain(Some(0)).collect()
}

/// `MoveFileExW`: refuses to replace (`AlreadyExists`) unless `replace`.
fn move_path(from: &Path, to: &Path, replace: bool) -> io::Result<()> {
    let (from, to) = (wide(from), wide(to));
    let flags = if replace {
        MOVEFILE_REPLACE_EXISTING
    } else {
        0
    };
    // SAFETY: both are NUL-terminated UTF-16 strings that outlive the call.
    let ok = unsafe { MoveFileExW(from.as_ptr(), to.as_ptr(), flags) };
    if ok == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Renames `name` in `dir` to `to` if it still holds `id` (checked first,
/// through a handle that is closed before the rename: the window is that of
/// Unix). With `noreplace`, fails with `AlreadyExists` rather than replace.
pub(crate) fn move_file(
    dir: &Dir,
    name: &OsStr,
    id: &FileId,
    to: Target<'_>,
    noreplace: bool,
) -> io::Result<Removal> {
    let from = dir.child(name);
    {
        let Some(file) = open_entry(&from, false)? else {
            return Ok(Removal::Gone);
        };
        if !id.matches(&meta_of(&file)?.id) {
            return Ok(Removal::Replaced);
        }
    }
    let to = match to {
        Target::In(d, n) => d.child(n),
        Target::Path(p) => p.to_path_buf(),
    };
    move_path(&from, &to, !noreplace)?;
    Ok(Removal::Removed)
}

/// Renames `from` to `to` inside `dir`, failing with `AlreadyExists` rather
/// than replace. For names nobody else can have made (session set-up).
pub(crate) fn rename_in(dir: &Dir, from: &OsStr, to: &OsStr) -> io::Result<()> {
    move_path(&dir.child(from), &dir.child(to), false)
}
