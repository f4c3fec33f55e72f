//! The panic hook: purge when a panic is about to end the process.
//!
//! # Invariants
//!
//! - The hook holds the registry weakly, so installing it never keeps a
//!   registry (and its session directory) alive.
//! - It never panics and never waits on a lock: the blocking purge uses
//!   `try_lock` on handles and reports busy ones. No code of ours panics while
//!   holding a dashmap shard, so the purge cannot find its own thread holding
//!   one.
//! - It runs before the previous hook, so a previous hook that aborts cannot
//!   skip the purge.

use crate::sys;
use crate::ResourceRegistry;

/// When the panic hook purges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PanicPolicy {
    /// Purge only when the panic will end the process: in a
    /// `panic = "abort"` build, or on the main thread. Then also remove the
    /// session directory. A worker-thread panic in a process that goes on
    /// (a tokio task, a thread whose result is checked) leaves files alone.
    #[default]
    WhenEnding,
    /// Purge on every panic, on any thread; remove the session directory
    /// only when the panic will end the process.
    Always,
}

/// True when this panic ends the process: it aborts, or it unwinds out of
/// the main thread (unless caught there with `catch_unwind`).
fn process_ending() -> bool {
    cfg!(panic = "abort") || sys::is_main_thread()
}

impl ResourceRegistry {
    /// Chains a panic hook that purges this registry when a panic will end
    /// the process: in a `panic = "abort"` build, or on the main thread. A
    /// panic on another thread leaves files alone, since the process goes on
    /// using them. When it purges, it also removes the session directory.
    ///
    /// See [`install_panic_hook_with`](Self::install_panic_hook_with) to
    /// purge on every panic.
    pub fn install_panic_hook(&self) {
        self.install_panic_hook_with(PanicPolicy::WhenEnding);
    }

    /// Chains a panic hook with the given policy.
    pub fn install_panic_hook_with(&self, policy: PanicPolicy) {
        let weak = self.weak();
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if let Some(registry) = weak.upgrade() {
                let ending = process_ending();
                if ending || policy == PanicPolicy::Always {
                    // Both do nothing in a forked child.
                    let report = if ending {
                        registry.purge_and_remove_session()
                    } else {
                        registry.purge_all_blocking()
                    };
                    tracing::warn!(%report, ending, "tempreg purged on panic");
                }
            }
            previous(info);
        }));
    }
}
