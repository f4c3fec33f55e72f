//! `Shutdown`: signals turned into an orderly stop, in a child process
//! (`examples/shutdown_service.rs`), and the coordinator itself in process
//! under paused tokio time, where every duration in the report is exact.

mod support;

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;
#[cfg(unix)]
use std::time::Instant;

#[cfg(unix)]
use support::{
    assert_plain_logs, assert_session_holds, example_command, logging_example_command, SIGINT,
    SIGTERM,
};
use support::{assert_root_empty, registry_in, start_example, Dirs, Running, EXIT_TIMEOUT};
use tempreg::{Shutdown, ShutdownReason, StepOutcome, TaskOutcome};

// ---------------------------------------------------------------------------
// Child processes: examples/shutdown_service.rs
//
// On Windows only the services that stop themselves run (there are no
// signals to send; console control events: tests/windows.rs).
// ---------------------------------------------------------------------------

fn service(mode: &str, dirs: &Dirs) -> Running {
    start_example("shutdown_service", mode, dirs)
}

/// Asserts that the last line the service printed on stdout is `expected`
/// (`exiting: by SIGTERM`, `exiting: status 0`, …): the line that says how
/// `exit()` ends the process, after the report.
fn assert_exiting(child: &Running, expected: &str) {
    let stdout = child.stdout_lines();
    assert_eq!(
        stdout.last().map(String::as_str),
        Some(expected),
        "the last line on stdout should say how the service ended\n{}",
        child.describe()
    );
    assert!(
        child.stderr_text().contains("shutdown ("),
        "{expected:?} should follow the report, on stderr\n{}",
        child.describe()
    );
}

/// Asserts that the service printed no `exiting: …` line: something cut
/// its shutdown short before the report.
#[cfg(unix)]
fn assert_no_exiting_line(child: &Running) {
    assert!(
        !child
            .stdout_lines()
            .iter()
            .any(|l| l.starts_with("exiting")),
        "{}",
        child.describe()
    );
}

/// Signals a `normal` service and checks it died by that signal, cleanly,
/// leaving nothing behind.
#[cfg(unix)]
fn normal_service_stops_on(signal: &str, number: i32) {
    let dirs = Dirs::new();
    let mut child = service("normal", &dirs);
    // Per worker a temp file and an async temp file (default `tmp` names),
    // and the spool dir.
    assert_session_holds(dirs.root(), &[("partial-", 3), ("tmp", 3), ("spool-", 1)]);

    child.signal(number);
    child.expect_killed_by(number, EXIT_TIMEOUT);

    let stderr = child.stderr_text();
    assert!(
        stderr.contains(&format!("shutdown (SIG{signal}) clean")),
        "the report should say a clean shutdown by SIG{signal}\n{}",
        child.describe()
    );
    for id in 0..3 {
        assert!(
            stderr.contains(&format!("task \"worker-{id}\": finished")),
            "worker-{id} should have finished on its own\n{}",
            child.describe()
        );
    }
    assert_exiting(&child, &format!("exiting: by SIG{signal}"));
    assert_root_empty(dirs.root(), &child.describe());
}

#[cfg(unix)]
#[test]
fn logs_on_a_pipe_are_plain_text() {
    let dirs = Dirs::new();
    let cmd = logging_example_command("shutdown_service", &["normal"], dirs.root(), dirs.cwd());
    let mut child = Running::start_ready(cmd, "shutdown_service normal, logging");
    child.signal(SIGTERM);
    child.expect_killed_by(SIGTERM, EXIT_TIMEOUT);
    assert_plain_logs(&child);
    assert_exiting(&child, "exiting: by SIGTERM");
    assert_root_empty(dirs.root(), &child.describe());
}

#[cfg(unix)]
#[test]
fn sigterm_stops_the_workers_purges_and_dies_by_sigterm() {
    normal_service_stops_on("TERM", SIGTERM);
}

#[cfg(unix)]
#[test]
fn sigint_stops_the_workers_purges_and_dies_by_sigint() {
    normal_service_stops_on("INT", SIGINT);
}

#[cfg(unix)]
#[test]
fn a_task_ignoring_the_token_is_aborted_at_the_grace_period() {
    // The example's grace period is 1 s, of which 300 ms are kept for the
    // cleanup steps: the stubborn task is aborted 700 ms after the signal.
    let dirs = Dirs::new();
    let mut child = service("stubborn", &dirs);
    let sent = Instant::now();
    child.signal(SIGTERM);
    child.expect_killed_by(SIGTERM, Duration::from_secs(3));
    let took = sent.elapsed();

    assert!(
        took >= Duration::from_millis(700),
        "the stubborn task should have been given 700 ms, but the process ended after {took:?}"
    );
    assert!(
        child
            .stderr_text()
            .contains("task \"stubborn\": aborted at the grace period"),
        "the report should name the aborted task\n{}",
        child.describe()
    );
    assert!(
        child.stderr_text().contains("NOT clean"),
        "{}",
        child.describe()
    );
    assert_exiting(&child, "exiting: by SIGTERM");
    assert_root_empty(dirs.root(), &child.describe());
}

#[cfg(unix)]
#[test]
fn cleanup_steps_run_in_reverse_order_despite_an_error_and_a_panic() {
    let dirs = Dirs::new();
    let mut child = service("steps", &dirs);
    child.signal(SIGTERM);
    child.expect_killed_by(SIGTERM, EXIT_TIMEOUT);

    let steps: Vec<String> = child
        .stdout_lines()
        .into_iter()
        .filter(|l| l.starts_with("step "))
        .collect();
    assert_eq!(
        steps,
        ["step C", "step B", "step A"],
        "{}",
        child.describe()
    );

    let stderr = child.stderr_text();
    for expected in [
        "step \"C\": panicked: C panicked on purpose",
        "step \"B\": failed: B could not flush its queue",
        "step \"A\": ok",
    ] {
        assert!(
            stderr.contains(expected),
            "the report should say {expected:?}\n{}",
            child.describe()
        );
    }
    // The purge was registered first, so it ran last, after the failures.
    let purge = stderr
        .lines()
        .find(|l| l.contains("step \"purge "))
        .unwrap_or_else(|| panic!("no purge step in the report\n{}", child.describe()));
    assert!(purge.contains(": ok in"), "purge step: {purge}");
    assert!(
        stderr.find("step \"A\"") < stderr.find("step \"purge "),
        "{}",
        child.describe()
    );
    assert_exiting(&child, "exiting: by SIGTERM");
    assert_root_empty(dirs.root(), &child.describe());
}

/// A cleanup step hangs; a second signal forces the end at once, by that
/// signal, with everything purged. No report, no `exiting` line: tempreg's
/// line on stderr (the only one: `RUST_LOG` is unset) says how it ended.
#[cfg(unix)]
fn second_signal_forces_the_end(first: i32, second: i32) {
    let dirs = Dirs::new();
    let mut cmd = example_command("shutdown_service", &["hang"], dirs.root(), dirs.cwd());
    cmd.env_remove("RUST_LOG");
    let mut child = Running::start_ready(cmd, "shutdown_service hang");
    child.signal(first);
    child.wait_for_line("step hang started", Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        child.is_running(),
        "the hanging step should hold the process\n{}",
        child.describe()
    );

    let sent = Instant::now();
    child.signal(second);
    child.expect_killed_by(second, Duration::from_secs(1));
    assert!(sent.elapsed() <= Duration::from_secs(1));
    assert_no_exiting_line(&child);
    let name = signal_hook::low_level::signal_name(second).expect("a signal's name");
    let stderr = child.stderr_text();
    let purged = stderr
        .strip_prefix(&format!("tempreg: second {name} during shutdown: purged "))
        .and_then(|rest| rest.strip_suffix(" temp path(s), ending now"));
    assert!(
        purged.is_some_and(|n| n.parse::<usize>().is_ok()),
        "stderr should be tempreg's line on the second {name}, and only that\n{}",
        child.describe()
    );
    assert_root_empty(dirs.root(), &child.describe());
}

#[cfg(unix)]
#[test]
fn a_second_sigint_ends_a_hung_shutdown_within_a_second() {
    second_signal_forces_the_end(SIGINT, SIGINT);
}

#[cfg(unix)]
#[test]
fn the_second_signal_is_the_one_the_process_dies_by() {
    second_signal_forces_the_end(SIGTERM, SIGINT);
}

/// A shutdown begun by the program itself ends with a plain exit status.
fn self_stopping_service_exits_with(mode: &str, code: i32) {
    let dirs = Dirs::new();
    let mut child = service(mode, &dirs);
    let status = child.wait_exit(EXIT_TIMEOUT);
    assert_eq!(status.code(), Some(code), "{}", child.describe());
    assert!(
        child.stderr_text().contains("shutdown (requested)"),
        "{}",
        child.describe()
    );
    assert_exiting(&child, &format!("exiting: status {code}"));
    assert_root_empty(dirs.root(), &child.describe());
}

#[test]
fn a_clean_requested_shutdown_exits_0() {
    self_stopping_service_exits_with("finish", 0);
}

#[test]
fn an_unclean_requested_shutdown_exits_1() {
    self_stopping_service_exits_with("finish-unclean", 1);
}

#[cfg(unix)]
#[test]
fn a_second_signal_while_exit_removes_the_session_still_leaves_nothing() {
    // 20,000 untracked files make exit()'s removal of the session directory
    // last long enough for the second signal to land in it.
    let dirs = Dirs::new();
    let mut child = service("crowded", &dirs);
    child.signal(SIGINT);
    let exiting = child.wait_for_line("exiting: ", EXIT_TIMEOUT);
    assert_eq!(exiting, "exiting: by SIGINT", "{}", child.describe());
    child.signal(SIGINT);
    child.expect_killed_by(SIGINT, EXIT_TIMEOUT);
    assert_root_empty(dirs.root(), &"(killed during the removal)");
}

/// A `blocked` service (2 s grace period; a task that, once cancelled,
/// blocks its worker thread for ten minutes) on the runtime `flags` ask for.
#[cfg(unix)]
fn blocked_service(flags: &[&str], dirs: &Dirs) -> Running {
    let mut args = vec!["blocked"];
    args.extend_from_slice(flags);
    Running::start_ready(
        support::example_command("shutdown_service", &args, dirs.root(), dirs.cwd()),
        &format!("shutdown_service blocked {}", flags.join(" ")),
    )
}

/// The grace period of the `blocked` mode.
#[cfg(unix)]
const BLOCKED_GRACE: Duration = Duration::from_secs(2);

/// A task that blocks its thread cannot hold the process past the grace
/// period plus one second (with a margin for a loaded machine: the watchdog
/// keeps the deadline on its own thread, but the process must still be
/// scheduled to die).
#[cfg(unix)]
fn a_blocked_task_cannot_stop_the_end(flags: &[&str]) -> Running {
    let dirs = Dirs::new();
    let mut child = blocked_service(flags, &dirs);
    let sent = Instant::now();
    child.signal(SIGTERM);
    child.expect_killed_by(SIGTERM, BLOCKED_GRACE + Duration::from_secs(10));
    let took = sent.elapsed();
    assert!(
        took < BLOCKED_GRACE + Duration::from_secs(1) + Duration::from_millis(1500),
        "the process should end within the grace period plus one second, took {took:?}\n{}",
        child.describe()
    );
    assert_root_empty(dirs.root(), &child.describe());
    child
}

#[cfg(unix)]
#[test]
fn a_task_blocking_a_current_thread_runtime_cannot_stop_the_end() {
    let child = a_blocked_task_cannot_stop_the_end(&["--current-thread"]);
    // Nothing async can run any more: the watchdog took over, named the
    // stuck task and purged.
    assert_watchdog_took_over(&child);
}

#[cfg(unix)]
#[test]
fn a_task_blocking_the_only_worker_cannot_stop_the_end() {
    let child = a_blocked_task_cannot_stop_the_end(&["--workers", "1"]);
    assert_watchdog_took_over(&child);
}

/// The watchdog's line on stderr says how the process ended; no report
/// came, so no `exiting` line either.
#[cfg(unix)]
fn assert_watchdog_took_over(child: &Running) {
    let stderr = child.stderr_text();
    assert!(
        stderr.contains("tempreg: the shutdown's grace period (2s) ran out; tasks still running:")
            && stderr.contains("blocker"),
        "{}",
        child.describe()
    );
    assert_no_exiting_line(child);
}

#[cfg(unix)]
#[test]
fn a_task_blocking_one_of_several_workers_cannot_stop_the_end() {
    for workers in ["2", "4", "8"] {
        let child = a_blocked_task_cannot_stop_the_end(&["--workers", workers]);
        // The other workers finish the shutdown (the report names the
        // blocker as still running), unless the watchdog got there first on
        // a loaded machine: either way something says how it ended.
        if child
            .stdout_lines()
            .iter()
            .any(|l| l.starts_with("exiting"))
        {
            assert_exiting(&child, "exiting: by SIGTERM");
        } else {
            assert_watchdog_took_over(&child);
        }
    }
}

#[cfg(unix)]
#[test]
fn a_second_signal_ends_a_blocked_runtime_within_a_second() {
    let dirs = Dirs::new();
    let mut child = blocked_service(&["--current-thread"], &dirs);
    child.signal(SIGTERM);
    // The runtime is blocked from the first signal on; the second one must
    // still be heard, by the watchdog's thread.
    child.wait_for_line("blocking", EXIT_TIMEOUT);
    let sent = Instant::now();
    child.signal(SIGINT);
    child.expect_killed_by(SIGINT, Duration::from_secs(10));
    let took = sent.elapsed();
    assert!(
        took < Duration::from_secs(1) + Duration::from_millis(1500),
        "a second signal ends it within a second, took {took:?}\n{}",
        child.describe()
    );
    assert!(
        child
            .stderr_text()
            .contains("second SIGINT during shutdown: purged"),
        "{}",
        child.describe()
    );
    assert_root_empty(dirs.root(), &child.describe());
}

// ---------------------------------------------------------------------------
// In process, paused time, no signals.
// ---------------------------------------------------------------------------

type Order = Arc<Mutex<Vec<&'static str>>>;

fn record(order: &Order, what: &'static str) {
    order.lock().unwrap().push(what);
}

fn recorded(order: &Order) -> Vec<&'static str> {
    order.lock().unwrap().clone()
}

#[test]
fn listen_for_signals_refuses_a_signal_that_cannot_be_caught_and_can_be_retried() {
    // No runtime is needed (the watchdog runs on threads of its own), but a
    // signal no handler can catch is an error naming it, and the failed call
    // does not count as listening.
    #[cfg(unix)]
    let cases = {
        use signal_hook::consts::{SIGKILL, SIGSTOP};
        [
            (SIGKILL, "SIGKILL"),
            (SIGSTOP, "SIGSTOP"),
            (0, "0"),
            (1000, "1000"),
            (-1, "-1"),
        ]
    };
    // Windows numbers console control events from 0 (`CTRL_C_EVENT`); 3 and
    // 4 are no event at all.
    #[cfg(windows)]
    let cases = [(3, "3"), (4, "4"), (1000, "1000"), (-1, "-1")];
    for (sig, name) in cases {
        let shutdown = Shutdown::builder().signal(sig).build();
        let err = shutdown.listen_for_signals().unwrap_err();
        assert!(err.to_string().contains("cannot listen for"), "{err}");
        assert!(err.to_string().contains(name), "{err}");
        assert!(shutdown.listen_for_signals().is_err(), "{name}");
    }
}

fn outcomes(report: &tempreg::ShutdownReport) -> Vec<(String, TaskOutcome)> {
    report
        .tasks()
        .iter()
        .map(|t| (t.name().to_string(), t.outcome().clone()))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn tasks_that_stop_on_the_token_are_reported_finished() {
    let shutdown = Shutdown::builder()
        .grace_period(Duration::from_secs(10))
        .build();
    for (name, work) in [("fast", 0), ("drains a queue", 250)] {
        let token = shutdown.token();
        shutdown.spawn(name, async move {
            token.cancelled().await;
            tokio::time::sleep(Duration::from_millis(work)).await;
        });
    }
    let started = tokio::time::Instant::now();
    let report = shutdown.shutdown().await;

    assert_eq!(
        outcomes(&report),
        [
            ("fast".to_string(), TaskOutcome::Finished),
            ("drains a queue".to_string(), TaskOutcome::Finished)
        ]
    );
    assert_eq!(report.tasks()[0].elapsed(), Duration::ZERO);
    assert_eq!(report.tasks()[1].elapsed(), Duration::from_millis(250));
    assert_eq!(report.elapsed(), Duration::from_millis(250));
    assert_eq!(started.elapsed(), Duration::from_millis(250));
    assert_eq!(report.reason(), ShutdownReason::Requested);
    assert!(report.is_clean());
    assert_eq!(report.exit_code(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_task_ignoring_the_token_is_aborted_at_grace_minus_cleanup_reserve() {
    let shutdown = Shutdown::builder()
        .grace_period(Duration::from_secs(10))
        .cleanup_reserve(Duration::from_secs(3))
        .build();
    shutdown.on_cleanup("flush metrics", || async { Ok::<(), io::Error>(()) });
    let token = shutdown.token();
    shutdown.spawn("polite", async move { token.cancelled().await });
    shutdown.spawn("stubborn", async {
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let started = tokio::time::Instant::now();
    let report = shutdown.shutdown().await;

    assert_eq!(
        outcomes(&report),
        [
            ("polite".to_string(), TaskOutcome::Finished),
            ("stubborn".to_string(), TaskOutcome::Aborted)
        ]
    );
    // Tasks get the grace period less the time kept for cleanup steps.
    assert_eq!(report.tasks()[1].elapsed(), Duration::from_secs(7));
    assert_eq!(report.elapsed(), Duration::from_secs(7));
    assert_eq!(started.elapsed(), Duration::from_secs(7));
    assert_eq!(report.steps()[0].outcome(), &StepOutcome::Ok);
    assert!(!report.is_clean());
    assert_eq!(report.exit_code(), 1);
}

#[tokio::test(start_paused = true)]
async fn without_cleanup_steps_tasks_get_the_whole_grace_period() {
    let shutdown = Shutdown::builder()
        .grace_period(Duration::from_secs(10))
        .cleanup_reserve(Duration::from_secs(3))
        .build();
    shutdown.spawn("stubborn", std::future::pending::<()>());
    let report = shutdown.shutdown().await;
    assert_eq!(report.tasks()[0].outcome(), &TaskOutcome::Aborted);
    assert_eq!(report.tasks()[0].elapsed(), Duration::from_secs(10));
    assert_eq!(report.elapsed(), Duration::from_secs(10));
}

#[tokio::test(start_paused = true)]
async fn a_grace_period_shorter_than_the_reserve_still_lets_prompt_tasks_finish() {
    let shutdown = Shutdown::builder()
        .grace_period(Duration::from_secs(2))
        .build();
    shutdown.on_cleanup("flush", || async { Ok::<(), io::Error>(()) });
    let token = shutdown.token();
    shutdown.spawn("polite", async move { token.cancelled().await });
    let report = shutdown.shutdown().await;
    assert_eq!(
        report.tasks()[0].outcome(),
        &TaskOutcome::Finished,
        "{report}"
    );
    assert!(report.is_clean(), "{report}");
}

async fn panicking_step(order: Order) -> Result<(), io::Error> {
    record(&order, "panics");
    panic!("step panicked on purpose");
}

#[tokio::test(start_paused = true)]
async fn steps_run_in_reverse_order_even_when_one_fails_panics_or_times_out() {
    let order: Order = Arc::default();
    let shutdown = Shutdown::builder()
        .grace_period(Duration::from_secs(60))
        .step_timeout(Duration::from_secs(2))
        .build();
    let o = Arc::clone(&order);
    shutdown.on_cleanup("first", move || async move {
        record(&o, "first");
        Ok::<(), io::Error>(())
    });
    let o = Arc::clone(&order);
    shutdown.on_cleanup_blocking("blocking", move || {
        record(&o, "blocking");
        Ok::<(), io::Error>(())
    });
    let o = Arc::clone(&order);
    shutdown.on_cleanup("fails", move || async move {
        record(&o, "fails");
        Err(io::Error::other("disk full"))
    });
    let o = Arc::clone(&order);
    shutdown.on_cleanup("panics", move || panicking_step(o));
    let o = Arc::clone(&order);
    shutdown.on_cleanup("hangs", move || async move {
        record(&o, "hangs");
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok::<(), io::Error>(())
    });
    let o = Arc::clone(&order);
    shutdown.on_cleanup("last", move || async move {
        record(&o, "last");
        Ok::<(), io::Error>(())
    });

    let report = shutdown.shutdown().await;

    let expected = ["last", "hangs", "panics", "fails", "blocking", "first"];
    assert_eq!(recorded(&order), expected);
    let steps: Vec<(&str, &StepOutcome)> = report
        .steps()
        .iter()
        .map(|s| (s.name(), s.outcome()))
        .collect();
    assert_eq!(
        steps,
        [
            ("last", &StepOutcome::Ok),
            ("hangs", &StepOutcome::TimedOut),
            (
                "panics",
                &StepOutcome::Panicked("step panicked on purpose".into())
            ),
            ("fails", &StepOutcome::Failed("disk full".into())),
            ("blocking", &StepOutcome::Ok),
            ("first", &StepOutcome::Ok),
        ]
    );
    assert_eq!(report.steps()[1].elapsed(), Duration::from_secs(2));
    assert_eq!(report.elapsed(), Duration::from_secs(2));
    assert!(!report.is_clean());
    assert_eq!(report.exit_code(), 1);
}

#[tokio::test(start_paused = true)]
async fn steps_past_the_deadline_are_skipped_but_the_purge_still_runs() {
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let scratch = registry.temp_file().unwrap();
    let order: Order = Arc::default();
    let shutdown = Shutdown::builder()
        .grace_period(Duration::from_secs(4))
        .step_timeout(Duration::from_secs(10))
        .build();
    shutdown.add_registry(&registry);
    let o = Arc::clone(&order);
    shutdown.on_cleanup("too late", move || async move {
        record(&o, "too late");
        Ok::<(), io::Error>(())
    });
    shutdown.on_cleanup("hangs", || async {
        std::future::pending::<()>().await;
        Ok::<(), io::Error>(())
    });

    let report = shutdown.shutdown().await;

    let outcomes: Vec<&StepOutcome> = report.steps().iter().map(|s| s.outcome()).collect();
    assert_eq!(
        outcomes,
        [
            &StepOutcome::TimedOut,
            &StepOutcome::Skipped,
            &StepOutcome::Ok
        ]
    );
    // The hanging step was cut at the shutdown deadline, not its own limit.
    assert_eq!(report.steps()[0].elapsed(), Duration::from_secs(4));
    assert!(recorded(&order).is_empty(), "a skipped step must not run");
    let purge = report.steps()[2].purge_report().expect("purge report");
    assert_eq!(purge.removed(), 1);
    support::assert_gone_while_held(scratch.path(), "a purged temp file still held");
}

#[tokio::test(start_paused = true)]
async fn the_registry_purge_is_a_step_in_registration_order() {
    // The steps tell the purge by the temp file's name, which its guard
    // holds: where that name stays until the guard drops (Wine), they
    // cannot.
    if support::or_skip(support::names_go_at_once()).is_none() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let scratch = registry.temp_file().unwrap();
    let path = scratch.path().to_path_buf();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let shutdown = Shutdown::new();

    let (s, p) = (Arc::clone(&seen), path.clone());
    shutdown.on_cleanup_blocking("registered before", move || {
        s.lock().unwrap().push(("registered before", p.exists()));
        Ok::<(), io::Error>(())
    });
    shutdown.add_registry(&registry);
    let (s, p) = (Arc::clone(&seen), path.clone());
    shutdown.on_cleanup_blocking("registered after", move || {
        s.lock().unwrap().push(("registered after", p.exists()));
        Ok::<(), io::Error>(())
    });

    let report = shutdown.shutdown().await;

    // Reverse order: the later step still sees the file, the earlier one
    // runs after the purge.
    assert_eq!(
        *seen.lock().unwrap(),
        [("registered after", true), ("registered before", false)]
    );
    assert!(report.is_clean(), "{report}");
    let purges: Vec<_> = report.purge_reports().collect();
    assert_eq!(purges.len(), 1);
    assert_eq!(purges[0].removed(), 1);
    assert!(report.steps()[1].name().starts_with("purge "));
    // The purge step closes the registry: nothing new can be made after it.
    assert!(registry.is_closed());
    let err = registry.temp_file().unwrap_err();
    assert!(tempreg::is_closed_error(&err), "{err}");
}

#[tokio::test(start_paused = true)]
async fn exit_code_is_0_for_a_clean_requested_shutdown_and_1_otherwise() {
    let clean = Shutdown::new();
    clean.on_cleanup("ok", || async { Ok::<(), io::Error>(()) });
    let report = clean.shutdown().await;
    assert!(report.is_clean());
    assert_eq!(report.exit_code(), 0);

    let unclean = Shutdown::new();
    unclean.on_cleanup("fails", || async { Err(io::Error::other("nope")) });
    let report = unclean.shutdown().await;
    assert!(!report.is_clean());
    assert_eq!(report.exit_code(), 1);
    assert_eq!(report.reason(), ShutdownReason::Requested);
}

#[tokio::test(start_paused = true)]
async fn spawn_fallible_err_is_failed_and_a_panic_is_panicked() {
    let shutdown = Shutdown::new();
    let token = shutdown.token();
    let failing = shutdown.spawn_fallible("flusher", async move {
        token.cancelled().await;
        Err::<(), _>("flush failed: disk full")
    });
    let token = shutdown.token();
    shutdown.spawn("panicker", async move {
        token.cancelled().await;
        panic!("task panicked on purpose");
    });
    let token = shutdown.token();
    let ok = shutdown.spawn_fallible("ok", async move {
        token.cancelled().await;
        Ok::<u32, String>(7)
    });

    let report = shutdown.shutdown().await;

    assert_eq!(
        outcomes(&report),
        [
            (
                "flusher".to_string(),
                TaskOutcome::Failed("flush failed: disk full".into())
            ),
            ("panicker".to_string(), TaskOutcome::Panicked),
            ("ok".to_string(), TaskOutcome::Finished),
        ]
    );
    assert_eq!(report.exit_code(), 1);
    // The caller's handles still carry the tasks' own results.
    assert_eq!(failing.await.unwrap(), Err("flush failed: disk full"));
    assert_eq!(ok.await.unwrap(), Ok(7));
}

#[tokio::test(start_paused = true)]
async fn tasks_that_ended_before_shutdown_are_not_reported() {
    let shutdown = Shutdown::new();
    shutdown.spawn("early", async {}).await.unwrap();
    let token = shutdown.token();
    shutdown.spawn("late", async move { token.cancelled().await });
    let report = shutdown.shutdown().await;
    assert_eq!(
        outcomes(&report),
        [("late".to_string(), TaskOutcome::Finished)]
    );
}

#[tokio::test(start_paused = true)]
async fn a_second_shutdown_returns_an_empty_report() {
    let order: Order = Arc::default();
    let shutdown = Shutdown::new();
    let token = shutdown.token();
    shutdown.spawn("worker", async move { token.cancelled().await });
    let o = Arc::clone(&order);
    shutdown.on_cleanup("once", move || async move {
        record(&o, "once");
        Ok::<(), io::Error>(())
    });

    let first = shutdown.shutdown().await;
    assert_eq!(first.tasks().len(), 1);
    assert_eq!(first.steps().len(), 1);

    let second = shutdown.shutdown().await;
    assert!(second.tasks().is_empty(), "{second}");
    assert!(second.steps().is_empty(), "{second}");
    assert!(second.is_clean());
    assert_eq!(second.reason(), ShutdownReason::Requested);
    assert_eq!(recorded(&order), ["once"], "a step runs once");
}

#[tokio::test(start_paused = true)]
async fn a_concurrent_run_waits_for_the_shutdown_in_progress() {
    let shutdown = Shutdown::new();
    shutdown.on_cleanup("slow", || async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        Ok::<(), io::Error>(())
    });
    let other = shutdown.clone();
    let runner = tokio::spawn(async move { other.run().await });
    let mine = shutdown.shutdown().await;
    let theirs = runner.await.unwrap();

    // One of them did the work; the other waited for it and found nothing.
    let (full, empty) = if mine.steps().is_empty() {
        (theirs, mine)
    } else {
        (mine, theirs)
    };
    assert_eq!(full.steps().len(), 1);
    assert!(empty.steps().is_empty() && empty.tasks().is_empty());
    assert!(
        empty.elapsed() >= Duration::from_secs(2),
        "the second caller returned before the first finished: {empty}"
    );
}

#[tokio::test(start_paused = true)]
async fn cancelling_the_token_directly_starts_run() {
    let order: Order = Arc::default();
    let shutdown = Shutdown::new();
    let o = Arc::clone(&order);
    shutdown.on_cleanup("step", move || async move {
        record(&o, "step");
        Ok::<(), io::Error>(())
    });
    let runner = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { shutdown.run().await }
    });
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert!(
        !runner.is_finished(),
        "run() must wait for shutdown to begin"
    );
    assert!(recorded(&order).is_empty());

    shutdown.token().cancel();
    let report = tokio::time::timeout(Duration::from_secs(30), runner)
        .await
        .expect("run() should end once the token is cancelled")
        .unwrap();

    assert!(shutdown.is_triggered());
    assert_eq!(report.reason(), ShutdownReason::Requested);
    assert_eq!(recorded(&order), ["step"]);
    assert!(report.is_clean());
}

#[tokio::test(start_paused = true)]
async fn reason_is_requested_after_the_token_is_cancelled_directly() {
    let shutdown = Shutdown::new();
    shutdown.token().cancel();
    assert!(shutdown.is_triggered());
    let report = shutdown.run().await;
    assert_eq!(report.reason(), ShutdownReason::Requested);
    assert_eq!(shutdown.reason(), Some(ShutdownReason::Requested));
}
