//! Child processes for the tests that run one: build an example, start a
//! command with its output read on threads, wait for a line or for the end
//! with a deadline, signal it, and kill it on drop; processes that are not
//! our children; and bounded polling.
//!
//! [`Running`] is the one way the suites start a process and wait on it
//! (besides `assert_cmd` in `tests/cli.rs`, and the one-shot system tools of
//! `fs_faults.rs` and `fifo.rs`). It depends on nothing but std and libc.
//!
//! On Windows there are no signals: [`Running::kill_hard`] is
//! `TerminateProcess` (std's `Child::kill`, exit code 1), and the signal
//! helpers ([`send_signal`], [`Running::signal`],
//! [`Running::expect_killed_by`], [`KillOnDrop`]) are Unix's alone.
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
//! The crash-safety fixture `tests/fixtures/crash_child.rs` is built the
//! same way: `Cargo.toml` declares it as the example `crash_child`.
//!
//! The build may wait on cargo's lock of the target directory while another
//! build runs; it is bounded by [`BUILD_TIMEOUT`].
//!
//! # Bounded waits
//!
//! Every wait on a child has a deadline: stdout and stderr are read line by
//! line on threads into shared buffers, and [`Running::wait_for_line`],
//! [`Running::wait_exit`] and [`Running::kill_hard`] give up at their
//! timeout, kill the child and fail with everything it printed. Dropping a
//! [`Running`] kills a child that is still alive, so a failed assertion
//! never leaves a process behind. A child that is run to its end rather
//! than talked to is collected with [`Running::output`], bounded the same
//! way ([`RUN_TIMEOUT`]).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
#[cfg(unix)]
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

#[cfg(unix)]
pub const SIGHUP: i32 = libc::SIGHUP;
#[cfg(unix)]
pub const SIGINT: i32 = libc::SIGINT;
#[cfg(unix)]
pub const SIGKILL: i32 = libc::SIGKILL;
#[cfg(unix)]
pub const SIGQUIT: i32 = libc::SIGQUIT;
#[cfg(unix)]
pub const SIGTERM: i32 = libc::SIGTERM;

/// The exit code of a process ended by std's `Child::kill` on Windows
/// (`TerminateProcess(handle, 1)`).
#[cfg(windows)]
pub const KILLED_EXIT_CODE: i32 = 1;

/// The longest an example build may take (it may queue behind other builds).
pub const BUILD_TIMEOUT: Duration = Duration::from_secs(900);
/// How long a freshly started example may take to print `ready <pid>`
/// (see [`Running::start_ready`]).
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a child may take to end after SIGKILL (see
/// [`Running::kill_hard`]).
const KILL_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a child that is run to its end with [`Running::output`] may
/// take (a re-executed test binary running one scenario, a fixture that
/// aborts): generous, since none of them has anything slow to do.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);

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
    cell.get_or_init(|| match can_run_cargo() {
        Ok(()) => build_example(name),
        Err(why) => prebuilt_example(name, &why),
    })
    .clone()
}

/// Example `name` as `cargo test` (or `cargo build --examples`) built it
/// for this target, next to this test binary (`<profile>/deps/..`), when
/// cargo cannot be started from here (`why`): under Wine, whose programs
/// cannot start a Linux one. `.ci/wine.sh` builds the examples first.
fn prebuilt_example(name: &str, why: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .expect("a test binary lives in <profile>/deps");
    let path = profile
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{why}, and example {name} is not built at {}: build the examples first \
         (`cargo build --examples` with this target and features)",
        path.display()
    );
    path
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
    let mut build = Running::start(cmd, &format!("cargo build --example {name}"));
    let status = build.wait_exit(BUILD_TIMEOUT);
    assert!(
        status.success(),
        "cargo build --example {name} failed ({status}):\n{}",
        build.stderr_text()
    );
    let name_field = format!("\"name\":\"{name}\"");
    build
        .stdout_lines()
        .iter()
        .filter(|line| {
            line.contains("\"reason\":\"compiler-artifact\"")
                && line.contains("\"kind\":[\"example\"]")
                && line.contains(&name_field)
        })
        .find_map(|line| json_executable(line))
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

/// The signal that ended a process, if one did (never on Windows).
pub fn signal_of(status: &ExitStatus) -> Option<i32> {
    #[cfg(unix)]
    return status.signal();
    #[cfg(windows)]
    {
        let _ = status;
        None
    }
}

/// `Ok` if this process can start cargo (`$CARGO` at build time): not under
/// Wine, which cannot start a Linux program; the error says why not.
pub fn can_run_cargo() -> Result<(), String> {
    static ANSWER: OnceLock<Result<(), String>> = OnceLock::new();
    ANSWER
        .get_or_init(|| {
            match Command::new(env!("CARGO"))
                .arg("--version")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
            {
                Ok(status) if status.success() => Ok(()),
                Ok(status) => Err(format!("`cargo --version` failed ({status})")),
                Err(e) => Err(format!("cannot start cargo ({}): {e}", env!("CARGO"))),
            }
        })
        .clone()
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

/// Sends `signal` to `pid`.
#[cfg(unix)]
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
#[cfg(unix)]
pub fn process_exists(pid: u32) -> bool {
    let pid = libc::pid_t::try_from(pid).expect("pid fits pid_t");
    // SAFETY: kill(2) with signal 0 only checks; no memory-safety concerns.
    unsafe { libc::kill(pid, 0) == 0 }
}

/// The pid of a process that has ended and been reaped: a pid that no
/// process has (until the kernel hands it out again).
pub fn dead_pid() -> u32 {
    #[cfg(unix)]
    let cmd = Command::new("true");
    #[cfg(windows)]
    let cmd = {
        let mut cmd = Command::new("cmd");
        cmd.args(["/C", "exit 0"]);
        cmd
    };
    let mut gone = Running::start(cmd, "a process that ends at once");
    gone.wait_exit(RUN_TIMEOUT);
    gone.pid()
}

/// A process that is not our child (so no `Child` to kill), killed with
/// SIGKILL on drop unless [`disarm`](Self::disarm)ed.
#[cfg(unix)]
pub struct KillOnDrop(Option<u32>);

#[cfg(unix)]
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

#[cfg(unix)]
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

/// Runs `judge` (a sweep, a listing of sessions) until `settled` holds for
/// what it returns, and returns that; at most for 10 s (then the last).
///
/// For sessions that this process dropped: from a `fork` to its `exec`, a
/// child that another test of the same binary starts holds a copy of every
/// fd, the sessions' locks included (`O_CLOEXEC` acts only at `exec`), so
/// for that instant a session whose owner is gone looks live.
pub fn judged_once_settled<T>(mut judge: impl FnMut() -> T, settled: impl Fn(&T) -> bool) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let verdict = judge();
        if settled(&verdict) || Instant::now() >= deadline {
            return verdict;
        }
        std::thread::sleep(Duration::from_millis(10));
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

/// A running child process, killed (SIGKILL) and reaped on drop if it is
/// still alive.
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

impl Running {
    /// Starts `cmd` with stdin closed, stdout and stderr piped, and short
    /// panic messages (`RUST_BACKTRACE=0`).
    pub fn start(mut cmd: Command, label: &str) -> Running {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("RUST_BACKTRACE", "0");
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

    /// Starts `cmd` and waits for its `ready <pid>` line.
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
                    break Err("stdout ended".to_string());
                }
                let now = Instant::now();
                if now >= deadline {
                    break Err(format!("no such line within {timeout:?}"));
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

    /// Sends `signal` (`SIGTERM`, …) to the child.
    #[cfg(unix)]
    pub fn signal(&self, signal: i32) {
        assert!(
            self.status.is_none(),
            "{} already ended; cannot send signal {signal}",
            self.label
        );
        send_signal(self.pid(), signal);
    }

    /// Waits up to `timeout` for the child to end, then for its output to
    /// be read to the end. Fails the test (killing the child) at `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let status = self.reap(timeout);
        // The pipes close with the process; the readers then finish.
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.readers.iter().any(|r| !r.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        status
    }

    /// Waits up to `timeout` for the child to end, as
    /// [`wait_exit`](Self::wait_exit) does, and returns its status and
    /// everything it printed, each line ending in `\n`: what
    /// `Command::output` returns, with a deadline.
    pub fn output(mut self, timeout: Duration) -> Output {
        let status = self.wait_exit(timeout);
        let text = |shared: &Shared| -> Vec<u8> {
            shared
                .lock()
                .lines
                .iter()
                .flat_map(|line| [line.as_bytes(), b"\n"])
                .flatten()
                .copied()
                .collect()
        };
        Output {
            status,
            stdout: text(&self.stdout),
            stderr: text(&self.stderr),
        }
    }

    /// Asserts that the child ended (within `timeout`) killed by `signal`.
    #[cfg(unix)]
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

    /// Kills the child with SIGKILL (on Windows `TerminateProcess`, std's
    /// `Child::kill`) and reaps it; by then the kernel has closed its fds
    /// (handles) and released its locks. Its output is not waited for: a
    /// process it started may still hold the pipes.
    pub fn kill_hard(&mut self) {
        #[cfg(unix)]
        self.signal(SIGKILL);
        #[cfg(windows)]
        {
            assert!(
                self.status.is_none(),
                "{} already ended; cannot kill it",
                self.label
            );
            self.child
                .kill()
                .unwrap_or_else(|e| panic!("TerminateProcess {}: {e}", self.label));
        }
        let status = self.reap(KILL_TIMEOUT);
        #[cfg(unix)]
        assert_eq!(
            status.signal(),
            Some(SIGKILL),
            "{} ended with {status} instead of SIGKILL",
            self.label
        );
        #[cfg(windows)]
        assert_eq!(
            status.code(),
            Some(KILLED_EXIT_CODE),
            "{} ended with {status} instead of TerminateProcess's code",
            self.label
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

    /// Waits up to `timeout` for the child to end and records its status.
    /// Fails the test (killing the child) past that.
    fn reap(&mut self, timeout: Duration) -> ExitStatus {
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
        status
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
