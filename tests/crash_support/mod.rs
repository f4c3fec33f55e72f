//! Child processes for the crash-safety tests: run `examples/crash_child`
//! (built once per test binary) in a scratch root, wait for what it says it
//! holds, and kill it; plus processes that are not our children.
//!
//! The child-process wrapper, the example builder and the signal helpers
//! are those of `tests/support/child.rs`, the registry and listing helpers
//! those of `tests/support/files.rs`, both included here by path.
//!
//! Each test binary uses a different subset, hence the `dead_code` allowance.
#![allow(dead_code)]

#[path = "../support/child.rs"]
mod child;
#[path = "../support/files.rs"]
mod files;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

// Re-exported for the test binaries, each of which uses a subset.
#[allow(unused_imports)]
pub use child::{example, process_exists, send_signal, Running, SIGHUP, SIGINT, SIGKILL, SIGTERM};
#[allow(unused_imports)]
pub use files::{assert_empty_dir, names_in, registry_in};

/// How long a child may take to print a line it is expected to print.
pub const LINE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a child with nothing slow to do may take to end.
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(20);

/// A `crash_child` run and the session directory it announced.
pub struct CrashChild {
    pub process: Running,
    pub session: PathBuf,
}

/// Starts `crash_child SCENARIO ROOT` and waits for its `ready` line.
pub fn start(scenario: &str, root: &Path) -> CrashChild {
    let mut cmd = Command::new(example("crash_child"));
    cmd.arg(scenario).arg(root);
    let mut process = Running::start(cmd, &format!("crash_child {scenario}"));
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
    let mut child = start("hold", root);
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

/// A process that is not our child (so no `Child` to kill), killed with
/// SIGKILL on drop unless [`disarm`](Self::disarm)ed.
pub struct KillOnDrop(Option<u32>);

impl KillOnDrop {
    pub fn new(pid: u32) -> KillOnDrop {
        KillOnDrop(Some(pid))
    }

    pub fn pid(&self) -> u32 {
        self.0.expect("still armed")
    }

    /// Forgets the process: it ended and was reaped, and its pid may be
    /// reused.
    pub fn disarm(&mut self) {
        self.0 = None;
    }

    /// Kills it now with `signal`; nothing happens on drop afterwards.
    pub fn kill_now(&mut self, signal: i32) {
        if let Some(pid) = self.0.take() {
            send_signal(pid, signal);
        }
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(pid) = self.0.take() {
            if let Ok(pid) = libc::pid_t::try_from(pid) {
                // SAFETY: kill(2) has no memory-safety preconditions.
                unsafe { libc::kill(pid, SIGKILL) };
            }
        }
    }
}

/// Polls `cond` every 10 ms until it holds; fails the test at `timeout`.
pub fn wait_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A fresh scratch root, removed at the end of the test.
pub fn scratch_root() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("crash-root-")
        .tempdir()
        .expect("scratch root")
}

/// Every path under `dir` (relative) with, for regular files, their content.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, Option<Vec<u8>>)> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(PathBuf, Option<Vec<u8>>)>) {
        for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
            let path = entry.path();
            let rel = path.strip_prefix(base).unwrap_or(&path).to_path_buf();
            let kind = entry.file_type().expect("file_type");
            if kind.is_dir() {
                out.push((rel, None));
                walk(base, &path, out);
            } else if kind.is_file() {
                out.push((rel, Some(std::fs::read(&path).expect("read"))));
            } else {
                out.push((rel, None));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}
