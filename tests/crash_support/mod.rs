//! Child processes for the crash-safety tests: build `examples/crash_child`
//! once per test binary, run it (or any command) with bounded waits, signal
//! it, and kill it on drop so that a failed assertion leaves no process.
//!
//! Each test binary uses a different subset, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tempreg::ResourceRegistry;

/// How long a child may take to print a line it is expected to print.
pub const LINE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a child with nothing slow to do may take to end.
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(20);
/// The longest the example build may take (it may queue behind others).
const BUILD_TIMEOUT: Duration = Duration::from_secs(900);

pub const SIGHUP: i32 = libc::SIGHUP;
pub const SIGINT: i32 = libc::SIGINT;
pub const SIGKILL: i32 = libc::SIGKILL;
pub const SIGTERM: i32 = libc::SIGTERM;

/// The path of `examples/crash_child`, built on first use.
///
/// Built with the same cargo, manifest, target directory and features as
/// this test, so the library is not rebuilt with other settings; found next
/// to this test binary (`<target>/<profile>/deps/<test>` →
/// `<target>/<profile>/examples/crash_child`).
pub fn crash_child() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(build_crash_child)
}

fn build_crash_child() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR is inside the target directory");
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(["build", "--quiet", "--example", "crash_child"])
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(target_dir);
    if !cfg!(debug_assertions) {
        cmd.arg("--release");
    }
    let mut features = Vec::new();
    if cfg!(feature = "cli") {
        features.push("cli");
    }
    if cfg!(feature = "tokio-graceful-shutdown") {
        features.push("tokio-graceful-shutdown");
    }
    if !features.is_empty() {
        cmd.arg("--features").arg(features.join(","));
    }
    let mut build = Running::start(cmd, "cargo build --example crash_child");
    let status = build.wait(BUILD_TIMEOUT);
    assert!(
        status.success(),
        "building examples/crash_child failed ({status})\n{}",
        build.describe()
    );
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary lives in <target>/<profile>/deps");
    let path = profile_dir.join("examples").join("crash_child");
    assert!(path.is_file(), "no example binary at {}", path.display());
    path
}

/// A running child process: stdout arrives line by line over a channel,
/// stderr is collected; every wait is bounded. Killed (SIGKILL) and reaped
/// on drop if still running.
pub struct Running {
    label: String,
    child: std::process::Child,
    lines: Receiver<String>,
    seen: Vec<String>,
    stderr: Arc<Mutex<String>>,
    status: Option<ExitStatus>,
}

impl Running {
    /// Starts `cmd` with stdin closed and stdout and stderr piped.
    pub fn start(mut cmd: Command, label: &str) -> Running {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("RUST_BACKTRACE", "0");
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {label}: {e}"));
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().expect("piped stderr");
        let collected = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                collected
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push_str(&text);
            }
        });
        Running {
            label: label.to_string(),
            child,
            lines,
            seen: Vec::new(),
            stderr,
            status: None,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next stdout line starting with `prefix` (earlier lines are kept
    /// for [`describe`](Self::describe)). Fails the test, killing the
    /// child, at `timeout` or if stdout ends first.
    pub fn expect_line(&mut self, prefix: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.starts_with(prefix) {
                        return line;
                    }
                }
                Err(why) => {
                    let why = match why {
                        RecvTimeoutError::Timeout => format!("no such line within {timeout:?}"),
                        RecvTimeoutError::Disconnected => "stdout ended".to_string(),
                    };
                    self.kill();
                    panic!(
                        "{}: waiting for a line starting with {prefix:?}: {why}\n{}",
                        self.label,
                        self.describe()
                    );
                }
            }
        }
    }

    /// Sends `signal` to the child.
    pub fn signal(&self, signal: i32) {
        assert!(
            self.status.is_none(),
            "{} already ended; cannot send signal {signal}",
            self.label
        );
        send_signal(self.pid(), signal);
    }

    /// Waits up to `timeout` for the child to end. Fails the test, killing
    /// the child, past that.
    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        if let Some(status) = self.status {
            return status;
        }
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                self.status = Some(status);
                return status;
            }
            if Instant::now() >= deadline {
                self.kill();
                panic!(
                    "{} did not end within {timeout:?}\n{}",
                    self.label,
                    self.describe()
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Kills the child with SIGKILL and reaps it; by then the kernel has
    /// closed its fds and released its locks.
    pub fn kill_hard(&mut self) {
        self.signal(SIGKILL);
        let status = self.wait(EXIT_TIMEOUT);
        assert_eq!(
            status.signal(),
            Some(SIGKILL),
            "{} ended with {status} instead of SIGKILL",
            self.label
        );
    }

    /// The stdout lines read so far plus whatever else arrives within
    /// `settle` (for a child that has ended: the rest of its output).
    pub fn stdout_lines(&mut self, settle: Duration) -> Vec<String> {
        let deadline = Instant::now() + settle;
        while let Ok(line) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            self.seen.push(line);
        }
        self.seen.clone()
    }

    /// Everything on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The status and output so far, for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "status: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status,
            self.seen.join("\n"),
            self.stderr()
        )
    }

    fn kill(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A `crash_child` run and the session directory it announced.
pub struct CrashChild {
    pub process: Running,
    pub session: PathBuf,
}

/// Starts `crash_child SCENARIO ROOT` and waits for its `ready` line.
pub fn start(scenario: &str, root: &Path) -> CrashChild {
    let mut cmd = Command::new(crash_child());
    cmd.arg(scenario).arg(root);
    let mut process = Running::start(cmd, &format!("crash_child {scenario}"));
    let line = process.expect_line("ready ", LINE_TIMEOUT);
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
    let line = child.process.expect_line("holding ", LINE_TIMEOUT);
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

/// Sends `signal` to `pid`.
pub fn send_signal(pid: u32, signal: i32) {
    let pid = libc::pid_t::try_from(pid).expect("pid fits pid_t");
    // SAFETY: kill(2) has no memory-safety preconditions.
    let rc = unsafe { libc::kill(pid, signal) };
    assert_eq!(
        rc,
        0,
        "kill({pid}, {signal}): {}",
        std::io::Error::last_os_error()
    );
}

/// True while a process `pid` exists (a zombie included).
pub fn process_exists(pid: u32) -> bool {
    let pid = libc::pid_t::try_from(pid).expect("pid fits pid_t");
    // SAFETY: kill(2) with signal 0 only checks; no memory-safety concerns.
    unsafe { libc::kill(pid, 0) == 0 }
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

/// A registry whose session directory lives in `root`.
pub fn registry_in(root: &Path) -> ResourceRegistry {
    ResourceRegistry::builder()
        .root(root)
        .build()
        .unwrap_or_else(|e| panic!("cannot build a registry in {}: {e}", root.display()))
}

/// A fresh scratch root, removed at the end of the test.
pub fn scratch_root() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("crash-root-")
        .tempdir()
        .expect("scratch root")
}

/// The names in `dir`, sorted.
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| {
            entry
                .expect("read_dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// Asserts that `dir` exists and holds nothing.
pub fn assert_empty(dir: &Path) {
    let names = names_in(dir);
    assert!(
        names.is_empty(),
        "{} should be empty but holds {names:?}",
        dir.display()
    );
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
