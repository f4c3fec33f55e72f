//! The command of `tempreg run` as a job: its own process group, the signals
//! tempreg passes on to that group, the terminal, job-control stops, and
//! tempreg's own end by the command's signal.
//!
//! What a user of `env`, `timeout` or `tini -g` expects, point by point:
//!
//! - **A process group of its own.** The command is started with
//!   `setpgid(0, 0)` ([`Launcher::prepare`]), so every process it starts (and
//!   does not move elsewhere) can be reached at once: the signals caught by
//!   [`Launcher`] (SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2,
//!   SIGWINCH, SIGTSTP) are sent to the whole group, `kill(-pgid, sig)`,
//!   from a thread of their own. A signal that was ignored when tempreg
//!   started (`nohup`, a background job of a script) is not caught: it stays
//!   ignored, for the command too.
//! - **The terminal.** When stdin and stdout are the terminal and tempreg's
//!   group is its foreground, the command's group is made the foreground
//!   (`tcsetpgrp` in the child before exec, as a job-control shell does):
//!   Ctrl+C and Ctrl+Z reach the command's group directly, and it can read
//!   the terminal. The terminal is taken back as soon as the
//!   command ends (`tcsetpgrp` with SIGTTOU blocked, tempreg being in the
//!   background then). With stdout elsewhere (`tempreg run -- make | less`) the
//!   terminal stays with tempreg's group, which the pager is part of, and
//!   signals are passed on; should the command want the terminal anyway (it
//!   was stopped by SIGTTIN or SIGTTOU while tempreg's group has the
//!   terminal), it is given the terminal then.
//! - **Stops.** The command is waited for with `WUNTRACED`. When Ctrl+Z (or
//!   SIGTTIN/SIGTTOU in the background) stops it, tempreg takes the terminal
//!   back and stops itself, so that the shell sees the job stopped; once
//!   continued (`fg`, `bg`), it gives the terminal back if it is in the
//!   foreground again and continues the command's group. A SIGSTOP or a
//!   debugger's stop is not job control: tempreg just waits on.
//! - **Ending as the command ended.** [`die_by`] ends tempreg by the
//!   signal that killed the command, as coreutils `timeout` does: no core
//!   file of its own (`RLIMIT_CORE` 0), the default action restored, the
//!   signal unblocked and raised. Under systemd, death by SIGTERM is a clean
//!   stop where exit 143 would be a failure.

use std::io::{self, IsTerminal};
use std::os::fd::BorrowedFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitCode, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use rustix::process::{self as process, Pid, Signal, WaitOptions};
use rustix::termios::{tcgetpgrp, tcsetpgrp};
use signal_hook::consts::signal::{
    SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGTSTP, SIGTTIN, SIGTTOU, SIGUSR1, SIGUSR2, SIGWINCH,
};
use signal_hook::iterator::{Handle, Signals};

/// The signals passed on to the command's process group.
const PASSED_ON: [i32; 8] = [
    SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH, SIGTSTP,
];

/// What is decided before the command starts: the signals to pass on,
/// caught from now on (so that none sent meanwhile is lost: it waits in the
/// iterator), and whether the command gets the terminal.
pub(crate) struct Launcher {
    signals: Signals,
    terminal: Option<Terminal>,
    hand_over: bool,
}

impl Launcher {
    /// Catches every signal of [`PASSED_ON`] that is not ignored now, and
    /// looks at the terminal.
    pub(crate) fn new() -> io::Result<Launcher> {
        let wanted: Vec<i32> = PASSED_ON
            .into_iter()
            .filter(|&signal| {
                let ignored = is_ignored(signal);
                if ignored {
                    tracing::debug!(
                        signal = signal_name(signal),
                        "tempreg run: the signal is ignored, and stays so"
                    );
                }
                !ignored
            })
            .collect();
        let signals = Signals::new(&wanted)?;
        let terminal = Terminal::of_stdin();
        let hand_over = terminal
            .as_ref()
            .is_some_and(|t| t.foreground_is_ours() && io::stdout().is_terminal());
        Ok(Launcher {
            signals,
            terminal,
            hand_over,
        })
    }

    /// Makes `command` start in a process group of its own, in the
    /// terminal's foreground if that is ours to give. The child takes the
    /// foreground itself, between fork and exec, as a job-control shell's
    /// child does: so the command never runs a moment in the background of
    /// its terminal (where reading it would stop it, and where a program
    /// that checks finds itself in the background).
    pub(crate) fn prepare(&self, command: &mut Command) {
        command.process_group(0);
        if self.hand_over {
            // SAFETY: the closure runs in the child between fork and exec,
            // where only async-signal-safe calls may be made: `setpgid`,
            // `pthread_sigmask`, `ioctl(TIOCSPGRP)` and `getpid` are; it
            // allocates nothing and takes no lock. Fd 0 is the terminal
            // (inherited as it is).
            unsafe {
                command.pre_exec(|| {
                    // Whatever order std sets the group in: it is ours now.
                    let _ = process::setpgid(None, None);
                    let stdin = BorrowedFd::borrow_raw(libc::STDIN_FILENO);
                    let _ = with_sigttou_blocked(|| tcsetpgrp(stdin, process::getpid()));
                    Ok(())
                });
            }
        }
    }

    /// The command did not start: takes the terminal back if the child took
    /// it before its exec failed (the terminal would stay with a group that
    /// no longer exists).
    pub(crate) fn start_failed(self) {
        if let (true, Some(terminal)) = (self.hand_over, &self.terminal) {
            let _ = with_sigttou_blocked(|| tcsetpgrp(io::stdin(), terminal.ours));
        }
    }

    /// The command `child` (started as [`prepare`](Self::prepare) set it
    /// up) has started: passes the signals on to its group from now on.
    pub(crate) fn start(self, child: Child) -> Job {
        // Waited for by its pid (`waitpid`, to see its stops too).
        let group = Pid::from_child(&child);
        let asked_to_end = Arc::new(AtomicBool::new(false));
        let handle = self.signals.handle();
        let asked = Arc::clone(&asked_to_end);
        let signals = self.signals;
        let thread = std::thread::Builder::new()
            .name("tempreg-signals".into())
            .spawn(move || pass_on(signals, group, &asked));
        let forwarder = match thread {
            Ok(thread) => Some((handle, thread)),
            Err(e) => {
                // Not fatal: the command runs, but signals sent to tempreg
                // would be caught and dropped: say so.
                crate::say!("run: cannot pass signals on: {}", crate::reason(&e));
                None
            }
        };
        let mut terminal = self.terminal;
        if let Some(terminal) = &mut terminal {
            if self.hand_over {
                terminal.given_to = Some(group);
            }
        }
        tracing::debug!(
            pid = group.as_raw_nonzero().get(),
            terminal = self.hand_over,
            "tempreg run: the command runs in a process group of its own"
        );
        Job {
            group,
            forwarder,
            asked_to_end,
            terminal,
        }
    }
}

/// The forwarding thread: every signal caught goes to the whole group.
fn pass_on(mut signals: Signals, group: Pid, asked_to_end: &AtomicBool) {
    for signal in signals.forever() {
        if signal != SIGWINCH && signal != SIGTSTP {
            asked_to_end.store(true, Ordering::SeqCst);
        }
        let Some(sig) = Signal::from_named_raw(signal) else {
            continue;
        };
        match process::kill_process_group(group, sig) {
            Ok(()) => tracing::debug!(
                signal = signal_name(signal),
                group = group.as_raw_nonzero().get(),
                "tempreg run: passed the signal on to the command's process group"
            ),
            Err(e) => tracing::debug!(
                signal = signal_name(signal),
                error = %e,
                "tempreg run: cannot pass the signal on"
            ),
        }
    }
}

/// The command, running in its process group.
pub(crate) struct Job {
    /// The command's pid, which is its process group's id.
    group: Pid,
    forwarder: Option<(Handle, JoinHandle<()>)>,
    asked_to_end: Arc<AtomicBool>,
    terminal: Option<Terminal>,
}

impl Job {
    /// Waits for the command to end, following its job-control stops (see
    /// the module docs), and takes the terminal back once it has ended.
    pub(crate) fn wait(&mut self) -> io::Result<ExitStatus> {
        let result = loop {
            match process::waitpid(Some(self.group), WaitOptions::UNTRACED) {
                Ok(Some((_, status))) => match status.stopping_signal() {
                    Some(signal) => self.stopped(signal),
                    None => break Ok(ExitStatus::from_raw(status.as_raw())),
                },
                Ok(None) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => break Err(io::Error::from(e)),
            }
        };
        if let Some(terminal) = &mut self.terminal {
            terminal.take_back();
        }
        result
    }

    /// The command was stopped by `signal`.
    fn stopped(&mut self, signal: i32) {
        let for_terminal = signal == SIGTTIN || signal == SIGTTOU;
        if !for_terminal && signal != SIGTSTP {
            // SIGSTOP, a debugger: not job control; whoever stopped it
            // continues it.
            tracing::debug!(
                signal = signal_name(signal),
                "tempreg run: the command is stopped"
            );
            return;
        }
        if for_terminal {
            if let Some(terminal) = &mut self.terminal {
                if terminal.foreground_is_ours() {
                    // It wants the terminal, and the terminal is ours: give it.
                    terminal.give_to(self.group);
                    self.continue_group();
                    return;
                }
            }
        }
        tracing::debug!(
            signal = signal_name(signal),
            "tempreg run: the command is stopped; stopping too, as a job"
        );
        let had_terminal = self.terminal.as_mut().is_some_and(Terminal::take_back);
        // Stopped here until a shell (or anyone) continues this process:
        // raised on this thread, so that it stops before going on (a
        // process-wide kill may be taken by the forwarding thread).
        // SAFETY: raise(3) has no memory-safety preconditions.
        unsafe {
            libc::raise(libc::SIGSTOP);
        }
        tracing::debug!("tempreg run: continued; continuing the command");
        if let Some(terminal) = &mut self.terminal {
            if had_terminal && terminal.foreground_is_ours() {
                terminal.give_to(self.group);
            }
        }
        self.continue_group();
    }

    fn continue_group(&self) {
        let _ = process::kill_process_group(self.group, Signal::CONT);
    }

    /// True if a signal that asks processes to end (any but SIGWINCH and
    /// SIGTSTP) was passed on to the command's group.
    pub(crate) fn asked_to_end(&self) -> bool {
        self.asked_to_end.load(Ordering::SeqCst)
    }

    /// True if no process is left in the command's group (zombies count as
    /// left, but they no longer hold anything).
    pub(crate) fn group_is_empty(&self) -> bool {
        process::test_kill_process_group(self.group) == Err(rustix::io::Errno::SRCH)
    }

    /// Stops passing signals on.
    pub(crate) fn finish(mut self) {
        if let Some((handle, thread)) = self.forwarder.take() {
            handle.close();
            let _ = thread.join();
        }
    }
}

/// The controlling terminal on stdin, and whether tempreg gave it away.
struct Terminal {
    /// tempreg's own process group.
    ours: Pid,
    given_to: Option<Pid>,
}

impl Terminal {
    /// Stdin, if it is tempreg's controlling terminal.
    fn of_stdin() -> Option<Terminal> {
        if !io::stdin().is_terminal() {
            return None;
        }
        // ENOTTY when the terminal is not our controlling terminal.
        tcgetpgrp(io::stdin()).ok()?;
        Some(Terminal {
            ours: process::getpgrp(),
            given_to: None,
        })
    }

    /// True if tempreg's process group is the terminal's foreground group.
    fn foreground_is_ours(&self) -> bool {
        tcgetpgrp(io::stdin()).is_ok_and(|group| group == self.ours)
    }

    fn give_to(&mut self, group: Pid) {
        match with_sigttou_blocked(|| tcsetpgrp(io::stdin(), group)) {
            Ok(()) => {
                tracing::debug!("tempreg run: gave the terminal to the command's process group");
                self.given_to = Some(group);
            }
            Err(e) => tracing::debug!(error = %e, "tempreg run: cannot give the terminal away"),
        }
    }

    /// Takes the terminal back if it was given away; true if it was.
    fn take_back(&mut self) -> bool {
        if self.given_to.take().is_none() {
            return false;
        }
        match with_sigttou_blocked(|| tcsetpgrp(io::stdin(), self.ours)) {
            Ok(()) => tracing::debug!("tempreg run: took the terminal back"),
            Err(e) => tracing::debug!(error = %e, "tempreg run: cannot take the terminal back"),
        }
        true
    }
}

/// Runs `f` with SIGTTOU blocked on this thread: `tcsetpgrp` from a
/// background process group would otherwise stop tempreg. (Blocked rather
/// than ignored: a mask is this thread's alone, and never reaches a child.)
fn with_sigttou_blocked<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: `sigset_t` is plain data, zeroed then set up by `sigemptyset`
    // and `sigaddset` before use; `pthread_sigmask` only changes this
    // thread's mask, and the old one is put back below.
    let old = unsafe {
        let mut block: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut block);
        libc::sigaddset(&mut block, libc::SIGTTOU);
        libc::pthread_sigmask(libc::SIG_BLOCK, &block, &mut old);
        old
    };
    let result = f();
    // SAFETY: `old` is the mask `pthread_sigmask` returned above.
    unsafe {
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
    }
    result
}

/// True if `signal`'s disposition is "ignore" (inherited, as under `nohup`).
fn is_ignored(signal: i32) -> bool {
    // SAFETY: a query only (no new action); `old` is plain data that the
    // call fills in.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(signal, std::ptr::null(), &mut old) == 0
            && old.sa_sigaction == libc::SIG_IGN
    }
}

/// `SIGTERM` for 15, and so on.
pub(crate) fn signal_name(signal: i32) -> String {
    signal_hook::low_level::signal_name(signal)
        .map_or_else(|| format!("signal {signal}"), str::to_string)
}

/// Ends this process by `signal`, as the command ended: no core file of our
/// own, the signal's default action restored, the signal unblocked and
/// raised. Returns only for a signal whose default action does not end a
/// process: then the shell's 128 + signal.
pub(crate) fn die_by(signal: i32) -> ExitCode {
    let limit = process::getrlimit(process::Resource::Core);
    let _ = process::setrlimit(
        process::Resource::Core,
        process::Rlimit {
            current: Some(0),
            maximum: limit.maximum,
        },
    );
    // SAFETY: restoring a signal's default action and unblocking it on this
    // thread have no memory-safety preconditions (`action` and `set` are
    // plain data set up before use); nothing of ours needs a handler any
    // more: everything was cleaned up before.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = libc::SIG_DFL;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(signal, &action, std::ptr::null_mut());
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, signal);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::raise(signal);
    }
    ExitCode::from(u8::try_from(128 + signal).unwrap_or(crate::EXIT_OWN_FAILURE))
}

/// The signal that killed the command, if one did.
pub(crate) fn killed_by(status: ExitStatus) -> Option<i32> {
    status.signal()
}

/// True if the command's death left a core file.
pub(crate) fn core_dumped(status: ExitStatus) -> bool {
    status.core_dumped()
}

/// How tempreg ends for the command's exit `code` (0 to 255 on Unix).
pub(crate) fn exit_code(code: i32) -> crate::Exit {
    crate::Exit::Code(u8::try_from(code).unwrap_or(crate::EXIT_OWN_FAILURE))
}

/// Why a command could not be started, as a shell tells it.
pub(crate) enum SpawnFailure {
    /// No such program: 127.
    NotFound,
    /// Found but not runnable (permissions, format): 126.
    CannotRun,
    /// tempreg's own failure (no process or descriptor to spare): 125.
    Ours,
}

/// Sorts a failed spawn's error; see [`SpawnFailure`].
pub(crate) fn spawn_failure(e: &io::Error) -> SpawnFailure {
    match e.raw_os_error() {
        Some(libc::ENOENT | libc::ENOTDIR) => SpawnFailure::NotFound,
        Some(libc::EAGAIN | libc::ENOMEM | libc::EMFILE | libc::ENFILE) | None => {
            SpawnFailure::Ours
        }
        Some(_) => SpawnFailure::CannotRun,
    }
}
