//! Signals: listening on a thread of the caller's, the default action back,
//! and dying by a signal, through `signal-hook`.

use std::io;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, OnceLock};

use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
use signal_hook::iterator::{Handle, Signals};

/// The signals a [`Shutdown`](crate::Shutdown) listens for by default.
pub(crate) const STOP_SIGNALS: [i32; 2] = [SIGTERM, SIGINT];

/// The signals `cleanup_on_signals` handles.
pub(crate) const CLEANUP_SIGNALS: [i32; 4] = [SIGTERM, SIGINT, SIGHUP, SIGQUIT];

/// `SIGHUP` and `SIGQUIT`, for the builder's shorthands.
pub(crate) const HANGUP: i32 = SIGHUP;
pub(crate) const QUIT: i32 = SIGQUIT;

/// Delivered signals, waited for on a thread of the caller's.
#[derive(Debug)]
pub(crate) struct SignalListener {
    signals: Signals,
}

/// Stops a [`SignalListener`] from another thread.
#[derive(Debug)]
pub(crate) struct SignalCloser(Handle);

impl SignalListener {
    /// Installs handlers for `signals` (they stay installed for the life of
    /// the process) and listens.
    pub(crate) fn new(signals: &[i32]) -> io::Result<(SignalListener, SignalCloser)> {
        let signals = Signals::new(signals)?;
        let closer = SignalCloser(signals.handle());
        Ok((SignalListener { signals }, closer))
    }

    /// The next signal delivered; `None` once closed.
    pub(crate) fn wait(&mut self) -> Option<i32> {
        self.signals.forever().next()
    }
}

impl SignalCloser {
    pub(crate) fn close(&self) {
        self.0.close();
    }
}

/// A signal's name, as `SIGTERM`, or its number when unknown.
pub(crate) fn signal_name(sig: i32) -> String {
    signal_hook::low_level::signal_name(sig)
        .map(str::to_string)
        .unwrap_or_else(|| format!("signal {sig}"))
}

/// Ends the process by `sig` with its default action (restored, then the
/// signal raised again, so the parent sees "killed by SIGTERM"); falls back
/// to `exit(128 + sig)` if that returns (a signal whose default is to
/// ignore).
pub(crate) fn die_by(sig: i32) -> ! {
    let _ = signal_hook::low_level::emulate_default_handler(sig);
    std::process::exit(128 + sig)
}

/// True for a signal a handler may be installed for: a number the system
/// knows (up to `SIGRTMAX` on Linux, 31 elsewhere) that is not one of those
/// no handler can catch (`SIGKILL`, `SIGSTOP`) or that must not be caught
/// (`SIGILL`, `SIGFPE`, `SIGSEGV`).
pub(crate) fn is_catchable_signal(sig: i32) -> bool {
    #[cfg(target_os = "linux")]
    let max = libc::SIGRTMAX();
    #[cfg(not(target_os = "linux"))]
    let max = 31;
    (1..=max).contains(&sig) && !signal_hook::consts::FORBIDDEN.contains(&sig)
}

/// One process-wide switch, registered once for [`CLEANUP_SIGNALS`]: while
/// it is on, those signals get their default action again (a handler, once
/// installed, stays; this is how it steps aside).
pub(crate) fn default_action_switch() -> io::Result<&'static AtomicBool> {
    static SWITCH: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    static INSTALL: Mutex<()> = Mutex::new(());
    if let Some(switch) = SWITCH.get() {
        return Ok(switch);
    }
    let _once = INSTALL.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(switch) = SWITCH.get() {
        return Ok(switch);
    }
    let switch = Arc::new(AtomicBool::new(false));
    for sig in CLEANUP_SIGNALS {
        signal_hook::flag::register_conditional_default(sig, Arc::clone(&switch))?;
    }
    Ok(SWITCH.get_or_init(|| switch))
}
