//! Console control events (Ctrl+C, Ctrl+Break, closing the console,
//! logoff, system shutdown), the Windows counterpart of stop signals:
//! numbered as Windows numbers them (`CTRL_C_EVENT` = 0, ...).
//!
//! One process-wide handler (`SetConsoleCtrlHandler`) hands each event to
//! the listeners open at that moment. For closing the console, logoff and
//! shutdown, Windows ends the process as soon as the handler returns, so the
//! handler waits there (within the few seconds Windows allows) for the
//! listener's clean-up, which then ends the process itself.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use windows_sys::core::BOOL;
use windows_sys::Win32::System::Console::{
    SetConsoleCtrlHandler, CTRL_BREAK_EVENT, CTRL_CLOSE_EVENT, CTRL_C_EVENT, CTRL_LOGOFF_EVENT,
    CTRL_SHUTDOWN_EVENT,
};

/// The events a [`Shutdown`](crate::Shutdown) listens for by default.
pub(crate) const STOP_SIGNALS: [i32; 4] = [
    CTRL_C_EVENT as i32,
    CTRL_BREAK_EVENT as i32,
    CTRL_CLOSE_EVENT as i32,
    CTRL_SHUTDOWN_EVENT as i32,
];

/// The events `cleanup_on_signals` handles.
pub(crate) const CLEANUP_SIGNALS: [i32; 5] = [
    CTRL_C_EVENT as i32,
    CTRL_BREAK_EVENT as i32,
    CTRL_CLOSE_EVENT as i32,
    CTRL_LOGOFF_EVENT as i32,
    CTRL_SHUTDOWN_EVENT as i32,
];

/// The status a process ended by a console control event exits with
/// (`STATUS_CONTROL_C_EXIT`), as Windows' own handler does.
const STATUS_CONTROL_C_EXIT: u32 = 0xC000_013A;

struct Listeners {
    open: Vec<(Vec<i32>, Sender<i32>, u64)>,
    next: u64,
}

fn listeners() -> &'static Mutex<Listeners> {
    static LISTENERS: OnceLock<Mutex<Listeners>> = OnceLock::new();
    LISTENERS.get_or_init(|| {
        Mutex::new(Listeners {
            open: Vec::new(),
            next: 0,
        })
    })
}

extern "system" fn handler(event: u32) -> BOOL {
    let event = event as i32;
    let heard = {
        let listeners = listeners().lock().unwrap_or_else(|p| p.into_inner());
        let mut heard = false;
        for (events, tx, _) in &listeners.open {
            if events.contains(&event) && tx.send(event).is_ok() {
                heard = true;
            }
        }
        heard
    };
    if !heard {
        // Nobody listens: Windows' default handling (the process ends).
        return 0;
    }
    if [CTRL_CLOSE_EVENT, CTRL_LOGOFF_EVENT, CTRL_SHUTDOWN_EVENT].contains(&(event as u32)) {
        // Returning ends the process now: leave the listener its clean-up
        // (it ends the process itself), within what Windows allows.
        std::thread::sleep(Duration::from_secs(4));
    }
    1
}

fn install() -> io::Result<()> {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    // SAFETY: `handler` is an `extern "system" fn(u32) -> BOOL` that never
    // unwinds (it only locks, sends and sleeps).
    let ok = *INSTALLED.get_or_init(|| unsafe { SetConsoleCtrlHandler(Some(handler), 1) } != 0);
    if ok {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Delivered events, waited for on a thread of the caller's.
#[derive(Debug)]
pub(crate) struct SignalListener {
    rx: Receiver<i32>,
    id: u64,
}

/// Stops a [`SignalListener`] from another thread.
#[derive(Debug)]
pub(crate) struct SignalCloser(u64);

impl SignalListener {
    pub(crate) fn new(events: &[i32]) -> io::Result<(SignalListener, SignalCloser)> {
        install()?;
        let (tx, rx) = mpsc::channel();
        let mut listeners = listeners().lock().unwrap_or_else(|p| p.into_inner());
        let id = listeners.next;
        listeners.next += 1;
        listeners.open.push((events.to_vec(), tx, id));
        Ok((SignalListener { rx, id }, SignalCloser(id)))
    }

    /// The next event delivered; `None` once closed.
    pub(crate) fn wait(&mut self) -> Option<i32> {
        self.rx.recv().ok()
    }
}

impl Drop for SignalListener {
    fn drop(&mut self) {
        SignalCloser(self.id).close();
    }
}

impl SignalCloser {
    pub(crate) fn close(&self) {
        let mut listeners = listeners().lock().unwrap_or_else(|p| p.into_inner());
        listeners.open.retain(|(_, _, id)| *id != self.0);
    }
}

/// An event's name, as `CTRL_C_EVENT`, or its number when unknown.
pub(crate) fn signal_name(event: i32) -> String {
    match event as u32 {
        CTRL_C_EVENT => "CTRL_C_EVENT".into(),
        CTRL_BREAK_EVENT => "CTRL_BREAK_EVENT".into(),
        CTRL_CLOSE_EVENT => "CTRL_CLOSE_EVENT".into(),
        CTRL_LOGOFF_EVENT => "CTRL_LOGOFF_EVENT".into(),
        CTRL_SHUTDOWN_EVENT => "CTRL_SHUTDOWN_EVENT".into(),
        _ => format!("console event {event}"),
    }
}

/// Ends the process as Windows' own handler would after a console control
/// event: status `STATUS_CONTROL_C_EXIT` (0xC000013A), which a supervisor
/// reads as "stopped by Ctrl+C".
pub(crate) fn die_by(_event: i32) -> ! {
    std::process::exit(STATUS_CONTROL_C_EXIT as i32)
}

/// True for the console control events a handler can receive.
pub(crate) fn is_catchable_signal(event: i32) -> bool {
    CLEANUP_SIGNALS.contains(&event)
}

/// The switch for `cleanup_on_signals` to step aside: on Windows a handler
/// that no listener hears returns `FALSE`, which is the default handling
/// already, so the switch changes nothing.
pub(crate) fn default_action_switch() -> io::Result<&'static AtomicBool> {
    static SWITCH: AtomicBool = AtomicBool::new(false);
    SWITCH.store(false, Ordering::SeqCst);
    Ok(&SWITCH)
}
