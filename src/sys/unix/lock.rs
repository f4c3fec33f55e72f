//! Session lock files: made locked, judged without blocking.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, SystemTime};

use rustix::fs::{AtFlags, FileType, FlockOperation, Mode, OFlags};
use rustix::io::Errno;

use super::{meta_of, rename_in, Dir};
use crate::sys::LockProbe;

/// A session's lock file, open. Its lock (an exclusive `flock`) lasts while
/// this value or a copy of its fd lives, and the kernel drops it when the
/// last one closes, however the process ended.
#[derive(Debug)]
pub(crate) struct LockFile {
    file: File,
}

impl LockFile {
    /// What its owner wrote into it (at most `max` bytes).
    pub(crate) fn contents(&self, max: usize) -> io::Result<Vec<u8>> {
        let mut buf = vec![0; max];
        let n = rustix::io::pread(&self.file, &mut buf, 0)?;
        buf.truncate(n);
        Ok(buf)
    }

    /// How long ago it was last written (its owner writes it once, when made).
    pub(crate) fn age(&self) -> Option<Duration> {
        let modified = self.file.metadata().and_then(|m| m.modified()).ok()?;
        SystemTime::now().duration_since(modified).ok()
    }

    /// True if its name was removed: an owner that unlinks its lock while
    /// ending is removing the session itself.
    pub(crate) fn is_unlinked(&self) -> bool {
        rustix::fs::fstat(&self.file).is_ok_and(|st| st.st_nlink == 0)
    }

    /// Replaces what the file holds with `contents` (the lock stays held).
    pub(crate) fn rewrite(&self, contents: &[u8]) -> io::Result<()> {
        self.file.set_len(0)?;
        let written = rustix::io::pwrite(&self.file, contents, 0)?;
        if written == contents.len() {
            Ok(())
        } else {
            Err(io::Error::from(io::ErrorKind::WriteZero))
        }
    }

    /// A copy of the fd that a child process inherits across exec (no
    /// `O_CLOEXEC`), which keeps the lock held while the child lives.
    pub(crate) fn inheritable_copy(&self) -> io::Result<OwnedFd> {
        Ok(rustix::io::dup(&self.file)?)
    }
}

/// How long ago `name` in `dir` was last written, looked up without opening
/// it (for our own session's lock, which we must not open: see
/// `session::is_own_session`).
pub(crate) fn age_of(dir: &Dir, name: &OsStr) -> Option<Duration> {
    let st = rustix::fs::statat(&dir.fd, name, AtFlags::SYMLINK_NOFOLLOW).ok()?;
    let modified = SystemTime::UNIX_EPOCH + Duration::from_secs(st.st_mtime.max(0) as u64);
    SystemTime::now().duration_since(modified).ok()
}

/// Makes the lock file `name` in `dir`, locked and holding `contents`: it is
/// made and locked as `tmp`, then renamed to `name`, so whoever sees `name`
/// sees it locked.
pub(crate) fn create_lock(
    dir: &Dir,
    tmp: &OsStr,
    name: &OsStr,
    contents: &[u8],
) -> io::Result<LockFile> {
    let flags = OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(&dir.fd, tmp, flags, Mode::from_raw_mode(0o600))?;
    let mut file = File::from(fd);
    let made = rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive)
        .map_err(io::Error::from)
        .and_then(|()| file.write_all(contents))
        .and_then(|()| rename_in(dir, tmp, name));
    match made {
        Ok(()) => Ok(LockFile { file }),
        Err(e) => {
            let _ = rustix::fs::unlinkat(&dir.fd, tmp, AtFlags::empty());
            Err(e)
        }
    }
}

/// Judges the lock file `name` in `dir` without ever blocking: it is opened
/// `O_NONBLOCK | O_NOFOLLOW` (a FIFO cannot stall us, a symlink is not
/// followed), must be a regular file owned by `dir`'s owner, and its lock is
/// tried with `LOCK_NB`: exclusive (to remove the session) or shared (to
/// look).
pub(crate) fn probe_lock(dir: &Dir, name: &OsStr, exclusive: bool) -> io::Result<LockProbe> {
    let flags =
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOFOLLOW | OFlags::NOCTTY | OFlags::CLOEXEC;
    let fd = match rustix::fs::openat(&dir.fd, name, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(LockProbe::Missing),
        Err(Errno::LOOP) => return Ok(LockProbe::NotALock("its lock file is a symlink")),
        Err(Errno::NXIO | Errno::OPNOTSUPP) => {
            return Ok(LockProbe::NotALock("its lock file is a socket"))
        }
        Err(e) => return Err(e.into()),
    };
    let meta = meta_of(fd.as_fd())?;
    if meta.kind != FileType::RegularFile {
        return Ok(LockProbe::NotALock("its lock file is not a regular file"));
    }
    if meta.uid != meta_of(dir.fd.as_fd())?.uid {
        return Ok(LockProbe::NotALock(
            "its lock file belongs to another user than the directory",
        ));
    }
    let op = if exclusive {
        FlockOperation::NonBlockingLockExclusive
    } else {
        FlockOperation::NonBlockingLockShared
    };
    let lock = LockFile {
        file: File::from(fd),
    };
    match rustix::fs::flock(&lock.file, op) {
        Ok(()) => Ok(LockProbe::Free(lock)),
        Err(Errno::WOULDBLOCK) => Ok(LockProbe::Held(lock)),
        Err(e) => Err(e.into()),
    }
}

/// Removes the lock file `name` in `dir` (whose lock the caller holds).
pub(crate) fn remove_lock(dir: &Dir, name: &OsStr) -> io::Result<()> {
    match rustix::fs::unlinkat(&dir.fd, name, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
