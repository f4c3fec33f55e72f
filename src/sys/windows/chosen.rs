//! Names made the caller's way: a file or directory with the permissions
//! (and append mode) the caller chose; what a name made by someone else's
//! code, or adopted, holds now; a file opened again by its name.
//!
//! Windows permissions carry one bit, read-only. As `tempfile` does, a
//! read-only file or directory cannot be asked for at creation
//! (`Unsupported`): it could not be written, and a later purge would have
//! to clear the attribute first. Any other `Permissions` is accepted and
//! changes nothing.

use std::ffi::OsStr;
use std::fs::{File, OpenOptions, Permissions};
use std::io;
use std::os::windows::fs::OpenOptionsExt;

use windows_sys::Win32::Storage::FileSystem::FILE_FLAG_OPEN_REPARSE_POINT;

use super::{create_dir, meta_of, open_entry, open_new, Dir, FileId, Kind, SHARE_ALL};

impl FileId {
    /// True if the identity is a directory's.
    pub(crate) fn is_dir(&self) -> bool {
        self.kind == Kind::Dir
    }
}

fn refuse_read_only(permissions: Option<&Permissions>) -> io::Result<()> {
    if permissions.is_some_and(Permissions::readonly) {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "a read-only temporary file or directory cannot be made on Windows",
        ));
    }
    Ok(())
}

/// Creates the file `name` in `dir` (it must not exist), in append mode if
/// asked, and returns it open for reading and writing with its identity.
pub(crate) fn create_file_with(
    dir: &Dir,
    name: &OsStr,
    permissions: Option<&Permissions>,
    append: bool,
) -> io::Result<(File, FileId)> {
    refuse_read_only(permissions)?;
    let path = dir.child(name);
    let file = open_new(&path, append)?;
    match meta_of(&file) {
        Ok(meta) => Ok((file, meta.id)),
        Err(e) => {
            drop(file);
            let _ = std::fs::remove_file(&path);
            Err(e)
        }
    }
}

/// Creates the directory `name` in `dir` and returns its identity.
pub(crate) fn create_dir_with(
    dir: &Dir,
    name: &OsStr,
    permissions: Option<&Permissions>,
) -> io::Result<FileId> {
    refuse_read_only(permissions)?;
    create_dir(dir, name)
}

/// The identity of what `name` in `dir` holds now, looked up without
/// following a reparse point (a link's own identity); `None` if there is no
/// such name.
pub(crate) fn identify(dir: &Dir, name: &OsStr) -> io::Result<Option<FileId>> {
    match open_entry(&dir.child(name), false)? {
        Some(handle) => Ok(Some(meta_of(&handle)?.id)),
        None => Ok(None),
    }
}

/// Opens the file `name` in `dir` again, for reading and writing, without
/// following a reparse point and without creating it, if it still is the
/// file `id`: `None` if the name holds something else. `NotFound` if the
/// name is gone.
pub(crate) fn reopen_file(dir: &Dir, name: &OsStr, id: &FileId) -> io::Result<Option<File>> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .share_mode(SHARE_ALL)
        .custom_flags(FILE_FLAG_OPEN_REPARSE_POINT)
        .open(dir.child(name));
    let file = match file {
        Ok(file) => file,
        // A directory at the name.
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied && id.kind == Kind::File => {
            return match identify(dir, name)? {
                Some(found) if !found.matches(id) => Ok(None),
                _ => Err(e),
            };
        }
        Err(e) => return Err(e),
    };
    if id.matches(&meta_of(&file)?.id) {
        Ok(Some(file))
    } else {
        Ok(None)
    }
}
