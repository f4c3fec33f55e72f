//! `cleanup_on_signals` in a sync program (`examples/sync_job.rs`): each
//! handled signal purges the registry, removes its session directory and
//! ends the process by that same signal. Dropping the `SignalCleanup` gives
//! the signals their default action back. All in child processes: a signal
//! test must not kill the test runner.

// Unix only: every test here ends the child with a signal (SIGTERM, SIGINT,
// ...); Windows' console control events: tests/windows.rs.
#![cfg(unix)]

mod support;

use std::time::Duration;

use support::{
    assert_root_empty, assert_session_holds, session_dirs, session_entries, start_example, Dirs,
    Running, EXIT_TIMEOUT, SIGHUP, SIGINT, SIGQUIT, SIGTERM,
};

fn job(mode: &str, dirs: &Dirs) -> Running {
    start_example("sync_job", mode, dirs)
}

/// The job's scratch files exist; the signal ends it by that signal and
/// leaves the root empty.
fn job_is_cleaned_up_on(signal: i32) {
    let dirs = Dirs::new();
    let mut child = job("work", &dirs);
    assert_session_holds(
        dirs.root(),
        &[("inputs-", 1), ("work-", 1), ("partial-", 1)],
    );
    // Let it churn through a few batches, so the signal lands mid-work.
    std::thread::sleep(Duration::from_millis(100));
    child.signal(signal);
    child.expect_killed_by(signal, EXIT_TIMEOUT);
    assert_root_empty(dirs.root(), &child.describe());
}

#[test]
fn sigterm_purges_and_kills_by_sigterm() {
    job_is_cleaned_up_on(SIGTERM);
}

#[test]
fn sigint_purges_and_kills_by_sigint() {
    job_is_cleaned_up_on(SIGINT);
}

#[test]
fn sighup_purges_and_kills_by_sighup() {
    job_is_cleaned_up_on(SIGHUP);
}

#[test]
fn sigquit_purges_and_kills_by_sigquit() {
    // SIGQUIT's default action may dump core: the child's working directory
    // is not its scratch root, so a core file would not count against it.
    job_is_cleaned_up_on(SIGQUIT);
}

#[test]
fn dropping_signal_cleanup_restores_the_default_action() {
    let dirs = Dirs::new();
    let mut child = job("released", &dirs);
    child.signal(SIGTERM);
    // Killed at once by the default action, with nothing of ours running:
    // the session directory stays behind (for a later sweep).
    child.expect_killed_by(SIGTERM, EXIT_TIMEOUT);
    assert_eq!(
        session_dirs(dirs.root()).len(),
        1,
        "no purge should have run\n{}",
        child.describe()
    );
    assert!(!session_entries(dirs.root()).is_empty());
}

#[test]
fn cleanup_on_signals_again_after_a_drop_handles_signals_again() {
    let dirs = Dirs::new();
    let mut child = job("rearmed", &dirs);
    child.signal(SIGTERM);
    child.expect_killed_by(SIGTERM, EXIT_TIMEOUT);
    assert_root_empty(dirs.root(), &child.describe());
}

#[test]
fn every_added_registry_is_purged() {
    let dirs = Dirs::new();
    let mut child = job("two-registries", &dirs);
    assert_eq!(session_dirs(dirs.root()).len(), 2);
    child.signal(SIGINT);
    child.expect_killed_by(SIGINT, EXIT_TIMEOUT);
    assert_root_empty(dirs.root(), &child.describe());
}
