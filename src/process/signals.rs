//! Signals for sync programs: the thread behind [`cleanup_on_signals`], and
//! dying by a signal (shared with [`Shutdown`](crate::Shutdown)).
//!
//! # Invariants
//!
//! - Handlers are installed only on request: once a handler exists, neither
//!   tokio nor `signal-hook` restores the default action by itself.
//! - The first signal only begins an orderly stop. A second one forces the
//!   end: a blocking purge (which never waits on a lock) of every added
//!   registry, then death by that signal.
//! - Dying by a signal restores the default action and raises the signal
//!   again ([`sys::die_by`]), so the parent sees "killed by SIGTERM" (128 +
//!   15 in a shell), as it would without us.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::registry::WeakRegistry;
use crate::sys;
use crate::ResourceRegistry;

pub(crate) use crate::sys::{die_by, signal_name};

/// Purges every registry for good (blocking, never waiting on a lock) and
/// removes their session directories: the process is about to end.
pub(crate) fn purge_for_exit(registries: &[ResourceRegistry]) {
    for registry in registries {
        let report = registry.purge_and_remove_session();
        tracing::warn!(%report, "tempreg forced purge");
    }
}

/// Purges registries when SIGTERM, SIGINT, SIGHUP or SIGQUIT arrives, for
/// programs without an async runtime. Made by [`cleanup_on_signals`].
///
/// On the first of those signals its thread purges every registry it was
/// given (a blocking purge that never waits on a lock), removes their session
/// directories, restores the signal's default action and raises it again, so
/// the process ends as it would have without us, and leaves nothing behind.
///
/// Dropping it stops the thread and gives those signals their default action
/// back.
pub struct SignalCleanup {
    closer: sys::SignalCloser,
    thread: Option<JoinHandle<()>>,
    registries: Arc<Mutex<Vec<WeakRegistry>>>,
    restore_default: &'static AtomicBool,
}

impl std::fmt::Debug for SignalCleanup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignalCleanup")
            .field(
                "registries",
                &self.registries.lock().map(|r| r.len()).unwrap_or(0),
            )
            .finish()
    }
}

/// The signals [`cleanup_on_signals`] handles: SIGTERM, SIGINT, SIGHUP and
/// SIGQUIT on Unix.
pub const CLEANUP_SIGNALS: [i32; sys::CLEANUP_SIGNALS.len()] = sys::CLEANUP_SIGNALS;

/// Starts a thread that purges `registry` and ends the process by the signal
/// when SIGTERM, SIGINT, SIGHUP or SIGQUIT arrives. For sync programs; an
/// async program uses [`Shutdown`](crate::Shutdown).
///
/// Keep the returned value alive for as long as the cleanup should happen;
/// add more registries to it with [`SignalCleanup::add`] (one thread serves
/// them all, so each is purged before the process ends).
///
/// # Errors
///
/// If the handlers cannot be installed or the thread cannot be started.
///
/// # Examples
///
/// ```no_run
/// let registry = tempreg::ResourceRegistry::new()?;
/// let _cleanup = tempreg::cleanup_on_signals(&registry)?;
/// let scratch = registry.temp_file()?;
/// // ... long work; SIGTERM now removes `scratch` and ends the process.
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn cleanup_on_signals(registry: &ResourceRegistry) -> io::Result<SignalCleanup> {
    let restore_default = sys::default_action_switch()?;
    ACTIVE.fetch_add(1, Ordering::SeqCst);
    restore_default.store(false, Ordering::SeqCst);
    let undo = scopeguard::guard((), |()| SignalCleanup::release(restore_default));
    let (mut signals, closer) = sys::SignalListener::new(&CLEANUP_SIGNALS)?;
    let registries = Arc::new(Mutex::new(vec![registry.weak()]));
    let shared = Arc::clone(&registries);
    let thread = std::thread::Builder::new()
        .name("tempreg-signals".into())
        .spawn(move || {
            if let Some(sig) = signals.wait() {
                tracing::info!(signal = %signal_name(sig), "tempreg: signal received, purging");
                let live: Vec<ResourceRegistry> = shared
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .iter()
                    .filter_map(WeakRegistry::upgrade)
                    .collect();
                purge_for_exit(&live);
                die_by(sig);
            }
        })?;
    scopeguard::ScopeGuard::into_inner(undo);
    Ok(SignalCleanup {
        closer,
        thread: Some(thread),
        registries,
        restore_default,
    })
}

/// How many [`SignalCleanup`]s are alive; the default action comes back
/// when the last one goes.
static ACTIVE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl SignalCleanup {
    fn release(switch: &AtomicBool) {
        if ACTIVE.fetch_sub(1, Ordering::SeqCst) == 1 {
            switch.store(true, Ordering::SeqCst);
        }
    }

    /// Purges `registry` too when a signal arrives.
    pub fn add(&self, registry: &ResourceRegistry) {
        self.registries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(registry.weak());
    }
}

impl Drop for SignalCleanup {
    fn drop(&mut self) {
        self.closer.close();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        SignalCleanup::release(self.restore_default);
    }
}
