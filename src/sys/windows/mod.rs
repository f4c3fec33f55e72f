//! Windows: handles through `std` (`OpenOptionsExt` for the share modes and
//! flags), `windows-sys` for what `std` does not do (file identities,
//! deletion and locks by handle, console control events).
//!
//! - **Identity**: volume serial number, file index, creation time and kind,
//!   from one `GetFileInformationByHandle` on a handle opened without
//!   following a reparse point (`FILE_FLAG_OPEN_REPARSE_POINT`). Under Wine
//!   the creation time is left out: Wine on Linux reports a time that moves
//!   with the file (see [`creation_time_identifies`]).
//! - **Deletion by handle**: a name is opened, its identity compared, and
//!   the file deleted through that same handle (`FileDispositionInfoEx` with
//!   POSIX semantics, so the name goes at once; `FileDispositionInfo` where
//!   the system refuses that, as Wine does: the name then goes when the last
//!   handle closes). There is no window between check and deletion at all,
//!   which Unix cannot offer.
//! - **Trees**: directories are walked by path (`std::fs::read_dir`), each
//!   entry opened without following reparse points: a symlink, a junction
//!   or a volume mount point is deleted as a link, never entered, so a
//!   removal never leaves the tree nor crosses into another volume.
//!   Read-only files and directories of ours lose the read-only attribute
//!   to be deleted.
//! - **Locks**: `LockFileEx` on one byte far past the end of the lock file
//!   (so the note in it stays readable and writable), shared for holders,
//!   exclusive for a sweeper; the system releases a lock when its handle
//!   closes, however the process ended. Files are opened with
//!   `FILE_SHARE_DELETE`, so a live file can be renamed and deleted.
//! - **Anonymous files**: `FILE_FLAG_DELETE_ON_CLOSE`: a name in the session
//!   directory while open, gone when the handle closes, even if the process
//!   is killed.
//! - **Not available**: revoking a sync handle (a purge deletes the file and
//!   marks the guard closed, but the handle stays open until the guard
//!   drops), fork generations (no fork), a listing that judges many
//!   identities at once, and owners of sessions (`%TEMP%` is per user;
//!   every session there is judged).
//!
//! Files: this one (identities, directories, creating), [`chosen`]
//! (files and directories made the caller's way, names identified), [`tree`] (every
//! removal), [`rename`], [`lock`] (session locks), [`process`] (open files,
//! `atexit`), [`signals`] (console control events).

use std::ffi::{OsStr, OsString};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::windows::fs::OpenOptionsExt;
use std::os::windows::io::AsRawHandle;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use windows_sys::Win32::Foundation::HANDLE;
use windows_sys::Win32::Storage::FileSystem::{
    GetFileInformationByHandle, BY_HANDLE_FILE_INFORMATION, DELETE, FILE_ATTRIBUTE_DIRECTORY,
    FILE_ATTRIBUTE_REPARSE_POINT, FILE_FLAG_BACKUP_SEMANTICS, FILE_FLAG_OPEN_REPARSE_POINT,
    FILE_READ_ATTRIBUTES, FILE_SHARE_DELETE, FILE_SHARE_READ, FILE_SHARE_WRITE,
    FILE_WRITE_ATTRIBUTES,
};

mod chosen;
mod lock;
mod process;
mod rename;
mod signals;
mod tree;

pub(crate) use self::chosen::{create_dir_with, create_file_with, identify, reopen_file};
pub(crate) use self::lock::{age_of, create_lock, open_again, probe_lock, remove_lock, LockFile};
pub(crate) use self::process::{
    at_exit, duplicate, fork_generation, revoke, sync_data, watch_forks, RawFile,
};
pub(crate) use self::rename::{move_file, rename_in, Target};
pub(crate) use self::signals::{
    default_action_switch, die_by, is_catchable_signal, signal_name, SignalCloser, SignalListener,
    CLEANUP_SIGNALS, STOP_SIGNALS,
};
pub(crate) use self::tree::{clear_dir, measure, remove_dir, remove_file, Listing};

/// A handle a child process inherits (marked inheritable).
pub(crate) type Inheritable = std::os::windows::io::OwnedHandle;

/// The environment variables that name a program's temp directory:
/// `TMP` and `TEMP` are what `GetTempPath` reads (Rust's `env::temp_dir`
/// included); `TMPDIR` for programs ported from Unix.
pub(crate) const TEMP_DIR_VARS: &[&str] = &["TMPDIR", "TMP", "TEMP"];

/// The bytes a part of a file name may not hold, and how a message names
/// them: both separators, `:` (a drive, `C:name` being relative to drive
/// C's working directory, or a stream of a file, `name:stream`) and NUL.
pub(crate) const NOT_IN_A_NAME: (&[u8], &str) = (b"/\\:\0", "`/`, `\\`, `:` or a NUL byte");

/// Every sharing mode: others may read, write, rename and delete what we
/// hold open.
const SHARE_ALL: u32 = FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE;

/// What an entry is, for the identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
    /// A symlink, a junction, a mount point: never entered.
    Link,
}

/// The identity of a file: volume, file index, kind and creation time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FileId {
    volume: u32,
    index: u64,
    /// 100 ns ticks since 1601; 0 if unknown.
    born: u64,
    kind: Kind,
}

impl FileId {
    /// True if `found` is the file this identity was recorded for.
    pub(crate) fn matches(&self, found: &FileId) -> bool {
        self.volume == found.volume
            && self.index == found.index
            && self.kind == found.kind
            && (self.born == 0 || found.born == 0 || self.born == found.born)
    }
}

/// True if a file's creation time stays what it was when the file was
/// made, so that it tells a file from a later one that got the same file
/// index: on Windows. Not under Wine, which has no creation time on Linux
/// and reports one that moves with the file (measured with Wine 8.0 on
/// ext4: a directory's changed when a file was added to it, a file's when
/// it was written); there the identity is volume, index and kind, as on a
/// Linux file system that records no birth time.
fn creation_time_identifies() -> bool {
    static STABLE: OnceLock<bool> = OnceLock::new();
    *STABLE.get_or_init(|| !is_wine())
}

/// True under Wine: its `ntdll` exports `wine_get_version`, Windows' does not.
fn is_wine() -> bool {
    use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleW, GetProcAddress};
    let ntdll: Vec<u16> = "ntdll.dll\0".encode_utf16().collect();
    // SAFETY: `ntdll` is a NUL-terminated UTF-16 string that outlives the
    // call; ntdll is loaded in every process, and the module handle is not
    // reference-counted (nothing to release).
    let module = unsafe { GetModuleHandleW(ntdll.as_ptr()) };
    if module.is_null() {
        return false;
    }
    // SAFETY: `module` is a loaded module and the name a NUL-terminated
    // ANSI string; the address found is only compared, never called.
    unsafe { GetProcAddress(module, c"wine_get_version".as_ptr().cast()) }.is_some()
}

/// What one lookup says about an open handle.
#[derive(Debug, Clone, Copy)]
struct Meta {
    id: FileId,
    size: u64,
    attributes: u32,
}

fn meta_of(file: &File) -> io::Result<Meta> {
    let mut info = BY_HANDLE_FILE_INFORMATION::default();
    // SAFETY: the handle is open for the call (borrowed from `file`), and
    // `info` is a valid, writable out-parameter of the right size.
    let ok = unsafe { GetFileInformationByHandle(file.as_raw_handle() as HANDLE, &mut info) };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    let attributes = info.dwFileAttributes;
    let kind = if attributes & FILE_ATTRIBUTE_REPARSE_POINT != 0 {
        Kind::Link
    } else if attributes & FILE_ATTRIBUTE_DIRECTORY != 0 {
        Kind::Dir
    } else {
        Kind::File
    };
    let born = if creation_time_identifies() {
        (u64::from(info.ftCreationTime.dwHighDateTime) << 32)
            | u64::from(info.ftCreationTime.dwLowDateTime)
    } else {
        0
    };
    Ok(Meta {
        id: FileId {
            volume: info.dwVolumeSerialNumber,
            index: (u64::from(info.nFileIndexHigh) << 32) | u64::from(info.nFileIndexLow),
            born,
            kind,
        },
        size: (u64::from(info.nFileSizeHigh) << 32) | u64::from(info.nFileSizeLow),
        attributes,
    })
}

/// Opens `path` to look at it and, with `delete`, to delete it, never
/// following a reparse point; a directory too. `None` if there is no such
/// name.
fn open_entry(path: &Path, delete: bool) -> io::Result<Option<File>> {
    let mut access = FILE_READ_ATTRIBUTES | FILE_WRITE_ATTRIBUTES;
    if delete {
        access |= DELETE;
    }
    let opened = OpenOptions::new()
        .access_mode(access)
        .share_mode(SHARE_ALL)
        .custom_flags(FILE_FLAG_OPEN_REPARSE_POINT | FILE_FLAG_BACKUP_SEMANTICS)
        .open(path);
    match opened {
        Ok(file) => Ok(Some(file)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

// ---------------------------------------------------------------------------
// Directories

/// An open directory: its path (Windows works by path) and a handle that
/// keeps it from being replaced while we hold it.
#[derive(Debug)]
pub(crate) struct Dir {
    path: PathBuf,
    handle: File,
}

impl Dir {
    /// Opens a directory named by the user (a root).
    pub(crate) fn open(path: &Path) -> io::Result<Dir> {
        let handle = OpenOptions::new()
            .access_mode(FILE_READ_ATTRIBUTES)
            .share_mode(SHARE_ALL)
            .custom_flags(FILE_FLAG_BACKUP_SEMANTICS)
            .open(path)?;
        if meta_of(&handle)?.attributes & FILE_ATTRIBUTE_DIRECTORY == 0 {
            return Err(io::Error::from(io::ErrorKind::NotADirectory));
        }
        Ok(Dir {
            path: path.to_path_buf(),
            handle,
        })
    }

    /// Opens the directory `name` inside this one, never following a reparse
    /// point (a link is `NotADirectory`, like a file).
    pub(crate) fn open_child(&self, name: &OsStr) -> io::Result<Dir> {
        let path = self.path.join(name);
        let handle =
            open_entry(&path, false)?.ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        if meta_of(&handle)?.id.kind != Kind::Dir {
            return Err(io::Error::from(io::ErrorKind::NotADirectory));
        }
        Ok(Dir { path, handle })
    }

    /// Tells the handle that the directory was renamed to `name` in
    /// `parent`: the handle follows it, the path we work by must too.
    pub(crate) fn renamed(&mut self, parent: &Dir, name: &OsStr) {
        self.path = parent.child(name);
    }

    /// The identity of this directory.
    pub(crate) fn id(&self) -> io::Result<FileId> {
        Ok(meta_of(&self.handle)?.id)
    }

    /// Windows keeps each user's temp directory apart: every session found
    /// is judged as this user's.
    pub(crate) fn is_ours(&self) -> io::Result<bool> {
        Ok(true)
    }

    /// As [`is_ours`](Self::is_ours), for a name in this directory.
    pub(crate) fn child_is_ours(&self, name: &OsStr) -> io::Result<Option<bool>> {
        Ok(std::fs::symlink_metadata(self.path.join(name))
            .ok()
            .map(|_| true))
    }

    fn child(&self, name: &OsStr) -> PathBuf {
        self.path.join(name)
    }
}

/// True for the errors [`Dir::open_child`] gives for a link or something
/// that is not a directory.
pub(crate) fn is_not_a_dir(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotADirectory
}

/// The names in `dir`, without `.` and `..`.
pub(crate) fn list(dir: &Dir) -> io::Result<Vec<OsString>> {
    std::fs::read_dir(&dir.path)?
        .map(|entry| entry.map(|e| e.file_name()))
        .collect()
}

// ---------------------------------------------------------------------------
// Creating

/// Removes the name `path` of the anonymous file `file` now, if the system
/// has POSIX semantics (Windows 10 1709 and later, on NTFS): a POSIX delete
/// takes the name away when the handle that asked for it closes, so it is
/// asked through a second handle, checked to be the same file, and closed
/// here; `file` goes on working. Without them (Wine, FAT) nothing changes:
/// the name goes with `file` (`FILE_FLAG_DELETE_ON_CLOSE`). Untested on
/// Windows itself so far: the suite runs under Wine.
fn drop_name(file: &File, path: &Path) {
    let Ok(Some(second)) = open_entry(path, true) else {
        return;
    };
    let same = match (meta_of(file), meta_of(&second)) {
        (Ok(ours), Ok(found)) => ours.id.matches(&found.id),
        _ => false,
    };
    if same {
        let _ = tree::unlink_when_closed(&second);
    }
}

/// A temp entry's file name, made once (the Unix layer keeps it
/// NUL-terminated for its calls; here it is the name as it is). Derefs to
/// the name.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct Name(Box<OsStr>);

impl Name {
    /// `prefix`, then `middle` (ASCII), then `suffix`, in one allocation.
    /// `InvalidInput` if `middle` is not ASCII.
    pub(crate) fn build(prefix: &OsStr, middle: &[u8], suffix: &OsStr) -> io::Result<Name> {
        let middle = std::str::from_utf8(middle)
            .ok()
            .filter(|m| m.is_ascii())
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "a name part is not ASCII")
            })?;
        let mut name = OsString::with_capacity(prefix.len() + middle.len() + suffix.len());
        name.push(prefix);
        name.push(middle);
        name.push(suffix);
        Ok(Name(name.into_boxed_os_str()))
    }

    pub(crate) fn as_os_str(&self) -> &OsStr {
        &self.0
    }
}

/// Creates the file `name` in `dir` (it must not exist) and returns it open
/// for reading and writing, with its identity.
pub(crate) fn create_file(dir: &Dir, name: &Name) -> io::Result<(File, FileId)> {
    chosen::create_file_with(dir, name, None, false)
}

/// Opens a new file at `path` (it must not exist) for reading and writing,
/// shared for deletion (so a live file can be renamed and deleted), in
/// append mode if asked.
fn open_new(path: &Path, append: bool) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .append(append)
        .create_new(true)
        .share_mode(SHARE_ALL)
        .open(path)
}

/// Creates the directory `name` in `dir` and returns its identity.
pub(crate) fn create_dir(dir: &Dir, name: &OsStr) -> io::Result<FileId> {
    let path = dir.child(name);
    std::fs::create_dir(&path)?;
    let handle = open_entry(&path, false)?
        .ok_or_else(|| io::Error::other("the new directory was removed at once"))?;
    let meta = meta_of(&handle)?;
    if meta.id.kind != Kind::Dir {
        return Err(io::Error::other("the new directory was replaced at once"));
    }
    Ok(meta.id)
}

/// A file the system deletes when its handle closes, even if the process is
/// killed (`FILE_FLAG_DELETE_ON_CLOSE`). Its name in `dir` is removed at
/// once where the system has POSIX semantics (through a second handle, see
/// [`drop_name`]); elsewhere (Wine, FAT) it has that name while open.
pub(crate) fn anonymous_file(dir: &Dir) -> io::Result<Option<File>> {
    use windows_sys::Win32::Storage::FileSystem::{
        FILE_ATTRIBUTE_TEMPORARY, FILE_FLAG_DELETE_ON_CLOSE,
    };
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    for _ in 0..16 {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!(".anonymous-{}-{n}", std::process::id());
        let opened = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .share_mode(SHARE_ALL)
            .access_mode(
                windows_sys::Win32::Foundation::GENERIC_READ
                    | windows_sys::Win32::Foundation::GENERIC_WRITE
                    | DELETE,
            )
            .custom_flags(FILE_FLAG_DELETE_ON_CLOSE)
            .attributes(FILE_ATTRIBUTE_TEMPORARY)
            .open(dir.child(OsStr::new(&name)));
        match opened {
            Ok(file) => {
                drop_name(&file, &dir.child(OsStr::new(&name)));
                return Ok(Some(file));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::from(io::ErrorKind::AlreadyExists))
}
