//! Session lock files: made locked, judged without blocking.
//!
//! The protocol (`flock`, on the lock file's open file descriptions):
//!
//! - the owner holds a **shared** lock from the moment the file has its
//!   name, and so does every process it hands a copy to (a child started in
//!   the session gets a description of its own, also shared): a session is
//!   live while anyone holds the lock;
//! - a sweeper takes it **exclusively**, without blocking: it gets it only
//!   when nobody holds it, and keeps it while it removes the session;
//! - a look (`list_sessions`) tries the exclusive lock and lets go at once.
//!
//! Shared for the holders, so that the owner can tell whether a child still
//! holds its own description: it lets go of its shared lock and tries the
//! exclusive one ([`LockFile::try_exclusive`]).

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::time::{Duration, SystemTime};

use rustix::fs::{AtFlags, FileType, FlockOperation, Mode, OFlags};
use rustix::io::Errno;

use super::{meta_of, rename_in, Dir};
use crate::sys::LockProbe;

/// A session's lock file, open. Its lock lasts while this value or a copy of
/// its fd lives, and the kernel drops it when the last one closes, however
/// the process ended.
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

    /// A description of its own of the same lock file, holding a shared
    /// lock, as an fd a child inherits across exec (no `O_CLOEXEC`): the
    /// session stays live while the child (or what it started) keeps it.
    /// Waits for a look that holds the lock this moment (it lets go at once).
    pub(crate) fn shared_for_child(
        &self,
        dir: &Dir,
        name: &OsStr,
    ) -> io::Result<super::Inheritable> {
        let own = open_again(dir, name)?;
        rustix::fs::flock(&own.file, FlockOperation::LockShared)?;
        // The dup shares the description (and the lock) and has no
        // close-on-exec; `own` closes when this returns.
        Ok(rustix::io::dup(&own.file)?)
    }

    /// Lets go of this description's lock.
    pub(crate) fn unlock(&self) -> io::Result<()> {
        Ok(rustix::fs::flock(&self.file, FlockOperation::Unlock)?)
    }

    /// Takes the shared lock again, waiting for a look that holds the lock
    /// this moment (it lets go at once).
    pub(crate) fn lock_shared(&self) -> io::Result<()> {
        Ok(rustix::fs::flock(&self.file, FlockOperation::LockShared)?)
    }

    /// Tries the exclusive lock without waiting: true if taken (nobody else
    /// holds the lock on any description).
    pub(crate) fn try_exclusive(&self) -> io::Result<bool> {
        match rustix::fs::flock(&self.file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(true),
            Err(Errno::WOULDBLOCK) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

/// Opens the lock file `name` in `dir` anew (a description of its own), not
/// locked.
pub(crate) fn open_again(dir: &Dir, name: &OsStr) -> io::Result<LockFile> {
    let flags = OFlags::RDWR | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(&dir.fd, name, flags, Mode::empty())?;
    Ok(LockFile {
        file: File::from(fd),
    })
}

/// How long ago `name` in `dir` was last written, looked up without opening
/// it (for our own session's lock, which we must not open: see
/// `session::is_own_session`).
pub(crate) fn age_of(dir: &Dir, name: &OsStr) -> Option<Duration> {
    let st = rustix::fs::statat(&dir.fd, name, AtFlags::SYMLINK_NOFOLLOW).ok()?;
    let modified = SystemTime::UNIX_EPOCH + Duration::from_secs(st.st_mtime.max(0) as u64);
    SystemTime::now().duration_since(modified).ok()
}

/// Makes the lock file `name` in `dir`, locked (shared) and holding
/// `contents`: it is made and locked as `tmp`, then renamed to `name`, so
/// whoever sees `name` sees it locked.
pub(crate) fn create_lock(
    dir: &Dir,
    tmp: &OsStr,
    name: &OsStr,
    contents: &[u8],
) -> io::Result<LockFile> {
    let flags = OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(&dir.fd, tmp, flags, Mode::from_raw_mode(0o600))?;
    let mut file = File::from(fd);
    let made = rustix::fs::flock(&file, FlockOperation::NonBlockingLockShared)
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
/// tried exclusively with `LOCK_NB`: kept to remove the session (`take`), or
/// let go at once (to look).
pub(crate) fn probe_lock(dir: &Dir, name: &OsStr, take: bool) -> io::Result<LockProbe> {
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
    let lock = LockFile {
        file: File::from(fd),
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
    match rustix::fs::unlinkat(&dir.fd, name, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
