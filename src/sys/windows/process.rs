//! Open files and the process: data on stable storage, a purge's hold on a
//! guard's file, `atexit`.

use std::fs::File;
use std::io;
use std::os::windows::io::AsHandle;

/// Flushes a file's data to stable storage (`FlushFileBuffers`).
pub(crate) fn sync_data(file: &File) -> io::Result<()> {
    file.sync_data()
}

/// A second handle for the file behind an async handle.
pub(crate) fn duplicate(file: &tokio::fs::File) -> io::Result<File> {
    Ok(File::from(file.as_handle().try_clone_to_owned()?))
}

/// A guard's file, for [`revoke`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawFile;

impl RawFile {
    pub(crate) fn of(_file: &File, _known: Option<super::FileId>) -> RawFile {
        RawFile
    }
}

/// Windows cannot swap the file behind a handle another owns: the purge
/// deletes the file (its name goes) and marks the guard closed, and the
/// handle itself stays open until the guard drops it.
///
/// # Safety
///
/// None needed here (nothing is touched); `unsafe` to match the Unix verb.
pub(crate) unsafe fn revoke(_raw: RawFile) -> io::Result<bool> {
    Ok(true)
}

/// No fork on Windows: nothing to watch.
pub(crate) fn watch_forks() {}

/// No fork on Windows: every process is generation 0.
pub(crate) fn fork_generation() -> u32 {
    0
}

/// Registers `f` to run when the C runtime's `exit` runs: a return from
/// `main`. Not on `std::process::exit`, which on Windows is `ExitProcess`
/// itself and runs no `atexit` handler (measured under Wine with MinGW's
/// runtime; the MSVC runtime's `atexit` of an executable runs from `exit`
/// as well).
pub(crate) fn at_exit(f: extern "C" fn()) -> bool {
    // SAFETY: `f` is an `extern "C" fn()` with no arguments; the caller
    // makes sure it never unwinds.
    unsafe { libc::atexit(f) == 0 }
}
