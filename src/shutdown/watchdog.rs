//! The watchdog: the signals and the deadline of a [`Shutdown`](super::Shutdown),
//! kept by OS threads, so that a runtime that cannot make progress (a task
//! that blocks its worker thread, a current-thread runtime stuck in a
//! blocking call) cannot stop them.
//!
//! Two threads: `tempreg-signals` turns delivered signals into events (a
//! `signal-hook` iterator), and `tempreg-shutdown` acts on them:
//!
//! 1. The first signal begins the shutdown (cancels the token); so does a
//!    call ([`Shutdown::trigger`](super::Shutdown::trigger), `run`), which
//!    tells the watchdog. From then on the watchdog keeps the deadline:
//!    when the shutdown began plus the grace period.
//! 2. If the shutdown's report is not made by then, the watchdog takes
//!    over: it names the tasks still running, purges every added registry
//!    (blocking) and removes their session directories, runs the cleanup
//!    steps no one ran yet (each on a thread of its own, within what is
//!    left), and ends the process: by the signal that began the shutdown,
//!    or with status 1 after a call. All of it within one second.
//! 3. A second signal, at any point, ends the process the same way at
//!    once: a blocking purge (at most one second), then death by that
//!    signal.
//!
//! The watchdog holds the shutdown weakly: once the [`Shutdown`] is gone, a
//! signal only ends the process by that signal.
//!
//! # Invariants
//!
//! - Nothing here waits on the runtime; every wait is on a channel with a
//!   timeout, and every last step runs on a thread of its own that is
//!   abandoned when its time is up.
//! - Steps are taken one by one from the shared list (`Shared::steps`),
//!   by the orderly path or by the watchdog, so each runs at most once.
//!
//! [`Shutdown`]: super::Shutdown

use std::io::{self, Write};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use super::report::ShutdownReason;
use super::steps::{run_bounded, run_step_blocking};
use super::tasks::still_running;
use super::{lock, Shared};
use crate::process::signals::{die_by, signal_name};
use crate::{sys, ResourceRegistry};

/// How long the watchdog's last steps may take, all together.
pub(crate) const LAST_STEPS: Duration = Duration::from_secs(1);

/// What the watchdog hears.
#[derive(Debug)]
pub(crate) enum Event {
    /// A signal was delivered.
    Signal(i32),
    /// The shutdown began by a call.
    Begun,
    /// The report is made: the deadline no longer needs keeping.
    Done,
}

/// Starts the two threads; returns the sender that tells the watchdog of
/// calls.
pub(crate) fn start(shared: &Arc<Shared>, signals: &[i32]) -> io::Result<mpsc::Sender<Event>> {
    if let Some(&sig) = signals.iter().find(|&&sig| !sys::is_catchable_signal(sig)) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "tempreg: cannot listen for {}: not a signal a handler can catch",
                signal_name(sig)
            ),
        ));
    }
    let (mut delivered, _closer) = sys::SignalListener::new(signals).map_err(|e| {
        let names: Vec<String> = signals.iter().map(|&sig| signal_name(sig)).collect();
        io::Error::new(
            e.kind(),
            format!("tempreg: cannot listen for {}: {e}", names.join(", ")),
        )
    })?;
    let (tx, rx) = mpsc::channel();
    let forward = tx.clone();
    std::thread::Builder::new()
        .name("tempreg-signals".into())
        .spawn(move || {
            while let Some(sig) = delivered.wait() {
                if forward.send(Event::Signal(sig)).is_err() {
                    break;
                }
            }
        })?;
    let weak = Arc::downgrade(shared);
    let grace = shared.config.grace;
    std::thread::Builder::new()
        .name("tempreg-shutdown".into())
        .spawn(move || watch(&weak, grace, &rx))?;
    Ok(tx)
}

fn watch(shared: &Weak<Shared>, grace: Duration, events: &mpsc::Receiver<Event>) {
    let mut begun: Option<Instant> = None;
    let mut signalled = false;
    let mut done = false;
    loop {
        let deadline = begun.filter(|_| !done).and_then(|at| at.checked_add(grace));
        let event = match deadline {
            Some(at) => match events.recv_timeout(at.saturating_duration_since(Instant::now())) {
                Ok(event) => event,
                Err(RecvTimeoutError::Timeout) => match shared.upgrade() {
                    Some(shared) => deadline_passed(&shared, grace),
                    None => return,
                },
                Err(RecvTimeoutError::Disconnected) => return,
            },
            None => match events.recv() {
                Ok(event) => event,
                Err(_) => return,
            },
        };
        match event {
            Event::Signal(sig) => {
                let Some(shared) = shared.upgrade() else {
                    die_by(sig);
                };
                if signalled || done {
                    second_signal(&shared, sig);
                }
                signalled = true;
                begun.get_or_insert_with(Instant::now);
                shared.begin(ShutdownReason::Signal(sig));
            }
            Event::Begun => {
                begun.get_or_insert_with(Instant::now);
            }
            Event::Done => done = true,
        }
    }
}

/// Writes one line to stderr, for a process that is about to end in a way
/// its owner did not ask for.
fn say(line: &str) {
    let mut err = io::stderr().lock();
    let _ = writeln!(err, "tempreg: {line}");
    let _ = err.flush();
}

/// Purges and removes the session directory of every added registry,
/// within `limit`.
fn purge_all(registries: Vec<ResourceRegistry>, limit: Duration) -> Option<usize> {
    run_bounded("purge", limit, move || {
        registries
            .iter()
            .map(|registry| {
                let report = registry.purge_and_remove_session();
                tracing::warn!(%report, "tempreg forced purge");
                report.removed()
            })
            .sum()
    })
}

/// Ends the process the way the shutdown began: by its signal, else with
/// status 1 (a shutdown by call that could not finish).
fn end(shared: &Shared) -> ! {
    let _ = io::stdout().flush();
    match shared.reason() {
        Some(ShutdownReason::Signal(sig)) => die_by(sig),
        _ => std::process::exit(1),
    }
}

fn second_signal(shared: &Shared, sig: i32) -> ! {
    tracing::warn!(signal = %signal_name(sig), "second signal during shutdown: forcing the end");
    let removed = purge_all(shared.registries(), LAST_STEPS);
    say(&format!(
        "second {} during shutdown: purged {}, ending now",
        signal_name(sig),
        removed.map_or("what it could in time".into(), |n| format!(
            "{n} temp path(s)"
        ))
    ));
    die_by(sig)
}

fn deadline_passed(shared: &Shared, grace: Duration) -> ! {
    let last = Instant::now() + LAST_STEPS;
    let stuck = still_running(&shared.tasks);
    tracing::error!(?stuck, "tempreg shutdown deadline passed; taking over");
    say(&format!(
        "the shutdown's grace period ({grace:?}) ran out; tasks still running: {}; purging and ending now",
        if stuck.is_empty() {
            "none".to_string()
        } else {
            stuck.join(", ")
        }
    ));
    purge_all(shared.registries(), LAST_STEPS.mul_f32(0.6));
    loop {
        let Some(step) = lock(&shared.steps).pop() else {
            break;
        };
        let left = last.saturating_duration_since(Instant::now());
        if left.is_zero() {
            tracing::error!(step = %step.name, "tempreg cleanup step skipped: out of time");
            continue;
        }
        run_step_blocking(step, shared.config.step_timeout.min(left));
    }
    end(shared)
}
