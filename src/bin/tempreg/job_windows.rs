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
//! - **A job object instead of a process group.** The command is put in a
//!   job object as soon as it has started, and every process it starts
//!   from then on is in the job too. When the command ends, tempreg ends
//!   what is left of the job (`TerminateJobObject`) and waits for it (up
//!   to [`REST_TIMEOUT`]), then removes the session: on Windows the whole
//!   tree ends with the command, where on Unix processes it left behind
//!   keep the session until they end. The job is also set to end its
//!   processes when its last handle closes, so if tempreg itself is killed
//!   the tree goes with it (and the session to the next sweep). A process
//!   the command starts in the instant before it is put in the job (std
//!   starts it running, not suspended) escapes the job: the session's lock
//!   (inherited handles) still keeps its session from being removed under
//!   it.
//! - **Exit codes are 32 bits.** A code that does not fit in a byte (an
//!   `NTSTATUS` such as `0xC000013A`, the end of a process by Ctrl+C) is
//!   passed on whole, with `ExitProcess`.

use std::io;
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};
use std::process::{Child, Command, ExitCode, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use windows_sys::core::BOOL;
use windows_sys::Win32::Foundation::{FALSE, TRUE};
use windows_sys::Win32::System::Console::{SetConsoleCtrlHandler, CTRL_BREAK_EVENT, CTRL_C_EVENT};
use windows_sys::Win32::System::JobObjects::{
    AssignProcessToJobObject, CreateJobObjectW, JobObjectBasicAccountingInformation,
    JobObjectExtendedLimitInformation, QueryInformationJobObject, SetInformationJobObject,
    TerminateJobObject, JOBOBJECT_BASIC_ACCOUNTING_INFORMATION,
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION, JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
};

/// How long tempreg waits, once the command has ended, for the rest of its
/// job to end after `TerminateJobObject`.
const REST_TIMEOUT: Duration = Duration::from_secs(5);

/// The exit code of the processes of the job that tempreg ends: what
/// `TerminateProcess` callers use (std's `Child::kill` included).
const ENDED_EXIT_CODE: u32 = 1;

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

/// What is set up before the command starts: the console control handler
/// and the job object.
pub(crate) struct Launcher {
    job: OwnedHandle,
}

/// A new job object whose processes end when its last handle closes.
fn kill_on_close_job() -> io::Result<OwnedHandle> {
    // SAFETY: no security attributes and no name are valid arguments.
    let raw = unsafe { CreateJobObjectW(std::ptr::null(), std::ptr::null()) };
    if raw.is_null() {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a new handle that nothing else owns.
    let job = unsafe { OwnedHandle::from_raw_handle(raw) };
    let mut limits = JOBOBJECT_EXTENDED_LIMIT_INFORMATION::default();
    limits.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
    // SAFETY: the handle is open; `limits` is the structure of this class,
    // of the size given.
    let ok = unsafe {
        SetInformationJobObject(
            job.as_raw_handle(),
            JobObjectExtendedLimitInformation,
            (&raw const limits).cast(),
            size_of::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>() as u32,
        )
    };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(job)
}

impl Launcher {
    /// Handles Ctrl+C and Ctrl+Break from now on (they reach the command
    /// directly; tempreg stays to clean up after it), and makes the job.
    pub(crate) fn new() -> io::Result<Launcher> {
        // SAFETY: `on_console_event` is a valid handler routine for the life
        // of the process (a plain function touching only an atomic).
        if unsafe { SetConsoleCtrlHandler(Some(on_console_event), TRUE) } == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Launcher {
            job: kill_on_close_job()?,
        })
    }

    /// Nothing to set up: the command shares tempreg's console and is in
    /// its console process group, so Ctrl+C reaches it.
    pub(crate) fn prepare(&self, _command: &mut Command) {}

    /// The command did not start: nothing to undo.
    pub(crate) fn start_failed(self) {}

    /// The command `child` has started: into the job with it. If that
    /// fails (a system that refuses nested jobs), the command runs on
    /// outside any job, and says so in the debug log; the session's lock
    /// still keeps the session from going while its processes use it.
    pub(crate) fn start(self, child: Child) -> Job {
        tracing::debug!(pid = child.id(), "tempreg run: the command runs");
        // SAFETY: both handles are open (the child's until it is waited
        // for, which is later).
        let assigned =
            unsafe { AssignProcessToJobObject(self.job.as_raw_handle(), child.as_raw_handle()) };
        let job = if assigned == 0 {
            let e = io::Error::last_os_error();
            tracing::debug!(error = %e, "tempreg run: the command is not in a job");
            None
        } else {
            Some(self.job)
        };
        Job { child, job }
    }
}

/// The command, running, and its job.
pub(crate) struct Job {
    child: Child,
    job: Option<OwnedHandle>,
}

impl Job {
    /// Waits for the command to end, then ends the rest of its job and
    /// waits for that too (up to [`REST_TIMEOUT`]).
    pub(crate) fn wait(&mut self) -> io::Result<ExitStatus> {
        let status = self.child.wait()?;
        if let Some(job) = &self.job {
            if active_processes(job).is_some_and(|n| n > 0) {
                tracing::debug!("tempreg run: ending what the command left in its job");
                // SAFETY: the handle is open.
                unsafe { TerminateJobObject(job.as_raw_handle(), ENDED_EXIT_CODE) };
                let deadline = Instant::now() + REST_TIMEOUT;
                while active_processes(job).is_some_and(|n| n > 0) && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
        Ok(status)
    }

    /// True if Ctrl+C or Ctrl+Break was pressed.
    pub(crate) fn asked_to_end(&self) -> bool {
        ASKED_TO_END.load(Ordering::SeqCst)
    }

    /// True once no process of the command's job is left (outside a job:
    /// once the command has ended).
    pub(crate) fn group_is_empty(&self) -> bool {
        self.job
            .as_ref()
            .and_then(active_processes)
            .is_none_or(|n| n == 0)
    }

    /// Nothing to stop: the handler stays (a Ctrl+C while the session is
    /// removed must not interrupt the removal).
    pub(crate) fn finish(self) {}
}

/// How many processes of `job` are running; `None` if the system does not
/// say.
fn active_processes(job: &OwnedHandle) -> Option<u32> {
    let mut info = JOBOBJECT_BASIC_ACCOUNTING_INFORMATION::default();
    // SAFETY: the handle is open; `info` is the structure of this class, of
    // the size given; the returned length is not asked for.
    let ok = unsafe {
        QueryInformationJobObject(
            job.as_raw_handle(),
            JobObjectBasicAccountingInformation,
            (&raw mut info).cast(),
            size_of::<JOBOBJECT_BASIC_ACCOUNTING_INFORMATION>() as u32,
            std::ptr::null_mut(),
        )
    };
    (ok != 0).then_some(info.ActiveProcesses)
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
