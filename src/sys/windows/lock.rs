//! Session lock files: made locked, judged without blocking.
//!
//! The protocol is the Unix one (see the Unix `lock` module): holders keep
//! a shared lock, a sweeper needs it exclusively, a look takes it and lets
//! go. The lock is `LockFileEx` on one byte far past the end of the file,
//! so the note in the file stays readable and writable by everyone.

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::windows::fs::OpenOptionsExt;
use std::os::windows::io::{AsRawHandle, OwnedHandle};
use std::time::{Duration, SystemTime};

use windows_sys::Win32::Foundation::{ERROR_LOCK_VIOLATION, HANDLE};
use windows_sys::Win32::Storage::FileSystem::{
    LockFileEx, UnlockFileEx, FILE_FLAG_OPEN_REPARSE_POINT, LOCKFILE_EXCLUSIVE_LOCK,
    LOCKFILE_FAIL_IMMEDIATELY,
};
use windows_sys::Win32::System::IO::OVERLAPPED;

use super::{meta_of, rename_in, Dir, Kind, SHARE_ALL};
use crate::sys::LockProbe;

/// Where the locked byte is: far past any note written into the file.
const LOCK_OFFSET: u64 = 0x7fff_ffff_ffff_fff0;

/// A session's lock file, open. Its lock lasts while this handle (or a copy
/// of it) is open; the system releases it when the last one closes, however
/// the process ended.
#[derive(Debug)]
pub(crate) struct LockFile {
    file: File,
}

fn overlapped() -> OVERLAPPED {
    let mut o = OVERLAPPED::default();
    o.Anonymous.Anonymous.Offset = LOCK_OFFSET as u32;
    o.Anonymous.Anonymous.OffsetHigh = (LOCK_OFFSET >> 32) as u32;
    o
}

impl LockFile {
    fn lock(&self, flags: u32) -> io::Result<bool> {
        let mut o = overlapped();
        // SAFETY: the handle is open (borrowed from `self.file`), `o` is a
        // valid OVERLAPPED for the call; the handle is synchronous, so the
        // call completes before it returns.
        let ok = unsafe { LockFileEx(self.file.as_raw_handle() as HANDLE, flags, 0, 1, 0, &mut o) };
        if ok != 0 {
            return Ok(true);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error().map(|c| c as u32) == Some(ERROR_LOCK_VIOLATION) {
            Ok(false)
        } else {
            Err(e)
        }
    }

    /// What its owner wrote into it (at most `max` bytes).
    pub(crate) fn contents(&self, max: usize) -> io::Result<Vec<u8>> {
        let mut file = &self.file;
        file.seek(SeekFrom::Start(0))?;
        let mut buf = Vec::with_capacity(max);
        file.take(max as u64).read_to_end(&mut buf)?;
        Ok(buf)
    }

    /// How long ago it was last written.
    pub(crate) fn age(&self) -> Option<Duration> {
        let modified = self.file.metadata().and_then(|m| m.modified()).ok()?;
        SystemTime::now().duration_since(modified).ok()
    }

    /// True if its name was removed (a delete pending on it).
    pub(crate) fn is_unlinked(&self) -> bool {
        false
    }

    /// Replaces what the file holds with `contents` (the lock stays held).
    pub(crate) fn rewrite(&self, contents: &[u8]) -> io::Result<()> {
        let mut file = &self.file;
        file.set_len(0)?;
        file.seek(SeekFrom::Start(0))?;
        file.write_all(contents)
    }

    /// A handle of its own on the same lock file, holding a shared lock, for
    /// a child to inherit.
    pub(crate) fn shared_for_child(&self, dir: &Dir, name: &OsStr) -> io::Result<OwnedHandle> {
        use windows_sys::Win32::Foundation::{SetHandleInformation, HANDLE_FLAG_INHERIT};
        let own = open_again(dir, name)?;
        // Without LOCKFILE_FAIL_IMMEDIATELY: waits for a look that holds the
        // lock this moment (it lets go at once).
        own.lock(0)?;
        // SAFETY: the handle is open (owned by `own`); this only sets its
        // inheritance flag, so `Command::spawn` hands it to the child.
        let ok = unsafe {
            SetHandleInformation(
                own.file.as_raw_handle() as HANDLE,
                HANDLE_FLAG_INHERIT,
                HANDLE_FLAG_INHERIT,
            )
        };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(OwnedHandle::from(own.file))
    }

    /// Lets go of this handle's lock.
    pub(crate) fn unlock(&self) -> io::Result<()> {
        let mut o = overlapped();
        // SAFETY: as in `lock`.
        let ok = unsafe { UnlockFileEx(self.file.as_raw_handle() as HANDLE, 0, 1, 0, &mut o) };
        if ok == 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// Takes the shared lock again, waiting for a look that holds the lock
    /// this moment.
    pub(crate) fn lock_shared(&self) -> io::Result<()> {
        while !self.lock(LOCKFILE_FAIL_IMMEDIATELY)? {
            std::thread::yield_now();
        }
        Ok(())
    }

    /// Tries the exclusive lock without waiting: true if taken.
    pub(crate) fn try_exclusive(&self) -> io::Result<bool> {
        self.lock(LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY)
    }
}

/// Opens the lock file `name` in `dir` anew, not locked.
pub(crate) fn open_again(dir: &Dir, name: &OsStr) -> io::Result<LockFile> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .share_mode(SHARE_ALL)
        .custom_flags(FILE_FLAG_OPEN_REPARSE_POINT)
        .open(dir.child(name))?;
    Ok(LockFile { file })
}

/// How long ago `name` in `dir` was last written.
pub(crate) fn age_of(dir: &Dir, name: &OsStr) -> Option<Duration> {
    let modified = std::fs::symlink_metadata(dir.child(name))
        .and_then(|m| m.modified())
        .ok()?;
    SystemTime::now().duration_since(modified).ok()
}

/// Makes the lock file `name` in `dir`, locked (shared) and holding
/// `contents`: made and locked as `tmp`, then renamed to `name`.
pub(crate) fn create_lock(
    dir: &Dir,
    tmp: &OsStr,
    name: &OsStr,
    contents: &[u8],
) -> io::Result<LockFile> {
    let path = dir.child(tmp);
    let file = super::open_new(&path, false)?;
    let lock = LockFile { file };
    let made = lock
        .lock(LOCKFILE_FAIL_IMMEDIATELY)
        .and_then(|taken| {
            if taken {
                Ok(())
            } else {
                Err(io::Error::from(io::ErrorKind::WouldBlock))
            }
        })
        .and_then(|()| (&lock.file).write_all(contents))
        .and_then(|()| rename_in(dir, tmp, name));
    match made {
        Ok(()) => Ok(lock),
        Err(e) => {
            drop(lock);
            let _ = std::fs::remove_file(&path);
            Err(e)
        }
    }
}

/// Judges the lock file `name` in `dir` without ever blocking: it must be a
/// regular file (a directory or a link where it should be is not a lock),
/// and its lock is tried exclusively: kept (`take`) or let go at once.
pub(crate) fn probe_lock(dir: &Dir, name: &OsStr, take: bool) -> io::Result<LockProbe> {
    let path = dir.child(name);
    let Some(entry) = super::open_entry(&path, false)? else {
        return Ok(LockProbe::Missing);
    };
    match meta_of(&entry)?.id.kind {
        Kind::File => {}
        Kind::Dir => return Ok(LockProbe::NotALock("its lock file is a directory")),
        Kind::Link => return Ok(LockProbe::NotALock("its lock file is a link")),
    }
    drop(entry);
    let lock = match open_again(dir, name) {
        Ok(lock) => lock,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(LockProbe::Missing),
        Err(e) => return Err(e),
    };
    if !lock.try_exclusive()? {
        return Ok(LockProbe::Held(lock));
    }
    if !take {
        lock.unlock()?;
    }
    Ok(LockProbe::Free(lock))
}

/// Removes the lock file `name` in `dir` (whose lock the caller holds).
pub(crate) fn remove_lock(dir: &Dir, name: &OsStr) -> io::Result<()> {
    match std::fs::remove_file(dir.child(name)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}
