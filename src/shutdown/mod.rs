//! Graceful shutdown: turn SIGTERM/SIGINT into an orderly stop.
//!
//! [`Shutdown`] owns a [`CancellationToken`] and a [`TaskTracker`]. When
//! shutdown begins (a signal, [`Shutdown::trigger`], or the token being
//! cancelled), it
//!
//! 1. cancels the token, which every tracked task sees;
//! 2. waits for the tracked tasks up to the grace period, less the time kept
//!    for cleanup steps, then aborts what is left;
//! 3. runs the cleanup steps in reverse order of registration, each in its
//!    own task under its own time limit: an error, a panic or a time-out is
//!    reported and the next step runs anyway;
//! 4. returns a [`ShutdownReport`], whose [`exit`](ShutdownReport::exit) ends
//!    the process as a supervisor expects.
//!
//! The whole of it keeps to one deadline: trigger time plus the grace period
//! (25 s by default, under Kubernetes' 30 s and systemd's 90 s). With
//! signals on, that deadline and a second signal are kept by OS threads, the
//! [`watchdog`], so the process ends on time even when the runtime cannot
//! make progress.
//!
//! Files: this one (the coordinator), [`tasks`], [`steps`], [`watchdog`],
//! [`report`].
//!
//! # Invariants
//!
//! - The mutexes here guard plain lists and slots; each is held only to push,
//!   remove, read or take, never across an `.await` or a call into a
//!   registry. Lock order: see [`tasks`]; `steps`, `registries` and `reason`
//!   are never held with any other lock.
//! - Steps are taken from the shared list one at a time as they run, so the
//!   watchdog can run the ones left if the orderly path is stuck.

mod report;
mod steps;
mod tasks;
mod watchdog;

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use self::report::{
    ShutdownReason, ShutdownReport, StepOutcome, StepReport, TaskOutcome, TaskReport,
};
use self::steps::{run_step, BoxError, Step, StepKind};
use self::tasks::{take_reports, TaskGuard, TaskRecord};
use self::watchdog::Event;
use crate::{sys, ResourceRegistry};

/// How long aborted tasks get to be dropped before the report is made.
const ABORT_SETTLE: Duration = Duration::from_millis(100);

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Debug, Clone)]
struct Config {
    grace: Duration,
    cleanup_reserve: Duration,
    step_timeout: Duration,
    signals: Vec<i32>,
}

pub(crate) struct Shared {
    token: CancellationToken,
    tracker: TaskTracker,
    config: Config,
    reason: Mutex<Option<(ShutdownReason, Instant)>>,
    next_task: AtomicU64,
    /// Tasks still running, and (once shutdown began) those that ended since.
    tasks: Mutex<BTreeMap<u64, Arc<TaskRecord>>>,
    steps: Mutex<Vec<Step>>,
    registries: Mutex<Vec<ResourceRegistry>>,
    /// Set once signals are on: tells the watchdog of calls.
    watchdog: OnceLock<Mutex<mpsc::Sender<Event>>>,
    running: tokio::sync::Mutex<()>,
}

impl Shared {
    /// Records why shutdown began (the first reason wins), cancels, and
    /// tells the watchdog.
    fn begin(&self, reason: ShutdownReason) {
        {
            let mut slot = lock(&self.reason);
            if slot.is_none() {
                *slot = Some((reason, Instant::now()));
                if self.watchdog.get().is_some() {
                    tracing::info!(%reason, "tempreg shutdown begun; a second signal ends the process at once");
                } else {
                    tracing::info!(%reason, "tempreg shutdown begun");
                }
            }
        }
        self.token.cancel();
        self.tell_watchdog(Event::Begun);
    }

    fn tell_watchdog(&self, event: Event) {
        if let Some(watchdog) = self.watchdog.get() {
            let _ = lock(watchdog).send(event);
        }
    }

    fn reason(&self) -> Option<ShutdownReason> {
        lock(&self.reason).map(|(r, _)| r)
    }

    fn task_ended(&self, id: u64, record: &TaskRecord) {
        // Before shutdown, ended tasks are forgotten so that a service that
        // spawns a task per request does not grow this map forever.
        if !self.token.is_cancelled() {
            lock(&self.tasks).remove(&id);
            if let Some(outcome @ (TaskOutcome::Panicked | TaskOutcome::Failed(_))) =
                record.outcome()
            {
                tracing::warn!(task = %record.name, %outcome, "tempreg tracked task ended badly");
            }
        }
    }

    pub(crate) fn registries(&self) -> Vec<ResourceRegistry> {
        lock(&self.registries).clone()
    }
}

/// Turns SIGTERM/SIGINT (or a call) into an orderly stop of tracked tasks,
/// then runs cleanup steps, registry purges among them, in reverse order.
///
/// Clones share one coordinator.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
///
/// #[tokio::main]
/// async fn main() -> std::io::Result<()> {
///     let registry = tempreg::ResourceRegistry::new()?;
///     let shutdown = tempreg::Shutdown::builder()
///         .grace_period(Duration::from_secs(25))
///         .build();
///     shutdown.listen_for_signals()?;
///     shutdown.add_registry(&registry);
///
///     let token = shutdown.token();
///     let worker = registry.clone();
///     shutdown.spawn("worker", async move {
///         let _scratch = worker.temp_file_async().await;
///         token.cancelled().await; // do work until asked to stop
///     });
///
///     let report = shutdown.run().await; // waits for SIGTERM/SIGINT
///     eprintln!("{report}");
///     report.exit()
/// }
/// ```
#[derive(Clone)]
pub struct Shutdown {
    shared: Arc<Shared>,
}

impl fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shutdown")
            .field("triggered", &self.is_triggered())
            .field("tasks", &self.shared.tracker.len())
            .field("steps", &lock(&self.shared.steps).len())
            .field("grace_period", &self.shared.config.grace)
            .finish()
    }
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown::new()
    }
}

/// Builds a [`Shutdown`]: grace period, time kept for cleanup, per-step
/// limit, and which signals to listen for.
#[derive(Debug, Clone)]
#[must_use]
pub struct ShutdownBuilder {
    config: Config,
}

impl Default for ShutdownBuilder {
    fn default() -> Self {
        ShutdownBuilder {
            config: Config {
                grace: Duration::from_secs(25),
                cleanup_reserve: Duration::from_secs(5),
                step_timeout: Duration::from_secs(5),
                signals: sys::STOP_SIGNALS.to_vec(),
            },
        }
    }
}

impl ShutdownBuilder {
    /// The whole shutdown's budget, from trigger to report (default 25 s;
    /// `Duration::MAX` means no limit).
    /// Set it below your supervisor's kill timeout: Kubernetes'
    /// `terminationGracePeriodSeconds` (30 s by default) or systemd's
    /// `TimeoutStopSec` (90 s by default).
    pub fn grace_period(mut self, grace: Duration) -> Self {
        self.config.grace = grace;
        self
    }

    /// Of the grace period, how much is kept for cleanup steps when any are
    /// registered (default 5 s): tasks get the rest, and never less than
    /// half the grace period.
    pub fn cleanup_reserve(mut self, reserve: Duration) -> Self {
        self.config.cleanup_reserve = reserve;
        self
    }

    /// The time limit of each cleanup step (default 5 s), cut short by the
    /// overall deadline.
    pub fn step_timeout(mut self, limit: Duration) -> Self {
        self.config.step_timeout = limit;
        self
    }

    /// Also listen for SIGHUP.
    #[cfg(unix)]
    pub fn sighup(self) -> Self {
        self.signal(sys::HANGUP)
    }

    /// Also listen for SIGQUIT.
    #[cfg(unix)]
    pub fn sigquit(self) -> Self {
        self.signal(sys::QUIT)
    }

    /// Also listen for this signal (by number, e.g. `signal_hook::consts::SIGUSR1`).
    pub fn signal(mut self, sig: i32) -> Self {
        if !self.config.signals.contains(&sig) {
            self.config.signals.push(sig);
        }
        self
    }

    /// The coordinator. No handler is installed until
    /// [`listen_for_signals`](Shutdown::listen_for_signals).
    pub fn build(self) -> Shutdown {
        Shutdown {
            shared: Arc::new(Shared {
                token: CancellationToken::new(),
                tracker: TaskTracker::new(),
                config: self.config,
                reason: Mutex::new(None),
                next_task: AtomicU64::new(0),
                tasks: Mutex::new(BTreeMap::new()),
                steps: Mutex::new(Vec::new()),
                registries: Mutex::new(Vec::new()),
                watchdog: OnceLock::new(),
                running: tokio::sync::Mutex::new(()),
            }),
        }
    }
}

impl Shutdown {
    /// A coordinator with the defaults: 25 s grace period, 5 s kept for
    /// cleanup, 5 s per step, SIGTERM and SIGINT.
    pub fn new() -> Shutdown {
        ShutdownBuilder::default().build()
    }

    /// A builder for the grace period, limits and signals.
    pub fn builder() -> ShutdownBuilder {
        ShutdownBuilder::default()
    }

    /// The token cancelled when shutdown begins. Cancelling it yourself also
    /// begins shutdown.
    pub fn token(&self) -> CancellationToken {
        self.shared.token.clone()
    }

    /// Begins shutdown from code.
    pub fn trigger(&self) {
        self.shared.begin(ShutdownReason::Requested);
    }

    /// True once shutdown has begun.
    pub fn is_triggered(&self) -> bool {
        self.shared.token.is_cancelled()
    }

    /// Why shutdown began, once it has.
    pub fn reason(&self) -> Option<ShutdownReason> {
        let recorded = self.shared.reason();
        // The token cancelled directly: a request like `trigger`.
        recorded.or_else(|| self.is_triggered().then_some(ShutdownReason::Requested))
    }

    /// Resolves once shutdown has begun.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn wait(&self) {
        self.shared.token.cancelled().await;
    }

    /// Installs handlers for SIGTERM and SIGINT (and those added on the
    /// builder) and starts listening, on two OS threads (the watchdog).
    ///
    /// - The first signal begins shutdown.
    /// - From the moment shutdown begins (by a signal or a call), the
    ///   process ends no later than the grace period plus one second: if
    ///   the report is not made by the deadline, because a task blocks its
    ///   thread or the runtime is stuck, the watchdog names the tasks still
    ///   running, purges every added registry (blocking), runs the cleanup
    ///   steps not yet run (within one second), writes one line to stderr,
    ///   and ends the process by the signal (or with status 1 after a call).
    /// - A second signal at any point forces the end: a blocking purge of
    ///   every added registry (at most one second), one line to stderr, then
    ///   death by that signal.
    ///
    /// Opt-in because a handler, once installed, stays for the life of the
    /// process. Calling it again does nothing. It needs no runtime.
    ///
    /// # Errors
    ///
    /// If a handler cannot be installed or a thread cannot be started.
    pub fn listen_for_signals(&self) -> io::Result<()> {
        static STARTING: Mutex<()> = Mutex::new(());
        let _once = lock(&STARTING);
        if self.shared.watchdog.get().is_some() {
            return Ok(());
        }
        let tx = watchdog::start(&self.shared, &self.shared.config.signals)?;
        if self.is_triggered() {
            let _ = tx.send(Event::Begun);
        }
        let _ = self.shared.watchdog.set(Mutex::new(tx));
        Ok(())
    }

    /// Spawns a tracked task. It should watch [`token`](Self::token) and
    /// return when it is cancelled; at the grace period it is aborted. The
    /// report says whether it finished, panicked or was aborted.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, as `tokio::spawn`.
    pub fn spawn<F>(&self, name: &str, task: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_inner(name, task, |_| TaskOutcome::Finished)
    }

    /// Like [`spawn`](Self::spawn), for a task that returns a `Result`: an
    /// `Err` is reported as failed, with its text.
    pub fn spawn_fallible<F, T, E>(
        &self,
        name: &str,
        task: F,
    ) -> tokio::task::JoinHandle<Result<T, E>>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: fmt::Display + Send + 'static,
    {
        self.spawn_inner(name, task, |out| match out {
            Ok(_) => TaskOutcome::Finished,
            Err(e) => TaskOutcome::Failed(e.to_string()),
        })
    }

    fn spawn_inner<F>(
        &self,
        name: &str,
        task: F,
        judge: impl FnOnce(&F::Output) -> TaskOutcome + Send + 'static,
    ) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let id = self.shared.next_task.fetch_add(1, Ordering::Relaxed);
        let record = TaskRecord::new(name);
        lock(&self.shared.tasks).insert(id, Arc::clone(&record));
        let guard = TaskGuard {
            shared: Arc::clone(&self.shared),
            id,
            record: Arc::clone(&record),
        };
        let handle = self.shared.tracker.spawn(async move {
            let guard = guard;
            let output = task.await;
            guard.record.finish(judge(&output));
            drop(guard);
            output
        });
        record.set_abort(handle.abort_handle());
        handle
    }

    /// Registers an async cleanup step. Steps run after the tasks stop, in
    /// reverse order of registration, each in its own task under the step
    /// time limit; an error, panic or time-out is reported and the next step
    /// runs anyway.
    pub fn on_cleanup<F, Fut, E>(&self, name: &str, f: F)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError>,
    {
        lock(&self.shared.steps).push(Step::new_async(name, f));
    }

    /// Registers a blocking cleanup step; it runs on tokio's blocking pool.
    pub fn on_cleanup_blocking<F, E>(&self, name: &str, f: F)
    where
        F: FnOnce() -> Result<(), E> + Send + 'static,
        E: Into<BoxError>,
    {
        lock(&self.shared.steps).push(Step::new_blocking(name, f));
    }

    /// Adds a registry: closing it and purging it is one cleanup step, in
    /// registration order with the others, and a forced end (second signal)
    /// purges it too.
    pub fn add_registry(&self, registry: &ResourceRegistry) {
        lock(&self.shared.registries).push(registry.clone());
        lock(&self.shared.steps).push(Step {
            // The session's name says which registry; the whole path is in
            // the purge report's failures, if any.
            name: format!(
                "purge {}",
                registry
                    .session_dir()
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
            ),
            kind: StepKind::Purge(registry.clone()),
        });
    }

    /// Waits for shutdown to begin, then shuts down. See
    /// [`shutdown`](Self::shutdown).
    pub async fn run(&self) -> ShutdownReport {
        self.wait().await;
        self.stop().await
    }

    /// Begins shutdown now and carries it out: cancel, wait for tasks within
    /// the grace period, abort the rest, run the cleanup steps in reverse
    /// order, and report.
    ///
    /// Calling it again (or [`run`](Self::run) from a clone) waits for the
    /// first call and returns a report with nothing left to do.
    pub async fn shutdown(&self) -> ShutdownReport {
        self.trigger();
        self.stop().await
    }

    async fn stop(&self) -> ShutdownReport {
        let shared = &self.shared;
        let _running = shared.running.lock().await;
        // The first reason wins; a token cancelled directly counts as a request.
        shared.begin(ShutdownReason::Requested);
        let (reason, began) =
            lock(&shared.reason).unwrap_or((ShutdownReason::Requested, Instant::now()));
        let deadline = saturating_add(began, shared.config.grace);
        let has_steps = !lock(&shared.steps).is_empty();

        // Tasks: everything still running, or ended since shutdown began.
        shared.tracker.close();
        let task_deadline = if has_steps {
            // Tasks always get at least half the grace period.
            let reserve = shared.config.cleanup_reserve.min(shared.config.grace / 2);
            deadline.checked_sub(reserve).unwrap_or(began).max(began)
        } else {
            deadline
        };
        tracing::info!(
            tasks = shared.tracker.len(),
            grace_ms = task_deadline
                .saturating_duration_since(Instant::now())
                .as_millis() as u64,
            "tempreg waiting for tracked tasks"
        );
        if tokio::time::timeout_at(task_deadline, shared.tracker.wait())
            .await
            .is_err()
        {
            let records: Vec<Arc<TaskRecord>> = lock(&shared.tasks).values().cloned().collect();
            for record in records {
                record.abort();
            }
            // Aborted tasks stop at their next poll, which needs a moment
            // (up to 100 ms, even past the deadline); a task that blocks its
            // thread never stops, and is reported still running.
            let _ = tokio::time::timeout(ABORT_SETTLE, shared.tracker.wait()).await;
        }
        let tasks = take_reports(&shared.tasks, began);
        for t in &tasks {
            tracing::info!(task = %t.name, outcome = %t.outcome, elapsed_ms = t.elapsed.as_millis() as u64, "tempreg task ended");
        }

        // Cleanup steps, last registered first, each taken from the shared
        // list as it runs (the watchdog takes what is left if we are stuck).
        let mut steps = Vec::new();
        loop {
            let Some(step) = lock(&shared.steps).pop() else {
                break;
            };
            steps.push(run_step(step, deadline, shared.config.step_timeout).await);
        }
        let report = ShutdownReport {
            reason,
            tasks,
            steps,
            elapsed: began.elapsed(),
            registries: shared.registries(),
        };
        shared.tell_watchdog(Event::Done);
        tracing::info!(
            reason = %report.reason,
            clean = report.is_clean(),
            elapsed_ms = report.elapsed.as_millis() as u64,
            "tempreg shutdown finished"
        );
        report
    }
}

/// `from + limit`, or a time thirty years on where that cannot be counted
/// (`Duration::MAX`: a grace period that means "no limit").
fn saturating_add(from: Instant, limit: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(30 * 365 * 24 * 3600);
    from.checked_add(limit.min(FAR)).unwrap_or(from)
}
