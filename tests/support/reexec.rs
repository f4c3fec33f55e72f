//! Scenarios that must run in a process of their own (a privilege is
//! dropped for good): the test binary re-executes itself to run a single
//! test, with the scenario, a root and an auxiliary directory in its
//! environment, under [`Running`](super::Running) like every other child
//! (the caller builds the command, since it wraps it in `setpriv`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Names the scenario a re-executed test binary must run.
pub const CHILD_ENV: &str = "TEMPREG_CHILD";
/// The root directory the child must use.
pub const CHILD_ROOT_ENV: &str = "TEMPREG_CHILD_ROOT";
/// A second directory for the child (victims, caller files).
pub const CHILD_AUX_ENV: &str = "TEMPREG_CHILD_AUX";

/// The scenario and root given to a child, or `None` in a normal test run.
pub fn child_scenario() -> Option<(String, PathBuf)> {
    let scenario = std::env::var(CHILD_ENV).ok()?;
    let root = std::env::var_os(CHILD_ROOT_ENV).map(PathBuf::from)?;
    Some((scenario, root))
}

/// The auxiliary directory given to a child.
pub fn child_aux() -> PathBuf {
    std::env::var_os(CHILD_AUX_ENV)
        .map(PathBuf::from)
        .expect("the parent sets the auxiliary directory")
}

/// Adds the test-selection arguments and scenario environment to `cmd`.
pub fn child_args(cmd: &mut Command, test: &str, scenario: &str, root: &Path, aux: &Path) {
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, scenario)
        .env(CHILD_ROOT_ENV, root)
        .env(CHILD_AUX_ENV, aux)
        .env_remove("RUST_BACKTRACE");
}

/// A child's stdout and stderr, for assertion messages.
pub fn describe(output: &Output) -> String {
    format!(
        "status: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
