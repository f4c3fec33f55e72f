//! `tempreg run`: a session, the command in it (as a [`job`](crate::job)),
//! and what becomes of the session once the command has ended.
//!
//! In order:
//!
//! 1. The signals to pass on are caught, then the session directory is
//!    made. Failing either is tempreg's own failure: 125.
//! 2. The command starts in the session (`TMPDIR`, `TEMPREG_SESSION_DIR`,
//!    a lock of its own) and in a process group of its own. Not found: 127;
//!    found but not runnable: 126; a fork that fails: 125.
//! 3. tempreg waits for it (passing signals on, following its stops).
//! 4. The session: kept if the command failed and `--keep-on-failure` asks
//!    for it (no sweep removes it; the message says how to); left to a
//!    sweep if processes the command started still hold its lock (they may
//!    still be writing there: the message names the directory and says the
//!    next sweep after they end removes it); removed otherwise. If the
//!    command's group was asked to end (a signal passed on, or the command
//!    killed by one), its processes get up to [`GRACE`] to do so before
//!    anything still there counts as left behind.
//! 5. tempreg ends as the command ended: its exit code, or death by its
//!    signal. A session that cannot be removed after a command that
//!    succeeded makes that 125.

use std::ffi::OsString;
use std::io;
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use tempreg::ResourceRegistry;

use crate::job::{self, Job};
use crate::{
    reason, root_reason, say, shell_word, Exit, EXIT_CANNOT_RUN, EXIT_NOT_FOUND, EXIT_OWN_FAILURE,
};

/// How long the processes of a group asked to end may take to let go of the
/// session before those still holding it count as left behind. They were
/// signalled when the command was, so this is the time it takes a process
/// to die, not to finish work.
const GRACE: Duration = Duration::from_secs(2);

/// How often the session's lock is tried meanwhile.
const GRACE_POLL: Duration = Duration::from_millis(20);

pub(crate) fn run(root: &Path, keep_on_failure: bool, command: &[OsString]) -> Exit {
    let Some((program, args)) = command.split_first() else {
        // clap requires CMD; kept for the type's sake.
        say!("run: no command given");
        return Exit::Code(EXIT_OWN_FAILURE);
    };
    let shown = Path::new(program).display().to_string();

    let launcher = match job::Launcher::new() {
        Ok(launcher) => launcher,
        Err(e) => {
            say!("run: cannot catch signals to pass on: {}", reason(&e));
            return Exit::Code(EXIT_OWN_FAILURE);
        }
    };
    let registry = match ResourceRegistry::builder().root(root).build() {
        Ok(registry) => registry,
        Err(e) => {
            say!(
                "run: cannot make a session directory in {}: {}",
                root.display(),
                root_reason(root, &e)
            );
            return Exit::Code(EXIT_OWN_FAILURE);
        }
    };
    let session = registry.session_dir().to_path_buf();
    tracing::debug!(session = %session.display(), "tempreg run: session made");

    let mut cmd = Command::new(program);
    cmd.args(args);
    launcher.prepare(&mut cmd);
    let child = match registry.spawn_in_session(&mut cmd) {
        Ok(child) => child,
        Err(e) => {
            launcher.start_failed();
            say!("run: cannot run `{shown}`: {}", reason(&e));
            // The registry, dropped, removes the session.
            return Exit::Code(spawn_failure_code(&e));
        }
    };
    let mut job = launcher.start(child);
    let status = match job.wait() {
        Ok(status) => status,
        Err(e) => {
            // Cannot happen short of a broken system; the command may still
            // run, so its session stays for a sweep to judge.
            say!("run: cannot wait for `{shown}`: {}", reason(&e));
            registry.leave_session_to_sweep();
            return Exit::Code(EXIT_OWN_FAILURE);
        }
    };
    tracing::debug!(%status, "tempreg run: the command ended");
    let in_use = session_still_in_use(&registry, &job, status);
    job.finish();
    let exit = exit_of(status);

    if keep_on_failure && !status.success() {
        match registry.keep_session_dir() {
            Ok(dir) => {
                let dir_word = shell_word(&dir);
                say!(
                    "run: `{shown}` {}; its session directory is kept for inspection and no \
                     sweep removes it: {}; remove it when done: rm -rf {dir_word}",
                    ended(status),
                    dir.display()
                );
                return exit;
            }
            Err(e) => say!(
                "run: `{shown}` {}, but its session directory cannot be kept: {}",
                ended(status),
                reason(&e)
            ),
        }
    }
    match in_use {
        Ok(false) => {}
        Ok(true) => {
            registry.leave_session_to_sweep();
            say!(
                "run: processes started by `{shown}` still use {}: it is left to them; \
                 the first `tempreg sweep {}` after they end removes it",
                session.display(),
                shell_word(root)
            );
            return exit;
        }
        Err(e) => {
            registry.leave_session_to_sweep();
            say!(
                "run: cannot tell whether processes started by `{shown}` still use {} ({}): \
                 it is left in place; the first `tempreg sweep {}` after they end removes it",
                session.display(),
                reason(&e),
                shell_word(root)
            );
            return exit;
        }
    }
    let report = registry.purge_and_remove_session();
    if report.is_clean() {
        tracing::debug!(session = %session.display(), "tempreg run: session removed");
        return exit;
    }
    for failure in report.failures() {
        say!(
            "run: cannot remove the session directory {}: {failure}",
            session.display()
        );
    }
    if status.success() {
        Exit::Code(EXIT_OWN_FAILURE)
    } else {
        exit
    }
}

/// Whether processes the command started still hold the session's lock. If
/// its group was asked to end, they get up to [`GRACE`] to let go (stopping
/// early once its group is empty: what still holds the lock then left the
/// group, and was not asked).
fn session_still_in_use(
    registry: &ResourceRegistry,
    job: &Job,
    status: ExitStatus,
) -> io::Result<bool> {
    let asked_to_end = job.asked_to_end() || job::killed_by(status).is_some();
    let deadline = Instant::now() + GRACE;
    loop {
        if !registry.is_session_in_use()? {
            return Ok(false);
        }
        if !asked_to_end || job.group_is_empty() || Instant::now() >= deadline {
            return Ok(true);
        }
        std::thread::sleep(GRACE_POLL);
    }
}

/// How tempreg ends for the command's `status`.
fn exit_of(status: ExitStatus) -> Exit {
    match (status.code(), job::killed_by(status)) {
        (Some(code), _) => job::exit_code(code),
        (None, Some(signal)) => Exit::Signal(signal),
        (None, None) => Exit::Code(EXIT_OWN_FAILURE),
    }
}

/// "exited with status 3", "was killed by SIGTERM".
fn ended(status: ExitStatus) -> String {
    match (status.code(), job::killed_by(status)) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) if job::core_dumped(status) => {
            format!("was killed by {} (core dumped)", job::signal_name(signal))
        }
        (None, Some(signal)) => format!("was killed by {}", job::signal_name(signal)),
        (None, None) => format!("ended ({status})"),
    }
}

/// What a shell answers when a command cannot be run: 127 not found, 126
/// found but not runnable; 125 when the failure is tempreg's (no process
/// or file descriptor to spare, the session's lock).
fn spawn_failure_code(e: &io::Error) -> u8 {
    match job::spawn_failure(e) {
        job::SpawnFailure::NotFound => EXIT_NOT_FOUND,
        job::SpawnFailure::CannotRun => EXIT_CANNOT_RUN,
        job::SpawnFailure::Ours => EXIT_OWN_FAILURE,
    }
}
