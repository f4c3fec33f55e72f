//! The exit hook: purge on `std::process::exit` and a return from `main`.
//!
//! # Invariants
//!
//! - One `atexit` handler per process, installed on first use; it holds the
//!   registries weakly, so registering never keeps one alive, and the list is
//!   pruned of dropped registries as it grows.
//! - The handler runs at most once, and purges nothing in a process other
//!   than the one that made each registry (a child forked without exec that
//!   calls `exit` must not purge its parent's files).
//! - The handler never panics: a panic cannot unwind out of an `extern "C"`
//!   function, so everything it calls is panic-free, and it is wrapped in
//!   `catch_unwind` as well.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once};

use crate::registry::WeakRegistry;
use crate::sys;
use crate::ResourceRegistry;

static HOOKED: Mutex<Vec<WeakRegistry>> = Mutex::new(Vec::new());
static INSTALL: Once = Once::new();
static RAN: AtomicBool = AtomicBool::new(false);

extern "C" fn run_exit_hooks() {
    let _ = std::panic::catch_unwind(|| {
        if RAN.swap(true, Ordering::SeqCst) {
            return;
        }
        let hooked = std::mem::take(&mut *HOOKED.lock().unwrap_or_else(|p| p.into_inner()));
        for registry in hooked.iter().filter_map(WeakRegistry::upgrade) {
            // Does nothing in a forked child.
            let report = registry.purge_and_remove_session();
            tracing::info!(%report, "tempreg purged at exit");
        }
    });
}

impl ResourceRegistry {
    /// Purges this registry and removes its session directory when the
    /// process calls `exit` (`std::process::exit`, or a return from `main`)
    /// with the registry still alive, for example in a `static`, or leaked
    /// by an `exit` that skips destructors.
    ///
    /// Registers one `atexit` handler per process, on first use; calling it
    /// again for the same registry does nothing (returns false). The handler
    /// runs at most once, and does nothing in a child forked without exec,
    /// so a child's `exit` never purges its parent's files.
    ///
    /// It cannot help on SIGKILL or `abort` (no code runs; see
    /// [`sweep_orphans`](crate::sweep_orphans)) or on `_exit`. On Windows it
    /// runs on a return from `main` only: `std::process::exit` is
    /// `ExitProcess` there, which runs no `atexit` handler, so what such an
    /// exit leaves waits for a sweep (its lock is released with the process).
    pub fn purge_on_exit(&self) -> bool {
        if !self.mark_exit_hooked() {
            return false;
        }
        INSTALL.call_once(|| {
            if !sys::at_exit(run_exit_hooks) {
                tracing::warn!("tempreg could not register its exit handler");
            }
        });
        let mut hooked = HOOKED.lock().unwrap_or_else(|p| p.into_inner());
        // A registry per request must not grow the list for ever.
        if hooked.len() >= 64 && hooked.len().is_power_of_two() {
            hooked.retain(WeakRegistry::is_alive);
        }
        hooked.push(self.weak());
        true
    }
}
