//! The crash-safety fixture, `tests/fixtures/crash_child.rs` (built as the
//! example `crash_child`, once per test binary): run it in a scratch root,
//! wait for what it says it holds, and kill it. `tests/cli.rs` uses the same
//! timeouts for the `tempreg run` processes it talks to.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::child::{example, Running};

/// How long a child may take to print a line it is expected to print.
pub const LINE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a child with nothing slow to do may take to end. (A signalled
/// example has [`EXIT_TIMEOUT`](super::EXIT_TIMEOUT).)
pub const CHILD_EXIT_TIMEOUT: Duration = Duration::from_secs(20);

/// A `crash_child` run and the session directory it announced.
pub struct CrashChild {
    pub process: Running,
    pub session: PathBuf,
}

/// Starts `crash_child SCENARIO ROOT` and waits for its `ready` line.
pub fn start_crash_child(scenario: &str, root: &Path) -> CrashChild {
    let mut cmd = Command::new(example("crash_child"));
    cmd.arg(scenario).arg(root);
    start_crash_child_with(cmd, &format!("crash_child {scenario}"), root)
}

/// Starts `cmd`, a `crash_child SCENARIO ROOT` (run through another
/// program, say), and waits for its `ready` line.
pub fn start_crash_child_with(cmd: Command, label: &str, root: &Path) -> CrashChild {
    let mut process = Running::start(cmd, label);
    let line = process.wait_for_line("ready ", LINE_TIMEOUT);
    let session = PathBuf::from(&line["ready ".len()..]);
    assert_eq!(
        session.parent(),
        Some(root),
        "crash_child made its session outside the root"
    );
    CrashChild { process, session }
}

/// What a `hold` child made: its named regular files and their bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    pub files: u64,
    pub bytes: u64,
}

/// Starts a `hold` child and waits until it holds its files.
pub fn start_hold(root: &Path) -> (CrashChild, Held) {
    let mut child = start_crash_child("hold", root);
    let line = child.process.wait_for_line("holding ", LINE_TIMEOUT);
    (child, parse_held(&line))
}

/// The `files=N bytes=M` counts on a `holding` or `exiting` line.
pub fn parse_held(line: &str) -> Held {
    let field = |key: &str| -> u64 {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(key))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {line:?}"))
    };
    let held = Held {
        files: field("files="),
        bytes: field("bytes="),
    };
    assert!(held.files > 0 && held.bytes > 0, "made nothing: {line}");
    held
}

/// Starts a `hold` child, waits until it holds its files, and kills it with
/// SIGKILL: its session is an orphan from then on.
pub fn dead_hold_child(root: &Path) -> (CrashChild, Held) {
    let (mut child, held) = start_hold(root);
    child.process.kill_hard();
    (child, held)
}

/// Runs `crash_child SCENARIO` in `root`, waits for `line` (returned) and a
/// clean exit; returns the session it announced, too.
pub fn run_to_exit(scenario: &str, root: &Path, line: &str) -> (PathBuf, String) {
    let mut child = start_crash_child(scenario, root);
    let seen = child.process.wait_for_line(line, LINE_TIMEOUT);
    let status = child.process.wait_exit(CHILD_EXIT_TIMEOUT);
    assert_eq!(status.code(), Some(0), "{}", child.process.describe());
    (child.session.clone(), seen)
}
