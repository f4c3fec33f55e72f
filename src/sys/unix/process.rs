//! Open files and processes: `fdatasync`, revoking a file, fork
//! generations, `atexit`.

use std::fs::File;
use std::io;
use std::mem::ManuallyDrop;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Once, OnceLock};

use rustix::fs::Mode;
#[cfg(target_os = "linux")]
use rustix::fs::OFlags;

#[cfg(not(target_os = "linux"))]
use super::DIR_FLAGS;
use super::{meta_of, FileId};

/// Flushes a file's data to stable storage: `fdatasync`, or on macOS
/// `fcntl(F_FULLFSYNC)` (std's choice, since `fsync` there stops at the
/// drive's cache).
pub(crate) fn sync_data(file: &File) -> io::Result<()> {
    file.sync_data()
}

/// A second fd for the file behind an async handle (for a blocking call
/// that must not hold the handle's lock).
pub(crate) fn duplicate(file: &tokio::fs::File) -> io::Result<File> {
    Ok(File::from(file.as_fd().try_clone_to_owned()?))
}

/// A guard's fd number and the identity of the file it held when tracking
/// began, for [`revoke`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawFile {
    fd: RawFd,
    /// `None` if it could not be looked up: then it is never revoked.
    id: Option<FileId>,
}

impl RawFile {
    /// `file`, with its identity `known` if the caller has it (one lookup
    /// saved), else looked up now.
    pub(crate) fn of(file: &File, known: Option<FileId>) -> RawFile {
        let id = known.or_else(|| meta_of(file.as_fd()).ok().map(|meta| meta.id));
        RawFile {
            fd: file.as_raw_fd(),
            id,
        }
    }
}

/// An fd that every read and write fails on: `O_PATH` on Linux (`EBADF`),
/// a directory elsewhere (`EISDIR` on read, `EBADF` on write).
fn dead_fd() -> io::Result<BorrowedFd<'static>> {
    static DEAD: OnceLock<OwnedFd> = OnceLock::new();
    if let Some(fd) = DEAD.get() {
        return Ok(fd.as_fd());
    }
    #[cfg(target_os = "linux")]
    let flags = OFlags::PATH | OFlags::CLOEXEC;
    #[cfg(not(target_os = "linux"))]
    let flags = DIR_FLAGS;
    let fd = rustix::fs::openat(rustix::fs::CWD, "/", flags, Mode::empty())?;
    Ok(DEAD.get_or_init(|| fd).as_fd())
}

/// True if `raw` is an open fd (for the models' check that none leaks).
#[cfg(all(test, tempreg_loom))]
pub(crate) fn is_open(raw: RawFile) -> bool {
    // SAFETY: only asks the kernel about the number; nothing is closed or
    // kept, and a closed number is an error, not undefined behaviour.
    rustix::io::fcntl_getfd(unsafe { BorrowedFd::borrow_raw(raw.fd) }).is_ok()
}

/// Swaps the open file behind `raw` for one that fails every read and
/// write, closing ours: an unlinked file's space is freed at once, and the
/// owner's fd number stays allocated (no other file can take it) until the
/// owner closes it.
///
/// Only the file recorded is swapped: `Ok(false)` if the fd number holds
/// another file now (the owner replaced its `File`, and the number went to
/// whatever the process opened next) or none, or if no identity was
/// recorded. Checking and swapping are two calls: an owner that replaces
/// its file *during* this call defeats the check, which is why the guards
/// document that replacing the file during a purge is not supported.
///
/// # Safety
///
/// `raw` must be an open fd that nobody closes or replaces until this
/// returns. The fd is not closed here; only what it refers to changes.
pub(crate) unsafe fn revoke(raw: RawFile) -> io::Result<bool> {
    let Some(id) = raw.id else {
        return Ok(false);
    };
    // SAFETY: the caller keeps `raw` open for this call; `ManuallyDrop`
    // makes sure this borrowed ownership never closes it.
    let mut target = ManuallyDrop::new(unsafe { OwnedFd::from_raw_fd(raw.fd) });
    match meta_of(target.as_fd()) {
        Ok(meta) if id.matches(&meta.id) => {}
        Ok(_) => return Ok(false),
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::BADF.raw_os_error()) => {
            return Ok(false)
        }
        Err(e) => return Err(e),
    }
    let dead = dead_fd()?;
    #[cfg(not(target_vendor = "apple"))]
    rustix::io::dup3(dead, &mut target, rustix::io::DupFlags::CLOEXEC)?;
    #[cfg(target_vendor = "apple")]
    {
        rustix::io::dup2(dead, &mut target)?;
        rustix::io::fcntl_setfd(&*target, rustix::io::FdFlags::CLOEXEC)?;
    }
    Ok(true)
}

// ---------------------------------------------------------------------------
// Threads and processes

static FORK_GENERATION: AtomicU32 = AtomicU32::new(0);

extern "C" fn forked() {
    FORK_GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// Makes [`fork_generation`] count forks from now on; called before the
/// first registry exists.
pub(crate) fn watch_forks() {
    static WATCH: Once = Once::new();
    WATCH.call_once(|| {
        // SAFETY: `forked` is an `extern "C" fn()` that only does an atomic
        // add, which is async-signal-safe as a fork child handler must be.
        // No crate we depend on wraps `pthread_atfork`.
        let rc = unsafe { libc::pthread_atfork(None, None, Some(forked)) };
        if rc != 0 {
            tracing::warn!(rc, "tempreg could not watch for forks");
        }
    });
}

/// How many forks (without exec) lie between the first process that called
/// [`watch_forks`] and this one: one atomic load. Memory copied by a fork
/// carries the parent's generation, so anything stamped with another
/// generation than this one was made by an ancestor.
pub(crate) fn fork_generation() -> u32 {
    FORK_GENERATION.load(Ordering::Relaxed)
}

/// Registers `f` to run when the process calls `exit` (or returns from
/// `main`). Returns false if the system refused.
pub(crate) fn at_exit(f: extern "C" fn()) -> bool {
    // SAFETY: `f` is an `extern "C" fn()` with no arguments; the caller
    // makes sure it never unwinds, as `atexit` requires. No crate we depend
    // on wraps `atexit`.
    unsafe { libc::atexit(f) == 0 }
}
