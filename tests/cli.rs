//! The `tempreg` command: `run` cleans up however its command ends and passes
//! its status on, forwards signals, keeps a failed run's scratch on request;
//! `sweep` and `ls` judge sessions by their lock; errors are one line.
#![cfg(feature = "cli")]

mod support;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use support::{
    assert_empty_dir, dead_hold_child, names_in, or_skip, process_exists, registry_in,
    scratch_root, snapshot, wait_until, KillOnDrop, LockPlant, Planted, Running,
    CHILD_EXIT_TIMEOUT, LINE_TIMEOUT, NOBODY, SIGHUP, SIGINT, SIGKILL, SIGTERM,
};
use tempreg::LOCK_NAME;

/// `tempreg`, with a backtrace asked for (so a panic would show) and a
/// bound on how long it may run.
fn tempreg() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("tempreg").expect("the tempreg binary");
    cmd.env("RUST_BACKTRACE", "1")
        .timeout(Duration::from_secs(60));
    cmd
}

/// `tempreg run --root ROOT [EXTRA] -- sh -c SCRIPT`, run to its end.
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
fn start_sh(root: &Path, script: &str) -> (Running, KillOnDrop) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tempreg"));
    cmd.args(["run", "--root"])
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

/// A session of a dead owner, made by hand: name, unlocked lock, 10 bytes.
fn forge_orphan(root: &Path, pid: u32) -> PathBuf {
    let dir = root.join(format!("tempreg-{pid}-Orphan12"));
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::write(dir.join(LOCK_NAME), format!("{pid}\n")).expect("lock");
    std::fs::write(dir.join("data.bin"), b"0123456789").expect("data");
    dir
}

/// Asserts an error run: exit 2, one stderr line starting `tempreg:` that
/// names `needle`, and no panic or backtrace.
fn assert_one_line_error(output: &Output, needle: &str) {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(2), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line expected: {err:?}");
    assert!(err.starts_with("tempreg: "), "{err:?}");
    assert!(err.contains(needle), "should name {needle}: {err:?}");
    let lower = err.to_lowercase();
    assert!(
        !lower.contains("panic") && !lower.contains("backtrace"),
        "{err:?}"
    );
}

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
    let session = PathBuf::from(stdout(&output).trim());
    assert_eq!(session.parent(), Some(root.path()));
    let name = session.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("tempreg-"), "{name}");
    assert_empty_dir(root.path());
}

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

#[test]
fn run_exits_with_the_commands_code_and_cleans_up() {
    let root = scratch_root();
    let output = run_sh(root.path(), &[], r#"touch "$TMPDIR/x"; exit 3"#);
    assert_eq!(output.status.code(), Some(3), "stderr: {}", stderr(&output));
    assert_empty_dir(root.path());
}

#[test]
fn run_reports_death_by_a_signal_as_128_plus_the_signal() {
    let root = scratch_root();
    for (signal, code) in [("TERM", 143), ("KILL", 137)] {
        let script = format!(r#"touch "$TMPDIR/x"; kill -{signal} $$"#);
        let output = run_sh(root.path(), &[], &script);
        assert_eq!(output.status.code(), Some(code), "SIG{signal}: {output:?}");
        assert_empty_dir(root.path());
    }
}

#[test]
fn keep_on_failure_keeps_the_session_and_no_sweep_takes_it() {
    let root = scratch_root();
    let output = run_sh(
        root.path(),
        &["--keep-on-failure"],
        r#"echo evidence > "$TMPDIR/x"; exit 3"#,
    );
    assert_eq!(output.status.code(), Some(3));
    let err = stderr(&output);
    let kept = PathBuf::from(
        err.trim()
            .rsplit_once("kept ")
            .unwrap_or_else(|| panic!("no kept path on stderr: {err:?}"))
            .1,
    );
    assert!(err.starts_with("tempreg: "), "{err:?}");
    assert_eq!(kept.parent(), Some(root.path()));
    assert_eq!(
        std::fs::read(kept.join("x")).expect("kept file"),
        b"evidence\n"
    );
    assert!(kept.join(LOCK_NAME).is_file(), "kept in view");

    let sweep = run_sweep(root.path());
    assert_eq!(sweep.status.code(), Some(0));
    assert!(
        stdout(&sweep).starts_with("removed 0 orphaned session(s)"),
        "{sweep:?}"
    );
    assert!(kept.join("x").is_file(), "the sweep took a kept session");
    let ls = run_ls_json(root.path());
    let listed: serde_json::Value = serde_json::from_str(stdout(&ls).trim()).expect("json");
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["state"], "kept", "{listed}");

    // A success is not kept.
    let ok = scratch_root();
    let output = run_sh(ok.path(), &["--keep-on-failure"], r#"touch "$TMPDIR/x""#);
    assert_eq!(output.status.code(), Some(0));
    assert_empty_dir(ok.path());
}

#[test]
fn run_forwards_termination_signals_to_the_command() {
    let root = scratch_root();
    for (signal, code) in [(SIGTERM, 143), (SIGINT, 130), (SIGHUP, 129)] {
        let (mut wrapper, mut child) = start_sh(
            root.path(),
            r#"touch "$TMPDIR/x"; echo "started $$"; exec sleep 300"#,
        );
        wrapper.signal(signal);
        let status = wrapper.wait_exit(CHILD_EXIT_TIMEOUT);
        assert_eq!(
            status.code(),
            Some(code),
            "signal {signal}\n{}",
            wrapper.describe()
        );
        // The wrapper waited for its command, so the command is gone.
        assert!(!process_exists(child.pid()));
        child.disarm();
        assert_empty_dir(root.path());
    }
}

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

#[test]
fn a_killed_wrapper_leaves_a_live_session_until_its_command_ends() {
    let root = scratch_root();
    let (mut wrapper, mut child) = start_sh(
        root.path(),
        r#"echo data > "$TMPDIR/x"; echo "started $$"; exec sleep 300"#,
    );
    let wrapper_pid = wrapper.pid();
    wrapper.kill_hard();
    let names = names_in(root.path());
    assert_eq!(names.len(), 1, "{names:?}");
    let session = root.path().join(&names[0]);

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
    assert_eq!(wrapper.wait_exit(CHILD_EXIT_TIMEOUT).code(), Some(143));
}

#[test]
fn sweep_dry_run_says_what_it_would_remove_and_removes_nothing() {
    let root = scratch_root();
    let live = registry_in(root.path());
    let orphan = forge_orphan(root.path(), 4242);

    let dry = tempreg()
        .args(["sweep", "--dry-run"])
        .arg(root.path())
        .output()
        .expect("sweep --dry-run");
    assert_eq!(dry.status.code(), Some(0), "{dry:?}");
    assert_eq!(
        stdout(&dry).trim(),
        "would remove 1 orphaned session(s) (1 file(s), 10 B); left 1 live session(s) alone"
    );
    assert!(orphan.join("data.bin").is_file());

    let real = run_sweep(root.path());
    assert_eq!(real.status.code(), Some(0), "{real:?}");
    assert_eq!(
        stdout(&real).trim(),
        "removed 1 orphaned session(s) (1 file(s), 10 B); left 1 live session(s) alone"
    );
    assert!(!orphan.exists());
    assert!(live.session_dir().join(LOCK_NAME).is_file());
}

#[test]
fn errors_are_one_line_and_exit_2() {
    let missing = "/nonexistent/tempreg-cli-test";
    for sub in ["sweep", "ls"] {
        let output = tempreg().args([sub, missing]).output().expect("run");
        assert_one_line_error(&output, missing);
        assert!(output.stdout.is_empty());
    }
    let output = tempreg()
        .args(["run", "--root", missing, "--", "true"])
        .output()
        .expect("run");
    assert_one_line_error(&output, missing);

    let root = scratch_root();
    let file = root.path().join("plain-file");
    std::fs::write(&file, b"not a dir").expect("write");
    let output = tempreg().arg("sweep").arg(&file).output().expect("run");
    assert_one_line_error(&output, &file.display().to_string());
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
    assert_eq!(output.status.code(), Some(127), "{output:?}");
    let err = stderr(&output);
    assert!(
        err.starts_with("tempreg: ") && err.contains("/no/such/cmd"),
        "{err:?}"
    );
    assert_empty_dir(root.path());

    let output = tempreg()
        .args(["run", "--root"])
        .arg(root.path())
        .arg("--")
        .arg(root.path())
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(126), "a directory: {output:?}");
    assert_empty_dir(root.path());
}

#[test]
fn run_without_a_command_is_a_usage_error() {
    for args in [
        &["run"][..],
        &["run", "--"][..],
        &["run", "--root", "/tmp"][..],
    ] {
        let output = tempreg().args(args).output().expect("run");
        assert_eq!(output.status.code(), Some(2), "{args:?}: {output:?}");
        assert!(stderr(&output).contains("Usage"), "{args:?}: {output:?}");
    }
}

// ---------------------------------------------------------------------------
// Session look-alikes planted in a shared root (`support::plants`): `sweep`,
// `ls` and `ls --json` must end promptly, succeed, list none of them and
// leave them as they were.

/// How long one `tempreg sweep` or `ls` may take before it counts as hung.
const HANG_TIMEOUT: Duration = Duration::from_secs(20);

/// `tempreg ARGS... ROOT`, run to its end; fails the test (killing it) if
/// it has not ended within [`HANG_TIMEOUT`].
fn run_bounded(args: &[&str], root: &Path) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tempreg"));
    cmd.args(args).arg(root);
    let label = format!("`tempreg {}` (a hang is the bug)", args.join(" "));
    Running::start(cmd, &label).output(HANG_TIMEOUT)
}

/// `tempreg ls --json ROOT` (bounded), parsed.
fn ls_json_bounded(root: &Path) -> Vec<serde_json::Value> {
    let output = run_bounded(&["ls", "--json"], root);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let json: serde_json::Value = serde_json::from_str(stdout(&output).trim()).expect("JSON");
    json.as_array().expect("a JSON array").clone()
}

/// The rows of `tempreg ls ROOT` (bounded), without the header.
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

#[test]
fn sweep_and_ls_neither_stall_on_a_fifo_lock_file_nor_list_it() {
    assert_commands_leave_a_planted_lock_alone(LockPlant::Fifo);
}

#[test]
fn sweep_and_ls_leave_a_directory_lock_file_and_its_neighbours_alone() {
    assert_commands_leave_a_planted_lock_alone(LockPlant::Dir);
}

#[test]
fn sweep_and_ls_do_not_follow_a_symlinked_lock_file() {
    assert_commands_leave_a_planted_lock_alone(LockPlant::Symlink);
}

#[test]
fn sweep_and_ls_ignore_a_lock_file_of_another_user_than_its_directory() {
    assert_commands_leave_a_planted_lock_alone(LockPlant::OtherOwner);
}

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
fn run_as_nobody(args: &[&str], root: &Path) -> Output {
    let mut cmd = support::as_nobody(Path::new(env!("CARGO_BIN_EXE_tempreg")));
    cmd.args(args).arg(root);
    let label = format!("`tempreg {}` as uid {NOBODY}", args.join(" "));
    Running::start(cmd, &label).output(HANG_TIMEOUT)
}

/// A root shared like `/tmp`, if this machine lets us run the command as
/// uid 65534 in it; otherwise `None`, after a `skipped:` line.
fn shared_root_for_nobody() -> Option<tempfile::TempDir> {
    let tempreg = Path::new(env!("CARGO_BIN_EXE_tempreg"));
    or_skip(support::can_run_as_nobody(tempreg))?;
    or_skip(support::shared_root())
}

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
