//! The exit hook: purge on `std::process::exit` and a return from `main`.
//!
//! # Invariants
//!
//! - One `atexit` handler per process, installed on first use; it holds the
//!   registries weakly, so registering never keeps one alive.
//! - The handler runs at most once, and does nothing in a process other
//!   than the one that registered (a child forked without exec that calls
//!   `exit` must not purge its parent's files).
//! - The handler never panics: a panic cannot unwind out of an `extern "C"`
//!   function, so everything it calls is panic-free, and it is wrapped in
//!   `catch_unwind` as well.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once, Weak};

use crate::registry::Inner;
use crate::ResourceRegistry;

static HOOKED: Mutex<Vec<Weak<Inner>>> = Mutex::new(Vec::new());
static INSTALL: Once = Once::new();
static RAN: AtomicBool = AtomicBool::new(false);

extern "C" fn run_exit_hooks() {
    let _ = std::panic::catch_unwind(|| {
        if RAN.swap(true, Ordering::SeqCst) {
            return;
        }
        let hooked: Vec<Weak<Inner>> = match HOOKED.lock() {
            Ok(mut list) => std::mem::take(&mut *list),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        // A child forked without exec inherits this list: it skips every
        // registry its parent made.
        for inner in hooked
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|i| i.is_owner_process())
        {
            let registry = ResourceRegistry { inner };
            let report = registry.purge_and_remove_session();
            tracing::info!(%report, "tempreg purged at exit");
        }
    });
}

pub(crate) fn register(registry: &ResourceRegistry) -> bool {
    if registry.inner.exit_hook.swap(true, Ordering::SeqCst) {
        return false;
    }
    INSTALL.call_once(|| {
        // SAFETY: `run_exit_hooks` is an `extern "C" fn()` with no arguments
        // that never unwinds, as `atexit` requires. No crate we depend on
        // wraps `atexit`, so this one FFI call is the way to run code on
        // `exit`. A failure (returns non-zero) only means no hook: logged.
        let rc = unsafe { libc::atexit(run_exit_hooks) };
        if rc != 0 {
            tracing::warn!("tempreg could not register its exit handler");
        }
    });
    HOOKED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(registry.weak());
    true
}
