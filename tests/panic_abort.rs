//! A `panic = "abort"` build: the panic hook purges and removes the session
//! directory before the process aborts, on any thread.
//!
//! The child, `tests/fixtures/abort_child.rs`, is the one binary of a small
//! crate this test writes into its scratch target directory and builds there
//! with `panic = "abort"` (a profile applies to every crate in a build,
//! tempreg included, which is what the hook's `cfg!(panic = "abort")` sees).
//! Nothing of it is a package of its own, so the published package's tests
//! build it too. Where cargo cannot be started (a Windows test binary under
//! Wine) the tests say `skipped:`.

mod support;

use std::ffi::OsString;
#[cfg(unix)]
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use support::{names_in, Running, BUILD_TIMEOUT, RUN_TIMEOUT};

/// The crate around the fixture, written at test time.
fn manifest(crate_dir: &Path, fixture: &Path) -> String {
    let toml_path = |p: &Path| p.display().to_string().replace('\\', "\\\\");
    format!(
        r#"[package]
name = "abort_child"
version = "0.0.0"
edition = "2021"
publish = false

[[bin]]
name = "abort_child"
path = "{fixture}"

[dependencies]
tempreg = {{ path = "{tempreg}" }}

[profile.dev]
panic = "abort"

[workspace]
"#,
        fixture = toml_path(fixture),
        tempreg = toml_path(crate_dir),
    )
}

/// How a process that aborted ends: SIGABRT on Unix; on Windows Rust's
/// abort is `__fastfail`, status `STATUS_STACK_BUFFER_OVERRUN`.
fn assert_aborted(status: &std::process::ExitStatus, stderr: &str) {
    #[cfg(unix)]
    assert_eq!(
        status.signal(),
        Some(libc::SIGABRT),
        "a panic in an abort build ends by SIGABRT: {status:?}\nstderr: {stderr}"
    );
    #[cfg(windows)]
    assert_eq!(
        status.code().map(|c| c as u32),
        Some(0xC000_0409),
        "a panic in an abort build ends by __fastfail: {status:?}\nstderr: {stderr}"
    );
}

fn abort_child() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let scratch = Path::new(env!("CARGO_TARGET_TMPDIR")).join("abort-child");
        std::fs::create_dir_all(&scratch).expect("scratch dir for the fixture crate");
        let fixture = crate_dir.join("tests/fixtures/abort_child.rs");
        std::fs::write(scratch.join("Cargo.toml"), manifest(crate_dir, &fixture))
            .expect("write the fixture's manifest");
        // The same dependency versions as the crate under test, when it has
        // a lock file (a published package may not).
        if let Ok(lock) = std::fs::read(crate_dir.join("Cargo.lock")) {
            std::fs::write(scratch.join("Cargo.lock"), lock).expect("copy Cargo.lock");
        }
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "--quiet", "--manifest-path"])
            .arg(scratch.join("Cargo.toml"))
            .arg("--target-dir")
            .arg(scratch.join("target"));
        let mut build = Running::start(cmd, "cargo build (abort_child)");
        let status = build.wait_exit(BUILD_TIMEOUT);
        assert!(
            status.success(),
            "building the abort_child fixture failed\n{}",
            build.describe()
        );
        scratch.join(format!(
            "target/debug/abort_child{}",
            std::env::consts::EXE_SUFFIX
        ))
    })
}

/// Runs the child to its abort; returns what it left in `root`, or `None`
/// (having said `skipped:`) where cargo cannot be started to build it.
fn run(scenario: &str, root: &Path) -> Option<Vec<OsString>> {
    support::or_skip(support::can_run_cargo())?;
    let mut cmd = Command::new(abort_child());
    cmd.args([scenario]).arg(root);
    let out = Running::start(cmd, &format!("abort_child {scenario}")).output(RUN_TIMEOUT);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.starts_with("ready "),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert_aborted(&out.status, &stderr);
    assert!(
        stderr.contains("fails"),
        "the panic message is still printed: {stderr}"
    );
    Some(names_in(root))
}

#[test]
fn a_worker_thread_panic_in_an_abort_build_leaves_nothing() {
    let root = tempfile::tempdir().unwrap();
    if let Some(left) = run("worker", root.path()) {
        assert_eq!(left, Vec::<OsString>::new());
    }
}

#[test]
fn a_main_thread_panic_in_an_abort_build_leaves_nothing() {
    let root = tempfile::tempdir().unwrap();
    if let Some(left) = run("main", root.path()) {
        assert_eq!(left, Vec::<OsString>::new());
    }
}

#[test]
fn without_the_hook_an_abort_leaves_the_session_for_a_sweep() {
    let root = tempfile::tempdir().unwrap();
    let Some(left) = run("no-hook", root.path()) else {
        return;
    };
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
