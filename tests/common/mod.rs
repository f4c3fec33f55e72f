//! Helpers shared by the integration tests: a registry in its own root,
//! listings of what is left on disk, tokio runtimes, FIFOs, set-ups a machine
//! may refuse (tmpfs, `chattr +i`), and child processes for the scenarios
//! that end a process (panics, dropped privileges).
//!
//! `registry_in`, `names_in` and `assert_empty_dir` are those of
//! `tests/support/files.rs`, included here by path.
//!
//! Each test binary uses a different subset, hence the `dead_code` allowance.
#![allow(dead_code)]

#[path = "../support/files.rs"]
mod files;

use std::ffi::OsString;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempreg::{ResourceRegistry, TrackedFile};

// Re-exported for the test binaries, each of which uses a subset.
#[allow(unused_imports)]
pub use files::{assert_empty_dir, names_in, registry_in};

/// Names the scenario a re-executed test binary must run.
pub const CHILD_ENV: &str = "TEMPREG_CHILD";
/// The root directory the child must use.
pub const ROOT_ENV: &str = "TEMPREG_CHILD_ROOT";
/// A second directory for the child (victims, caller files).
pub const AUX_ENV: &str = "TEMPREG_CHILD_AUX";

/// Asserts that the session directory holds only its lock file.
pub fn assert_session_holds_only_lock(registry: &ResourceRegistry) {
    assert_eq!(
        names_in(registry.session_dir()),
        vec![OsString::from(tempreg::LOCK_NAME)],
        "session directory {} should hold only its lock file",
        registry.session_dir().display()
    );
}

/// True if something (even a dangling symlink) is at `path`.
pub fn is_present(path: &Path) -> bool {
    match std::fs::symlink_metadata(path) {
        Ok(_) => true,
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => panic!("cannot stat {}: {e}", path.display()),
    }
}

/// `mode & 0o777` of `path`, without following a symlink.
pub fn mode_of(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("cannot stat {}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Asserts that an error message names `path`.
pub fn assert_names_path(err: &dyn std::fmt::Display, path: &Path) {
    let message = err.to_string();
    let shown = path.display().to_string();
    assert!(
        message.contains(&shown),
        "error message `{message}` should name `{shown}`"
    );
}

/// The scenario and root given to a child, or `None` in a normal test run.
pub fn child_scenario() -> Option<(String, PathBuf)> {
    let scenario = std::env::var(CHILD_ENV).ok()?;
    let root = std::env::var_os(ROOT_ENV).map(PathBuf::from)?;
    Some((scenario, root))
}

/// The auxiliary directory given to a child.
pub fn child_aux() -> PathBuf {
    std::env::var_os(AUX_ENV)
        .map(PathBuf::from)
        .expect("the parent sets the auxiliary directory")
}

/// The command that re-executes this test binary to run only `test` with
/// `scenario`, `root` and `aux` in its environment.
pub fn child_command(test: &str, scenario: &str, root: &Path, aux: &Path) -> Command {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = Command::new(exe);
    child_args(&mut cmd, test, scenario, root, aux);
    cmd
}

/// Adds the test-selection arguments and scenario environment to `cmd`.
pub fn child_args(cmd: &mut Command, test: &str, scenario: &str, root: &Path, aux: &Path) {
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, scenario)
        .env(ROOT_ENV, root)
        .env(AUX_ENV, aux)
        .env_remove("RUST_BACKTRACE");
}

/// Runs a child and returns its output; fails the test if it cannot start.
pub fn run_child(test: &str, scenario: &str, root: &Path, aux: &Path) -> Output {
    child_command(test, scenario, root, aux)
        .output()
        .unwrap_or_else(|e| panic!("cannot run child for scenario {scenario}: {e}"))
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

/// How many file descriptors this process has open.
pub fn open_fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

/// Makes a FIFO at `path` with the `mkfifo` tool.
pub fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("run mkfifo");
    assert!(status.success(), "mkfifo {} failed", path.display());
}

/// A payload whose every offset is distinguishable from its neighbours.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// A current-thread tokio runtime with every driver enabled.
pub fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build a tokio runtime")
}

/// A multi-thread tokio runtime with two workers and every driver enabled.
pub fn multi_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("build a multi-thread tokio runtime")
}

/// Runs `fut` on a fresh current-thread runtime, then shuts the runtime
/// down. Clean-ups that guards started on the blocking pool (an async temp
/// file's unlink) have all finished when this returns, and so has the last
/// reference they held to the registry.
pub fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    let rt = current_thread_runtime();
    let out = rt.block_on(fut);
    drop(rt);
    out
}

/// [`block_on`] with tokio's clock paused from the start.
pub fn block_on_paused<F: std::future::Future>(fut: F) -> F::Output {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("build a paused tokio runtime");
    let out = rt.block_on(fut);
    drop(rt);
    out
}

/// Drains a FIFO from a detached thread if the test panics, so that a write
/// blocked on it in tokio's blocking pool finishes and the runtime can shut
/// down instead of hanging the test binary.
pub struct DrainFifoOnPanic(pub PathBuf);

impl Drop for DrainFifoOnPanic {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let path = self.0.clone();
        std::thread::spawn(move || {
            use std::io::Read;
            // Read and write: opening never blocks, reading never ends.
            let opened = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path);
            if let Ok(mut fifo) = opened {
                let mut buf = vec![0u8; 1 << 16];
                while matches!(fifo.read(&mut buf), Ok(n) if n > 0) {}
            }
        });
    }
}

/// Opens the FIFO at `fifo` through `registry` for reading and writing, so
/// that opening never blocks (and nobody reads what is written).
pub async fn open_fifo(registry: &ResourceRegistry, fifo: &Path) -> TrackedFile {
    let mut options = tokio::fs::OpenOptions::new();
    options.read(true).write(true);
    registry.open(fifo, &options).await.unwrap()
}

/// Reads a FIFO to its end on a new thread; the bytes arrive on the channel.
pub fn read_fifo_to_end(path: &Path) -> std::sync::mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = std::sync::mpsc::channel();
    let path = path.to_path_buf();
    std::thread::spawn(move || {
        use std::io::Read;
        let mut fifo = std::fs::File::open(&path).expect("open the FIFO for reading");
        let mut got = Vec::new();
        fifo.read_to_end(&mut got).expect("read the FIFO");
        let _ = tx.send(got);
    });
    rx
}

/// Waits (on the blocking pool, so the runtime keeps running) for what a
/// [`read_fifo_to_end`] thread read; fails after a generous wall-clock bound.
pub async fn fifo_contents(rx: std::sync::mpsc::Receiver<Vec<u8>>) -> Vec<u8> {
    tokio::task::spawn_blocking(move || rx.recv_timeout(std::time::Duration::from_secs(60)))
        .await
        .expect("join the FIFO waiter")
        .expect("the FIFO reached its end: every writer closed it")
}

/// The value of a set-up the machine may refuse (no privilege, no tmpfs, no
/// `chattr +i`), or `None` after printing `skipped: <why>`, for the test to
/// return.
pub fn or_skip<T>(setup: Result<T, String>) -> Option<T> {
    match setup {
        Ok(value) => Some(value),
        Err(why) => {
            println!("skipped: {why}");
            None
        }
    }
}

/// Runs `cmd` (the `tool`); the error says why it failed, `<refused>
/// refused: <its stderr>` if it ran, for a skip message.
fn run_tool(cmd: &mut Command, tool: &str, refused: &str) -> Result<(), String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {tool}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{refused} refused: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// A tmpfs mounted for one test; unmounted when dropped.
pub struct TmpfsMount {
    pub dir: PathBuf,
}

impl TmpfsMount {
    /// Mounts a tmpfs of `size` (`mount -o size=`) on `dir`; the error says
    /// why it was refused (no privilege, no tmpfs), for a skip message.
    pub fn mount(dir: &Path, size: &str) -> Result<TmpfsMount, String> {
        run_tool(
            Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
                .arg(dir),
            "mount",
            "mount -t tmpfs",
        )?;
        Ok(TmpfsMount {
            dir: dir.to_path_buf(),
        })
    }
}

impl Drop for TmpfsMount {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
    }
}

/// `chattr +i` on a file or directory: nothing (not even root) can change,
/// unlink or rename it, or add a name to it; undone when dropped.
pub struct Immutable(PathBuf);

impl Immutable {
    /// Sets the flag; the error says why it was refused, for a skip message.
    pub fn set(dir: &Path) -> Result<Immutable, String> {
        run_tool(
            Command::new("chattr").arg("+i").arg(dir),
            "chattr",
            "chattr +i",
        )?;
        Ok(Immutable(dir.to_path_buf()))
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
    }
}
