//! Removal by handle: a name by identity, a tree without entering links.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::mem::size_of;
use std::os::windows::io::AsRawHandle;
use std::path::{Path, PathBuf};

use windows_sys::Win32::Foundation::{ERROR_ACCESS_DENIED, ERROR_INVALID_PARAMETER, HANDLE};
use windows_sys::Win32::Storage::FileSystem::{
    FileBasicInfo, FileDispositionInfo, FileDispositionInfoEx, SetFileInformationByHandle,
    FILE_ATTRIBUTE_NORMAL, FILE_ATTRIBUTE_READONLY, FILE_BASIC_INFO, FILE_DISPOSITION_FLAG_DELETE,
    FILE_DISPOSITION_FLAG_POSIX_SEMANTICS, FILE_DISPOSITION_INFO, FILE_DISPOSITION_INFO_EX,
};

use super::{meta_of, open_entry, Dir, FileId, Kind, Meta, Name};
use crate::sys::{Failures, Freed, Removal};

/// Sets one piece of information on an open handle.
fn set_info<T>(file: &File, class: i32, info: &T) -> io::Result<()> {
    // SAFETY: the handle is open (borrowed from `file`); `info` points to a
    // valid value of the size given, of the type the class expects.
    let ok = unsafe {
        SetFileInformationByHandle(
            file.as_raw_handle() as HANDLE,
            class,
            (info as *const T).cast(),
            size_of::<T>() as u32,
        )
    };
    if ok == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Deletes the file or empty directory behind `file` (opened with `DELETE`):
/// with POSIX semantics, so the name goes at once, where the system allows;
/// otherwise the name goes when the last handle to it closes. A read-only
/// entry loses that attribute first.
fn delete_by_handle(file: &File, meta: &Meta) -> io::Result<()> {
    let posix = FILE_DISPOSITION_INFO_EX {
        Flags: FILE_DISPOSITION_FLAG_DELETE | FILE_DISPOSITION_FLAG_POSIX_SEMANTICS,
    };
    let first = match set_info(file, FileDispositionInfoEx, &posix) {
        Ok(()) => return Ok(()),
        Err(e) => e,
    };
    let classic = FILE_DISPOSITION_INFO { DeleteFile: true };
    let refused = match first.raw_os_error().map(|c| c as u32) {
        // No POSIX semantics here (older systems, Wine): the classic way.
        Some(ERROR_INVALID_PARAMETER) => match set_info(file, FileDispositionInfo, &classic) {
            Ok(()) => return Ok(()),
            Err(e) => e,
        },
        _ => first,
    };
    if refused.raw_os_error().map(|c| c as u32) == Some(ERROR_ACCESS_DENIED)
        && meta.attributes & FILE_ATTRIBUTE_READONLY != 0
    {
        let attributes = match meta.attributes & !FILE_ATTRIBUTE_READONLY {
            0 => FILE_ATTRIBUTE_NORMAL,
            other => other,
        };
        let basic = FILE_BASIC_INFO {
            CreationTime: 0,
            LastAccessTime: 0,
            LastWriteTime: 0,
            ChangeTime: 0,
            FileAttributes: attributes,
        };
        set_info(file, FileBasicInfo, &basic)?;
        return set_info(file, FileDispositionInfoEx, &posix)
            .or_else(|_| set_info(file, FileDispositionInfo, &classic));
    }
    Err(refused)
}

/// Removes the name of the file behind `file` (opened with `DELETE`) when
/// `file` closes, with POSIX semantics: other handles to it go on working,
/// on a file with no name. `Err` where the system has no POSIX semantics
/// (Wine, FAT): nothing was done.
pub(super) fn unlink_when_closed(file: &File) -> io::Result<()> {
    let posix = FILE_DISPOSITION_INFO_EX {
        Flags: FILE_DISPOSITION_FLAG_DELETE | FILE_DISPOSITION_FLAG_POSIX_SEMANTICS,
    };
    set_info(file, FileDispositionInfoEx, &posix)
}

/// Deletes `path` if it still holds `id`. A file that someone holds open
/// without delete sharing cannot be opened for deletion: if it is not ours
/// (looked at through a handle for its attributes only, which sharing does
/// not refuse), it is `Replaced`; if it is, the sharing violation stands
/// (the entry stays tracked, to be retried).
fn remove_if(path: &Path, id: &FileId) -> io::Result<Removal> {
    /// `ERROR_SHARING_VIOLATION`.
    const SHARING_VIOLATION: i32 = 32;
    let file = match open_entry(path, true) {
        Err(e) if e.raw_os_error() == Some(SHARING_VIOLATION) => {
            return match open_entry(path, false)? {
                None => Ok(Removal::Gone),
                Some(file) if !id.matches(&meta_of(&file)?.id) => Ok(Removal::Replaced),
                Some(_) => Err(e),
            };
        }
        opened => opened?,
    };
    let Some(file) = file else {
        return Ok(Removal::Gone);
    };
    let meta = meta_of(&file)?;
    if !id.matches(&meta.id) {
        return Ok(Removal::Replaced);
    }
    delete_by_handle(&file, &meta)?;
    Ok(Removal::Removed)
}

/// Deletes `name` in `dir` if it still holds the file `id` (anything but a
/// directory), through the handle its identity was read from.
pub(crate) fn remove_file(dir: &Dir, name: &Name, id: &FileId) -> io::Result<Removal> {
    if id.kind == Kind::Dir {
        return Ok(Removal::Replaced);
    }
    remove_if(&dir.child(name), id)
}

/// Removes the directory `name` in `dir` with everything in it, if it is
/// still the directory `id`; links inside are deleted as links.
pub(crate) fn remove_dir(dir: &Dir, name: &OsStr, id: &FileId) -> io::Result<Removal> {
    let child = match dir.open_child(name) {
        Ok(child) => child,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Removal::Gone),
        Err(e) if super::is_not_a_dir(&e) => return Ok(Removal::Replaced),
        Err(e) => return Err(e),
    };
    if !id.matches(&child.id()?) {
        return Ok(Removal::Replaced);
    }
    clear_dir(&child, &|_| false)?;
    drop(child);
    remove_if(&dir.child(name), id)
}

/// Removes everything inside `dir` but the top-level names `skip` accepts,
/// depth first, and returns what was freed. Links (symlinks, junctions,
/// volume mount points) are deleted as links, never entered, so nothing
/// outside the tree, and no other volume, is touched. Goes on past failures
/// and returns the first, with its path inside the tree.
pub(crate) fn clear_dir(dir: &Dir, skip: &dyn Fn(&OsStr) -> bool) -> io::Result<Freed> {
    let mut freed = Freed::default();
    let mut failures = Failures::default();
    // (path, relative path, emptied): a directory comes back once emptied.
    let mut stack: Vec<(PathBuf, PathBuf, bool)> = Vec::new();
    for entry in std::fs::read_dir(&dir.path)? {
        let name = entry?.file_name();
        if !skip(&name) {
            stack.push((dir.child(&name), PathBuf::from(&name), false));
        }
    }
    while let Some((path, at, emptied)) = stack.pop() {
        let file = match open_entry(&path, true) {
            Ok(Some(file)) => file,
            Ok(None) => continue,
            Err(e) => {
                failures.note(at, e);
                continue;
            }
        };
        let meta = match meta_of(&file) {
            Ok(meta) => meta,
            Err(e) => {
                failures.note(at, e);
                continue;
            }
        };
        if meta.id.kind == Kind::Dir && !emptied {
            // Listed without our handle, which has `DELETE` access: Wine
            // opens a directory to list it without sharing deletion, and
            // that open fails (a sharing violation) while the handle is
            // open. The directory is opened again to be deleted, once empty.
            drop(file);
            match std::fs::read_dir(&path) {
                Ok(entries) => {
                    stack.push((path.clone(), at.clone(), true));
                    for entry in entries.flatten() {
                        let name = entry.file_name();
                        stack.push((path.join(&name), at.join(&name), false));
                    }
                }
                Err(e) => failures.note(at, e),
            }
            continue;
        }
        match delete_by_handle(&file, &meta) {
            Ok(()) => {
                if meta.id.kind == Kind::File {
                    freed.files += 1;
                    freed.bytes += meta.size;
                }
            }
            Err(e) => failures.note(at, e),
        }
    }
    failures.into_result(freed)
}

/// Counts the regular files and their bytes in the tree under `dir` (but
/// the top-level names `skip` accepts), entering no link.
pub(crate) fn measure(dir: &Dir, skip: &dyn Fn(&OsStr) -> bool) -> io::Result<Freed> {
    let mut total = Freed::default();
    let mut stack = vec![(dir.path.clone(), true)];
    while let Some((path, is_top)) = stack.pop() {
        for entry in std::fs::read_dir(&path)?.flatten() {
            let name = entry.file_name();
            if is_top && skip(&name) {
                continue;
            }
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            if meta.file_type().is_symlink() {
                continue;
            }
            if meta.is_dir() {
                stack.push((path.join(&name), false));
            } else if meta.is_file() {
                total.files += 1;
                total.bytes += meta.len();
            }
        }
    }
    Ok(total)
}

/// Judging many identities from one listing is a Unix optimisation; here
/// every name is opened (which is how it is deleted anyway).
#[derive(Debug)]
pub(crate) struct Listing;

impl Listing {
    pub(crate) fn take(_dir: &Dir) -> io::Result<Listing> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "no directory listing with identities on Windows",
        ))
    }

    pub(crate) fn remove_file(
        &self,
        _dir: &Dir,
        _name: &OsStr,
        _id: &FileId,
    ) -> Option<io::Result<Removal>> {
        None
    }
}
