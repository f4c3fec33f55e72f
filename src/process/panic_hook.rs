//! The panic hook: clean up when a panic ends the process, and only then.
//!
//! A panic hook runs before the panic unwinds, so it cannot know whether the
//! panic will be caught (by `catch_unwind`, by a tokio task, by a thread
//! whose result is checked). What it can know:
//!
//! - under `panic = "abort"` the process ends right after the hook: the
//!   hook purges and removes the session directories;
//! - under unwinding, a panic that escapes `main` ends in `exit` (Rust's
//!   runtime returns 101 from the C `main`), where the exit hook runs: so
//!   installing the panic hook also registers the registry with the exit
//!   hook, and the panic hook itself leaves files alone;
//! - [`PanicPolicy::Always`] purges (blocking) on every panic, caught or
//!   not, on any thread, and leaves the session directory for the process
//!   to go on using.
//!
//! # Invariants
//!
//! - One process-wide hook, installed once; registries are added to a list,
//!   held weakly (installing never keeps a registry alive), and the list is
//!   pruned of dropped registries as it grows. A registry per test or per
//!   request adds an entry to the list, not a link to the hook chain.
//! - The hook never panics and never waits on a lock: it takes the list with
//!   `try_lock` (a panic while that lock is held skips the purge rather than
//!   deadlock), and the blocking purge uses `try_lock` on handles.
//! - It runs before the previous hook, so a previous hook that aborts cannot
//!   skip the purge.

use std::sync::{Mutex, Once, TryLockError};

use crate::registry::WeakRegistry;
use crate::ResourceRegistry;

/// When the panic hook purges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PanicPolicy {
    /// Clean up only when the panic ends the process: in a
    /// `panic = "abort"` build, the hook purges and removes the session
    /// directory; a panic that unwinds out of `main` is cleaned up by the
    /// exit hook. A caught panic (a tokio task, `catch_unwind`, a joined
    /// thread) leaves every file alone.
    #[default]
    WhenEnding,
    /// Also purge on every panic, on any thread, caught or not (the session
    /// directory stays for the process to go on using).
    Always,
}

static HOOKED: Mutex<Vec<(WeakRegistry, PanicPolicy)>> = Mutex::new(Vec::new());
static INSTALL: Once = Once::new();

fn on_panic() {
    let hooked = match HOOKED.try_lock() {
        Ok(list) => list.clone(),
        Err(TryLockError::Poisoned(p)) => p.into_inner().clone(),
        Err(TryLockError::WouldBlock) => return,
    };
    let ending = cfg!(panic = "abort");
    for (weak, policy) in hooked {
        if !ending && policy != PanicPolicy::Always {
            continue;
        }
        let Some(registry) = weak.upgrade() else {
            continue;
        };
        // Both do nothing in a forked child.
        let report = if ending {
            registry.purge_and_remove_session()
        } else {
            registry.purge_all_blocking()
        };
        tracing::warn!(%report, ending, "tempreg purged on panic");
    }
}

impl ResourceRegistry {
    /// Cleans this registry up when a panic ends the process (see
    /// [`PanicPolicy::WhenEnding`]): in a `panic = "abort"` build the hook
    /// purges and removes the session directory; a panic that unwinds out of
    /// `main` is cleaned up by the exit hook, which this also registers
    /// ([`purge_on_exit`](Self::purge_on_exit)). A caught panic leaves every
    /// file alone.
    ///
    /// One process-wide hook serves every registry, however many install it;
    /// it runs before the hook that was set when it was first installed. If
    /// something replaces the panic hook later (`std::panic::set_hook`
    /// without chaining), the abort-build purge is lost; the exit hook stays.
    ///
    /// See [`install_panic_hook_with`](Self::install_panic_hook_with) to
    /// purge on every panic.
    pub fn install_panic_hook(&self) {
        self.install_panic_hook_with(PanicPolicy::WhenEnding);
    }

    /// [`install_panic_hook`](Self::install_panic_hook) with the given policy.
    pub fn install_panic_hook_with(&self, policy: PanicPolicy) {
        INSTALL.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                on_panic();
                previous(info);
            }));
        });
        {
            let mut hooked = HOOKED.lock().unwrap_or_else(|p| p.into_inner());
            if hooked.len() >= 64 && hooked.len().is_power_of_two() {
                hooked.retain(|(weak, _)| weak.is_alive());
            }
            match hooked.iter_mut().find(|(weak, _)| weak.is(self)) {
                Some(entry) => entry.1 = policy,
                None => hooked.push((self.weak(), policy)),
            }
        }
        self.purge_on_exit();
    }
}
