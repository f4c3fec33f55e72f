//! The helpers of every integration test suite, declared by each as
//! `mod support;` and used as `support::…` (everything below is re-exported
//! here, so a test need not know which file a helper lives in).
//!
//! What each file owns:
//!
//! - [`child`]: the one way the suites start a process and wait on it,
//!   [`Running`] (output read on threads, every wait bounded, killed on
//!   drop); building an example for a test ([`example`]); signals; processes
//!   that are not our children ([`KillOnDrop`]); bounded polling
//!   ([`wait_until`]).
//! - [`files`]: a registry in a given root, scratch roots, and what is on
//!   disk (listings, snapshots, modes) with the assertions made about it;
//!   test payloads; this process's open file descriptors.
//! - [`runtime`]: tokio runtimes and `block_on` helpers.
//! - [`fifo`]: FIFOs for the tests of writes that block.
//! - [`fs_faults`]: set-ups a machine may refuse (a small tmpfs, `chattr
//!   +i`) and [`or_skip`] to skip a test without them.
//! - [`plants`]: session look-alikes planted in a shared root (a FIFO, a
//!   directory, a symlink or another user's file for a lock file), and the
//!   assertion that nothing in one changed.
//! - [`crash`]: the crash-safety fixture `tests/fixtures/crash_child.rs`
//!   (the `crash_child` example), held, killed or run to its exit.
//! - [`examples`]: the user examples run as children by the shutdown tests,
//!   each in its own scratch root, and what they leave in their session.
//! - [`users`]: another user (uid 65534, through `setpriv`) and a root
//!   shared like `/tmp` (mode 1777).
//! - [`reexec`]: scenarios that need a process of their own, run by the test
//!   binary re-executing itself.
//!
//! On Windows, [`fifo`], [`plants`] and [`users`] are left out (FIFOs,
//! owners, modes and `setpriv` are Unix's), and so are the signal helpers
//! of [`child`] and the mode and fd helpers of [`files`]; a child is killed
//! with `TerminateProcess` there.

// Every test binary compiles this whole module but uses only a subset of
// it: the helpers (and their re-exports below) that one binary does not
// use would each warn there.
#![allow(dead_code, unused_imports)]

pub mod child;
pub mod crash;
pub mod examples;
#[cfg(unix)]
pub mod fifo;
pub mod files;
pub mod fs_faults;
#[cfg(unix)]
pub mod plants;
pub mod reexec;
pub mod runtime;
#[cfg(unix)]
pub mod users;

pub use child::*;
pub use crash::*;
pub use examples::*;
#[cfg(unix)]
pub use fifo::*;
pub use files::*;
pub use fs_faults::*;
#[cfg(unix)]
pub use plants::*;
pub use reexec::*;
pub use runtime::*;
#[cfg(unix)]
pub use users::*;
