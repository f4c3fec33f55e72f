//! The command of `tempreg run` on Windows: it shares tempreg's console,
//! and tempreg waits for it and ends with its exit code.
//!
//! What differs from Unix, and why:
//!
//! - **No signals to pass on.** Ctrl+C and Ctrl+Break go to every process
//!   attached to the console, the command and the processes it started
//!   included, so nothing needs passing on. tempreg handles them itself
//!   (a console control handler that notes the request and returns
//!   "handled"): it stays to wait for the command, then removes the
//!   session. A console closed, a log-off or a shutdown ends tempreg as
//!   the system decides; the registry's exit hook removes the session as
//!   `ExitProcess` runs, and what is left goes to the next sweep.
//! - **No process group.** Whether processes the command started still
//!   use the session is judged by the session's lock alone (inherited
//!   handles), as on Unix; [`Job::group_is_empty`] can only say whether
//!   the command itself has ended.
//! - **Exit codes are 32 bits.** A code that does not fit in a byte (an
//!   `NTSTATUS` such as `0xC000013A`, the end of a process by Ctrl+C) is
//!   passed on whole, with `ExitProcess`.

use std::io;
use std::process::{Child, Command, ExitCode, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};

use windows_sys::core::BOOL;
use windows_sys::Win32::Foundation::{FALSE, TRUE};
use windows_sys::Win32::System::Console::{SetConsoleCtrlHandler, CTRL_BREAK_EVENT, CTRL_C_EVENT};

/// Set by the console control handler when Ctrl+C or Ctrl+Break arrives.
static ASKED_TO_END: AtomicBool = AtomicBool::new(false);

/// Runs on a thread the system starts for each console control event.
unsafe extern "system" fn on_console_event(event: u32) -> BOOL {
    match event {
        CTRL_C_EVENT | CTRL_BREAK_EVENT => {
            ASKED_TO_END.store(true, Ordering::SeqCst);
            TRUE
        }
        // Close, log-off, shutdown: the system's default (ending tempreg).
        _ => FALSE,
    }
}

/// What is set up before the command starts: the console control handler.
pub(crate) struct Launcher(());

impl Launcher {
    /// Handles Ctrl+C and Ctrl+Break from now on (they reach the command
    /// directly; tempreg stays to clean up after it).
    pub(crate) fn new() -> io::Result<Launcher> {
        // SAFETY: `on_console_event` is a valid handler routine for the life
        // of the process (a plain function touching only an atomic).
        if unsafe { SetConsoleCtrlHandler(Some(on_console_event), TRUE) } == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Launcher(()))
    }

    /// Nothing to set up: the command shares tempreg's console and is in
    /// its console process group, so Ctrl+C reaches it.
    pub(crate) fn prepare(&self, _command: &mut Command) {}

    /// The command did not start: nothing to undo.
    pub(crate) fn start_failed(self) {}

    /// The command `child` has started.
    pub(crate) fn start(self, child: Child) -> Job {
        tracing::debug!(pid = child.id(), "tempreg run: the command runs");
        Job { child }
    }
}

/// The command, running.
pub(crate) struct Job {
    child: Child,
}

impl Job {
    /// Waits for the command to end.
    pub(crate) fn wait(&mut self) -> io::Result<ExitStatus> {
        self.child.wait()
    }

    /// True if Ctrl+C or Ctrl+Break was pressed.
    pub(crate) fn asked_to_end(&self) -> bool {
        ASKED_TO_END.load(Ordering::SeqCst)
    }

    /// True once the command has ended: Windows has no process group to
    /// ask about (see the module docs).
    pub(crate) fn group_is_empty(&self) -> bool {
        true
    }

    /// Nothing to stop: the handler stays (a Ctrl+C while the session is
    /// removed must not interrupt the removal).
    pub(crate) fn finish(self) {}
}

/// No signals on Windows.
pub(crate) fn killed_by(_status: ExitStatus) -> Option<i32> {
    None
}

/// No core files on Windows.
pub(crate) fn core_dumped(_status: ExitStatus) -> bool {
    false
}

/// Never called: Windows has no signals ([`killed_by`] is `None`).
pub(crate) fn signal_name(signal: i32) -> String {
    format!("signal {signal}")
}

/// How tempreg ends for the command's exit `code`: a byte as it is, a
/// larger code (an `NTSTATUS`) whole.
pub(crate) fn exit_code(code: i32) -> crate::Exit {
    match u8::try_from(code) {
        Ok(code) => crate::Exit::Code(code),
        Err(_) => crate::Exit::Raw(code),
    }
}

/// Never called: Windows has no signals ([`killed_by`] is `None`).
pub(crate) fn die_by(_signal: i32) -> ExitCode {
    ExitCode::from(crate::EXIT_OWN_FAILURE)
}

/// Ends this process with the 32-bit exit `code` (everything of ours was
/// cleaned up before).
pub(crate) fn exit_raw(code: i32) -> ExitCode {
    std::process::exit(code)
}

/// Why a command could not be started, as a shell tells it.
pub(crate) enum SpawnFailure {
    /// No such program: 127.
    NotFound,
    /// Found but not runnable (permissions, format): 126.
    CannotRun,
    /// tempreg's own failure (no memory or handle to spare): 125.
    Ours,
}

/// Sorts a failed spawn's error; see [`SpawnFailure`].
pub(crate) fn spawn_failure(e: &io::Error) -> SpawnFailure {
    match e.kind() {
        io::ErrorKind::NotFound => SpawnFailure::NotFound,
        io::ErrorKind::OutOfMemory => SpawnFailure::Ours,
        _ if e.raw_os_error().is_none() => SpawnFailure::Ours,
        _ => SpawnFailure::CannotRun,
    }
}
