//! A `panic = "abort"` build: the panic hook purges and removes the session
//! directory before the process aborts, on any thread.
//!
//! The child is its own small crate, `tests/fixtures/abort_child`, built with
//! `panic = "abort"` in its own target directory (a profile setting applies
//! to every crate in a build, tempreg included, which is what the hook's
//! `cfg!(panic = "abort")` sees).

mod support;

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use support::{names_in, Running, BUILD_TIMEOUT, RUN_TIMEOUT};

fn abort_child() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let manifest =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/abort_child/Cargo.toml");
        let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("abort-child-target");
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "--quiet", "--manifest-path"])
            .arg(&manifest)
            .arg("--target-dir")
            .arg(&target);
        let mut build = Running::start(cmd, "cargo build (abort_child)");
        let status = build.wait_exit(BUILD_TIMEOUT);
        assert!(
            status.success(),
            "building the abort_child fixture failed\n{}",
            build.describe()
        );
        target.join("debug/abort_child")
    })
}

/// Runs the child to its abort; returns what it left in `root`.
fn run(scenario: &str, root: &Path) -> Vec<OsString> {
    let mut cmd = Command::new(abort_child());
    cmd.args([scenario]).arg(root);
    let out = Running::start(cmd, &format!("abort_child {scenario}")).output(RUN_TIMEOUT);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.starts_with("ready "),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGABRT),
        "a panic in an abort build ends by SIGABRT: {:?}\nstderr: {stderr}",
        out.status
    );
    assert!(
        stderr.contains("fails"),
        "the panic message is still printed: {stderr}"
    );
    names_in(root)
}

#[test]
fn a_worker_thread_panic_in_an_abort_build_leaves_nothing() {
    let root = tempfile::tempdir().unwrap();
    assert_eq!(run("worker", root.path()), Vec::<OsString>::new());
}

#[test]
fn a_main_thread_panic_in_an_abort_build_leaves_nothing() {
    let root = tempfile::tempdir().unwrap();
    assert_eq!(run("main", root.path()), Vec::<OsString>::new());
}

#[test]
fn without_the_hook_an_abort_leaves_the_session_for_a_sweep() {
    let root = tempfile::tempdir().unwrap();
    let left = run("no-hook", root.path());
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(
        left[0].to_string_lossy().starts_with("tempreg-"),
        "{left:?}"
    );
    let report = tempreg::sweep_orphans(root.path()).unwrap();
    assert_eq!(report.removed().len(), 1, "{report}");
    assert!(
        report.files_freed() >= 3,
        "temp file, temp path and the dir's file: {report}"
    );
    assert_eq!(names_in(root.path()), Vec::<OsString>::new());
}
