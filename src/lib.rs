//! Scratch files and file handles that are cleaned up however the program
//! ends.
//!
//! [`tempfile`](https://docs.rs/tempfile) removes a temp file when its guard
//! is dropped, and only then: on SIGTERM, SIGINT, `process::exit`, a
//! `panic = "abort"` build or SIGKILL the files stay. tempreg keeps a
//! registry of every live temp file, temp dir and async file handle, so the
//! program can clean them all up at any of those moments.
//!
//! # Start here
//!
//! | you write | make | wire the ends |
//! |---|---|---|
//! | a sync batch job | [`ResourceRegistry::new`], then [`temp_file`](ResourceRegistry::temp_file), [`temp_dir`](ResourceRegistry::temp_dir) | [`cleanup_on_signals`] (SIGTERM, SIGINT, SIGHUP, SIGQUIT), [`install_panic_hook`](ResourceRegistry::install_panic_hook) (panics and `exit`) |
//! | a tokio service under systemd or Kubernetes | a registry, and [`temp_file_async`](ResourceRegistry::temp_file_async) / [`open`](ResourceRegistry::open) for handles | [`Shutdown`] with [`listen_for_signals`](Shutdown::listen_for_signals), [`add_registry`](Shutdown::add_registry), a grace period under the supervisor's (systemd 90 s, Kubernetes 30 s), and `report.exit()`; or [`purge_on_cancel`] / `PurgeSubsystem` in a coordinator you run |
//! | a test suite | [`tempreg::temp_file()`](temp_file), [`tempreg::temp_dir()`](temp_dir) (the process-wide [`global()`] registry) | nothing more: exit, panics and a killed run's leftovers are handled |
//! | a program that uses `tempfile` | `use tempreg::compat as tempfile;` ([`compat`]: `tempfile`'s names and signatures over the process-wide registries) | nothing more for exit, panics and leftovers; [`cleanup_on_signals`] with [`compat::registry`] for signals |
//! | a program in another language | nothing: run it as `tempreg run -- CMD` (feature `cli`), which gives it a private `TMPDIR` | `tempreg sweep` at boot or before the service starts |
//!
//! # How a process ends, and what cleans up
//!
//! | the process ends by | what runs | what is left |
//! |---|---|---|
//! | a return from `main`, registries dropped | every guard's and registry's Drop | nothing |
//! | a return from `main` with a registry in a `static`, or `std::process::exit` | the exit hook, if registered ([`purge_on_exit`](ResourceRegistry::purge_on_exit), [`install_panic_hook`](ResourceRegistry::install_panic_hook), [`global()`]); on Windows not on `std::process::exit`, which is `ExitProcess` | nothing with the hook; the session directory without it (and after `std::process::exit` on Windows), until a sweep |
//! | SIGTERM / SIGINT with [`Shutdown::listen_for_signals`] or [`cleanup_on_signals`] | an orderly stop (tasks, steps, purges), then death by the signal; if the runtime is stuck, the watchdog's purge by the grace period plus one second | nothing |
//! | SIGTERM / SIGINT without a handler | no code of ours (the signal's default action) | the session directory, until a sweep |
//! | a panic that unwinds out of `main` | unwinding drops what `main` held; then `exit`, where the exit hook runs (registered by [`install_panic_hook`](ResourceRegistry::install_panic_hook)) | nothing with the hook |
//! | a panic on another thread, or a caught one (a tokio task, `catch_unwind`) | nothing: the process goes on, and its files stay theirs (unless [`PanicPolicy::Always`]) | the process goes on |
//! | a panic in a `panic = "abort"` build, any thread | the panic hook's purge and removal of the session directory, then the abort | nothing with the hook |
//! | SIGKILL, the OOM killer, a stack overflow, a power cut | no code at all | the session directory (its lock released by the kernel): the next sweep removes it; anonymous files are freed by the kernel |
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
//! - [`TempOptions::make`] tracks whatever a closure makes at a fresh name
//!   (a socket, a FIFO); [`ResourceRegistry::adopt`] tracks an existing
//!   file; [`ResourceRegistry::spooled_file`] keeps bytes in memory up to a
//!   size, then in an unnamed file, and a purge frees either.
//! - [`compat`] is `tempfile`'s API over the process-wide registries: the
//!   migration from `tempfile` is `use tempreg::compat as tempfile;`, and its
//!   docs say exactly what differs and why.
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
//! Every promise stands on one rule: **an entry is claimed from the table
//! before anyone cleans it, and whoever claimed it cleans it, through one
//! identity-checked removal.** A clean-up that fails puts the entry back.
//!
//! - **One private session directory per registry.** Temp files and dirs are
//!   created in `<root>/<prefix>-<pid>-<random>/`, mode 0700 (files 0600,
//!   dirs 0700). The registry keeps a handle on it and a lock on
//!   a lock file inside it for its whole life, so that a later process can
//!   tell a dead owner's directory from a live one by the lock alone.
//! - **A concurrent table, claimed before cleaned.** Live entries sit in a
//!   `DashMap`. Whoever removes an entry from the table (a guard's Drop, its
//!   `close`, `keep` or `persist`, a purge, the reaper) cleans it, so each
//!   entry is cleaned exactly once; if that fails (an I/O error, a busy
//!   handle, a deadline), the entry goes back, so the next purge, the
//!   guard's drop, or the registry's end retries it; if the guard ended
//!   meanwhile, the entry is cleaned then instead. No map lock is held
//!   across I/O, an `.await`, or a guard's Drop.
//! - **Never delete what we did not create.** Every deletion goes through
//!   the platform layer's one removal: the name is looked up relative to its
//!   directory's handle without following symlinks, its identity (device,
//!   inode, type, and birth time where the file system records it) compared
//!   with what was recorded at creation, and only then is it removed,
//!   relative to that handle. A replaced name, or a symlink, is left alone
//!   and reported ([`is_replaced_error`]). Removing a tree never follows a
//!   symlink out of it and never crosses into another mount.
//! - **Never lose data written to a handle we keep.** A purge flushes a kept
//!   handle's pending writes (and `fdatasync`s them on request) before
//!   closing it; a flush that fails leaves the handle open and tracked, and
//!   a flush that outlives a deadline goes on in the background rather than
//!   being dropped (the next purge waits for it).
//! - **A purge closes what it tracks.** Async handles are flushed and
//!   closed; a sync guard's file ([`TempFile`], [`AnonymousFile`]) is
//!   *revoked*: the open file behind its fd is swapped for a dead one, so
//!   an unlinked file's space is freed at once and later I/O fails with a
//!   [closed](is_closed_error) error, while the fd number stays the guard's.
//! - **A file belongs to the process that made it.** Entries carry the fork
//!   generation that made them (counted by a `pthread_atfork` handler, read
//!   with one atomic load): in a child forked without exec, guards, purges
//!   and hooks leave the parent's files alone.
//! - **Blocking work off the executor.** Async creation, the purge's removals
//!   and an async temp file's removal on drop run on tokio's blocking pool.
//!   Dropped async guards are cleaned in batches (the reaper), and after a
//!   warm-up a registry keeps a few async temp files made ahead of demand
//!   (the reserve, [`RegistryBuilder::async_reserve`]), so most calls need
//!   no round trip to the pool at all.
//! - **Sessions judged by their lock.** [`sweep_orphans`] removes a session
//!   directory only when it can take its lock, so a live owner's directory
//!   is never touched and a dead one's always goes; the pid in its name is
//!   for people, never trusted. Nothing a local user can plant in a shared
//!   root (a FIFO or a directory for a lock file, a symlink, a file of their
//!   own) makes the sweep wait or remove anything.
//! - **Shutdown in one deadline.** [`Shutdown`] builds on `tokio_util`'s
//!   `CancellationToken` and `TaskTracker`: signal, cancel, wait for tracked
//!   tasks within the grace period, abort the rest, run cleanup steps in
//!   reverse order, report, and end the process as a supervisor expects.
//!
//! # Structure
//!
//! Each module owns one concept, and imports only from those listed before
//! it:
//!
//! | module | owns |
//! |---|---|
//! | `sys` | every system call (the only code naming `rustix`, `libc` or `windows-sys`), and so every deletion |
//! | `loom` | the synchronisation primitives of the hard internals: `std`'s, or `loom`'s for the models |
//! | `error` | `io::Error` values with the path; the typed checks |
//! | `session` | the session directory: its on-disk format, its lock, this process's own session, the sweep |
//! | `tracking` | the table and its entries, a guard's ticket, the cleaner, the reaper, the reserve |
//! | `guard` | one file per guard, the options that name them, the errors that hand one back |
//! | `purge` | the purge's orchestration and its report |
//! | `registry` | [`ResourceRegistry`], the facade |
//! | `process` | the exit hook, the panic hook, the sync signal thread |
//! | `global` | the process-wide registry, [`global()`] |
//! | `compat` | `tempfile`'s API over the process-wide registries |
//! | `shutdown` | [`Shutdown`] and its report |
//! | `adapters` | the purge inside coordinators you already run |
//!
//! # Locks
//!
//! Every lock of the crate, and the order in which two may be held:
//!
//! | lock | guards | held |
//! |---|---|---|
//! | the table's abandoned marks | ids of entries out with a purge whose guard ended | a guard's second look and mark, a purge's put-back: one map operation inside |
//! | a table shard (`DashMap`) | the entries | one insert, remove or iteration step; never with another lock of ours taken inside it |
//! | a flight's state, then the running flushes | one async handle's flush (its shared future); the flights of purges | one poll of the flight (which may start another: an insert inside); an insert, a removal, a copy |
//! | a flight's wakers | everyone polling it | a push, a take |
//! | an async handle's mutex | its `tokio::fs::File` and waker | one non-blocking poll, or a take or put-back |
//! | a sync handle's mutex | whether a purge is revoking it | a state change; never during the revoke |
//! | a spooled file's bytes (in memory) | the bytes | one read, write, seek or resize in memory, or a take or put-back; a purge only tries it |
//! | the reaper's and the reserve's | their queues | a push, a pop or a take |
//! | a purge's work list | its pending entries and report | a pop or a tally |
//! | a session's removal state | removing / done | a state change (a second remover waits on its condvar) |
//! | the process lists (own sessions, exit hook, signal thread) | weak registries | a push, a scan, a take |
//! | [`Shutdown`]'s task map, then a task's outcome slot | tasks | a read or an update |
//!
//! No two of them are ever held at once, except the abandoned marks before a
//! table shard, and a shutdown's task map before a task's outcome slot. None is held across I/O, an `.await`, a guard's
//! Drop or a call into the registry. Hard internals state their own
//! invariants in their module docs.
//!
//! # What can still leak
//!
//! Said plainly, and what limits each case:
//!
//! - **SIGKILL, the OOM killer, a stack overflow, power loss.** No code runs.
//!   The session directory stays behind, its lock released by the kernel;
//!   the next sweep of the root removes it. Anonymous files
//!   ([`ResourceRegistry::anonymous_file`]) never have a name on Linux, so
//!   the kernel frees them even then.
//! - **SIGTERM, SIGINT, `process::exit`.** By default nothing of ours runs on
//!   these either: the process must catch the signal, or register an exit
//!   hook, and call a purge. Dropping guards does not happen on `exit`.
//! - **A panic** cleans up only if [`ResourceRegistry::install_panic_hook`]
//!   was called (or [`global()`] is used), and only when it ends the process.
//!   A panic that aborts in an unwinding build (a second panic while
//!   unwinding, a panic in a `Drop` during unwinding or in an `extern "C"`
//!   function) looks to the hook like one that will unwind: nothing is
//!   purged, and the session directory waits for a sweep.
//! - **A shutdown whose runtime is stuck.** At the grace period the
//!   watchdog (OS threads) purges the registries added to the
//!   [`Shutdown`], runs the blocking steps left on threads of their own and
//!   the async ones on a runtime of its own (a step bound to the stuck
//!   runtime's resources may fail there), within one second, and ends the
//!   process. Tasks stuck in a blocking call are not stopped, they end with
//!   the process; a registry that was not added to the shutdown is not
//!   purged then (its session waits for a sweep).
//! - **A removal that fails part-way** (an immutable file, a file system
//!   mounted inside a temp dir) leaves what it could not remove, reports it,
//!   and keeps the entry tracked; at the registry's end the session
//!   directory then stays, with its lock file, and the next sweep after the
//!   process ends retries it. A mount inside is never crossed, so it stays
//!   until unmounted.
//! - **Files made by others inside the session directory** are removed with
//!   it when the registry ends or a hook removes it, but a purge only cleans
//!   the entries it tracks.
//! - **A kept or persisted file** is the caller's from then on; so is a
//!   session directory given up with [`ResourceRegistry::keep_session_dir`]
//!   (listed as kept, never swept), and so is a file whose guard disabled
//!   its clean-up (`disable_cleanup`): it stays where it is, and the session
//!   directory around it is kept (marked kept) when the registry ends,
//!   unless the file is gone by then.
//! - **An adopted path** ([`ResourceRegistry::adopt`]) outside the session
//!   directory is removed by its guard and by purges, but no sweep finds it
//!   after a SIGKILL: it is in no session directory.
//! - **Reserve files.** A registry that has made more than 16 async temp
//!   files keeps up to 8 empty ones ready in its session directory (each
//!   holding an fd), and gives them back 2 s after demand stops; a purge and
//!   the end of the registry remove them (and a sweep, after a crash).
//! - **A forked child** (without exec) inherits every fd, the session's lock
//!   included (`O_CLOEXEC` acts only at exec), so the session counts as live
//!   while such a child runs, even after its parent died: no sweep removes
//!   it early. The child itself cleans nothing its parent made: not on a
//!   guard's drop, a purge, or a hook. A fork by a raw `clone`/`fork`
//!   syscall (not through libc) is not counted, and then a child behaves as
//!   its parent.
//! - **The one case the lock cannot see** is a program started with exec
//!   (`std::process::Command`) that uses files in the session directory: our
//!   lock fd is always `O_CLOEXEC`, so that program does not hold the lock,
//!   and if our process dies first a sweep may remove the directory while it
//!   still runs. [`ResourceRegistry::spawn_in_session`] hands the child a
//!   copy of the lock on purpose, which closes that gap (`tempreg run` uses
//!   it).
//! - **Identity without an fd.** A [`TempPath`] or [`TempDir`] holds no fd,
//!   so its inode is not pinned. The identity check compares the birth time
//!   where the file system records it (ext4, XFS, Btrfs, tmpfs on recent
//!   Linux kernels; APFS and HFS+ on macOS; UFS2 and ZFS on FreeBSD;
//!   NTFS on Windows), which catches an inode number reused by a new file made at
//!   the same name, except within the same kernel clock tick (about 4 ms):
//!   see [`TempPath`]'s *Security* section. Only a process of the same user
//!   (or root) can act inside the 0700 session directory at all.
//! - **Per platform.** On macOS and the BSDs there is no `O_TMPFILE`: an
//!   anonymous file is made with a name and unlinked at once, so a kill
//!   between the two leaves an empty file, which the sweep removes with the
//!   session. A bind (`nullfs`) mount of the same file system inside a temp
//!   dir is not seen as a mount there (the device number is the same) and
//!   is entered. On Windows, `std::process::exit` is `ExitProcess`, which
//!   runs no exit hook ([`ResourceRegistry::purge_on_exit`] covers a return
//!   from `main` only): the session directory stays, its lock released, for
//!   the next sweep. A sync handle cannot be revoked there: a purge deletes
//!   its file (the name goes at once where the file system has POSIX delete
//!   semantics, NTFS on Windows 10 and later; elsewhere, FAT and Wine, when
//!   the handle closes) and the guard refuses further use, but the handle
//!   stays open, and the space is freed, when the guard drops. `%TEMP%` is
//!   per user, so no owner check: every session in a root is judged as the
//!   user's own. macOS and FreeBSD are compiled and linted in CI, not run.
//! - **NFS.** There `flock` is emulated with POSIX record locks, which belong
//!   to a process: closing any fd of it to a lock file drops all its locks
//!   on that file. Across processes the lock still tells live from dead; a
//!   sweep never opens the lock file of its own process's live sessions.
//! - **The window of session creation.** A process killed between `mkdir` and
//!   the lock of its session directory leaves a hidden, empty
//!   `.<prefix>-init-…` directory, which no sweep can judge.

#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub, rust_2018_idioms)]

// The layers, lowest first (see *Structure*): each module imports only from
// those above it. (One to a group, so that rustfmt keeps this order.)
mod sys;

mod loom;

mod error;

mod session;

mod tracking;

mod guard;

mod purge;

mod registry;

mod process;

mod global;

pub mod compat;

mod shutdown;

mod adapters;

pub use crate::adapters::{purge_on_cancel, purge_on_cancel_with};
#[cfg(feature = "tokio-graceful-shutdown")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio-graceful-shutdown")))]
pub use crate::adapters::{PurgeError, PurgeSubsystem};
pub use crate::error::{is_closed_error, is_replaced_error, RegistryClosed};
pub use crate::global::{global, temp_dir, temp_file};
pub use crate::guard::{
    AnonymousFile, DirPersistError, PathPersistError, PersistError, SpooledData, SpooledTempFile,
    TempDir, TempFile, TempOptions, TempPath, TrackedFile,
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
