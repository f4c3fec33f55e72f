//! The `tempreg` command: `run` behaves like `env` or `timeout` in front of
//! its command (its exit code or its death by a signal passed on, 125/126/
//! 127 for what is not the command's, no `--` needed), runs it in a process
//! group of its own that signals reach, leaves a session to processes the
//! command left running, keeps a failed run's scratch on request; `sweep`
//! and `ls` judge sessions by their lock and show them to people (human
//! sizes, `--dry-run`, `-v`) or scripts (`--json`); errors are one line
//! that names what was asked; `RUST_LOG` logs on stderr; no colour escapes
//! off a terminal.
//!
//! On Windows, `tempreg run` has no signals, process groups or terminal to
//! pass on, and no `sh` to run: those tests are Unix's, and
//! `tests/windows.rs` runs commands through `cmd`. What the OS says in an
//! error is taken from the OS there (its words depend on the system's
//! language, and under Wine on Wine).
#![cfg(feature = "cli")]

mod support;

#[cfg(unix)]
use std::os::unix::fs::{MetadataExt, PermissionsExt};
#[cfg(unix)]
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use support::{assert_empty_dir, names_in, registry_in, scratch_root};
#[cfg(unix)]
use support::{
    dead_hold_child, process_exists, snapshot, wait_until, KillOnDrop, LockPlant, Planted, Running,
    CHILD_EXIT_TIMEOUT, LINE_TIMEOUT, NOBODY, SIGHUP, SIGINT, SIGKILL, SIGQUIT, SIGTERM,
};
#[cfg(unix)]
use support::{or_skip, Immutable};
use tempreg::LOCK_NAME;

/// The path of the `tempreg` binary under test.
const TEMPREG: &str = env!("CARGO_BIN_EXE_tempreg");

/// `tempreg`, with a backtrace asked for (so a panic would show), no
/// `RUST_LOG` (so nothing is logged unless a test asks), and a bound on how
/// long it may run.
fn tempreg() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(TEMPREG);
    cmd.env("RUST_BACKTRACE", "1")
        .env_remove("RUST_LOG")
        .timeout(Duration::from_secs(60));
    cmd
}

/// `tempreg run --root ROOT [EXTRA] -- sh -c SCRIPT`, run to its end.
#[cfg(unix)]
fn run_sh(root: &Path, extra: &[&str], script: &str) -> Output {
    tempreg()
        .args(["run", "--root"])
        .arg(root)
        .args(extra)
        .args(["--", "sh", "-c", script])
        .output()
        .expect("run tempreg")
}

/// `tempreg run --root ROOT -- sh -c SCRIPT` in the background; the script
/// should print `started $$` once it is ready.
#[cfg(unix)]
fn start_sh(root: &Path, script: &str) -> (Running, KillOnDrop) {
    let mut cmd = std::process::Command::new(TEMPREG);
    cmd.env_remove("RUST_LOG")
        .args(["run", "--root"])
        .arg(root)
        .args(["--", "sh", "-c", script]);
    let mut wrapper = Running::start(cmd, "tempreg run");
    let line = wrapper.wait_for_line("started ", LINE_TIMEOUT);
    let pid = line["started ".len()..].trim().parse().expect("a pid");
    (wrapper, KillOnDrop::new(pid))
}

/// `tempreg sweep ROOT`, run to its end.
fn run_sweep(root: &Path) -> Output {
    tempreg().arg("sweep").arg(root).output().expect("sweep")
}

/// `tempreg ls ROOT --json`, run to its end.
fn run_ls_json(root: &Path) -> Output {
    tempreg()
        .arg("ls")
        .arg(root)
        .arg("--json")
        .output()
        .expect("ls")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A session of a dead owner, made by hand: name, unlocked lock, and a
/// `data.bin` of `bytes` bytes.
fn forge_orphan_of(root: &Path, pid: u32, bytes: usize) -> PathBuf {
    let dir = root.join(format!("tempreg-{pid}-Orphan12"));
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::write(dir.join(LOCK_NAME), format!("{pid}\n")).expect("lock");
    std::fs::write(dir.join("data.bin"), vec![b'x'; bytes]).expect("data");
    dir
}

/// [`forge_orphan_of`] with 10 bytes.
fn forge_orphan(root: &Path, pid: u32) -> PathBuf {
    forge_orphan_of(root, pid, 10)
}

/// Asserts that no colour or other terminal escape is in the output of a
/// command whose stdout and stderr are not terminals.
fn assert_no_escapes(output: &Output) {
    for (name, text) in [("stdout", stdout(output)), ("stderr", stderr(output))] {
        assert!(!text.contains("\x1b["), "an escape on {name}: {text:?}");
    }
}

/// Asserts an error run: exit `code`, one stderr line `tempreg: {what}: …`
/// that names `needle`, nothing on stdout, and no panic or backtrace.
fn assert_one_line_error(output: &Output, code: i32, what: &str, needle: &str) {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(code), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line expected: {err:?}");
    assert!(err.starts_with(&format!("tempreg: {what}: ")), "{err:?}");
    assert!(err.contains(needle), "should name {needle}: {err:?}");
    let lower = err.to_lowercase();
    assert!(
        !lower.contains("panic") && !lower.contains("backtrace") && !lower.contains("os error"),
        "{err:?}"
    );
    assert!(output.stdout.is_empty(), "{output:?}");
    assert_no_escapes(output);
}

/// True once process `pid` has ended: gone, or a zombie nobody reaps (an
/// orphan whose new parent does not reap it, as in some containers).
#[cfg(unix)]
fn has_ended(pid: u32) -> bool {
    !process_exists(pid) || matches!(process_state(pid), Some('Z' | 'X'))
}

/// The state letter of process `pid` in `/proc` (`S`, `R`, `T` stopped, `Z`
/// zombie, ...), if it can be read.
#[cfg(unix)]
fn process_state(pid: u32) -> Option<char> {
    // `pid (comm) STATE ...`; comm may hold spaces, so split after `)`.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// True if this test process ignores `signal` (inherited: a background job
/// of a script ignores SIGINT): its children then ignore it too, and cannot
/// be killed by it.
#[cfg(unix)]
fn ignored_here(signal: i32) -> bool {
    // SAFETY: a query only; `old` is plain data the call fills in.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(signal, std::ptr::null(), &mut old) == 0
            && old.sa_sigaction == libc::SIG_IGN
    }
}

/// An error's words for a person: the OS's, without `(os error N)` (as the
/// command shows them).
#[cfg(windows)]
fn words(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(at) if text.ends_with(')') => text[..at].to_string(),
        _ => text,
    }
}

/// What the OS says for an error: `unix` on Unix, checked as written; on
/// Windows the system's own words for the error `windows` makes (they
/// depend on its language, and under Wine on Wine).
fn os_words(unix: &str, windows: impl FnOnce() -> std::io::Error) -> String {
    #[cfg(unix)]
    {
        let _ = windows;
        unix.to_string()
    }
    #[cfg(windows)]
    {
        let _ = unix;
        words(&windows())
    }
}

/// What the OS says when `path` cannot be listed (see [`os_words`]).
fn os_words_listing(path: &Path, unix: &str) -> String {
    os_words(unix, || {
        std::fs::read_dir(path).expect_err("a root that cannot be listed")
    })
}

/// What the OS says when `program` cannot be started (see [`os_words`]).
fn os_words_spawning(program: &str, unix: &str) -> String {
    os_words(unix, || {
        std::process::Command::new(program)
            .spawn()
            .expect_err("a program that cannot start")
    })
}

/// The single entry of `root`: the session a test made there.
#[cfg(unix)]
fn only_session(root: &Path) -> PathBuf {
    let names = names_in(root);
    assert_eq!(
        names.len(),
        1,
        "one session expected in the root: {names:?}"
    );
    root.join(&names[0])
}

// ---------------------------------------------------------------------------
// `tempreg run`: the session, and ending as the command ended.

#[cfg(unix)]
#[test]
fn run_gives_the_command_a_session_and_removes_it() {
    let root = scratch_root();
    let script = r#"set -e
        test "$TMPDIR" = "$TEMPREG_SESSION_DIR"
        touch "$TMPDIR/x"
        test -f "$TMPDIR/x"
        echo "$TMPDIR"
        exit 0"#;
    let output = run_sh(root.path(), &[], script);
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    assert!(output.stderr.is_empty(), "{output:?}");
    let session = PathBuf::from(stdout(&output).trim());
    assert_eq!(session.parent(), Some(root.path()));
    let name = session.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("tempreg-"), "{name}");
    assert_empty_dir(root.path());
}

#[cfg(unix)]
#[test]
fn run_removes_what_the_command_left_without_following_its_symlinks() {
    let root = scratch_root();
    let outside = scratch_root();
    let victim = outside.path().join("victim");
    std::fs::create_dir(&victim).expect("mkdir victim");
    std::fs::write(victim.join("precious.txt"), b"precious").expect("victim file");
    let script = r#"set -e
        mkdir -p "$TMPDIR/deep/er"
        echo data > "$TMPDIR/deep/er/file"
        ln -s "$VICTIM" "$TMPDIR/link"
        ln -s "$VICTIM" "$TMPDIR/deep/link"
        ln -s "$VICTIM/precious.txt" "$TMPDIR/deep/er/file-link""#;
    let output = tempreg()
        .args(["run", "--root"])
        .arg(root.path())
        .args(["--", "sh", "-c", script])
        .env("VICTIM", &victim)
        .output()
        .expect("run tempreg");
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    assert_empty_dir(root.path());
    assert_eq!(names_in(&victim), ["precious.txt"]);
    assert_eq!(
        std::fs::read(victim.join("precious.txt")).expect("victim file"),
        b"precious"
    );
}

#[cfg(unix)]
#[test]
fn run_exits_with_the_commands_code_and_cleans_up() {
    let root = scratch_root();
    for code in [0, 1, 3, 42, 255] {
        let output = run_sh(
            root.path(),
            &[],
            &format!(r#"touch "$TMPDIR/x"; exit {code}"#),
        );
        assert_eq!(output.status.code(), Some(code), "{output:?}");
        assert!(output.stderr.is_empty(), "{output:?}");
        assert_empty_dir(root.path());
    }
}

#[cfg(unix)]
#[test]
fn a_command_killed_by_a_signal_kills_the_wrapper_by_the_same_signal() {
    let root = scratch_root();
    for (name, signal) in [
        ("TERM", SIGTERM),
        ("INT", SIGINT),
        ("HUP", SIGHUP),
        ("KILL", SIGKILL),
    ] {
        if ignored_here(signal) {
            eprintln!("skipped: SIG{name} is ignored by this test process, so by its children");
            continue;
        }
        let script = format!(r#"touch "$TMPDIR/x"; kill -{name} $$"#);
        let output = run_sh(root.path(), &[], &script);
        // Killed, as a shell, systemd or a supervisor must see it: not an
        // exit with code 128 + n.
        assert_eq!(output.status.code(), None, "SIG{name}: {output:?}");
        assert_eq!(
            output.status.signal(),
            Some(signal),
            "SIG{name}: {output:?}"
        );
        assert!(output.stderr.is_empty(), "SIG{name}: {output:?}");
        assert_empty_dir(root.path());
    }
}

#[cfg(unix)]
#[test]
fn a_core_dumping_signal_kills_the_wrapper_by_it_without_a_core_file() {
    let root = scratch_root();
    // The wrapper runs in a directory of its own with core files allowed,
    // so a core of its own would land there; the command allows none, so
    // that one cannot.
    let cwd = scratch_root();
    let pattern = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap_or_default();
    for (name, signal) in [("SEGV", libc::SIGSEGV), ("ABRT", libc::SIGABRT)] {
        let script = format!(
            r#"ulimit -c unlimited 2>/dev/null || ulimit -c "$(ulimit -H -c)"
            exec "$0" run --root "$1" -- sh -c 'ulimit -c 0; touch "$TMPDIR/x"; kill -{name} $$'"#
        );
        let output = assert_cmd::Command::new("sh")
            .args(["-c", &script, TEMPREG])
            .arg(root.path())
            .current_dir(cwd.path())
            .env_remove("RUST_LOG")
            .timeout(Duration::from_secs(60))
            .output()
            .expect("sh");
        assert_eq!(
            output.status.signal(),
            Some(signal),
            "SIG{name}: {output:?}"
        );
        if !pattern.starts_with('|') {
            // (A core piped to a handler is reported whatever the limit.)
            assert!(!output.status.core_dumped(), "SIG{name}: {output:?}");
        }
        assert_empty_dir(cwd.path());
        assert_empty_dir(root.path());
    }
}

#[cfg(unix)]
#[test]
fn a_signal_sent_to_the_wrapper_reaches_the_command_and_the_wrapper_dies_by_it() {
    let root = scratch_root();
    for signal in [SIGTERM, SIGINT, SIGHUP, SIGQUIT] {
        if ignored_here(signal) {
            eprintln!("skipped: signal {signal} is ignored by this test process");
            continue;
        }
        let (mut wrapper, mut child) = start_sh(
            root.path(),
            r#"ulimit -c 0; touch "$TMPDIR/x"; echo "started $$"; exec sleep 300"#,
        );
        wrapper.signal(signal);
        wrapper.expect_killed_by(signal, CHILD_EXIT_TIMEOUT);
        // The wrapper waited for its command, so the command is gone.
        assert!(
            has_ended(child.pid()),
            "signal {signal}: the command still runs"
        );
        child.disarm();
        assert!(wrapper.stderr_text().is_empty(), "{}", wrapper.describe());
        assert_empty_dir(root.path());
    }
}

#[cfg(unix)]
#[test]
fn a_command_that_traps_the_forwarded_signal_can_clean_up_and_succeed() {
    let root = scratch_root();
    let script = r#"trap 'rm -f "$TMPDIR/marker"; echo trapped; exit 0' TERM
        touch "$TMPDIR/marker"
        echo "started $$"
        while :; do sleep 0.1; done"#;
    let (mut wrapper, _child) = start_sh(root.path(), script);
    wrapper.signal(SIGTERM);
    wrapper.wait_for_line("trapped", LINE_TIMEOUT);
    let status = wrapper.wait_exit(CHILD_EXIT_TIMEOUT);
    assert_eq!(status.code(), Some(0), "{}", wrapper.describe());
    assert_empty_dir(root.path());
}

#[cfg(unix)]
#[test]
fn sigtstp_stops_the_command_then_the_wrapper_and_sigcont_resumes_both() {
    // What Ctrl+Z does to a job, here without a terminal: the wrapper passes
    // SIGTSTP on and stops once its command has, so that a shell sees the
    // job stopped; continued, it continues its command.
    if ignored_here(libc::SIGTSTP) {
        eprintln!("skipped: SIGTSTP is ignored by this test process");
        return;
    }
    let root = scratch_root();
    let (mut wrapper, child) = start_sh(root.path(), r#"echo "started $$"; exec sleep 300"#);
    let stopped = |pid: u32| process_state(pid) == Some('T');
    wrapper.signal(libc::SIGTSTP);
    wait_until(
        CHILD_EXIT_TIMEOUT,
        "the command, then the wrapper, stop",
        || stopped(child.pid()) && stopped(wrapper.pid()),
    );
    support::send_signal(wrapper.pid(), libc::SIGCONT);
    wait_until(
        CHILD_EXIT_TIMEOUT,
        "the wrapper and the command run again",
        || !stopped(child.pid()) && !stopped(wrapper.pid()),
    );
    assert!(wrapper.is_running(), "{}", wrapper.describe());
    wrapper.signal(SIGTERM);
    wrapper.expect_killed_by(SIGTERM, CHILD_EXIT_TIMEOUT);
    assert!(has_ended(child.pid()));
    assert_empty_dir(root.path());
}

#[cfg(unix)]
#[test]
fn a_signal_ignored_when_the_wrapper_started_stays_ignored_as_under_nohup() {
    let root = scratch_root();
    // As `nohup` would: SIGHUP ignored, then tempreg in the same process.
    let script = r#"trap '' HUP
        exec "$0" run --root "$1" -- sh -c '
            grep "^SigIgn:" /proc/$$/status
            echo "started $$"
            exec sleep 300'"#;
    let mut cmd = std::process::Command::new("sh");
    cmd.args(["-c", script, TEMPREG])
        .arg(root.path())
        .env_remove("RUST_LOG");
    let mut wrapper = Running::start(cmd, "nohup-like tempreg run");
    let ignored = wrapper.wait_for_line("SigIgn:", LINE_TIMEOUT);
    let line = wrapper.wait_for_line("started ", LINE_TIMEOUT);
    let mut child = KillOnDrop::new(line["started ".len()..].trim().parse().expect("a pid"));
    let mask = u64::from_str_radix(ignored["SigIgn:".len()..].trim(), 16).expect("a hex mask");
    assert_ne!(
        mask & (1 << (SIGHUP - 1)),
        0,
        "the command should ignore SIGHUP: {ignored}"
    );

    // A SIGHUP is dropped by the kernel; the SIGTERM after it is passed on.
    wrapper.signal(SIGHUP);
    wrapper.signal(SIGTERM);
    wrapper.expect_killed_by(SIGTERM, CHILD_EXIT_TIMEOUT);
    assert!(has_ended(child.pid()));
    child.disarm();
    assert_empty_dir(root.path());
}

// ---------------------------------------------------------------------------
// `tempreg run`: what is not the command's status: 125, 126, 127.

#[test]
fn the_wrappers_own_failures_exit_125_and_say_what_failed() {
    let missing = "/nonexistent/tempreg-cli-test";
    let output = tempreg()
        .args(["run", "--root", missing, "--", "true"])
        .output()
        .expect("run");
    assert_one_line_error(&output, 125, "run", missing);
    let why = os_words_listing(Path::new(missing), "No such file or directory");
    assert!(
        stderr(&output).contains("cannot make a session directory in")
            && stderr(&output).trim_end().ends_with(&format!(": {why}")),
        "{output:?}"
    );

    let root = scratch_root();
    let file = root.path().join("plain-file");
    std::fs::write(&file, b"not a dir").expect("write");
    let output = tempreg()
        .args(["run", "--root"])
        .arg(&file)
        .arg("true")
        .output()
        .expect("run");
    assert_one_line_error(&output, 125, "run", &file.display().to_string());
    let why = os_words_listing(&file, "Not a directory");
    assert!(
        stderr(&output).trim_end().ends_with(&format!(": {why}")),
        "{output:?}"
    );
    assert_eq!(names_in(root.path()), ["plain-file"]);
}

#[test]
fn a_usage_error_of_run_exits_125_not_as_a_command_could() {
    for args in [
        &["run"][..],
        &["run", "--"][..],
        &["run", "--root", "/tmp"][..],
        &["run", "--no-such-option", "true"][..],
    ] {
        let output = tempreg().args(args).output().expect("run");
        assert_eq!(output.status.code(), Some(125), "{args:?}: {output:?}");
        assert!(stderr(&output).contains("Usage"), "{args:?}: {output:?}");
        assert!(output.stdout.is_empty(), "{args:?}: {output:?}");
        assert_no_escapes(&output);
    }
}

#[test]
fn a_command_that_cannot_run_exits_like_a_shell_would() {
    let root = scratch_root();
    let output = tempreg()
        .args(["run", "--root"])
        .arg(root.path())
        .args(["--", "/no/such/cmd"])
        .output()
        .expect("run");
    assert_one_line_error(&output, 127, "run", "`/no/such/cmd`");
    let why = os_words_spawning("/no/such/cmd", "No such file or directory");
    assert!(
        stderr(&output).contains(&format!("cannot run `/no/such/cmd`: {why}")),
        "{output:?}"
    );
    assert_empty_dir(root.path());

    let output = tempreg()
        .args(["run", "--root"])
        .arg(root.path())
        .arg("no-such-command-on-any-path-3f9a")
        .output()
        .expect("run");
    assert_one_line_error(&output, 127, "run", "no-such-command-on-any-path-3f9a");
    assert_empty_dir(root.path());

    // Found, but not runnable: a file without execute permission (on
    // Windows, one that is no program), a directory.
    let bin = scratch_root();
    let script = bin.path().join("not-executable.sh");
    std::fs::write(&script, b"#!/bin/sh\necho ran\n").expect("write");
    #[cfg(unix)]
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    for target in [script.as_path(), bin.path()] {
        let output = tempreg()
            .args(["run", "--root"])
            .arg(root.path())
            .arg("--")
            .arg(target)
            .output()
            .expect("run");
        assert_one_line_error(&output, 126, "run", &target.display().to_string());
        assert!(stderr(&output).contains("cannot run"), "{output:?}");
        assert_empty_dir(root.path());
    }
}

#[cfg(unix)]
#[test]
fn run_takes_the_command_without_a_double_dash_and_passes_its_options_on() {
    let root = scratch_root();
    // Options of tempreg before CMD; from CMD on, everything is CMD's,
    // tempreg's option names included.
    let output = tempreg()
        .args(["run", "--root"])
        .arg(root.path())
        .args([
            "sh",
            "-c",
            r#"echo "$TMPDIR"; echo "$@""#,
            "sh",
            "-la",
            "--root",
            "x",
            "--",
            "--keep-on-failure",
        ])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(Path::new(lines[0]).parent(), Some(root.path()), "{text}");
    assert_eq!(lines[1], "-la --root x -- --keep-on-failure", "{text}");
    assert_empty_dir(root.path());

    // `tempreg run ls -la DIR`: `-la` is ls's (long format, hidden files).
    let listed = scratch_root();
    std::fs::write(listed.path().join(".hidden"), b"").expect("write");
    let output = tempreg()
        .args(["run", "--root"])
        .arg(root.path())
        .args(["ls", "-la"])
        .arg(listed.path())
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let text = stdout(&output);
    assert!(
        text.lines()
            .any(|l| l.starts_with("-rw") && l.ends_with(" .hidden")),
        "{text}"
    );
    assert_empty_dir(root.path());
}

// ---------------------------------------------------------------------------
// `tempreg run`: the command's process group, and what it leaves running.

#[cfg(unix)]
#[test]
fn sigterm_to_the_wrapper_ends_every_process_of_the_commands_group() {
    let root = scratch_root();
    let (mut wrapper, _shell) = start_sh(
        root.path(),
        r#"sleep 300 & a=$!
        sleep 300 & b=$!
        echo "sleeps $a $b"
        echo "started $$"
        wait"#,
    );
    let line = wrapper
        .stdout_lines()
        .into_iter()
        .find(|l| l.starts_with("sleeps "));
    let line = line.expect("the sleeps' pids are printed before `started`");
    let mut sleeps: Vec<KillOnDrop> = line["sleeps ".len()..]
        .split_whitespace()
        .map(|pid| KillOnDrop::new(pid.parse().expect("a pid")))
        .collect();
    assert_eq!(sleeps.len(), 2, "{line}");

    wrapper.signal(SIGTERM);
    wrapper.expect_killed_by(SIGTERM, CHILD_EXIT_TIMEOUT);
    wait_until(
        CHILD_EXIT_TIMEOUT,
        "both sleeps of the command's group end",
        || sleeps.iter().all(|s| has_ended(s.pid())),
    );
    for sleep in &mut sleeps {
        sleep.disarm();
    }
    assert!(wrapper.stderr_text().is_empty(), "{}", wrapper.describe());
    assert_empty_dir(root.path());
}

#[cfg(unix)]
#[test]
fn processes_the_command_left_running_keep_the_session_until_a_sweep_after_them() {
    let root = scratch_root();
    // The command ends at once; the sleep it started goes on, and holds
    // the session's lock (inherited), with nothing telling it to stop.
    let output = run_sh(root.path(), &[], "sleep 300 >/dev/null 2>&1 & echo $!");
    let pid: u32 = stdout(&output).trim().parse().expect("the sleep's pid");
    let mut sleeper = KillOnDrop::new(pid);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(!has_ended(pid), "the sleep was ended; it should run on");

    let session = only_session(root.path());
    assert!(session.join(LOCK_NAME).is_file());
    let err = stderr(&output);
    assert_eq!(err.lines().count(), 1, "one line expected: {err:?}");
    assert!(
        err.starts_with(&format!(
            "tempreg: run: processes started by `sh` still use {}: ",
            session.display()
        )) && err.contains(&format!(
            "the first `tempreg sweep {}` after they end removes it",
            root.path().display()
        )),
        "{err:?}"
    );

    let sweep = run_sweep(root.path());
    assert_eq!(sweep.status.code(), Some(0), "{sweep:?}");
    assert_eq!(
        stdout(&sweep).trim(),
        "removed 0 orphaned session(s) (0 file(s), 0 B); left 1 live session(s) alone"
    );
    assert!(
        session.join(LOCK_NAME).is_file(),
        "a sweep took a session in use"
    );

    sleeper.kill_now(SIGKILL);
    wait_until(
        CHILD_EXIT_TIMEOUT,
        "the killed sleep lets go of the session",
        || {
            has_ended(pid)
                && tempreg::list_sessions(root.path()).is_ok_and(|l| l.iter().all(|s| !s.is_live()))
        },
    );
    let sweep = run_sweep(root.path());
    assert_eq!(sweep.status.code(), Some(0), "{sweep:?}");
    assert!(
        stdout(&sweep).starts_with("removed 1 orphaned session(s)"),
        "{sweep:?}"
    );
    assert_empty_dir(root.path());
}

#[cfg(unix)]
#[test]
fn a_killed_wrapper_leaves_a_live_session_until_its_command_ends() {
    let root = scratch_root();
    let (mut wrapper, mut child) = start_sh(
        root.path(),
        r#"echo data > "$TMPDIR/x"; echo "started $$"; exec sleep 300"#,
    );
    let wrapper_pid = wrapper.pid();
    wrapper.kill_hard();
    let session = only_session(root.path());

    // The command inherited the lock: the session is live though its
    // owner (the pid in its name and lock file) is dead.
    let sweep = run_sweep(root.path());
    assert_eq!(sweep.status.code(), Some(0), "{sweep:?}");
    let text = stdout(&sweep);
    assert!(
        text.contains("removed 0 orphaned") && text.contains("left 1 live"),
        "{text}"
    );
    assert!(session.join("x").is_file());
    let listed = tempreg::list_sessions(root.path()).expect("list");
    assert_eq!(listed[0].pid(), Some(wrapper_pid));
    assert!(listed[0].is_live());

    child.kill_now(SIGKILL);
    wait_until(
        CHILD_EXIT_TIMEOUT,
        "the killed command releases the lock",
        || tempreg::list_sessions(root.path()).is_ok_and(|l| l.iter().all(|s| !s.is_live())),
    );
    let sweep = run_sweep(root.path());
    assert_eq!(sweep.status.code(), Some(0), "{sweep:?}");
    assert!(
        stdout(&sweep).starts_with("removed 1 orphaned session(s) (1 file(s), 5 B)"),
        "{sweep:?}"
    );
    assert_empty_dir(root.path());
}

#[cfg(unix)]
#[test]
fn on_a_terminal_the_command_gets_the_foreground_and_the_wrapper_takes_it_back() {
    // `script` (util-linux) runs a shell on a new pseudo-terminal, as its
    // controlling terminal, in the foreground: as a terminal user would.
    let Some(()) = or_skip(util_linux_script()) else {
        return;
    };
    let root = scratch_root();
    let stat =
        r#"read -r _ _ _ _ pgrp _ _ tpgid _ < /proc/$$/stat; echo "$1 pgrp=$pgrp tpgid=$tpgid""#;
    // Then a command that cannot start: the terminal must come back too.
    let inner = format!(
        "{tempreg} run --root {root} -- sh -c '{stat}' sh command; sh -c '{stat}' sh shell; \
         {tempreg} run --root {root} /no/such/cmd; sh -c '{stat}' sh after-failure",
        tempreg = TEMPREG,
        root = root.path().display()
    );
    let mut cmd = std::process::Command::new("script");
    cmd.args(["-qec", &inner, "/dev/null"])
        .env_remove("RUST_LOG");
    let output = Running::start(cmd, "script").output(support::RUN_TIMEOUT);
    // `script -e` exits with the last command's status.
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let text = stdout(&output);
    let groups = |who: &str| -> (String, String) {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{who} ")))
            .unwrap_or_else(|| panic!("no {who} line in {text:?}"));
        let field = |key: &str| {
            line.split_whitespace()
                .find_map(|f| f.strip_prefix(key))
                .expect("a field")
                .trim()
                .to_string()
        };
        (field("pgrp="), field("tpgid="))
    };
    let (command_group, command_foreground) = groups("command");
    assert_eq!(
        command_group, command_foreground,
        "the command is not in the foreground: {text}"
    );
    let (shell_group, shell_foreground) = groups("shell");
    assert_eq!(
        shell_group, shell_foreground,
        "the terminal was not taken back: {text}"
    );
    let (group, foreground) = groups("after-failure");
    assert_eq!(
        group, foreground,
        "the terminal was not taken back after a command that could not start: {text}"
    );
    assert_ne!(
        command_group, shell_group,
        "the command has no group of its own: {text}"
    );
    assert_empty_dir(root.path());
}

/// `Ok` if `script` is util-linux's (whose `-qec CMD FILE` this suite uses).
#[cfg(unix)]
fn util_linux_script() -> Result<(), String> {
    let output = std::process::Command::new("script")
        .arg("--version")
        .output()
        .map_err(|e| format!("no `script` command: {e}"))?;
    if String::from_utf8_lossy(&output.stdout).contains("util-linux") {
        Ok(())
    } else {
        Err("`script` is not util-linux's".to_string())
    }
}

// ---------------------------------------------------------------------------
// `tempreg run --keep-on-failure`.

#[cfg(unix)]
#[test]
fn keep_on_failure_keeps_the_session_says_how_to_remove_it_and_ls_shows_it_kept() {
    let root = scratch_root();
    let output = run_sh(
        root.path(),
        &["--keep-on-failure"],
        r#"echo evidence > "$TMPDIR/x"; exit 3"#,
    );
    assert_eq!(output.status.code(), Some(3));
    let kept = only_session(root.path());
    let err = stderr(&output);
    assert_eq!(err.lines().count(), 1, "one line expected: {err:?}");
    assert!(
        err.starts_with("tempreg: run: `sh` exited with status 3; ")
            && err.contains(&format!(
                "kept for inspection and no sweep removes it: {}",
                kept.display()
            ))
            && err
                .trim_end()
                .ends_with(&format!("rm -rf {}", kept.display())),
        "{err:?}"
    );
    assert_eq!(
        std::fs::read(kept.join("x")).expect("kept file"),
        b"evidence\n"
    );
    assert!(kept.join(LOCK_NAME).is_file(), "kept in view");

    let sweep = run_sweep(root.path());
    assert_eq!(sweep.status.code(), Some(0));
    assert_eq!(
        stdout(&sweep).trim(),
        "removed 0 orphaned session(s) (0 file(s), 0 B); left 0 live session(s) alone, 1 kept",
        "{sweep:?}"
    );
    assert!(kept.join("x").is_file(), "the sweep took a kept session");
    let ls = run_ls_json(root.path());
    let listed: serde_json::Value = serde_json::from_str(stdout(&ls).trim()).expect("json");
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["state"], "kept", "{listed}");
    let table = tempreg().arg("ls").arg(root.path()).output().expect("ls");
    let text = stdout(&table);
    assert!(
        text.lines()
            .any(|l| l.contains(" kept ") && l.ends_with(&kept.display().to_string())),
        "{text}"
    );

    // The hint works: what it says to run removes the session.
    let hint = err
        .trim_end()
        .rsplit_once("remove it when done: ")
        .expect("a hint")
        .1;
    let removed = assert_cmd::Command::new("sh")
        .args(["-c", hint])
        .timeout(Duration::from_secs(60))
        .output()
        .expect("sh");
    assert!(removed.status.success(), "{removed:?}");
    assert_empty_dir(root.path());

    // A success is not kept.
    let output = run_sh(root.path(), &["--keep-on-failure"], r#"touch "$TMPDIR/x""#);
    assert_eq!(output.status.code(), Some(0));
    assert!(output.stderr.is_empty(), "{output:?}");
    assert_empty_dir(root.path());
}

// ---------------------------------------------------------------------------
// `tempreg ls` and `tempreg sweep`.

#[cfg(unix)]
#[test]
fn ls_json_lists_live_and_orphaned_sessions() {
    let root = scratch_root();
    let empty = run_ls_json(root.path());
    assert_eq!(empty.status.code(), Some(0));
    assert_eq!(stdout(&empty).trim(), "[]");

    let orphan = forge_orphan(root.path(), 4242);
    std::fs::create_dir(root.path().join("not-a-session")).expect("mkdir");
    let (mut wrapper, _child) = start_sh(
        root.path(),
        r#"printf 1234567 > "$TMPDIR/seven"; echo "started $$"; exec sleep 300"#,
    );

    let output = run_ls_json(root.path());
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("JSON");
    let list = json.as_array().expect("a JSON array");
    assert_eq!(list.len(), 2, "{json:#}");
    let by_state = |state: &str| {
        list.iter()
            .find(|s| s["state"] == state)
            .unwrap_or_else(|| panic!("no {state} session in {json:#}"))
    };
    let live = by_state("live");
    assert_eq!(live["pid"], wrapper.pid());
    assert_eq!(
        (live["files"].as_u64(), live["bytes"].as_u64()),
        (Some(1), Some(7))
    );
    let path = PathBuf::from(live["path"].as_str().expect("path"));
    assert_eq!(path.parent(), Some(root.path()));
    assert!(live["age_secs"].as_u64().expect("age") < 3600);
    let dead = by_state("orphaned");
    assert_eq!(dead["pid"], 4242);
    assert_eq!(dead["path"].as_str(), orphan.to_str());
    assert_eq!(
        (dead["files"].as_u64(), dead["bytes"].as_u64()),
        (Some(1), Some(10))
    );

    let table = tempreg().arg("ls").arg(root.path()).output().expect("ls");
    let text = stdout(&table);
    assert!(text.starts_with("PID "), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("4242 ") && l.contains("orphaned")),
        "{text}"
    );
    assert!(orphan.join(LOCK_NAME).is_file(), "ls removed something");

    wrapper.signal(SIGTERM);
    wrapper.expect_killed_by(SIGTERM, CHILD_EXIT_TIMEOUT);
}

#[test]
fn ls_shows_human_sizes_and_ages_and_json_exact_numbers() {
    let root = scratch_root();
    let orphan = forge_orphan_of(root.path(), 4242, 1536);

    let output = tempreg().arg("ls").arg(root.path()).output().expect("ls");
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "a header and one session: {text}");
    let columns: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        columns,
        ["PID", "STATE", "AGE", "FILES", "SIZE", "PATH"],
        "{text}"
    );
    let row = lines[1];
    assert!(
        row.starts_with("4242 ")
            && row.contains(" orphaned ")
            && row.ends_with(orphan.to_str().unwrap()),
        "{text}"
    );
    assert!(row.contains(" 1.50 KiB "), "a human size: {text}");
    assert!(
        !row.contains("1536"),
        "no raw byte count without -v: {text}"
    );
    assert!(row.contains(" second"), "a human age: {text}");

    let output = tempreg()
        .args(["ls", "-v"])
        .arg(root.path())
        .output()
        .expect("ls -v");
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "a header, a session and a total: {text}");
    assert!(lines[0].contains(" BYTES "), "{text}");
    assert!(
        lines[1].contains(" 1.50 KiB ") && lines[1].contains(" 1536 "),
        "{text}"
    );
    assert_eq!(
        lines[2],
        "1 session(s): 0 live, 1 orphaned, 0 kept, 0 of other users; 1 file(s), 1.50 KiB (1536 bytes)"
    );

    let output = run_ls_json(root.path());
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("JSON");
    assert_eq!(json[0]["bytes"], 1536, "{json}");
    assert!(json[0]["age_secs"].is_u64(), "{json}");
    assert_no_escapes(&output);
}

#[test]
fn sweep_dry_run_lists_what_it_would_remove_and_removes_nothing() {
    let root = scratch_root();
    let live = registry_in(root.path());
    let orphan = forge_orphan_of(root.path(), 4242, 2048);
    let me = std::process::id();

    let dry = tempreg()
        .args(["sweep", "--dry-run"])
        .arg(root.path())
        .output()
        .expect("sweep --dry-run");
    assert_eq!(dry.status.code(), Some(0), "{dry:?}");
    let text = stdout(&dry);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with(&format!(
            "would remove {}: orphaned, pid 4242, ",
            orphan.display()
        )) && lines[0].contains(" old, ")
            && lines[0].ends_with(", 1 file(s), 2.00 KiB"),
        "{text}"
    );
    assert_eq!(
        lines[1],
        "would remove 1 orphaned session(s) (1 file(s), 2.00 KiB); left 1 live session(s) alone"
    );
    assert!(orphan.join("data.bin").is_file());

    // -v: every session judged, with its state.
    let verbose = tempreg()
        .args(["sweep", "--dry-run", "-v"])
        .arg(root.path())
        .output()
        .expect("sweep --dry-run -v");
    assert_eq!(verbose.status.code(), Some(0), "{verbose:?}");
    let text = stdout(&verbose);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[0].starts_with(&format!("would remove {}: orphaned, ", orphan.display())),
        "{text}"
    );
    assert!(
        lines[1].starts_with(&format!(
            "would leave {}: live, pid {me}, ",
            live.session_dir().display()
        )),
        "{text}"
    );
    assert!(orphan.join("data.bin").is_file());

    // A sweep says what it did in one line; with -v, session by session.
    let real = run_sweep(root.path());
    assert_eq!(real.status.code(), Some(0), "{real:?}");
    assert_eq!(
        stdout(&real).trim(),
        "removed 1 orphaned session(s) (1 file(s), 2.00 KiB); left 1 live session(s) alone"
    );
    assert!(!orphan.exists());
    let orphan = forge_orphan(root.path(), 4343);
    let real = tempreg()
        .args(["sweep", "-v"])
        .arg(root.path())
        .output()
        .expect("sweep -v");
    let text = stdout(&real);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[0].starts_with(&format!(
            "removed {}: orphaned, pid 4343, ",
            orphan.display()
        )),
        "{text}"
    );
    assert!(
        lines[1].starts_with(&format!("left {}: live, ", live.session_dir().display())),
        "{text}"
    );
    assert!(!orphan.exists());
    assert!(live.session_dir().join(LOCK_NAME).is_file());
}

#[test]
fn sweep_and_ls_exit_2_for_a_root_they_cannot_read_and_say_which() {
    let missing = "/nonexistent/tempreg-cli-test";
    for sub in ["sweep", "ls"] {
        let output = tempreg().args([sub, missing]).output().expect("run");
        assert_one_line_error(
            &output,
            2,
            &format!("{sub} {missing}"),
            &os_words_listing(Path::new(missing), "No such file or directory"),
        );
    }
    let root = scratch_root();
    let file = root.path().join("plain-file");
    std::fs::write(&file, b"not a dir").expect("write");
    for sub in ["sweep", "ls"] {
        let output = tempreg().arg(sub).arg(&file).output().expect("run");
        assert_one_line_error(
            &output,
            2,
            &format!("{sub} {}", file.display()),
            &os_words_listing(&file, "Not a directory"),
        );
    }
    for args in [
        &["sweep", "--no-such-option"][..],
        &["ls", "--no-such-option"],
        &[][..],
    ] {
        let output = tempreg().args(args).output().expect("run");
        assert_eq!(output.status.code(), Some(2), "{args:?}: {output:?}");
        assert!(stderr(&output).contains("Usage"), "{args:?}: {output:?}");
        assert_no_escapes(&output);
    }
}

#[test]
fn a_sweep_that_cannot_remove_a_session_exits_1_and_names_it() {
    let root = scratch_root();
    let stuck = forge_orphan(root.path(), 4242);
    std::fs::create_dir(stuck.join("sub")).expect("mkdir");
    std::fs::write(stuck.join("sub").join("f"), b"f").expect("write");
    // On Windows: the file held open by a process that does not share its
    // deletion (Windows' own way for a removal to fail).
    #[cfg(unix)]
    let Some(_immutable) = or_skip(Immutable::set(&stuck.join("sub"))) else {
        return;
    };
    #[cfg(windows)]
    let _held = support::open_unshared(&stuck.join("sub").join("f"));
    let fine = forge_orphan(root.path(), 4343);

    let output = run_sweep(root.path());
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let err = stderr(&output);
    assert_eq!(err.lines().count(), 1, "one line expected: {err:?}");
    assert!(
        err.starts_with(&format!(
            "tempreg: sweep {}: cannot remove {}: ",
            root.path().display(),
            stuck.display()
        )),
        "{err:?}"
    );
    assert!(!fine.exists(), "the other orphan should be removed");
    assert!(stuck.join(LOCK_NAME).is_file(), "left for the next sweep");
}

#[test]
fn rust_log_logs_on_stderr_and_nothing_is_logged_without_it() {
    let root = scratch_root();
    forge_orphan(root.path(), 4242);
    let output = tempreg()
        .args(["sweep", "--dry-run"])
        .arg(root.path())
        .output()
        .expect("sweep");
    assert!(
        output.stderr.is_empty(),
        "logged without RUST_LOG: {output:?}"
    );

    // (Windows: no `true`, and no process group to log.)
    #[cfg(unix)]
    {
        let output = tempreg()
            .args(["run", "--root"])
            .arg(root.path())
            .arg("true")
            .env("RUST_LOG", "tempreg=debug")
            .output()
            .expect("run");
        assert_eq!(output.status.code(), Some(0), "{output:?}");
        let err = stderr(&output);
        assert!(
            err.lines()
                .any(|l| l.contains("DEBUG") && l.contains("process group of its own")),
            "{err}"
        );
        assert!(output.stdout.is_empty(), "logs go to stderr: {output:?}");
        assert_no_escapes(&output);
    }

    let output = tempreg()
        .arg("sweep")
        .arg(root.path())
        .env("RUST_LOG", "tempreg=info")
        .output()
        .expect("sweep");
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let err = stderr(&output);
    assert!(
        err.lines()
            .any(|l| l.contains("INFO") && l.contains("tempreg-4242-Orphan12")),
        "{err}"
    );
    assert!(!err.contains("DEBUG"), "{err}");
    assert_no_escapes(&output);
}

#[test]
fn help_documents_the_exit_status_of_each_command_without_escapes() {
    for (args, needles) in [
        (&["--help"][..], &["Exit status", "RUST_LOG"][..]),
        (
            &["run", "--help"],
            &[
                "Exit status",
                "125",
                "126",
                "127",
                "process group",
                "tempreg sweep",
            ],
        ),
        (
            &["sweep", "--help"],
            &["Exit status", "  1  ", "  2  ", "--dry-run", "--verbose"],
        ),
        (
            &["ls", "--help"],
            &["Exit status", "  2  ", "--json", "--verbose"],
        ),
    ] {
        let output = tempreg().args(args).output().expect("help");
        assert_eq!(output.status.code(), Some(0), "{args:?}: {output:?}");
        let text = stdout(&output);
        for needle in needles {
            assert!(
                text.contains(needle),
                "{args:?} should mention {needle:?}:\n{text}"
            );
        }
        assert_no_escapes(&output);
    }
}

// ---------------------------------------------------------------------------
// Session look-alikes planted in a shared root (`support::plants`): `sweep`,
// `ls` and `ls --json` must end promptly, succeed, list none of them and
// leave them as they were.

/// How long one `tempreg sweep` or `ls` may take before it counts as hung.
#[cfg(unix)]
const HANG_TIMEOUT: Duration = Duration::from_secs(20);

/// `tempreg ARGS... ROOT`, run to its end; fails the test (killing it) if
/// it has not ended within [`HANG_TIMEOUT`].
#[cfg(unix)]
fn run_bounded(args: &[&str], root: &Path) -> Output {
    let mut cmd = std::process::Command::new(TEMPREG);
    cmd.env_remove("RUST_LOG").args(args).arg(root);
    let label = format!("`tempreg {}` (a hang is the bug)", args.join(" "));
    Running::start(cmd, &label).output(HANG_TIMEOUT)
}

/// `tempreg ls --json ROOT` (bounded), parsed.
#[cfg(unix)]
fn ls_json_bounded(root: &Path) -> Vec<serde_json::Value> {
    let output = run_bounded(&["ls", "--json"], root);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let json: serde_json::Value = serde_json::from_str(stdout(&output).trim()).expect("JSON");
    json.as_array().expect("a JSON array").clone()
}

/// The rows of `tempreg ls ROOT` (bounded), without the header.
#[cfg(unix)]
fn ls_rows_bounded(root: &Path) -> Vec<String> {
    let output = run_bounded(&["ls"], root);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let text = stdout(&output);
    let mut lines = text.lines();
    assert!(
        lines.next().is_some_and(|l| l.starts_with("PID ")),
        "{text}"
    );
    lines.map(str::to_string).collect()
}

/// Plants `kind` alone in a fresh root and runs `sweep --dry-run`, `sweep`,
/// `ls` and `ls --json` on it: none may hang, fail, see a session, or change
/// anything in the planted directory.
#[cfg(unix)]
fn assert_commands_leave_a_planted_lock_alone(kind: LockPlant) {
    let root = scratch_root();
    let Some(planted) = or_skip(Planted::plant(kind, root.path())) else {
        return;
    };

    for (args, verb) in [
        (&["sweep", "--dry-run"][..], "would remove"),
        (&["sweep"][..], "removed"),
    ] {
        let output = run_bounded(args, root.path());
        assert_eq!(output.status.code(), Some(0), "{args:?}: {output:?}");
        assert_eq!(
            stdout(&output).trim(),
            format!("{verb} 0 orphaned session(s) (0 file(s), 0 B); left 0 live session(s) alone"),
            "{args:?}: {output:?}"
        );
        planted.assert_intact(&format!("after `tempreg {}`", args.join(" ")));
    }

    let rows = ls_rows_bounded(root.path());
    assert!(rows.is_empty(), "listed as a session: {rows:#?}");
    planted.assert_intact("after `tempreg ls`");
    let listed = ls_json_bounded(root.path());
    assert!(listed.is_empty(), "listed as a session: {listed:#?}");
    planted.assert_intact("after `tempreg ls --json`");
    assert_eq!(names_in(root.path()), [planted.name()]);
}

#[cfg(unix)]
#[test]
fn sweep_and_ls_neither_stall_on_a_fifo_lock_file_nor_list_it() {
    assert_commands_leave_a_planted_lock_alone(LockPlant::Fifo);
}

#[cfg(unix)]
#[test]
fn sweep_and_ls_leave_a_directory_lock_file_and_its_neighbours_alone() {
    assert_commands_leave_a_planted_lock_alone(LockPlant::Dir);
}

#[cfg(unix)]
#[test]
fn sweep_and_ls_do_not_follow_a_symlinked_lock_file() {
    assert_commands_leave_a_planted_lock_alone(LockPlant::Symlink);
}

#[cfg(unix)]
#[test]
fn sweep_and_ls_ignore_a_lock_file_of_another_user_than_its_directory() {
    assert_commands_leave_a_planted_lock_alone(LockPlant::OtherOwner);
}

#[cfg(unix)]
#[test]
fn sweep_removes_a_real_orphan_among_planted_look_alikes_and_only_it() {
    let root = scratch_root();
    let planted = Planted::plant_all(root.path());
    let mut plant_names: Vec<_> = planted.iter().map(Planted::name).collect();
    plant_names.sort();
    let (dead, held) = dead_hold_child(root.path());
    let dead_path = dead.session.to_str().expect("a UTF-8 path");

    let listed = ls_json_bounded(root.path());
    assert_eq!(listed.len(), 1, "{listed:#?}");
    assert_eq!(listed[0]["path"].as_str(), Some(dead_path), "{listed:#?}");
    assert_eq!(listed[0]["state"], "orphaned", "{listed:#?}");
    let rows = ls_rows_bounded(root.path());
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert!(
        rows[0].contains("orphaned") && rows[0].ends_with(dead_path),
        "{rows:#?}"
    );

    let output = run_bounded(&["sweep"], root.path());
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let text = stdout(&output);
    assert!(
        text.starts_with(&format!(
            "removed 1 orphaned session(s) ({} file(s), ",
            held.files
        )) && text.trim_end().ends_with("; left 0 live session(s) alone"),
        "{output:?}"
    );
    assert!(!dead.session.exists(), "the orphan is still there");
    assert_eq!(names_in(root.path()), plant_names);
    for p in &planted {
        p.assert_intact("after `tempreg sweep` removed a real orphan");
    }
}

// ---------------------------------------------------------------------------
// Another user's sessions in a shared root (mode 1777, like `/tmp`): a
// sweep or listing as uid 65534 (through `setpriv`) must succeed, leave
// them alone, and say whose they are.

/// `tempreg ARGS... ROOT` as uid 65534, run to its end (bounded).
#[cfg(unix)]
fn run_as_nobody(args: &[&str], root: &Path) -> Output {
    let mut cmd = support::as_nobody(Path::new(env!("CARGO_BIN_EXE_tempreg")));
    cmd.args(args).arg(root);
    let label = format!("`tempreg {}` as uid {NOBODY}", args.join(" "));
    Running::start(cmd, &label).output(HANG_TIMEOUT)
}

/// A root shared like `/tmp`, if this machine lets us run the command as
/// uid 65534 in it; otherwise `None`, after a `skipped:` line.
#[cfg(unix)]
fn shared_root_for_nobody() -> Option<tempfile::TempDir> {
    let tempreg = Path::new(env!("CARGO_BIN_EXE_tempreg"));
    or_skip(support::can_run_as_nobody(tempreg))?;
    or_skip(support::shared_root())
}

#[cfg(unix)]
#[test]
fn sweep_and_ls_as_another_user_leave_and_count_sessions_not_theirs() {
    let Some(root) = shared_root_for_nobody() else {
        return;
    };
    let live = registry_in(root.path());
    let (dead, _) = dead_hold_child(root.path());
    let before = snapshot(root.path());

    let output = run_as_nobody(&["sweep"], root.path());
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(
        stdout(&output).trim(),
        "removed 0 orphaned session(s) (0 file(s), 0 B); left 0 live session(s) alone, \
         2 of other users",
        "{output:?}"
    );
    assert_eq!(snapshot(root.path()), before, "the sweep changed the root");

    let output = run_as_nobody(&["ls"], root.path());
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let text = stdout(&output);
    for session in [live.session_dir(), dead.session.as_path()] {
        let shown = session.display().to_string();
        assert!(
            text.lines()
                .any(|l| l.ends_with(&shown) && l.contains(" other user ")),
            "{shown} should be listed as another user's:\n{text}"
        );
    }
    assert_eq!(
        text.lines().count(),
        3,
        "a header and two sessions:\n{text}"
    );

    let output = run_as_nobody(&["ls", "--json"], root.path());
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let json: serde_json::Value = serde_json::from_str(stdout(&output).trim()).expect("JSON");
    let mut listed: Vec<(&str, &str)> = json
        .as_array()
        .expect("a JSON array")
        .iter()
        .map(|s| {
            (
                s["path"].as_str().expect("a path"),
                s["state"].as_str().expect("a state"),
            )
        })
        .collect();
    listed.sort();
    let mut expected = vec![
        (live.session_dir().to_str().expect("UTF-8"), "other user"),
        (dead.session.to_str().expect("UTF-8"), "other user"),
    ];
    expected.sort();
    assert_eq!(listed, expected, "{json:#}");
    assert_eq!(snapshot(root.path()), before, "ls changed the root");

    // Root may judge every user's session: the orphan goes, the live one stays.
    let report = tempreg::sweep_orphans(root.path()).expect("sweep as root");
    assert!(report.is_clean(), "{report}");
    let removed: Vec<_> = report.removed().iter().map(|s| s.path()).collect();
    assert_eq!(removed, [dead.session.as_path()], "{report}");
    let left: Vec<_> = report.live().iter().map(|s| s.path()).collect();
    assert_eq!(left, [live.session_dir()], "{report}");
    assert_eq!(
        names_in(root.path()),
        [live.session_dir().file_name().unwrap()]
    );
}

#[cfg(unix)]
#[test]
fn sweep_as_another_user_removes_its_own_orphan_and_leaves_roots() {
    let Some(root) = shared_root_for_nobody() else {
        return;
    };
    let (roots, _) = dead_hold_child(root.path());
    let roots_before = snapshot(&roots.session);
    let (mine, held) = support::dead_hold_child_as_nobody(root.path());
    assert_eq!(
        std::fs::metadata(&mine.session).expect("stat").uid(),
        NOBODY,
        "the orphan should be uid {NOBODY}'s"
    );

    let output = run_as_nobody(&["sweep"], root.path());
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let text = stdout(&output);
    assert!(
        text.starts_with(&format!(
            "removed 1 orphaned session(s) ({} file(s), ",
            held.files
        )) && text
            .trim_end()
            .ends_with("; left 0 live session(s) alone, 1 of other users"),
        "{output:?}"
    );
    assert!(!mine.session.exists(), "its own orphan is still there");
    assert_eq!(
        snapshot(&roots.session),
        roots_before,
        "root's session changed"
    );
    assert_eq!(names_in(root.path()), [roots.session.file_name().unwrap()]);
}
