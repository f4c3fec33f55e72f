//! Child processes for the shutdown tests: build an example, run it in its
//! own scratch root, read its output with bounded waits, signal it, and check
//! what it left behind.
//!
//! # Finding the example binaries
//!
//! Cargo hands integration tests the path of the package's *bins*
//! (`CARGO_BIN_EXE_<name>`), never of its examples, and `cargo test --test X`
//! does not build examples at all. So each test binary builds the examples it
//! needs itself, once per example (a `OnceLock` per name):
//!
//! - `cargo build --example <name> --message-format=json-render-diagnostics`,
//!   with the same cargo (`$CARGO`), manifest, target directory (the parent
//!   of `CARGO_TARGET_TMPDIR`), profile (`--release` when the test itself has
//!   no debug assertions) and cargo features (mirrored from `cfg!(feature)`)
//!   as the test, so the library is not rebuilt with different settings;
//! - the binary's path is read from cargo's own `compiler-artifact` message
//!   (its `executable` field) rather than guessed, so a `--target` triple or
//!   a custom target directory changes nothing.
//!
//! The build may wait on cargo's lock of the target directory while another
//! build runs; it is bounded by [`BUILD_TIMEOUT`].
//!
//! # Bounded waits
//!
//! Every wait on a child has a deadline: stdout is read line by line on a
//! thread into a shared buffer, and [`Running::wait_for_line`] and
//! [`Running::wait_exit`] give up at their timeout, kill the child and fail
//! with everything it printed. Dropping a [`Running`] kills a child that is
//! still alive, so a failed assertion never leaves a process behind.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The longest an example build may take (it may queue behind other builds).
pub const BUILD_TIMEOUT: Duration = Duration::from_secs(900);
/// How long a freshly started example may take to print `ready`.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a signalled example with nothing slow to do may take to end.
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(10);

/// The environment variable the examples take their scratch root from.
pub const ROOT_ENV: &str = "TEMPREG_ROOT";

pub const SIGINT: i32 = 2;
pub const SIGQUIT: i32 = 3;
pub const SIGHUP: i32 = 1;
pub const SIGTERM: i32 = 15;

/// One cell per example: built once, however many tests ask at once.
type Builds = Mutex<HashMap<&'static str, Arc<OnceLock<PathBuf>>>>;

/// The path of example `name`, built on first use. See the module docs.
pub fn example(name: &'static str) -> PathBuf {
    static BUILT: OnceLock<Builds> = OnceLock::new();
    let cell = {
        let mut built = BUILT
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        Arc::clone(built.entry(name).or_default())
    };
    cell.get_or_init(|| build_example(name)).clone()
}

fn build_example(name: &str) -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR is inside the target directory");
    let mut cmd = Command::new(env!("CARGO"));
    cmd.arg("build")
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(target_dir)
        .args([
            "--example",
            name,
            "--message-format=json-render-diagnostics",
        ]);
    if !cfg!(debug_assertions) {
        cmd.arg("--release");
    }
    let mut features = Vec::new();
    if cfg!(feature = "tokio-graceful-shutdown") {
        features.push("tokio-graceful-shutdown");
    }
    if cfg!(feature = "cli") {
        features.push("cli");
    }
    if !features.is_empty() {
        cmd.arg("--features").arg(features.join(","));
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run cargo to build example {name}: {e}"));
    let stdout = drain(child.stdout.take().expect("piped stdout"));
    let stderr = drain(child.stderr.take().expect("piped stderr"));
    let status = wait_bounded(&mut child, BUILD_TIMEOUT)
        .unwrap_or_else(|| panic!("building example {name} took over {BUILD_TIMEOUT:?}"));
    let stdout = stdout.join().expect("stdout reader");
    let stderr = stderr.join().expect("stderr reader");
    assert!(
        status.success(),
        "cargo build --example {name} failed ({status}):\n{stderr}"
    );
    let name_field = format!("\"name\":\"{name}\"");
    stdout
        .lines()
        .filter(|line| {
            line.contains("\"reason\":\"compiler-artifact\"")
                && line.contains("\"kind\":[\"example\"]")
                && line.contains(&name_field)
        })
        .find_map(json_executable)
        .unwrap_or_else(|| panic!("cargo did not report an executable for example {name}"))
}

/// The `"executable"` string of a cargo JSON message, if it is not null.
fn json_executable(line: &str) -> Option<PathBuf> {
    let start = line.find("\"executable\":\"")? + "\"executable\":\"".len();
    let mut path = String::new();
    let mut chars = line[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(PathBuf::from(path)),
            '\\' => path.push(chars.next()?),
            c => path.push(c),
        }
    }
    None
}

/// Reads a pipe to its end on a thread.
fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Waits for `child` up to `timeout`; kills it and returns `None` past that.
fn wait_bounded(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// What a child printed on one stream, and whether the stream has ended.
#[derive(Default)]
struct Stream {
    lines: Vec<String>,
    closed: bool,
}

#[derive(Default)]
struct Shared {
    stream: Mutex<Stream>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Stream> {
        self.stream.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn read_lines(pipe: impl Read + Send + 'static, shared: Arc<Shared>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            shared.lock().lines.push(line);
            shared.changed.notify_all();
        }
        shared.lock().closed = true;
        shared.changed.notify_all();
    })
}

/// A running example, killed on drop if it is still alive.
pub struct Running {
    label: String,
    child: Child,
    status: Option<ExitStatus>,
    stdout: Arc<Shared>,
    stderr: Arc<Shared>,
    readers: Vec<JoinHandle<()>>,
    /// How many stdout lines [`wait_for_line`](Self::wait_for_line) consumed.
    cursor: usize,
}

/// The command for example `name` with `args`, its scratch root set to
/// `root`, its working directory `cwd` (where a SIGQUIT core would land) and
/// short panic messages.
pub fn example_command(name: &'static str, args: &[&str], root: &Path, cwd: &Path) -> Command {
    let mut cmd = Command::new(example(name));
    cmd.args(args)
        .env(ROOT_ENV, root)
        .env("RUST_BACKTRACE", "0")
        .current_dir(cwd);
    cmd
}

impl Running {
    /// Starts `cmd` with piped stdout and stderr.
    pub fn start(mut cmd: Command, label: &str) -> Running {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {label}: {e}"));
        let stdout = Arc::new(Shared::default());
        let stderr = Arc::new(Shared::default());
        let readers = vec![
            read_lines(child.stdout.take().expect("piped"), Arc::clone(&stdout)),
            read_lines(child.stderr.take().expect("piped"), Arc::clone(&stderr)),
        ];
        Running {
            label: label.to_string(),
            child,
            status: None,
            stdout,
            stderr,
            readers,
            cursor: 0,
        }
    }

    /// Starts the example and waits for its `ready <pid>` line.
    pub fn start_ready(cmd: Command, label: &str) -> Running {
        let mut running = Running::start(cmd, label);
        let line = running.wait_for_line("ready ", READY_TIMEOUT);
        assert_eq!(
            line,
            format!("ready {}", running.pid()),
            "{label} announced another pid"
        );
        running
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// True if the child has not ended yet.
    pub fn is_running(&mut self) -> bool {
        if self.status.is_none() {
            self.status = self.child.try_wait().expect("try_wait");
        }
        self.status.is_none()
    }

    /// Waits for the next stdout line (after those already consumed) that
    /// starts with `prefix`, and returns it. Fails the test (killing the
    /// child) at `timeout`, or if stdout ends first.
    pub fn wait_for_line(&mut self, prefix: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        let found = {
            let mut stream = self.stdout.lock();
            loop {
                if let Some(offset) = stream.lines[self.cursor..]
                    .iter()
                    .position(|l| l.starts_with(prefix))
                {
                    let index = self.cursor + offset;
                    self.cursor = index + 1;
                    break Ok(stream.lines[index].clone());
                }
                self.cursor = stream.lines.len();
                if stream.closed {
                    break Err("stdout ended");
                }
                let now = Instant::now();
                if now >= deadline {
                    break Err("timed out");
                }
                stream = self
                    .stdout
                    .changed
                    .wait_timeout(stream, deadline - now)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
        };
        found.unwrap_or_else(|why| {
            self.kill();
            panic!(
                "{}: waiting for a line starting with {prefix:?}: {why}\n{}",
                self.label,
                self.describe()
            )
        })
    }

    /// Sends `signal` (a name for `kill -s`, e.g. `TERM`).
    pub fn signal(&mut self, signal: &str) {
        assert!(
            self.status.is_none(),
            "{} already ended; cannot send SIG{signal}",
            self.label
        );
        let status = Command::new("kill")
            .args(["-s", signal, &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -s {signal} {} failed", self.pid());
    }

    /// Waits up to `timeout` for the child to end, then for its output to
    /// be read to the end. Fails the test (killing the child) at `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        if let Some(status) = self.status {
            return status;
        }
        let Some(status) = wait_bounded(&mut self.child, timeout) else {
            panic!(
                "{} did not end within {timeout:?}\n{}",
                self.label,
                self.describe()
            );
        };
        self.status = Some(status);
        // The pipes close with the process; the readers then finish.
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.readers.iter().any(|r| !r.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        status
    }

    /// Asserts that the child ended (within `timeout`) killed by `signal`.
    pub fn expect_killed_by(&mut self, signal: i32, timeout: Duration) {
        let status = self.wait_exit(timeout);
        assert_eq!(
            status.signal(),
            Some(signal),
            "{} should have been killed by signal {signal}, but ended with {status}\n{}",
            self.label,
            self.describe()
        );
    }

    /// Everything on stdout so far.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lock().lines.clone()
    }

    /// Everything on stderr so far, one string.
    pub fn stderr_text(&self) -> String {
        self.stderr.lock().lines.join("\n")
    }

    /// The status (if ended) and output, for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "status: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status,
            self.stdout_lines().join("\n"),
            self.stderr_text()
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

/// Every path under `dir`, relative to it, sorted.
pub fn tree(dir: &Path) -> Vec<PathBuf> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            out.push(path.strip_prefix(base).unwrap_or(&path).to_path_buf());
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                walk(base, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Asserts that `root` exists and holds nothing (no session directory left).
pub fn assert_root_empty(root: &Path, context: &dyn std::fmt::Display) {
    assert!(root.is_dir(), "{} should still exist", root.display());
    let left = tree(root);
    assert!(
        left.is_empty(),
        "scratch root {} should be empty, but holds {} path(s), among them {:?}\n{context}",
        root.display(),
        left.len(),
        &left[..left.len().min(10)]
    );
}

/// The session directories in `root` (the examples make exactly one each
/// unless told otherwise).
pub fn session_dirs(root: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", root.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// The entries of the only session directory in `root`, besides its lock.
pub fn session_entries(root: &Path) -> Vec<PathBuf> {
    let sessions = session_dirs(root);
    assert_eq!(
        sessions.len(),
        1,
        "expected one session directory in {}, found {sessions:?}",
        root.display()
    );
    tree(&sessions[0])
        .into_iter()
        .filter(|p| p != Path::new(tempreg::LOCK_NAME))
        .collect()
}

/// How many top-level entries of the only session directory in `root` have
/// a name starting with `prefix`.
pub fn count_in_session(root: &Path, prefix: &str) -> usize {
    session_entries(root)
        .iter()
        .filter(|p| p.components().count() == 1)
        .filter(|p| p.to_string_lossy().starts_with(prefix))
        .count()
}

/// Asserts that the session directory in `root` holds at least `n` entries
/// named `<prefix>…` for each `(prefix, n)`. At least: the registry may keep
/// files of its own there (pre-created temp files, say).
pub fn assert_session_holds(root: &Path, expected: &[(&str, usize)]) {
    for &(prefix, n) in expected {
        let found = count_in_session(root, prefix);
        assert!(
            found >= n,
            "expected at least {n} entr(ies) named {prefix}… in the session, found {found}: {:?}",
            session_entries(root)
        );
    }
}

/// A fresh scratch root and a separate working directory for one child.
pub struct Dirs {
    pub root: tempfile::TempDir,
    pub cwd: tempfile::TempDir,
}

impl Dirs {
    pub fn new() -> Dirs {
        Dirs {
            root: tempfile::tempdir().expect("scratch root"),
            cwd: tempfile::tempdir().expect("working directory"),
        }
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }

    pub fn cwd(&self) -> &Path {
        self.cwd.path()
    }
}
