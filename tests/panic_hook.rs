//! The panic hook, in child processes (a panic hook is process-wide): the
//! fixture `tests/fixtures/panic_child.rs` (the example `panic_child`) is a
//! real program, so a panic on its main thread is a panic on the process's
//! main thread, and one that escapes `main` ends the process the way Rust's
//! runtime ends it (status 101).
//!
//! What a user relies on: a caught panic (`catch_unwind`, a tokio task on
//! either runtime, a joined thread) leaves every file alone and the
//! registry usable; a panic out of `main` leaves the root empty;
//! `PanicPolicy::Always` purges on a caught panic and keeps the session
//! going; a registry per request does not grow the hook chain; a hook set
//! before ours still runs, after ours. Each test checks the exit status, the
//! lines the child printed (see the fixture's docs for their format) and
//! what is on disk once it has ended.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

use support::{
    assert_empty_dir, example, names_in, scratch_root, Running, CHILD_EXIT_TIMEOUT, RUN_TIMEOUT,
};
use tempfile::TempDir;

/// What the fixture writes to each caller's file (`CALLER_BYTES` there).
const CALLER_BYTES: &[u8] = b"caller data written before the panic";
/// What it writes to its temp file, the file in its temp dir and its async
/// temp file.
const TEMP_FILE_BYTES: &[u8] = b"temp file content";
const INNER_BYTES: &[u8] = b"a file in the temp dir";
const ASYNC_BYTES: &[u8] = b"async temp file content";

/// The report after a caught panic that must change nothing: the four
/// files as they were, the registry's four entries, a new file made.
const INTACT: [&str; 7] = [
    "temp-file: intact",
    "temp-dir: intact",
    "async-temp-file: intact",
    "caller-file: intact",
    "entries: 4",
    "session: present",
    "new-temp-file: ok",
];

/// The report after a purge that the process survives: every temp file and
/// dir removed, the caller's file closed but kept, the session still there
/// and the registry still making files.
const PURGED: [&str; 7] = [
    "temp-file: gone",
    "temp-dir: gone",
    "async-temp-file: gone",
    "caller-file: kept, closed",
    "entries: 0",
    "session: present",
    "new-temp-file: ok",
];

/// A `panic_child` run to its end, and the directories it was given.
struct Ended {
    root: TempDir,
    callers: TempDir,
    status: ExitStatus,
    stdout: Vec<String>,
    stderr: String,
    shown: String,
}

impl Ended {
    /// The lines printed after `panicking`.
    fn after_panic(&self) -> Vec<&str> {
        let at = self
            .stdout
            .iter()
            .position(|l| l == "panicking")
            .unwrap_or_else(|| panic!("no `panicking` line\n{}", self.shown));
        self.stdout[at + 1..].iter().map(String::as_str).collect()
    }

    /// The paths announced as `made <what> <path>`, in order.
    fn made(&self, what: &str) -> Vec<PathBuf> {
        let prefix = format!("made {what} ");
        self.stdout
            .iter()
            .filter_map(|l| l.strip_prefix(&prefix))
            .map(PathBuf::from)
            .collect()
    }

    /// The session directories announced as `session <dir>`.
    fn sessions(&self) -> Vec<PathBuf> {
        self.stdout
            .iter()
            .filter_map(|l| l.strip_prefix("session "))
            .map(PathBuf::from)
            .collect()
    }

    /// Asserts that the child exited (not killed by a signal) with `code`.
    fn assert_exit_code(&self, code: i32) {
        assert_eq!(
            (self.status.code(), support::signal_of(&self.status)),
            (Some(code), None),
            "panic_child should have exited with {code}\n{}",
            self.shown
        );
    }

    /// Asserts that the caller's file `<name>.log` holds what was written:
    /// a caller's file is never deleted, by a guard or by a purge.
    fn assert_caller_kept(&self, name: &str) {
        let path = self.callers.path().join(format!("{name}.log"));
        assert_eq!(
            std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
            CALLER_BYTES,
            "the caller's file {} lost its content\n{}",
            path.display(),
            self.shown
        );
    }
}

/// Runs `panic_child SCENARIO ROOT CALLER_DIR` with a fresh root and caller
/// directory: waits for its `panicking` line, then for its end.
fn run(scenario: &str) -> Ended {
    let root = scratch_root();
    let callers = tempfile::tempdir().expect("caller directory");
    let mut cmd = Command::new(example("panic_child"));
    cmd.arg(scenario).arg(root.path()).arg(callers.path());
    let mut child = Running::start(cmd, &format!("panic_child {scenario}"));
    // Making 5,000 registries (`many-registries`) is the slowest step.
    child.wait_for_line("panicking", RUN_TIMEOUT);
    let status = child.wait_exit(CHILD_EXIT_TIMEOUT);
    let ended = Ended {
        root,
        callers,
        status,
        stdout: child.stdout_lines(),
        stderr: child.stderr_text(),
        shown: child.describe(),
    };
    for session in ended.sessions() {
        assert_eq!(
            session.parent(),
            Some(ended.root.path()),
            "a session outside the root\n{}",
            ended.shown
        );
    }
    ended
}

/// A caught panic that must change nothing: exit 0 after `first` (the
/// catch) and the intact report, the panic still reported on stderr, and,
/// once `main` has returned with everything dropped, an empty root and the
/// caller's file kept.
fn assert_caught_and_intact(scenario: &str, first: &str, message: &str) {
    let ended = run(scenario);
    ended.assert_exit_code(0);
    let mut expected = vec![first];
    expected.extend(INTACT);
    expected.push("done");
    assert_eq!(ended.after_panic(), expected, "\n{}", ended.shown);
    assert!(
        ended.stderr.contains(message),
        "the default hook still reports the panic\n{}",
        ended.shown
    );
    assert_empty_dir(ended.root.path());
    ended.assert_caller_kept("caller");
}

#[test]
fn a_panic_caught_on_the_main_thread_leaves_every_file_alone() {
    assert_caught_and_intact("catch-main", "caught: main thread boom", "main thread boom");
}

#[test]
fn a_panicking_task_on_a_current_thread_runtime_leaves_every_file_alone() {
    // The task runs on the main thread, inside `block_on`.
    assert_caught_and_intact("current-thread-task", "joined: task boom", "task boom");
}

#[test]
fn a_panicking_task_on_a_multi_thread_runtime_leaves_every_file_alone() {
    assert_caught_and_intact("multi-thread-task", "joined: task boom", "task boom");
}

#[test]
fn a_joined_thread_that_panicked_leaves_every_file_alone() {
    assert_caught_and_intact("worker-thread", "joined: worker boom", "worker boom");
}

#[test]
fn a_panic_out_of_main_leaves_the_root_empty() {
    // The files are held open until the process ends: where a name removed while its file is open stays until it is
    // closed (Wine), the hook cannot remove the sessions.
    if support::or_skip(support::names_go_at_once()).is_none() {
        return;
    }
    let ended = run("escape-main");
    ended.assert_exit_code(101);
    assert_eq!(ended.after_panic(), Vec::<&str>::new(), "\n{}", ended.shown);
    assert!(ended.stderr.contains("main thread boom"), "{}", ended.shown);
    assert_eq!(ended.sessions().len(), 2, "{}", ended.shown);
    // Every file was still held when the process ended (by a thread that
    // never lets go): only the hooks can have cleaned up.
    assert_empty_dir(ended.root.path());
    ended.assert_caller_kept("caller-1");
    ended.assert_caller_kept("caller-2");
}

#[test]
fn without_the_hook_a_panic_out_of_main_leaves_the_sessions_behind() {
    // The control for the test above: the same child, no hook installed.
    let ended = run("escape-main-no-hook");
    ended.assert_exit_code(101);
    let sessions = ended.sessions();
    assert_eq!(sessions.len(), 2, "{}", ended.shown);
    let mut names: Vec<_> = sessions
        .iter()
        .map(|s| s.file_name().unwrap().to_owned())
        .collect();
    names.sort();
    assert_eq!(names_in(ended.root.path()), names, "{}", ended.shown);
    for session in &sessions {
        assert!(session.join(tempreg::LOCK_NAME).exists(), "{}", ended.shown);
    }
    let read = |path: &Path| {
        std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}\n{}", path.display(), ended.shown))
    };
    for file in ended.made("temp-file") {
        assert_eq!(read(&file), TEMP_FILE_BYTES);
    }
    for dir in ended.made("temp-dir") {
        assert_eq!(read(&dir.join("inner.txt")), INNER_BYTES);
    }
    for file in ended.made("async-temp-file") {
        assert_eq!(read(&file), ASYNC_BYTES);
    }
    assert_eq!(ended.made("temp-file").len(), 2, "{}", ended.shown);
}

#[test]
fn policy_always_purges_on_a_caught_panic_and_the_process_goes_on() {
    // The temp file's guard holds it after the purge: where a name removed while its file is open stays until it is
    // closed (Wine), the child reports it on disk.
    if support::or_skip(support::names_go_at_once()).is_none() {
        return;
    }
    let ended = run("always");
    ended.assert_exit_code(0);
    let mut expected = vec!["joined: worker boom"];
    expected.extend(PURGED);
    expected.push("done");
    assert_eq!(ended.after_panic(), expected, "\n{}", ended.shown);
    assert_empty_dir(ended.root.path());
    // The purge flushed and closed the caller's file, and kept it.
    ended.assert_caller_kept("caller");
}

#[test]
fn thousands_of_registries_share_one_hook() {
    let ended = run("many-registries");
    // With one chained hook per install, the panic below runs 5,000 nested
    // hooks and overflows the panicking thread's 128 KiB stack: the process
    // dies by SIGSEGV or SIGABRT.
    ended.assert_exit_code(0);
    let mut expected = vec!["survived"];
    expected.extend(INTACT);
    expected.push("done");
    assert_eq!(ended.after_panic(), expected, "\n{}", ended.shown);
    // The installs kept none of the dropped registries alive.
    assert!(
        ended.stdout.iter().any(|l| l == "sessions in root: 1"),
        "{}",
        ended.shown
    );
    let installs = ended
        .stdout
        .iter()
        .find(|l| l.starts_with("installs: 5000 in "))
        .unwrap_or_else(|| panic!("no timing line\n{}", ended.shown));
    println!("{installs}");
    let total_ms: f64 = installs["installs: 5000 in ".len()..]
        .split(' ')
        .next()
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("cannot read {installs:?}"));
    // A coarse ceiling, far above the few milliseconds this takes: it fails
    // only if installing gets slower with every registry installed.
    assert!(total_ms < 5_000.0, "{installs}");
    assert_empty_dir(ended.root.path());
    ended.assert_caller_kept("caller");
}

#[test]
fn a_hook_set_before_ours_still_runs_after_ours() {
    // The temp file's guard holds it after the purge: where a name removed while its file is open stays until it is
    // closed (Wine), the child reports it on disk.
    if support::or_skip(support::names_go_at_once()).is_none() {
        return;
    }
    let ended = run("previous-hook");
    ended.assert_exit_code(0);
    // "temp-file gone": when the previous hook ran, ours had purged already.
    let mut expected = vec![
        "previous hook: worker boom, temp-file gone",
        "joined: worker boom",
    ];
    expected.extend(PURGED);
    expected.push("done");
    assert_eq!(ended.after_panic(), expected, "\n{}", ended.shown);
    assert_empty_dir(ended.root.path());
    ended.assert_caller_kept("caller");
}
