//! Scratch files and file handles that are cleaned up however the program
//! ends.
//!
//! [`tempfile`](https://docs.rs/tempfile) removes a temp file when its guard
//! is dropped, and only then: on SIGTERM, SIGINT, `process::exit`, a
//! `panic = "abort"` build or SIGKILL the files stay. tempreg keeps a
//! registry of every live temp file, temp dir and async file handle, so the
//! program can clean them all up at any of those moments.
//!
//! # Tour
//!
//! - [`ResourceRegistry`] hands out guards: [`TempFile`] (named, with an fd),
//!   [`TempPath`] (named, no fd), [`TempDir`] and [`TrackedFile`] (an async
//!   handle over `tokio::fs::File`, temp or kept). Dropping a guard removes
//!   its entry and cleans it.
//! - [`ResourceRegistry::purge_all`] cleans whatever is still live: flushes
//!   and closes handles, unlinks temp files, removes temp dirs, and returns a
//!   [`PurgeReport`]. [`ResourceRegistry::purge_all_blocking`] does the same
//!   with no runtime, for panic hooks and sync programs.
//! - [`ResourceRegistry::install_panic_hook`] purges when a panic is about to
//!   end the process; [`ResourceRegistry::purge_on_exit`] when it calls
//!   `exit`.
//! - [`Shutdown`] turns SIGTERM/SIGINT into an orderly stop: tracked tasks
//!   within a grace period, then cleanup steps (registry purges among them)
//!   in reverse order, and a [`ShutdownReport`] whose `exit()` ends the
//!   process as a supervisor expects. [`cleanup_on_signals`] is the same for
//!   sync programs; [`purge_on_cancel`] and `PurgeSubsystem` (feature
//!   `tokio-graceful-shutdown`) plug the purge into coordinators you run.
//! - After a SIGKILL, [`sweep_orphans`] removes what the dead process left,
//!   judged by each session's lock; [`ResourceRegistry::anonymous_file`]
//!   makes files that need no sweep at all. The `tempreg` command (feature
//!   `cli`) wraps any program (`tempreg run -- CMD`), sweeps and lists.
//!
//! ```
//! use std::io::Write;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! use tokio::io::AsyncWriteExt;
//!
//! let registry = tempreg::ResourceRegistry::new()?;
//! let mut scratch = registry.temp_file()?;
//! scratch.write_all(b"partial results")?;
//! let mut log = registry.temp_file_async().await?;
//! log.write_all(b"progress").await?;
//!
//! // At shutdown, between test cases, or from a panic hook:
//! let report = registry.purge_all().await;
//! assert!(report.is_clean());
//! assert_eq!(report.removed(), 2);
//! assert!(!scratch.path().exists());
//! # Ok(())
//! # }
//! ```
//!
//! # Design
//!
//! - **One private session directory per registry.** Temp files and dirs are
//!   created in `<root>/<prefix>-<pid>-<random>/`, mode 0700 (files 0600,
//!   dirs 0700). The registry keeps an fd to it and an exclusive `flock` on a
//!   lock file inside it for its whole life, so that a later process can tell
//!   a dead owner's directory from a live one by the lock alone.
//! - **A concurrent table, claimed before cleaned.** Live entries sit in a
//!   `DashMap`. Whoever removes an entry from the table (a guard's Drop, its
//!   `close`, a purge) cleans it, so each entry is cleaned exactly once. No
//!   map lock is held across I/O, an `.await`, or a guard's Drop.
//! - **Never delete what we did not create.** Every deletion looks the name up
//!   relative to its directory's fd without following symlinks, compares
//!   `(st_dev, st_ino)` with what was recorded at creation, and only then
//!   unlinks it relative to that fd. A replaced name, or a symlink, is left
//!   alone and reported. Removing a temp dir never follows a symlink out.
//! - **Never lose data written to a handle we keep.** A purge flushes a kept
//!   handle's pending writes (and `fdatasync`s them on request) before
//!   closing it, and reports a flush error; a flush that outlives a deadline
//!   goes on in the background rather than being dropped.
//! - **Blocking work off the executor.** Async creation, the purge's unlinks
//!   and an async temp file's removal on drop run on tokio's blocking pool.
//!   Dropped async guards are unlinked in batches (the reaper), and after a
//!   warm-up a registry keeps a few async temp files made ahead of demand
//!   (the reserve, [`RegistryBuilder::async_reserve`]), so most calls need
//!   no round trip to the pool at all.
//! - **Sessions judged by their lock.** [`sweep_orphans`] removes a session
//!   directory only when it can take its lock, so a live owner's directory
//!   is never touched and a dead one's always goes; the pid in its name is
//!   for people, never trusted.
//! - **Shutdown in one deadline.** [`Shutdown`] builds on `tokio_util`'s
//!   `CancellationToken` and `TaskTracker`: signal, cancel, wait for tracked
//!   tasks within the grace period, abort the rest, run cleanup steps in
//!   reverse order, report, and end the process as a supervisor expects.
//!
//! # What can still leak
//!
//! Said plainly, and what limits each case:
//!
//! - **SIGKILL, the OOM killer, a stack overflow, power loss.** No code runs.
//!   The session directory stays behind, its lock released by the kernel;
//!   the next sweep of the root removes it.
//! - **SIGTERM, SIGINT, `process::exit`.** By default nothing of ours runs on
//!   these either: the process must catch the signal, or register an exit
//!   hook, and call a purge. Dropping guards does not happen on `exit`.
//! - **A panic** purges only if [`ResourceRegistry::install_panic_hook`] was
//!   called; by default only when the panic ends the process.
//! - **Files made by others inside the session directory** are removed with
//!   it when the registry ends or a hook removes it, but a purge only cleans
//!   the entries it tracks.
//! - **A kept or persisted file** is the caller's from then on.
//! - **Reserve files.** A registry that has made more than 16 async temp
//!   files keeps up to 32 empty ones ready in its session directory; a purge
//!   and the end of the registry remove them (and a sweep, after a crash).
//! - **A forked child** (without exec) inherits every fd, the session's lock
//!   included (`O_CLOEXEC` acts only at exec), so the session counts as live
//!   while such a child runs, even after its parent died: no sweep removes
//!   it early. Process-wide clean-ups (hooks, the final removal of the
//!   session) do nothing in a child, but a guard dropped there still removes
//!   its file, as with `tempfile`.
//! - **The one case the lock cannot see** is a program started with exec
//!   (`std::process::Command`) that uses files in the session directory: our
//!   lock fd is always `O_CLOEXEC`, so that program does not hold the lock,
//!   and if our process dies first a sweep may remove the directory while it
//!   still runs. [`ResourceRegistry::spawn_in_session`] hands the child a
//!   copy of the lock on purpose, which closes that gap (`tempreg run` uses
//!   it).
//! - **Identity without an fd.** A [`TempPath`] holds no fd, so in theory its
//!   inode number could be reused after a same-user process replaced it; see
//!   [`TempPath`]'s *Security* section.
//! - **NFS.** There `flock` is emulated with POSIX record locks, which belong
//!   to a process: closing any fd of it to a lock file drops all its locks
//!   on that file. Across processes the lock still tells live from dead; a
//!   sweep never opens the lock file of its own process's live sessions.
//! - **The window of session creation.** A process killed between `mkdir` and
//!   `flock` of its session directory leaves a hidden, empty
//!   `.<prefix>-init-…` directory.

#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub, rust_2018_idioms)]

// Lowest first: every module imports only from those above it in this list.
mod adapters;
mod error;
mod guard;
mod process;
mod purge;
mod registry;
mod session;
mod shutdown;
mod sys;
mod tracking;

pub use crate::adapters::{purge_on_cancel, purge_on_cancel_with};
#[cfg(feature = "tokio-graceful-shutdown")]
pub use crate::adapters::{PurgeError, PurgeSubsystem};
pub use crate::error::{is_closed_error, is_replaced_error, RegistryClosed};
pub use crate::guard::{
    AnonymousFile, DirPersistError, PathPersistError, PersistError, TempDir, TempFile, TempOptions,
    TempPath, TrackedFile,
};
pub use crate::process::panic_hook::PanicPolicy;
pub use crate::process::signals::{cleanup_on_signals, SignalCleanup, CLEANUP_SIGNALS};
pub use crate::purge::{PurgeFailure, PurgeFailureKind, PurgeOptions, PurgeReport};
pub use crate::registry::{RegistryBuilder, ResourceRegistry};
pub use crate::session::{
    list_sessions, sweep_orphans, sweep_orphans_with, SessionInfo, SessionState, SweepOptions,
    SweepReport, LOCK_NAME,
};
pub use crate::shutdown::{
    Shutdown, ShutdownBuilder, ShutdownReason, ShutdownReport, StepOutcome, StepReport,
    TaskOutcome, TaskReport,
};
pub use crate::tracking::entry::{EntryInfo, EntryKind};

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
