//! `tempreg`: run a command with scratch space that is cleaned up however it
//! ends, sweep what dead processes left, and list session directories.
//!
//! ```text
//! tempreg run [--root DIR] [--keep-on-failure] [--] CMD [ARGS...]
//! tempreg sweep [ROOT] [--dry-run] [-v]
//! tempreg ls [ROOT] [--json] [-v]
//! ```
//!
//! # `tempreg run`
//!
//! Behaves like `env`, `nice` or `timeout` in front of a command: options
//! come before CMD, everything from CMD on is CMD's (`--` is optional), and
//! the wrapper ends the way CMD ended: with its exit code, or killed by the
//! same signal (without a core file of its own). In between, CMD runs in a
//! process group of its own with `TMPDIR` in a fresh session directory;
//! the termination signals tempreg receives go to that whole group, a
//! terminal it runs in the foreground of is handed to that group and taken
//! back, and a Ctrl+Z stops CMD and then tempreg, as a shell expects (see
//! [`job`]). When CMD has ended, the session is removed, unless processes
//! CMD started still hold it: then it is left to them and to the next
//! sweep, and tempreg says so (see [`run`]).
//!
//! # Exit status
//!
//! | command | status |
//! |---|---|
//! | `run` | CMD's exit code, or death by the signal that killed CMD |
//! | `run` | 125: tempreg's own failure (usage, root, session, or removing the session of a CMD that succeeded) |
//! | `run` | 126: CMD found but not runnable; 127: CMD not found |
//! | `sweep` | 0: nothing failed; 1: some sessions could not be removed |
//! | `sweep`, `ls` | 2: a usage error, or a root that cannot be opened or listed |
//!
//! Every message is one line on stderr, `tempreg: <what the user asked>:
//! <why it failed>`. `RUST_LOG` (e.g. `RUST_LOG=tempreg=debug`) turns on
//! logging to stderr; nothing is logged without it.
//!
//! # Layout
//!
//! - `main.rs`: arguments, help texts, exit statuses, logging, messages.
//! - [`run`]: `tempreg run`: the session, the command, what happens to the
//!   session afterwards.
//! - [`job`]: the command's process group: signals passed on, the
//!   terminal, job-control stops, and dying by the command's signal
//!   (`job.rs`); on Windows, the console's Ctrl+C and 32-bit exit codes
//!   (`job_windows.rs`).
//! - [`sessions`]: `tempreg sweep` and `tempreg ls`.

use std::ffi::OsString;
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[cfg(unix)]
mod job;
#[cfg(windows)]
#[path = "job_windows.rs"]
mod job;
mod run;
mod sessions;

/// `run`: tempreg itself failed (as `env`, `nice`, `timeout` and `chroot`).
const EXIT_OWN_FAILURE: u8 = 125;
/// `run`: the command was found but could not be run.
const EXIT_CANNOT_RUN: u8 = 126;
/// `run`: the command was not found.
const EXIT_NOT_FOUND: u8 = 127;
/// `sweep`: it ran, but some sessions could not be removed.
const EXIT_SOME_FAILED: u8 = 1;
/// `sweep`, `ls`: a usage error, or a root that cannot be read (as `ls`).
const EXIT_TROUBLE: u8 = 2;

const ABOUT: &str = "\
Scratch space that is cleaned up however a program ends.

`tempreg run CMD` gives CMD a private TMPDIR and removes it when CMD ends,
whatever CMD is written in. `tempreg sweep` removes what processes killed with
SIGKILL left behind, deciding by a lock, never by a guess; `tempreg ls` lists
the sessions.

Set RUST_LOG (e.g. RUST_LOG=tempreg=debug) to log what tempreg does on stderr.

Exit status: see the help of each command (`tempreg run --help`, ...);
2 for a usage error outside `run`.";

const RUN_ABOUT: &str = "\
Run CMD with TMPDIR in a fresh session directory, remove the directory when CMD
ends, and end the way CMD ended.

TMPDIR and TEMPREG_SESSION_DIR point at the session directory. CMD runs in a
process group of its own: SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2,
SIGWINCH and SIGTSTP sent to tempreg are passed on to the whole group, so the
processes CMD started end with it. A signal that was ignored when tempreg
started (as under `nohup`) stays ignored, and is not passed on. Under systemd,
set KillMode=mixed, so that a stop's SIGTERM reaches CMD once, through tempreg.

When stdin and stdout are the terminal and tempreg runs in its foreground, CMD's
group gets the terminal: Ctrl+C and Ctrl+Z reach it directly and it can read
the terminal; tempreg takes the terminal back when CMD ends. Ctrl+Z stops CMD,
then tempreg; `fg` resumes both.

If processes CMD started still use the session directory when CMD has ended
(a daemon, a `cmd &`), tempreg leaves the directory to them, says so on stderr,
and the first `tempreg sweep` after they end removes it. With
--keep-on-failure, a CMD that fails leaves its session for inspection; no sweep
removes it: remove it with `rm -rf` when done.

Options come before CMD; everything from CMD on is CMD's: `tempreg run ls -la`
passes `-la` to ls. `--` may separate them.

Exit status:
  CMD's     CMD's exit status; if CMD was killed by a signal, tempreg kills
            itself with the same signal (no core file of its own)
  125       tempreg failed: a usage error, a root it cannot use, a session it
            cannot make, or (CMD having succeeded) a session it cannot remove
  126       CMD was found but could not be run
  127       CMD was not found";

const SWEEP_ABOUT: &str = "\
Remove the session directories whose owner has ended (their lock is free).

Live sessions (their owner, or a process it started, holds the lock), kept ones
(`tempreg run --keep-on-failure`) and other users' are left alone. Prints one
summary line; --dry-run also lists each session that would go (path, pid, age,
files, size), -v lists every session judged, with its state.

Exit status:
  0  nothing failed (nothing to remove included)
  1  some sessions could not be removed (each one is named on stderr)
  2  a usage error, or ROOT cannot be opened or listed";

const LS_ABOUT: &str = "\
List the session directories under ROOT: owner's pid, state (live, orphaned,
kept, other user), age, files and size.

Sizes and ages are for people; --json gives exact numbers (bytes, age_secs).
-v adds the exact byte count and a total.

Exit status:
  0  listed (no session included)
  2  a usage error, or ROOT cannot be opened or listed";

#[derive(Parser, Debug)]
#[command(
    name = "tempreg",
    version,
    about = "Scratch space that is cleaned up however a program ends",
    long_about = ABOUT,
    arg_required_else_help = true
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run CMD with a private TMPDIR, remove it when CMD ends, end as CMD did.
    #[command(long_about = RUN_ABOUT)]
    Run {
        /// Where to make the session directory [default: $TMPDIR or /tmp]
        #[arg(long, value_name = "DIR")]
        root: Option<PathBuf>,
        /// If CMD fails, keep the session directory for inspection and say
        /// where it is.
        #[arg(long)]
        keep_on_failure: bool,
        /// The command and its arguments (`--` before it is optional).
        #[arg(required = true, trailing_var_arg = true, value_name = "CMD")]
        command: Vec<OsString>,
    },
    /// Remove session directories whose owner has ended (their lock is free).
    #[command(long_about = SWEEP_ABOUT)]
    Sweep {
        /// The directory to sweep [default: $TMPDIR or /tmp]
        root: Option<PathBuf>,
        /// List what would be removed, and remove nothing.
        #[arg(long)]
        dry_run: bool,
        /// List every session judged, with its state.
        #[arg(short, long)]
        verbose: bool,
    },
    /// List session directories: owner, state, age, files, size.
    #[command(long_about = LS_ABOUT)]
    Ls {
        /// The directory to list [default: $TMPDIR or /tmp]
        root: Option<PathBuf>,
        /// Print JSON for scripts (exact numbers) instead of a table.
        #[arg(long)]
        json: bool,
        /// Add the exact byte count of each session, and a total.
        #[arg(short, long)]
        verbose: bool,
    },
}

/// How the process ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exit {
    /// With this exit code.
    Code(u8),
    /// Killed by this signal: the command's own end, passed on.
    Signal(i32),
    /// Windows: an exit code that does not fit in a byte (an `NTSTATUS`).
    #[cfg(windows)]
    Raw(i32),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    init_logging();
    let exit = match cli.command {
        Cmd::Run {
            root,
            keep_on_failure,
            command,
        } => run::run(&root_or_default(root), keep_on_failure, &command),
        Cmd::Sweep {
            root,
            dry_run,
            verbose,
        } => sessions::sweep(&root_or_default(root), dry_run, verbose),
        Cmd::Ls {
            root,
            json,
            verbose,
        } => sessions::ls(&root_or_default(root), json, verbose),
    };
    match exit {
        Exit::Code(code) => ExitCode::from(code),
        Exit::Signal(signal) => job::die_by(signal),
        #[cfg(windows)]
        Exit::Raw(code) => job::exit_raw(code),
    }
}

/// Prints clap's message (help and version on stdout, errors on stderr)
/// and picks the exit status: 0 for help and version, 125 for a usage
/// error of `run` (a wrapper's own failure must not pass for CMD's), 2
/// otherwise.
fn usage_error(e: &clap::Error) -> ExitCode {
    let _ = e.print();
    if !e.use_stderr() {
        return ExitCode::SUCCESS;
    }
    let is_run = std::env::args_os().nth(1).is_some_and(|a| a == "run");
    ExitCode::from(if is_run {
        EXIT_OWN_FAILURE
    } else {
        EXIT_TROUBLE
    })
}

/// Logs to stderr as `RUST_LOG` says (`tempreg=debug`, `info`, ...); without
/// `RUST_LOG`, logs nothing. Colours only on a terminal.
fn init_logging() {
    let Some(directives) = std::env::var_os("RUST_LOG").filter(|v| !v.is_empty()) else {
        return;
    };
    let filter = tracing_subscriber::EnvFilter::builder().parse_lossy(directives.to_string_lossy());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(io::stderr().is_terminal())
        .init();
}

fn root_or_default(root: Option<PathBuf>) -> PathBuf {
    root.unwrap_or_else(std::env::temp_dir)
}

/// Writes `tempreg: MESSAGE` as one line on stderr; a stderr that is gone is
/// not a reason to stop (the command's status matters more).
fn write_message(message: std::fmt::Arguments<'_>) {
    let _ = writeln!(io::stderr().lock(), "tempreg: {message}");
}

/// `say!("run: cannot run {x}")`: see [`write_message`].
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::write_message(format_args!($($arg)*))
    };
}
pub(crate) use say;

/// The reason of an error for a person: the OS's words without the
/// `(os error N)` suffix.
fn reason(e: &io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(at) if text.ends_with(')') => text[..at].to_string(),
        _ => text,
    }
}

/// Why `root` cannot be used, in the OS's words when the OS says so (the
/// library's message names its own step, "open sweep root `…`", and the
/// path, which the caller's message names already).
fn root_reason(root: &Path, e: &io::Error) -> String {
    match std::fs::read_dir(root) {
        Err(direct) => reason(&direct),
        Ok(_) => reason(e),
    }
}

/// `path` as a shell word: as it is if it needs no quoting, otherwise in
/// single quotes (so a hint like `rm -rf PATH` can be pasted as it is).
fn shell_word(path: &Path) -> String {
    let text = path.to_string_lossy();
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+,:@%=".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        text.into_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// Writes `text` to stdout; a reader that went away (`tempreg ls | head`)
/// is not an error.
fn print_out(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}
